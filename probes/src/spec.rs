//! SDT argument specs: the `N@operand` words of a note's argument string.
//!
//! `N` is the size in bytes (1, 2, 4 or 8), negative for a signed value. The operand is
//! written in the assembler syntax of the architecture, as the compiler substituted it:
//!
//! | form              | x86_64 (AT&T)          | aarch64             |
//! |-------------------|------------------------|---------------------|
//! | register          | `%rax` `%ecx` `%dl` `%ah` `%r8d` | `x3` `w3` `sp` |
//! | constant          | `$42` `$-1` `$0x10`    | `42` `-1`           |
//! | memory at reg     | `(%rbx)`               | `[x1]`              |
//! | memory at reg+d   | `-8(%rbp)` `16(%rip)`  | `[sp, 16]` `[x29, #-8]` |
//!
//! Anything else a compiler may emit — an indexed (SIB) address `8@-8(%rax,%rbx,4)`, a
//! symbolic displacement `4@counter(%rip)`, a segment override `8@%fs:16`, a vector register
//! `8@%xmm0` — is reported as [`SpecError::Unsupported`], never guessed at.

use std::fmt;

/// The instruction set a note's argument specs are written for (from the ELF header).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Arch {
    X86_64,
    Aarch64,
}

impl Arch {
    /// The architecture this crate is compiled for, if it has a spec syntax here.
    pub const fn host() -> Option<Arch> {
        if cfg!(target_arch = "x86_64") {
            Some(Arch::X86_64)
        } else if cfg!(target_arch = "aarch64") {
            Some(Arch::Aarch64)
        } else {
            None
        }
    }
}

/// A general-purpose register, as named in a spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Reg {
    /// The name as spelled in the spec, without `%` (`eax`, `r8b`, `w3`).
    pub name: &'static str,
    /// The full register it is part of (`rax`, `r8`, `x3`).
    pub full: &'static str,
    /// Width of the named part, in bits.
    pub bits: u8,
    /// Bit offset of the named part in the full register: 8 for `%ah`..`%dh`, else 0.
    pub shift: u8,
    /// Byte offset of the full register in the kernel's `struct pt_regs` of the architecture,
    /// which is where a uprobe BPF program reads it.
    pub pt_regs_offset: u16,
}

/// Where an argument's value is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArgLoc {
    /// A constant, sign- or zero-extended from the spec text.
    Const(i64),
    /// The value is in a register (its low `size` bytes, after `shift`).
    Reg(Reg),
    /// The value is in memory at `base + disp`.
    Mem { base: Reg, disp: i64 },
}

/// One decoded argument spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ArgSpec {
    /// Size in bytes: 1, 2, 4 or 8.
    pub size: u8,
    /// Whether the value is signed (negative size in the spec).
    pub signed: bool,
    pub loc: ArgLoc,
    pub arch: Arch,
}

/// Why a spec could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// Not a valid SDT argument spec at all.
    #[error("malformed argument spec {spec:?}: {why}")]
    Malformed { spec: String, why: &'static str },
    /// A valid spec in a form this decoder does not handle.
    #[error("unsupported argument spec {spec:?}: {why}")]
    Unsupported { spec: String, why: &'static str },
}

fn malformed(spec: &str, why: &'static str) -> SpecError {
    SpecError::Malformed {
        spec: spec.to_owned(),
        why,
    }
}

fn unsupported(spec: &str, why: &'static str) -> SpecError {
    SpecError::Unsupported {
        spec: spec.to_owned(),
        why,
    }
}

/// Decodes a whole argument string (specs separated by whitespace). An empty string is a
/// probe without arguments.
pub fn parse_args(args: &str, arch: Arch) -> Result<Vec<ArgSpec>, SpecError> {
    args.split_ascii_whitespace()
        .map(|a| parse_arg(a, arch))
        .collect()
}

/// Decodes one argument spec.
pub fn parse_arg(spec: &str, arch: Arch) -> Result<ArgSpec, SpecError> {
    let Some((size, operand)) = spec.split_once('@') else {
        return Err(unsupported(spec, "no size (pre-v3 spec without `N@`)"));
    };
    let (signed, digits) = match size.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, size.strip_prefix('+').unwrap_or(size)),
    };
    let size = match digits {
        "1" => 1,
        "2" => 2,
        "4" => 4,
        "8" => 8,
        _ if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
            return Err(unsupported(spec, "size is not 1, 2, 4 or 8"));
        }
        _ => return Err(malformed(spec, "size is not a number")),
    };
    if operand.is_empty() {
        return Err(malformed(spec, "empty operand"));
    }
    let loc = match arch {
        Arch::X86_64 => x86_operand(spec, operand)?,
        Arch::Aarch64 => arm_operand(spec, operand)?,
    };
    Ok(ArgSpec {
        size,
        signed,
        loc,
        arch,
    })
}

