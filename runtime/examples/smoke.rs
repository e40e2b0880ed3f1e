use std::time::{Duration, Instant};
fn main() {
    let r = goro::Runtime::builder().procs(4).build().unwrap().block_on(|| {
        let hs: Vec<_> = (0..10000u64).map(|i| goro::go(move || { goro::gosched(); i })).collect();
        let s: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
        println!("sum {s}");
        let t = Instant::now();
        goro::sleep(Duration::from_millis(5));
        println!("slept {:?}", t.elapsed());
        let h = goro::go(|| panic!("boom"));
        println!("panic joined: {}", h.join().is_err());
        let t = Instant::now();
        let hs: Vec<_> = (0..4).map(|_| goro::go(|| goro::syscall(|| std::thread::sleep(Duration::from_millis(50))))).collect();
        let c = goro::go(|| { let mut x = 0u64; for i in 0..1000 { x += i; goro::gosched(); } x });
        println!("compute during syscalls {}", c.join().unwrap());
        for h in hs { h.join().unwrap(); }
        println!("syscalls {:?}", t.elapsed());
        println!("old procs {}", goro::set_procs(2));
        println!("procs now {}", goro::procs());
        println!("old procs {}", goro::set_procs(3));
        let st = goro::read_stats();
        println!("stats: created {} stws {} threads {}", st.goroutines_created, st.stws, st.threads_created);
        42
    });
    println!("result {r}");
}
