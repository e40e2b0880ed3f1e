//! The stress workload: every runtime feature at once, under load, with invariants checked at
//! the end. Shared by the `stress` example (the command line) and `tests/stress.rs` (CI's
//! bounded form).
//!
//! For `duration`, on `procs` Ps, goroutines do, all together:
//! - channel traffic: producers send numbered messages through a `select!` over two channels
//!   (one unbuffered, one buffered); consumers receive through a `select!` over both. Every
//!   message must arrive exactly once;
//! - timers: goroutines sleeping 0–2 ms in a loop;
//! - blocking calls in `goro::syscall`: `nanosleep` of 0–3 ms, and a pipe whose writer and
//!   reader both block in `write`/`read` (bytes read must equal bytes written);
//! - `lock_os_thread` churn: locked goroutines that yield, sleep, make calls and ping-pong
//!   with an unlocked partner, then unlock; and goroutines that exit while locked (each ends
//!   its thread);
//! - `read_stats` (a stop-the-world) every millisecond, `set_procs` flips to random counts
//!   every 5–30 ms, and user stop-the-worlds that check nothing else runs while they hold it;
//! - CPU-bound goroutines that reach only `checkpoint()` (preempted by sysmon and by every
//!   stop-the-world), and a `select!` with `default` polling;
//! - panics caught by `join`; `goro::sync::Mutex` counters under a `WaitGroup`.
//!
//! A watchdog thread outside the runtime watches a progress counter that every loop bumps: if
//! it stops moving for `stall`, the watchdog prints the scheduler state (an `Inspector`
//! snapshot, readable from a hung runtime) and exits with [`EXIT_STALL`].

#![allow(dead_code)] // the example and the test use different parts

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use goro::chan::{self, Receiver, Sender};

/// Exit status: an invariant was broken at the end.
pub const EXIT_INVARIANT: i32 = 1;
/// Exit status: the watchdog saw no progress for `stall` (the state was printed).
pub const EXIT_STALL: i32 = 3;
/// Exit status: progress continued but the run did not finish long after its duration.
pub const EXIT_OVERTIME: i32 = 4;

/// Prefix of the panics the workload provokes on purpose (kept out of the output).
const EXPECTED: &str = "stress: expected panic";

#[derive(Clone, Debug)]
pub struct Opts {
    pub seed: u64,
    pub duration: Duration,
    pub procs: usize,
    /// No progress for this long is a hang.
    pub stall: Duration,
}

impl Opts {
    /// Parses `--seed N --duration SECS --procs N --stall SECS` (all optional).
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Opts, String> {
        let mut o = Opts {
            seed: 1,
            duration: Duration::from_secs(2),
            procs: 4,
            stall: Duration::from_secs(10),
        };
        let mut args = args.into_iter();
        while let Some(a) = args.next() {
            let mut val = || args.next().ok_or(format!("{a} needs a value"));
            let secs = |v: String| -> Result<Duration, String> {
                v.parse::<f64>()
                    .ok()
                    .filter(|s| s.is_finite() && *s > 0.0 && *s < 1e6)
                    .map(Duration::from_secs_f64)
                    .ok_or(format!("{a}: not a positive number of seconds: {v}"))
            };
            match a.as_str() {
                "--seed" => {
                    let v = val()?;
                    o.seed = v
                        .parse()
                        .map_err(|_| format!("--seed: not a number: {v}"))?;
                }
                "--duration" => o.duration = secs(val()?)?,
                "--stall" => o.stall = secs(val()?)?,
                "--procs" => {
                    let v = val()?;
                    o.procs = v
                        .parse()
                        .ok()
                        .filter(|n| (1..=goro::MAX_PROCS).contains(n))
                        .ok_or(format!("--procs: not 1..={}: {v}", goro::MAX_PROCS))?;
                }
                _ => return Err(format!("unknown argument {a}")),
            }
        }
        Ok(o)
    }
}

/// xorshift64*: a goroutine's own random numbers, reproducible from the seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, stream: u64) -> Rng {
        Rng((seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15)).max(1))
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

