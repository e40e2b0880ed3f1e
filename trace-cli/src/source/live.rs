//! The live source: loads the BPF handler, attaches it to every probe site of the target and
//! reads the ring buffer.
//!
//! Read path: the handler asks for a wake-up only once `wake_bytes` are pending (a wake-up per
//! event would cost the traced thread more than the rest of the handler); the loop also drains
//! the ring every [`DRAIN_PERIOD`], so a quiet process's events arrive within that period, and
//! reads the BPF counters then, so a loss is reported within it.

use std::num::NonZeroU32;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use aya::maps::{Array, MapData, PerCpuArray, RingBuf};
use aya::programs::UProbe;
use aya::programs::uprobe::{UProbeAttachLocation, UProbeAttachPoint, UProbeScope};
use aya::{Ebpf, EbpfLoader};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::signal::unix::{SignalKind, signal};
use tracing::{debug, info, warn};

use super::target::{HeldChild, Resolved, TargetSpec, pidfd_exited, pidfd_open, try_wait};
use crate::decode::{PStatusLayout, SeqStats, Sequencer, from_raw};
use crate::error::Error;
use crate::event::{BpfCounters, Event, Input, LossKind};
use crate::tracefile::TargetInfo;

/// How often the ring is drained and the counters read, whatever the wake-ups.
pub const DRAIN_PERIOD: Duration = Duration::from_millis(10);
/// How long events are held to be put in order (see `decode`): long enough for a thread
/// preempted between a status change and its probe on a busy machine.
pub const ORDER_WINDOW_NS: u64 = 50_000_000;

/// Which BPF program to attach.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Program {
    /// The real handler.
    Full,
    /// Returns at once: the cost floor, for benchmarks. No events.
    Floor,
}

/// Receives what the live source reads.
pub trait LiveHandler {
    /// Every event as it came off the ring, before ordering (what a recording stores).
    fn raw(&mut self, _ev: &Event) -> Result<(), Error> {
        Ok(())
    }
    /// The ordered, checked stream.
    fn input(&mut self, input: Input);
    /// The BPF counters, every drain period.
    fn counters(&mut self, _now_ns: u64, _c: &BpfCounters) -> Result<(), Error> {
        Ok(())
    }
    /// Whether to stop now (asked after each drain): `watch --exit-on-finding`.
    fn done(&self) -> bool {
        false
    }
    /// The run is over (for any reason); detaching the probes, which takes seconds, follows.
    fn ending(&mut self) {}
}

/// Why a live run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    Duration,
    Signal,
    TargetExited,
    /// The handler asked to stop ([`LiveHandler::done`]).
    Done,
}

impl EndReason {
    pub fn name(self) -> &'static str {
        match self {
            EndReason::Duration => "duration",
            EndReason::Signal => "signal",
            EndReason::TargetExited => "target_exited",
            EndReason::Done => "done",
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct RunEnd {
    pub reason: EndReason,
    /// Spawn mode: the child's exit code, or 128 + signal.
    pub target_exit: Option<i32>,
    pub counters: BpfCounters,
    pub seq: SeqStats,
    /// Ring records that were not a valid event.
    pub malformed: u64,
    pub elapsed: Duration,
    pub end_ns: u64,
    /// Spawn mode: the child's pid. It is still running unless `reason` is `TargetExited`;
    /// the caller decides its fate.
    pub child: Option<u32>,
}

/// Probes attached, target running, ring not yet read.
pub struct Live {
    ebpf: Ebpf,
    pub info: TargetInfo,
    pub sites: usize,
    pub ring_size: u32,
    /// Both clocks read just before the target was let go (spawn) or attach finished.
    pub clock: crate::tracefile::ClockBase,
    pidfd: Option<OwnedFd>,
    child: Option<u32>,
    from_start: bool,
}

/// The adaptive wake-up threshold for a ring of `ring_size` bytes: an eighth of the ring, at
/// most 64 KiB. It must stay well below the ring size, or the reader is never woken before the
/// ring fills.
pub fn wake_bytes(ring_size: u32) -> u64 {
    u64::from(ring_size / 8).min(64 << 10)
}

/// One line of an aya error chain (verifier logs span many lines: those go to `-vv`).
fn one_line(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    debug!("{s}");
    s.lines().next().unwrap_or_default().to_owned()
}

/// Blocks (or unblocks) SIGINT and SIGTERM on this thread. From attaching until the read
/// loop listens for them they are held pending, so a Ctrl-C in between still ends the run
/// cleanly (the loop sees it at once) instead of killing trace-cli with the file unfinished.
fn block_stop_signals(block: bool) {
    // SAFETY: sigemptyset/sigaddset initialise a local set; pthread_sigmask only changes this
    // thread's mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        let how = if block {
            libc::SIG_BLOCK
        } else {
            libc::SIG_UNBLOCK
        };
        libc::pthread_sigmask(how, &set, std::ptr::null_mut());
    }
}

