//! From raw ring-buffer records to the checked, ordered [`Input`] stream.
//!
//! Two steps. [`from_raw`] turns a BPF record into an [`Event`] (the BPF side already decoded
//! the arguments by each site's spec; here the probe index is checked against the catalog).
//! A [`Sequencer`] then puts events in order and checks that no P status change is missing.
//!
//! Why reorder: the ring buffer is in reservation order, and two CPUs that hit probes at
//! nearly the same time may reserve in the other order than their timestamps. Worse for the
//! P status: two Ms can change one P's status back to back (one releases it, another acquires
//! it), and the thread that changed it first may be preempted between the change and its probe.
//! So the runtime numbers each P's status changes (`seq`: 1 for the first, +1 each change,
//! assigned atomically with the change). The sequencer holds events for a short window, sorts
//! them by time, and delivers each P's changes in `seq` order. Then, per P, each change must
//! start where the previous ended (`old` = previous `new`) and `seq` must go up by one; a gap
//! is reported as [`Input::Lost`] with its size, never papered over.
//!
//! Without a `seq` argument (a binary built against an older catalog) only the `old`/`new`
//! continuity is checked, and a break is reported as a discontinuity of unknown size.

use std::collections::{BTreeMap, HashMap, VecDeque};

use goro_probes::catalog::pstatus::PStatus;

use crate::event::{Event, Input, LossKind, MAX_ARGS, arg_index, probe_index};

/// Turns one BPF record into an event; `None` for a probe index outside the catalog (the
/// loader only attaches catalog probes, so this means a damaged record).
pub fn from_raw(raw: &goro_ebpf::RawEvent) -> Option<Event> {
    let def = goro_probes::CATALOG.get(usize::from(raw.probe))?;
    if usize::from(raw.nargs) != def.args.len() {
        return None;
    }
    Some(Event {
        ts_ns: raw.ts_ns,
        pid: raw.tgid,
        tid: raw.tid,
        cpu: raw.cpu,
        probe: raw.probe,
        read_error: raw.flags & goro_ebpf::EVENT_READ_ERROR != 0,
        args: raw.args,
    })
}

/// Where the P status probe keeps what the sequencer checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PStatusLayout {
    /// Catalog index of `p_status`.
    pub probe: u16,
    pub p: usize,
    pub old: usize,
    pub new: usize,
    /// The per-P sequence number, if this catalog has one.
    pub seq: Option<usize>,
}

impl PStatusLayout {
    /// Found by name in the catalog: `p_status(p, old, new, .., seq)`.
    pub fn from_catalog() -> Option<PStatusLayout> {
        let probe = probe_index("p_status")?;
        let at = |name| arg_index(probe, name);
        Some(PStatusLayout {
            probe,
            p: at("p")?,
            old: at("old")?,
            new: at("new")?,
            seq: at("seq"),
        })
    }
}

/// What the sequencer saw, for summaries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SeqStats {
    /// Events delivered.
    pub events: u64,
    /// P status changes delivered.
    pub p_status: u64,
    /// Places where a P's `seq` skipped values.
    pub seq_gaps: u64,
    /// Status changes missing in those gaps.
    pub missing: u64,
    /// Changes whose `old` was not the previous `new` without a `seq` gap to explain it.
    pub discontinuities: u64,
    /// Changes that came after a later change of the same P had been delivered.
    pub late: u64,
    /// Changes that arrived before their predecessor and waited for it.
    pub reordered: u64,
}

impl SeqStats {
    /// Whether anything was found missing or out of place.
    pub fn clean(&self) -> bool {
        self.seq_gaps == 0 && self.discontinuities == 0 && self.late == 0
    }
}

#[derive(Clone, Copy, Debug)]
struct PState {
    seq: u64,
    new: u8,
}

/// A P's last status change as the sequencer delivered it (`seq` 0: the catalog has none).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SeqBase {
    pub pid: u32,
    pub p: u32,
    pub seq: u64,
    /// Its new status, as the probe's code.
    pub status: u8,
}

/// A P: (pid, P id).
type Key = (u32, u32);