/// What every goroutine shares: the stop flag, the progress counter, and the tallies.
#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    progress: AtomicU64,
    sleeps: AtomicU64,
    syscalls: AtomicU64,
    stws: AtomicU64,
    user_stws: AtomicU64,
    spins: AtomicU64,
    polls: AtomicU64,
    procs_changes: AtomicU64,
    panics_caught: AtomicU64,
    locked_exits: AtomicU64,
    lock_rounds: AtomicU64,
    mutex_rounds: AtomicU64,
}

impl Shared {
    fn tick(&self) {
        self.progress.fetch_add(1, Ordering::Relaxed);
    }
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// What a successful run reports.
#[derive(Debug)]
pub struct Report {
    pub messages: u64,
    pub pipe_bytes: u64,
    pub sleeps: u64,
    pub syscalls: u64,
    pub stws: u64,
    pub user_stws: u64,
    pub spins: u64,
    pub polls: u64,
    pub procs_changes: u64,
    pub panics_caught: u64,
    pub locked_exits: u64,
    pub lock_rounds: u64,
    pub mutex_rounds: u64,
}

fn nanosleep(d: Duration) {
    let ts = libc::timespec {
        tv_sec: d.as_secs() as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    };
    // SAFETY: a valid timespec; a null remainder is allowed.
    unsafe { libc::nanosleep(&ts, std::ptr::null_mut()) };
}

const PRODUCERS: u64 = 4;
const CONSUMERS: usize = 3;

/// A producer: sends `(id << 32) | seq` for seq = 0, 1, ... until told to stop, each through a
/// select over both channels. Returns how many it sent.
fn producer(id: u64, a: Sender<u64>, b: Sender<u64>, sh: Arc<Shared>) -> u64 {
    let mut rng = Rng::new(id, 0x5eed);
    let mut seq = 0u64;
    while !sh.stopping() {
        let msg = (id << 32) | seq;
        goro::select! {
            send(a, msg) -> r => r.expect("channel a closed early"),
            send(b, msg) -> r => r.expect("channel b closed early"),
        }
        seq += 1;
        sh.tick();
        if rng.next().is_multiple_of(64) {
            goro::gosched();
        }
    }
    seq
}

/// A consumer: receives from both channels until both are closed and drained.
fn consumer(a: Receiver<u64>, b: Receiver<u64>, sh: Arc<Shared>) -> Vec<u64> {
    let mut got = Vec::new();
    let (mut a_open, mut b_open) = (true, true);
    while a_open || b_open {
        let v = if a_open && b_open {
            goro::select! {
                recv(a) -> v => v.map_err(|_| 'a'),
                recv(b) -> v => v.map_err(|_| 'b'),
            }
        } else if a_open {
            a.recv().map_err(|_| 'a')
        } else {
            b.recv().map_err(|_| 'b')
        };
        match v {
            Ok(m) => got.push(m),
            Err('a') => a_open = false,
            Err(_) => b_open = false,
        }
        sh.tick();
    }
    got
}

/// Writes to a pipe from a goroutine blocked in `write` calls until told to stop; returns the
/// bytes written and closes the write end.
fn pipe_writer(fd: i32, seed: u64, sh: Arc<Shared>) -> u64 {
    let mut rng = Rng::new(seed, 0x917e);
    let buf = [0xa5u8; 4096];
    let mut total = 0u64;
    while !sh.stopping() {
        let n = rng.range(1, buf.len() as u64) as usize;
        // SAFETY: `buf` holds at least `n` bytes; `fd` is the pipe's open write end.
        let w = goro::syscall(|| unsafe { libc::write(fd, buf.as_ptr().cast(), n) });
        assert!(
            w > 0,
            "write to the pipe: {}",
            std::io::Error::last_os_error()
        );
        total += w as u64;
        sh.tick();
        if rng.next().is_multiple_of(8) {
            goro::sleep(Duration::from_micros(rng.range(0, 500)));
        }
    }
    // SAFETY: our own descriptor, closed once.
    unsafe { libc::close(fd) };
    total
}

/// Reads the pipe (blocking in `read`) until end of file; returns the bytes read.
fn pipe_reader(fd: i32, sh: Arc<Shared>) -> u64 {
    let mut buf = [0u8; 8192];
    let mut total = 0u64;
    loop {
        // SAFETY: `buf` is writable for its length; `fd` is the pipe's open read end.
        let r = goro::syscall(|| unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) });
        assert!(
            r >= 0,
            "read from the pipe: {}",
            std::io::Error::last_os_error()
        );
        if r == 0 {
            break;
        }
        total += r as u64;
        sh.tick();
    }
    // SAFETY: our own descriptor, closed once.
    unsafe { libc::close(fd) };
    total
}

