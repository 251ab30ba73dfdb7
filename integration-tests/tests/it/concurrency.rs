//! Multiplexing: parked calls hold up nothing else; dropped calls are cancelled on the
//! server.

use crate::util;
use integration_tests::{Counter, CounterProxy, Gate, GateProxy};
use manager_client::Client;
use manager_server::Server;
use std::time::Duration;

#[tokio::test]
async fn a_parked_async_method_does_not_hold_up_the_connections_other_calls() {
    let (_dir, server) = util::start(Server::builder().register::<Counter>().register::<Gate>()).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let gate = GateProxy::create(&client).await.unwrap();
    let counter = CounterProxy::create(&client, 0).await.unwrap();
    let waiting = gate.wait_open();
    tokio::pin!(waiting);
    // Poll the wait once so it is sent, then do other work on the same connection.
    assert!(futures_poll_once(waiting.as_mut()).await.is_none());
    for i in 1..=100 {
        assert_eq!(counter.incr(1).await.unwrap(), i);
    }
    assert_eq!(gate.waiters().await.unwrap(), 1);
    gate.open().await.unwrap();
    assert!(waiting.await.unwrap());
    // &self methods of one object run together: two slow reads overlap.
    let (a, b) = tokio::join!(counter.slow_get(300), counter.slow_get(300));
    assert_eq!((a.unwrap(), b.unwrap()), (100, 100));
}

#[tokio::test]
async fn a_dropped_call_is_cancelled_on_the_server() {
    let (_dir, server) = util::start(Server::builder().register::<Gate>()).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let gate = GateProxy::create(&client).await.unwrap();
    for _ in 0..10 {
        let r = tokio::time::timeout(Duration::from_millis(20), gate.wait_open()).await;
        assert!(r.is_err(), "still closed");
    }
    // Each timed-out call was withdrawn: nothing is parked, nobody waits on the gate.
    assert!(util::eventually(Duration::from_secs(5), async || server.stats().parked_calls == 0).await);
    assert_eq!(gate.waiters().await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tasks_share_one_client() {
    let (_dir, server) = util::start(Server::builder().named("c", Counter::new(0))).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let counter: CounterProxy = client.named("c").await.unwrap();
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let counter = counter.clone();
            tokio::spawn(async move {
                for _ in 0..200 {
                    counter.incr(1).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(counter.get().await.unwrap(), 32 * 200);
}

/// 64 calls in flight on one connection, on one thread: the client writes the requests
/// of the callers one batch of responses woke in one go. Every call still gets its own
/// answer: each `incr` returns a distinct count, and together they are 1..=N.
#[tokio::test]
async fn sixty_four_calls_in_flight_each_get_their_own_answer() {
    let (_dir, server) = util::start(Server::builder().named("c", Counter::new(0))).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let counter: CounterProxy = client.named("c").await.unwrap();
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut seen = Vec::new();
                for _ in 0..300 {
                    seen.push(counter.incr(1).await.unwrap());
                }
                seen
            })
        })
        .collect();
    let mut all = Vec::new();
    // A request left unwritten would hang its caller: bound the wait.
    let joined = tokio::time::timeout(Duration::from_secs(60), async {
        for t in tasks {
            all.extend(t.await.unwrap());
        }
    });
    joined.await.expect("every call answered within 60 s");
    all.sort_unstable();
    assert_eq!(all, (1..=64 * 300).collect::<Vec<u64>>());
}

/// Polls a future once; its output if it was ready.
async fn futures_poll_once<F: std::future::Future + Unpin>(fut: F) -> Option<F::Output> {
    let mut fut = fut;
    std::future::poll_fn(|cx| {
        std::task::Poll::Ready(match std::pin::Pin::new(&mut fut).poll(cx) {
            std::task::Poll::Ready(v) => Some(v),
            std::task::Poll::Pending => None,
        })
    })
    .await
}

/// A lost wake-up shows up as a stall that only the next keepalive ping ends. With the
/// keepalive set longer than the deadline, a producer process and a consumer process
/// going through a server process over TCP must still finish: every wake-up arrives on
/// its own. (Normally a second or two; the bound only has to tell that from a stall.)
#[test]
fn a_producer_and_a_consumer_over_tcp_never_stall() {
    use std::io::BufRead;
    let key = manager_client::AuthKey::new(*b"stall-key").unwrap();
    let mut server = util::worker()
        .args(["serve-at", "tcp://127.0.0.1:0"])
        .env("MANAGER_AUTHKEY", key.to_hex())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(server.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    let address = line.trim().strip_prefix("LISTENING ").unwrap().to_owned();
    for _ in 0..3 {
        let spawn = |args: &[&str]| {
            util::worker()
                .args(args)
                .env("MANAGER_AUTHKEY", key.to_hex())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        let consumer = spawn(&["pipe-consume", &address]);
        let mut producer = spawn(&["pipe-produce", &address, "20000"]);
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let mut consumer = Some(consumer);
        loop {
            if let Some(c) = consumer.as_mut()
                && c.try_wait().unwrap().is_some()
            {
                break;
            }
            if std::time::Instant::now() > deadline {
                let _ = consumer.as_mut().map(|c| c.kill());
                let _ = producer.kill();
                let _ = server.kill();
                panic!("the pipeline stalled: a wake-up was lost");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = consumer.take().unwrap().wait_with_output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "20000");
        assert!(producer.wait().unwrap().success());
    }
    let _ = server.kill();
    let _ = server.wait();
}
