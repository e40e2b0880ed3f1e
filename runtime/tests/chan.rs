//! Channel and select semantics (Go's chan.go / select.go), on a real runtime.
//!
//! Some tests sleep to give goroutines the chance to park before the event under test, so the
//! wake-up path (not only the fast path) is exercised; no assertion depends on timing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use goro::chan::{
    self, Receiver, RecvError, SendError, Sender, TryRecvError, TrySendError, bounded, unbounded,
};

mod common;
use common::run;

/// Long enough that a goroutine which can park has almost surely parked.
fn let_others_park() {
    for _ in 0..10 {
        goro::gosched();
    }
    goro::sleep(Duration::from_millis(20));
}

fn fifo(tx: Sender<u32>, rx: Receiver<u32>) {
    const N: u32 = 10_000;
    let h = goro::go(move || {
        for i in 0..N {
            tx.send(i).unwrap();
        }
    });
    for i in 0..N {
        assert_eq!(rx.recv(), Ok(i));
    }
    h.join().unwrap();
    assert_eq!(
        rx.recv(),
        Err(RecvError),
        "the producer's Sender is gone: closed"
    );
}

#[test]
fn fifo_buffered() {
    run(2, || {
        let (tx, rx) = bounded(16);
        fifo(tx, rx);
    });
}

#[test]
fn fifo_unbuffered() {
    run(2, || {
        let (tx, rx) = bounded(0);
        fifo(tx, rx);
    });
}

#[test]
fn fifo_unbounded() {
    run(2, || {
        let (tx, rx) = unbounded();
        fifo(tx, rx);
    });
}

#[test]
fn fifo_through_full_buffer_with_blocked_senders() {
    // Senders park on a full buffer; every receive moves the oldest blocked value into the
    // buffer, so the overall order is still the send order.
    run(1, || {
        let (tx, rx) = bounded(2);
        let h = goro::go(move || {
            for i in 0..1000u32 {
                tx.send(i).unwrap();
            }
        });
        let_others_park();
        assert_eq!(rx.len(), 2);
        for i in 0..1000u32 {
            assert_eq!(rx.recv(), Ok(i));
        }
        h.join().unwrap();
    });
}

#[test]
fn unbuffered_send_waits_for_receiver() {
    run(2, || {
        let (tx, rx) = bounded::<u32>(0);
        assert_eq!(
            tx.try_send(1),
            Err(TrySendError::Full(1)),
            "no receiver waiting"
        );
        assert_eq!(tx.capacity(), Some(0));
        let sent = Arc::new(AtomicBool::new(false));
        let (started_tx, started_rx) = bounded::<()>(0);
        let h = goro::go({
            let sent = sent.clone();
            move || {
                started_tx.send(()).unwrap();
                tx.send(7).unwrap();
                sent.store(true, Ordering::SeqCst);
            }
        });
        started_rx.recv().unwrap();
        let_others_park();
        assert!(
            !sent.load(Ordering::SeqCst),
            "send completed with nobody receiving"
        );
        assert_eq!(rx.len(), 0, "an unbuffered channel buffers nothing");
        assert_eq!(rx.recv(), Ok(7));
        h.join().unwrap();
        assert!(sent.load(Ordering::SeqCst));
    });
}

#[test]
fn try_recv_takes_from_parked_sender() {
    run(2, || {
        let (tx, rx) = bounded::<u32>(0);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        let h = goro::go(move || tx.send(5));
        let_others_park();
        // Either the sender is parked (hand-off) or not yet (Empty); retry until it is.
        let v = loop {
            match rx.try_recv() {
                Ok(v) => break v,
                Err(TryRecvError::Empty) => goro::gosched(),
                Err(e) => panic!("{e}"),
            }
        };
        assert_eq!(v, 5);
        assert_eq!(h.join().unwrap(), Ok(()));
    });
}

#[test]
fn close_drains_buffer_then_fails() {
    run(1, || {
        let (tx, rx) = bounded(10);
        for i in 0..5 {
            tx.send(i).unwrap();
        }
        assert!(tx.close());
        assert!(!tx.close(), "closing twice reports it");
        assert!(tx.is_closed());
        assert_eq!(
            tx.send(99),
            Err(SendError(99)),
            "a failed send gives the value back"
        );
        assert_eq!(tx.try_send(98), Err(TrySendError::Closed(98)));
        assert_eq!(rx.len(), 5);
        assert_eq!(rx.iter().collect::<Vec<_>>(), vec![0, 1, 2, 3, 4]);
        assert_eq!(rx.recv(), Err(RecvError));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    });
}