/// A locked goroutine's round: lock, then yield / sleep / call / ping-pong with the partner,
/// then unlock. Returns after `stop`; the partner ends when the channel closes.
fn locked_churn(seed: u64, sh: Arc<Shared>) {
    let mut rng = Rng::new(seed, 0x10c4);
    let (ping_tx, ping_rx) = chan::bounded::<u64>(0);
    let (pong_tx, pong_rx) = chan::bounded::<u64>(0);
    let partner = goro::go(move || {
        while let Ok(v) = ping_rx.recv() {
            if pong_tx.send(v + 1).is_err() {
                break;
            }
        }
    });
    while !sh.stopping() {
        goro::lock_os_thread();
        // SAFETY: gettid has no preconditions.
        let tid = unsafe { libc::gettid() };
        for _ in 0..rng.range(1, 6) {
            match rng.next() % 4 {
                0 => goro::gosched(),
                1 => goro::sleep(Duration::from_micros(rng.range(0, 300))),
                2 => goro::syscall(|| nanosleep(Duration::from_micros(rng.range(0, 300)))),
                _ => {
                    let v = rng.next() >> 1;
                    ping_tx.send(v).expect("partner alive");
                    assert_eq!(pong_rx.recv(), Ok(v + 1), "ping-pong reply");
                }
            }
            // SAFETY: gettid has no preconditions.
            let now = unsafe { libc::gettid() };
            assert_eq!(now, tid, "a locked goroutine moved to another thread");
        }
        goro::unlock_os_thread();
        sh.lock_rounds.fetch_add(1, Ordering::Relaxed);
        sh.tick();
    }
    drop(ping_tx);
    partner.join().expect("partner");
}

/// Runs the workload and checks its invariants; Err says which one broke.
pub fn run(o: &Opts, rt: goro::Runtime) -> Result<Report, String> {
    let o = o.clone();
    let sh = Arc::new(Shared::default());
    start_watchdog(&o, rt.inspector(), sh.clone());
    quiet_expected_panics();
    rt.block_on(move || workload(&o, sh))
}

