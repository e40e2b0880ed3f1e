//! A server-like workload, for measuring what being watched costs on something realistic
//! rather than on a microbenchmark or the deliberately probe-dense `stress` run.
//!
//! ```text
//! server_mix [--duration SECS] [--procs N] [--clients N] [--workers N]
//! ```
//!
//! Clients send requests over one shared channel and wait for the answer on their own reply
//! channel, as RPC callers do; workers take requests, compute (a few microseconds of hashing
//! the payload), and on some requests wait on a timer (a backend's latency: 1 in 8, 20–80 µs)
//! or make a blocking call through `goro::syscall` (a `write` to `/dev/null`: 1 in 4), then
//! answer. Every answer is checked against the request. At the end it prints one line:
//! `server_mix: requests: N in SECS s (R per ms, O ops per ms) procs=P`, where ops counts the
//! channel operations, timer waits and calls the requests made.
//!
//! Exit status 0; 1 if an answer was wrong; 2 for bad arguments.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use goro::chan::{self, Sender};

pub struct Opts {
    pub duration: Duration,
    pub procs: usize,
    pub clients: usize,
    pub workers: usize,
}

/// What a run did.
pub struct Outcome {
    pub requests: u64,
    /// Answers that did not match their request (must be 0).
    pub wrong: u64,
    /// Channel operations, timer waits and blocking calls made.
    pub ops: u64,
    pub secs: f64,
}

fn parse() -> Result<Opts, String> {
    let mut o = Opts {
        duration: Duration::from_secs(5),
        procs: 2,
        clients: 64,
        workers: 16,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = |name: &str| {
            args.next()
                .ok_or(format!("{name} needs a value"))
                .and_then(|v| {
                    v.parse::<f64>()
                        .ok()
                        .filter(|n| *n > 0.0)
                        .ok_or(format!("{name}: not a positive number: {v}"))
                })
        };
        match a.as_str() {
            "--duration" => o.duration = Duration::from_secs_f64(val("--duration")?),
            "--procs" => o.procs = val("--procs")? as usize,
            "--clients" => o.clients = val("--clients")? as usize,
            "--workers" => o.workers = val("--workers")? as usize,
            _ => return Err(format!("unknown argument: {a}")),
        }
    }
    if !(1..=goro::MAX_PROCS).contains(&o.procs) {
        return Err(format!("--procs: not 1..={}", goro::MAX_PROCS));
    }
    Ok(o)
}

/// A request: its payload, and where to answer.
struct Request {
    payload: u64,
    reply: Sender<u64>,
}

/// The work of one request: a few microseconds of mixing.
fn compute(mut x: u64) -> u64 {
    for _ in 0..400 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    x
}

fn main() {
    let o = match parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("server_mix: {e}");
            eprintln!(
                "usage: server_mix [--duration SECS] [--procs N] [--clients N] [--workers N]"
            );
            std::process::exit(2);
        }
    };
    let rt = goro::Runtime::builder()
        .procs(o.procs)
        .build()
        .unwrap_or_else(|e| {
            eprintln!("server_mix: {e}");
            std::process::exit(2);
        });
    let r = serve(&o, rt);
    println!(
        "server_mix: requests: {} in {:.2} s ({:.0} per ms, {:.0} ops per ms) procs={}",
        r.requests,
        r.secs,
        r.requests as f64 / r.secs / 1e3,
        r.ops as f64 / r.secs / 1e3,
        o.procs
    );
    if r.wrong > 0 {
        eprintln!("server_mix: {} wrong answers", r.wrong);
        std::process::exit(1);
    }
}

/// Runs the workload of `o` on `rt` for `o.duration`.
pub fn serve(o: &Opts, rt: goro::Runtime) -> Outcome {
    // SAFETY: a NUL-terminated path literal; the descriptor is owned by this process until exit.
    let devnull = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY) };
    assert!(devnull >= 0, "open /dev/null");
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let wrong = Arc::new(AtomicU64::new(0));
    let ops = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let (clients, workers, duration) = (o.clients, o.workers, o.duration);
    {
        let (stop, done, wrong, ops) = (stop.clone(), done.clone(), wrong.clone(), ops.clone());
        rt.block_on(move || {
            let (tx, rx) = chan::bounded::<Request>(256);
            let mut hs = Vec::new();
            for _ in 0..workers {
                let (rx, ops) = (rx.clone(), ops.clone());
                hs.push(goro::go(move || {
                    let mut n = 0u64;
                    let mut my_ops = 0u64;
                    while let Ok(req) = rx.recv() {
                        n += 1;
                        let answer = compute(req.payload);
                        if n.is_multiple_of(8) {
                            goro::sleep(Duration::from_micros(20 + (req.payload % 61)));
                            my_ops += 1;
                        }
                        if n.is_multiple_of(4) {
                            let b = answer.to_le_bytes();
                            // SAFETY: `b` is a live 8-byte buffer; `devnull` is open.
                            goro::syscall(|| unsafe {
                                libc::write(devnull, b.as_ptr().cast(), b.len())
                            });
                            my_ops += 1;
                        }
                        // The client may have stopped waiting; that is not an error.
                        let _ = req.reply.send(answer);
                        my_ops += 2; // this recv and send
                    }
                    ops.fetch_add(my_ops, Ordering::Relaxed);
                }));
            }
            drop(rx);
            let mut cs = Vec::new();
            for c in 0..clients as u64 {
                let (tx, stop, done, wrong, ops) = (
                    tx.clone(),
                    stop.clone(),
                    done.clone(),
                    wrong.clone(),
                    ops.clone(),
                );
                cs.push(goro::go(move || {
                    let (reply, answers) = chan::bounded::<u64>(1);
                    let mut payload = c.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
                    let (mut n, mut bad) = (0u64, 0u64);
                    while !stop.load(Ordering::Relaxed) {
                        payload = payload.wrapping_add(0x632b_e59b_d9b4_e019);
                        let req = Request {
                            payload,
                            reply: reply.clone(),
                        };
                        if tx.send(req).is_err() {
                            break;
                        }
                        match answers.recv() {
                            Ok(a) if a == compute(payload) => n += 1,
                            _ => bad += 1,
                        }
                    }
                    done.fetch_add(n, Ordering::Relaxed);
                    wrong.fetch_add(bad, Ordering::Relaxed);
                    ops.fetch_add(2 * n, Ordering::Relaxed);
                }));
            }
            drop(tx);
            goro::sleep(duration);
            stop.store(true, Ordering::Relaxed);
            for c in cs {
                c.join().expect("client");
            }
            for h in hs {
                h.join().expect("worker");
            }
        });
    }
    Outcome {
        requests: done.load(Ordering::Relaxed),
        wrong: wrong.load(Ordering::Relaxed),
        ops: ops.load(Ordering::Relaxed),
        secs: started.elapsed().as_secs_f64(),
    }
}
