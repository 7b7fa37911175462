//! Linux backend of the platform contract in `sys/mod.rs`.

use std::io;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, Ordering};
use std::sync::{Once, OnceLock};

/// `MADV_GUARD_INSTALL` (Linux 6.13+): turns a range into guard pages without
/// splitting the mapping, so thousands of guards cost one VMA. Not yet in
/// the `libc` crate.
const MADV_GUARD_INSTALL: libc::c_int = 102;

/// How guard pages are installed on this kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GuardKind {
    /// `madvise(MADV_GUARD_INSTALL)`: no extra VMA per guard.
    Madvise,
    /// `mprotect(PROT_NONE)`: splits the mapping, two VMAs per stack.
    Mprotect,
}

const GUARD_UNKNOWN: u8 = 0;
const GUARD_MADVISE: u8 = 1;
const GUARD_MPROTECT: u8 = 2;
static GUARD_MODE: AtomicU8 = AtomicU8::new(GUARD_UNKNOWN);

pub(crate) fn page_size() -> usize {
    static PAGE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *PAGE.get_or_init(|| {
        // SAFETY: sysconf has no preconditions.
        let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if n > 0 {
            n as usize
        } else {
            4096
        }
    })
}

pub(crate) fn map_reserve(len: usize) -> io::Result<NonNull<u8>> {
    // SAFETY: an anonymous private mapping at an address of the kernel's
    // choosing touches no existing memory.
    let p = unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    // With transparent huge pages set to `always`, the kernel may back the
    // region with 2 MiB pages and make every stack wholly resident (128 KiB
    // per greenlet instead of the page or two it touches). Best effort: a
    // kernel without THP rejects the advice and needs none.
    // SAFETY: `p` is the mapping just created, `len` bytes long.
    unsafe { libc::madvise(p, len, libc::MADV_NOHUGEPAGE) };
    NonNull::new(p.cast()).ok_or_else(|| io::Error::other("mmap returned null"))
}

/// # Safety
/// `ptr..ptr+len` must be a region returned by `map_reserve` that nothing
/// uses any more.
pub(crate) unsafe fn unmap(ptr: NonNull<u8>, len: usize) {
    // SAFETY: the caller guarantees the region is ours and unused.
    unsafe { libc::munmap(ptr.as_ptr().cast(), len) };
}

