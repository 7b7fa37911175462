//! Stacks: greenlet stacks carved out of large mmap slabs, with a guard page
//! under each and a per-hub pool that recycles them.
//!
//! A slab is one `mmap` of `count × (guard + stack)` bytes. Guards are
//! installed with `MADV_GUARD_INSTALL` where the kernel has it, which keeps
//! the whole slab one VMA, so the number of stacks is not bounded by
//! `vm.max_map_count`; older kernels fall back to `mprotect` (two VMAs per
//! stack). Memory is committed lazily: a greenlet that never goes deep
//! touches one or two pages.
//!
//! The top [`HEADER`] bytes of every stack hold the name and id of the
//! greenlet running on it, so the fault handler can name the greenlet that
//! overflowed without touching any lock or allocator.

use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};

use corosensei::stack::{Stack, StackPointer};

use crate::sys;

/// Bytes at the top of each stack reserved for the [`Header`].
pub(crate) const HEADER: usize = 64;
/// Smallest stack a greenlet may ask for.
pub(crate) const MIN_STACK_SIZE: usize = 16 * 1024;
/// Stack size used when neither the builder nor the environment says.
pub(crate) const DEFAULT_STACK_SIZE: usize = 128 * 1024;
/// Depth a recycled stack may keep committed; deeper pages are discarded.
const TRIM_KEEP: usize = 16 * 1024;
/// Free stacks kept warm per size class; beyond that, freed stacks give
/// their memory back (in batches of [`DISCARD_BATCH`]).
const FREE_HOT: usize = 1024;
/// Cold stacks whose memory is given back in one `process_madvise`: a
/// thousand greenlets ending at once make 16 syscalls, not a thousand.
const DISCARD_BATCH: usize = 64;
/// Bytes of stack mapped per slab (virtual; committed lazily).
const SLAB_BYTES: usize = 128 * 1024 * 1024;
/// Most stacks in one slab.
const MAX_PER_SLAB: usize = 1024;
/// Most stack top pages committed ahead in one go (see `carve`): 64 pages
/// (256 KiB) are still in the cache when their stacks are first written;
/// batches of 1,024 made spawning slower.
const POPULATE_AHEAD: usize = 64;

/// What the fault handler reads at the top of a running greenlet's stack.
#[repr(C)]
pub(crate) struct Header {
    name_ptr: *const u8,
    name_len: usize,
    id: u64,
    size: usize,
}

/// A stack from the pool, handed to corosensei.
#[derive(Debug)]
pub(crate) struct PooledStack {
    /// Lowest address of the slot (the guard page starts here).
    slot: NonNull<u8>,
    /// Index of the size class in the pool that owns it.
    class: usize,
    /// Address just above the usable stack (below the header).
    top: usize,
    /// Lowest usable address (just above the guard).
    limit: usize,
}

// SAFETY: `base()`..`limit()` is a region of `size` writable bytes that this
// `PooledStack` owns exclusively until it is given back to the pool; the
// guard page below `limit` faults on access.
unsafe impl Stack for PooledStack {
    fn base(&self) -> StackPointer {
        // `top` is non-zero: it is inside a mapping.
        StackPointer::new(self.top).unwrap_or(StackPointer::MIN)
    }
    fn limit(&self) -> StackPointer {
        StackPointer::new(self.limit).unwrap_or(StackPointer::MIN)
    }
}

impl PooledStack {
    /// Records who runs on this stack, for the overflow report.
    pub(crate) fn set_owner(&mut self, name: Option<&str>, id: u64) {
        let (name_ptr, name_len) = name.map_or((std::ptr::null(), 0), |n| (n.as_ptr(), n.len()));
        let header = Header {
            name_ptr,
            name_len,
            id,
            size: self.top - self.limit,
        };
        // SAFETY: the header area is the HEADER bytes above `top`, inside
        // this stack's slot, owned by us and suitably aligned (top is
        // 16-aligned).
        unsafe { (self.top as *mut Header).write(header) };
    }

    /// Usable size in bytes.
    #[cfg(test)]
    pub(crate) fn size(&self) -> usize {
        self.top - self.limit
    }
}

