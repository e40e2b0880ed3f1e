//! Puts events back in order before the model sees them.
//!
//! Events from different CPUs reach the engine slightly out of timestamp order, and a probe
//! fires after the change it reports, so two threads changing one P can even stamp their
//! events in the wrong order. Two mechanisms, both bounded:
//!
//! - a window: an event is released only once the engine has seen time pass `window_ns`
//!   beyond its timestamp (from a later event or a tick), smallest timestamp first;
//! - per P, `p_status`'s `seq`: a change that arrives ahead of the one before it waits (at
//!   most one more window) for the missing one; if it never comes, the change is released
//!   anyway and the model records a gap.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use super::input::{Event, EventKind};
use super::model::IdMap;

/// What flows through the buffer: events, and the points where the source lost some.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Item {
    Event(Event),
    /// Events were lost here. A source drops events newer than all it delivered, so the loss
    /// is ordered at the latest time seen when it is reported: what came before is applied
    /// before it, and becomes uncertain.
    Lost(u64),
}

#[derive(Clone, Debug)]
struct Keyed {
    ts: u64,
    arrival: u64,
    ev: Item,
}

impl PartialEq for Keyed {
    fn eq(&self, o: &Self) -> bool {
        (self.ts, self.arrival) == (o.ts, o.arrival)
    }
}
impl Eq for Keyed {}
impl PartialOrd for Keyed {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Keyed {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.ts, self.arrival).cmp(&(o.ts, o.arrival))
    }
}

/// See the module documentation.
#[derive(Clone, Debug)]
pub struct Reorder {
    window_ns: u64,
    /// Items that arrived in order (the common case): sorted, appended and popped in O(1).
    run: VecDeque<Keyed>,
    /// Items that arrived before something stamped later than them.
    heap: BinaryHeap<Reverse<Keyed>>,
    arrival: u64,
    /// The latest time known to have passed (largest event timestamp or tick).
    watermark: u64,
    /// Timestamp of the last event released.
    released: u64,
    /// Per P, the `seq` the next released change should carry.
    expected: IdMap<u32, u64>,
    /// Changes waiting for an earlier one of their P: (p, seq, event).
    stash: Vec<(u32, u64, Item)>,
    /// Events that arrived after events stamped later than them had been released.
    pub late: u64,
}

fn pseq(item: &Item) -> Option<(u32, u64)> {
    match item {
        Item::Event(Event {
            kind: EventKind::PStatus {
                p, seq: Some(s), ..
            },
            ..
        }) => Some((*p, *s)),
        _ => None,
    }
}

fn ts(item: &Item, watermark: u64) -> u64 {
    match item {
        Item::Event(e) => e.ts_ns,
        Item::Lost(_) => watermark,
    }
}

impl Reorder {
    pub fn new(window_ns: u64) -> Reorder {
        Reorder {
            window_ns,
            run: VecDeque::new(),
            heap: BinaryHeap::new(),
            arrival: 0,
            watermark: 0,
            released: 0,
            expected: IdMap::default(),
            stash: Vec::new(),
            late: 0,
        }
    }

    pub fn push(&mut self, item: Item) {
        if let Item::Event(ev) = &item {
            if ev.ts_ns < self.released {
                self.late += 1;
            }
            self.watermark = self.watermark.max(ev.ts_ns);
        }
        self.arrival += 1;
        let k = Keyed {
            ts: ts(&item, self.watermark),
            arrival: self.arrival,
            ev: item,
        };
        if self.run.back().is_none_or(|b| b.ts <= k.ts) {
            self.run.push_back(k);
        } else {
            self.heap.push(Reverse(k));
        }
    }

    /// Which buffer holds the earliest item, if any is due by `limit`.
    fn due(&self, limit: u64) -> Option<bool> {
        let run = self.run.front().map(|k| (k.ts, k.arrival));
        let heap = self.heap.peek().map(|k| (k.0.ts, k.0.arrival));
        let (from_run, first) = match (run, heap) {
            (Some(r), Some(h)) => (r < h, r.min(h)),
            (Some(r), None) => (true, r),
            (None, Some(h)) => (false, h),
            (None, None) => return None,
        };
        (first.0 <= limit).then_some(from_run)
    }

    /// Time passed to `now` with nothing else to deliver before it.
    pub fn advance(&mut self, now: u64) {
        self.watermark = self.watermark.max(now);
    }

    /// Everything before this time has been released (or is being held for a seq gap).
    pub fn horizon(&self) -> u64 {
        self.watermark.saturating_sub(self.window_ns)
    }

    /// Events buffered.
    pub fn len(&self) -> usize {
        self.run.len() + self.heap.len() + self.stash.len()
    }

    /// The next event that can be released, in order. `flush`: release everything.
    pub fn pop(&mut self, flush: bool) -> Option<Item> {
        let limit = if flush { u64::MAX } else { self.horizon() };
        loop {
            if let Some(i) = self.stash_ready() {
                let item = self.stash.swap_remove(i).2;
                return Some(self.release(item));
            }
            let Some(from_run) = self.due(limit) else {
                // Nothing else can arrive in time: give up on the oldest gap, if it waited long
                // enough for its predecessor.
                let item = self.give_up(limit, flush)?;
                return Some(self.release(item));
            };
            let k = if from_run {
                self.run.pop_front().expect("due")
            } else {
                self.heap.pop().expect("due").0
            };
            if let Some((p, seq)) = pseq(&k.ev)
                && let Some(&want) = self.expected.get(&p)
                && seq > want
            {
                self.stash.push((p, seq, k.ev));
                continue;
            }
            return Some(self.release(k.ev));
        }
    }

