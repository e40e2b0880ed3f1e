//! Panics: a goroutine's panic is caught at its top and handed to `join`; the scheduler goes
//! on; a panic in the main goroutine comes out of `block_on`.

mod common;

use std::panic;
use std::time::Duration;

use common::{EXPECTED, panic_message, run};

#[test]
fn panic_payload_reaches_join() {
    common::quiet_expected_panics();
    run(2, || {
        let e = goro::go(|| panic!("{EXPECTED}: formatted {}", 7))
            .join()
            .unwrap_err();
        assert_eq!(
            panic_message(&*e),
            Some(format!("{EXPECTED}: formatted 7").as_str())
        );
        assert!(e.downcast_ref::<String>().is_some());

        let e = goro::go(|| -> u8 { panic!("expected panic: static") })
            .join()
            .unwrap_err();
        assert_eq!(e.downcast_ref::<&str>(), Some(&"expected panic: static"));

        // Any payload type travels, not only strings (Go's panic(value)).
        let e = goro::go(|| panic::panic_any(42u32)).join().unwrap_err();
        assert_eq!(e.downcast_ref::<u32>(), Some(&42));
    });
}

/// A goroutine that yielded, slept and moved between threads before panicking: the unwind runs
/// on whichever thread it is on by then, and reaches `join` the same way.
#[test]
fn panic_after_migrating() {
    common::quiet_expected_panics();
    run(2, || {
        let hs: Vec<_> = (0..50u64)
            .map(|i| {
                goro::go(move || {
                    for _ in 0..5 {
                        goro::gosched();
                        goro::sleep(Duration::from_micros(50 * (i % 4)));
                    }
                    if i % 2 == 0 {
                        panic!("{EXPECTED}: {i}");
                    }
                    i
                })
            })
            .collect();
        for (i, h) in hs.into_iter().enumerate() {
            match h.join() {
                Ok(v) => assert_eq!(v, i as u64),
                Err(e) => {
                    assert_eq!(i % 2, 0);
                    assert_eq!(
                        panic_message(&*e),
                        Some(format!("{EXPECTED}: {i}").as_str())
                    );
                }
            }
        }
    });
}

/// 1000 goroutines panic; afterwards the scheduler runs goroutines, sleeps and yields as
/// before, and the panicked goroutines are gone (their Gs recycled).
#[test]
fn scheduler_survives_a_thousand_panics() {
    common::quiet_expected_panics();
    run(2, || {
        let hs: Vec<_> = (0..1000u64)
            .map(|i| goro::go(move || -> u64 { panic!("{EXPECTED}: {i}") }))
            .collect();
        for h in hs {
            assert!(h.join().is_err());
        }
        let hs: Vec<_> = (0..1000u64)
            .map(|i| {
                goro::go(move || {
                    goro::gosched();
                    goro::sleep(Duration::from_micros(10));
                    i
                })
            })
            .collect();
        let sum: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(sum, 999 * 1000 / 2);
        // A goroutine hands its result over just before it exits; wait until every one has
        // (only the main goroutine is left).
        while goro::stats().goroutines_live != 1 {
            goro::gosched();
        }
        assert!(goro::stats().goroutines_created >= 2001);
    });
}

/// A panic in the main goroutine propagates out of `block_on` with its payload, and leaves
/// the thread able to run another runtime.
#[test]
fn main_goroutine_panic_propagates() {
    common::quiet_expected_panics();
    common::watchdog(common::HANG, || {
        let r = panic::catch_unwind(|| {
            goro::Runtime::builder()
                .procs(2)
                .build()
                .unwrap()
                .block_on(|| {
                    // Other goroutines are alive when main panics.
                    drop(goro::go(|| {
                        loop {
                            goro::sleep(Duration::from_millis(1));
                        }
                    }));
                    goro::gosched();
                    panic!("{EXPECTED}: in main")
                })
        });
        let e: Box<dyn std::any::Any + Send> = r.unwrap_err();
        assert_eq!(
            panic_message(&*e),
            Some(format!("{EXPECTED}: in main").as_str())
        );
        let v = goro::Runtime::builder()
            .procs(1)
            .build()
            .unwrap()
            .block_on(|| goro::go(|| 9).join().unwrap());
        assert_eq!(v, 9);
    });
}

/// A panic in the main goroutine after it has moved to a runtime-created thread still comes
/// out of `block_on` on the caller's thread.
#[test]
fn main_goroutine_panic_after_moving() {
    common::quiet_expected_panics();
    let r = common::watchdog(common::HANG, || {
        panic::catch_unwind(|| {
            goro::Runtime::builder()
                .procs(2)
                .build()
                .unwrap()
                .block_on(|| {
                    for _ in 0..20 {
                        goro::sleep(Duration::from_micros(100));
                        goro::go(goro::gosched).join().unwrap();
                    }
                    panic!("{EXPECTED}: main, moved")
                })
        })
    });
    let e = r.unwrap_err();
    assert_eq!(
        panic_message(&*e),
        Some(format!("{EXPECTED}: main, moved").as_str())
    );
}
