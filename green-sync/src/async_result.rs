//! AsyncResult: a value or an error set once and awaited by many (gevent's
//! `AsyncResult`, a one-shot future).

use std::error::Error;
use std::fmt;
use std::sync::OnceLock;
use std::time::Duration;

use crate::waitq::{block, no_pass_on, Lock, Outcome, WaitList};
use green_runtime::{consume_budget, deadline_after, Unparker};

type List = WaitList<(), ()>;

fn itself(l: &mut List) -> &mut List {
    l
}

/// A result set once — a value or an error — that any number of greenlets
/// (and threads) wait for.
///
/// # Readers: borrow, or clone
/// The result is stored once and never moved, so readers *borrow* it:
/// [`wait`](AsyncResult::wait) returns `&Result<T, E>` and needs no bound on
/// `T` or `E`. [`get`](AsyncResult::get) is the gevent-style convenience
/// that clones (`T: Clone, E: Clone`). [`into_inner`](AsyncResult::into_inner)
/// moves the result out of the last owner.
///
/// Setting twice is an error ([`AlreadySet`], which gives the rejected
/// value back), never a silent overwrite.
///
/// ```
/// use std::sync::Arc;
/// use green_sync::AsyncResult;
///
/// let r: Arc<AsyncResult<u32, String>> = Arc::new(AsyncResult::new());
/// let w = r.clone();
/// let reader = green_runtime::spawn(move || w.get());
/// r.set(42).unwrap();
/// assert_eq!(reader.join().unwrap(), Ok(42));
/// assert!(r.is_successful());
/// assert!(r.set(7).is_err()); // set once
/// ```
pub struct AsyncResult<T, E> {
    value: OnceLock<Result<T, E>>,
    waiters: Lock<List>,
}

impl<T: fmt::Debug, E: fmt::Debug> fmt::Debug for AsyncResult<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncResult")
            .field("value", &self.value.get())
            .finish()
    }
}

impl<T, E> Default for AsyncResult<T, E> {
    fn default() -> Self {
        AsyncResult::new()
    }
}

impl<T, E> AsyncResult<T, E> {
    /// A new result, not yet set.
    pub const fn new() -> AsyncResult<T, E> {
        AsyncResult {
            value: OnceLock::new(),
            waiters: Lock::new(WaitList::new()),
        }
    }

    /// Sets the result to a value and wakes every waiter.
    ///
    /// # Errors
    /// [`AlreadySet`] holding `value` if a result was set before.
    pub fn set(&self, value: T) -> Result<(), AlreadySet<Result<T, E>>> {
        self.set_result(Ok(value))
    }

    /// Sets the result to an error and wakes every waiter.
    ///
    /// # Errors
    /// [`AlreadySet`] holding the error if a result was set before.
    pub fn set_error(&self, error: E) -> Result<(), AlreadySet<Result<T, E>>> {
        self.set_result(Err(error))
    }

    /// Sets the result (value or error) and wakes every waiter.
    ///
    /// # Errors
    /// [`AlreadySet`] holding `result` if a result was set before.
    pub fn set_result(&self, result: Result<T, E>) -> Result<(), AlreadySet<Result<T, E>>> {
        self.value.set(result).map_err(AlreadySet)?;
        // Waiters check the value under this lock before they register, so
        // each either saw it or is in the list now.
        let wake = self.waiters.lock().hand_all(|()| ());
        wake.wake();
        Ok(())
    }

    /// True once a result (value or error) is set.
    pub fn is_ready(&self) -> bool {
        self.value.get().is_some()
    }

    /// True once a value (not an error) is set.
    pub fn is_successful(&self) -> bool {
        matches!(self.value.get(), Some(Ok(_)))
    }

    /// The result if it is set; never blocks.
    pub fn peek(&self) -> Option<&Result<T, E>> {
        self.value.get()
    }

    /// Blocks until the result is set and borrows it.
    pub fn wait(&self) -> &Result<T, E> {
        loop {
            if let Some(r) = self.wait_deadline(None) {
                return r;
            }
        }
    }

    /// Like [`wait`](AsyncResult::wait), for at most `timeout`; `None` if
    /// the result was not set in time.
    pub fn wait_timeout(&self, timeout: Duration) -> Option<&Result<T, E>> {
        self.wait_deadline(Some(timeout))
    }

    fn wait_deadline(&self, timeout: Option<Duration>) -> Option<&Result<T, E>> {
        if let Some(r) = self.value.get() {
            consume_budget();
            return Some(r);
        }
        let deadline = timeout.and_then(deadline_after);
        let l = self.waiters.lock();
        if let Some(r) = self.value.get() {
            return Some(r);
        }
        if timeout == Some(Duration::ZERO) {
            return None;
        }
        match block(l, itself, no_pass_on, (), deadline, "AsyncResult::wait") {
            Outcome::Woken(()) | Outcome::TimedOut(()) => self.value.get(),
        }
    }

    /// Blocks until the result is set and returns a clone of it (gevent's
    /// `get`: the value, or the error).
    pub fn get(&self) -> Result<T, E>
    where
        T: Clone,
        E: Clone,
    {
        self.wait().clone()
    }

    /// Like [`get`](AsyncResult::get), for at most `timeout`; `None` if the
    /// result was not set in time.
    pub fn get_timeout(&self, timeout: Duration) -> Option<Result<T, E>>
    where
        T: Clone,
        E: Clone,
    {
        self.wait_timeout(timeout).cloned()
    }

    /// Moves the result out, if it was set.
    pub fn into_inner(self) -> Option<Result<T, E>> {
        self.value.into_inner()
    }

    pub(crate) fn subscribe(&self, u: Unparker) -> u64 {
        let mut l = self.waiters.lock();
        if self.is_ready() {
            drop(l);
            u.unpark();
            return u64::MAX;
        }
        l.subscribe(u, ())
    }

    pub(crate) fn unsubscribe(&self, ticket: u64) {
        if ticket != u64::MAX {
            self.waiters.lock().take(ticket);
        }
    }
}

/// An [`AsyncResult`] was set a second time; holds the rejected result.
///
/// ```
/// let r: green_sync::AsyncResult<u8, ()> = green_sync::AsyncResult::new();
/// r.set(1).unwrap();
/// assert_eq!(r.set(2).unwrap_err().into_inner(), Ok(2));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct AlreadySet<R>(pub R);

impl<R> AlreadySet<R> {
    /// The result that was not stored.
    pub fn into_inner(self) -> R {
        self.0
    }
}

impl<R> fmt::Debug for AlreadySet<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlreadySet").finish_non_exhaustive()
    }
}

impl<R> fmt::Display for AlreadySet<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the AsyncResult was already set")
    }
}

impl<R> Error for AlreadySet<R> {}
