//! Cancel-safety under races: a `get` whose caller gives up either leaves its item in
//! the queue or delivers it, and an `acquire` that is given up never leaves the lock
//! held by nobody. Many cancellations, at every point of a call's life, while items
//! and locks change hands; then count.

use crate::util;
use manager_client::{Client, RemoteErrorKind};
use manager_server::Server;
use std::collections::HashSet;
use std::time::Duration;

/// A tiny, varying deadline: some calls are cancelled before the server sees them,
/// some while they wait, some after the server answered.
fn jitter(i: u64) -> Duration {
    Duration::from_micros((i * 7919) % 1500)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_item_put_is_got_exactly_once_despite_cancelled_gets() {
    let (_dir, server) = util::start(Server::builder()).await;
    const ITEMS: u64 = 3000;
    let producer_client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let q = producer_client.queue::<u64>(0).await.unwrap();
    let mut consumers = Vec::new();
    for c in 0..4u64 {
        let client = Client::connect(server.address(), server.authkey()).await.unwrap();
        let q: manager_client::QueueProxy<u64> = client.attach(&q.token()).await.unwrap();
        consumers.push(tokio::spawn(async move {
            let mut got = Vec::new();
            let mut i = c;
            loop {
                i += 1;
                // Half the gets are abandoned by the client (dropped futures), half time
                // out on the server.
                let attempt = if i % 2 == 0 {
                    tokio::time::timeout(jitter(i), q.get()).await.ok()
                } else {
                    Some(q.get_timeout(jitter(i)).await)
                };
                match attempt {
                    Some(Ok(u64::MAX)) => break,
                    Some(Ok(v)) => got.push(v),
                    Some(Err(e)) => assert_eq!(e.remote_kind(), Some(RemoteErrorKind::Empty), "{e}"),
                    None => {}
                }
            }
            (got, client)
        }));
    }
    for chunk in (0..ITEMS).collect::<Vec<_>>().chunks(50) {
        q.put_many(chunk.to_vec()).await.unwrap();
        // Pacing: the items trickle in, so the consumers' gets (some waiting, some
        // given up) race with the puts. Nothing waits on this sleep.
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    for _ in 0..4 {
        q.put(u64::MAX).await.unwrap();
    }
    let mut all = Vec::new();
    for c in consumers {
        let (got, _client) = c.await.unwrap();
        all.extend(got);
    }
    // Items still queued (behind a stop marker a consumer took early) count too.
    while let Ok(v) = q.get_nowait().await {
        if v != u64::MAX {
            all.push(v);
        }
    }
    let distinct: HashSet<u64> = all.iter().copied().collect();
    assert_eq!(distinct.len(), all.len(), "no item was delivered twice");
    assert_eq!(all.len() as u64, ITEMS, "no item was lost");
    eprintln!("queue race: {} answered gets undone", server.stats().transfers_undone);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_acquires_never_leave_a_lock_held_by_nobody() {
    let (_dir, server) = util::start(Server::builder()).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let lock = client.lock().await.unwrap();
    let counter = client.value(0u64).await.unwrap();
    let mut tasks = Vec::new();
    for t in 0..8u64 {
        let client = Client::connect(server.address(), server.authkey()).await.unwrap();
        let lock: manager_client::LockProxy = client.attach(&lock.token()).await.unwrap();
        let counter: manager_client::ValueProxy<u64> = client.attach(&counter.token()).await.unwrap();
        tasks.push(tokio::spawn(async move {
            let mut done = 0u64;
            for i in 0..150u64 {
                let n = t * 1000 + i;
                // Give up on the acquire at a random moment...
                if let Ok(Ok(guard)) = tokio::time::timeout(jitter(n), lock.lock()).await {
                    // ...and when we do hold it, the critical section is ours alone.
                    let v = counter.get().await.unwrap();
                    counter.set(v + 1).await.unwrap();
                    done += 1;
                    guard.unlock().await.unwrap();
                }
            }
            (done, client)
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap().0;
    }
    assert_eq!(counter.get().await.unwrap(), total, "no two tasks were ever inside at once");
    assert!(
        lock.acquire_timeout(Duration::from_secs(5)).await.unwrap(),
        "after all the cancellations the lock is free, not held by nobody"
    );
    eprintln!(
        "lock race: {total} critical sections of 1200 attempts, {} answered acquires undone",
        server.stats().transfers_undone
    );
}
