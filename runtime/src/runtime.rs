//! `Runtime`: building one and running a main goroutine on it.

use std::sync::Arc;

use crate::sched::{self, Sched, m};

/// Default goroutine stack: 256 KiB of address space; only touched pages cost memory.
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;

/// Errors building a runtime.
#[derive(Debug)]
pub enum Error {
    /// `procs` was 0 or above the maximum.
    InvalidProcs(usize),
    /// `GOROMAXPROCS` or `GORODEBUG` is set to something we cannot use.
    InvalidEnv { var: &'static str, value: String },
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::InvalidProcs(n) => {
                write!(f, "invalid P count {n}: must be 1..={}", sched::MAX_PROCS)
            }
            Error::InvalidEnv { var, value } => write!(f, "invalid {var}={value:?}"),
        }
    }
}

impl std::error::Error for Error {}

/// Configures a [`Runtime`].
#[derive(Debug, Clone, Default)]
pub struct Builder {
    procs: Option<usize>,
    stack_size: Option<usize>,
    legacy_template_thread: Option<bool>,
    widen_template_race: Option<std::time::Duration>,
    deadlock_detection: Option<bool>,
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

    /// Diagnostics aid, off by default: start the template thread in the pre-fix order of
    /// golang/go#38931, so the stop-the-world hang it caused can be reproduced for the tools.
    /// Also set by `GORODEBUG=legacytemplatethread=1`. Never use it in production.
    pub fn legacy_template_thread(mut self, on: bool) -> Self {
        self.legacy_template_thread = Some(on);
        self
    }

    /// Fault injection, off by default: hold the window between setting the template-thread
    /// flag and creating the thread open for `d`, passing safepoints. With the legacy order
    /// the #38931 hang then reproduces reliably; with the fix it only delays one stop-the-world.
    /// Also set by `GORODEBUG=templaterace=widen`.
    pub fn widen_template_race(mut self, d: std::time::Duration) -> Self {
        self.widen_template_race = Some(d);
        self
    }

    /// Report "all goroutines are asleep - deadlock!" and exit with status 2 when no goroutine
    /// can ever run again (default on, as in Go). Turn it off when goroutines wait for plain
    /// threads outside the runtime to wake them.
    pub fn deadlock_detection(mut self, on: bool) -> Self {
        self.deadlock_detection = Some(on);
        self
    }

    pub fn build(self) -> Result<Runtime, Error> {
        let debug = GoroDebug::from_env()?;
        let config = sched::Config {
            legacy_template_thread: self
                .legacy_template_thread
                .unwrap_or(debug.legacy_template_thread),
            widen_template_race: self.widen_template_race.or(debug.widen_template_race),
            deadlock_detection: self.deadlock_detection.unwrap_or(true),
        };
        let procs = match self.procs {
            Some(n) => n,
            None => match std::env::var("GOROMAXPROCS") {
                Ok(v) => match v.trim().parse::<usize>() {
                    Ok(n) if n > 0 => n,
                    _ => {
                        return Err(Error::InvalidEnv {
                            var: "GOROMAXPROCS",
                            value: v,
                        });
                    }
                },
                Err(_) => std::thread::available_parallelism().map_or(1, |n| n.get()),
            },
        };
        if procs == 0 || procs > sched::MAX_PROCS {
            return Err(Error::InvalidProcs(procs));
        }
        Ok(Runtime {
            sched: Sched::new(self.stack_size.unwrap_or(DEFAULT_STACK_SIZE), config),
            procs: procs as u32,
        })
    }
}

/// `GORODEBUG`: comma-separated `name=value` settings, as Go's `GODEBUG`. Unknown names are
/// ignored (a newer program's settings must not break an older runtime).
///
/// - `legacytemplatethread=1` — see [`Builder::legacy_template_thread`].
/// - `templaterace=widen` (20 ms) or `templaterace=<N>ms` / `<N>us` — fault injection: hold the
///   template-thread window of golang/go#38931 open that long, so legacy mode hangs reliably.
#[derive(Default)]
struct GoroDebug {
    legacy_template_thread: bool,
    widen_template_race: Option<std::time::Duration>,
}

impl GoroDebug {
    fn from_env() -> Result<GoroDebug, Error> {
        match std::env::var("GORODEBUG") {
            Ok(v) => GoroDebug::parse(&v),
            Err(_) => Ok(GoroDebug::default()),
        }
    }

    fn parse(v: &str) -> Result<GoroDebug, Error> {
        let bad = || Error::InvalidEnv {
            var: "GORODEBUG",
            value: v.to_string(),
        };
        let mut d = GoroDebug::default();
        for kv in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (k, val) = kv.split_once('=').ok_or_else(bad)?;
            match k {
                "legacytemplatethread" => {
                    d.legacy_template_thread = match val {
                        "1" => true,
                        "0" => false,
                        _ => return Err(bad()),
                    }
                }
                "templaterace" => {
                    let us = if val == "widen" {
                        20_000
                    } else if let Some(ms) = val.strip_suffix("ms") {
                        ms.parse::<u64>().map_err(|_| bad())? * 1000
                    } else if let Some(us) = val.strip_suffix("us") {
                        us.parse::<u64>().map_err(|_| bad())?
                    } else {
                        return Err(bad());
                    };
                    d.widen_template_race = Some(std::time::Duration::from_micros(us));
                }
                _ => {}
            }
        }
        Ok(d)
    }
}

/// Reads a runtime's scheduler state from any thread, even while the runtime is hung (see
/// [`crate::debug`]). Get one from [`Runtime::inspector`] before `block_on`.
#[derive(Clone)]
pub struct Inspector {
    sched: Arc<Sched>,
}

impl std::fmt::Debug for Inspector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inspector").finish_non_exhaustive()
    }
}

impl Inspector {
    pub fn snapshot(&self) -> crate::debug::SchedSnapshot {
        self.sched.debug_snapshot()
    }
}

/// A goro runtime: a set of Ps, the Ms that run them, sysmon, and the goroutines.
pub struct Runtime {
    sched: Arc<Sched>,
    procs: u32,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("procs", &self.procs)
            .finish()
    }
}

impl Runtime {
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// A handle that reads this runtime's scheduler state from any thread.
    pub fn inspector(&self) -> Inspector {
        Inspector {
            sched: self.sched.clone(),
        }
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
        match sched::start::run_main(self.sched, self.procs, main) {
            Ok(v) => v,
            Err(payload) => std::panic::resume_unwind(payload),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::GoroDebug;

    #[test]
    fn gorodebug_parses_known_settings_and_ignores_unknown_ones() {
        let d = GoroDebug::parse("legacytemplatethread=1,templaterace=widen,future=3").unwrap();
        assert!(d.legacy_template_thread);
        assert_eq!(
            d.widen_template_race,
            Some(std::time::Duration::from_millis(20))
        );
        let d = GoroDebug::parse("templaterace=250us").unwrap();
        assert_eq!(
            d.widen_template_race,
            Some(std::time::Duration::from_micros(250))
        );
        assert!(!d.legacy_template_thread);
        assert!(GoroDebug::parse("legacytemplatethread=yes").is_err());
        assert!(GoroDebug::parse("templaterace").is_err());
        assert!(GoroDebug::parse("").unwrap().widen_template_race.is_none());
    }
}