fn workload(o: &Opts, sh: Arc<Shared>) -> Result<Report, String> {
    let seed = o.seed;
    let mut hs: Vec<goro::JoinHandle<()>> = Vec::new();

    // Channel traffic.
    let (a_tx, a_rx) = chan::bounded::<u64>(0);
    let (b_tx, b_rx) = chan::bounded::<u64>(16);
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|id| {
            let (a, b, sh) = (a_tx.clone(), b_tx.clone(), sh.clone());
            goro::go(move || producer(id, a, b, sh))
        })
        .collect();
    drop((a_tx, b_tx));
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|_| {
            let (a, b, sh) = (a_rx.clone(), b_rx.clone(), sh.clone());
            goro::go(move || consumer(a, b, sh))
        })
        .collect();
    drop((a_rx, b_rx));

    // Timers.
    for i in 0..3 {
        let sh = sh.clone();
        hs.push(goro::go(move || {
            let mut rng = Rng::new(seed, 100 + i);
            while !sh.stopping() {
                goro::sleep(Duration::from_micros(rng.range(0, 2000)));
                sh.sleeps.fetch_add(1, Ordering::Relaxed);
                sh.tick();
            }
        }));
    }

    // Blocking calls.
    for i in 0..4 {
        let sh = sh.clone();
        hs.push(goro::go(move || {
            let mut rng = Rng::new(seed, 200 + i);
            while !sh.stopping() {
                let d = Duration::from_micros(rng.range(0, 3000));
                goro::syscall(|| nanosleep(d));
                sh.syscalls.fetch_add(1, Ordering::Relaxed);
                sh.tick();
            }
        }));
    }
    let mut fds = [0i32; 2];
    // SAFETY: `fds` has room for the two descriptors pipe() writes.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(format!("pipe: {}", std::io::Error::last_os_error()));
    }
    let reader = {
        let sh = sh.clone();
        goro::go(move || pipe_reader(fds[0], sh))
    };
    let writer = {
        let sh = sh.clone();
        goro::go(move || pipe_writer(fds[1], seed, sh))
    };

    // LockOSThread churn, and goroutines exiting locked.
    for i in 0..2 {
        let sh = sh.clone();
        hs.push(goro::go(move || {
            locked_churn(seed.wrapping_add(300 + i), sh)
        }));
    }
    {
        let sh = sh.clone();
        hs.push(goro::go(move || {
            let mut rng = Rng::new(seed, 400);
            while !sh.stopping() {
                let d = Duration::from_micros(rng.range(0, 200));
                goro::go(move || {
                    goro::lock_os_thread();
                    goro::sleep(d);
                    goro::gosched();
                    // Returns locked: the thread ends with it.
                })
                .join()
                .expect("a goroutine exiting locked");
                sh.locked_exits.fetch_add(1, Ordering::Relaxed);
                sh.tick();
                goro::sleep(Duration::from_millis(rng.range(1, 5)));
            }
        }));
    }

    // Stop-the-worlds: read_stats every millisecond, set_procs flips.
    let max_procs = (o.procs * 2).clamp(2, 8) as u64;
    {
        let sh = sh.clone();
        hs.push(goro::go(move || {
            let mut last = 0;
            while !sh.stopping() {
                goro::sleep(Duration::from_millis(1));
                let s = goro::read_stats();
                assert!(s.stws > last, "stws went from {last} to {}", s.stws);
                last = s.stws;
                sh.stws.fetch_add(1, Ordering::Relaxed);
                sh.tick();
            }
        }));
    }
    {
        let sh = sh.clone();
        let procs = o.procs;
        hs.push(goro::go(move || {
            let mut rng = Rng::new(seed, 500);
            while !sh.stopping() {
                goro::sleep(Duration::from_millis(rng.range(5, 30)));
                let n = if rng.next().is_multiple_of(2) {
                    procs
                } else {
                    rng.range(1, max_procs) as usize
                };
                goro::set_procs(n);
                if goro::procs() != n {
                    // Another stop may have changed it since; only a count out of range is wrong.
                    assert!((1..=goro::MAX_PROCS).contains(&goro::procs()));
                }
                sh.procs_changes.fetch_add(1, Ordering::Relaxed);
                sh.tick();
            }
            goro::set_procs(procs);
        }));
    }

    // CPU-bound goroutines: only checkpoint() lets them be preempted. Each counts its rounds
    // into `spins`; a user stop-the-world checks that the count stands still while it holds
    // the world (nothing else runs), and `select!` with `default` polls a channel.
    // Bursts of 1-15 ms (sysmon preempts those past 10 ms), then a short sleep, so the other
    // goroutines still get the CPU.
    let spin_count = Arc::new(AtomicU64::new(0));
    for i in 0..2 {
        let (sh, count) = (sh.clone(), spin_count.clone());
        hs.push(goro::go(move || {
            let mut rng = Rng::new(seed, 750 + i);
            let mut x = 0u64;
            while !sh.stopping() {
                let burst = Instant::now() + Duration::from_micros(rng.range(1000, 15_000));
                while Instant::now() < burst {
                    for i in 0..1000u64 {
                        x = x.wrapping_mul(31).wrapping_add(i);
                        if i % 100 == 0 {
                            goro::checkpoint();
                        }
                    }
                    count.fetch_add(1, Ordering::Relaxed);
                    sh.spins.fetch_add(1, Ordering::Relaxed);
                    sh.tick();
                }
                goro::sleep(Duration::from_micros(rng.range(1000, 5000)));
            }
            std::hint::black_box(x);
        }));
    }
    {
        let (sh, count) = (sh.clone(), spin_count.clone());
        hs.push(goro::go(move || {
            let mut rng = Rng::new(seed, 800);
            while !sh.stopping() {
                goro::sleep(Duration::from_millis(rng.range(2, 10)));
                let w = goro::stop_the_world(goro::StwReason::User);
                let before = count.load(Ordering::Relaxed);
                for _ in 0..rng.range(1, 50) {
                    std::hint::spin_loop();
                }
                let after = count.load(Ordering::Relaxed);
                drop(w);
                assert_eq!(before, after, "a goroutine ran while the world was stopped");
                sh.user_stws.fetch_add(1, Ordering::Relaxed);
                sh.tick();
            }
        }));
    }
    {
        let sh = sh.clone();
        hs.push(goro::go(move || {
            let (tx, rx) = chan::bounded::<u64>(1);
            let mut rng = Rng::new(seed, 900);
            let (mut sent, mut got) = (0u64, 0u64);
            while !sh.stopping() {
                let v = rng.next();
                goro::select! {
                    send(tx, v) -> r => { r.expect("open"); sent += 1; },
                    recv(rx) -> r => { r.expect("open"); got += 1; },
                    default => goro::gosched(),
                }
                let polls = sh.polls.fetch_add(1, Ordering::Relaxed) + 1;
                sh.tick();
                if polls.is_multiple_of(256) {
                    goro::sleep(Duration::from_micros(rng.range(0, 1000)));
                }
            }
            got += rx.try_recv().map_or(0, |_| 1);
            assert_eq!(
                sent, got,
                "select with default: sent {sent}, received {got}"
            );
        }));
    }

    // Panics caught by join.
    {
        let sh = sh.clone();
        hs.push(goro::go(move || {
            let mut rng = Rng::new(seed, 600);
            while !sh.stopping() {
                let k = rng.next();
                let h = goro::go(move || {
                    if k.is_multiple_of(3) {
                        goro::gosched();
                    }
                    panic!("{EXPECTED} {k}");
                });
                match h.join() {
                    Err(e) => {
                        let msg = e
                            .downcast_ref::<String>()
                            .map(String::as_str)
                            .unwrap_or_default();
                        assert!(msg.starts_with(EXPECTED), "unexpected panic: {msg}");
                    }
                    Ok(()) => panic!("a panicking goroutine joined Ok"),
                }
                sh.panics_caught.fetch_add(1, Ordering::Relaxed);
                sh.tick();
                goro::sleep(Duration::from_millis(1));
            }
        }));
    }

    // Mutex and WaitGroup.
    {
        let sh = sh.clone();
        hs.push(goro::go(move || {
            let mut rng = Rng::new(seed, 700);
            while !sh.stopping() {
                const WORKERS: u64 = 6;
                const ADDS: u64 = 50;
                let counter = Arc::new(goro::sync::Mutex::new(0u64));
                let wg = goro::sync::WaitGroup::new();
                wg.add(WORKERS as i64);
                for _ in 0..WORKERS {
                    let (counter, wg) = (counter.clone(), wg.clone());
                    let yield_every = rng.range(1, 10);
                    goro::go(move || {
                        for j in 0..ADDS {
                            *counter.lock() += 1;
                            if j % yield_every == 0 {
                                goro::gosched();
                            }
                        }
                        wg.done();
                    });
                }
                wg.wait();
                let got = *counter.lock();
                assert_eq!(got, WORKERS * ADDS, "mutex counter");
                sh.mutex_rounds.fetch_add(1, Ordering::Relaxed);
                sh.tick();
            }
        }));
    }

    goro::sleep(o.duration);
    sh.stop.store(true, Ordering::Relaxed);

    // Collect, checking every invariant.
    let mut errors = Vec::new();
    for h in hs {
        if let Err(e) = h.join() {
            errors.push(format!("a worker panicked: {}", panic_text(&*e)));
        }
    }
    let sent: Vec<u64> = producers
        .into_iter()
        .map(|h| {
            h.join()
                .unwrap_or_else(|e| panic!("producer: {}", panic_text(&*e)))
        })
        .collect();
    let mut got: Vec<u64> = Vec::new();
    for h in consumers {
        match h.join() {
            Ok(v) => got.extend(v),
            Err(e) => errors.push(format!("a consumer panicked: {}", panic_text(&*e))),
        }
    }
    got.sort_unstable();
    let mut want: Vec<u64> = sent
        .iter()
        .enumerate()
        .flat_map(|(id, &n)| (0..n).map(move |s| ((id as u64) << 32) | s))
        .collect();
    want.sort_unstable();
    if got != want {
        let dups = got.windows(2).filter(|w| w[0] == w[1]).count();
        errors.push(format!(
            "channel messages: sent {}, received {} ({} duplicated)",
            want.len(),
            got.len(),
            dups
        ));
    }
    let written = writer.join().map_err(|e| panic_text(&*e))?;
    let read = reader.join().map_err(|e| panic_text(&*e))?;
    if written != read {
        errors.push(format!("pipe: wrote {written} bytes, read {read}"));
    }

    // Every stop-the-world finished, every goroutine but this one is gone.
    let s = goro::read_stats();
    if s.procs != o.procs {
        errors.push(format!("P count {} after restoring {}", s.procs, o.procs));
    }
    let mine = sh.stws.load(Ordering::Relaxed)
        + sh.procs_changes.load(Ordering::Relaxed)
        + sh.user_stws.load(Ordering::Relaxed);
    if s.stws < mine {
        errors.push(format!("stws {} < the {mine} this run made", s.stws));
    }
    let mut live = s.goroutines_live;
    for _ in 0..1000 {
        if live == 1 {
            break;
        }
        // A joined goroutine finishes exiting just after its result is delivered.
        goro::sleep(Duration::from_millis(1));
        live = goro::read_stats().goroutines_live;
    }
    if live != 1 {
        errors.push(format!("{live} goroutines live at the end, want 1"));
    }

    if !errors.is_empty() {
        return Err(errors.join("; "));
    }
    Ok(Report {
        messages: got.len() as u64,
        pipe_bytes: read,
        sleeps: sh.sleeps.load(Ordering::Relaxed),
        syscalls: sh.syscalls.load(Ordering::Relaxed),
        stws: sh.stws.load(Ordering::Relaxed),
        user_stws: sh.user_stws.load(Ordering::Relaxed),
        spins: sh.spins.load(Ordering::Relaxed),
        polls: sh.polls.load(Ordering::Relaxed),
        procs_changes: sh.procs_changes.load(Ordering::Relaxed),
        panics_caught: sh.panics_caught.load(Ordering::Relaxed),
        locked_exits: sh.locked_exits.load(Ordering::Relaxed),
        lock_rounds: sh.lock_rounds.load(Ordering::Relaxed),
        mutex_rounds: sh.mutex_rounds.load(Ordering::Relaxed),
    })
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(non-string panic)".into())
}

