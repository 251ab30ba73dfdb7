//! Timed-out waits leave nothing behind. Keeps fixed the repro 6: a timed-out
//! queue `get` left ~135 bytes on the queue, a timed-out `acquire` ~104 on the lock or
//! semaphore, a timed-out condition `wait` ~90 — for as long as the object lived, so a
//! key holder looping on short timeouts grew an idle server without bound.
//!
//! For each blocking operation, 100,000 waits time out against a `manager-server`
//! process (pipelined, many in flight, half with a zero timeout and half with 1 ms),
//! and the server's resident memory (`/proc/PID/status`) must stay flat: it may grow by
//! [`GROWTH_BOUND_KIB`], where the leak grew it by 10-14 MB. Then the object must still
//! work for everyone.

use crate::server_bin::{HANG, ServerChild, bounded};
use manager_client::RemoteErrorKind;
use std::future::Future;
use std::time::Duration;

/// Timed-out waits per blocking operation.
const WAITS: usize = 100_000;
/// Waits first, not measured: connection buffers, allocator arenas and timer wheels
/// reach their working size.
const WARM_UP: usize = 10_000;
/// Waits in flight at once.
const IN_FLIGHT: usize = 128;
/// The most the server's RSS may grow across [`WAITS`] timed-out waits (KiB): about 20
/// bytes a wait, a fraction of the leak's ~100, with room for allocator noise.
const GROWTH_BOUND_KIB: u64 = 2 * 1024;

/// The timeout of wait number `i`: zero or 1 ms, alternately.
fn short(i: usize) -> Duration {
    if i.is_multiple_of(2) { Duration::ZERO } else { Duration::from_millis(1) }
}

/// Runs `n` calls of `wait(i)`, [`IN_FLIGHT`] at a time.
async fn pipelined<F, Fut>(n: usize, wait: F)
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let tasks: Vec<_> = (0..IN_FLIGHT)
        .map(|t| {
            let wait = wait.clone();
            tokio::spawn(async move {
                for i in (t..n).step_by(IN_FLIGHT) {
                    wait(i).await;
                }
            })
        })
        .collect();
    for task in tasks {
        bounded("a pipeline of timed-out waits", task).await.unwrap();
    }
}

