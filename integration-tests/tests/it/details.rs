//! Python's remaining object-model details: start-up hooks, barrier actions,
//! `wait_for`'s value, missing keys named in errors, `Namespace`'s private names.

use crate::util::{self, worker};
use integration_tests::{Counter, CounterProxy, token_to_hex};
use manager_client::{Client, Error, RemoteErrorKind};
use manager_server::{Builtin, Server};
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

fn kind(e: &Error) -> RemoteErrorKind {
    e.remote_kind().unwrap_or_else(|| panic!("not a remote error: {e:?}"))
}

#[tokio::test]
async fn on_start_creates_named_objects_before_the_first_client() {
    let builder = Server::builder().register::<Counter>().on_start(|s| {
        s.named("boot", Counter::new(41))?;
        s.named_builtin("jobs", Builtin::Queue { maxsize: 0 })
    });
    let (_dir, server) = util::start(builder).await;
    // Before anyone connected, the hook's objects are there.
    assert_eq!(server.stats().named, 2);
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let boot: CounterProxy = client.named("boot").await.unwrap();
    assert_eq!(boot.incr(1).await.unwrap(), 42);
    let jobs: manager_client::QueueProxy<String> = client.named("jobs").await.unwrap();
    jobs.put("first".into()).await.unwrap();
    assert_eq!(jobs.get().await.unwrap(), "first");
}

#[tokio::test]
async fn a_failing_on_start_hook_fails_start_and_says_why() {
    let (_dir, path) = util::socket_path();
    let err = Server::builder()
        .listen_unix(&path)
        .named("taken", Counter::new(1))
        .on_start(|s| s.named("taken", Counter::new(2)))
        .start()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("`taken`"), "{err}");
    assert!(!path.exists(), "a server that did not start left its socket behind");
}

/// Starts a worker waiting on `barrier`; returns it once it said it waits.
fn barrier_worker(client: &Client, barrier: &manager_client::BarrierProxy) -> std::process::Child {
    let mut cmd = worker();
    client.configure_child(&mut cmd);
    let mut child = cmd
        .args(["block-barrier", &token_to_hex(&barrier.token())])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "WAITING");
    child
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_barrier_action_runs_once_per_pass_before_the_waiters_go_on() {
    let passes = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&passes);
    let builder = Server::builder().barrier_action("count", move || {
        counted.fetch_add(1, Ordering::SeqCst);
    });
    let (_dir, server) = util::start(builder).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let barrier = client.barrier_with_action(3, "count").await.unwrap();
    for pass in 1..=2 {
        let workers: Vec<_> = (0..2).map(|_| barrier_worker(&client, &barrier)).collect();
        util::wait_until("both workers wait", async || barrier.n_waiting().await.unwrap() == 2).await;
        barrier.wait().await.unwrap();
        // Released after the action ran, and it ran once for the three of us.
        assert_eq!(passes.load(Ordering::SeqCst), pass);
        for w in workers {
            let out = w.wait_with_output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            assert!(String::from_utf8_lossy(&out.stdout).contains("PASSED"));
        }
    }
    assert_eq!(passes.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_barrier_action_breaks_the_barrier_for_every_waiter() {
    let builder = Server::builder().barrier_action("boom", || panic!("the action failed"));
    let (_dir, server) = util::start(builder).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let barrier = client.barrier_with_action(2, "boom").await.unwrap();
    let waiter = barrier_worker(&client, &barrier);
    util::wait_until("the worker waits", async || barrier.n_waiting().await.unwrap() == 1).await;
    let err = barrier.wait().await.unwrap_err();
    assert_eq!(kind(&err), RemoteErrorKind::BrokenBarrier);
    assert!(err.to_string().contains("`boom` panicked"), "{err}");
    let out = waiter.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("`boom` panicked"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(barrier.broken().await.unwrap());
    // The server goes on serving.
    assert_eq!(client.list::<u8>().await.unwrap().len().await.unwrap(), 0);
}

#[tokio::test]
async fn an_unknown_barrier_action_is_an_error_at_creation() {
    let (_dir, server) = util::start(Server::builder().barrier_action("count", || {})).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let err = client.barrier_with_action(2, "cuont").await.unwrap_err();
    assert_eq!(kind(&err), RemoteErrorKind::InvalidValue);
    let text = err.to_string();
    assert!(text.contains("`cuont`") && text.contains("count"), "{text}");
    assert_eq!(server.stats().objects, 0);
}

#[tokio::test]
async fn wait_for_returns_the_predicates_last_value() {
    let (_dir, server) = util::start(Server::builder()).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let cond = client.condition().await.unwrap();
    let jobs = client.list::<String>().await.unwrap();
    let producer = tokio::spawn({
        let (cond, jobs) = (cond.clone(), jobs.clone());
        async move {
            let guard = cond.lock().await?;
            jobs.append("build".into()).await?;
            guard.notify_all().await
        }
    });
    let guard = cond.lock().await.unwrap();
    // The predicate hands back what it found, and wait_for returns it.
    let found: Option<String> = guard
        .wait_for(async || Ok(jobs.snapshot().await?.into_iter().next()), Some(Duration::from_secs(20)))
        .await
        .unwrap();
    assert_eq!(found.as_deref(), Some("build"));
    producer.await.unwrap().unwrap();
    // Timed out: the last (falsy) value.
    let none: Vec<String> = guard.wait_for(async || Ok(Vec::new()), Some(Duration::from_millis(20))).await.unwrap();
    assert!(none.is_empty());
    let count: u64 = guard.wait_for(async || Ok(0u64), Some(Duration::from_millis(20))).await.unwrap();
    assert_eq!(count, 0);
}

#[tokio::test]
async fn a_missing_keys_error_shows_the_key() {
    let (_dir, server) = util::start(Server::builder()).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let d = client.dict::<String, u32>().await.unwrap();
    d.insert("present".into(), 1).await.unwrap();
    for err in [d.remove("absent-key").await.unwrap_err(), d.pop("absent-key").await.unwrap_err()] {
        assert_eq!(kind(&err), RemoteErrorKind::KeyNotFound);
        assert!(err.to_string().contains("\"absent-key\""), "{err}");
    }
    let ids = client.dict::<(u32, u32), u32>().await.unwrap();
    let err = ids.remove(&(7, 9)).await.unwrap_err();
    assert!(err.to_string().contains("(7, 9)"), "{err}");
    let s = client.set::<u64>().await.unwrap();
    let err = s.remove(&12345).await.unwrap_err();
    assert_eq!(kind(&err), RemoteErrorKind::KeyNotFound);
    assert!(err.to_string().contains("12345"), "{err}");
    // A huge key is shown cut short.
    let long = "k".repeat(10_000);
    let err = d.pop(long.as_str()).await.unwrap_err();
    assert!(err.to_string().len() < 1_000, "{}", err.to_string().len());
}

#[tokio::test]
async fn namespace_names_starting_with_an_underscore_are_refused() {
    let (_dir, server) = util::start(Server::builder()).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let ns = client.namespace().await.unwrap();
    let err = ns.set("_private", 1u32).await.unwrap_err();
    assert_eq!(kind(&err), RemoteErrorKind::InvalidValue);
    assert!(err.to_string().contains("`_private`"), "{err}");
    assert!(!ns.contains("_private").await.unwrap());
    assert!(ns.names().await.unwrap().is_empty());
    ns.set("public_", 2u32).await.unwrap();
    assert_eq!(ns.get::<u32>("public_").await.unwrap(), 2);
}
