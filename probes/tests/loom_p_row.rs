//! Model-checks the state table's P row protocol (`src/state/p_row.rs`, compiled here as-is
//! with loom's atomics): two writers record consecutive changes of one P — as a returning M
//! and sysmon do when both move a `_Psyscall` P, each holding the change number the status
//! CAS gave it — while a reader copies the row. loom runs every interleaving and every value
//! a load may read under the memory model.
//!
//! What must hold: a copy the reader accepts as consistent has every field of one change,
//! never a mix; and when both writers are done the row holds the later change, whichever
//! writer finished first, and reads consistently: a hung process's row must be readable.
//!
//! Without the writer claim (the protocol before it: check, then `begin`, fields,
//! `fetch_max` of the status, `end`), loom finds both failures: a copy that passes the check
//! with one change's `since_ns` and the other's `last_m` (one writer's `begin`, the other's
//! whole write, then the first one's fields), and a quiet row left inconsistent for good
//! when the earlier change's writer finishes last.

use goro_probes::{PStatus, Reason};
use loom::sync::Arc;
use loom::thread;

// `p_row.rs` takes these from its parent; here the parent is this crate's root.
use goro_probes::state::{PRowView, pack_status};

mod atomics {
    pub(super) use loom::sync::atomic::{AtomicU8, AtomicU64, Ordering, fence};
}

mod wait {
    pub(super) use loom::hint::spin_loop;
    pub(super) use loom::thread::yield_now;
}

#[allow(dead_code)] // the models do not reset rows
#[rustfmt::skip] // formatted with the crate's sources, not with this test
#[path = "../src/state/p_row.rs"]
mod p_row;

use p_row::PRow;

const OWNER: u64 = 0x40;

/// Change `seq`'s fields, distinct per change so a mix is visible.
fn change(row: &PRow, seq: u64) {
    let (to, reason) = match seq {
        1 => (PStatus::Syscall, Reason::SyscallEnter),
        2 => (PStatus::Running, Reason::SyscallExitFast),
        _ => (PStatus::GcStop, Reason::Retake),
    };
    row.record_change(OWNER, seq, to, seq * 100, seq * 10, reason);
}

fn check(v: &PRowView) {
    assert_eq!(v.since_ns, v.seq * 100, "mixed copy {v:?}");
    assert_eq!(v.last_m, v.seq * 10, "mixed copy {v:?}");
}

fn model<F: Fn() + Sync + Send + 'static>(f: F) {
    let mut b = loom::model::Builder::new();
    // Three preemptions cover "writer A preempted between its `begin` and its fields while
    // writer B writes it all"; the whole space is small enough to search in seconds.
    b.preemption_bound = Some(3);
    b.check(f);
}

/// Change 1 is recorded first; changes 2 and 3 race (the M returning from the call and
/// sysmon retaking the P), while a reader copies the row once.
#[test]
fn two_writers_and_a_reader_never_see_a_mix() {
    model(|| {
        let row = Arc::new(PRow::empty());
        row.owner
            .store(OWNER, loom::sync::atomic::Ordering::Relaxed);
        change(&row, 1);
        let writers: Vec<_> = [2, 3]
            .into_iter()
            .map(|seq| {
                let row = row.clone();
                thread::spawn(move || change(&row, seq))
            })
            .collect();
        if let Some(v) = row.read(1) {
            check(&v);
        }
        for w in writers {
            w.join().unwrap();
        }
        let v = row.read(1).expect("a quiet row reads consistently");
        check(&v);
        assert_eq!(v.seq, 3, "the later change wins: {v:?}");
        assert_eq!(v.status, u8::from(PStatus::GcStop));
    });
}