    fn release(&mut self, item: Item) -> Item {
        if let Some((p, seq)) = pseq(&item) {
            let e = self.expected.entry(p).or_insert(0);
            // seq 1 is a P's first change: a fresh runtime in the same process starts over.
            *e = if seq == 1 { 2 } else { (*e).max(seq + 1) };
        }
        if let Item::Event(ev) = &item {
            self.released = self.released.max(ev.ts_ns);
        }
        item
    }

    /// A stashed change that is now next for its P.
    fn stash_ready(&self) -> Option<usize> {
        if self.stash.is_empty() {
            return None;
        }
        self.stash
            .iter()
            .position(|(p, seq, _)| self.expected.get(p) == Some(seq))
    }

    /// The smallest-seq change of the P whose gap is oldest, once its predecessor has had a
    /// whole extra window to arrive (or at a flush).
    fn give_up(&mut self, limit: u64, flush: bool) -> Option<Item> {
        let give_up = limit.saturating_sub(self.window_ns);
        let (i, _) = self
            .stash
            .iter()
            .enumerate()
            .filter(|(_, (_, _, item))| flush || ts(item, u64::MAX) <= give_up)
            .min_by_key(|(_, (_, _, item))| ts(item, u64::MAX))?;
        let p = self.stash[i].0;
        let (j, _) = self
            .stash
            .iter()
            .enumerate()
            .filter(|(_, (q, _, _))| *q == p)
            .min_by_key(|(_, (_, seq, _))| *seq)
            .expect("one exists");
        Some(self.stash.swap_remove(j).2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::input::{PStatus, Reason};

    fn ps(ts: u64, p: u32, seq: u64) -> Item {
        Item::Event(Event {
            ts_ns: ts,
            tid: 1,
            kind: EventKind::PStatus {
                p,
                old: PStatus::Idle,
                new: PStatus::Running,
                m: Some(1),
                reason: Reason::Acquire,
                seq: Some(seq),
            },
        })
    }

    fn drain(r: &mut Reorder, flush: bool) -> Vec<(u64, u64)> {
        std::iter::from_fn(|| r.pop(flush))
            .map(|e| (ts(&e, 0), pseq(&e).unwrap().1))
            .collect()
    }

    #[test]
    fn releases_by_timestamp_after_the_window() {
        let mut r = Reorder::new(10);
        r.push(ps(5, 0, 1));
        r.push(ps(3, 1, 1));
        assert!(
            r.pop(false).is_none(),
            "nothing is older than the window yet"
        );
        r.advance(16);
        assert_eq!(drain(&mut r, false), vec![(3, 1), (5, 1)]);
    }

    #[test]
    fn a_p_s_changes_come_out_in_seq_order_even_when_stamped_backwards() {
        let mut r = Reorder::new(10);
        r.push(ps(1, 0, 1));
        r.advance(100);
        assert_eq!(drain(&mut r, false), vec![(1, 1)]);
        // seq 3 stamped before seq 2.
        r.push(ps(104, 0, 3));
        r.push(ps(105, 0, 2));
        r.advance(200);
        assert_eq!(drain(&mut r, false), vec![(105, 2), (104, 3)]);
    }

    #[test]
    fn a_missing_change_is_given_up_after_an_extra_window() {
        let mut r = Reorder::new(10);
        r.push(ps(1, 0, 1));
        r.push(ps(2, 0, 3));
        r.advance(15);
        assert_eq!(drain(&mut r, false), vec![(1, 1)], "seq 3 waits for seq 2");
        r.advance(25);
        assert_eq!(
            drain(&mut r, false),
            vec![(2, 3)],
            "then goes on with a gap"
        );
        assert_eq!(r.len(), 0);
    }

    #[test]
    fn a_loss_is_ordered_after_what_was_seen_before_it() {
        let mut r = Reorder::new(10);
        r.push(ps(5, 0, 1));
        r.push(Item::Lost(3));
        r.push(ps(4, 1, 1));
        let order: Vec<_> = std::iter::from_fn(|| r.pop(true))
            .map(|i| match i {
                Item::Lost(n) => (0, n),
                e => (ts(&e, 0), 1),
            })
            .collect();
        // The loss sits at the latest time seen when reported (5), after the event at 4 that
        // arrived later but happened before.
        assert_eq!(order, vec![(4, 1), (5, 1), (0, 3)]);
    }

    #[test]
    fn flush_releases_everything() {
        let mut r = Reorder::new(1_000);
        r.push(ps(1, 0, 1));
        r.push(ps(2, 0, 5));
        r.push(ps(3, 1, 1));
        assert_eq!(drain(&mut r, true), vec![(1, 1), (3, 1), (2, 5)]);
    }
}
