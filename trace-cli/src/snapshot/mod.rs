//! Reading a process's scheduler state from memory, without tracing: a live process (through
//! `process_vm_readv`, or `/proc/PID/mem`) or a core file. What is read is a goro runtime's
//! state table (`goro_probes::state`), decoded into plain values; [`goro::to_snapshot`] turns
//! it into the engine's [`Snapshot`](crate::engine::Snapshot).
//!
//! The parts are kept apart so another runtime's structures can be read the same way later
//! (Go's `allp`, `sched` and `newmHandoff` through DWARF): [`Memory`] is any address space,
//! [`elf`] finds things in an executable, [`process`] and [`core`] are the two address
//! spaces, and [`goro`] is the one reader of goro's table.

pub mod core;
pub mod elf;
pub mod goro;
pub mod process;

/// A failure to read a snapshot: one line, for the user.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Error(pub String);

impl Error {
    pub fn new(msg: impl Into<String>) -> Error {
        Error(msg.into())
    }
}

/// An address space to copy bytes out of.
pub trait Memory {
    /// Fills `buf` from `addr` on, entirely, or fails.
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> Result<(), Error>;

    /// Whether the memory can change while it is read (a running process), so a read must
    /// be checked for tearing and retried.
    fn live(&self) -> bool;
}