struct Slab {
    base: NonNull<u8>,
    len: usize,
    /// Slots handed out at least once (they have their guard).
    used: usize,
    count: usize,
    registry_slot: Option<usize>,
    /// Every slot has its guard already (installed in one batch).
    guarded: bool,
    /// Slots below this one had their top page committed ahead.
    populated: usize,
}

struct Class {
    /// Usable stack bytes plus HEADER, a multiple of the page size.
    size: usize,
    guard: usize,
    free: Vec<NonNull<u8>>,
    /// Freed cold slots whose memory is still to be given back; they join
    /// `free` only once it has been, so none is handed out before.
    to_discard: Vec<NonNull<u8>>,
    slabs: Vec<Slab>,
    in_use: usize,
    /// Slots ever carved out of this class's slabs.
    carved: usize,
}

impl Class {
    fn stride(&self) -> usize {
        self.guard + self.size
    }

    /// Gives back the memory of every slot in `to_discard` (all of it
    /// above the guard) and makes them free.
    fn discard_pending(&mut self) {
        let guard = self.guard;
        let starts: Vec<NonNull<u8>> = self
            .to_discard
            .iter()
            // SAFETY: `guard` bytes into a slot of our slab is still inside
            // it (the slot is `guard + size` bytes), so not null.
            .map(|s| unsafe { NonNull::new_unchecked(s.as_ptr().add(guard)) })
            .collect();
        // SAFETY: each range is the stack part of a slot that was given
        // back to the pool and not handed out since (it is not in `free`),
        // so nothing runs on it.
        unsafe { sys::discard_many(&starts, self.size) };
        self.free.append(&mut self.to_discard);
    }
}

/// The per-hub pool of stacks, one size class per distinct stack size.
pub(crate) struct StackPool {
    classes: Vec<Class>,
    mapped_bytes: usize,
    /// Set at the hub's teardown: cold slots wait in `to_discard` until
    /// the pool is dropped, which unmaps them with their slab anyway.
    deferring: bool,
}

impl std::fmt::Debug for StackPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StackPool")
            .field("in_use", &self.in_use())
            .field("pooled", &self.pooled())
            .finish()
    }
}

/// Rounds a requested stack size to what the pool hands out: whole pages,
/// at least [`MIN_STACK_SIZE`], plus the header. `None` if the slot (with
/// its guard page) would not fit in the address space.
pub(crate) fn round_size(requested: usize) -> Option<usize> {
    let page = sys::page_size();
    let want = requested.max(MIN_STACK_SIZE).checked_add(HEADER)?;
    let size = want.div_ceil(page).checked_mul(page)?;
    // The slot also holds a guard page, and slab offsets must stay valid
    // pointer offsets.
    size.checked_add(page)
        .filter(|&s| s <= isize::MAX as usize)?;
    Some(size)
}

impl StackPool {
    pub(crate) fn new() -> Self {
        StackPool {
            classes: Vec::new(),
            mapped_bytes: 0,
            deferring: false,
        }
    }

    /// From now on, keep the memory of freed cold stacks until the pool
    /// is dropped: at the hub's teardown every stack comes back at once,
    /// and giving each one's pages back would only do early, one syscall
    /// at a time, what unmapping the slabs does in one go.
    pub(crate) fn defer_discards(&mut self) {
        self.deferring = true;
    }

    /// Stacks currently lent out.
    pub(crate) fn in_use(&self) -> usize {
        self.classes.iter().map(|c| c.in_use).sum()
    }

    /// Stacks waiting in the pool for reuse.
    pub(crate) fn pooled(&self) -> usize {
        self.classes
            .iter()
            .map(|c| c.free.len() + c.to_discard.len())
            .sum()
    }

    /// Virtual bytes mapped for stacks.
    pub(crate) fn mapped_bytes(&self) -> usize {
        self.mapped_bytes
    }