/// A decimal or `0x` hexadecimal integer with an optional sign. Unsigned constants above
/// `i64::MAX` (a `u64` argument) keep their bits.
fn parse_int(text: &str) -> Option<i64> {
    let (neg, t) = match text.strip_prefix('-') {
        Some(t) => (true, t),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let magnitude = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
            u64::from_str_radix(hex, 16).ok()?
        }
        Some(_) => return None,
        None if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) => t.parse::<u64>().ok()?,
        None => return None,
    };
    if neg {
        // -(2^63) is the most negative value that fits.
        if magnitude > 1 << 63 {
            return None;
        }
        Some(0i64.wrapping_sub_unsigned(magnitude))
    } else {
        Some(magnitude.cast_signed())
    }
}

fn x86_operand(spec: &str, op: &str) -> Result<ArgLoc, SpecError> {
    if let Some(imm) = op.strip_prefix('$') {
        return match parse_int(imm) {
            Some(v) => Ok(ArgLoc::Const(v)),
            None if imm.is_empty() => Err(malformed(spec, "empty constant")),
            None if imm
                .trim_start_matches(['-', '+'])
                .bytes()
                .all(|b| b.is_ascii_digit()) =>
            {
                Err(malformed(spec, "constant out of range"))
            }
            None => Err(unsupported(spec, "constant is not a number (symbolic?)")),
        };
    }
    if let Some(name) = op.strip_prefix('%') {
        if name.contains(':') {
            return Err(unsupported(spec, "segment-relative operand"));
        }
        return match x86_reg(name) {
            Some(r) => Ok(ArgLoc::Reg(r)),
            None if is_x86_vector(name) => Err(unsupported(spec, "vector register")),
            None => Err(malformed(spec, "unknown register")),
        };
    }
    if let Some((disp, rest)) = op.split_once('(') {
        let Some(inner) = rest.strip_suffix(')') else {
            return Err(malformed(spec, "unclosed memory operand"));
        };
        if disp.contains(':') {
            return Err(unsupported(spec, "segment-relative operand"));
        }
        if inner.contains(',') {
            return Err(unsupported(spec, "indexed (SIB) memory operand"));
        }
        let Some(base) = inner.strip_prefix('%') else {
            return Err(malformed(spec, "memory operand without a base register"));
        };
        let Some(base) = x86_reg(base) else {
            return Err(malformed(spec, "unknown base register"));
        };
        if base.bits != 64 {
            return Err(unsupported(spec, "base register is not 64-bit"));
        }
        let disp = if disp.is_empty() {
            0
        } else {
            match parse_int(disp) {
                Some(d) => d,
                None => {
                    return Err(unsupported(
                        spec,
                        "displacement is not a number (symbolic?)",
                    ));
                }
            }
        };
        return Ok(ArgLoc::Mem { base, disp });
    }
    if op.contains(':') {
        return Err(unsupported(spec, "segment-relative operand"));
    }
    Err(unsupported(spec, "absolute or symbolic address"))
}

fn is_x86_vector(name: &str) -> bool {
    ["xmm", "ymm", "zmm", "mm", "st"]
        .iter()
        .any(|p| name.starts_with(p))
}