#[test]
fn recv_on_closed_empty_channel_returns_at_once() {
    run(1, || {
        let (tx, rx) = bounded::<u8>(0);
        tx.close();
        for _ in 0..3 {
            assert_eq!(rx.recv(), Err(RecvError));
        }
    });
}

#[test]
fn close_wakes_blocked_receivers() {
    run(2, || {
        let (tx, rx) = bounded::<u32>(0);
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let rx = rx.clone();
                goro::go(move || rx.recv())
            })
            .collect();
        let_others_park();
        assert!(tx.close());
        for h in hs {
            assert_eq!(h.join().unwrap(), Err(RecvError));
        }
    });
}

#[test]
fn close_fails_blocked_senders_with_their_values() {
    run(2, || {
        let (tx, rx) = bounded::<u32>(0);
        let hs: Vec<_> = (0..4)
            .map(|i| {
                let tx = tx.clone();
                goro::go(move || tx.send(i))
            })
            .collect();
        let_others_park();
        assert!(tx.close());
        for (i, h) in hs.into_iter().enumerate() {
            assert_eq!(h.join().unwrap(), Err(SendError(i as u32)));
        }
        assert_eq!(rx.recv(), Err(RecvError));
    });
}

#[test]
fn dropping_last_sender_closes() {
    run(2, || {
        let (tx, rx) = bounded::<u32>(4);
        let tx2 = tx.clone();
        tx.send(1).unwrap();
        drop(tx);
        assert!(!tx2.is_closed(), "a Sender is still alive");
        let h = goro::go(move || (rx.recv(), rx.recv()));
        let_others_park();
        drop(tx2);
        assert_eq!(h.join().unwrap(), (Ok(1), Err(RecvError)));
    });
}

#[test]
fn dropping_last_receiver_fails_sends() {
    run(2, || {
        let (tx, rx) = bounded::<String>(0);
        let h = goro::go({
            let tx = tx.clone();
            move || tx.send("parked".to_string())
        });
        let_others_park();
        drop(rx);
        assert_eq!(h.join().unwrap(), Err(SendError("parked".to_string())));
        assert_eq!(tx.send("late".into()), Err(SendError("late".to_string())));
        assert!(tx.is_closed());
    });
}

#[test]
fn dropping_last_receiver_drops_buffered_values() {
    run(1, || {
        let (tx, rx) = bounded::<Arc<()>>(4);
        let v = Arc::new(());
        tx.send(v.clone()).unwrap();
        tx.send(v.clone()).unwrap();
        assert_eq!(Arc::strong_count(&v), 3);
        drop(rx);
        assert_eq!(Arc::strong_count(&v), 1);
    });
}

#[test]
fn capacity_and_len() {
    run(1, || {
        let (tx, rx) = bounded::<u8>(3);
        assert_eq!((tx.capacity(), rx.capacity()), (Some(3), Some(3)));
        assert!(tx.is_empty());
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        assert_eq!((tx.len(), rx.len()), (2, 2));
        tx.send(3).unwrap();
        assert_eq!(tx.try_send(4), Err(TrySendError::Full(4)));
        let (utx, _urx) = unbounded::<u8>();
        assert_eq!(utx.capacity(), None);
        for i in 0..100 {
            utx.try_send(i).unwrap();
        }
        assert_eq!(utx.len(), 100);
    });
}

#[test]
fn try_ops_from_plain_threads() {
    let (tx, rx) = bounded::<u32>(1);
    let (utx, urx) = unbounded::<u32>();
    std::thread::spawn(move || {
        assert_eq!(tx.try_send(1), Ok(()));
        assert_eq!(tx.try_send(2), Err(TrySendError::Full(2)));
        assert_eq!(
            utx.send(3),
            Ok(()),
            "an unbounded send never waits, so works anywhere"
        );
        tx.close();
    })
    .join()
    .unwrap();
    std::thread::spawn(move || {
        assert_eq!(rx.try_recv(), Ok(1));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
        assert_eq!(urx.recv(), Ok(3));
        assert_eq!(
            urx.try_recv(),
            Err(TryRecvError::Closed),
            "its Sender is gone"
        );
    })
    .join()
    .unwrap();
}

