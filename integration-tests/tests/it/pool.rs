//! The process pool: real worker processes (the `worker` binary, which serves
//! `integration_tests::jobs::all()`), killed, panicking, replaced, terminated, shared.

use crate::util::{self, wait_until, wait_until_blocking};
use integration_tests::jobs::{add, boom, cube, gate, halve, square, square_u32, whoami};
use manager_client::{Client, Error, Pool, PoolOptions, RemoteErrorKind};
use manager_server::Server;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

fn options(processes: usize) -> PoolOptions {
    PoolOptions::default().processes(processes).program(env!("CARGO_BIN_EXE_worker"))
}

async fn setup() -> (tempfile::TempDir, Server, Client) {
    let (dir, server) = util::start(Server::builder()).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    (dir, server, client)
}

fn kind(e: &Error) -> RemoteErrorKind {
    e.remote_kind().unwrap_or_else(|| panic!("not a remote error: {e:?}"))
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// The pid in `<dir>/started-<pid>` files, in no order.
fn started(dir: &Path) -> Vec<u32> {
    let names = std::fs::read_dir(dir).unwrap().filter_map(|e| e.ok()?.file_name().into_string().ok());
    names.filter_map(|n| n.strip_prefix("started-")?.parse().ok()).collect()
}

/// SIGKILLs `pid` through kill(1): the workspace keeps `unsafe` (which `libc::kill`
/// needs) to the modules whose job it is.
fn kill(pid: u32) {
    let sent = std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status().unwrap();
    assert!(sent.success(), "kill -KILL {pid}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_map_imap_starmap_and_async_results() {
    let (_d, _s, client) = setup().await;
    let pool = Pool::new(&client, options(2)).await.unwrap();
    assert_eq!(pool.apply::<square>(7).await.unwrap(), 49);
    // A typed error is an ordinary output.
    assert_eq!(pool.apply::<halve>(3).await.unwrap(), Err("3 is odd".to_owned()));
    assert_eq!(pool.map::<square>(0..100).await.unwrap(), (0..100).map(|x| x * x).collect::<Vec<_>>());
    assert_eq!(pool.map_chunked::<square>(0..10, 3).await.unwrap()[9], 81);
    assert_eq!(pool.starmap::<add>(vec![(1, 2), (3, 4)]).await.unwrap(), vec![3, 7]);
    let mut ordered = pool.imap::<square>(0..20, 3);
    let mut got = Vec::new();
    while let Some(r) = ordered.next_async().await {
        got.push(r.unwrap());
    }
    assert_eq!(got, (0..20).map(|x| x * x).collect::<Vec<_>>());
    let mut unordered = pool.imap_unordered::<square>(0..20, 1);
    let mut got = Vec::new();
    while let Some(r) = unordered.next_async().await {
        got.push(r.unwrap());
    }
    got.sort_unstable();
    assert_eq!(got, (0..20).map(|x| x * x).collect::<Vec<_>>());

    let seen = Arc::new(AtomicU64::new(0));
    let s = Arc::clone(&seen);
    let r = pool.apply_async_with::<square>(9, move |out| {
        s.store(*out.as_ref().unwrap(), Ordering::SeqCst);
    });
    assert_eq!(r.result().await.unwrap(), 81);
    assert!(r.ready());
    assert_eq!(r.successful(), Some(true));
    assert_eq!(seen.load(Ordering::SeqCst), 81, "the callback ran before the result was ready");
    let failed = pool.apply_async::<boom>("no".into());
    failed.wait_async().await;
    assert_eq!(failed.successful(), Some(false));

    pool.close().await.unwrap();
    let late = pool.apply::<square>(1).await.unwrap_err();
    assert_eq!(kind(&late), RemoteErrorKind::PoolNotRunning);
    assert!(late.to_string().contains("Pool not running"), "{late}");
    let pids = pool.pids();
    pool.join().await.unwrap();
    assert!(pool.pids().is_empty());
    assert!(pids.iter().all(|p| !alive(*p)), "the workers exited and were reaped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_an_unknown_job_and_a_signature_mismatch_fail_clearly() {
    let (_d, _s, client) = setup().await;
    let pool = Pool::new(&client, options(1)).await.unwrap();
    let e = pool.apply::<boom>("the job's own words".into()).await.unwrap_err();
    assert_eq!(kind(&e), RemoteErrorKind::Panicked);
    assert!(e.to_string().contains("job `boom` panicked") && e.to_string().contains("the job's own words"), "{e}");
    let e = pool.apply::<cube>(2).await.unwrap_err();
    assert_eq!(kind(&e), RemoteErrorKind::NotExposed);
    assert!(e.to_string().contains("does not know job `cube`"), "{e}");
    let e = pool.apply::<square_u32>(2).await.unwrap_err();
    assert_eq!(kind(&e), RemoteErrorKind::Decode);
    assert!(e.to_string().contains("job `square` with another signature"), "{e}");
    // The same worker goes on.
    let pid = pool.pids()[0];
    assert_eq!(pool.apply::<whoami>(()).await.unwrap(), pid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_task_fails_that_task_and_is_replaced() {
    let (_d, _s, client) = setup().await;
    let gates = tempfile::tempdir().unwrap();
    let dir = gates.path().to_str().unwrap().to_owned();
    let pool = Pool::new(&client, options(2)).await.unwrap();
    let blocked = pool.apply_async::<gate>(dir.clone());
    wait_until("the gate task to start", || async { !started(gates.path()).is_empty() }).await;
    let victim = started(gates.path())[0];
    let others: Vec<_> = (0..20).map(|i| pool.apply_async::<square>(i)).collect();
    kill(victim);
    let e = blocked.result().await.unwrap_err();
    assert_eq!(kind(&e), RemoteErrorKind::WorkerLost);
    let text = e.to_string();
    assert!(text.contains(&format!("worker process {victim}")) && text.contains("job `gate`"), "{text}");
    for (i, r) in others.iter().enumerate() {
        assert_eq!(r.result().await.unwrap(), (i * i) as u64);
    }
    wait_until("a replacement worker", || async {
        let pids = pool.pids();
        pool.stats().await.unwrap().workers == 2 && pids.len() == 2 && !pids.contains(&victim)
    })
    .await;
    assert_eq!(pool.map::<square>(0..10).await.unwrap()[3], 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_retry_policy_a_lost_task_runs_again_on_the_replacement() {
    let (_d, _s, client) = setup().await;
    let gates = tempfile::tempdir().unwrap();
    let dir = gates.path().to_str().unwrap().to_owned();
    let pool = Pool::new(&client, options(1).retry_lost_tasks(true)).await.unwrap();
    let task = pool.apply_async::<gate>(dir);
    wait_until("the task to start", || async { started(gates.path()).len() == 1 }).await;
    let first = started(gates.path())[0];
    kill(first);
    wait_until("the task to start again", || async { started(gates.path()).len() == 2 }).await;
    std::fs::write(gates.path().join("go"), b"").unwrap();
    let ran_on = task.result().await.unwrap();
    assert_ne!(ran_on, first, "it ran to the end on the replacement");
    assert!(started(gates.path()).contains(&ran_on));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminate_fails_queued_and_running_tasks_and_kills_the_workers() {
    let (_d, _s, client) = setup().await;
    let gates = tempfile::tempdir().unwrap();
    let pool = Pool::new(&client, options(1)).await.unwrap();
    let running = pool.apply_async::<gate>(gates.path().to_str().unwrap().to_owned());
    wait_until("the gate task to start", || async { !started(gates.path()).is_empty() }).await;
    let queued: Vec<_> = (0..5).map(|i| pool.apply_async::<square>(i)).collect();
    wait_until("five tasks queued", || async { pool.stats().await.unwrap().queued == 5 }).await;
    let pids = pool.pids();
    pool.terminate().await.unwrap();
    for r in &queued {
        assert_eq!(kind(&r.result().await.unwrap_err()), RemoteErrorKind::PoolNotRunning);
    }
    let e = running.result().await.unwrap_err();
    assert_eq!(kind(&e), RemoteErrorKind::PoolNotRunning);
    assert!(e.to_string().contains("terminated"), "{e}");
    assert!(pids.iter().all(|p| !alive(*p)), "killed and reaped: {pids:?}");
    assert_eq!(kind(&pool.apply::<square>(1).await.unwrap_err()), RemoteErrorKind::PoolNotRunning);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_tasks_per_child_replaces_workers_and_the_initializer_runs_once_in_each() {
    let (_d, _s, client) = setup().await;
    let inits = tempfile::tempdir().unwrap();
    let dir = inits.path().to_str().unwrap().to_owned();
    let opts = options(1).max_tasks_per_child(2).initializer::<integration_tests::jobs::note_init>(dir);
    let pool = Pool::new(&client, opts).await.unwrap();
    let mut pids = Vec::new();
    for _ in 0..6 {
        pids.push(pool.apply::<whoami>(()).await.unwrap());
    }
    assert!(pids[0] == pids[1] && pids[2] == pids[3] && pids[4] == pids[5], "{pids:?}");
    assert!(pids[0] != pids[2] && pids[2] != pids[4] && pids[0] != pids[4], "{pids:?}");
    let mut names: Vec<String> =
        std::fs::read_dir(inits.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    for pid in [pids[0], pids[2], pids[4]] {
        assert!(names.contains(&format!("init-{pid}-0")), "{names:?}");
        assert!(!names.contains(&format!("init-{pid}-1")), "once per worker: {names:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_shared_by_name_serves_another_process_and_a_hand_started_worker() {
    let (_d, server, client) = setup().await;
    let pool = Pool::new(&client, options(1)).await.unwrap();
    client.bind_name("squares", pool.proxy()).await.unwrap();
    // A worker started by hand, as on another host: it joins by name.
    let mut extra = util::worker();
    extra.args(["pool-serve", "squares"]).env("MANAGER_ADDRESS", server.address().to_string());
    extra.env("MANAGER_AUTHKEY", server.authkey().to_hex());
    let mut extra = extra.spawn().unwrap();
    wait_until("the hand-started worker", || async { pool.stats().await.unwrap().workers == 2 }).await;
    // Another client process submits to the same workers.
    let mut submit = util::worker();
    submit.args(["pool-submit", "squares"]).env("MANAGER_ADDRESS", server.address().to_string());
    submit.env("MANAGER_AUTHKEY", server.authkey().to_hex());
    let out = tokio::task::spawn_blocking(move || util::run_worker(submit)).await.unwrap();
    assert_eq!(out.trim(), "[0, 1, 4, 9, 16, 25, 36, 49, 64, 81]");
    pool.close().await.unwrap();
    pool.join().await.unwrap();
    let status = tokio::task::spawn_blocking(move || extra.wait().unwrap()).await.unwrap();
    assert!(status.success(), "the hand-started worker exits once the pool is closed and drained");
}

/// A peer calling the broker's worker methods with nonsense gets errors, and the
/// pool goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_peer_gets_errors_not_a_hang() {
    let (_d, _s, client) = setup().await;
    let pool = Pool::new(&client, options(1)).await.unwrap();
    let handle = manager_client::Proxy::handle(pool.proxy()).clone();
    let e = handle.call::<_, Vec<manager_client::proto::pool::Task>>("take", &(5u64,)).await.unwrap_err();
    assert_eq!(kind(&e), RemoteErrorKind::InvalidValue, "take before hello");
    let _: (String, u64, Vec<u8>) = handle.call("hello", &(1u64,)).await.unwrap();
    let e = handle.call::<_, ()>("done", &(12345u64, 0u64, vec![1u8], String::new())).await.unwrap_err();
    assert_eq!(kind(&e), RemoteErrorKind::InvalidValue, "a done for a task it never took");
    assert!(e.to_string().contains("task 12345"), "{e}");
    let e = handle.call::<_, ()>("done", &(1u64,)).await.unwrap_err();
    assert_eq!(kind(&e), RemoteErrorKind::Decode);
    assert_eq!(pool.apply::<square>(5).await.unwrap(), 25, "the pool goes on");
    pool.close().await.unwrap();
    let batch: Vec<manager_client::proto::pool::Task> = handle.call("take", &(5u64,)).await.unwrap();
    assert!(batch.is_empty(), "a take from a closed, drained pool says exit");
}

/// The blocking pool: 10,000 `apply_async` (far past the server's 1024 calls in flight
/// per connection) all complete, with their callbacks.
#[test]
fn ten_thousand_apply_async_on_a_blocking_pool() {
    let server = Server::builder().start_blocking().unwrap();
    let client = manager_client::blocking::Client::connect(server.address(), server.authkey()).unwrap();
    let pool = manager_client::blocking::Pool::new(&client, options(2)).unwrap();
    let called = Arc::new(AtomicU64::new(0));
    let results: Vec<_> = (0..10_000u64)
        .map(|i| {
            let called = Arc::clone(&called);
            pool.apply_async_with::<square>(i, move |_| {
                called.fetch_add(1, Ordering::Relaxed);
            })
        })
        .collect();
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r.get(Some(Duration::from_secs(60))).unwrap(), (i * i) as u64);
    }
    assert_eq!(called.load(Ordering::Relaxed), 10_000);
    assert_eq!(pool.map::<square>(0..1000).unwrap()[999], 998_001);
    let unordered: u64 = pool.imap_unordered::<square>(0..100, 7).map(Result::unwrap).sum();
    assert_eq!(unordered, (0..100u64).map(|x| x * x).sum::<u64>());
    let pending = pool.apply_async::<gate>("/nonexistent-dir-for-a-gate".into());
    let e = pending.get(Some(Duration::from_millis(10))).unwrap_err();
    assert!(matches!(e, Error::Timeout(_)), "{e:?}");
    let pids = pool.pids();
    drop(pool);
    wait_until_blocking("the dropped pool's workers to be gone", || pids.iter().all(|p| !alive(*p)));
}

/// A submitter that gives up — its call dropped, or its connection gone — withdraws
/// its queued task: no worker runs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_call_or_a_closed_connection_withdraws_queued_tasks() {
    let (_d, server, client) = setup().await;
    let gates = tempfile::tempdir().unwrap();
    let pool = Pool::new(&client, options(1)).await.unwrap();
    let busy = pool.apply_async::<gate>(gates.path().to_str().unwrap().to_owned());
    wait_until("the worker to be busy", || async { !started(gates.path()).is_empty() }).await;
    let proxy = pool.proxy().clone();
    let waiting = tokio::spawn(async move { proxy.apply::<square>(3).await });
    wait_until("one task queued", || async { pool.stats().await.unwrap().queued == 1 }).await;
    waiting.abort();
    wait_until("the cancelled task withdrawn", || async { pool.stats().await.unwrap().queued == 0 }).await;
    // Another process's tasks, then it dies.
    client.bind_name("gated", pool.proxy()).await.unwrap();
    let mut other = util::worker();
    other.args(["pool-hang", "gated", "3"]).env("MANAGER_ADDRESS", server.address().to_string());
    let mut other = other.env("MANAGER_AUTHKEY", server.authkey().to_hex()).spawn().unwrap();
    wait_until("their tasks queued", || async { pool.stats().await.unwrap().queued == 3 }).await;
    util::sigkill(&mut other);
    wait_until("their tasks withdrawn", || async { pool.stats().await.unwrap().queued == 0 }).await;
    std::fs::write(gates.path().join("go"), b"").unwrap();
    busy.result().await.unwrap();
    assert_eq!(pool.stats().await.unwrap().done, 1, "only the gate task ran");
}

/// A program that does not serve jobs (here `true`, as a `main` without `serve_jobs`
/// that exits 0, and `false`) is started a few times, then given up on: the pool is
/// terminated saying why, and a submitter gets that error instead of waiting for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_that_keep_ending_at_start_terminate_the_pool_with_the_reason() {
    let (_d, _s, client) = setup().await;
    for program in ["true", "false"] {
        let pool = Pool::new(&client, PoolOptions::default().processes(2).program(program)).await.unwrap();
        let e = pool.apply::<square>(3).await.unwrap_err();
        assert_eq!(kind(&e), RemoteErrorKind::PoolNotRunning, "{program}: {e}");
        let message = e.to_string();
        assert!(message.contains("kept ending at start") && message.contains("serve_jobs"), "{program}: {message}");
        let code = if program == "true" { "exit code 0" } else { "exit code 1" };
        assert!(message.contains(code), "{program}: {message}");
        // Later submissions are refused at once, with the same reason.
        let e = pool.apply::<square>(4).await.unwrap_err();
        assert!(e.to_string().contains("kept ending at start"), "{e}");
    }
}
