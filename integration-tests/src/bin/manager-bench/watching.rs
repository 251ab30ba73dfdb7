//! The watch workloads: how soon a watcher hears of a change, and what watchers cost a
//! writer.

use crate::workloads::Ctx;
use manager_client::watch::Watch;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Change → watcher notified, one writer and one watcher (each on its own connection):
/// the time from the writer starting a dict insert to the watcher holding the change,
/// per change; and, measured in alternation on the same writer's connection, one call's
/// round trip (a `get`). Returns (notified µs, round trip µs). The dict holds at most
/// 100 keys.
pub fn notify_latency(ctx: &Ctx) -> (f64, f64) {
    let n = ctx.n(5_000);
    let writer = ctx.client();
    let d = writer.dict::<u64, u64>().expect("dict");
    let token = d.token();
    let (seen_tx, seen) = mpsc::channel::<Instant>();
    let watcher_ctx = ctx.client();
    let watcher = std::thread::spawn(move || {
        let d: manager_client::blocking::DictProxy<u64, u64> = watcher_ctx.attach(&token).expect("attach");
        for event in d.watch() {
            // The snapshot says it is subscribed; each change, when it was seen.
            if let Watch::Lagged { missed } = event.expect("event") {
                panic!("a watcher that keeps up lagged by {missed}");
            }
            if seen_tx.send(Instant::now()).is_err() {
                return;
            }
        }
    });
    seen.recv().expect("the watcher subscribed");
    let (mut notified, mut round_trip) = (Duration::ZERO, Duration::ZERO);
    for i in 0..n as u64 {
        // A dict of at most 100 keys, as in Python's column (which re-reads it whole).
        let start = Instant::now();
        d.insert(i % 100, i).expect("insert");
        let at = seen.recv().expect("seen");
        notified += at.saturating_duration_since(start);
        let start = Instant::now();
        d.get(&(i % 100)).expect("get");
        round_trip += start.elapsed();
    }
    drop(seen);
    // One more change wakes the watcher to find its channel closed.
    d.insert(u64::MAX, 1).expect("insert");
    watcher.join().expect("watcher");
    let per = |t: Duration| t.as_secs_f64() * 1e6 / n as f64;
    (per(notified), per(round_trip))
}

/// One writer inserting as fast as its round trips allow, with `watchers` watchers on
/// connections of their own reading every change: the writer's inserts per second.
/// Each watcher checks that it saw every change, or was told how many it missed.
pub fn writer_with_watchers(ctx: &Ctx, watchers: usize) -> f64 {
    let n = ctx.n(40_000) as u64;
    let writer = ctx.client();
    let d = writer.dict::<u64, u64>().expect("dict");
    let token = d.token();
    let (ready_tx, ready) = mpsc::channel::<()>();
    let threads: Vec<_> = (0..watchers)
        .map(|_| {
            let client = ctx.client();
            let (token, ready_tx) = (token.clone(), ready_tx.clone());
            std::thread::spawn(move || {
                let d: manager_client::blocking::DictProxy<u64, u64> = client.attach(&token).expect("attach");
                let (mut changes, mut missed) = (0u64, 0u64);
                for event in d.watch() {
                    match event.expect("event") {
                        Watch::Snapshot { .. } => ready_tx.send(()).expect("ready"),
                        Watch::Change { .. } => changes += 1,
                        Watch::Lagged { missed: m } => missed += m,
                    }
                    if changes + missed >= n {
                        break;
                    }
                }
                assert_eq!(changes + missed, n, "a watcher lost changes without being told");
            })
        })
        .collect();
    for _ in 0..watchers {
        ready.recv().expect("a watcher subscribed");
    }
    let start = Instant::now();
    for i in 0..n {
        d.insert(i, i).expect("insert");
    }
    let elapsed = start.elapsed();
    for t in threads {
        t.join().expect("watcher");
    }
    n as f64 / elapsed.as_secs_f64()
}
