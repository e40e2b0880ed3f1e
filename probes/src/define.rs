//! The two table macros the catalog is written in. Each entry is written once and becomes
//! both data (for decoders) and code (constants and probe functions for the runtime), so the
//! two can never disagree.

/// A group of named `u8` codes: one module with a `#[repr(u8)]` enum whose discriminants are
/// the codes, a `TABLE` describing them for decoders, and `name()`. The enum is what the
/// runtime and the probe functions use, so a code of one table cannot be passed where another
/// table's is expected, and `TryFrom<u8>` turns an unknown value into an error, never into a
/// default.
macro_rules! code_tables {
    ($(
        $(#[doc = $tdoc:literal])*
        pub mod $module:ident ($table:literal) enum $enum:ident {
            $(
                $(#[doc = $cdoc:literal])*
                $variant:ident = $value:literal => $name:literal,
            )*
        }
    )*) => {$(
        $(#[doc = $tdoc])*
        pub mod $module {
            use $crate::catalog::{Code, CodeEnum, CodeTable, UnknownCode};

            $(#[doc = $tdoc])*
            #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
            #[repr(u8)]
            pub enum $enum {
                $(
                    $(#[doc = $cdoc])*
                    $variant = $value,
                )*
            }

            impl $enum {
                /// Every code, in table order.
                pub const ALL: &'static [$enum] = &[$($enum::$variant),*];

                /// The name decoders print (the catalog's).
                pub const fn name(self) -> &'static str {
                    match self {
                        $($enum::$variant => $name,)*
                    }
                }

                /// The code as the probe carries it.
                pub const fn code(self) -> u8 {
                    self as u8
                }

                /// The code's variant, if `code` is one of this table's.
                pub const fn from_code(code: u8) -> Option<$enum> {
                    match code {
                        $($value => Some($enum::$variant),)*
                        _ => None,
                    }
                }
            }

            impl From<$enum> for u8 {
                #[inline(always)]
                fn from(c: $enum) -> u8 {
                    c as u8
                }
            }

            impl TryFrom<u8> for $enum {
                type Error = UnknownCode;

                fn try_from(code: u8) -> Result<$enum, UnknownCode> {
                    $enum::from_code(code).ok_or(UnknownCode { table: $table, code })
                }
            }

            impl ::core::fmt::Display for $enum {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    f.write_str(self.name())
                }
            }

            impl CodeEnum for $enum {
                const TABLE: &'static CodeTable = &TABLE;
            }

            impl $crate::catalog::FromSeed for $enum {
                #[inline(always)]
                fn from_seed(seed: u64) -> Self {
                    $enum::ALL[(seed % $enum::ALL.len() as u64) as usize]
                }
            }

            /// This table, for decoders.
            pub static TABLE: CodeTable = CodeTable {
                name: $table,
                doc: concat!($($tdoc, "\n",)*),
                codes: &[$(
                    Code {
                        value: $value,
                        name: $name,
                        variant: stringify!($variant),
                        doc: concat!($($cdoc, "\n",)*),
                    },
                )*],
            };

            /// The name decoders print for `code`, if it is one of this table's.
            pub fn name(code: u8) -> Option<&'static str> {
                TABLE.name_of(code)
            }
        }
    )*};
}

/// The probe table. For each entry it generates a [`ProbeDef`](crate::catalog::ProbeDef) in
/// `CATALOG` and an `#[inline(always)]` function in `probe` that emits the site, so the
/// runtime's calls are type-checked against the catalog.
macro_rules! probes {
    ($(
        $(#[doc = $pdoc:literal])*
        fn $probe:ident(
            $(
                $(#[doc = $adoc:literal])*
                $arg:ident : $ty:ident $(as $code:path)? $(=> $kind:expr)?
            ),* $(,)?
        );
    )*) => {
        /// Every probe of provider [`PROVIDER`], in catalog order.
        pub static CATALOG: &[ProbeDef] = &[$(
            ProbeDef {
                name: stringify!($probe),
                doc: concat!($($pdoc, "\n",)*),
                args: &[$(
                    ArgDef {
                        name: stringify!($arg),
                        ty: arg_type!($ty),
                        kind: arg_kind!($($code)? ; $($kind)?),
                        doc: concat!($($adoc, "\n",)*),
                    },
                )*],
            },
        )*];

        /// One function per catalog probe. Calling one costs a `nop` when nobody traces the
        /// process; a tracer attached to it reads the arguments from the registers named in
        /// the site's note.
        pub mod probe {
            // The code tables' enums, by the paths the table names them.
            #[allow(unused_imports)]
            use super::*;
            $(
                $(#[doc = $pdoc])*
                ///
                /// # Arguments
                $(
                    #[doc = concat!("* `", stringify!($arg), ": ", stringify!($ty $(as $code)?), "` —", $($adoc,)*)]
                )*
                #[inline(always)]
                pub fn $probe($($arg: arg_param!($ty $(as $code)?)),*) {
                    // A code argument is passed as its `u8`; the others as they are.
                    $(let $arg: $ty = <$ty>::from($arg);)*
                    sdt_site!(goro, $probe $(, $arg: $ty)*);
                }
            )*
        }

        #[doc(hidden)]
        /// For tests of tools: fires every catalog probe once, each argument derived from
        /// `seed`. Inline so that its sites land only in the binary that calls it.
        pub mod testing {
            /// Fires every probe of the catalog once.
            #[inline(always)]
            pub fn fire_every_probe(seed: u64) {
                #[allow(unused_imports)]
                use super::*;
                use $crate::catalog::FromSeed;
                $(
                    super::probe::$probe($(<arg_param!($ty $(as $code)?) as FromSeed>::from_seed(seed)),*);
                )*
            }
        }
    };
}

/// The [`ArgType`](crate::catalog::ArgType) of a Rust integer type name.
macro_rules! arg_type {
    (u8) => {
        ArgType::U8
    };
    (u16) => {
        ArgType::U16
    };
    (u32) => {
        ArgType::U32
    };
    (u64) => {
        ArgType::U64
    };
    (i8) => {
        ArgType::I8
    };
    (i16) => {
        ArgType::I16
    };
    (i32) => {
        ArgType::I32
    };
    (i64) => {
        ArgType::I64
    };
}

/// The Rust type a probe function takes for an argument: the code table's enum for a code
/// (`u8 as pstatus::PStatus`), else the integer type itself.
macro_rules! arg_param {
    ($ty:ident as $code:path) => {
        $code
    };
    ($ty:ident) => {
        $ty
    };
}

/// The [`ArgKind`](crate::catalog::ArgKind) of an argument: a code's is its enum's table, so
/// the type and the table cannot disagree; any other argument states its kind.
macro_rules! arg_kind {
    ($code:path ;) => {
        ArgKind::Code(<$code as $crate::catalog::CodeEnum>::TABLE)
    };
    (; $kind:expr) => {
        $kind
    };
}
