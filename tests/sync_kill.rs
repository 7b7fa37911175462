//! Kill and `Timeout` in the middle of every blocking call: the waiter
//! leaves its wait list at once, and an item, permit, lock or notification
//! already handed to it goes to the next waiter (or back). Nothing is lost
//! and no wake-up is swallowed.

mod util;

use std::sync::Arc;
use std::time::Duration;

use green::sync::{
    AsyncResult, Channel, Condvar, Event, Mutex, Queue, RwLock, Semaphore, TryGetError,
};
use green::{Group, Pool, Timeout};
use util::bounded;

const SHORT: Duration = Duration::from_millis(5);

/// Lets a `Timeout` region's deadline pass without running the hub, so the
/// parked greenlet cannot notice it before we act: a deterministic way to
/// get "handed a gift, then the deadline" in that order.
fn let_deadline_pass() {
    std::thread::sleep(SHORT * 2);
}

#[test]
fn killed_getter_passes_a_handed_item_to_the_next_getter() {
    bounded(|| {
        let q = Arc::new(Queue::new());
        let q1 = q.clone();
        let first = green::spawn(move || q1.get().unwrap());
        let q2 = q.clone();
        let second = green::spawn(move || q2.get().unwrap());
        green::yield_now();
        q.put("item").unwrap(); // handed to `first`, which has not run yet
        first.kill();
        assert!(first.join().unwrap_err().is_killed());
        assert_eq!(second.join().unwrap(), "item");
    });
}

#[test]
fn killed_getter_puts_a_handed_item_back_when_no_one_else_waits() {
    bounded(|| {
        let q = Arc::new(Queue::new());
        q.put(0).unwrap();
        q.get().unwrap();
        let q1 = q.clone();
        let getter = green::spawn(move || q1.get().unwrap());
        green::yield_now();
        q.put(1).unwrap();
        q.put(2).unwrap();
        getter.kill();
        assert!(getter.join().unwrap_err().is_killed());
        // Back at the head, ahead of the later item.
        assert_eq!(q.try_get(), Ok(1));
        assert_eq!(q.try_get(), Ok(2));
    });
}

#[test]
fn timed_out_getter_passes_a_handed_item_on() {
    bounded(|| {
        let q = Arc::new(Queue::new());
        let q1 = q.clone();
        let first = green::spawn(move || Timeout::new(SHORT).run(|| q1.get().unwrap()));
        let q2 = q.clone();
        let second = green::spawn(move || q2.get().unwrap());
        green::yield_now();
        let_deadline_pass();
        q.put(7).unwrap(); // handed to `first`, whose region has expired
        assert!(first.join().unwrap().is_err());
        assert_eq!(second.join().unwrap(), 7);
    });
}

#[test]
fn get_timeout_keeps_an_item_handed_before_it_saw_the_deadline() {
    bounded(|| {
        let q = Arc::new(Queue::new());
        let q1 = q.clone();
        let getter = green::spawn(move || q1.get_timeout(SHORT));
        green::yield_now();
        let_deadline_pass();
        q.put(3).unwrap();
        assert_eq!(getter.join().unwrap(), Ok(3));
        assert_eq!(q.try_get(), Err(TryGetError::Empty));
    });
}

#[test]
fn killed_putter_leaves_and_its_item_is_not_delivered() {
    bounded(|| {
        let q = Arc::new(Queue::bounded(1));
        q.put(0).unwrap();
        let q1 = q.clone();
        let killed = green::spawn(move || q1.put(1));
        let q2 = q.clone();
        let other = green::spawn(move || q2.put(2));
        green::yield_now();
        killed.kill();
        assert!(killed.join().unwrap_err().is_killed());
        assert_eq!(q.get(), Ok(0));
        assert_eq!(q.get(), Ok(2));
        other.join().unwrap().unwrap();
        assert!(q.is_empty());
    });
}

#[test]
fn timeout_in_put_returns_the_queue_to_its_state() {
    bounded(|| {
        let q = Queue::bounded(1);
        q.put(0).unwrap();
        assert!(Timeout::new(SHORT).run(|| q.put(1)).is_err());
        assert_eq!(q.len(), 1);
        assert_eq!(q.get(), Ok(0));
        assert_eq!(q.try_get(), Err(TryGetError::Empty));
    });
}

#[test]
fn killed_channel_putter_delivers_nothing() {
    bounded(|| {
        let ch = Arc::new(Channel::new());
        let c = ch.clone();
        let putter = green::spawn(move || c.put("lost?"));
        green::yield_now();
        putter.kill();
        assert!(putter.join().unwrap_err().is_killed());
        assert_eq!(ch.try_get(), Err(TryGetError::Empty));
    });
}

#[test]
fn killed_semaphore_waiter_passes_a_handed_permit_on() {
    bounded(|| {
        let sem = Arc::new(Semaphore::new(1));
        let p = sem.acquire();
        let s1 = sem.clone();
        let first = green::spawn(move || s1.acquire().forget());
        let s2 = sem.clone();
        let second = green::spawn(move || drop(s2.acquire()));
        green::yield_now();
        drop(p); // handed to `first`
        first.kill();
        assert!(first.join().unwrap_err().is_killed());
        second.join().unwrap();
        assert_eq!(sem.available_permits(), 1);
        assert_eq!(sem.waiters(), 0);
    });
}

