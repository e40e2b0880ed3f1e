//! goro's USDT probes: the catalog (the contract between the runtime and the tools), the probe
//! functions that emit SystemTap SDT notes, and the reader that finds them in an ELF file.
//!
//! * [`catalog`]: every probe, its arguments and the code tables, with [`CATALOG_VERSION`].
//! * [`probe`]: one `#[inline(always)]` function per probe, e.g.
//!   `probe::p_status(p, PStatus::Idle, PStatus::Running, m, Reason::Acquire, seq)`.
//!   With the `disabled` feature every site compiles to nothing (for the overhead benchmark).
//! * The code tables ([`pstatus`], [`reason`], [`stw_reason`], [`handoff`],
//!   [`syscall_exit_kind`]) each generate a `#[repr(u8)]` enum ([`PStatus`], [`Reason`],
//!   [`StwReason`], [`Handoff`], [`SyscallExitKind`]): the runtime uses them as its own types,
//!   and `TryFrom<u8>` refuses an unknown code ([`UnknownCode`]).
//! * `sdt` (feature `reader`): reads `.note.stapsdt` from an executable or a shared library and
//!   maps each site to the file offset a uprobe attaches to; `spec` decodes the argument specs.
//!   Tools turn the feature on; a program built on the runtime needs only the catalog and the
//!   probe functions, so it does not compile the reader's dependencies.
//!
//! A probe call is typed by its catalog entry, so misuse does not compile. (Stable rustdoc
//! does not check the error codes below; the first, compiling example is the control: each
//! failing one differs from it only by the misuse.)
//!
//! ```
//! use goro_probes::{PStatus, Reason, StwReason, probe};
//! probe::p_status(1, PStatus::Idle, PStatus::Running, 7, Reason::Acquire, 1);
//! probe::stw_begin(1, StwReason::ReadStats, 4, 3);
//! ```
//!
//! A missing argument (`p_status` takes six):
//!
//! ```compile_fail,E0061
//! use goro_probes::{PStatus, Reason, probe};
//! probe::p_status(1, PStatus::Idle, PStatus::Running, 7, Reason::Acquire);
//! ```
//!
//! A wrong type (the P id is a `u32`):
//!
//! ```compile_fail,E0308
//! use goro_probes::{PStatus, Reason, probe};
//! probe::p_status(1u64, PStatus::Idle, PStatus::Running, 7, Reason::Acquire, 1);
//! ```
//!
//! A code of the wrong table (the status and the reason swapped):
//!
//! ```compile_fail,E0308
//! use goro_probes::{PStatus, Reason, probe};
//! probe::p_status(1, Reason::Acquire, PStatus::Running, 7, PStatus::Idle, 1);
//! ```
//!
//! A bare number where a code is expected:
//!
//! ```compile_fail,E0308
//! use goro_probes::{PStatus, Reason, probe};
//! probe::p_status(1, 0, PStatus::Running, 7, Reason::Acquire, 1);
//! ```
//!
//! Two arguments swapped (the P count and the reason):
//!
//! ```compile_fail,E0308
//! use goro_probes::{StwReason, probe};
//! probe::stw_begin(1, 4, StwReason::ReadStats, 3);
//! ```
//!
//! A probe that is not in the catalog:
//!
//! ```compile_fail,E0425
//! goro_probes::probe::p_state(1, 0, 1, 7, 1, 1);
//! ```
//!
//! An unknown code is an error, not a default:
//!
//! ```
//! use goro_probes::{PStatus, UnknownCode};
//! assert_eq!(PStatus::try_from(3), Ok(PStatus::GcStop));
//! assert_eq!(PStatus::try_from(9), Err(UnknownCode { table: "pstatus", code: 9 }));
//! ```

#[macro_use]
mod site;
#[macro_use]
mod define;

#[cfg(feature = "reader")]
#[doc(hidden)]
pub mod bpftrace;
pub mod catalog;
#[cfg(feature = "reader")]
pub mod sdt;
#[cfg(feature = "reader")]
pub mod spec;
pub mod state;

#[cfg(feature = "reader")]
#[doc(hidden)]
pub mod fuzzing;

pub use catalog::{
    CATALOG, CATALOG_VERSION, G_NONE, M_NONE, P_NONE, PROVIDER, TRANSITIONS, UnknownCode, handoff,
    is_legal_transition, probe, pstatus, reason, stw_reason, syscall_exit_kind, testing,
};
pub use handoff::Handoff;
pub use pstatus::PStatus;
pub use reason::Reason;
pub use stw_reason::StwReason;
pub use syscall_exit_kind::SyscallExitKind;

/// Every binary that links this crate says which catalog its probe sites follow (see
/// [`catalog::VersionNote`]). `#[used]` makes rustc keep it in the link; a section named
/// `.note.*` is emitted as SHT_NOTE, which linkers keep through section GC.
#[cfg(all(
    not(feature = "disabled"),
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
#[used]
#[unsafe(link_section = ".note.goro")]
static CATALOG_VERSION_NOTE: catalog::VersionNote = catalog::VersionNote::CURRENT;

/// Whether probe sites are compiled in (false with the `disabled` feature or on an
/// architecture without a site implementation). Tests that look for sites check it.
pub const SITES_ENABLED: bool = cfg!(all(
    not(feature = "disabled"),
    any(target_arch = "x86_64", target_arch = "aarch64")
));