#[test]
fn plain_thread_wakes_parked_goroutine() {
    // Every goroutine parks while the waker is a thread the runtime cannot see: deadlock
    // detection would (rightly, by its rules) call that a deadlock.
    let rt = goro::Runtime::builder()
        .procs(2)
        .deadlock_detection(false)
        .build()
        .unwrap();
    rt.block_on(|| {
        let (tx, rx) = bounded::<u32>(0);
        let h = goro::go(move || rx.recv());
        let_others_park();
        let t = std::thread::spawn(move || {
            // try_send succeeds only once the goroutine is parked on recv.
            let mut v = 42;
            loop {
                match tx.try_send(v) {
                    Ok(()) => return,
                    Err(TrySendError::Full(back)) => {
                        v = back;
                        std::thread::yield_now();
                    }
                    Err(e) => panic!("{e}"),
                }
            }
        });
        assert_eq!(h.join().unwrap(), Ok(42));
        t.join().unwrap();
    });
}

#[test]
fn blocking_off_goroutine_panics_clearly() {
    let (_tx, rx) = bounded::<u32>(0);
    let err = std::thread::spawn(move || rx.recv()).join().unwrap_err();
    let msg = err.downcast_ref::<String>().expect("panic message");
    assert!(
        msg.contains("not a goroutine"),
        "unexpected panic message: {msg}"
    );
}

#[test]
fn stress_every_value_received_exactly_once() {
    const PRODUCERS: usize = 8;
    const PER: usize = 20_000;
    const CONSUMERS: usize = 8;
    for cap in [0, 1, 64] {
        run(4, move || {
            let (tx, rx) = bounded::<u32>(cap);
            let producers: Vec<_> = (0..PRODUCERS)
                .map(|p| {
                    let tx = tx.clone();
                    goro::go(move || {
                        for i in 0..PER {
                            tx.send((p * PER + i) as u32).unwrap();
                        }
                    })
                })
                .collect();
            drop(tx);
            let consumers: Vec<_> = (0..CONSUMERS)
                .map(|_| {
                    let rx = rx.clone();
                    goro::go(move || rx.iter().collect::<Vec<u32>>())
                })
                .collect();
            drop(rx);
            for p in producers {
                p.join().unwrap();
            }
            let mut seen = vec![false; PRODUCERS * PER];
            for c in consumers {
                let got = c.join().unwrap();
                // Each producer's values reach any one consumer in send order.
                let mut last = [None::<u32>; PRODUCERS];
                for v in got {
                    let slot = &mut seen[v as usize];
                    assert!(!*slot, "value {v} received twice (cap {cap})");
                    *slot = true;
                    let p = v as usize / PER;
                    assert!(last[p] < Some(v), "producer {p} reordered (cap {cap})");
                    last[p] = Some(v);
                }
            }
            let lost = seen.iter().filter(|s| !**s).count();
            assert_eq!(lost, 0, "{lost} values lost (cap {cap})");
        });
    }
}

#[test]
fn select_is_fair_between_ready_channels() {
    run(1, || {
        const N: usize = 10_000;
        let (tx1, rx1) = bounded::<u8>(N);
        let (tx2, rx2) = bounded::<u8>(N);
        for _ in 0..N {
            tx1.send(1).unwrap();
            tx2.send(2).unwrap();
        }
        let mut counts = [0usize; 2];
        for _ in 0..N {
            goro::select! {
                recv(rx1) -> v => { assert_eq!(v, Ok(1)); counts[0] += 1; }
                recv(rx2) -> v => { assert_eq!(v, Ok(2)); counts[1] += 1; }
            }
        }
        // Binomial(10000, 0.5): 40%..60% is 20 standard deviations out.
        for c in counts {
            assert!((4000..=6000).contains(&c), "unfair select: {counts:?}");
        }
    });
}

