//! Real processes sharing objects through a real server (issue 2's scenarios 1, 2, 4,
//! 8, and the child-process server).

use crate::util::{self, eventually, run_worker, sigkill, worker};
use integration_tests::{Counter, CounterProxy, token_to_hex};
use manager_client::Client;
use manager_server::Server;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn with_env(mut cmd: Command, client: &Client) -> Command {
    client.configure_child(&mut cmd);
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_workers_increment_one_counter_exactly() {
    let (_dir, server) = util::start(Server::builder().named("counter", Counter::new(0))).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let children: Vec<_> = (0..10)
        .map(|_| {
            let mut cmd = with_env(worker(), &client);
            cmd.args(["incr", "counter", "1000"]).stdout(Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    let outputs = tokio::task::spawn_blocking(move || {
        children.into_iter().map(|c| c.wait_with_output().unwrap()).collect::<Vec<_>>()
    })
    .await
    .unwrap();
    for out in &outputs {
        assert!(out.status.success(), "{out:?}");
    }
    let counter: CounterProxy = client.named("counter").await.unwrap();
    assert_eq!(counter.get().await.unwrap(), 10_000);
    // Every worker saw its own increments land: the largest value any saw is the total.
    let seen: Vec<u64> = outputs.iter().map(|o| String::from_utf8_lossy(&o.stdout).trim().parse().unwrap()).collect();
    assert_eq!(seen.iter().max(), Some(&10_000));
    assert!(seen.iter().all(|&v| v >= 1000));
}

#[tokio::test]
async fn unrelated_processes_share_a_named_object_through_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("server.addr");
    // Both spawned here: neither is the other's parent.
    let mut server = worker().args(["serve", file.to_str().unwrap()]).stdout(Stdio::null()).spawn().unwrap();
    let first = run_worker({
        let mut c = worker();
        c.args(["use-named", file.to_str().unwrap(), "shared"]);
        c
    });
    let second = run_worker({
        let mut c = worker();
        c.args(["use-named", file.to_str().unwrap(), "shared"]);
        c
    });
    assert_eq!((first.trim(), second.trim()), ("5", "10"));
    let text = std::fs::read_to_string(&file).unwrap();
    let mut lines = text.lines();
    let client =
        Client::connect(lines.next().unwrap(), manager_client::AuthKey::from_hex(lines.next().unwrap()).unwrap())
            .await
            .unwrap();
    client.shutdown_server().await.unwrap();
    let status = tokio::task::spawn_blocking(move || server.wait().unwrap()).await.unwrap();
    assert!(status.success(), "the server process exits cleanly after a remote shutdown: {status:?}");
}

// Multi-threaded: the test thread blocks reading the worker's output while the server
// (on this runtime) must go on serving it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkilled_worker_releases_its_references() {
    let (_dir, server) = util::start(Server::builder().register::<Counter>().named("shared", Counter::new(0))).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let baseline = client.stats().await.unwrap().objects;
    let mut child = with_env(worker(), &client);
    let mut child = child.args(["hold", "5"]).stdout(Stdio::piped()).spawn().unwrap();
    let mut ready = String::new();
    BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut ready).unwrap();
    assert_eq!(ready.trim(), "READY 5");
    assert_eq!(client.stats().await.unwrap().objects, baseline + 5);
    sigkill(&mut child);
    let released = eventually(Duration::from_secs(5), async || client.stats().await.unwrap().objects == baseline).await;
    assert!(released, "objects after the kill: {:?}", client.stats().await.unwrap());
    // The named object survived: names hold their objects.
    let shared: CounterProxy = client.named("shared").await.unwrap();
    assert_eq!(shared.get().await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_handed_to_another_process_keeps_the_object_alive_until_both_drop_it() {
    let builder = Server::builder().register::<Counter>().token_lease(Duration::from_secs(1));
    let (_dir, server) = util::start(builder).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let baseline = client.stats().await.unwrap().objects;
    let counter = CounterProxy::create(&client, 100).await.unwrap();
    let mut child = with_env(worker(), &client);
    let mut child = child.arg("attach").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    writeln!(stdin, "{}", token_to_hex(&counter.token())).unwrap();
    assert!(out.next().unwrap().unwrap().starts_with("ATTACHED "));
    writeln!(stdin, "incr").unwrap();
    assert_eq!(out.next().unwrap().unwrap(), "101");
    // We let go; the other process still holds it.
    drop(counter);
    client.ping().await.unwrap();
    assert_eq!(client.stats().await.unwrap().objects, baseline + 1);
    writeln!(stdin, "incr").unwrap();
    assert_eq!(out.next().unwrap().unwrap(), "102");
    // Now it lets go too: the object is gone once the token's lease is over.
    writeln!(stdin, "drop").unwrap();
    assert_eq!(out.next().unwrap().unwrap(), "DROPPED");
    util::wait_until("the token's lease to end", async || {
        let stats = client.stats().await.unwrap();
        stats.objects == baseline && stats.leases == 0
    })
    .await;
    writeln!(stdin, "exit").unwrap();
    assert!(child.wait().unwrap().success());
}

#[tokio::test]
async fn a_child_process_server_serves_and_exits_with_its_parent() {
    let mut parent = worker().arg("child-server").stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(parent.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    let parts: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(parts.first(), Some(&"CHILD"), "{line}");
    let pid: i32 = parts[1].parse().unwrap();
    let key = manager_client::AuthKey::from_hex(parts[3]).unwrap();
    let client = Client::connect(parts[2], key).await.unwrap();
    let shared: CounterProxy = client.named("shared").await.unwrap();
    assert_eq!(shared.incr(1).await.unwrap(), 8);
    // The start-up hook ran in the child, the process that serves.
    let started_in: CounterProxy = client.named("started_in").await.unwrap();
    assert_eq!(started_in.get().await.unwrap(), u64::try_from(pid).unwrap());
    // The parent dies without any chance to clean up; the child notices and exits.
    sigkill(&mut parent);
    let start = Instant::now();
    let gone = eventually(Duration::from_secs(10), async || !process_alive(pid)).await;
    assert!(gone, "the child server outlived its parent");
    assert!(shared.get().await.unwrap_err().is_connection_lost());
    eprintln!("child server exited {:?} after its parent", start.elapsed());
    let _ = shared.handle();
}

/// Whether a process exists and is not a zombie.
fn process_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.split_whitespace().nth(2).is_none_or(|state| state != "Z"),
        Err(_) => false,
    }
}

/// Starts a worker with `args` on `client`'s server and waits for its first line.
fn worker_at(client: &Client, args: &[&str], expect: &str) -> std::process::Child {
    let mut cmd = with_env(worker(), client);
    let mut child = cmd.args(args).stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), expect);
    child
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_lock_holder_frees_the_lock_for_a_blocked_acquirer() {
    let (_dir, server) = util::start(Server::builder()).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let lock = client.lock().await.unwrap();
    let mut holder = worker_at(&client, &["hold-lock", &token_to_hex(&lock.token())], "HELD");
    assert!(!lock.try_acquire().await.unwrap(), "the worker holds it");
    let waiter = tokio::spawn({
        let lock = lock.clone();
        async move { lock.acquire_timeout(Duration::from_secs(20)).await }
    });
    assert!(util::eventually(Duration::from_secs(5), async || server.stats().parked_calls == 1).await);
    sigkill(&mut holder);
    assert!(waiter.await.unwrap().unwrap(), "the blocked acquire got the dead holder's lock");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_blocked_getter_does_not_swallow_the_next_item() {
    // Python's ghost waiter (probe p16): the dead child's server thread takes the item.
    let (_dir, server) = util::start(Server::builder()).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let queue = client.queue::<String>(0).await.unwrap();
    let mut getter = worker_at(&client, &["block-get", &token_to_hex(&queue.token())], "WAITING");
    assert!(util::eventually(Duration::from_secs(5), async || server.stats().parked_calls == 1).await);
    sigkill(&mut getter);
    assert!(util::eventually(Duration::from_secs(5), async || server.stats().parked_calls == 0).await);
    queue.put("precious".into()).await.unwrap();
    assert_eq!(queue.get_timeout(Duration::from_secs(1)).await.unwrap(), "precious");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_a_consumer_got_is_not_handed_out_again_when_it_dies() {
    // A queue item is acknowledged the moment it reaches its caller, not lazily with the
    // next request as a lock grant is: a consumer SIGKILLed right after its `get`
    // returned, before it said another word, must not have the item go to someone else.
    let (_dir, server) = util::start(Server::builder()).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let queue = client.queue::<String>(0).await.unwrap();
    let mut getter = worker_at(&client, &["get-and-hang", &token_to_hex(&queue.token())], "WAITING");
    queue.put("once".into()).await.unwrap();
    let mut line = String::new();
    BufReader::new(getter.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "GOT once");
    sigkill(&mut getter);
    assert!(util::eventually(Duration::from_secs(5), async || server.stats().connections == 1).await);
    assert!(queue.get_timeout(Duration::from_millis(200)).await.is_err(), "the item was delivered once");
    assert_eq!(server.stats().transfers_undone, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_barrier_waiter_does_not_count_as_a_party() {
    // Python's ghost party (probe p16): the survivor is released with a dead party.
    let (_dir, server) = util::start(Server::builder()).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let barrier = client.barrier(2).await.unwrap();
    let mut waiter = worker_at(&client, &["block-barrier", &token_to_hex(&barrier.token())], "WAITING");
    assert!(util::eventually(Duration::from_secs(5), async || barrier.n_waiting().await.unwrap() == 1).await);
    sigkill(&mut waiter);
    assert!(util::eventually(Duration::from_secs(5), async || barrier.n_waiting().await.unwrap() == 0).await);
    let alone = tokio::time::timeout(Duration::from_millis(300), barrier.wait()).await;
    assert!(alone.is_err(), "the survivor is not released by a ghost");
}
