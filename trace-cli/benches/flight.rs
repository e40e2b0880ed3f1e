//! The flight recorder's cost: raw events per second through `FlightRecorder::event` (the
//! ring, and the tail's replay into its own engine as records leave the ring), and how long
//! writing a recording of a full ring takes — the time the event loop is held up when a
//! finding fires.
//!
//! ```text
//! cargo bench -p trace-cli --bench flight            # a table
//! cargo bench -p trace-cli --bench flight -- --json  # one JSON object per line
//! ```
//!
//! Without `--bench` (under `cargo test --all-targets`) it runs a small case once, untimed.

use std::time::Instant;

use trace_cli::decode::synthetic;
use trace_cli::engine::{Config, Kind};
use trace_cli::event::{BpfCounters, Event, arg_index, probe_index};
use trace_cli::flight::{ENTRY_BYTES, FlightRecorder};
use trace_cli::tracefile::{ClockBase, FORMAT_VERSION, Header, TargetInfo};

const MS: u64 = 1_000_000;

fn header() -> Header {
    let (catalog, code_tables) = Header::current_catalog();
    Header {
        format_version: FORMAT_VERSION,
        catalog_version: goro_probes::CATALOG_VERSION,
        catalog,
        code_tables,
        target: TargetInfo {
            mode: "pid".into(),
            pid: Some(1),
            exe: "/bench".into(),
            build_id: None,
            binary_catalog_version: None,
            command: None,
        },
        clock: ClockBase::now(),
        ring_size: 1 << 22,
        sites: 45,
        writer: "bench".into(),
    }
}

fn ev(ts: u64, tid: u32, probe: u16, args: &[(&str, u64)]) -> Event {
    let mut e = synthetic(ts, 1, probe, &[]);
    e.tid = tid;
    for (name, v) in args {
        e.args[arg_index(probe, name).expect("catalog argument")] = *v;
    }
    e
}

/// A busy, healthy stream of raw events: four Ms each taking its P, locking and unlocking
/// its thread, releasing the P and parking, over and over, one event every `gap` ns.
fn stream(n: usize, gap: u64) -> Vec<Event> {
    let ps = probe_index("p_status").unwrap();
    let lock = probe_index("lock_os_thread").unwrap();
    let unlock = probe_index("unlock_os_thread").unwrap();
    let park = probe_index("m_park").unwrap();
    let wake = probe_index("m_wake").unwrap();
    let mut seq = [0u64; 4];
    let mut v = Vec::with_capacity(n);
    let mut ts = 1_000 * MS;
    let mut round = 0u64;
    while v.len() < n {
        for p in 0..4u64 {
            let m = p + 1;
            let tid = 100 + p as u32;
            let g = round * 4 + p + 1;
            for (probe, args) in [
                (wake, vec![("m", m), ("tid", u64::from(tid)), ("p", p)]),
                (
                    ps,
                    vec![("p", p), ("old", 0), ("new", 1), ("m", m), ("reason", 1)],
                ),
                (lock, vec![("g", g), ("m", m), ("ext", 1), ("int", 0)]),
                (unlock, vec![("g", g), ("m", m), ("ext", 0), ("int", 0)]),
                (
                    ps,
                    vec![("p", p), ("old", 1), ("new", 0), ("m", m), ("reason", 2)],
                ),
                (park, vec![("m", m), ("tid", u64::from(tid))]),
            ] {
                let mut e = ev(ts, tid, probe, &args);
                if probe == ps {
                    seq[p as usize] += 1;
                    e.args[arg_index(ps, "seq").unwrap()] = seq[p as usize];
                }
                v.push(e);
                ts += gap;
            }
        }
        round += 1;
    }
    v.truncate(n);
    v
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let timed = args.iter().any(|a| a == "--bench");
    let json = args.iter().any(|a| a == "--json");
    let dir = std::env::temp_dir().join(format!("trace-cli-bench-flight-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    let caps: &[u64] = if timed {
        &[8 << 20, 64 << 20]
    } else {
        &[1 << 20]
    };
    for &cap in caps {
        // Three times what the cap holds, 3 µs apart (about 330k events/s, the busiest
        // stress run measured), in a 5 s window: the cap, not the window, bounds the ring.
        let n = 3 * (cap as usize / ENTRY_BYTES);
        let events = stream(n, 3_000);
        let mut fl = FlightRecorder::new(5_000 * MS, cap, dir.clone(), header(), Config::default());
        let start = Instant::now();
        let mut next_counters = events[0].ts_ns;
        for e in &events {
            fl.event(e);
            if e.ts_ns >= next_counters {
                fl.counters(e.ts_ns, &BpfCounters::default());
                next_counters += 10 * MS;
            }
        }
        let fill = start.elapsed();
        let at = events.last().unwrap().ts_ns;
        let file = fl
            .write(Kind::StuckPInStw, at)
            .expect("the recording is written");
        let _ = std::fs::remove_file(&file.path);
        let report = fl.report();
        assert!(report.peak_bytes <= report.max_bytes);
        if !timed {
            continue;
        }
        let per_s = n as f64 / fill.as_secs_f64();
        if json {
            println!(
                "{{\"bench\":\"flight\",\"cap_bytes\":{cap},\"events\":{n},\"events_per_s\":{per_s:.0},\"peak_bytes\":{},\"recording_events\":{},\"recording_bytes\":{},\"write_ms\":{:.1}}}",
                report.peak_bytes, file.events, file.bytes, file.write_ms
            );
        } else {
            println!(
                "flight cap {:>3} MiB: {:>9.0} events/s in; full ring of {} events written in {:.1} ms ({:.1} MiB file)",
                cap >> 20,
                per_s,
                file.events,
                file.write_ms,
                file.bytes as f64 / (1 << 20) as f64
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
