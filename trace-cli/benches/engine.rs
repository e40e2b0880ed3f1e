//! Engine throughput: events per second through `Engine::feed`, on a synthetic busy, healthy
//! stream (stop-the-worlds, P count changes, syscalls, lock_os_thread churn through the
//! template thread), delivered in order and as a multi-CPU source delivers it (arrival jitter
//! of 2 ms, some same-P changes stamped backwards), with a tick every millisecond of event time.
//! Then the same in-order stream through `export`'s timeline (the engine observed, the
//! Perfetto and Chrome JSON writers encoding into a sink that discards the bytes).
//!
//! ```text
//! cargo bench -p trace-cli --bench engine            # a table
//! cargo bench -p trace-cli --bench engine -- --json  # one JSON object per line
//! ```
//!
//! Without `--bench` on the command line (under `cargo test --all-targets`) it replays a small
//! stream once and times nothing: a smoke test that keeps it compiling and finding nothing.

use std::hint::black_box;
use std::time::{Duration, Instant};

use trace_cli::engine::{Config, Engine, Input, synth};
use trace_cli::export::Format;
use trace_cli::export::chrome::Chrome;
use trace_cli::export::perfetto::Perfetto;
use trace_cli::export::timeline::Timeline;

const MS: u64 = 1_000_000;

fn replay(events: &[trace_cli::engine::Event]) -> (Duration, usize) {
    let mut engine = Engine::new(Config::default());
    let mut findings = 0;
    let start = Instant::now();
    let mut next_tick = events.first().map_or(0, |e| e.ts_ns) + MS;
    for e in events {
        if e.ts_ns > next_tick {
            findings += engine.feed(Input::Tick { now_ns: next_tick }).len();
            next_tick = e.ts_ns + MS;
        }
        findings += engine.feed(Input::Event(*e)).len();
    }
    findings += engine.finish(None).len();
    let took = start.elapsed();
    black_box(engine.summary());
    (took, findings)
}

/// The engine observed by the timeline, writing `out`; the findings are none.
fn replay_export<F: Format>(events: &[trace_cli::engine::Event], out: F) -> (Duration, usize) {
    let mut engine = Engine::new(Config::default());
    let mut timeline = Timeline::new(out, "bench".to_owned());
    let mut found = Vec::new();
    let start = Instant::now();
    let mut next_tick = events.first().map_or(0, |e| e.ts_ns) + MS;
    for e in events {
        if e.ts_ns > next_tick {
            engine.feed_observed(Input::Tick { now_ns: next_tick }, &mut found, &mut timeline);
            next_tick = e.ts_ns + MS;
        }
        engine.feed_observed(Input::Event(*e), &mut found, &mut timeline);
    }
    found.extend(engine.finish_observed(None, &mut timeline));
    let end = engine.now();
    let (_, stats) = timeline
        .finish(end, engine.model())
        .expect("a sink takes everything");
    let took = start.elapsed();
    black_box(stats);
    (took, found.len())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let timed = args.iter().any(|a| a == "--bench");
    let json = args.iter().any(|a| a == "--json");
    let n = if timed { 2_000_000 } else { 20_000 };
    let (events, stws) = synth::healthy(42, n);
    let scrambled = synth::scramble(&events, 2 * MS, 43);
    let cases: [(&str, &Vec<trace_cli::engine::Event>); 4] = [
        ("in_order", &events),
        ("scrambled", &scrambled),
        ("export_perfetto", &events),
        ("export_chrome", &events),
    ];
    for (name, stream) in cases {
        let samples = if timed { 5 } else { 1 };
        let mut best = Duration::MAX;
        for _ in 0..samples {
            let sink = std::io::sink();
            let (took, findings) = match name {
                "export_perfetto" => replay_export(stream, Perfetto::new(sink)),
                "export_chrome" => replay_export(stream, Chrome::new(sink, 0)),
                _ => replay(stream),
            };
            assert_eq!(findings, 0, "a healthy stream gave a finding");
            best = best.min(took);
        }
        if !timed {
            continue;
        }
        let per_s = stream.len() as f64 / best.as_secs_f64();
        let ns_per = best.as_nanos() as f64 / stream.len() as f64;
        if json {
            println!(
                "{{\"bench\":\"engine_{name}\",\"events\":{},\"stws\":{stws},\"events_per_s\":{per_s:.0},\"ns_per_event\":{ns_per:.1}}}",
                stream.len()
            );
        } else {
            println!(
                "engine {name:<16} {:>9} events  {:>12.0} events/s  {:>7.1} ns/event  ({stws} stop-the-worlds, best of {samples})",
                stream.len(),
                per_s,
                ns_per
            );
        }
    }
}
