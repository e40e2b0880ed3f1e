//! Goroutine stacks: fixed-size, guard-paged, carved from large slabs, reused with their G.
//!
//! Why slabs and `MADV_GUARD_INSTALL`: a guard page made with `mprotect` splits the mapping,
//! so every stack costs two VMAs and the default `vm.max_map_count` (65530) caps a process at
//! ~32k live goroutines. Guard regions installed with `madvise(MADV_GUARD_INSTALL)` (Linux
//! 6.13+) fault like a guard page without splitting the VMA, so a slab of stacks stays one
//! mapping. On older kernels we fall back to `mprotect` and live with the limit.
//!
//! Stacks are never returned to the OS while the runtime lives: a dead goroutine keeps its
//! stack in the G free list, so spawning reuses warm memory (Go's gFree lists).

use std::sync::atomic::{AtomicBool, Ordering};

use super::lock::Locked;

/// Not yet in every libc crate release; the value is the kernel's ABI.
const MADV_GUARD_INSTALL: libc::c_int = 102;

/// Stacks per slab: a slab is one mmap (and, with guard regions, one VMA).
const SLAB_STACKS: usize = 64;

pub(crate) fn page_size() -> usize {
    // SAFETY: sysconf has no memory-safety preconditions.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize }
}

/// One goroutine stack: `[limit, limit + guard)` is the guard region, the usable stack is
/// `[limit + guard, base)`; it grows down from `base`.
pub(crate) struct GStack {
    base: usize,
    limit: usize,
    guard: usize,
}

impl GStack {
    /// The guard region: a fault here is this goroutine's stack overflow.
    pub(crate) fn guard_range(&self) -> (usize, usize) {
        (self.limit, self.limit + self.guard)
    }
}

// SAFETY: `base`/`limit` bound a mapping owned by the StackPool that outlives every GStack it
// hands out (the pool lives in the runtime, which every thread using a stack keeps alive); the
// region includes a guard at its low end and at least MIN_STACK_SIZE usable bytes; both
// addresses are page-aligned, which satisfies STACK_ALIGNMENT.
unsafe impl corosensei::stack::Stack for GStack {
    fn base(&self) -> corosensei::stack::StackPointer {
        corosensei::stack::StackPointer::new(self.base).expect("stack base is non-null")
    }
    fn limit(&self) -> corosensei::stack::StackPointer {
        corosensei::stack::StackPointer::new(self.limit).expect("stack limit is non-null")
    }
}

struct Slabs {
    /// Every slab mapped: (address, length), unmapped when the pool drops.
    all: Vec<(usize, usize)>,
    /// Next unused stack in the newest slab, and how many remain there.
    next: usize,
    left: usize,
}

pub(crate) struct StackPool {
    usable: usize,
    guard: usize,
    slabs: Locked<Slabs>,
}

static GUARD_REGIONS_UNSUPPORTED: AtomicBool = AtomicBool::new(false);

impl StackPool {
    pub(crate) fn new(usable: usize) -> StackPool {
        let page = page_size();
        let usable = usable.max(16 * 1024).next_multiple_of(page);
        StackPool {
            usable,
            guard: page,
            slabs: Locked::new(Slabs {
                all: Vec::new(),
                next: 0,
                left: 0,
            }),
        }
    }

    /// A fresh stack. Failing to map memory is fatal, as in Go ("out of memory").
    pub(crate) fn alloc(&self) -> GStack {
        let each = self.usable + self.guard;
        let low = self.slabs.with(|s| {
            if s.left == 0 {
                let len = each * SLAB_STACKS;
                // SAFETY: an anonymous private mapping at a kernel-chosen address aliases
                // nothing; the result is checked before use.
                let addr = unsafe {
                    libc::mmap(
                        std::ptr::null_mut(),
                        len,
                        libc::PROT_READ | libc::PROT_WRITE,
                        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                        -1,
                        0,
                    )
                };
                if addr == libc::MAP_FAILED {
                    let err = std::io::Error::last_os_error();
                    super::fatal(&format!("cannot map goroutine stacks ({len} bytes): {err}"));
                }
                s.all.push((addr as usize, len));
                s.next = addr as usize;
                s.left = SLAB_STACKS;
            }
            let low = s.next;
            s.next += each;
            s.left -= 1;
            low
        });
        self.install_guard(low);
        GStack {
            base: low + each,
            limit: low,
            guard: self.guard,
        }
    }

    fn install_guard(&self, low: usize) {
        if !GUARD_REGIONS_UNSUPPORTED.load(Ordering::Relaxed) {
            // SAFETY: [low, low+guard) lies inside a slab this pool mapped and no stack uses
            // that page: it is the bottom of the stack being handed out.
            let r =
                unsafe { libc::madvise(low as *mut libc::c_void, self.guard, MADV_GUARD_INSTALL) };
            if r == 0 {
                return;
            }
            GUARD_REGIONS_UNSUPPORTED.store(true, Ordering::Relaxed);
        }
        // SAFETY: as above; PROT_NONE on a page nobody uses.
        let r = unsafe { libc::mprotect(low as *mut libc::c_void, self.guard, libc::PROT_NONE) };
        if r != 0 {
            let err = std::io::Error::last_os_error();
            super::fatal(&format!("cannot install a stack guard page: {err}"));
        }
    }
}

impl Drop for StackPool {
    fn drop(&mut self) {
        self.slabs.with(|s| {
            for &(addr, len) in &s.all {
                // SAFETY: the pool is dropped only when the runtime is, after every thread that
                // could run on these stacks has let go of the runtime; the mapping is ours.
                unsafe { libc::munmap(addr as *mut libc::c_void, len) };
            }
        });
    }
}