/// x86_64 general-purpose registers: (spelling, full register, bits, shift, pt_regs offset).
/// Offsets are `offsetof(struct pt_regs, ...)` from arch/x86/include/asm/ptrace.h.
const X86_REGS: &[(&str, &str, u8, u8, u16)] = &[
    ("rax", "rax", 64, 0, 80),
    ("eax", "rax", 32, 0, 80),
    ("ax", "rax", 16, 0, 80),
    ("al", "rax", 8, 0, 80),
    ("ah", "rax", 8, 8, 80),
    ("rbx", "rbx", 64, 0, 40),
    ("ebx", "rbx", 32, 0, 40),
    ("bx", "rbx", 16, 0, 40),
    ("bl", "rbx", 8, 0, 40),
    ("bh", "rbx", 8, 8, 40),
    ("rcx", "rcx", 64, 0, 88),
    ("ecx", "rcx", 32, 0, 88),
    ("cx", "rcx", 16, 0, 88),
    ("cl", "rcx", 8, 0, 88),
    ("ch", "rcx", 8, 8, 88),
    ("rdx", "rdx", 64, 0, 96),
    ("edx", "rdx", 32, 0, 96),
    ("dx", "rdx", 16, 0, 96),
    ("dl", "rdx", 8, 0, 96),
    ("dh", "rdx", 8, 8, 96),
    ("rsi", "rsi", 64, 0, 104),
    ("esi", "rsi", 32, 0, 104),
    ("si", "rsi", 16, 0, 104),
    ("sil", "rsi", 8, 0, 104),
    ("rdi", "rdi", 64, 0, 112),
    ("edi", "rdi", 32, 0, 112),
    ("di", "rdi", 16, 0, 112),
    ("dil", "rdi", 8, 0, 112),
    ("rbp", "rbp", 64, 0, 32),
    ("ebp", "rbp", 32, 0, 32),
    ("bp", "rbp", 16, 0, 32),
    ("bpl", "rbp", 8, 0, 32),
    ("rsp", "rsp", 64, 0, 152),
    ("esp", "rsp", 32, 0, 152),
    ("sp", "rsp", 16, 0, 152),
    ("spl", "rsp", 8, 0, 152),
    ("r8", "r8", 64, 0, 72),
    ("r8d", "r8", 32, 0, 72),
    ("r8w", "r8", 16, 0, 72),
    ("r8b", "r8", 8, 0, 72),
    ("r9", "r9", 64, 0, 64),
    ("r9d", "r9", 32, 0, 64),
    ("r9w", "r9", 16, 0, 64),
    ("r9b", "r9", 8, 0, 64),
    ("r10", "r10", 64, 0, 56),
    ("r10d", "r10", 32, 0, 56),
    ("r10w", "r10", 16, 0, 56),
    ("r10b", "r10", 8, 0, 56),
    ("r11", "r11", 64, 0, 48),
    ("r11d", "r11", 32, 0, 48),
    ("r11w", "r11", 16, 0, 48),
    ("r11b", "r11", 8, 0, 48),
    ("r12", "r12", 64, 0, 24),
    ("r12d", "r12", 32, 0, 24),
    ("r12w", "r12", 16, 0, 24),
    ("r12b", "r12", 8, 0, 24),
    ("r13", "r13", 64, 0, 16),
    ("r13d", "r13", 32, 0, 16),
    ("r13w", "r13", 16, 0, 16),
    ("r13b", "r13", 8, 0, 16),
    ("r14", "r14", 64, 0, 8),
    ("r14d", "r14", 32, 0, 8),
    ("r14w", "r14", 16, 0, 8),
    ("r14b", "r14", 8, 0, 8),
    ("r15", "r15", 64, 0, 0),
    ("r15d", "r15", 32, 0, 0),
    ("r15w", "r15", 16, 0, 0),
    ("r15b", "r15", 8, 0, 0),
    ("rip", "rip", 64, 0, 128),
    ("eip", "rip", 32, 0, 128),
];

fn x86_reg(name: &str) -> Option<Reg> {
    X86_REGS
        .iter()
        .find(|r| r.0 == name)
        .map(|&(name, full, bits, shift, pt_regs_offset)| Reg {
            name,
            full,
            bits,
            shift,
            pt_regs_offset,
        })
}

/// aarch64 register spellings, index = register number; `pt_regs.regs[n]` is at `8 * n`.
const ARM_X: [&str; 31] = [
    "x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13", "x14",
    "x15", "x16", "x17", "x18", "x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27",
    "x28", "x29", "x30",
];
const ARM_W: [&str; 31] = [
    "w0", "w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8", "w9", "w10", "w11", "w12", "w13", "w14",
    "w15", "w16", "w17", "w18", "w19", "w20", "w21", "w22", "w23", "w24", "w25", "w26", "w27",
    "w28", "w29", "w30",
];
/// `offsetof(struct pt_regs, sp)` on arm64 (after `regs[31]`).
const ARM_SP_OFFSET: u16 = 248;

