#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets (committed; rerun only to change it).

corpus/elf/crafted-x86_64: a minimal ELF64 with four SDT notes (one a goro
probe the catalog does not have) whose link-time
.stapsdt.base (0x400004) differs from the section's address (0x400104), as after
prelinking, so every site moves by 0x100. probes/tests/fuzz_corpus.rs checks the
reader's view of it.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def note(owner, kind, desc, be=False):
    e = ">" if be else "<"
    out = struct.pack(e + "III", len(owner), len(desc), kind) + owner
    out += b"\0" * (-len(out) % 4) + desc
    return out + b"\0" * (-len(out) % 4)


def sdt_desc(pc, base, sema, provider, name, args, be=False, size=8):
    fmt = (">" if be else "<") + ("QQQ" if size == 8 else "III")
    return struct.pack(fmt, pc, base, sema) + b"\0".join(
        s.encode() for s in (provider, name, args)) + b"\0"


def crafted_elf():
    vbase = 0x400000
    text_off, base_off, note_off = 0x100, 0x104, 0x108
    notes = b"".join([
        note(b"stapsdt\0", 3, sdt_desc(0x400001, 0x400004, 0, "goro", "stw_end", "8@%rax")),
        note(b"stapsdt\0", 3, sdt_desc(0x400002, 0x400004, 0x400003, "demo", "sema",
                                          "-4@$-7 1@%ah 8@-8(%rbp)")),
        note(b"stapsdt\0", 3, sdt_desc(0x400003, 0x400004, 0, "demo", "sib", "8@-8(%rax,%rbx,4)")),
        note(b"stapsdt\0", 3, sdt_desc(0x400000, 0x400004, 0, "goro", "not_in_catalog", "-4@%edi")),
    ])
    shstr = b"\0.text\0.stapsdt.base\0.note.stapsdt\0.shstrtab\0"
    shstr_off = note_off + len(notes)
    sh_off = (shstr_off + len(shstr) + 7) & ~7
    body = bytearray(sh_off)
    body[text_off:text_off + 4] = b"\x90" * 4
    body[note_off:note_off + len(notes)] = notes
    body[shstr_off:shstr_off + len(shstr)] = shstr

    def sh(name, kind, flags, addr, off, size, align):
        return struct.pack("<IIQQQQIIQQ", shstr.index(name), kind, flags, addr, off, size, 0, 0, align, 0)

    shdrs = b"".join([
        bytes(64),
        sh(b".text\0", 1, 6, vbase + text_off, text_off, 4, 1),
        sh(b".stapsdt.base\0", 1, 2, vbase + base_off, base_off, 1, 1),
        sh(b".note.stapsdt\0", 7, 0, 0, note_off, len(notes), 4),
        sh(b".shstrtab\0", 3, 0, 0, shstr_off, len(shstr), 1),
    ])
    total = sh_off + len(shdrs)
    ehdr = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8) + struct.pack(
        "<HHIQQQIHHHHHH", 2, 62, 1, vbase + text_off, 64, sh_off, 0, 64, 56, 1, 64, 5, 4)
    phdr = struct.pack("<IIQQQQQQ", 1, 5, 0, vbase, vbase, total, total, 0x1000)
    body[0:64] = ehdr
    body[64:120] = phdr
    return bytes(body) + shdrs


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


write("elf", "crafted-x86_64", crafted_elf())
write("elf", "not-elf", "#!/bin/sh\necho hello\n")
write("sdt_notes", "two-notes-le64",
      note(b"stapsdt\0", 3, sdt_desc(0x1234, 0x2000, 0, "goro", "p_status", "4@%ecx 1@%dl 1@%sil 8@%rax 1@%r8b"))
      + note(b"GNU\0", 5, b"\1\2\3\4"))
write("sdt_notes", "one-note-be32",
      note(b"stapsdt\0", 3, sdt_desc(0x8040, 0x9000, 0x9100, "p", "n", "-4@$1", be=True, size=4), be=True))
write("sdt_notes", "truncated", note(b"stapsdt\0", 3, sdt_desc(1, 2, 0, "a", "b", "c"))[:30])
for i, spec in enumerate([
    "4@%ecx 1@%dl -8@%rax 8@$18446744073709551615",
    "1@%ah 2@%r8w 4@%r15d 1@%r11b 8@%rip -1@%spl",
    "-8@-16(%rbp) 8@(%rdx) 4@0x20(%r12) 8@16(%rip)",
    "8@-8(%rax,%rbx,4) 4@counter(%rip) 8@%fs:16 8@%xmm0",
    "8@x3 -4@w30 8@[sp, 16] 4@[x29, #-8] -2@12",
    "3@%eax @%eax %eax 8@$ 8@(%rax",
]):
    write("arg_specs", f"seed-{i}", spec)
