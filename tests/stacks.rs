//! Greenlet stacks: 100,000 live greenlets within `vm.max_map_count`, deep
//! stacks on request, and reuse of freed stacks. (Overflow, which ends the
//! process, is tested in `stack_overflow.rs`.)

mod util;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use util::{bounded, map_count, SafetyNet, HARD_LIMIT};

const MANY: usize = 100_000;
/// Linux's default `vm.max_map_count`.
const MAX_MAP_COUNT: usize = 65_530;

#[test]
fn hundred_thousand_live_greenlets_spawn_and_all_finish() {
    // Spawning and starting 100,000 greenlets in a debug build takes a
    // while on a loaded machine: a longer soft limit than `bounded`'s.
    let _net = SafetyNet::new("100k greenlets", HARD_LIMIT);
    let r = green::with_timeout(Duration::from_secs(50), || {
        let before = green::stats();
        let maps_before = map_count();
        let go = Rc::new(Cell::new(false));
        let waiting: Rc<RefCell<Vec<green::Unparker>>> = Rc::new(RefCell::new(Vec::new()));
        let handles: Vec<_> = (0..MANY)
            .map(|i| {
                let (go, waiting) = (go.clone(), waiting.clone());
                green::spawn(move || {
                    while !go.get() {
                        waiting.borrow_mut().push(green::current_unparker());
                        green::park("the go signal");
                    }
                    i
                })
            })
            .collect();
        // Let every greenlet start and park: all 100,000 are alive at once.
        green::yield_now();
        let alive = green::stats();
        assert_eq!(alive.greenlets, before.greenlets + MANY);
        assert_eq!(alive.blocked, before.blocked + MANY);
        assert_eq!(alive.stacks_in_use, before.stacks_in_use + MANY);
        assert_eq!(waiting.borrow().len(), MANY);
        let maps = map_count();
        match green::stack_guard_kind() {
            Some("madvise") => assert!(
                maps < maps_before + MAX_MAP_COUNT / 10,
                "{maps} mappings for {MANY} guarded stacks (from {maps_before})"
            ),
            Some("mprotect") => eprintln!(
                "note: mprotect guard pages on this kernel; {maps} mappings for {MANY} stacks"
            ),
            other => panic!("no guard kind after spawning greenlets: {other:?}"),
        }
        go.set(true);
        for u in waiting.borrow_mut().drain(..) {
            u.unpark();
        }
        let mut sum = 0usize;
        for h in handles {
            sum += h.join().expect("every greenlet finishes");
        }
        assert_eq!(sum, MANY * (MANY - 1) / 2);
        let after = green::stats();
        assert_eq!(after.greenlets, before.greenlets);
        assert_eq!(after.stacks_in_use, before.stacks_in_use);
        assert!(
            after.stacks_pooled > 0,
            "freed stacks went back to the pool"
        );
    });
    r.expect("100,000 greenlets finished within the safety net");
}

#[test]
fn stack_guard_kind_is_known_once_a_greenlet_exists() {
    bounded(|| {
        green::spawn(|| ()).join().unwrap();
        let kind = green::stack_guard_kind();
        assert!(
            matches!(kind, Some("madvise") | Some("mprotect")),
            "{kind:?}"
        );
    });
}

/// Recurses `depth` times with a 1 KiB frame.
#[inline(never)]
fn recurse(depth: usize) -> usize {
    let frame = std::hint::black_box([depth as u8; 1024]);
    if depth == 0 {
        return frame[0] as usize;
    }
    recurse(depth - 1) + std::hint::black_box(frame[1] as usize & 1)
}

#[test]
fn large_stack_size_allows_deep_recursion() {
    bounded(|| {
        // At least 200 KiB of frames: past the 128 KiB default.
        let h = green::Builder::new()
            .name("deep".into())
            .stack_size(8 * 1024 * 1024)
            .spawn(|| recurse(200))
            .unwrap();
        assert!(h.join().is_ok());
    });
}

#[test]
fn freed_stacks_are_reused_without_mapping_more() {
    bounded(|| {
        let round = || {
            let hs: Vec<_> = (0..300)
                .map(|_| green::spawn(|| green::sleep(Duration::from_millis(1))))
                .collect();
            for h in hs {
                h.join().unwrap();
            }
        };
        round();
        let first = green::stats();
        assert!(first.stacks_pooled >= 300);
        assert_eq!(first.stacks_in_use, 0);
        for _ in 0..3 {
            round();
        }
        let later = green::stats();
        assert_eq!(later.stack_bytes_mapped, first.stack_bytes_mapped);
        assert_eq!(later.stacks_in_use, 0);
    });
}

#[test]
fn a_deep_stack_is_reusable_after_its_greenlet_ends() {
    bounded(|| {
        let deep = green::Builder::new().stack_size(2 * 1024 * 1024);
        let h = deep.spawn(|| {
            let n = recurse(200);
            green::yield_now();
            n
        });
        h.unwrap().join().unwrap();
        // Its stack, trimmed or not, serves the next greenlet of that size.
        let again = green::Builder::new().stack_size(2 * 1024 * 1024);
        assert!(again.spawn(|| recurse(200)).unwrap().join().is_ok());
    });
}
