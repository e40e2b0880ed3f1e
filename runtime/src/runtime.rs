//! `Runtime`: building one and running a main goroutine on it.

use std::sync::{Arc, Mutex};

use crate::sched::{self, m, Sched};

/// Default goroutine stack: 256 KiB of address space; only touched pages cost memory.
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;

/// Errors building a runtime.
#[derive(Debug)]
pub enum Error {
    /// `procs` was 0 or above the maximum.
    InvalidProcs(usize),
    /// `GOROMAXPROCS` was set but is not a positive integer.
    InvalidEnv { var: &'static str, value: String },
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::InvalidProcs(n) => {
                write!(f, "invalid P count {n}: must be 1..={}", sched::MAX_PROCS)
            }
            Error::InvalidEnv { var, value } => {
                write!(f, "invalid {var}={value:?}: must be a positive integer")
            }
        }
    }
}

impl std::error::Error for Error {}

/// Configures a [`Runtime`].
#[derive(Debug, Clone, Default)]
pub struct Builder {
    procs: Option<usize>,
    stack_size: Option<usize>,
}

impl Builder {
    /// The number of Ps (GOMAXPROCS). Default: `GOROMAXPROCS` from the environment, else the
    /// available parallelism.
    pub fn procs(mut self, n: usize) -> Self {
        self.procs = Some(n);
        self
    }

    /// Usable stack bytes per goroutine (rounded up to pages, at least 16 KiB). Stacks do not
    /// grow: a goroutine that needs more dies with "stack overflow".
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    pub fn build(self) -> Result<Runtime, Error> {
        let procs = match self.procs {
            Some(n) => n,
            None => match std::env::var("GOROMAXPROCS") {
                Ok(v) => match v.trim().parse::<usize>() {
                    Ok(n) if n > 0 => n,
                    _ => return Err(Error::InvalidEnv { var: "GOROMAXPROCS", value: v }),
                },
                Err(_) => std::thread::available_parallelism().map_or(1, |n| n.get()),
            },
        };
        if procs == 0 || procs > sched::MAX_PROCS {
            return Err(Error::InvalidProcs(procs));
        }
        Ok(Runtime {
            sched: Sched::new(self.stack_size.unwrap_or(DEFAULT_STACK_SIZE)),
            procs: procs as u32,
        })
    }
}

/// A goro runtime: a set of Ps, the Ms that run them, sysmon, and the goroutines.
pub struct Runtime {
    sched: Arc<Sched>,
    procs: u32,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("procs", &self.procs).finish()
    }
}

impl Runtime {
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// Runs `main` as the main goroutine and returns its result once it finishes. The calling
    /// thread becomes M0 and schedules goroutines too. When the main goroutine returns, the
    /// runtime shuts down: goroutines still running are abandoned, as Go abandons them when
    /// `main` returns. A panic in the main goroutine is resumed on the caller.
    ///
    /// # Panics
    /// If called on a thread that is already running a goro runtime.
    pub fn block_on<T, F>(self, main: F) -> T
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        assert!(
            m::current_m().is_none(),
            "goro: block_on called from inside a goro runtime"
        );
        let sched = self.sched;
        let m0 = sched.alloc_m();
        m::set_current_m(m0);
        m0.tid.store(m::gettid(), std::sync::atomic::Ordering::Relaxed);
        sched::signal::ensure_altstack();
        let with_work = sched.inner.with(|s| sched.procresize(s, m0, self.procs));
        debug_assert!(with_work.is_empty());

        let slot: Arc<Mutex<Option<std::thread::Result<T>>>> = Arc::new(Mutex::new(None));
        let out = slot.clone();
        let sd = sched.clone();
        let p0 = m0.p().expect("procresize gave M0 a P");
        sched.newproc(m0, p0, move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(main));
            *out.lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
            sd.begin_shutdown();
        });
        sched.start_sysmon();
        sched.schedule(m0);
        m::set_current_m(std::ptr::null());
        let r = slot
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .expect("the main goroutine stored its result before shutdown");
        match r {
            Ok(v) => v,
            Err(payload) => std::panic::resume_unwind(payload),
        }
    }
}
