//! Starting a runtime on the calling thread (Go's `schedinit`, `mstart0` and `runtime.main`):
//! the caller's thread becomes M0, the first procresize creates the Ps and gives M0 the first
//! one, the main goroutine is queued on it, sysmon starts, and M0 runs the scheduler until the
//! main goroutine returns and shutdown ends the loop.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use super::{Sched, m, signal};

/// Runs `main` as the main goroutine of `sched` with `procs` Ps, on the calling thread, and
/// returns its result, or the payload it panicked with.
pub(crate) fn run_main<T, F>(sched: Arc<Sched>, procs: u32, main: F) -> std::thread::Result<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    super::state::claim(&sched);
    let m0 = sched.alloc_m();
    m0.is_m0.store(true, Ordering::Relaxed);
    m0.started.store(true, Ordering::Relaxed);
    // M0 counts as a live M for checkdead, like every worker; `live` changes under the lock.
    sched
        .inner
        .with(|_| sched.ms.live.fetch_add(1, Ordering::SeqCst));
    m::set_current_m(m0);
    m0.tid.store(m::gettid(), Ordering::Relaxed);
    super::state::m_started(m0);
    // The caller's thread is an M until we return: same timer slack as the runtime's own
    // threads, and the caller's setting back afterwards.
    let caller_slack = m::set_timer_slack(1);
    signal::ensure_altstack();
    let with_work = sched.inner.with(|s| sched.procresize(s, m0, procs));
    debug_assert!(
        with_work.is_empty(),
        "no P has work before the first goroutine"
    );

    let slot: Arc<Mutex<Option<std::thread::Result<T>>>> = Arc::new(Mutex::new(None));
    let out = slot.clone();
    let sd = sched.clone();
    let p0 = m0.p().expect("procresize gave M0 a P");
    sched.newproc(m0, p0, move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(main));
        *out.lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
        sd.begin_shutdown();
    });
    sched.start_sysmon();
    sched.schedule(m0);
    m::set_timer_slack(caller_slack);
    m::set_current_m(std::ptr::null());
    slot.lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .expect("the main goroutine stored its result before shutdown")
}
