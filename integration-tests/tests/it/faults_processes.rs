//! Faults with real processes: clients and servers SIGKILLed at awkward moments.

use crate::util::{self, sigkill, worker};
use integration_tests::{Counter, CounterProxy};
use manager_client::{Client, Error, Lost, QueueProxy};
use manager_server::Server;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

fn spawn_worker(client: &Client, args: &[&str], expect: &str) -> Child {
    let mut cmd = worker();
    client.configure_child(&mut cmd);
    let mut child = cmd.args(args).stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    assert!(line.starts_with(expect), "{line:?}");
    child
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_killed_mid_call_leaves_the_server_serving() {
    let (_d, server) = util::start(Server::builder().named("c", Counter::new(0))).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let baseline = client.stats().await.unwrap();
    let c: CounterProxy = client.named("c").await.unwrap();
    let mut looping = spawn_worker(&client, &["call-loop", "c"], "RUNNING");
    util::wait_until("the worker's calls", async || c.get().await.unwrap() > 1).await;
    sigkill(&mut looping);
    util::wait_until("the killed worker's connection to close", async || {
        client.stats().await.unwrap().connections == 1
    })
    .await;
    let n = c.get().await.unwrap();
    assert!(n > 1, "the worker made calls: {n}");
    assert_eq!(c.incr(1).await.unwrap(), n + 1, "and the server goes on");
    assert_eq!(client.stats().await.unwrap().objects, baseline.objects);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_killed_holding_a_lock_an_rlock_twice_a_permit_and_a_condition() {
    let (_d, server) = util::start(Server::builder()).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let lock = client.lock().await.unwrap();
    let rlock = client.rlock().await.unwrap();
    let sem = client.semaphore(1).await.unwrap();
    let cond = client.condition().await.unwrap();
    client.bind_name("lock", &lock).await.unwrap();
    client.bind_name("rlock", &rlock).await.unwrap();
    client.bind_name("sem", &sem).await.unwrap();
    client.bind_name("cond", &cond).await.unwrap();
    let baseline = client.stats().await.unwrap().objects;
    let mut holder = spawn_worker(&client, &["hold-all"], "HELD");
    assert!(!lock.try_acquire().await.unwrap());
    assert!(!rlock.try_acquire().await.unwrap());
    assert!(!sem.try_acquire().await.unwrap());
    assert!(!cond.acquire_with(false, None).await.unwrap());
    // Others wait for them...
    let waiters = (
        tokio::spawn({
            let l = lock.clone();
            async move { l.acquire_timeout(Duration::from_secs(20)).await }
        }),
        tokio::spawn({
            let s = sem.clone();
            async move { s.acquire_timeout(Duration::from_secs(20)).await }
        }),
    );
    sigkill(&mut holder);
    // ...and get them when the holder dies.
    assert!(waiters.0.await.unwrap().unwrap());
    assert!(waiters.1.await.unwrap().unwrap());
    assert!(rlock.acquire_timeout(Duration::from_secs(5)).await.unwrap());
    assert!(cond.acquire_with(true, Some(Duration::from_secs(5))).await.unwrap());
    assert_eq!(client.stats().await.unwrap().objects, baseline, "the dead client's references are gone");
}

/// A server in its own process at `address`, and the address it listens on (for
/// `tcp://127.0.0.1:0`, the port it was given: it binds the port itself, so no other
/// process can take the port between a choice and a bind).
fn server_process(address: &str, key: &manager_client::AuthKey) -> (Child, String) {
    let mut cmd = worker();
    cmd.args(["serve-at", address]).env("MANAGER_AUTHKEY", key.to_hex()).stdout(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    let listening = line.trim().strip_prefix("LISTENING ").unwrap_or_else(|| panic!("{line:?}")).to_owned();
    (child, listening)
}

/// A TCP address whose port the server picks.
const ANY_TCP_PORT: &str = "tcp://127.0.0.1:0";

/// `bind` is where the server listens: a Unix socket path (the restarted server takes
/// the same one) or [`ANY_TCP_PORT`] (it gets a new port: the dead server's port, free
/// again, could be anyone's by then).
async fn server_killed_then_restarted(bind: &str) {
    let key = manager_client::AuthKey::new(*b"restart-key").unwrap();
    let (mut server, address) = server_process(bind, &key);
    let address = address.as_str();
    let blocked_client = Client::connect(address, &key).await.unwrap();
    let busy_client = Client::connect(address, &key).await.unwrap();
    let queue: QueueProxy<u64> = blocked_client.named("queue").await.unwrap();
    let counter: CounterProxy = busy_client.named("counter").await.unwrap();
    let observed: CounterProxy = blocked_client.named("counter").await.unwrap();
    let blocked = tokio::spawn(async move { queue.get().await });
    let busy = tokio::spawn(async move {
        loop {
            if let Err(e) = counter.incr(1).await {
                return e;
            }
        }
    });
    // Killed while the get is parked and the busy client is calling.
    util::wait_until("the get to park and the busy client to call", async || {
        blocked_client.stats().await.unwrap().parked_calls == 1 && observed.get().await.unwrap() > 0
    })
    .await;
    let killed = Instant::now();
    sigkill(&mut server);
    let e1 = tokio::time::timeout(Duration::from_secs(2), blocked).await.expect("blocked get: an error within 2 s");
    let e2 = tokio::time::timeout(Duration::from_secs(2), busy).await.expect("busy client: an error within 2 s");
    assert!(e1.unwrap().unwrap_err().is_connection_lost());
    assert!(e2.unwrap().is_connection_lost());
    eprintln!("{address}: clients told of the server's death after {:?}", killed.elapsed());
    // Later calls on the old clients fail fast; a new connection reaches the new server.
    let later = blocked_client.ping().await.unwrap_err();
    assert!(later.is_connection_lost(), "{later:?}");
    // Killed, it could not say it was shutting down: a broken connection, not a shutdown,
    // and the error keeps its cause.
    assert!(!later.is_server_shut_down(), "{later:?}");
    assert!(matches!(&later, Error::ConnectionLost { reason: Lost::Closed | Lost::Read(_), .. }), "{later:?}");
    assert!(std::error::Error::source(&later).is_some(), "{later:?}");
    let (mut restarted, address) = server_process(bind, &key);
    let fresh = Client::connect(address.as_str(), &key).await.unwrap();
    let counter: CounterProxy = fresh.named("counter").await.unwrap();
    assert_eq!(counter.incr(1).await.unwrap(), 1, "a new server run, a new counter");
    fresh.shutdown_server().await.unwrap();
    assert!(restarted.wait().unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_fails_every_client_within_two_seconds_over_unix() {
    let dir = tempfile::tempdir().unwrap();
    server_killed_then_restarted(&format!("unix:{}", dir.path().join("s.sock").display())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_fails_every_client_within_two_seconds_over_tcp() {
    server_killed_then_restarted(ANY_TCP_PORT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_keeps_every_acknowledged_write_visible() {
    let (_d, server) = util::start(Server::builder()).await;
    let writer = Client::connect(server.address(), server.authkey()).await.unwrap();
    let reader = Client::connect(server.address(), server.authkey()).await.unwrap();
    let d = writer.dict::<u64, u64>().await.unwrap();
    let seen: manager_client::DictProxy<u64, u64> = reader.attach(&d.token()).await.unwrap();
    let acked = Arc::new(AtomicU64::new(0));
    let writing = tokio::spawn({
        let acked = acked.clone();
        async move {
            let mut i = 0;
            while d.insert(i, i).await.is_ok() {
                i += 1;
                acked.store(i, Ordering::SeqCst);
            }
            i
        }
    });
    let checked = Arc::new(AtomicU64::new(0));
    let reading = tokio::spawn({
        let (acked, checked) = (acked.clone(), checked.clone());
        async move {
            loop {
                let before = acked.load(Ordering::SeqCst);
                match seen.len().await {
                    Ok(n) => {
                        assert!(n as u64 >= before, "a read saw {n} entries after {before} were acknowledged");
                        checked.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(e) => {
                        assert!(e.is_connection_lost() || e.remote_kind().is_some(), "{e:?}");
                        return checked.load(Ordering::SeqCst);
                    }
                }
            }
        }
    });
    // Shut down in the middle of the traffic, once there is some.
    util::wait_until("writes acknowledged and reads checked", async || {
        acked.load(Ordering::SeqCst) >= 20 && checked.load(Ordering::SeqCst) >= 20
    })
    .await;
    server.shutdown().await;
    let written = writing.await.unwrap();
    let checked = reading.await.unwrap();
    assert!(written > 0 && checked > 0, "{written} writes, {checked} reads checked");
}

/// A blocking client's threads, one blocked in `get` (sleeping in `recv` on its own
/// thread) and one calling in a loop: a SIGKILLed server fails both within 2 s, though
/// the keepalive period is two minutes.
fn blocking_threads_see_a_killed_server(bind: &str) {
    use manager_client::blocking;
    let key = manager_client::AuthKey::new(*b"blocking-key").unwrap();
    let (mut server, address) = server_process(bind, &key);
    let address = address.as_str();
    let options = manager_client::ClientOptions { keepalive: Duration::from_secs(120), ..Default::default() };
    let client = blocking::Client::connect_with(address, &key, &options).unwrap();
    let queue: blocking::QueueProxy<u64> = client.named("queue").unwrap();
    let counter: integration_tests::CounterBlockingProxy = client.named("counter").unwrap();
    let observed = counter.clone();
    let (failed, failures) = std::sync::mpsc::channel();
    let blocked = failed.clone();
    std::thread::spawn(move || blocked.send(queue.get().map(|_| ())));
    std::thread::spawn(move || {
        let e = loop {
            if let Err(e) = counter.incr(1) {
                break e;
            }
        };
        failed.send(Err(e))
    });
    // Killed while the get is parked and the other thread is calling.
    util::wait_until_blocking("the get to park and the other thread to call", || {
        client.stats().unwrap().parked_calls == 1 && observed.get().unwrap() > 0
    });
    let killed = Instant::now();
    sigkill(&mut server);
    for _ in 0..2 {
        let result = failures.recv_timeout(Duration::from_secs(2)).expect("an error within 2 s");
        assert!(result.unwrap_err().is_connection_lost());
    }
    eprintln!("{address}: blocking threads told of the server's death after {:?}", killed.elapsed());
    assert!(client.ping().unwrap_err().is_connection_lost());
}

#[test]
fn a_killed_server_fails_blocking_threads_over_unix() {
    let dir = tempfile::tempdir().unwrap();
    blocking_threads_see_a_killed_server(&format!("unix:{}", dir.path().join("s.sock").display()));
}

#[test]
fn a_killed_server_fails_blocking_threads_over_tcp() {
    blocking_threads_see_a_killed_server(ANY_TCP_PORT);
}

/// A blocking client used on a thread that runs async tasks returns its error, and
/// nothing reaches stderr (no panic message, no backtrace); from `spawn_blocking` on
/// the same runtime it is served. Both runtime flavors, in a process of their own.
#[tokio::test]
async fn a_blocking_client_on_an_async_thread_is_refused_quietly() {
    let (_d, server) = util::start(Server::builder()).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    for flavor in ["multi", "current"] {
        let mut cmd = worker();
        client.configure_child(&mut cmd);
        cmd.args(["misuse", flavor]).stdout(Stdio::piped()).stderr(Stdio::piped());
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap();
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{flavor}: {stdout}\n{stderr}");
        assert!(
            stdout.contains("on the runtime's thread: configuration: a blocking manager client was used on a thread"),
            "{flavor}: {stdout}"
        );
        assert!(stdout.contains("from spawn_blocking: Ok(())"), "{flavor}: {stdout}");
        assert!(!stderr.contains("panicked"), "{flavor}: {stderr}");
    }
}

/// A frozen server (SIGSTOPped: its socket stays open, nothing answers) is declared
/// lost within the bound the error states, two keepalive periods, not the five or so
/// it took when the reader task started counting only after the calling thread's
/// own reads gave up.
#[test]
fn a_frozen_server_is_lost_within_two_keepalive_periods() {
    let key = manager_client::AuthKey::new(*b"frozen-key").unwrap();
    let mut server = worker()
        .args(["serve-at", "tcp://127.0.0.1:0"])
        .env("MANAGER_AUTHKEY", key.to_hex())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    let address = line.trim().strip_prefix("LISTENING ").unwrap().to_owned();
    let keepalive = Duration::from_secs(1);
    let options = manager_client::ClientOptions { keepalive, ..Default::default() };
    let client = manager_client::blocking::Client::connect_with(address.as_str(), key.as_bytes(), &options).unwrap();
    let counter: integration_tests::CounterBlockingProxy = client.named("counter").unwrap();
    assert_eq!(counter.incr(1).unwrap(), 1);
    // Signals through kill(1): the workspace forbids `unsafe`, which `libc::kill` needs.
    let signal = |name: &str| {
        let sent = std::process::Command::new("kill").args([name, &server.id().to_string()]).status().unwrap();
        assert!(sent.success(), "kill {name}");
    };
    signal("-STOP");
    // kill(1) returns when the signal is sent, not when every thread has stopped: a
    // thread still running could answer the call below. Wait for the state /proc shows.
    let pid = server.id();
    crate::util::wait_until_blocking("every thread of the server to stop", || {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return false };
        tasks.flatten().all(|task| {
            let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
            // The state follows the command name's closing parenthesis: T is stopped.
            stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('T'))
        })
    });
    let started = Instant::now();
    let err = counter.incr(1).unwrap_err();
    let took = started.elapsed();
    signal("-CONT");
    sigkill(&mut server);
    assert!(matches!(err, Error::ConnectionLost { .. }), "{err:?}");
    assert!(err.to_string().contains("2s"), "the bound it states: {err}");
    // Two periods and a little; three allows for a loaded machine (it was five or more).
    assert!(took >= keepalive * 2 - Duration::from_millis(50), "{took:?}");
    assert!(took < keepalive * 3, "{took:?}: {err}");
}