/// A cheap hash for the small integer keys of the per-event maps (std's SipHash resists
/// flooding, which these keys, made by the kernel and the runtime, need not).
#[derive(Clone, Default)]
struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type FastMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<KeyHasher>>;

/// Orders events and checks each P's status sequence; see the module docs.
///
/// Events wait in arrival order (the ring's order, close to time order) until they are a
/// window old; each batch that leaves is sorted by time. A P's change that arrives before its
/// predecessor waits for it, per P, for one more window; then the predecessors still missing
/// are reported as a gap and it is delivered.
#[derive(Clone)]
pub struct Sequencer {
    layout: Option<PStatusLayout>,
    window_ns: u64,
    from_start: bool,
    pending: VecDeque<Event>,
    /// Flush by event time when `pending` reaches this length.
    flush_at: usize,
    max_ts: u64,
    ps: FastMap<Key, PState>,
    /// Changes that came before their predecessor, by P and seq.
    waiting: FastMap<Key, BTreeMap<u64, Event>>,
    stats: SeqStats,
}

/// Above this many held events, flush by event time even without a tick (replay).
const HOLD_LIMIT: usize = 8192;

impl Sequencer {
    /// `window_ns`: how long an event is held for ordering. `from_start`: the process was
    /// traced from its first instruction, so each P's first change must be `seq` 1.
    pub fn new(layout: Option<PStatusLayout>, window_ns: u64, from_start: bool) -> Sequencer {
        Sequencer {
            layout,
            window_ns,
            from_start,
            pending: VecDeque::new(),
            flush_at: HOLD_LIMIT,
            max_ts: 0,
            ps: FastMap::default(),
            waiting: FastMap::default(),
            stats: SeqStats::default(),
        }
    }

    pub fn stats(&self) -> SeqStats {
        self.stats
    }

    /// Each P's last delivered status change: where the next one must follow on from. A
    /// flight recording saves them, so its replay checks its first changes against them.
    pub fn baselines(&self) -> Vec<SeqBase> {
        let mut v: Vec<SeqBase> = self
            .ps
            .iter()
            .map(|(&(pid, p), st)| SeqBase {
                pid,
                p,
                seq: st.seq,
                status: st.new,
            })
            .collect();
        v.sort_unstable_by_key(|b| (b.pid, b.p));
        v
    }

    /// Starts from `bases` (see [`Sequencer::baselines`]) instead of knowing nothing.
    pub fn seed(&mut self, bases: &[SeqBase]) {
        for b in bases {
            self.ps.insert(
                (b.pid, b.p),
                PState {
                    seq: b.seq,
                    new: b.status,
                },
            );
        }
    }

    /// The events held, not delivered yet (for ordering, or waiting for a predecessor), in
    /// arrival order as far as known: what a flight recording writes as raw events after its
    /// state, to be ordered again on replay.
    pub fn held(&self) -> Vec<Event> {
        let mut v: Vec<Event> = self.pending.iter().copied().collect();
        v.extend(self.waiting.values().flat_map(|w| w.values().copied()));
        v
    }

    pub fn push(&mut self, ev: Event, out: &mut impl FnMut(Input)) {
        self.max_ts = self.max_ts.max(ev.ts_ns);
        self.pending.push_back(ev);
        if self.pending.len() >= self.flush_at {
            self.flush(self.max_ts.saturating_sub(self.window_ns), out);
            // Everything still held is within the window: look again only after as many more.
            self.flush_at = self.pending.len() + HOLD_LIMIT;
        }
    }

    /// Loss detected outside the event stream (BPF counters): passed on at once.
    pub fn lost(&mut self, count: u64, why: LossKind, out: &mut impl FnMut(Input)) {
        out(Input::Lost { count, why });
    }

    /// Time has reached `now` (same clock as the events): deliver what the window allows.
    /// The tick passed on says up to when the stream is complete: `now` once nothing is held
    /// (a silent process: a consumer judging time, like the engine, need not wait a window
    /// more), else the window's cutoff.
    pub fn tick(&mut self, now: u64, out: &mut impl FnMut(Input)) {
        let cutoff = now.saturating_sub(self.window_ns);
        self.flush(cutoff, out);
        let through = if self.pending.is_empty() && self.waiting.is_empty() {
            now
        } else {
            cutoff
        };
        out(Input::Tick(through));
    }