#[test]
fn killed_semaphore_waiter_with_no_permit_takes_none() {
    bounded(|| {
        let sem = Arc::new(Semaphore::new(1));
        let p = sem.acquire();
        let s = sem.clone();
        let waiter = green::spawn(move || s.acquire().forget());
        green::yield_now();
        assert_eq!(sem.waiters(), 1);
        waiter.kill();
        assert!(waiter.join().unwrap_err().is_killed());
        assert_eq!(sem.waiters(), 0);
        drop(p);
        assert_eq!(sem.available_permits(), 1);
    });
}

#[test]
fn timed_out_semaphore_waiter_passes_a_handed_permit_back() {
    bounded(|| {
        let sem = Arc::new(Semaphore::new(1));
        let p = sem.acquire();
        let s = sem.clone();
        let waiter = green::spawn(move || Timeout::new(SHORT).run(|| s.acquire().forget()));
        green::yield_now();
        let_deadline_pass();
        drop(p);
        assert!(waiter.join().unwrap().is_err());
        assert_eq!(sem.available_permits(), 1);
    });
}

#[test]
fn killed_mutex_waiter_passes_the_lock_on() {
    bounded(|| {
        let m = Arc::new(Mutex::new(Vec::new()));
        let g = m.lock();
        let m1 = m.clone();
        let first = green::spawn(move || m1.lock().push(1));
        let m2 = m.clone();
        let second = green::spawn(move || m2.lock().push(2));
        green::yield_now();
        drop(g); // handed to `first`
        first.kill();
        assert!(first.join().unwrap_err().is_killed());
        second.join().unwrap();
        assert_eq!(*m.lock(), [2]);
        assert!(!m.is_locked());
    });
}

#[test]
fn timeout_in_lock_leaves_the_mutex_usable() {
    bounded(|| {
        let m = Mutex::new(0);
        let g = m.lock();
        assert!(Timeout::new(SHORT).run(|| *m.lock() += 1).is_err());
        drop(g);
        assert_eq!(*m.try_lock().unwrap(), 0);
    });
}

#[test]
fn killed_writer_passes_the_rwlock_to_queued_readers() {
    bounded(|| {
        let l = Arc::new(RwLock::new(0));
        let r = l.read();
        let lw = l.clone();
        let writer = green::spawn(move || *lw.write() += 1);
        green::yield_now();
        let lr = l.clone();
        let reader = green::spawn(move || *lr.read());
        green::yield_now();
        drop(r); // handed to the writer
        writer.kill();
        assert!(writer.join().unwrap_err().is_killed());
        assert_eq!(reader.join().unwrap(), 0);
        assert!(l.try_write().is_some());
    });
}

#[test]
fn killed_condvar_waiter_passes_notify_one_on() {
    bounded(|| {
        let pair = Arc::new((Mutex::new(0), Condvar::new()));
        let p1 = pair.clone();
        let first = green::spawn(move || *p1.1.wait(p1.0.lock()));
        let p2 = pair.clone();
        let second = green::spawn(move || *p2.1.wait(p2.0.lock()));
        green::yield_now();
        pair.1.notify_one(); // to `first`
        first.kill();
        assert!(first.join().unwrap_err().is_killed());
        assert_eq!(second.join().unwrap(), 0);
    });
}

#[test]
fn killed_event_waiter_leaves_and_others_still_wake() {
    bounded(|| {
        let ev = Arc::new(Event::new());
        let e1 = ev.clone();
        let killed = green::spawn(move || e1.wait());
        let e2 = ev.clone();
        let other = green::spawn(move || e2.wait());
        green::yield_now();
        killed.kill();
        assert!(killed.join().unwrap_err().is_killed());
        ev.set();
        other.join().unwrap();
    });
}

#[test]
fn timeout_in_async_result_wait_leaves_it_usable() {
    bounded(|| {
        let r: AsyncResult<u8, ()> = AsyncResult::new();
        assert!(Timeout::new(SHORT).run(|| r.get()).is_err());
        r.set(4).unwrap();
        assert_eq!(r.get(), Ok(4));
    });
}

#[test]
fn killed_joiner_of_a_group_leaves_no_watch() {
    bounded(|| {
        let group = Arc::new(Group::new());
        let gate = Arc::new(Event::new());
        let g = gate.clone();
        group.spawn(move || g.wait());
        let gr = group.clone();
        let joiner = green::spawn(move || gr.join());
        green::yield_now();
        joiner.kill();
        assert!(joiner.join().unwrap_err().is_killed());
        gate.set();
        group.join();
        assert!(group.is_empty());
    });
}

#[test]
fn killed_pool_spawner_leaks_no_slot() {
    bounded(|| {
        let pool = Pool::new(1);
        let gate = Arc::new(Event::new());
        let g = gate.clone();
        pool.spawn(move || g.wait());
        let p = pool.clone();
        let spawner = green::spawn(move || {
            p.spawn(|| ());
        });
        green::yield_now();
        spawner.kill();
        assert!(spawner.join().unwrap_err().is_killed());
        gate.set();
        pool.join();
        assert_eq!(pool.free_count(), 1);
    });
}

#[test]
fn killed_imap_reports_every_started_task_as_failed() {
    bounded(|| {
        let pool = Pool::new(1);
        let gate = Arc::new(Event::new());
        let g = gate.clone();
        let it = pool.imap(0..5, move |i: i32| {
            g.wait();
            i
        });
        // The feeder starts task 0 (not yet running) and waits for a slot
        // for task 1.
        green::yield_now();
        pool.kill();
        let results: Vec<_> = it.collect();
        let failed: Vec<usize> = results
            .iter()
            .map(|r| r.as_ref().unwrap_err().index())
            .collect();
        assert_eq!(failed, [0, 1]);
        assert_eq!(pool.free_count(), 1);
        gate.set();
    });
}