    /// Takes a stack of at least `requested` usable bytes.
    pub(crate) fn get(&mut self, requested: usize) -> io::Result<PooledStack> {
        let size = round_size(requested).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("stack size of {requested} bytes is too large"),
            )
        })?;
        let class = match self.classes.iter().position(|c| c.size == size) {
            Some(i) => i,
            None => {
                self.classes.push(Class {
                    size,
                    guard: sys::page_size(),
                    free: Vec::new(),
                    to_discard: Vec::new(),
                    slabs: Vec::new(),
                    in_use: 0,
                    carved: 0,
                });
                self.classes.len() - 1
            }
        };
        let c = &mut self.classes[class];
        if c.free.is_empty() && !c.to_discard.is_empty() {
            c.discard_pending();
        }
        let slot = match c.free.pop() {
            Some(slot) => slot,
            None => self.carve(class)?,
        };
        let c = &mut self.classes[class];
        c.in_use += 1;
        let base = slot.as_ptr() as usize;
        Ok(PooledStack {
            slot,
            class,
            top: base + c.stride() - HEADER,
            limit: base + c.guard,
        })
    }

    /// Takes a never-used slot from the newest slab, mapping a slab if needed.
    fn carve(&mut self, class: usize) -> io::Result<NonNull<u8>> {
        let c = &mut self.classes[class];
        let stride = c.stride();
        let need_slab = c.slabs.last().is_none_or(|s| s.used == s.count);
        if need_slab {
            let count = (SLAB_BYTES / stride).clamp(1, MAX_PER_SLAB);
            let len = count * stride;
            let base = sys::map_reserve(len)?;
            let registry_slot = register_slab(base.as_ptr() as usize, len, stride, c.guard);
            c.slabs.push(Slab {
                base,
                len,
                used: 0,
                count,
                registry_slot,
                guarded: false,
                populated: 0,
            });
            self.mapped_bytes += len;
        }
        let Class {
            guard,
            slabs,
            carved,
            ..
        } = &mut self.classes[class];
        let guard = *guard;
        let slab = slabs.last_mut().expect("a slab was just ensured");
        let at = |i: usize| {
            // SAFETY: callers pass `i < count`, so the slot lies inside the
            // slab, and a pointer into a mapping is not null.
            unsafe { NonNull::new_unchecked(slab.base.as_ptr().add(i * stride)) }
        };
        let slot = at(slab.used);
        if !slab.guarded {
            // SAFETY: the guard page is page-aligned, inside our slab, and unused.
            unsafe { sys::install_guard(slot, guard)? };
            if slab.used == 0 && sys::guard_kind() == Some(sys::GuardKind::Madvise) {
                // Guards that do not split the mapping cost nothing until
                // used: give every slot its guard now, in one batch, rather
                // than one syscall per stack.
                let rest: Vec<NonNull<u8>> = (1..slab.count).map(at).collect();
                // SAFETY: guard pages of unused slots of our slab.
                unsafe { sys::install_guards(&rest, guard)? };
                slab.guarded = true;
            }
        }
        if slab.used >= slab.populated {
            // The first write to a stack is its top page (the header, then
            // the coroutine's initial frame). Commit the top pages of the
            // next slots in one batch instead of a page fault each; the batch
            // doubles with the number of stacks carved, so a program with a
            // few greenlets commits only a few pages ahead.
            let page = sys::page_size();
            let ahead = (*carved + 1)
                .next_power_of_two()
                .min(POPULATE_AHEAD)
                .min(slab.count - slab.used);
            let tops: Vec<NonNull<u8>> = (slab.used..slab.used + ahead)
                .map(|i| {
                    // SAFETY: the last page of slot `i < count`, in the slab.
                    unsafe { at(i).add(stride - page) }
                })
                .collect();
            // SAFETY: top pages of unused slots of our slab; their contents
            // (zeroes) are unchanged.
            unsafe { sys::populate(&tops, page) };
            slab.populated = slab.used + ahead;
        }
        slab.used += 1;
        *carved += 1;
        Ok(slot)
    }

    /// Gives a stack back. `deepest` is the lowest stack address the greenlet
    /// was seen using (0 if unknown); pages below the kept depth are
    /// returned to the kernel so a greenlet that once went deep does not pin
    /// memory for ever.
    pub(crate) fn put(&mut self, stack: PooledStack, deepest: usize) {
        let Some(c) = self.classes.get_mut(stack.class) else {
            return;
        };
        c.in_use -= 1;
        // Beyond the warm set, a freed stack gives all its memory back (the
        // header at its top is rewritten when it is reused), in batches;
        // within it, a stack that was seen deep keeps only its top
        // TRIM_KEEP bytes.
        if c.free.len() >= FREE_HOT {
            c.to_discard.push(stack.slot);
            if c.to_discard.len() >= DISCARD_BATCH && !self.deferring {
                c.discard_pending();
            }
            return;
        }
        let keep_from = stack.top.saturating_sub(TRIM_KEEP);
        if deepest != 0 && deepest < keep_from {
            let start = stack.limit;
            let end = keep_from & !(sys::page_size() - 1);
            if end > start {
                if let Some(p) = NonNull::new(start as *mut u8) {
                    // SAFETY: the range is inside this stack's slot (above
                    // its guard), which nothing runs on any more.
                    unsafe { sys::discard(p, end - start) };
                }
            }
        }
        c.free.push(stack.slot);
    }
}

