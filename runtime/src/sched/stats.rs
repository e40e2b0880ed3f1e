//! Counters and the consistent snapshot `goro::stats()` returns.
//!
//! Hot-path counters live per P (no shared cache lines); runtime-wide ones here. A snapshot is
//! taken with the world stopped, so every P's counters are read at one instant (Go's
//! ReadMemStats does the same).

use std::sync::atomic::{AtomicU64, Ordering};

use super::Sched;
use super::pstatus::NSTATUS;

#[derive(Default)]
pub(crate) struct GlobalCounters {
    pub(crate) threads: AtomicU64,
    pub(crate) stws: AtomicU64,
    pub(crate) stw_stop_ns: AtomicU64,
    pub(crate) preempt_requests: AtomicU64,
    pub(crate) retakes: AtomicU64,
}

/// Per-P part of a [`Stats`] snapshot.
#[derive(Clone, Debug)]
pub struct PStats {
    pub id: u32,
    /// Go's name of the P's status at the snapshot. The snapshot is taken with the world
    /// stopped, so every P in use shows `_Pgcstop` (the caller's too); others `_Pdead`.
    pub status: &'static str,
    /// `transitions[from][to]`: how often the P went from one status to another, indexed by
    /// Go's numbering (`_Pidle`=0 … `_Pdead`=4).
    pub transitions: [[u64; NSTATUS]; NSTATUS],
    /// The sequence number of the P's last status change (the `seq` of its last `p_status`
    /// probe): the transitions above are exactly its changes 1 to `seq`.
    pub seq: u64,
    pub schedtick: u32,
    pub syscalltick: u32,
    pub runq_len: usize,
    pub timers: usize,
}

/// A consistent snapshot of the scheduler's counters.
#[derive(Clone, Debug)]
pub struct Stats {
    /// Current P count (GOMAXPROCS).
    pub procs: usize,
    pub goroutines_created: u64,
    pub goroutines_live: i64,
    /// OS threads the runtime created (Ms, not counting the `block_on` caller or sysmon).
    pub threads_created: u64,
    pub idle_threads: u32,
    pub steals: u64,
    pub parks: u64,
    pub goscheds: u64,
    pub preemptions: u64,
    pub preempt_requests: u64,
    pub syscalls: u64,
    pub syscall_retakes: u64,
    /// Completed stop-the-worlds (this snapshot's own included).
    pub stws: u64,
    /// Total time spent stopping the world, in nanoseconds.
    pub stw_stop_ns: u64,
    pub global_runq_len: usize,
    pub per_p: Vec<PStats>,
}

impl Sched {
    /// Reads every counter. Consistent when the world is stopped (the caller's job).
    pub(crate) fn snapshot(&self) -> Stats {
        let mut st = Stats {
            procs: self.procs(),
            goroutines_created: 0,
            goroutines_live: self.gs.count.load(Ordering::Relaxed),
            threads_created: self.stats.threads.load(Ordering::Relaxed),
            idle_threads: self.idle.nmidle.load(Ordering::Relaxed),
            steals: 0,
            parks: 0,
            goscheds: 0,
            preemptions: 0,
            preempt_requests: self.stats.preempt_requests.load(Ordering::Relaxed),
            syscalls: 0,
            syscall_retakes: self.stats.retakes.load(Ordering::Relaxed),
            stws: self.stats.stws.load(Ordering::Relaxed),
            stw_stop_ns: self.stats.stw_stop_ns.load(Ordering::Relaxed),
            global_runq_len: self.runqsize.load(Ordering::Relaxed) as usize,
            per_p: Vec::new(),
        };
        // Ps beyond the current count keep their history too: include every P ever created.
        for i in 0..super::MAX_PROCS {
            let Some(p) = self.p(i) else { break };
            let c = &p.counters;
            st.goroutines_created += c.created.load(Ordering::Relaxed);
            st.steals += c.steals.load(Ordering::Relaxed);
            st.parks += c.parks.load(Ordering::Relaxed);
            st.goscheds += c.goscheds.load(Ordering::Relaxed);
            st.preemptions += c.preemptions.load(Ordering::Relaxed);
            st.syscalls += c.syscalls.load(Ordering::Relaxed);
            let mut transitions = [[0u64; NSTATUS]; NSTATUS];
            for (f, row) in transitions.iter_mut().enumerate() {
                for (t, v) in row.iter_mut().enumerate() {
                    *v = c.transitions[f][t].load(Ordering::Relaxed);
                }
            }
            st.per_p.push(PStats {
                id: p.id,
                status: p.status().name(),
                transitions,
                seq: p.status.seq(),
                schedtick: p.schedtick.load(Ordering::Relaxed),
                syscalltick: p.syscalltick.load(Ordering::Relaxed),
                runq_len: p.runq.len(),
                timers: p.timers.with(|t| t.len()),
            });
        }
        st
    }
}