/// Loads the BPF object and attaches `program` to every site of `target`. In spawn mode the
/// command is started, held until every probe is attached, then released.
pub fn attach(target: Resolved, ring_size: u32, program: Program) -> Result<Live, Error> {
    if let Some(missing) = crate::caps::missing_for_tracing() {
        return Err(Error::MissingCapability(missing));
    }
    block_stop_signals(true);
    let nsites =
        u32::try_from(target.sites.len()).map_err(|_| Error::Bpf("too many probe sites".into()))?;
    let wake = wake_bytes(ring_size);
    let t0 = Instant::now();
    let mut ebpf = EbpfLoader::new()
        .map_max_entries(goro_ebpf::MAP_EVENTS, ring_size)
        .map_max_entries(goro_ebpf::MAP_SPECS, nsites)
        .override_global(goro_ebpf::GLOBAL_WAKE_BYTES, &wake, true)
        .load(goro_ebpf::OBJECT)
        .map_err(|e| Error::Bpf(format!("loading the BPF programs: {}", one_line(&e))))?;
    let prog_name = match program {
        Program::Full => goro_ebpf::PROGRAM,
        Program::Floor => goro_ebpf::PROGRAM_FLOOR,
    };
    {
        let prog: &mut UProbe = ebpf
            .program_mut(prog_name)
            .ok_or_else(|| Error::Bpf(format!("the BPF object has no program {prog_name}")))?
            .try_into()
            .map_err(|e| Error::Bpf(format!("{prog_name}: {}", one_line(&e))))?;
        prog.load().map_err(|e| {
            Error::Bpf(format!("the kernel rejected {prog_name}: {}", one_line(&e)))
        })?;
    }
    {
        let map = ebpf
            .map_mut(goro_ebpf::MAP_SPECS)
            .ok_or_else(|| Error::Bpf("the BPF object has no SPECS map".into()))?;
        let mut specs: Array<_, goro_ebpf::SiteSpec> =
            Array::try_from(map).map_err(|e| Error::Bpf(format!("SPECS: {}", one_line(&e))))?;
        for (i, s) in target.sites.iter().enumerate() {
            specs
                .set(i as u32, s.spec, 0)
                .map_err(|e| Error::Bpf(format!("filling SPECS: {}", one_line(&e))))?;
        }
    }
    debug!(
        "loaded the BPF object in {:?} (ring {ring_size} bytes, wake-up at {wake})",
        t0.elapsed()
    );

    let (held, scope) = match &target.spec {
        TargetSpec::Pid(pid) => (None, UProbeScope::OneProcess(nonzero(*pid)?)),
        TargetSpec::Binary(_) => (None, UProbeScope::AllProcesses),
        TargetSpec::Spawn(cmd) => {
            let child = HeldChild::spawn(&target.attach_path, cmd, target.child_output.as_ref())?;
            let scope = UProbeScope::OneProcess(nonzero(child.pid)?);
            (Some(child), scope)
        }
    };
    let t1 = Instant::now();
    let attached = (|| {
        let prog: &mut UProbe = ebpf
            .program_mut(prog_name)
            .and_then(|p| p.try_into().ok())
            .ok_or_else(|| Error::Bpf(format!("the BPF object has no program {prog_name}")))?;
        for (i, s) in target.sites.iter().enumerate() {
            let point = UProbeAttachPoint {
                location: UProbeAttachLocation::AbsoluteOffset(s.file_offset),
                cookie: Some(i as u64),
            };
            if let Err(e) = prog.attach(point, &target.attach_path, scope) {
                // A process attached by pid may exit while its probes are being attached (the
                // kernel then refuses the rest). That is the target ending, not an error: keep
                // what is attached and let the run end at once with "target exited".
                if target.pidfd.as_ref().is_some_and(pidfd_exited) {
                    info!("the target exited while goro:{} was being attached", s.name);
                    break;
                }
                return Err(Error::Bpf(format!(
                    "attaching goro:{} at file offset {:#x} of {}: {}",
                    s.name,
                    s.file_offset,
                    target.exe,
                    one_line(&e)
                )));
            }
            debug!(
                "attached goro:{} at {:#x} (cookie {i})",
                s.name, s.file_offset
            );
        }
        Ok::<(), Error>(())
    })();
    if let Err(e) = attached {
        if let Some(child) = held {
            child.kill();
        }
        return Err(e);
    }
    info!(
        "attached {} probe sites of {} ({:?}) in {:?}",
        target.sites.len(),
        target.exe,
        scope,
        t1.elapsed()
    );
    let clock = crate::tracefile::ClockBase::now();
    let (pid, pidfd, child) = match held {
        Some(child) => {
            // Open the pidfd while the child is still held: its pid cannot be reused yet.
            let fd = pidfd_open(child.pid).ok();
            let pid = child.release()?;
            (Some(pid), fd, Some(pid))
        }
        None => (target.pid, target.pidfd, None),
    };
    let command = match &target.spec {
        TargetSpec::Spawn(cmd) => Some(
            cmd.iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
        ),
        _ => None,
    };
    Ok(Live {
        ebpf,
        info: TargetInfo {
            mode: target.spec.mode().to_owned(),
            pid,
            exe: target.exe,
            build_id: target.build_id,
            binary_catalog_version: target.binary_catalog_version,
            command,
        },
        sites: target.sites.len(),
        ring_size,
        clock,
        pidfd,
        child,
        from_start: matches!(target.spec, TargetSpec::Spawn(_)),
    })
}

