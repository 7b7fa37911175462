//! Sleep flag: how a hub about to block in its poll and the threads that
//! send it messages agree on who must write its `mio::Waker`.
//!
//! The protocol, with the hub's inbox beside it:
//!
//! * a sender pushes its message, then [`SleepFlag::notify`]; only if that
//!   finds the hub `SLEEPING` does the sender write the waker (a syscall);
//! * the hub, before a poll that may block, calls [`SleepFlag::try_sleep`];
//!   if a sender got there first (`NOTIFIED`) it must not block;
//! * after every poll the hub calls [`SleepFlag::wake`] and only then
//!   drains the inbox.
//!
//! So every message is either seen by the drain after the current poll, or
//! its sender finds the hub asleep and interrupts the poll: a wake-up is
//! never lost, and a busy hub costs its senders no syscall. The `loom`
//! model at the bottom checks this over every interleaving (run it with
//! `RUSTFLAGS="--cfg loom" cargo test -p green-runtime --lib sleep_flag`).

use crate::sync::{AtomicU8, Ordering};

const AWAKE: u8 = 0;
const SLEEPING: u8 = 1;
const NOTIFIED: u8 = 2;

/// The three-state flag of the protocol above.
#[derive(Debug)]
pub(crate) struct SleepFlag(AtomicU8);

impl SleepFlag {
    pub(crate) fn new() -> SleepFlag {
        SleepFlag(AtomicU8::new(AWAKE))
    }

    /// Sender, after pushing its message: true if it must write the waker.
    pub(crate) fn notify(&self) -> bool {
        self.0.swap(NOTIFIED, Ordering::SeqCst) == SLEEPING
    }

    /// Hub, before a poll that may block: true if it may block.
    pub(crate) fn try_sleep(&self) -> bool {
        self.0
            .compare_exchange(AWAKE, SLEEPING, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    /// Hub, after every poll, before draining the inbox. A swap, not a
    /// store: it reads a sender's `NOTIFIED`, so the drain is ordered after
    /// that sender's push on any CPU.
    pub(crate) fn wake(&self) {
        self.0.swap(AWAKE, Ordering::SeqCst);
    }
}

#[cfg(all(test, loom))]
mod loom_model {
    use super::SleepFlag;
    use loom::sync::{Arc, Condvar, Mutex};
    use loom::thread;

    /// A hub and two senders: whatever the interleaving, the hub receives
    /// both messages and never blocks for ever (loom reports a deadlock if
    /// a wake-up is lost).
    #[test]
    fn no_lost_wake_up() {
        loom::model(|| {
            let flag = Arc::new(SleepFlag::new());
            let inbox = Arc::new(Mutex::new(Vec::new()));
            // The eventfd of mio's Waker: a flag and a condvar to block on.
            let waker = Arc::new((Mutex::new(false), Condvar::new()));
            let senders: Vec<_> = (0..2)
                .map(|i| {
                    let (flag, inbox, waker) = (flag.clone(), inbox.clone(), waker.clone());
                    thread::spawn(move || {
                        inbox.lock().unwrap().push(i);
                        if flag.notify() {
                            *waker.0.lock().unwrap() = true;
                            waker.1.notify_one();
                        }
                    })
                })
                .collect();
            let mut got = Vec::new();
            while got.len() < 2 {
                if flag.try_sleep() {
                    // A blocking poll: returns when the waker was written.
                    let mut woken = waker.0.lock().unwrap();
                    while !*woken {
                        woken = waker.1.wait(woken).unwrap();
                    }
                    *woken = false;
                } else {
                    thread::yield_now(); // a zero-timeout poll
                }
                flag.wake();
                got.append(&mut inbox.lock().unwrap());
            }
            got.sort();
            assert_eq!(got, [0, 1]);
            for s in senders {
                s.join().unwrap();
            }
        });
    }
}