    /// The end: deliver everything held, reporting what never came as gaps.
    pub fn finish(&mut self, out: &mut impl FnMut(Input)) {
        self.flush(u64::MAX, out);
        let keys: Vec<Key> = self.waiting.keys().copied().collect();
        for k in keys {
            self.give_up_waiting(k, None, out);
        }
    }

    fn key(&self, ev: &Event) -> Option<(Key, Option<u64>)> {
        let l = self.layout?;
        if ev.probe != l.probe {
            return None;
        }
        Some(((ev.pid, ev.args[l.p] as u32), l.seq.map(|i| ev.args[i])))
    }

    fn flush(&mut self, cutoff: u64, out: &mut impl FnMut(Input)) {
        let n = self
            .pending
            .iter()
            .position(|e| e.ts_ns > cutoff)
            .unwrap_or(self.pending.len());
        if n > 0 {
            self.flush_at = self.flush_at.min(self.pending.len() - n + HOLD_LIMIT);
            let mut batch: Vec<Event> = self.pending.drain(..n).collect();
            // Stable: events with equal timestamps keep the ring's order.
            batch.sort_by_key(|e| e.ts_ns);
            for ev in batch {
                self.deliver(ev, out);
            }
        }
        if !self.waiting.is_empty() {
            // A change waiting a whole window more for its predecessor will not get it.
            let limit = cutoff.saturating_sub(self.window_ns);
            let stale: Vec<Key> = self
                .waiting
                .iter()
                .filter(|(_, w)| w.values().next().is_some_and(|e| e.ts_ns <= limit))
                .map(|(k, _)| *k)
                .collect();
            for k in stale {
                self.give_up_waiting(k, Some(limit), out);
            }
        }
    }

    /// Gives up waiting for what is missing before `key`'s waiting changes: reports each gap
    /// and delivers what follows it, as long as the first change left waiting has a timestamp
    /// at or before `limit` (all of them if `limit` is `None`).
    fn give_up_waiting(&mut self, key: Key, limit: Option<u64>, out: &mut impl FnMut(Input)) {
        loop {
            let Some(w) = self.waiting.get_mut(&key) else {
                return;
            };
            let Some((&seq, first)) = w.iter().next() else {
                self.waiting.remove(&key);
                return;
            };
            if limit.is_some_and(|l| first.ts_ns > l) {
                return;
            }
            let ev = w.remove(&seq).expect("present");
            let after = self.ps.get(&key).map_or(0, |s| s.seq);
            if seq > after + 1 {
                self.gap(key.0, key.1, after, seq - after - 1, out);
            }
            self.accept(key, seq, ev, out);
            self.release_waiting(key, out);
        }
    }

    /// Delivers `key`'s waiting changes that now follow on.
    fn release_waiting(&mut self, key: Key, out: &mut impl FnMut(Input)) {
        loop {
            let Some(last) = self.ps.get(&key).map(|s| s.seq) else {
                return;
            };
            let Some(w) = self.waiting.get_mut(&key) else {
                return;
            };
            match w.remove(&(last + 1)) {
                Some(ev) => self.accept(key, last + 1, ev, out),
                None => {
                    if w.is_empty() {
                        self.waiting.remove(&key);
                    }
                    return;
                }
            }
        }
    }