fn nonzero(pid: u32) -> Result<NonZeroU32, Error> {
    NonZeroU32::new(pid).ok_or(Error::NoSuchProcess(0))
}

fn read_counters(map: &PerCpuArray<MapData, u64>) -> BpfCounters {
    let get = |c: goro_ebpf::Counter| -> u64 {
        map.get(&(c as u32), 0)
            .map(|v| v.iter().sum())
            .unwrap_or_else(|e| {
                warn!("reading BPF counter {c:?}: {e}");
                0
            })
    };
    BpfCounters {
        hits: get(goro_ebpf::Counter::Hits),
        drops: get(goro_ebpf::Counter::Drops),
        spec_misses: get(goro_ebpf::Counter::SpecMiss),
        read_errors: get(goro_ebpf::Counter::ReadError),
    }
}

impl Live {
    /// Whether each P's first status change must be its first ever (spawn mode).
    pub fn from_start(&self) -> bool {
        self.from_start
    }

    /// Reads until `duration` passes, SIGINT/SIGTERM arrives, or the target exits; then
    /// drains the ring, detaches every probe (dropping the BPF object) and returns the totals.
    pub fn run(
        self,
        duration: Option<Duration>,
        handler: &mut impl LiveHandler,
    ) -> Result<RunEnd, Error> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| Error::Bpf(format!("starting the event loop: {e}")))?;
        rt.block_on(self.run_async(duration, handler))
    }

    async fn run_async(
        mut self,
        duration: Option<Duration>,
        handler: &mut impl LiveHandler,
    ) -> Result<RunEnd, Error> {
        let bpf_err =
            |what: &str, e: &dyn std::error::Error| Error::Bpf(format!("{what}: {}", one_line(e)));
        let ring_map = self
            .ebpf
            .take_map(goro_ebpf::MAP_EVENTS)
            .ok_or_else(|| Error::Bpf("the BPF object has no EVENTS map".into()))?;
        let ring = RingBuf::try_from(ring_map).map_err(|e| bpf_err("EVENTS", &e))?;
        let counters_map = self
            .ebpf
            .take_map(goro_ebpf::MAP_COUNTERS)
            .ok_or_else(|| Error::Bpf("the BPF object has no COUNTERS map".into()))?;
        let counters: PerCpuArray<MapData, u64> =
            PerCpuArray::try_from(counters_map).map_err(|e| bpf_err("COUNTERS", &e))?;
        // SAFETY: the AsyncFd owns the RingBuf, which owns its map fd: the fd stays open and
        // the same until the AsyncFd is dropped.
        let mut ring = unsafe { AsyncFd::register_with_interest(ring, Interest::READABLE) }
            .map_err(|e| Error::Bpf(format!("waiting on the ring buffer: {}", e.into_parts().1)))?;
        let sig = |k| signal(k).map_err(|e| Error::Bpf(format!("installing signal handlers: {e}")));
        let mut sigint = sig(SignalKind::interrupt())?;
        let mut sigterm = sig(SignalKind::terminate())?;
        // Listening now: let the signals held since attaching through.
        block_stop_signals(false);
        let mut tick = tokio::time::interval(DRAIN_PERIOD);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let start = Instant::now();
        let deadline = duration.map(|d| start + d);
        let mut seq = Sequencer::new(
            PStatusLayout::from_catalog(),
            ORDER_WINDOW_NS,
            self.from_start,
        );
        let mut last = BpfCounters::default();
        let mut malformed = 0u64;
        let mut target_exit = None;
        let mut failed: Option<Error> = None;

        let drain = |rb: &mut RingBuf<MapData>,
                     seq: &mut Sequencer,
                     handler: &mut dyn FnMut(Option<&Event>, Option<Input>),
                     malformed: &mut u64| {
            while let Some(item) = rb.next() {
                match goro_ebpf::RawEvent::from_bytes(&item)
                    .as_ref()
                    .and_then(from_raw)
                {
                    Some(ev) => {
                        handler(Some(&ev), None);
                        seq.push(ev, &mut |i| handler(None, Some(i)));
                    }
                    None => *malformed += 1,
                }
            }
        };
        // Routes the drain's output to the handler, keeping the first write error.
        macro_rules! sink {
            () => {
                &mut |ev: Option<&Event>, input: Option<Input>| {
                    if let Some(ev) = ev {
                        if failed.is_none() {
                            if let Err(e) = handler.raw(ev) {
                                failed = Some(e);
                            }
                        }
                    }
                    if let Some(i) = input {
                        handler.input(i);
                    }
                }
            };
        }
        let poll_counters = |seq: &mut Sequencer,
                             handler: &mut dyn LiveHandler,
                             last: &mut BpfCounters|
         -> Result<u64, Error> {
            let now = crate::clock::monotonic_ns();
            let c = read_counters(&counters);
            let mut out = |i| handler.input(i);
            if c.drops > last.drops {
                seq.lost(c.drops - last.drops, LossKind::RingFull, &mut out);
            }
            if c.spec_misses > last.spec_misses {
                seq.lost(
                    c.spec_misses - last.spec_misses,
                    LossKind::SpecMiss,
                    &mut out,
                );
            }
            if c.drops > last.drops {
                warn!(
                    "ring buffer full: {} events dropped (--ring-size to enlarge it)",
                    c.drops - last.drops
                );
            }
            *last = c;
            seq.tick(now, &mut out);
            handler.counters(now, &c)?;
            Ok(now)
        };

        let reason = loop {
            tokio::select! {
                biased;
                _ = sigint.recv() => break EndReason::Signal,
                _ = sigterm.recv() => break EndReason::Signal,
                r = ring.readable_mut() => {
                    let mut guard = r.map_err(|e| Error::Bpf(format!("waiting on the ring buffer: {e}")))?;
                    drain(guard.get_inner_mut(), &mut seq, sink!(), &mut malformed);
                    guard.clear_ready();
                    if handler.done() {
                        break EndReason::Done;
                    }
                }
                _ = tick.tick() => {
                    drain(ring.get_mut(), &mut seq, sink!(), &mut malformed);
                    poll_counters(&mut seq, handler, &mut last)?;
                    if let Some(e) = failed.take() {
                        return Err(e);
                    }
                    if handler.done() {
                        break EndReason::Done;
                    }
                    if self.pidfd.as_ref().is_some_and(pidfd_exited) {
                        target_exit = self.child.and_then(try_wait);
                        break EndReason::TargetExited;
                    }
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        break EndReason::Duration;
                    }
                }
            }
        };
        // Detach first so no new events come, then take what the ring still holds.
        let elapsed = start.elapsed();
        handler.ending();
        let mut ring = ring.into_inner();
        // Detaching costs the kernel an RCU grace period per probe (about 0.1 s each here;
        // closing them from several threads does not help: the kernel serialises it).
        drop(self.ebpf);
        drain(&mut ring, &mut seq, sink!(), &mut malformed);
        if let Some(e) = failed.take() {
            return Err(e);
        }
        let end_ns = poll_counters(&mut seq, handler, &mut last)?;
        seq.finish(&mut |i| handler.input(i));
        if malformed > 0 {
            warn!("{malformed} ring-buffer records were not events");
        }
        Ok(RunEnd {
            reason,
            target_exit,
            counters: last,
            seq: seq.stats(),
            malformed,
            elapsed,
            end_ns,
            child: self.child,
        })
    }
}