fn arm_reg(name: &str) -> Option<Reg> {
    if name == "sp" {
        return Some(Reg {
            name: "sp",
            full: "sp",
            bits: 64,
            shift: 0,
            pt_regs_offset: ARM_SP_OFFSET,
        });
    }
    // The tables are indexed by register number, which is also its pt_regs slot.
    if let Some(n) = ARM_X.iter().position(|&x| x == name) {
        return Some(Reg {
            name: ARM_X[n],
            full: ARM_X[n],
            bits: 64,
            shift: 0,
            pt_regs_offset: 8 * n as u16,
        });
    }
    ARM_W.iter().position(|&w| w == name).map(|n| Reg {
        name: ARM_W[n],
        full: ARM_X[n],
        bits: 32,
        shift: 0,
        pt_regs_offset: 8 * n as u16,
    })
}

fn arm_operand(spec: &str, op: &str) -> Result<ArgLoc, SpecError> {
    if let Some(inner) = op.strip_prefix('[') {
        let Some(inner) = inner.strip_suffix(']') else {
            return Err(malformed(spec, "unclosed memory operand"));
        };
        let (base, disp) = match inner.split_once(',') {
            Some((b, d)) => (b.trim(), Some(d.trim())),
            None => (inner.trim(), None),
        };
        let Some(base) = arm_reg(base) else {
            return Err(unsupported(spec, "base is not a 64-bit general register"));
        };
        if base.bits != 64 {
            return Err(unsupported(spec, "base is not a 64-bit general register"));
        }
        let disp = match disp {
            None => 0,
            Some(d) => {
                let d = d.strip_prefix('#').unwrap_or(d);
                match parse_int(d) {
                    Some(v) => v,
                    None => {
                        return Err(unsupported(
                            spec,
                            "offset is not a number (index register?)",
                        ));
                    }
                }
            }
        };
        return Ok(ArgLoc::Mem { base, disp });
    }
    if let Some(r) = arm_reg(op) {
        return Ok(ArgLoc::Reg(r));
    }
    match parse_int(op.strip_prefix('#').unwrap_or(op)) {
        Some(v) => Ok(ArgLoc::Const(v)),
        None => Err(unsupported(
            spec,
            "not a general register, a constant or [reg, offset]",
        )),
    }
}

