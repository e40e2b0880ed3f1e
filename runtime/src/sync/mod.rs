//! Goroutine-aware synchronisation after Go's `sync` package: waiting parks the goroutine, never
//! its thread, so other goroutines keep the thread busy meanwhile.
//!
//! ```
//! use std::sync::Arc;
//! use goro::sync::{Mutex, WaitGroup};
//!
//! goro::Runtime::builder().procs(2).build().unwrap().block_on(|| {
//!     let hits = Arc::new(Mutex::new(0));
//!     let wg = WaitGroup::new();
//!     for _ in 0..10 {
//!         wg.add(1);
//!         let (hits, wg) = (hits.clone(), wg.clone());
//!         goro::go(move || {
//!             *hits.lock() += 1;
//!             wg.done();
//!         });
//!     }
//!     wg.wait();
//!     assert_eq!(*hits.lock(), 10);
//! });
//! ```

mod mutex;
pub(crate) mod park;
mod sema;
mod waitgroup;

pub use mutex::{Mutex, MutexGuard};
pub use waitgroup::WaitGroup;