/// # Safety
/// The range must be page-aligned, inside a `map_reserve` region, and not
/// hold live data.
pub(crate) unsafe fn install_guard(ptr: NonNull<u8>, len: usize) -> io::Result<GuardKind> {
    if GUARD_MODE.load(Ordering::Relaxed) != GUARD_MPROTECT {
        // SAFETY: the caller guarantees the range is ours and unused.
        let r = unsafe { libc::madvise(ptr.as_ptr().cast(), len, MADV_GUARD_INSTALL) };
        if r == 0 {
            GUARD_MODE.store(GUARD_MADVISE, Ordering::Relaxed);
            return Ok(GuardKind::Madvise);
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINVAL) {
            return Err(err);
        }
        // EINVAL: the kernel predates MADV_GUARD_INSTALL.
        GUARD_MODE.store(GUARD_MPROTECT, Ordering::Relaxed);
    }
    // SAFETY: as above.
    let r = unsafe { libc::mprotect(ptr.as_ptr().cast(), len, libc::PROT_NONE) };
    if r == 0 {
        Ok(GuardKind::Mprotect)
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Most ranges one `process_madvise` call takes (`UIO_MAXIOV`).
const MAX_IOV: usize = 1024;

/// A pidfd of this process for `process_madvise`, reopened after a fork
/// (a child must not advise its parent's memory). `None` if the kernel has
/// no pidfds.
fn self_pidfd() -> Option<libc::c_int> {
    use std::sync::atomic::AtomicI64;
    /// `pid << 32 | (fd + 1)` (0 in the low half: no pidfd), or -1.
    static CACHED: AtomicI64 = AtomicI64::new(-1);
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    let c = CACHED.load(Ordering::Relaxed);
    if c >= 0 && (c >> 32) as libc::pid_t == pid {
        return ((c & 0xffff_ffff) as libc::c_int)
            .checked_sub(1)
            .filter(|&fd| fd >= 0);
    }
    // SAFETY: pidfd_open of our own pid only creates a descriptor (always
    // close-on-exec).
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let new = (i64::from(pid) << 32) | (fd.max(-1) + 1);
    match CACHED.compare_exchange(c, new, Ordering::Relaxed, Ordering::Relaxed) {
        Ok(_) => (fd >= 0).then_some(fd as libc::c_int),
        Err(_) => {
            // Another thread cached its own first: use that one.
            if fd >= 0 {
                // SAFETY: `fd` is the descriptor just opened, used nowhere else.
                unsafe { libc::close(fd as libc::c_int) };
            }
            self_pidfd()
        }
    }
}

/// `advice` for `len` bytes at each of `starts`, up to [`MAX_IOV`] ranges
/// per `process_madvise` call. `false` if the kernel refused (no
/// `process_madvise`, or not this advice); the caller then falls back.
///
/// # Safety
/// Every range must be valid for `advice` (see its callers).
unsafe fn madvise_batched(starts: &[NonNull<u8>], len: usize, advice: libc::c_int) -> bool {
    let Some(fd) = self_pidfd() else {
        return false;
    };
    // On the heap: this may run on a small greenlet stack.
    let mut iov: Vec<libc::iovec> = Vec::with_capacity(starts.len().min(MAX_IOV));
    for chunk in starts.chunks(MAX_IOV) {
        iov.clear();
        iov.extend(chunk.iter().map(|s| libc::iovec {
            iov_base: s.as_ptr().cast(),
            iov_len: len,
        }));
        // SAFETY: `iov` holds `chunk.len()` initialised entries; the caller
        // guarantees the ranges.
        let r = unsafe {
            libc::syscall(
                libc::SYS_process_madvise,
                fd,
                iov.as_ptr(),
                iov.len(),
                advice,
                0,
            )
        };
        if r < 0 || r as usize != chunk.len() * len {
            return false;
        }
    }
    true
}

/// [`install_guard`] for many ranges of `len` bytes, with one syscall per
/// 1,024 ranges where the kernel allows. Installing a guard twice is
/// harmless, so a refused batch is simply redone range by range.
///
/// # Safety
/// As for [`install_guard`], for every range.
pub(crate) unsafe fn install_guards(starts: &[NonNull<u8>], len: usize) -> io::Result<()> {
    if GUARD_MODE.load(Ordering::Relaxed) == GUARD_MADVISE
        // SAFETY: the caller guarantees the ranges.
        && unsafe { madvise_batched(starts, len, MADV_GUARD_INSTALL) }
    {
        return Ok(());
    }
    for &s in starts {
        // SAFETY: as above.
        unsafe { install_guard(s, len)? };
    }
    Ok(())
}

/// `MADV_POPULATE_WRITE` (Linux 5.14+): fault pages in writable, as a
/// write would, without the trap.
const MADV_POPULATE_WRITE: libc::c_int = 23;

/// Best effort: commits the `len` bytes at each of `starts` now, in one
/// syscall per 1,024 ranges, instead of one page fault each later. Does
/// nothing where the kernel cannot batch it (the pages then fault in on
/// first use, as without it).
///
/// # Safety
/// The ranges must be inside `map_reserve` regions (their contents are
/// unchanged).
pub(crate) unsafe fn populate(starts: &[NonNull<u8>], len: usize) {
    // SAFETY: the caller guarantees the ranges; populating keeps contents.
    unsafe { madvise_batched(starts, len, MADV_POPULATE_WRITE) };
}

/// # Safety
/// The range must be inside a `map_reserve` region and hold no live data.
pub(crate) unsafe fn discard(ptr: NonNull<u8>, len: usize) {
    // SAFETY: the caller guarantees the range holds nothing live; guard
    // markers survive MADV_DONTNEED.
    unsafe { libc::madvise(ptr.as_ptr().cast(), len, libc::MADV_DONTNEED) };
}

/// Set once the kernel refused `MADV_DONTNEED` through `process_madvise`
/// (before Linux 6.13 it takes only a few kinds of advice), so
/// [`discard_many`] stops asking.
static DISCARD_BATCH_REFUSED: AtomicBool = AtomicBool::new(false);

/// [`discard`] for many ranges of `len` bytes, with one syscall per 1,024
/// ranges where the kernel allows (and, on kernels that batch it, one TLB
/// flush per call instead of one per range), else range by range.
///
/// # Safety
/// As for [`discard`], for every range.
pub(crate) unsafe fn discard_many(starts: &[NonNull<u8>], len: usize) {
    if !DISCARD_BATCH_REFUSED.load(Ordering::Relaxed) {
        // SAFETY: the caller guarantees the ranges.
        if unsafe { madvise_batched(starts, len, libc::MADV_DONTNEED) } {
            return;
        }
        DISCARD_BATCH_REFUSED.store(true, Ordering::Relaxed);
    }
    for &s in starts {
        // SAFETY: as above; discarding a range twice is harmless.
        unsafe { discard(s, len) };
    }
}

/// Which guard mechanism this process uses, once a guard has been installed.
pub(crate) fn guard_kind() -> Option<GuardKind> {
    match GUARD_MODE.load(Ordering::Relaxed) {
        GUARD_MADVISE => Some(GuardKind::Madvise),
        GUARD_MPROTECT => Some(GuardKind::Mprotect),
        _ => None,
    }
}

type FaultFn = fn(usize) -> bool;
static FAULT_FN: AtomicPtr<()> = AtomicPtr::new(ptr::null_mut());
/// The handlers that were in place before ours, saved before ours goes in.
static OLD_SEGV: OnceLock<SavedAction> = OnceLock::new();
static OLD_BUS: OnceLock<SavedAction> = OnceLock::new();

struct SavedAction(libc::sigaction);
// SAFETY: a sigaction is plain data (a handler address, flags and a mask); it
// is written once before it is shared and only read afterwards.
unsafe impl Sync for SavedAction {}
// SAFETY: as above.
unsafe impl Send for SavedAction {}

const fn zeroed_sigaction() -> libc::sigaction {
    // SAFETY: sigaction is a plain C struct for which all-zero is a valid
    // value (SIG_DFL, empty mask, no flags).
    unsafe { std::mem::MaybeUninit::zeroed().assume_init() }
}

extern "C" fn on_fault(sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let addr = unsafe { (*info).si_addr() } as usize;
    let f = FAULT_FN.load(Ordering::Acquire);
    if !f.is_null() {
        // SAFETY: FAULT_FN only ever holds a `FaultFn` stored by
        // `install_fault_handler`.
        let f: FaultFn = unsafe { std::mem::transmute::<*mut (), FaultFn>(f) };
        if f(addr) {
            return;
        }
    }
    // Not ours: put the previous handler back and return; the faulting
    // instruction runs again and the previous handler (std's stack-overflow
    // report, or the default action) deals with it.
    let old = if sig == libc::SIGSEGV {
        OLD_SEGV.get()
    } else {
        OLD_BUS.get()
    };
    let dfl = SavedAction(zeroed_sigaction());
    let old = old.unwrap_or(&dfl);
    // SAFETY: `old` is a valid sigaction saved by `install_fault_handler`
    // (or the zeroed default action).
    unsafe { libc::sigaction(sig, &old.0, ptr::null_mut()) };
}

/// Installs `f` as the first look at every SIGSEGV/SIGBUS, once per process.
pub(crate) fn install_fault_handler(f: FaultFn) {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        FAULT_FN.store(f as *mut (), Ordering::Release);
        for (sig, saved) in [(libc::SIGSEGV, &OLD_SEGV), (libc::SIGBUS, &OLD_BUS)] {
            let mut old = zeroed_sigaction();
            // SAFETY: a query (null new action) only writes into `old`.
            unsafe { libc::sigaction(sig, ptr::null(), &mut old) };
            let _ = saved.set(SavedAction(old));
            let mut action = zeroed_sigaction();
            action.sa_sigaction = on_fault as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            // SAFETY: `action` is a valid, fully initialised sigaction whose
            // handler is async-signal-safe.
            unsafe {
                libc::sigemptyset(&mut action.sa_mask);
                libc::sigaction(sig, &action, ptr::null_mut());
            }
        }
    });
}