    fn deliver(&mut self, ev: Event, out: &mut impl FnMut(Input)) {
        let (Some(l), Some((key, seq))) = (self.layout, self.key(&ev)) else {
            self.stats.events += 1;
            out(Input::Event(ev));
            return;
        };
        let Some(seq) = seq else {
            // No sequence numbers: only the old/new chain can be checked.
            self.check_chain(key, &ev, l, out);
            self.record(key, 0, &ev, l, out);
            return;
        };
        let old = ev.args[l.old] as u8;
        match self.ps.get(&key).copied() {
            None if self.from_start && seq > 1 => {
                // Traced from the start: changes before this one are missing, or still to come.
                self.stats.reordered += 1;
                self.waiting.entry(key).or_default().insert(seq, ev);
            }
            // A fresh runtime in the same process numbers its Ps from 0 again, and each P's
            // changes from 1, starting from `_Pdead`.
            Some(_) if seq == 1 && old == PStatus::Dead.code() => {
                self.record(key, seq, &ev, l, out);
            }
            Some(st) if seq <= st.seq => {
                self.stats.late += 1;
                out(Input::Lost {
                    count: 0,
                    why: LossKind::Late {
                        pid: key.0,
                        p: key.1,
                        seq,
                    },
                });
            }
            Some(st) if seq > st.seq + 1 => {
                self.stats.reordered += 1;
                self.waiting.entry(key).or_default().insert(seq, ev);
            }
            _ => {
                self.accept(key, seq, ev, out);
                self.release_waiting(key, out);
            }
        }
    }

    /// Delivers the change that follows on from the P's last (or starts it).
    fn accept(&mut self, key: Key, seq: u64, ev: Event, out: &mut impl FnMut(Input)) {
        let l = self.layout.expect("p_status events need a layout");
        if self.ps.get(&key).is_some_and(|st| st.seq + 1 == seq) {
            self.check_chain(key, &ev, l, out);
        }
        self.record(key, seq, &ev, l, out);
    }

    fn check_chain(&mut self, key: Key, ev: &Event, l: PStatusLayout, out: &mut impl FnMut(Input)) {
        let old = ev.args[l.old] as u8;
        if let Some(st) = self.ps.get(&key)
            && old != st.new
        {
            self.stats.discontinuities += 1;
            out(Input::Lost {
                count: 0,
                why: LossKind::Discontinuity {
                    pid: key.0,
                    p: key.1,
                    expected_old: st.new,
                    got_old: old,
                },
            });
        }
    }

    fn record(
        &mut self,
        key: Key,
        seq: u64,
        ev: &Event,
        l: PStatusLayout,
        out: &mut impl FnMut(Input),
    ) {
        self.ps.insert(
            key,
            PState {
                seq,
                new: ev.args[l.new] as u8,
            },
        );
        self.stats.p_status += 1;
        self.stats.events += 1;
        out(Input::Event(*ev));
    }

    fn gap(&mut self, pid: u32, p: u32, after: u64, count: u64, out: &mut impl FnMut(Input)) {
        self.stats.seq_gaps += 1;
        self.stats.missing += count;
        out(Input::Lost {
            count,
            why: LossKind::SeqGap { pid, p, after },
        });
    }
}

