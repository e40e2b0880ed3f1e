//! Stack overflow reports. A goroutine that runs off the bottom of its stack hits the guard
//! region below it; without help that is a bare SIGSEGV. The handler recognises a fault in the
//! current goroutine's guard region, says so, and aborts (Go: "fatal error: stack overflow").
//! Any other fault goes to the handler that was installed before ours (std's, for thread
//! guard pages), or to the default action.

use std::sync::atomic::Ordering;
use std::sync::{Once, OnceLock};

use super::m::current_m_ptr;

static INSTALL: Once = Once::new();
/// The actions installed before ours, to chain to for faults that are not ours.
static PREVIOUS_SEGV: OnceLock<libc::sigaction> = OnceLock::new();
static PREVIOUS_BUS: OnceLock<libc::sigaction> = OnceLock::new();

/// Installs the SIGSEGV/SIGBUS handler once per process.
pub(crate) fn install() {
    INSTALL.call_once(|| {
        for (sig, slot) in [
            (libc::SIGSEGV, &PREVIOUS_SEGV),
            (libc::SIGBUS, &PREVIOUS_BUS),
        ] {
            // SAFETY: a zeroed sigaction is a valid starting value; the handler has the
            // SA_SIGINFO signature. The previous action is stored before ours is installed, so
            // the handler always finds it.
            unsafe {
                let mut prev: libc::sigaction = std::mem::zeroed();
                libc::sigaction(sig, std::ptr::null(), &mut prev);
                let _ = slot.set(prev);
                let mut sa: libc::sigaction = std::mem::zeroed();
                sa.sa_sigaction = handler as *const () as usize;
                sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
                libc::sigemptyset(&mut sa.sa_mask);
                libc::sigaction(sig, &sa, std::ptr::null_mut());
            }
        }
    });
}

/// Makes sure this thread has an alternate signal stack: the handler cannot run on a stack
/// that just overflowed. Threads std creates usually have one; others get one here (leaked
/// with the thread, as std does for its own).
pub(crate) fn ensure_altstack() {
    install();
    // SAFETY: querying with a null new-stack pointer only writes `cur`.
    unsafe {
        let mut cur: libc::stack_t = std::mem::zeroed();
        if libc::sigaltstack(std::ptr::null(), &mut cur) != 0 {
            return;
        }
        if cur.ss_flags & libc::SS_DISABLE == 0 {
            return;
        }
        let size = 64 * 1024;
        let mem = libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if mem == libc::MAP_FAILED {
            return;
        }
        let st = libc::stack_t {
            ss_sp: mem,
            ss_flags: 0,
            ss_size: size,
        };
        libc::sigaltstack(&st, std::ptr::null_mut());
    }
}

extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let addr = unsafe { (*info).si_addr() } as usize;
    let m = current_m_ptr();
    if !m.is_null() {
        // SAFETY: the thread's M and its current G are alive while it runs them; only atomics
        // are read, which is async-signal-safe.
        let g = unsafe { (*m).curg.load(Ordering::Relaxed) };
        if !g.is_null() {
            // SAFETY: as above.
            let (lo, hi, id) = unsafe {
                (
                    (*g).guard_lo.load(Ordering::Relaxed),
                    (*g).guard_hi.load(Ordering::Relaxed),
                    (*g).id.load(Ordering::Relaxed),
                )
            };
            // A probe or push that skipped a little further still lands near the guard.
            if addr >= lo.saturating_sub(64 * 1024) && addr < hi {
                report_overflow(id);
            }
        }
    }
    chain(sig, info, ctx);
}

fn report_overflow(id: u64) -> ! {
    let mut buf = [0u8; 128];
    let mut w = Writer {
        buf: &mut buf,
        len: 0,
    };
    w.put(b"runtime: goroutine ");
    w.num(id);
    w.put(b" stack exceeds its limit\nfatal error: stack overflow\n");
    let len = w.len;
    // SAFETY: write(2) and abort(3) are async-signal-safe; buf is valid for len bytes.
    unsafe {
        libc::write(2, buf.as_ptr().cast(), len);
        libc::abort();
    }
}

struct Writer<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl Writer<'_> {
    fn put(&mut self, s: &[u8]) {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s[..n]);
        self.len += n;
    }
    fn num(&mut self, mut v: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.put(&digits[i..]);
    }
}

fn chain(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let slot = if sig == libc::SIGSEGV {
        &PREVIOUS_SEGV
    } else {
        &PREVIOUS_BUS
    };
    let Some(prev) = slot.get() else {
        // SAFETY: resetting a signal's disposition is async-signal-safe.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
        return;
    };
    let h = prev.sa_sigaction;
    if h == libc::SIG_DFL || h == libc::SIG_IGN {
        // Restore the default action and return: the faulting instruction re-executes and the
        // process dies of the signal, as it would have without us.
        // SAFETY: resetting a signal's disposition is async-signal-safe.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
        return;
    }
    if prev.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: the previous handler was installed with the SA_SIGINFO signature.
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            unsafe { std::mem::transmute(h) };
        f(sig, info, ctx);
    } else {
        // SAFETY: without SA_SIGINFO the handler takes only the signal number.
        let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(h) };
        f(sig);
    }
}
