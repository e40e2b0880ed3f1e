//! The probe site: a SystemTap SDT v3 note around a 1-byte `nop`.
//!
//! Every `goro_probes::probe::*` function expands to one `sdt_site!`. The site is the standard
//! one (what `<sys/sdt.h>` emits), with two deliberate choices:
//!
//! * the probe instruction is the 1-byte `nop` (x86_64) or the 4-byte `nop` (aarch64). A 5-byte
//!   NOP is turned into a call by recent kernels, which is slower and writes below `%rsp`,
//!   corrupting the red zone of code that declared `nostack` (see `EBPF_FACTS.md`);
//! * argument specs are typed from the Rust types (`4@%ecx`, `1@%dl`, `-8@%rax`), so a tracer
//!   reads exactly the bits the runtime passed and signedness survives.
//!
//! There are no semaphores: a site nobody traces costs a `nop`, so the "is enabled" check
//! would cost more than it saves.
//!
//! Layout of the note (`.note.stapsdt`, type 3, owner "stapsdt"): the site's address, the
//! link-time address of `_.stapsdt.base` (so a reader can undo prelinking), the semaphore
//! address (0), then provider, name and argument string, each NUL-terminated.
//! `_.stapsdt.base` is a 1-byte symbol in a comdat section, so every object file defines it
//! and the linker keeps one.

/// Emits one probe site. Arguments are `provider, name, arg: type, ...`; types are the eight
/// fixed-width integers. Numeric local labels (`990:`) are used because the compiler may
/// duplicate an inlined site; each copy then gets its own note, which is what a tracer wants.
#[cfg(all(target_arch = "x86_64", not(feature = "disabled")))]
macro_rules! sdt_site {
    ($provider:ident, $name:ident $(, $arg:ident : $ty:ident)* $(,)?) => {
        sdt_site!(@munch $provider $name [] []; $($arg : $ty,)*)
    };
    // One rule per type: the operand class and the register width in the spec follow the type.
    // `reg_byte` keeps a u8 in a low byte register without a widening move.
    (@munch $p:ident $n:ident [$($s:tt)*] [$($o:tt)*]; $a:ident : u8, $($rest:tt)*) => {
        sdt_site!(@munch $p $n [$($s)* ("1@{" $a "}")] [$($o)* $a = in(reg_byte) $a,]; $($rest)*)
    };
    (@munch $p:ident $n:ident [$($s:tt)*] [$($o:tt)*]; $a:ident : i8, $($rest:tt)*) => {
        sdt_site!(@munch $p $n [$($s)* ("-1@{" $a "}")] [$($o)* $a = in(reg_byte) $a,]; $($rest)*)
    };
    (@munch $p:ident $n:ident [$($s:tt)*] [$($o:tt)*]; $a:ident : u16, $($rest:tt)*) => {
        sdt_site!(@munch $p $n [$($s)* ("2@{" $a ":x}")] [$($o)* $a = in(reg) $a,]; $($rest)*)
    };
    (@munch $p:ident $n:ident [$($s:tt)*] [$($o:tt)*]; $a:ident : i16, $($rest:tt)*) => {
        sdt_site!(@munch $p $n [$($s)* ("-2@{" $a ":x}")] [$($o)* $a = in(reg) $a,]; $($rest)*)
    };
    (@munch $p:ident $n:ident [$($s:tt)*] [$($o:tt)*]; $a:ident : u32, $($rest:tt)*) => {
        sdt_site!(@munch $p $n [$($s)* ("4@{" $a ":e}")] [$($o)* $a = in(reg) $a,]; $($rest)*)
    };
    (@munch $p:ident $n:ident [$($s:tt)*] [$($o:tt)*]; $a:ident : i32, $($rest:tt)*) => {
        sdt_site!(@munch $p $n [$($s)* ("-4@{" $a ":e}")] [$($o)* $a = in(reg) $a,]; $($rest)*)
    };
    (@munch $p:ident $n:ident [$($s:tt)*] [$($o:tt)*]; $a:ident : u64, $($rest:tt)*) => {
        sdt_site!(@munch $p $n [$($s)* ("8@{" $a ":r}")] [$($o)* $a = in(reg) $a,]; $($rest)*)
    };
    (@munch $p:ident $n:ident [$($s:tt)*] [$($o:tt)*]; $a:ident : i64, $($rest:tt)*) => {
        sdt_site!(@munch $p $n [$($s)* ("-8@{" $a ":r}")] [$($o)* $a = in(reg) $a,]; $($rest)*)
    };
    (@munch $p:ident $n:ident [$(($pre:literal $a:ident $post:literal))*] [$($o:tt)*];) => {
        // SAFETY: the instruction executed is a `nop`: it reads and writes no memory, no stack
        // and no flags, which is what `nomem, nostack, preserves_flags` promise. The operands
        // are only named in the note's argument string (data in another section). The note and
        // `.stapsdt.base` are emitted with push/popsection, so the current section is restored.
        unsafe {
            ::core::arch::asm!(
                "990: nop",
                ".pushsection .note.stapsdt,\"?\",\"note\"",
                ".balign 4",
                ".4byte 992f-991f, 994f-993f, 3",
                "991: .asciz \"stapsdt\"",
                "992: .balign 4",
                "993: .8byte 990b",
                ".8byte _.stapsdt.base",
                ".8byte 0",
                concat!(".asciz \"", stringify!($p), "\""),
                concat!(".asciz \"", stringify!($n), "\""),
                concat!(".asciz \"", sdt_join!($($pre $a $post)*), "\""),
                "994: .balign 4",
                ".popsection",
                ".ifndef _.stapsdt.base",
                ".pushsection .stapsdt.base,\"aGR\",\"progbits\",.stapsdt.base,comdat",
                ".weak _.stapsdt.base",
                ".hidden _.stapsdt.base",
                "_.stapsdt.base: .space 1",
                ".size _.stapsdt.base, 1",
                ".popsection",
                ".endif",
                $($o)*
                options(att_syntax, nomem, nostack, preserves_flags),
            )
        }
    };
}

