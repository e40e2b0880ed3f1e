//! Goroutine-aware synchronisation after Go's `sync` package: waiting parks the goroutine, never
//! its thread, so other goroutines keep the thread busy meanwhile.

mod mutex;
pub(crate) mod park;
mod sema;
mod waitgroup;

pub use mutex::{Mutex, MutexGuard};
pub use waitgroup::WaitGroup;
