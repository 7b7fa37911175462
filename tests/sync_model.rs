//! Model-based property tests: random operation sequences against `Queue`
//! (FIFO, LIFO, priority) and `Semaphore`, checked against a sequential
//! model, and from several greenlets at once, checked for conservation: no
//! item or permit is ever lost or duplicated.

mod util;

use std::cell::{Cell, RefCell};
use std::collections::{BinaryHeap, VecDeque};
use std::rc::Rc;
use std::time::Duration;

use green::sync::{
    GetTimeoutError, LifoQueue, PriorityQueue, PutTimeoutError, Queue, Semaphore, TryGetError,
    TryPutError,
};
use proptest::prelude::*;

/// A short wait: long enough to let other greenlets act, short enough to
/// keep cases fast. Correctness never depends on its length.
const TICK: Duration = Duration::from_millis(1);

fn config() -> ProptestConfig {
    // `PROPTEST_CASES` overrides the count, for longer local runs.
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------- queues

#[derive(Debug, Clone)]
enum QOp {
    TryPut(u32),
    PutNow(u32),
    TryGet,
    GetNow,
    Close,
    Len,
}

fn qop() -> impl Strategy<Value = QOp> {
    prop_oneof![
        4 => any::<u32>().prop_map(QOp::TryPut),
        2 => any::<u32>().prop_map(QOp::PutNow),
        4 => Just(QOp::TryGet),
        2 => Just(QOp::GetNow),
        1 => Just(QOp::Close),
        1 => Just(QOp::Len),
    ]
}

/// The sequential model of a queue: a plain container, a bound and a flag.
trait Model {
    fn push(&mut self, v: u32);
    fn pop(&mut self) -> Option<u32>;
    fn len(&self) -> usize;
}

impl Model for VecDeque<u32> {
    fn push(&mut self, v: u32) {
        self.push_back(v);
    }
    fn pop(&mut self) -> Option<u32> {
        self.pop_front()
    }
    fn len(&self) -> usize {
        VecDeque::len(self)
    }
}

impl Model for Vec<u32> {
    fn push(&mut self, v: u32) {
        Vec::push(self, v);
    }
    fn pop(&mut self) -> Option<u32> {
        Vec::pop(self)
    }
    fn len(&self) -> usize {
        Vec::len(self)
    }
}

impl Model for BinaryHeap<u32> {
    fn push(&mut self, v: u32) {
        BinaryHeap::push(self, v);
    }
    fn pop(&mut self) -> Option<u32> {
        BinaryHeap::pop(self)
    }
    fn len(&self) -> usize {
        BinaryHeap::len(self)
    }
}

/// Outcome of one operation, comparable between queue and model.
#[derive(Debug, PartialEq, Eq)]
enum Out {
    Put(Result<(), &'static str>),
    Got(Result<u32, &'static str>),
    Len(usize),
    Closed,
}

/// The operations of the three queue kinds, behind one interface.
trait Q {
    fn try_put(&self, v: u32) -> Result<(), TryPutError<u32>>;
    fn put_timeout(&self, v: u32, d: Duration) -> Result<(), PutTimeoutError<u32>>;
    fn try_get(&self) -> Result<u32, TryGetError>;
    fn get_timeout(&self, d: Duration) -> Result<u32, GetTimeoutError>;
    fn close(&self);
    fn len(&self) -> usize;
}

macro_rules! impl_q {
    ($t:ty) => {
        impl Q for $t {
            fn try_put(&self, v: u32) -> Result<(), TryPutError<u32>> {
                (**self).try_put(v)
            }
            fn put_timeout(&self, v: u32, d: Duration) -> Result<(), PutTimeoutError<u32>> {
                (**self).put_timeout(v, d)
            }
            fn try_get(&self) -> Result<u32, TryGetError> {
                (**self).try_get()
            }
            fn get_timeout(&self, d: Duration) -> Result<u32, GetTimeoutError> {
                (**self).get_timeout(d)
            }
            fn close(&self) {
                (**self).close()
            }
            fn len(&self) -> usize {
                (**self).len()
            }
        }
    };
}

impl_q!(Box<Queue<u32>>);
impl_q!(Box<LifoQueue<u32>>);
impl_q!(Box<PriorityQueue<u32>>);

fn run_sequential(q: &dyn Q, model: &mut dyn Model, cap: Option<usize>, ops: &[QOp]) {
    let mut closed = false;
    for op in ops {
        let full = cap.is_some_and(|c| model.len() >= c);
        let (real, expected) = match op {
            QOp::TryPut(v) | QOp::PutNow(v) => {
                let real = match op {
                    QOp::TryPut(_) => {
                        q.try_put(*v)
                            .map_err(|e| if e.is_full() { "full" } else { "closed" })
                    }
                    _ => q.put_timeout(*v, Duration::ZERO).map_err(|e| {
                        if e.is_timeout() {
                            "full"
                        } else {
                            "closed"
                        }
                    }),
                };
                let expected = if closed {
                    Err("closed")
                } else if full {
                    Err("full")
                } else {
                    model.push(*v);
                    Ok(())
                };
                (Out::Put(real), Out::Put(expected))
            }
            QOp::TryGet | QOp::GetNow => {
                let real = match op {
                    QOp::TryGet => q.try_get().map_err(|e| match e {
                        TryGetError::Empty => "empty",
                        TryGetError::Closed => "closed",
                    }),
                    _ => q.get_timeout(Duration::ZERO).map_err(|e| match e {
                        GetTimeoutError::Timeout => "empty",
                        GetTimeoutError::Closed => "closed",
                    }),
                };
                let expected = match model.pop() {
                    Some(v) => Ok(v),
                    None if closed => Err("closed"),
                    None => Err("empty"),
                };
                (Out::Got(real), Out::Got(expected))
            }
            QOp::Close => {
                q.close();
                closed = true;
                (Out::Closed, Out::Closed)
            }
            QOp::Len => (Out::Len(q.len()), Out::Len(model.len())),
        };
        assert_eq!(real, expected, "after {op:?}");
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn fifo_queue_matches_its_sequential_model(
        cap in prop::option::of(1usize..6),
        ops in prop::collection::vec(qop(), 1..60),
    ) {
        let q: Box<Queue<u32>> = Box::new(match cap {
            Some(c) => Queue::bounded(c),
            None => Queue::new(),
        });
        run_sequential(&q, &mut VecDeque::new(), cap, &ops);
    }

    #[test]
    fn lifo_queue_matches_its_sequential_model(
        cap in prop::option::of(1usize..6),
        ops in prop::collection::vec(qop(), 1..60),
    ) {
        let q: Box<LifoQueue<u32>> = Box::new(match cap {
            Some(c) => LifoQueue::bounded(c),
            None => LifoQueue::new(),
        });
        run_sequential(&q, &mut Vec::new(), cap, &ops);
    }

    #[test]
    fn priority_queue_matches_its_sequential_model(
        cap in prop::option::of(1usize..6),
        ops in prop::collection::vec(qop(), 1..60),
    ) {
        let q: Box<PriorityQueue<u32>> = Box::new(match cap {
            Some(c) => PriorityQueue::bounded(c),
            None => PriorityQueue::new(),
        });
        run_sequential(&q, &mut BinaryHeap::new(), cap, &ops);
    }
}

// ------------------------------------------------- queue, many greenlets

#[derive(Debug, Clone, Copy)]
enum COp {
    Put,
    TryPut,
    Get,
    TryGet,
    Yield,
}

fn cop() -> impl Strategy<Value = COp> {
    prop_oneof![
        Just(COp::Put),
        Just(COp::TryPut),
        Just(COp::Get),
        Just(COp::TryGet),
        Just(COp::Yield),
    ]
}

/// Runs every greenlet's op list against one queue; returns (items put,
/// items got, items left), each as a sorted list.
fn run_concurrent_queue(
    q: Rc<Queue<u32>>,
    scripts: Vec<Vec<COp>>,
) -> (Vec<u32>, Vec<u32>, Vec<u32>) {
    let put = Rc::new(RefCell::new(Vec::new()));
    let got = Rc::new(RefCell::new(Vec::new()));
    let over_cap = Rc::new(Cell::new(false));
    let cap = q.capacity();
    let hs: Vec<_> = scripts
        .into_iter()
        .enumerate()
        .map(|(g, script)| {
            let (q, put, got, over_cap) = (q.clone(), put.clone(), got.clone(), over_cap.clone());
            green::spawn(move || {
                for (i, op) in script.into_iter().enumerate() {
                    let v = (g * 1000 + i) as u32;
                    match op {
                        COp::Put => {
                            if q.put_timeout(v, TICK).is_ok() {
                                put.borrow_mut().push(v);
                            }
                        }
                        COp::TryPut => {
                            if q.try_put(v).is_ok() {
                                put.borrow_mut().push(v);
                            }
                        }
                        COp::Get => {
                            if let Ok(x) = q.get_timeout(TICK) {
                                got.borrow_mut().push(x);
                            }
                        }
                        COp::TryGet => {
                            if let Ok(x) = q.try_get() {
                                got.borrow_mut().push(x);
                            }
                        }
                        COp::Yield => green::yield_now(),
                    }
                    if cap.is_some_and(|c| q.len() > c) {
                        over_cap.set(true);
                    }
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    assert!(
        !over_cap.get(),
        "a bounded queue held more than its capacity"
    );
    let mut left = Vec::new();
    while let Ok(x) = q.try_get() {
        left.push(x);
    }
    let mut put = put.borrow().clone();
    let mut got = got.borrow().clone();
    put.sort_unstable();
    got.sort_unstable();
    left.sort_unstable();
    (put, got, left)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn queue_from_many_greenlets_loses_and_duplicates_nothing(
        cap in prop::option::of(0usize..4),
        scripts in prop::collection::vec(prop::collection::vec(cop(), 0..25), 2..6),
    ) {
        let _net = util::SafetyNet::new("a queue property case", util::HARD_LIMIT);
        let q = Rc::new(match cap {
            Some(c) => Queue::bounded(c),
            None => Queue::new(),
        });
        let (put, got, left) = run_concurrent_queue(q, scripts);
        let mut out: Vec<u32> = got.iter().chain(left.iter()).copied().collect();
        out.sort_unstable();
        prop_assert_eq!(out, put);
    }
}

// ------------------------------------------------------------ semaphore

#[derive(Debug, Clone, Copy)]
enum SOp {
    TryAcquire,
    AcquireNow,
    /// Drops the permit at this position of the held list, if any.
    Drop(usize),
    Release,
    Check,
}

fn sop() -> impl Strategy<Value = SOp> {
    prop_oneof![
        3 => Just(SOp::TryAcquire),
        2 => Just(SOp::AcquireNow),
        3 => (0usize..8).prop_map(SOp::Drop),
        1 => Just(SOp::Release),
        1 => Just(SOp::Check),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn semaphore_matches_its_sequential_model(
        permits in 0usize..5,
        ops in prop::collection::vec(sop(), 1..60),
    ) {
        let sem = Semaphore::new(permits);
        let mut free = permits;
        let mut held = Vec::new();
        for op in ops {
            match op {
                SOp::TryAcquire | SOp::AcquireNow => {
                    let p = match op {
                        SOp::TryAcquire => sem.try_acquire(),
                        _ => sem.acquire_timeout(Duration::ZERO),
                    };
                    prop_assert_eq!(p.is_some(), free > 0);
                    if let Some(p) = p {
                        free -= 1;
                        held.push(p);
                    }
                }
                SOp::Drop(i) => {
                    if !held.is_empty() {
                        drop(held.remove(i % held.len()));
                        free += 1;
                    }
                }
                SOp::Release => {
                    sem.release();
                    free += 1;
                }
                SOp::Check => {}
            }
            prop_assert_eq!(sem.available_permits(), free);
        }
        let n = held.len();
        drop(held);
        prop_assert_eq!(sem.available_permits(), free + n);
    }

    #[test]
    fn semaphore_from_many_greenlets_never_overcommits_or_leaks(
        permits in 1usize..4,
        scripts in prop::collection::vec(
            prop::collection::vec((any::<bool>(), 0usize..3), 0..20),
            2..7,
        ),
    ) {
        let _net = util::SafetyNet::new("a semaphore property case", util::HARD_LIMIT);
        let sem = Rc::new(Semaphore::new(permits));
        let inside = Rc::new(Cell::new(0usize));
        let most = Rc::new(Cell::new(0usize));
        let hs: Vec<_> = scripts
            .into_iter()
            .map(|script| {
                let (sem, inside, most) = (sem.clone(), inside.clone(), most.clone());
                green::spawn(move || {
                    for (blocking, hold) in script {
                        let p = if blocking {
                            sem.acquire_timeout(TICK)
                        } else {
                            sem.try_acquire()
                        };
                        if let Some(p) = p {
                            inside.set(inside.get() + 1);
                            most.set(most.get().max(inside.get()));
                            for _ in 0..hold {
                                green::yield_now();
                            }
                            inside.set(inside.get() - 1);
                            drop(p);
                        } else {
                            green::yield_now();
                        }
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        prop_assert!(most.get() <= permits);
        prop_assert_eq!(sem.available_permits(), permits);
        prop_assert_eq!(sem.waiters(), 0);
    }
}

// ------------------------------------ queue, many greenlets, with kills

proptest! {
    #![proptest_config(config())]

    /// A killer (the main context) kills random greenlets at random points,
    /// often in the middle of a blocked `put` or `get`. A killed put may or
    /// may not have delivered its item, but every item that came out came
    /// out once, every item whose `put` returned `Ok` came out, and nothing
    /// came out that was never put.
    #[test]
    fn queue_with_killed_greenlets_loses_and_duplicates_nothing(
        cap in prop::option::of(0usize..3),
        scripts in prop::collection::vec(prop::collection::vec(cop(), 0..25), 2..6),
        kills in prop::collection::vec((0usize..4, 0usize..6), 0..4),
    ) {
        let _net = util::SafetyNet::new("a queue property case", util::HARD_LIMIT);
        let q: Rc<Queue<u32>> = Rc::new(match cap {
            Some(c) => Queue::bounded(c),
            None => Queue::new(),
        });
        let attempted = Rc::new(RefCell::new(Vec::new()));
        let put = Rc::new(RefCell::new(Vec::new()));
        let got = Rc::new(RefCell::new(Vec::new()));
        let n = scripts.len();
        let hs: Vec<_> = scripts
            .into_iter()
            .enumerate()
            .map(|(g, script)| {
                let (q, attempted, put, got) =
                    (q.clone(), attempted.clone(), put.clone(), got.clone());
                green::spawn(move || {
                    for (i, op) in script.into_iter().enumerate() {
                        let v = (g * 1000 + i) as u32;
                        match op {
                            COp::Put | COp::TryPut => {
                                attempted.borrow_mut().push(v);
                                let ok = match op {
                                    COp::Put => q.put_timeout(v, TICK).is_ok(),
                                    _ => q.try_put(v).is_ok(),
                                };
                                if ok {
                                    put.borrow_mut().push(v);
                                }
                            }
                            COp::Get => {
                                if let Ok(x) = q.get_timeout(TICK) {
                                    got.borrow_mut().push(x);
                                }
                            }
                            COp::TryGet => {
                                if let Ok(x) = q.try_get() {
                                    got.borrow_mut().push(x);
                                }
                            }
                            COp::Yield => green::yield_now(),
                        }
                    }
                })
            })
            .collect();
        for (yields, target) in kills {
            for _ in 0..yields {
                green::yield_now();
            }
            hs[target % n].kill();
        }
        for h in hs {
            let _ = h.join();
        }
        let mut out: Vec<u32> = got.borrow().clone();
        while let Ok(x) = q.try_get() {
            out.push(x);
        }
        out.sort_unstable();
        let mut dedup = out.clone();
        dedup.dedup();
        prop_assert_eq!(&dedup, &out, "an item came out twice");
        for v in put.borrow().iter() {
            prop_assert!(out.binary_search(v).is_ok(), "item {} was lost", v);
        }
        let attempted = attempted.borrow();
        for v in &out {
            prop_assert!(attempted.contains(v), "item {} was never put", v);
        }
        prop_assert_eq!(q.getters(), 0);
    }
}