impl Drop for StackPool {
    fn drop(&mut self) {
        for c in &mut self.classes {
            if c.in_use != 0 {
                // A greenlet still owns a stack of this class (leaked on
                // purpose at thread exit): keep its memory mapped, but give
                // back what the other stacks used.
                c.discard_pending();
                continue;
            }
            for s in c.slabs.drain(..) {
                if let Some(i) = s.registry_slot {
                    unregister_slab(i);
                }
                // SAFETY: no stack of this slab is in use.
                unsafe { sys::unmap(s.base, s.len) };
            }
        }
    }
}

// ---- the process-wide slab registry read by the fault handler ----

const MAX_SLABS: usize = 16 * 1024;

struct SlabEntry {
    base: AtomicUsize,
    len: AtomicUsize,
    stride: AtomicUsize,
    guard: AtomicUsize,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY_ENTRY: SlabEntry = SlabEntry {
    base: AtomicUsize::new(0),
    len: AtomicUsize::new(0),
    stride: AtomicUsize::new(0),
    guard: AtomicUsize::new(0),
};
static SLABS: [SlabEntry; MAX_SLABS] = [EMPTY_ENTRY; MAX_SLABS];

fn register_slab(base: usize, len: usize, stride: usize, guard: usize) -> Option<usize> {
    sys::install_fault_handler(on_fault);
    for (i, e) in SLABS.iter().enumerate() {
        if e.len.load(Ordering::Relaxed) == 0
            && e.len
                .compare_exchange(0, usize::MAX, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            e.stride.store(stride, Ordering::Relaxed);
            e.guard.store(guard, Ordering::Relaxed);
            e.base.store(base, Ordering::Relaxed);
            e.len.store(len, Ordering::Release);
            return Some(i);
        }
    }
    None // registry full: overflows in this slab get the default report
}

fn unregister_slab(i: usize) {
    let e = &SLABS[i];
    e.base.store(0, Ordering::Relaxed);
    e.len.store(0, Ordering::Release);
}

/// Runs inside the SIGSEGV handler: async-signal-safe, no allocation.
fn on_fault(addr: usize) -> bool {
    for e in SLABS.iter() {
        let len = e.len.load(Ordering::Acquire);
        if len == 0 || len == usize::MAX {
            continue;
        }
        let base = e.base.load(Ordering::Relaxed);
        if addr < base || addr >= base + len {
            continue;
        }
        let stride = e.stride.load(Ordering::Relaxed);
        let guard = e.guard.load(Ordering::Relaxed);
        let slot = (addr - base) / stride;
        if (addr - base) % stride >= guard {
            return false; // inside a stack proper: not an overflow
        }
        let header_addr = base + (slot + 1) * stride - HEADER;
        // SAFETY: the header lies inside the same slab, above the guard; it
        // was written when the greenlet started on this stack.
        let h = unsafe { &*(header_addr as *const Header) };
        report_overflow(h);
    }
    false
}

fn report_overflow(h: &Header) -> ! {
    sys::write_stderr(b"\ngreen: greenlet '");
    if h.name_ptr.is_null() {
        sys::write_stderr(b"<unnamed>");
    } else {
        // SAFETY: the name belongs to the greenlet record, which lives while
        // the greenlet runs, and it is the greenlet running now that faulted.
        let name = unsafe { std::slice::from_raw_parts(h.name_ptr, h.name_len) };
        sys::write_stderr(name);
    }
    let mut buf = [0u8; 20];
    sys::write_stderr(b"' (id ");
    sys::write_stderr(fmt_u64(h.id, &mut buf));
    sys::write_stderr(b") has overflowed its stack of ");
    sys::write_stderr(fmt_u64(h.size as u64, &mut buf));
    sys::write_stderr(
        b" bytes\ngreen: fatal runtime error: stack overflow; raise it with Builder::stack_size or GREEN_STACK_SIZE\n",
    );
    sys::abort()
}

fn fmt_u64(mut v: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    &buf[i..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stacks_are_reused_and_guarded() {
        let mut pool = StackPool::new();
        let a = pool.get(DEFAULT_STACK_SIZE).unwrap();
        let a_slot = a.slot;
        assert!(a.size() >= DEFAULT_STACK_SIZE);
        pool.put(a, 0);
        let b = pool.get(DEFAULT_STACK_SIZE).unwrap();
        assert_eq!(b.slot, a_slot, "a freed stack is reused");
        assert_eq!(pool.in_use(), 1);
        pool.put(b, 0);
        assert_eq!(pool.pooled(), 1);
    }

    /// The last byte of a stack's usable part: written by the tests below,
    /// zero again once its memory was given back (`MADV_DONTNEED`).
    fn last_byte(stack: &PooledStack) -> *mut u8 {
        (stack.top - 1) as *mut u8
    }

    /// Takes `n` stacks and marks each with 0xA5.
    fn take_marked(pool: &mut StackPool, n: usize) -> Vec<PooledStack> {
        (0..n)
            .map(|_| {
                let s = pool.get(MIN_STACK_SIZE).unwrap();
                // SAFETY: the byte is inside the stack's usable part, which
                // this test owns while it holds the stack.
                unsafe { last_byte(&s).write_volatile(0xA5) };
                s
            })
            .collect()
    }

    #[test]
    fn cold_stacks_give_their_memory_back_before_reuse() {
        let mut pool = StackPool::new();
        let extra = DISCARD_BATCH / 2;
        let stacks = take_marked(&mut pool, FREE_HOT + extra);
        for s in stacks {
            pool.put(s, 0);
        }
        // The warm ones come back marked; every cold one (fewer than a
        // batch, so not given back yet) must have lost its mark by the time
        // it is handed out again.
        assert_eq!(pool.pooled(), FREE_HOT + extra);
        let again: Vec<PooledStack> = (0..FREE_HOT + extra)
            .map(|_| pool.get(MIN_STACK_SIZE).unwrap())
            .collect();
        // SAFETY: each byte is in a stack this test holds.
        let marks: Vec<u8> = again
            .iter()
            .map(|s| unsafe { last_byte(s).read_volatile() })
            .collect();
        assert_eq!(marks.iter().filter(|&&m| m == 0xA5).count(), FREE_HOT);
        assert_eq!(marks.iter().filter(|&&m| m == 0).count(), extra);
        for s in again {
            pool.put(s, 0);
        }
    }

    #[test]
    fn a_pool_that_outlives_a_leaked_stack_gives_back_deferred_memory() {
        let mut pool = StackPool::new();
        pool.defer_discards();
        let mut stacks = take_marked(&mut pool, FREE_HOT + 2 * DISCARD_BATCH + 1);
        let leaked = stacks.pop().unwrap();
        let cold: Vec<*mut u8> = stacks[FREE_HOT..].iter().map(last_byte).collect();
        for s in stacks {
            pool.put(s, 0);
        }
        // Deferred: two batches' worth and still nothing given back.
        // SAFETY: the slots stay mapped while the pool lives.
        assert!(cold.iter().all(|&p| unsafe { p.read_volatile() } == 0xA5));
        // A stack still lent out keeps the slabs mapped, so dropping the
        // pool gives back what the others used.
        drop(pool);
        // SAFETY: as above: the slabs were not unmapped (`leaked` is in use).
        assert!(cold.iter().all(|&p| unsafe { p.read_volatile() } == 0));
        // Never given back: its slab stays mapped, as for a greenlet leaked
        // at thread exit.
        let _ = leaked;
    }

    #[test]
    fn absurd_sizes_are_an_error_not_an_overflow() {
        let mut pool = StackPool::new();
        let e = pool.get(usize::MAX).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(pool.get(usize::MAX / 2).is_err());
        assert_eq!(pool.in_use(), 0);
    }

    #[test]
    fn formats_numbers() {
        let mut b = [0; 20];
        assert_eq!(fmt_u64(0, &mut b), b"0");
        assert_eq!(fmt_u64(u64::MAX, &mut b), b"18446744073709551615");
    }
}