/// aarch64: same note, `nop` is 4 bytes, registers are `xN` (64-bit) or `wN` (32-bit and
/// narrower, the value sits in the low bits), without `%`.
#[cfg(all(target_arch = "aarch64", not(feature = "disabled")))]
macro_rules! sdt_site {
    ($provider:ident, $name:ident $(, $arg:ident : $ty:ident)* $(,)?) => {
        sdt_site!(@munch $provider $name [] []; $($arg : $ty,)*)
    };
    (@munch $p:ident $n:ident [$($s:tt)*] [$($o:tt)*]; $a:ident : u8, $($rest:tt)*) => {
        sdt_site!(@munch $p $n [$($s)* ("1@{" $a ":w}")] [$($o)* $a = in(reg) $a,]; $($rest)*)
    };
    (@munch $p:ident $n:ident [$($s:tt)*] [$($o:tt)*]; $a:ident : i8, $($rest:tt)*) => {
        sdt_site!(@munch $p $n [$($s)* ("-1@{" $a ":w}")] [$($o)* $a = in(reg) $a,]; $($rest)*)
    };
    (@munch $p:ident $n:ident [$($s:tt)*] [$($o:tt)*]; $a:ident : u16, $($rest:tt)*) => {
        sdt_site!(@munch $p $n [$($s)* ("2@{" $a ":w}")] [$($o)* $a = in(reg) $a,]; $($rest)*)
    };
    (@munch $p:ident $n:ident [$($s:tt)*] [$($o:tt)*]; $a:ident : i16, $($rest:tt)*) => {
        sdt_site!(@munch $p $n [$($s)* ("-2@{" $a ":w}")] [$($o)* $a = in(reg) $a,]; $($rest)*)
    };
    (@munch $p:ident $n:ident [$($s:tt)*] [$($o:tt)*]; $a:ident : u32, $($rest:tt)*) => {
        sdt_site!(@munch $p $n [$($s)* ("4@{" $a ":w}")] [$($o)* $a = in(reg) $a,]; $($rest)*)
    };
    (@munch $p:ident $n:ident [$($s:tt)*] [$($o:tt)*]; $a:ident : i32, $($rest:tt)*) => {
        sdt_site!(@munch $p $n [$($s)* ("-4@{" $a ":w}")] [$($o)* $a = in(reg) $a,]; $($rest)*)
    };
    (@munch $p:ident $n:ident [$($s:tt)*] [$($o:tt)*]; $a:ident : u64, $($rest:tt)*) => {
        sdt_site!(@munch $p $n [$($s)* ("8@{" $a ":x}")] [$($o)* $a = in(reg) $a,]; $($rest)*)
    };
    (@munch $p:ident $n:ident [$($s:tt)*] [$($o:tt)*]; $a:ident : i64, $($rest:tt)*) => {
        sdt_site!(@munch $p $n [$($s)* ("-8@{" $a ":x}")] [$($o)* $a = in(reg) $a,]; $($rest)*)
    };
    (@munch $p:ident $n:ident [$(($pre:literal $a:ident $post:literal))*] [$($o:tt)*];) => {
        // SAFETY: the instruction executed is a `nop`: it reads and writes no memory, no stack
        // and no flags, which is what `nomem, nostack, preserves_flags` promise. The operands
        // are only named in the note's argument string (data in another section). The note and
        // `.stapsdt.base` are emitted with push/popsection, so the current section is restored.
        unsafe {
            ::core::arch::asm!(
                "990: nop",
                ".pushsection .note.stapsdt,\"?\",\"note\"",
                ".balign 4",
                ".4byte 992f-991f, 994f-993f, 3",
                "991: .asciz \"stapsdt\"",
                "992: .balign 4",
                "993: .8byte 990b",
                ".8byte _.stapsdt.base",
                ".8byte 0",
                concat!(".asciz \"", stringify!($p), "\""),
                concat!(".asciz \"", stringify!($n), "\""),
                concat!(".asciz \"", sdt_join!($($pre $a $post)*), "\""),
                "994: .balign 4",
                ".popsection",
                ".ifndef _.stapsdt.base",
                ".pushsection .stapsdt.base,\"aGR\",\"progbits\",.stapsdt.base,comdat",
                ".weak _.stapsdt.base",
                ".hidden _.stapsdt.base",
                "_.stapsdt.base: .space 1",
                ".size _.stapsdt.base, 1",
                ".popsection",
                ".endif",
                $($o)*
                options(nomem, nostack, preserves_flags),
            )
        }
    };
}

/// Disabled (or an architecture without a site implementation): nothing at all is emitted;
/// the arguments are only evaluated, as they would be for a call.
#[cfg(any(
    feature = "disabled",
    not(any(target_arch = "x86_64", target_arch = "aarch64"))
))]
macro_rules! sdt_site {
    ($provider:ident, $name:ident $(, $arg:ident : $ty:ident)* $(,)?) => {{
        let _ = ($($arg,)*);
    }};
}

/// Joins typed arg-spec pieces with single spaces: the SDT argument string.
#[cfg(all(
    any(target_arch = "x86_64", target_arch = "aarch64"),
    not(feature = "disabled")
))]
macro_rules! sdt_join {
    () => { "" };
    ($pre0:literal $a0:ident $post0:literal $($pre:literal $a:ident $post:literal)*) => {
        concat!($pre0, stringify!($a0), $post0, $(" ", $pre, stringify!($a), $post,)*)
    };
}