#[test]
fn select_default() {
    run(1, || {
        let (tx, rx) = bounded::<u32>(1);
        let r = goro::select! {
            recv(rx) -> v => v.ok(),
            default => None,
        };
        assert_eq!(r, None, "nothing ready: default");
        tx.send(3).unwrap();
        let r = goro::select! {
            recv(rx) -> v => v.ok(),
            default => None,
        };
        assert_eq!(r, Some(3), "a ready case wins over default");
        // A full channel: the send case is not ready.
        tx.send(4).unwrap();
        let sent = goro::select! {
            send(tx, 5) -> r => r.is_ok(),
            default => false,
        };
        assert!(!sent);
        assert_eq!(
            goro::select! { default => 11 },
            11,
            "only a default never blocks"
        );
    });
}

#[test]
fn select_blocks_until_a_case_is_ready() {
    run(2, || {
        let (tx1, rx1) = bounded::<u32>(0);
        let (tx2, rx2) = bounded::<&'static str>(0);
        let _keep_rx1_open = rx1.clone();
        let h = goro::go(move || {
            goro::select! {
                recv(rx1) -> v => format!("one {v:?}"),
                recv(rx2) -> v => format!("two {v:?}"),
            }
        });
        let_others_park();
        tx2.send("hi").unwrap();
        assert_eq!(h.join().unwrap(), "two Ok(\"hi\")");
        // The select is over: nobody receives on rx1 any more.
        assert_eq!(tx1.try_send(1), Err(TrySendError::Full(1)));
    });
}

#[test]
fn select_wakes_on_close() {
    run(2, || {
        let (tx1, rx1) = bounded::<u32>(0);
        let (_tx2, rx2) = bounded::<u32>(0);
        let h = goro::go(move || {
            goro::select! {
                recv(rx1) -> v => (1, v),
                recv(rx2) -> v => (2, v),
            }
        });
        let_others_park();
        tx1.close();
        assert_eq!(h.join().unwrap(), (1, Err(RecvError)));
    });
}

#[test]
fn select_send_to_parked_receiver_and_closed_channel() {
    run(2, || {
        let (tx, rx) = bounded::<u32>(0);
        let h = goro::go(move || rx.recv());
        let_others_park();
        let r = goro::select! {
            send(tx, 9) -> r => r,
        };
        assert_eq!(r, Ok(()));
        assert_eq!(h.join().unwrap(), Ok(9));
        tx.close();
        let r = goro::select! {
            send(tx, 10) -> r => r,
        };
        assert_eq!(
            r,
            Err(SendError(10)),
            "a send on a closed channel fires with its value"
        );
    });
}

#[test]
fn select_send_recv_mix_forwards_everything_in_order() {
    // A pump goroutine with an unbounded queue: each round it either takes a new value or
    // delivers the oldest one, whichever its peers are ready for.
    run(4, || {
        const N: u64 = 20_000;
        let (in_tx, in_rx) = bounded::<u64>(0);
        let (out_tx, out_rx) = bounded::<u64>(0);
        let pump = goro::go(move || {
            let mut queue = std::collections::VecDeque::new();
            let mut input_open = true;
            while input_open || !queue.is_empty() {
                match queue.front().copied() {
                    None => match in_rx.recv() {
                        Ok(v) => queue.push_back(v),
                        Err(_) => input_open = false,
                    },
                    Some(front) if input_open => goro::select! {
                        recv(in_rx) -> v => match v {
                            Ok(v) => queue.push_back(v),
                            Err(_) => input_open = false,
                        },
                        send(out_tx, front) -> r => {
                            r.unwrap();
                            queue.pop_front();
                        }
                    },
                    Some(front) => {
                        out_tx.send(front).unwrap();
                        queue.pop_front();
                    }
                }
            }
        });
        let producer = goro::go(move || {
            for i in 0..N {
                in_tx.send(i).unwrap();
            }
        });
        for i in 0..N {
            assert_eq!(out_rx.recv(), Ok(i));
        }
        assert_eq!(out_rx.recv(), Err(RecvError));
        producer.join().unwrap();
        pump.join().unwrap();
    });
}

