//! Fires every catalog probe once, with recognisable argument values, and prints them. It is
//! the real binary the note reader's tests (and `trace-cli`'s) run on; a tracer attached to it
//! sees each probe once per run with the values printed.

use std::hint::black_box;

use goro_probes::{Handoff, PStatus, Reason, StwReason, SyscallExitKind, probe};

#[inline(never)]
fn fire(n: u64) {
    // black_box keeps the values in registers chosen at run time, as in the runtime, instead of
    // letting the compiler fold them into the spec as constants.
    let p = black_box(n as u32 + 2);
    let m = black_box(n + 0x1_0000_0000);
    let g = black_box(n + 7);
    let tid = black_box(std::process::id());
    probe::p_status(
        p,
        PStatus::Idle,
        PStatus::Running,
        m,
        Reason::Acquire,
        n + 3,
    );
    probe::stw_begin(n, StwReason::ReadStats, 4, 3);
    probe::stw_wait(n, 1);
    probe::stw_stopped(n, 40_000);
    probe::stw_end(n);
    probe::handoff_p(p, m, Handoff::StartMForWork);
    probe::startm(p, goro_probes::M_NONE, 0);
    probe::startlockedm(p, m, m + 2, g);
    probe::pidle_put(p, m, 1);
    probe::pidle_get(p, m, 0);
    probe::newm(m + 1, m, 1, 1, p, 0);
    probe::newm_handoff(m + 1, 1);
    probe::template_start(m);
    probe::template_running(m + 3, tid);
    probe::template_spawn(m + 1);
    probe::m_start(m, tid);
    probe::m_park(m, tid);
    probe::m_wake(m, tid, goro_probes::P_NONE);
    probe::m_exit(m, tid);
    probe::lock_os_thread(g, m, 1, 0);
    probe::unlock_os_thread(g, m, 0, 0);
    probe::preempt_request(g, p, m);
    probe::preempted(g, p, m);
    probe::syscall_enter(g, p, m);
    probe::syscall_exit(g, p, m, SyscallExitKind::Fast);
    probe::procresize(4, 2);
    println!("fired every probe: n={n} p={p} m={m} g={g} tid={tid}");
}

fn main() {
    let n = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1);
    fire(n);
}
