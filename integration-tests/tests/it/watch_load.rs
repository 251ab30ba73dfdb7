//! A watch under sustained load: 10,000 changes a second for ten seconds against a real
//! server process, whose memory must stay flat while the watcher keeps up.

use crate::server_bin::ServerChild;
use manager_client::DictProxy;
use manager_client::watch::Watch;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_takes_ten_thousand_changes_a_second_for_ten_seconds_with_memory_flat() {
    let server = ServerChild::start();
    let writer = server.client().await;
    let reader = server.client().await;
    let d = writer.dict::<u64, u64>().await.unwrap();
    let watched: DictProxy<u64, u64> = reader.attach(d.token()).await.unwrap();
    let mut events = watched.watch();
    let Some(Ok(Watch::Snapshot { version: start, .. })) = events.next().await else { panic!("no snapshot first") };
    const PER_TICK: u64 = 100; // every 10 ms: 10,000 a second
    const TICKS: u64 = 1000; // ten seconds
    let total = PER_TICK * TICKS;
    let watcher = tokio::spawn(async move {
        let (mut changes, mut missed, mut last) = (0u64, 0u64, start);
        while last < start + total {
            match events.next().await.expect("the watch ended early").expect("a watch event") {
                Watch::Change { version, .. } => {
                    changes += 1;
                    last = version;
                }
                Watch::Lagged { missed: m } => missed += m,
                Watch::Snapshot { version, .. } => last = version,
            }
        }
        (changes, missed)
    });
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let began = std::time::Instant::now();
    let mut warm = 0;
    for t in 0..TICKS {
        tick.tick().await;
        // A tick's changes in flight at once, so even a debug build keeps the pace. At
        // most 1,000 keys: the dict itself stays the same size.
        let mut inserts = tokio::task::JoinSet::new();
        for i in 0..PER_TICK {
            let d = d.clone();
            inserts.spawn(async move { d.insert((t * PER_TICK + i) % 1000, t).await.map(drop) });
        }
        while let Some(done) = inserts.join_next().await {
            done.unwrap().unwrap();
        }
        if t == 200 {
            warm = server.rss_kib();
        }
    }
    let after = server.rss_kib();
    let rate = total as f64 / began.elapsed().as_secs_f64();
    let (changes, missed) = crate::server_bin::bounded("the watcher catching up", watcher).await.unwrap();
    assert_eq!(changes + missed, total, "every change was delivered or counted as missed");
    eprintln!(
        "{rate:.0} changes/s; {changes} delivered, {missed} missed; server {warm} KiB at 2 s, {after} KiB at the end"
    );
    assert!(
        after < warm + 8 * 1024,
        "the server grew from {warm} KiB after two seconds to {after} KiB after ten ({changes} changes delivered, \
         {missed} missed)"
    );
}