fn quiet_expected_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info
            .payload_as_str()
            .is_some_and(|m| m.starts_with(EXPECTED))
        {
            return;
        }
        previous(info);
    }));
}

/// Watches `progress` from a plain thread; on a stall prints the scheduler state and exits.
fn start_watchdog(o: &Opts, insp: goro::Inspector, sh: Arc<Shared>) {
    let (stall, overtime) = (o.stall, o.duration + o.stall * 3);
    let desc = format!(
        "seed {} procs {} duration {:?}",
        o.seed, o.procs, o.duration
    );
    std::thread::Builder::new()
        .name("stress-watchdog".into())
        .spawn(move || {
            let start = Instant::now();
            let mut last = sh.progress.load(Ordering::Relaxed);
            let mut since = Instant::now();
            loop {
                std::thread::sleep(Duration::from_millis(50));
                let now = sh.progress.load(Ordering::Relaxed);
                if now != last {
                    last = now;
                    since = Instant::now();
                }
                let (code, why) = if since.elapsed() >= stall {
                    (EXIT_STALL, format!("no progress for {stall:?}"))
                } else if start.elapsed() >= overtime {
                    (EXIT_OVERTIME, format!("not finished after {overtime:?}"))
                } else {
                    continue;
                };
                let snap = insp.snapshot();
                eprintln!("stress: HANG ({desc}): {why}");
                eprintln!(
                    "stress: P blocking the stop-the-world: {:?}",
                    snap.unstopped_ps()
                );
                eprintln!("stress: scheduler state:\n{snap:#?}");
                std::process::exit(code);
            }
        })
        .expect("start the watchdog thread");
}
