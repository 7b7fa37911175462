//! Green synchronisation primitives: events, semaphores, locks, queues,
//! pools and groups that block greenly and work across threads.
//!
//! ```
//! use std::sync::Arc;
//! use green_sync::Queue;
//!
//! let q = Arc::new(Queue::bounded(2));
//! let tx = q.clone();
//! let producer = green_runtime::spawn(move || {
//!     for i in 0..5 {
//!         tx.put(i).unwrap(); // waits while the queue is full
//!     }
//!     tx.close();
//! });
//! let got: Vec<i32> = q.iter().collect(); // ends when closed and drained
//! producer.join().unwrap();
//! assert_eq!(got, [0, 1, 2, 3, 4]);
//! ```
//!
//! # What is here
//!
//! | need | type |
//! |---|---|
//! | wake everyone when something happened | [`Event`] |
//! | hand one result (or error) to many readers | [`AsyncResult`] |
//! | bound concurrency | [`Semaphore`], [`BoundedSemaphore`], [`Pool`] |
//! | protect data | [`Mutex`], [`RwLock`], [`Condvar`] |
//! | pass items | [`Queue`], [`JoinableQueue`], [`PriorityQueue`], [`LifoQueue`], [`Channel`] |
//! | run and end greenlets together | [`Group`], [`Pool`] |
//! | wait for any or all of several things | [`wait`], [`iwait`] |
//!
//! Every blocking call has a `_timeout` form taking a [`Duration`] and,
//! where it makes sense, a non-blocking `try_` form. Errors are shaped like
//! std's (`TryPutError::{Full, Closed}` gives the item back).
//!
//! [`Duration`]: std::time::Duration
//!
//! # Implementation
//!
//! Every primitive keeps its state and one or more FIFO wait lists behind a
//! single short lock, and blocks through the runtime's parking API
//! (`park_until`, with a borrowed `WakeRef` per waiter). The wait lists
//! share one mechanism (the `waitq` module) whose protocol is: check and
//! register under the lock, park, and get woken by *hand-off* — the
//! releaser moves the permit, item or lock straight into a slot on the
//! first waiter's stack, so
//! waiters are served in FIFO order and a release-and-reacquire loop cannot
//! starve anyone. A waiter that is killed or times out leaves its entry in
//! a drop guard and passes on whatever had been handed to it. `Mutex`
//! also keeps who holds it in an atomic word outside that lock, so an
//! uncontended lock + unlock is one compare-exchange each way, and its
//! lock and list are touched only when someone waits (see `mutex.rs`). See
//! `docs/sync.md` for the full story and the gevent → green table.
//!
//! All types are `Send + Sync`: a greenlet on one hub is woken by a
//! greenlet on another hub or by a plain OS thread (which blocks by
//! running its own hub).
//!
//! The `unsafe` code is in four places, each block with its argument: the
//! internal lock (`lock`), the waiter slots and borrowed wake handles of the
//! wait lists (`waitq`), and the value cells of `Mutex` and `RwLock`.

#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]
#![deny(missing_docs, missing_debug_implementations)]

mod async_result;
mod condvar;
mod event;
mod lock;
mod mutex;
mod pool;
mod queue;
mod rwlock;
mod semaphore;
mod wait;
mod waitq;

pub use async_result::{AlreadySet, AsyncResult};
pub use condvar::{Condvar, WaitTimeoutResult};
pub use event::Event;
pub use mutex::{Mutex, MutexGuard};
pub use pool::{Group, Imap, Pool, TaskError};
pub use queue::{
    Channel, Fifo, GetError, GetTimeoutError, Iter, JoinableQueue, Lifo, LifoQueue, Order,
    Priority, PriorityQueue, PutError, PutTimeoutError, Queue, TaskDoneError, TryGetError,
    TryPutError,
};
pub use rwlock::{RwLock, RwLockReadGuard, RwLockWriteGuard};
pub use semaphore::{
    BoundedSemaphore, OwnedSemaphorePermit, ReleaseError, Semaphore, SemaphorePermit,
};
pub use wait::{iwait, iwait_timeout, wait, Iwait, Waitable};