impl fmt::Display for ArgSpec {
    /// The canonical spec text; it parses back to the same value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.signed { "-" } else { "" };
        write!(f, "{sign}{}@", self.size)?;
        match (self.arch, self.loc) {
            (Arch::X86_64, ArgLoc::Const(v)) => write!(f, "${v}"),
            (Arch::X86_64, ArgLoc::Reg(r)) => write!(f, "%{}", r.name),
            (Arch::X86_64, ArgLoc::Mem { base, disp: 0 }) => write!(f, "(%{})", base.name),
            (Arch::X86_64, ArgLoc::Mem { base, disp }) => write!(f, "{disp}(%{})", base.name),
            (Arch::Aarch64, ArgLoc::Const(v)) => write!(f, "{v}"),
            (Arch::Aarch64, ArgLoc::Reg(r)) => f.write_str(r.name),
            (Arch::Aarch64, ArgLoc::Mem { base, disp: 0 }) => write!(f, "[{}]", base.name),
            (Arch::Aarch64, ArgLoc::Mem { base, disp }) => write!(f, "[{}, {disp}]", base.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn x86(s: &str) -> Result<ArgSpec, SpecError> {
        parse_arg(s, Arch::X86_64)
    }

    fn reg_of(s: &str) -> Reg {
        match x86(s).unwrap().loc {
            ArgLoc::Reg(r) => r,
            other => panic!("{s}: expected a register, got {other:?}"),
        }
    }

    #[test]
    fn x86_registers_of_every_width() {
        let r = reg_of("8@%rax");
        assert_eq!(
            (r.full, r.bits, r.shift, r.pt_regs_offset),
            ("rax", 64, 0, 80)
        );
        let r = reg_of("4@%ecx");
        assert_eq!(
            (r.full, r.bits, r.shift, r.pt_regs_offset),
            ("rcx", 32, 0, 88)
        );
        let r = reg_of("2@%ax");
        assert_eq!((r.full, r.bits), ("rax", 16));
        let r = reg_of("1@%al");
        assert_eq!((r.full, r.bits, r.shift), ("rax", 8, 0));
        let r = reg_of("1@%ah");
        assert_eq!((r.full, r.bits, r.shift), ("rax", 8, 8));
        let r = reg_of("1@%dh");
        assert_eq!((r.full, r.shift, r.pt_regs_offset), ("rdx", 8, 96));
        let r = reg_of("4@%r8d");
        assert_eq!((r.full, r.bits, r.pt_regs_offset), ("r8", 32, 72));
        let r = reg_of("2@%r8w");
        assert_eq!((r.full, r.bits), ("r8", 16));
        let r = reg_of("1@%r15b");
        assert_eq!((r.full, r.bits, r.pt_regs_offset), ("r15", 8, 0));
        let r = reg_of("1@%sil");
        assert_eq!((r.full, r.bits, r.pt_regs_offset), ("rsi", 8, 104));
        let r = reg_of("8@%rip");
        assert_eq!((r.full, r.pt_regs_offset), ("rip", 128));
        let r = reg_of("8@%rsp");
        assert_eq!(r.pt_regs_offset, 152);
        let r = reg_of("1@%bpl");
        assert_eq!((r.full, r.pt_regs_offset), ("rbp", 32));
    }

    #[test]
    fn every_x86_register_name_is_unique_and_its_full_register_agrees() {
        for (i, a) in X86_REGS.iter().enumerate() {
            for b in &X86_REGS[i + 1..] {
                assert_ne!(a.0, b.0, "duplicate spelling");
                if a.1 == b.1 {
                    assert_eq!(a.4, b.4, "{} and {} disagree on pt_regs offset", a.0, b.0);
                } else {
                    assert_ne!(a.4, b.4, "{} and {} share a pt_regs offset", a.1, b.1);
                }
            }
        }
    }

    #[test]
    fn sizes_and_signs() {
        let a = x86("-4@%eax").unwrap();
        assert_eq!((a.size, a.signed), (4, true));
        let a = x86("1@%dl").unwrap();
        assert_eq!((a.size, a.signed), (1, false));
        let a = x86("+8@%rax").unwrap();
        assert_eq!((a.size, a.signed), (8, false));
        assert!(matches!(x86("3@%eax"), Err(SpecError::Unsupported { .. })));
        assert!(matches!(
            x86("16@%xmm0"),
            Err(SpecError::Unsupported { .. })
        ));
        assert!(matches!(x86("x@%eax"), Err(SpecError::Malformed { .. })));
        assert!(matches!(x86("@%eax"), Err(SpecError::Malformed { .. })));
        assert!(matches!(x86("%eax"), Err(SpecError::Unsupported { .. })));
    }

    #[test]
    fn constants() {
        assert_eq!(x86("-4@$7").unwrap().loc, ArgLoc::Const(7));
        assert_eq!(x86("-4@$-7").unwrap().loc, ArgLoc::Const(-7));
        assert_eq!(x86("8@$0x10").unwrap().loc, ArgLoc::Const(16));
        assert_eq!(
            x86("8@$18446744073709551615").unwrap().loc,
            ArgLoc::Const(-1),
            "a u64 constant keeps its bits"
        );
        assert_eq!(
            x86("-8@$-9223372036854775808").unwrap().loc,
            ArgLoc::Const(i64::MIN)
        );
        assert!(matches!(
            x86("8@$18446744073709551616"),
            Err(SpecError::Malformed { .. })
        ));
        assert!(matches!(x86("8@$sym"), Err(SpecError::Unsupported { .. })));
        assert!(matches!(x86("8@$"), Err(SpecError::Malformed { .. })));
    }

    #[test]
    fn memory_operands() {
        let a = x86("-8@-16(%rbp)").unwrap();
        match a.loc {
            ArgLoc::Mem { base, disp } => assert_eq!((base.full, disp), ("rbp", -16)),
            other => panic!("{other:?}"),
        }
        let a = x86("8@(%rdx)").unwrap();
        match a.loc {
            ArgLoc::Mem { base, disp } => assert_eq!((base.full, disp), ("rdx", 0)),
            other => panic!("{other:?}"),
        }
        let a = x86("4@0x20(%r12)").unwrap();
        assert!(matches!(a.loc, ArgLoc::Mem { disp: 32, .. }));
        let a = x86("8@16(%rip)").unwrap();
        assert!(matches!(
            a.loc,
            ArgLoc::Mem {
                base: Reg { full: "rip", .. },
                disp: 16
            }
        ));
    }

    #[test]
    fn unsupported_forms_say_so() {
        for s in [
            "8@-8(%rax,%rbx,4)",
            "8@(,%rbx,8)",
            "4@counter(%rip)",
            "8@%fs:16",
            "8@%fs:(%rax)",
            "8@0x1000",
            "4@(%eax)",
            "8@%xmm1",
        ] {
            match x86(s) {
                Err(SpecError::Unsupported { spec, .. }) => assert_eq!(spec, s),
                other => panic!("{s}: expected Unsupported, got {other:?}"),
            }
        }
        for s in ["8@%foo", "8@(%rax", "8@(rax)", "4@"] {
            assert!(matches!(x86(s), Err(SpecError::Malformed { .. })), "{s}");
        }
        let e = x86("8@-8(%rax,%rbx,4)").unwrap_err().to_string();
        assert!(
            e.contains("indexed") && e.contains("8@-8(%rax,%rbx,4)"),
            "{e}"
        );
    }

    #[test]
    fn whole_argument_strings() {
        let v = parse_args("4@%ecx 1@%dl  -8@%rax\t8@$3", Arch::X86_64).unwrap();
        assert_eq!(v.len(), 4);
        assert_eq!(v[3].loc, ArgLoc::Const(3));
        assert!(parse_args("", Arch::X86_64).unwrap().is_empty());
        assert!(parse_args("4@%ecx 8@(%rax,%rbx,2)", Arch::X86_64).is_err());
    }

    #[test]
    fn aarch64_forms() {
        let a = parse_arg("8@x3", Arch::Aarch64).unwrap();
        assert!(matches!(
            a.loc,
            ArgLoc::Reg(Reg {
                full: "x3",
                bits: 64,
                pt_regs_offset: 24,
                ..
            })
        ));
        let a = parse_arg("-4@w30", Arch::Aarch64).unwrap();
        assert!(matches!(
            a.loc,
            ArgLoc::Reg(Reg {
                full: "x30",
                bits: 32,
                pt_regs_offset: 240,
                ..
            })
        ));
        assert!(a.signed);
        let a = parse_arg("8@[sp, 16]", Arch::Aarch64).unwrap();
        assert!(matches!(
            a.loc,
            ArgLoc::Mem {
                base: Reg {
                    pt_regs_offset: 248,
                    ..
                },
                disp: 16
            }
        ));
        let a = parse_arg("4@[x29, #-8]", Arch::Aarch64).unwrap();
        assert!(matches!(a.loc, ArgLoc::Mem { disp: -8, .. }));
        let a = parse_arg("8@[x1]", Arch::Aarch64).unwrap();
        assert!(matches!(a.loc, ArgLoc::Mem { disp: 0, .. }));
        assert_eq!(
            parse_arg("-4@-5", Arch::Aarch64).unwrap().loc,
            ArgLoc::Const(-5)
        );
        assert!(matches!(
            parse_arg("8@[x1, x2]", Arch::Aarch64),
            Err(SpecError::Unsupported { .. })
        ));
        assert!(matches!(
            parse_arg("8@d0", Arch::Aarch64),
            Err(SpecError::Unsupported { .. })
        ));
    }

    #[test]
    fn display_parses_back_to_the_same_spec() {
        for (s, arch) in [
            ("4@%ecx", Arch::X86_64),
            ("-1@%ah", Arch::X86_64),
            ("8@$-3", Arch::X86_64),
            ("8@(%rax)", Arch::X86_64),
            ("-8@-16(%rbp)", Arch::X86_64),
            ("8@x0", Arch::Aarch64),
            ("4@[sp, 8]", Arch::Aarch64),
            ("8@[x2]", Arch::Aarch64),
            ("-2@12", Arch::Aarch64),
        ] {
            let a = parse_arg(s, arch).unwrap();
            assert_eq!(a.to_string(), s);
            assert_eq!(parse_arg(&a.to_string(), arch).unwrap(), a);
        }
    }
}
