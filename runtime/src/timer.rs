//! Timers: a binary heap of deadlines with O(log n) cancellation.
//!
//! Each timer has a slot in a slab that remembers where the timer sits in
//! the heap, so cancelling removes it at once instead of leaving a tombstone:
//! the heap never holds more entries than there are live timers.

use std::time::Instant;

use crate::slab::{Key, Slab};

/// Identifies a pending timer, for cancellation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimerKey(Key);

#[derive(Debug, Clone, Copy)]
struct Entry {
    deadline: Instant,
    /// Insertion order, so equal deadlines fire first-in first-out.
    seq: u64,
    slot: Key,
}

impl Entry {
    fn before(&self, other: &Entry) -> bool {
        (self.deadline, self.seq) < (other.deadline, other.seq)
    }
}

#[derive(Debug)]
struct Slot<T> {
    heap_index: usize,
    target: T,
}

/// Deadline-ordered timers, each carrying a `T` handed back when it fires.
#[derive(Debug)]
pub(crate) struct Timers<T> {
    heap: Vec<Entry>,
    slots: Slab<Slot<T>>,
    seq: u64,
}

impl<T> Timers<T> {
    pub(crate) fn new() -> Self {
        Timers {
            heap: Vec::new(),
            slots: Slab::new(),
            seq: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    pub(crate) fn insert(&mut self, deadline: Instant, target: T) -> TimerKey {
        let slot = self.slots.insert(Slot {
            heap_index: self.heap.len(),
            target,
        });
        self.seq += 1;
        self.heap.push(Entry {
            deadline,
            seq: self.seq,
            slot,
        });
        self.sift_up(self.heap.len() - 1);
        TimerKey(slot)
    }

    /// Removes a pending timer; returns its target if it had not fired.
    pub(crate) fn cancel(&mut self, key: TimerKey) -> Option<T> {
        let slot = self.slots.remove(key.0)?;
        self.remove_at(slot.heap_index);
        Some(slot.target)
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.heap.first().map(|e| e.deadline)
    }

    /// Pops the earliest timer if its deadline is at or before `now`.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<T> {
        let first = *self.heap.first()?;
        if first.deadline > now {
            return None;
        }
        self.remove_at(0);
        self.slots.remove(first.slot).map(|s| s.target)
    }

    fn remove_at(&mut self, i: usize) {
        let last = self.heap.len() - 1;
        self.heap.swap(i, last);
        self.heap.pop();
        if i < self.heap.len() {
            self.set_index(i);
            self.sift_down(i);
            self.sift_up(i);
        }
    }

    fn set_index(&mut self, i: usize) {
        let slot = self.heap[i].slot;
        if let Some(s) = self.slots.get_mut(slot) {
            s.heap_index = i;
        }
    }

    fn sift_up(&mut self, mut i: usize) {
        while i > 0 {
            let parent = (i - 1) / 2;
            if !self.heap[i].before(&self.heap[parent]) {
                break;
            }
            self.heap.swap(i, parent);
            self.set_index(i);
            self.set_index(parent);
            i = parent;
        }
    }

    fn sift_down(&mut self, mut i: usize) {
        loop {
            let l = 2 * i + 1;
            let r = l + 1;
            let mut best = i;
            if l < self.heap.len() && self.heap[l].before(&self.heap[best]) {
                best = l;
            }
            if r < self.heap.len() && self.heap[r].before(&self.heap[best]) {
                best = r;
            }
            if best == i {
                break;
            }
            self.heap.swap(i, best);
            self.set_index(i);
            self.set_index(best);
            i = best;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn fires_in_deadline_order_and_cancel_leaves_nothing() {
        let t0 = Instant::now();
        let mut t = Timers::new();
        let keys: Vec<_> = [5u64, 1, 4, 2, 3]
            .iter()
            .map(|&ms| t.insert(t0 + Duration::from_millis(ms), ms))
            .collect();
        assert_eq!(t.cancel(keys[2]), Some(4));
        assert_eq!(t.cancel(keys[2]), None, "cancelling twice is a no-op");
        assert_eq!(t.len(), 4);
        let mut fired = Vec::new();
        while let Some(v) = t.pop_expired(t0 + Duration::from_secs(1)) {
            fired.push(v);
        }
        assert_eq!(fired, vec![1, 2, 3, 5]);
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn equal_deadlines_are_fifo() {
        let d = Instant::now();
        let mut t = Timers::new();
        for i in 0..10 {
            t.insert(d, i);
        }
        let fired: Vec<_> = std::iter::from_fn(|| t.pop_expired(d)).collect();
        assert_eq!(fired, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn many_cancellations_keep_the_heap_small() {
        let d = Instant::now() + Duration::from_secs(60);
        let mut t = Timers::new();
        for i in 0..10_000u32 {
            let k = t.insert(d + Duration::from_nanos(u64::from(i % 97)), i);
            if i % 10 != 0 {
                t.cancel(k);
            }
        }
        assert_eq!(t.len(), 1_000);
    }
}
