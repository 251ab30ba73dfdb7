//! Locks, semaphores, conditions, events and barriers: Python's semantics, plus
//! ownership released with the connection.

use crate::util;
use manager_client::{Client, Error, RemoteErrorKind};
use manager_server::Server;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

async fn client() -> (tempfile::TempDir, Server, Client) {
    let (dir, server) = util::start(Server::builder()).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    (dir, server, client)
}

fn kind(e: Error) -> RemoteErrorKind {
    e.remote_kind().unwrap_or_else(|| panic!("not a remote error: {e:?}"))
}

const SHORT: Duration = Duration::from_millis(100);

#[tokio::test]
async fn lock_semantics() {
    let (_d, _s, c) = client().await;
    let lock = c.lock().await.unwrap();
    assert!(lock.acquire().await.unwrap());
    assert!(!lock.try_acquire().await.unwrap(), "not re-entrant");
    assert!(!lock.acquire_timeout(SHORT).await.unwrap());
    assert_eq!(kind(lock.acquire_with(false, Some(SHORT)).await.unwrap_err()), RemoteErrorKind::InvalidValue);
    assert!(lock.locked().await.unwrap());
    // Another task (another owner) may release a plain Lock, as in Python.
    let l2 = lock.clone();
    tokio::spawn(async move { l2.release().await }).await.unwrap().unwrap();
    assert!(!lock.locked().await.unwrap());
    assert_eq!(kind(lock.release().await.unwrap_err()), RemoteErrorKind::NotOwner);
    {
        let _guard = lock.lock().await.unwrap();
        assert!(lock.locked().await.unwrap());
    }
    c.ping().await.unwrap();
    assert!(!lock.locked().await.unwrap(), "the guard released on drop");
}

#[tokio::test]
async fn rlock_is_reentrant_per_task_and_owned() {
    let (_d, _s, c) = client().await;
    let r = c.rlock().await.unwrap();
    assert!(r.acquire().await.unwrap());
    assert!(r.acquire().await.unwrap());
    let other = r.clone();
    let (busy, release) =
        tokio::spawn(async move { (other.acquire_timeout(SHORT).await.unwrap(), other.release().await.unwrap_err()) })
            .await
            .unwrap();
    assert!(!busy, "another task waits");
    assert_eq!(kind(release), RemoteErrorKind::NotOwner, "and may not release it");
    r.release().await.unwrap();
    assert!(r.owned().await.unwrap(), "still held once");
    r.release().await.unwrap();
    assert_eq!(kind(r.release().await.unwrap_err()), RemoteErrorKind::NotOwner);
}

#[tokio::test]
async fn semaphores() {
    let (_d, _s, c) = client().await;
    let s = c.semaphore(2).await.unwrap();
    assert!(s.acquire().await.unwrap());
    assert!(s.acquire().await.unwrap());
    assert!(!s.try_acquire().await.unwrap());
    assert!(!s.acquire_timeout(SHORT).await.unwrap());
    s.release_n(3).await.unwrap();
    assert_eq!(s.value().await.unwrap(), 3, "a plain semaphore can grow past its start");
    let zero = c.semaphore(0).await.unwrap();
    assert!(!zero.acquire_timeout(SHORT).await.unwrap());
    let b = c.bounded_semaphore(1).await.unwrap();
    assert_eq!(kind(b.release().await.unwrap_err()), RemoteErrorKind::InvalidValue);
    {
        let _permit = b.permit().await.unwrap();
        assert_eq!(b.value().await.unwrap(), 0);
    }
    c.ping().await.unwrap();
    assert_eq!(b.value().await.unwrap(), 1);
}

#[tokio::test]
async fn conditions() {
    let (_d, s, c) = client().await;
    let cond = c.condition().await.unwrap();
    assert_eq!(kind(cond.wait(Some(SHORT)).await.unwrap_err()), RemoteErrorKind::NotOwner);
    assert_eq!(kind(cond.notify(1).await.unwrap_err()), RemoteErrorKind::NotOwner);
    let guard = cond.lock().await.unwrap();
    assert!(!guard.wait(Some(SHORT)).await.unwrap(), "nobody notifies: times out");
    assert!(!guard.wait_for(async || Ok(false), Some(SHORT)).await.unwrap());
    assert!(guard.wait_for(async || Ok(true), None).await.unwrap());
    drop(guard);
    // A waiter woken by a notifier, with state in a shared value. It counts the checks
    // of its predicate: one before the first wait, then one per wake-up.
    let state = c.value(0u32).await.unwrap();
    let checks = Arc::new(AtomicUsize::new(0));
    let waiter = tokio::spawn({
        let (cond, state, checks) = (cond.clone(), state.clone(), checks.clone());
        async move {
            let g = cond.lock().await.unwrap();
            let predicate = async || {
                checks.fetch_add(1, Ordering::SeqCst);
                Ok(state.get().await? == 3)
            };
            let ok = g.wait_for(predicate, Some(Duration::from_secs(10))).await;
            g.unlock().await.unwrap();
            ok
        }
    });
    for round in 0..3 {
        // Each notification finds the waiter waiting: it has checked the predicate
        // after the last wake-up, and a call of its is parked — the new wait, since the
        // previous one had ended before that check.
        util::wait_until("the waiter to wait again", async || {
            checks.load(Ordering::SeqCst) == round + 1 && s.stats().parked_calls == 1
        })
        .await;
        let g = cond.lock().await.unwrap();
        state.fetch_add(1).await.unwrap();
        g.notify_all().await.unwrap();
        g.unlock().await.unwrap();
    }
    assert!(waiter.await.unwrap().unwrap());
    // Over a lock the client made.
    let lock = c.lock().await.unwrap();
    let over = c.condition_with(&lock).await.unwrap();
    let g = over.lock().await.unwrap();
    assert!(lock.locked().await.unwrap(), "the condition's lock is that lock");
    assert!(!g.wait(Some(SHORT)).await.unwrap());
    assert!(lock.locked().await.unwrap(), "wait took the lock back");
    g.unlock().await.unwrap();
    assert!(!lock.locked().await.unwrap());
}