#[test]
fn select_on_both_ends_of_one_channel() {
    run(2, || {
        let (tx, rx) = bounded::<u32>(0);
        let (tx2, rx2) = (tx.clone(), rx.clone());
        // Partner sends 1, then receives once: each select must match it, never itself.
        let partner = goro::go(move || {
            tx2.send(1).unwrap();
            rx2.recv().unwrap()
        });
        let mut got = Vec::new();
        for _ in 0..2 {
            goro::select! {
                send(tx, 2) -> r => { r.unwrap(); got.push("sent"); }
                recv(rx) -> v => { assert_eq!(v, Ok(1)); got.push("received"); }
            }
        }
        got.sort_unstable();
        assert_eq!(got, ["received", "sent"]);
        assert_eq!(partner.join().unwrap(), 2);
    });
}

#[test]
fn select_same_channel_twice_and_many_cases() {
    run(1, || {
        let (tx, rx) = bounded::<usize>(1);
        tx.send(5).unwrap();
        let which = goro::select! {
            recv(rx) -> v => (0, v),
            recv(rx) -> v => (1, v),
        };
        assert_eq!(which.1, Ok(5));
        // More cases than the select's inline storage.
        let chans: Vec<_> = (0..40).map(|_| bounded::<usize>(1)).collect();
        chans[33].0.send(33).unwrap();
        let mut hits = 0;
        macro_rules! r {
            ($($i:literal)*) => {
                goro::select! { $(recv(chans[$i].1) -> v => { assert_eq!(v, Ok($i)); hits += 1; })* }
            };
        }
        r!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39);
        assert_eq!(hits, 1);
    });
}

#[test]
fn select_stress_no_loss_no_duplicate() {
    // Consumers select over two channels while producers feed both: the claim protocol must
    // give every value to exactly one select.
    const PER: u32 = 20_000;
    run(4, || {
        let (a_tx, a_rx) = bounded::<u32>(0);
        let (b_tx, b_rx) = bounded::<u32>(4);
        let pa = goro::go(move || (0..PER).try_for_each(|i| a_tx.send(i)));
        let pb = goro::go(move || (PER..2 * PER).try_for_each(|i| b_tx.send(i)));
        let consumers: Vec<_> = (0..4)
            .map(|_| {
                let (a_rx, b_rx) = (a_rx.clone(), b_rx.clone());
                goro::go(move || {
                    // Once one channel is closed, selecting on it again would fire at once
                    // forever (a busy loop): drain the other one instead.
                    let mut got = Vec::new();
                    loop {
                        goro::select! {
                            recv(a_rx) -> v => match v {
                                Ok(v) => got.push(v),
                                Err(_) => { got.extend(b_rx.iter()); break; }
                            },
                            recv(b_rx) -> v => match v {
                                Ok(v) => got.push(v),
                                Err(_) => { got.extend(a_rx.iter()); break; }
                            },
                        }
                    }
                    got
                })
            })
            .collect();
        drop((a_rx, b_rx));
        pa.join().unwrap().unwrap();
        pb.join().unwrap().unwrap();
        let mut seen = vec![false; 2 * PER as usize];
        for c in consumers {
            for v in c.join().unwrap() {
                assert!(!seen[v as usize], "value {v} received twice");
                seen[v as usize] = true;
            }
        }
        assert!(seen.iter().all(|s| *s), "values lost");
    });
}

#[test]
fn select_body_can_break_and_use_channels() {
    run(1, || {
        let (tx, rx) = chan::unbounded::<u32>();
        for i in 0..3 {
            tx.send(i).unwrap();
        }
        tx.close();
        let mut sum = 0;
        loop {
            goro::select! {
                recv(rx) -> v => match v {
                    Ok(v) => sum += v + rx.len() as u32,
                    Err(_) => break,
                },
            }
        }
        // Values 0, 1, 2 with 2, 1, 0 still buffered behind them.
        assert_eq!(sum, 6);
    });
}

#[test]
fn select_without_cases_parks_forever() {
    run(2, || {
        // The goroutine owns the only Sender: if it ever left the select (returning or
        // panicking), the channel would close.
        let (alive_tx, alive_rx) = bounded::<()>(0);
        goro::go(move || {
            let _alive = alive_tx;
            goro::select! {};
        });
        let_others_park();
        assert_eq!(
            alive_rx.try_recv(),
            Err(TryRecvError::Empty),
            "select! {{}} returned"
        );
    });
}
