//! The two table macros the catalog is written in. Each entry is written once and becomes
//! both data (for decoders) and code (constants and probe functions for the runtime), so the
//! two can never disagree.

/// A group of named `u8` codes: one module with a `pub const` per code, a `TABLE` describing
/// them for decoders, and `name()`.
macro_rules! code_tables {
    ($(
        $(#[doc = $tdoc:literal])*
        pub mod $module:ident ($table:literal) {
            $(
                $(#[doc = $cdoc:literal])*
                $konst:ident = $value:literal => $name:literal,
            )*
        }
    )*) => {$(
        $(#[doc = $tdoc])*
        pub mod $module {
            use $crate::catalog::{Code, CodeTable};

            $(
                $(#[doc = $cdoc])*
                pub const $konst: u8 = $value;
            )*

            /// This table, for decoders.
            pub static TABLE: CodeTable = CodeTable {
                name: $table,
                doc: concat!($($tdoc, "\n",)*),
                codes: &[$(
                    Code {
                        value: $value,
                        name: $name,
                        const_name: stringify!($konst),
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
                $arg:ident : $ty:ident => $kind:expr
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
                        kind: $kind,
                        doc: concat!($($adoc, "\n",)*),
                    },
                )*],
            },
        )*];

        /// One function per catalog probe. Calling one costs a `nop` when nobody traces the
        /// process; a tracer attached to it reads the arguments from the registers named in
        /// the site's note.
        pub mod probe {
            $(
                $(#[doc = $pdoc])*
                ///
                /// # Arguments
                $(
                    #[doc = concat!("* `", stringify!($arg), ": ", stringify!($ty), "` —", $($adoc,)*)]
                )*
                #[inline(always)]
                pub fn $probe($($arg: $ty),*) {
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
                use $crate::catalog::FromSeed;
                $(
                    super::probe::$probe($(<$ty as FromSeed>::from_seed(seed)),*);
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
