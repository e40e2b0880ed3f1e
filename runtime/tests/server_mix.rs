//! The server-shaped benchmark load (`examples/server_mix.rs`, compiled here as-is): a short
//! run on every P count the benchmarks use answers every request correctly, so the load
//! `bench/watch.sh` measures is one that works.

#[allow(dead_code)] // its `main` and argument parsing are the example's
#[path = "../examples/server_mix.rs"]
mod server_mix;

use std::time::Duration;

#[test]
fn every_request_is_answered_correctly() {
    for procs in [1, 2, 4] {
        let o = server_mix::Opts {
            duration: Duration::from_millis(300),
            procs,
            clients: 16,
            workers: 4,
        };
        let rt = goro::Runtime::builder().procs(procs).build().unwrap();
        let r = server_mix::serve(&o, rt);
        assert_eq!(r.wrong, 0, "procs {procs}");
        assert!(r.requests > 0, "procs {procs}: no request completed");
        // Each request is a send and a receive on each side at least.
        assert!(r.ops >= 4 * r.requests, "procs {procs}: {} ops", r.ops);
    }
}