/// Warms up with [`WARM_UP`] waits, then runs [`WAITS`] more and asserts the server's
/// resident memory stayed within [`GROWTH_BOUND_KIB`]; nothing is left parked.
async fn leaves_nothing_behind<F, Fut>(server: &ServerChild, what: &str, wait: F)
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    pipelined(WARM_UP, wait.clone()).await;
    let before = server.rss_kib();
    let start = std::time::Instant::now();
    pipelined(WAITS, wait).await;
    let elapsed = start.elapsed();
    let observer = server.client().await;
    assert!(
        crate::util::eventually(HANG, async || observer.stats().await.unwrap().parked_calls == 0).await,
        "{what}: calls still parked after every wait timed out"
    );
    let after = server.rss_kib();
    let growth = after.saturating_sub(before);
    eprintln!(
        "{what}: {WAITS} timed-out waits in {elapsed:?}; server RSS {before} -> {after} KiB ({:.1} bytes a wait)",
        growth as f64 * 1024.0 / WAITS as f64
    );
    assert!(
        growth < GROWTH_BOUND_KIB,
        "{what}: {WAITS} timed-out waits grew the server by {growth} KiB ({before} -> {after} KiB)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timed_out_queue_gets_leave_nothing_behind() {
    let server = ServerChild::start();
    let client = server.client().await;
    let queue = client.queue::<u32>(0).await.unwrap();
    let q = queue.clone();
    leaves_nothing_behind(&server, "queue get on an empty queue", move |i| {
        let q = q.clone();
        async move {
            let r = q.get_timeout(short(i)).await;
            assert_eq!(r.as_ref().err().and_then(|e| e.remote_kind()), Some(RemoteErrorKind::Empty), "{r:?}");
        }
    })
    .await;
    // Still a queue: another connection's put reaches a get.
    let other = server.client().await;
    let theirs: manager_client::QueueProxy<u32> = other.attach(&queue.token()).await.unwrap();
    theirs.put(7).await.unwrap();
    assert_eq!(bounded("get after the timeouts", queue.get()).await.unwrap(), 7);
    let waiting = tokio::spawn(async move { queue.get().await });
    theirs.put(8).await.unwrap();
    assert_eq!(bounded("a waiting get", waiting).await.unwrap().unwrap(), 8, "the put went to the live waiter");
    assert_eq!(theirs.qsize().await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timed_out_queue_puts_on_a_full_queue_leave_nothing_behind() {
    let server = ServerChild::start();
    let client = server.client().await;
    let queue = client.queue::<u32>(1).await.unwrap();
    queue.put(1).await.unwrap();
    let q = queue.clone();
    leaves_nothing_behind(&server, "queue put on a full queue", move |i| {
        let q = q.clone();
        async move {
            let r = q.put_timeout(100 + i as u32, short(i)).await;
            assert_eq!(r.as_ref().err().and_then(|e| e.remote_kind()), Some(RemoteErrorKind::Full), "{r:?}");
        }
    })
    .await;
    let other = server.client().await;
    let theirs: manager_client::QueueProxy<u32> = other.attach(&queue.token()).await.unwrap();
    assert_eq!(theirs.get().await.unwrap(), 1, "only the first item was ever put");
    assert_eq!(theirs.qsize().await.unwrap(), 0);
    queue.put(2).await.unwrap();
    assert_eq!(bounded("get", theirs.get()).await.unwrap(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timed_out_lock_acquires_leave_nothing_behind() {
    let server = ServerChild::start();
    let holder = server.client().await;
    let lock = holder.lock().await.unwrap();
    assert!(lock.acquire().await.unwrap());
    let client = server.client().await;
    let theirs: manager_client::LockProxy = client.attach(&lock.token()).await.unwrap();
    let l = theirs.clone();
    leaves_nothing_behind(&server, "lock acquire on a held lock", move |i| {
        let l = l.clone();
        async move {
            assert!(!l.acquire_timeout(short(i)).await.unwrap(), "the lock is held");
        }
    })
    .await;
    // The holder still holds it; released, it goes to the next caller (who owns it:
    // ownership is per task, so the caller checks in its own task).
    assert!(lock.owned().await.unwrap());
    let waiting = tokio::spawn(async move {
        let got = theirs.acquire().await.unwrap();
        let owned = theirs.owned().await.unwrap();
        theirs.release().await.unwrap();
        (got, owned)
    });
    lock.release().await.unwrap();
    assert_eq!(bounded("acquire after the release", waiting).await.unwrap(), (true, true));
    assert!(!lock.locked().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timed_out_rlock_acquires_leave_nothing_behind() {
    let server = ServerChild::start();
    let holder = server.client().await;
    let rlock = holder.rlock().await.unwrap();
    assert!(rlock.acquire().await.unwrap() && rlock.acquire().await.unwrap());
    let client = server.client().await;
    let theirs: manager_client::RLockProxy = client.attach(&rlock.token()).await.unwrap();
    let l = theirs.clone();
    leaves_nothing_behind(&server, "rlock acquire on a held rlock", move |i| {
        let l = l.clone();
        async move {
            assert!(!l.acquire_timeout(short(i)).await.unwrap(), "the rlock is held");
        }
    })
    .await;
    let waiting = tokio::spawn(async move {
        let got = theirs.acquire().await.unwrap();
        let owned = theirs.owned().await.unwrap();
        theirs.release().await.unwrap();
        (got, owned)
    });
    rlock.release().await.unwrap();
    assert!(rlock.owned().await.unwrap(), "held twice, released once");
    rlock.release().await.unwrap();
    assert_eq!(bounded("acquire after the releases", waiting).await.unwrap(), (true, true));
    assert!(!rlock.locked().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timed_out_semaphore_acquires_leave_nothing_behind() {
    let server = ServerChild::start();
    let client = server.client().await;
    let sem = client.semaphore(0).await.unwrap();
    let s = sem.clone();
    leaves_nothing_behind(&server, "semaphore acquire with no permits", move |i| {
        let s = s.clone();
        async move {
            assert!(!s.acquire_timeout(short(i)).await.unwrap(), "no permits");
        }
    })
    .await;
    assert_eq!(sem.value().await.unwrap(), 0);
    let other = server.client().await;
    let theirs: manager_client::SemaphoreProxy = other.attach(&sem.token()).await.unwrap();
    let waiting = tokio::spawn(async move { theirs.acquire().await });
    assert!(crate::util::eventually(HANG, async || client.stats().await.unwrap().parked_calls == 1).await);
    sem.release().await.unwrap();
    assert!(bounded("acquire after the release", waiting).await.unwrap().unwrap());
    assert_eq!(sem.value().await.unwrap(), 0, "the one permit went to the live waiter");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timed_out_condition_waits_leave_nothing_behind() {
    let server = ServerChild::start();
    let client = server.client().await;
    // One condition per pipeline, each held by its task, which waits over and over: a
    // timed-out wait takes the lock back, so the next wait needs no acquire.
    let mut conditions = Vec::new();
    for _ in 0..IN_FLIGHT {
        conditions.push(client.condition().await.unwrap());
    }
    let shared = std::sync::Arc::new(conditions.clone());
    for round in [WARM_UP, WAITS] {
        let before = server.rss_kib();
        let tasks: Vec<_> = (0..IN_FLIGHT)
            .map(|t| {
                let cond = shared[t].clone();
                tokio::spawn(async move {
                    assert!(cond.acquire().await.unwrap());
                    for i in (t..round).step_by(IN_FLIGHT) {
                        assert!(!cond.wait(Some(short(i))).await.unwrap(), "nobody notifies");
                    }
                    cond.release().await.unwrap();
                })
            })
            .collect();
        for task in tasks {
            bounded("a pipeline of condition waits", task).await.unwrap();
        }
        if round == WAITS {
            let after = server.rss_kib();
            let growth = after.saturating_sub(before);
            eprintln!("condition wait: {WAITS} timed-out waits; server RSS {before} -> {after} KiB");
            assert!(
                growth < GROWTH_BOUND_KIB,
                "condition wait: {WAITS} timed-out waits grew the server by {growth} KiB ({before} -> {after} KiB)"
            );
        }
    }
    // Still a condition: a waiter is woken by a notify from another connection.
    let cond = conditions.swap_remove(0);
    let other = server.client().await;
    let theirs: manager_client::ConditionProxy = other.attach(&cond.token()).await.unwrap();
    let waiter = tokio::spawn(async move {
        assert!(cond.acquire().await.unwrap());
        let notified = cond.wait(None).await;
        cond.release().await.unwrap();
        notified
    });
    assert!(crate::util::eventually(HANG, async || client.stats().await.unwrap().parked_calls == 1).await);
    assert!(theirs.acquire().await.unwrap());
    theirs.notify(1).await.unwrap();
    theirs.release().await.unwrap();
    assert!(bounded("the notified wait", waiter).await.unwrap().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timed_out_event_waits_leave_nothing_behind() {
    let server = ServerChild::start();
    let client = server.client().await;
    let event = client.event().await.unwrap();
    let e = event.clone();
    leaves_nothing_behind(&server, "event wait on a clear event", move |i| {
        let e = e.clone();
        async move {
            assert!(!e.wait_timeout(short(i)).await.unwrap(), "nobody sets it");
        }
    })
    .await;
    let waiting = tokio::spawn({
        let event = event.clone();
        async move { event.wait().await }
    });
    let other = server.client().await;
    let theirs: manager_client::EventProxy = other.attach(&event.token()).await.unwrap();
    theirs.set().await.unwrap();
    assert!(bounded("a wait for the set event", waiting).await.unwrap().unwrap());
}

/// A timed-out barrier wait breaks the barrier (Python's semantics), so each pipeline
/// has a barrier of its own and resets it after each timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timed_out_barrier_waits_leave_nothing_behind() {
    let server = ServerChild::start();
    let client = server.client().await;
    let mut barriers = Vec::new();
    for _ in 0..IN_FLIGHT {
        barriers.push(client.barrier(2).await.unwrap());
    }
    let barriers = std::sync::Arc::new(barriers);
    let b = std::sync::Arc::clone(&barriers);
    leaves_nothing_behind(&server, "barrier wait, then reset", move |i| {
        let barrier = b[i % IN_FLIGHT].clone();
        async move {
            let r = barrier.wait_timeout(short(i)).await;
            assert_eq!(r.as_ref().err().and_then(|e| e.remote_kind()), Some(RemoteErrorKind::BrokenBarrier), "{r:?}");
            barrier.reset().await.unwrap();
        }
    })
    .await;
    // Still a barrier: two parties pass it.
    let barrier = barriers[0].clone();
    let other = server.client().await;
    let theirs: manager_client::BarrierProxy = other.attach(&barrier.token()).await.unwrap();
    let first = tokio::spawn(async move { barrier.wait().await });
    let second = bounded("the second party", theirs.wait()).await.unwrap();
    let first = bounded("the first party", first).await.unwrap().unwrap();
    assert_eq!([first.min(second), first.max(second)], [0, 1]);
    assert!(!theirs.broken().await.unwrap());
}