/// An alternate signal stack this module allocated for the current thread.
#[derive(Debug)]
pub(crate) struct AltStack {
    ptr: NonNull<u8>,
    len: usize,
}

impl Drop for AltStack {
    fn drop(&mut self) {
        // SAFETY: disable the alternate stack before unmapping it; both calls
        // only concern this thread and memory this struct owns.
        unsafe {
            let disable = libc::stack_t {
                ss_sp: ptr::null_mut(),
                ss_flags: libc::SS_DISABLE,
                ss_size: 0,
            };
            libc::sigaltstack(&disable, ptr::null_mut());
            unmap(self.ptr, self.len);
        }
    }
}

/// Makes sure a stack overflow on this thread can be reported: the handler
/// needs a stack of its own. Returns the stack it allocated, if any.
pub(crate) fn ensure_alt_stack() -> Option<AltStack> {
    // SAFETY: querying the current alternate stack writes into `old` only.
    unsafe {
        let mut old: libc::stack_t = std::mem::zeroed();
        if libc::sigaltstack(ptr::null(), &mut old) != 0 {
            return None;
        }
        if old.ss_flags & libc::SS_DISABLE == 0 {
            return None; // std (or the user) already gave this thread one
        }
        let len = (libc::SIGSTKSZ.max(16 * 1024) + page_size() - 1) & !(page_size() - 1);
        let ptr = map_reserve(len).ok()?;
        let new = libc::stack_t {
            ss_sp: ptr.as_ptr().cast(),
            ss_flags: 0,
            ss_size: len,
        };
        if libc::sigaltstack(&new, ptr::null_mut()) != 0 {
            unmap(ptr, len);
            return None;
        }
        Some(AltStack { ptr, len })
    }
}

/// Number of threads in this process, from `/proc/self/stat`.
pub(crate) fn thread_count() -> Option<usize> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces; fields after its closing
    // parenthesis are plain. num_threads is field 20, the 18th after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(17)?.parse().ok()
}

/// Async-signal-safe write of `bytes` to standard error.
pub(crate) fn write_stderr(bytes: &[u8]) {
    // SAFETY: write(2) is async-signal-safe; the buffer is valid for its length.
    unsafe { libc::write(2, bytes.as_ptr().cast(), bytes.len()) };
}

/// Ends the process at once (async-signal-safe).
pub(crate) fn abort() -> ! {
    // SAFETY: abort has no preconditions.
    unsafe { libc::abort() }
}