/// An event for tests: probe `probe` with `args`.
#[doc(hidden)]
pub fn synthetic(ts_ns: u64, pid: u32, probe: u16, args: &[u64]) -> Event {
    let mut a = [0; MAX_ARGS];
    a[..args.len()].copy_from_slice(args);
    Event {
        ts_ns,
        pid,
        tid: pid,
        cpu: 0,
        probe,
        read_error: false,
        args: a,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const DEAD: u8 = PStatus::Dead.code();
    const GCSTOP: u8 = PStatus::GcStop.code();
    const IDLE: u8 = PStatus::Idle.code();
    const RUNNING: u8 = PStatus::Running.code();
    const SYSCALL: u8 = PStatus::Syscall.code();

    /// `p_status` as the catalog lays it out, with `seq` after its arguments: the tests
    /// exercise the seq check whether or not this catalog has `seq` yet.
    fn layout() -> PStatusLayout {
        let l = PStatusLayout::from_catalog().unwrap();
        let n = goro_probes::CATALOG[usize::from(l.probe)].args.len();
        PStatusLayout {
            seq: Some(l.seq.unwrap_or(n)),
            ..l
        }
    }

    fn ps(ts: u64, pid: u32, p: u32, old: u8, new: u8, seq: u64) -> Event {
        let l = layout();
        let mut e = synthetic(ts, pid, l.probe, &[]);
        e.args[l.p] = u64::from(p);
        e.args[l.old] = u64::from(old);
        e.args[l.new] = u64::from(new);
        e.args[l.seq.unwrap()] = seq;
        e
    }

    fn run(seqr: &mut Sequencer, evs: &[Event]) -> Vec<Input> {
        let mut out = Vec::new();
        for e in evs {
            seqr.push(*e, &mut |i| out.push(i));
        }
        seqr.finish(&mut |i| out.push(i));
        out
    }

    fn seqs(out: &[Input]) -> Vec<u64> {
        let s = layout().seq.unwrap();
        out.iter()
            .filter_map(|i| match i {
                Input::Event(e) => Some(e.args[s]),
                _ => None,
            })
            .collect()
    }

    fn losses(out: &[Input]) -> Vec<(u64, LossKind)> {
        out.iter()
            .filter_map(|i| match i {
                Input::Lost { count, why } => Some((*count, *why)),
                _ => None,
            })
            .collect()
    }

    /// A legal life of a P: init, acquire, syscall, back, release, stop, start.
    fn life(pid: u32, p: u32, t0: u64) -> Vec<Event> {
        let steps = [
            (DEAD, GCSTOP),
            (GCSTOP, IDLE),
            (IDLE, RUNNING),
            (RUNNING, SYSCALL),
            (SYSCALL, IDLE),
            (IDLE, RUNNING),
            (RUNNING, IDLE),
            (IDLE, GCSTOP),
            (GCSTOP, RUNNING),
        ];
        steps
            .iter()
            .enumerate()
            .map(|(i, &(o, n))| ps(t0 + 10 * i as u64, pid, p, o, n, i as u64 + 1))
            .collect()
    }

    #[test]
    fn a_continuous_sequence_passes_untouched() {
        let mut s = Sequencer::new(Some(layout()), 1000, true);
        let evs = life(1, 0, 100);
        let out = run(&mut s, &evs);
        assert_eq!(losses(&out), vec![]);
        assert_eq!(seqs(&out), (1..=9).collect::<Vec<_>>());
        assert!(s.stats().clean());
        assert_eq!(s.stats().p_status, 9);
    }

    #[test]
    fn a_gap_is_reported_with_its_size() {
        let mut s = Sequencer::new(Some(layout()), 1000, true);
        let mut evs = life(1, 0, 100);
        evs.drain(3..6); // seq 4, 5, 6 lost
        let out = run(&mut s, &evs);
        let l = losses(&out);
        assert_eq!(
            l,
            vec![(
                3,
                LossKind::SeqGap {
                    pid: 1,
                    p: 0,
                    after: 3
                }
            )]
        );
        // The loss comes right before the change that revealed it.
        let at = out
            .iter()
            .position(|i| matches!(i, Input::Lost { .. }))
            .unwrap();
        assert!(matches!(out[at + 1], Input::Event(e) if e.args[layout().seq.unwrap()] == 7));
        assert_eq!(
            (
                s.stats().seq_gaps,
                s.stats().missing,
                s.stats().discontinuities
            ),
            (1, 3, 0)
        );
    }

    #[test]
    fn several_gaps_of_one_p_are_each_reported_and_nothing_is_held_back() {
        let mut s = Sequencer::new(Some(layout()), 1000, true);
        let mut evs = life(1, 0, 100);
        evs.remove(6); // seq 7
        evs.remove(2); // seq 3
        let out = run(&mut s, &evs);
        assert_eq!(
            losses(&out),
            vec![
                (
                    1,
                    LossKind::SeqGap {
                        pid: 1,
                        p: 0,
                        after: 2
                    }
                ),
                (
                    1,
                    LossKind::SeqGap {
                        pid: 1,
                        p: 0,
                        after: 6
                    }
                )
            ]
        );
        assert_eq!(
            seqs(&out),
            vec![1, 2, 4, 5, 6, 8, 9],
            "every event delivered"
        );
        // The same when the gaps are found by time passing, not at the end.
        let mut s = Sequencer::new(Some(layout()), 5, true);
        let mut out = Vec::new();
        for e in &evs {
            s.push(*e, &mut |i| out.push(i));
        }
        s.tick(10_000, &mut |i| out.push(i));
        assert_eq!(seqs(&out), vec![1, 2, 4, 5, 6, 8, 9]);
        assert_eq!(s.stats().missing, 2);
        assert!(s.waiting.is_empty());
    }

    #[test]
    fn changes_out_of_time_order_are_delivered_in_seq_order() {
        let mut s = Sequencer::new(Some(layout()), 1000, true);
        let mut evs = life(1, 0, 100);
        // The thread that made change 5 was preempted before its probe: its timestamp is
        // after change 6's.
        evs[4].ts_ns = evs[5].ts_ns + 1;
        evs.swap(4, 5);
        let out = run(&mut s, &evs);
        assert_eq!(losses(&out), vec![]);
        assert_eq!(seqs(&out), (1..=9).collect::<Vec<_>>());
        assert_eq!(s.stats().reordered, 1);
    }

    #[test]
    fn a_change_later_than_the_window_is_a_gap_then_late() {
        let mut s = Sequencer::new(Some(layout()), 5, true);
        let evs = life(1, 0, 100);
        let mut out = Vec::new();
        let mut o = |i| out.push(i);
        for e in &evs[..4] {
            s.push(*e, &mut o);
        }
        // seq 5 is held up; 6 arrives and time moves on past the window.
        s.push(evs[5], &mut o);
        s.tick(evs[5].ts_ns + 100, &mut o);
        s.push(evs[4], &mut o);
        s.finish(&mut o);
        let l = losses(&out);
        assert_eq!(l.len(), 2, "{l:?}");
        assert_eq!(
            l[0],
            (
                1,
                LossKind::SeqGap {
                    pid: 1,
                    p: 0,
                    after: 4
                }
            )
        );
        assert_eq!(
            l[1],
            (
                0,
                LossKind::Late {
                    pid: 1,
                    p: 0,
                    seq: 5
                }
            )
        );
        assert_eq!(seqs(&out), vec![1, 2, 3, 4, 6]);
        assert!(!s.stats().clean());
    }

    #[test]
    fn a_held_change_holds_back_the_later_ones_of_its_p() {
        let mut s = Sequencer::new(Some(layout()), 50, true);
        let evs = life(1, 0, 100); // ts 100, 110, ... 180
        let mut out = Vec::new();
        let mut late = evs[1];
        late.ts_ns = 175; // change 2 got its timestamp late
        s.push(evs[0], &mut |i| out.push(i));
        s.push(evs[2], &mut |i| out.push(i));
        s.push(late, &mut |i| out.push(i));
        // Cutoff 130: change 3 (ts 120) is old enough, but change 2 (ts 175) is not.
        s.tick(180, &mut |i| out.push(i));
        assert_eq!(seqs(&out), vec![1]);
        s.finish(&mut |i| out.push(i));
        assert_eq!(seqs(&out), vec![1, 2, 3]);
        assert_eq!(losses(&out), vec![]);
    }

    #[test]
    fn traced_from_the_start_means_seq_1_first() {
        let evs = life(1, 0, 100);
        let mut s = Sequencer::new(Some(layout()), 1000, true);
        let out = run(&mut s, &evs[2..]);
        assert_eq!(
            losses(&out),
            vec![(
                2,
                LossKind::SeqGap {
                    pid: 1,
                    p: 0,
                    after: 0
                }
            )]
        );
        // Attached to a running process: the first change seen may have any seq.
        let mut s = Sequencer::new(Some(layout()), 1000, false);
        assert_eq!(losses(&run(&mut s, &evs[2..])), vec![]);
    }

    #[test]
    fn ps_and_processes_are_checked_independently_and_a_fresh_runtime_restarts() {
        let mut evs = life(1, 0, 100);
        evs.extend(life(1, 1, 105));
        evs.extend(life(2, 0, 107));
        // A second runtime in process 1: P 0 again from seq 1.
        evs.extend(life(1, 0, 1000));
        let mut s = Sequencer::new(Some(layout()), 1000, true);
        let out = run(&mut s, &evs);
        assert_eq!(losses(&out), vec![]);
        assert_eq!(s.stats().p_status, 36);
    }

    #[test]
    fn without_seq_a_break_in_old_new_is_a_discontinuity() {
        let l = PStatusLayout {
            seq: None,
            ..layout()
        };
        let mut evs = life(1, 0, 100);
        for e in &mut evs {
            e.args[layout().seq.unwrap()] = 0;
        }
        evs.remove(4); // SYSCALL -> IDLE lost: next is IDLE -> RUNNING after RUNNING -> SYSCALL
        let mut s = Sequencer::new(Some(l), 1000, false);
        let out = run(&mut s, &evs);
        assert_eq!(
            losses(&out),
            vec![(
                0,
                LossKind::Discontinuity {
                    pid: 1,
                    p: 0,
                    expected_old: SYSCALL,
                    got_old: IDLE
                }
            )]
        );
    }

    #[test]
    fn with_seq_a_discontinuity_without_a_gap_is_still_reported() {
        let mut evs = life(1, 0, 100);
        evs[4].args[layout().old] = u64::from(RUNNING);
        let mut s = Sequencer::new(Some(layout()), 1000, true);
        let out = run(&mut s, &evs);
        assert_eq!(s.stats().discontinuities, 1, "{:?}", losses(&out));
    }

    #[test]
    fn other_events_are_ordered_by_time() {
        let other = probe_index("stw_end").unwrap();
        let evs = [
            synthetic(30, 1, other, &[3]),
            synthetic(10, 1, other, &[1]),
            synthetic(20, 1, other, &[2]),
        ];
        let mut s = Sequencer::new(Some(layout()), 1000, true);
        let out = run(&mut s, &evs);
        let ids: Vec<u64> = out
            .iter()
            .filter_map(|i| match i {
                Input::Event(e) => Some(e.args[0]),
                _ => None,
            })
            .collect();
        assert_eq!(ids, vec![1, 2, 3]);
    }

    #[test]
    fn a_full_window_is_not_sorted_again_on_every_push() {
        let other = probe_index("stw_end").unwrap();
        // Every event within the window: nothing can be delivered before the end.
        let mut s = Sequencer::new(Some(layout()), u64::MAX / 2, true);
        for i in 0..(HOLD_LIMIT as u64 * 3) {
            s.push(synthetic(i + 1, 1, other, &[i]), &mut |_| {});
            assert!(
                s.flush_at > s.pending.len(),
                "a flush is due only {HOLD_LIMIT} later"
            );
        }
        let mut n = 0;
        s.finish(&mut |_| n += 1);
        assert_eq!(n, HOLD_LIMIT * 3);
    }

    #[test]
    fn many_events_flush_by_event_time_without_ticks() {
        let other = probe_index("stw_end").unwrap();
        let mut s = Sequencer::new(Some(layout()), 10, true);
        let mut n = 0;
        for i in 0..(HOLD_LIMIT as u64 * 2) {
            s.push(synthetic(i, 1, other, &[i]), &mut |_| n += 1);
        }
        assert!(n > 0 && s.pending.len() < HOLD_LIMIT, "{n} delivered");
    }

    #[test]
    fn raw_records_decode_only_for_catalog_probes_of_the_right_arity() {
        let l = layout();
        let def = &goro_probes::CATALOG[usize::from(l.probe)];
        let mut raw = goro_ebpf::RawEvent {
            ts_ns: 5,
            tgid: 9,
            tid: 10,
            cpu: 1,
            probe: l.probe,
            nargs: def.args.len() as u8,
            flags: goro_ebpf::EVENT_READ_ERROR,
            args: [7; MAX_ARGS],
        };
        let e = from_raw(&raw).unwrap();
        assert_eq!(
            (e.pid, e.tid, e.cpu, e.read_error, e.arg("p")),
            (9, 10, 1, true, Some(7))
        );
        raw.nargs += 1;
        assert!(from_raw(&raw).is_none());
        raw.probe = goro_probes::CATALOG.len() as u16;
        assert!(from_raw(&raw).is_none());
    }
}