#[tokio::test]
async fn events() {
    let (_d, s, c) = client().await;
    let e = c.event().await.unwrap();
    assert!(!e.is_set().await.unwrap());
    assert!(!e.wait_timeout(SHORT).await.unwrap());
    let waiter = tokio::spawn({
        let e = e.clone();
        async move { e.wait().await }
    });
    util::wait_until("the event's waiter to park", async || s.stats().parked_calls == 1).await;
    e.set().await.unwrap();
    assert!(waiter.await.unwrap().unwrap());
    assert!(e.wait().await.unwrap());
    e.clear().await.unwrap();
    assert!(!e.is_set().await.unwrap());
}

#[tokio::test]
async fn barriers() {
    let (_d, _s, c) = client().await;
    let b = c.barrier_with_timeout(2, Duration::from_millis(200)).await.unwrap();
    assert_eq!((b.parties().await.unwrap(), b.n_waiting().await.unwrap(), b.broken().await.unwrap()), (2, 0, false));
    // Alone: times out and breaks.
    assert_eq!(kind(b.wait().await.unwrap_err()), RemoteErrorKind::BrokenBarrier);
    assert!(b.broken().await.unwrap());
    assert_eq!(kind(b.wait().await.unwrap_err()), RemoteErrorKind::BrokenBarrier, "broken at once");
    b.reset().await.unwrap();
    assert!(!b.broken().await.unwrap());
    let one = c.barrier(1).await.unwrap();
    assert_eq!(one.wait().await.unwrap(), 0);
    // Three parties: indexes 0, 1, 2 in arrival order.
    let three = c.barrier(3).await.unwrap();
    let mut waits = Vec::new();
    for _ in 0..3 {
        let b = three.clone();
        waits.push(tokio::spawn(async move { b.wait().await }));
    }
    let mut got: Vec<u64> = Vec::new();
    for w in waits {
        got.push(w.await.unwrap().unwrap());
    }
    got.sort();
    assert_eq!(got, vec![0, 1, 2]);
    // abort breaks a waiter.
    let w = tokio::spawn({
        let b = three.clone();
        async move { b.wait().await }
    });
    util::wait_until("a party waiting at the barrier", async || three.n_waiting().await.unwrap() == 1).await;
    three.abort().await.unwrap();
    assert_eq!(kind(w.await.unwrap().unwrap_err()), RemoteErrorKind::BrokenBarrier);
    // A cancelled waiter leaves without counting (Python's would stay as a ghost).
    let b2 = c.barrier(2).await.unwrap();
    assert!(tokio::time::timeout(SHORT, b2.wait()).await.is_err());
    assert!(util::eventually(Duration::from_secs(5), async || b2.n_waiting().await.unwrap() == 0).await);
    assert!(!b2.broken().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_connection_releases_its_lock_permits_and_waits() {
    let (_d, s, c) = client().await;
    let lock = c.lock().await.unwrap();
    let rlock = c.rlock().await.unwrap();
    let sem = c.bounded_semaphore(1).await.unwrap();
    let cond = c.condition().await.unwrap();
    {
        let other = Client::connect(s.address(), s.authkey()).await.unwrap();
        let l: manager_client::LockProxy = other.attach(&lock.token()).await.unwrap();
        let r: manager_client::RLockProxy = other.attach(&rlock.token()).await.unwrap();
        let m: manager_client::BoundedSemaphoreProxy = other.attach(&sem.token()).await.unwrap();
        let k: manager_client::ConditionProxy = other.attach(&cond.token()).await.unwrap();
        assert!(l.acquire().await.unwrap());
        assert!(r.acquire().await.unwrap() && r.acquire().await.unwrap());
        assert!(m.acquire().await.unwrap());
        assert!(k.acquire().await.unwrap());
        // The holder goes away without releasing anything.
    }
    let limit = Some(Duration::from_secs(5));
    assert!(lock.acquire_with(true, limit).await.unwrap());
    assert!(rlock.acquire_with(true, limit).await.unwrap());
    assert!(sem.acquire_with(true, limit).await.unwrap());
    assert!(cond.acquire_with(true, limit).await.unwrap());
}
