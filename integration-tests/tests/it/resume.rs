//! Reconnecting clients: sessions that survive a broken link, resumed with every call
//! answered exactly once, and what a client finds when the session cannot be resumed.
//! The link runs through a forwarder that cuts, freezes or refuses connections on
//! command (`integration_tests::cutter`).

use integration_tests::cutter::Cutter;
use manager_client::{Client, ClientOptions, Error, Reconnect};
use manager_server::{Builtin, Server};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::util::wait_until;

fn reconnecting() -> ClientOptions {
    ClientOptions {
        keepalive: Duration::from_millis(500),
        reconnect: Some(Reconnect { first_delay: Duration::from_millis(10), ..Reconnect::default() }),
        ..ClientOptions::default()
    }
}

async fn server(grace: Duration) -> Server {
    Server::builder()
        .listen_tcp("127.0.0.1:0")
        .session_grace(grace)
        .named_builtin("counter", Builtin::Dict)
        .start()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_are_answered_exactly_once_across_many_breaks() {
    let server = server(Duration::from_secs(30)).await;
    let cutter = Arc::new(Cutter::start(&server.address().to_string()));
    let client = Client::connect_with(cutter.address.as_str(), server.authkey(), &reconnecting()).await.unwrap();
    let list = client.list::<u64>().await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let cuts = tokio::spawn({
        let stop = Arc::clone(&stop);
        let cutter = Arc::clone(&cutter);
        async move {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(7)).await;
                cutter.cut();
                n += 1;
            }
            n
        }
    });
    // Appends in flight, many at a time, while the link is cut every few milliseconds:
    // each must land once, in order per task.
    let mut tasks = Vec::new();
    for t in 0..4u64 {
        let list = list.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..300u64 {
                list.append(t * 1000 + i).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    stop.store(true, Ordering::SeqCst);
    let cuts = cuts.await.unwrap();
    let items = list.snapshot().await.unwrap();
    assert_eq!(items.len(), 1200, "every append landed exactly once ({cuts} cuts)");
    for t in 0..4u64 {
        let mine: Vec<u64> = items.iter().copied().filter(|x| x / 1000 == t).collect();
        assert_eq!(mine, (0..300).map(|i| t * 1000 + i).collect::<Vec<_>>());
    }
    assert!(cuts > 3, "the link was cut while the calls ran ({cuts} cuts)");
    let links = cutter.forwarded();
    assert!(links > 3, "the session was resumed over new links ({links} links)");
    // One session all along: the server counts one connection for it.
    assert_eq!(server.stats().connections, 1);
}

#[tokio::test]
async fn a_lock_and_a_waiting_get_survive_a_break_within_the_grace_period() {
    let server = server(Duration::from_secs(30)).await;
    let cutter = Cutter::start(&server.address().to_string());
    let client = Client::connect_with(cutter.address.as_str(), server.authkey(), &reconnecting()).await.unwrap();
    let other = Client::connect(server.address(), server.authkey()).await.unwrap();
    let lock = client.lock().await.unwrap();
    let queue = client.queue::<String>(0).await.unwrap();
    assert!(lock.acquire().await.unwrap());
    let waiting = tokio::spawn({
        let queue = queue.clone();
        async move { queue.get().await }
    });
    wait_until("the get to park", || async { server.stats().parked_calls == 1 }).await;
    // The link breaks and stays down for a while: the session waits for the client.
    cutter.refuse(true);
    cutter.cut();
    let theirs: manager_client::LockProxy = other.attach(lock.token()).await.unwrap();
    assert!(!theirs.acquire_timeout(Duration::from_millis(300)).await.unwrap(), "the lock is still held");
    let their_queue: manager_client::QueueProxy<String> = other.attach(queue.token()).await.unwrap();
    their_queue.put("item".into()).await.unwrap();
    cutter.refuse(false);
    // The item the session's parked get took is delivered once the link is back.
    assert_eq!(waiting.await.unwrap().unwrap(), "item");
    assert!(lock.locked().await.unwrap());
    lock.release().await.unwrap();
    assert!(theirs.acquire_timeout(Duration::from_secs(5)).await.unwrap());
    assert_eq!(their_queue.qsize().await.unwrap(), 0, "the item went to the session's get, once");
}

#[tokio::test]
async fn past_the_grace_period_the_session_is_lost_its_lock_released_and_the_client_reconnects() {
    let server = server(Duration::from_millis(400)).await;
    let cutter = Cutter::start(&server.address().to_string());
    let client = Client::connect_with(cutter.address.as_str(), server.authkey(), &reconnecting()).await.unwrap();
    let other = Client::connect(server.address(), server.authkey()).await.unwrap();
    let lock = client.lock().await.unwrap();
    assert!(lock.acquire().await.unwrap());
    let theirs: manager_client::LockProxy = other.attach(lock.token()).await.unwrap();
    cutter.refuse(true);
    cutter.cut();
    // The server lets the session go: its lock goes to the waiter.
    assert!(theirs.acquire_timeout(Duration::from_secs(10)).await.unwrap());
    let err = lock.locked().await.unwrap_err();
    assert!(matches!(err, Error::SessionLost { .. }), "{err}");
    assert!(err.is_session_lost());
    cutter.refuse(false);
    // The client itself is usable: named objects are looked up again.
    let counter = client.named::<manager_client::DictProxy<String, u64>>("counter").await.unwrap();
    counter.insert("a".into(), 1).await.unwrap();
    assert_eq!(counter.get("a").await.unwrap(), Some(1));
}

#[tokio::test]
async fn a_restarted_server_is_told_apart_from_a_lost_session() {
    let first = server(Duration::from_secs(30)).await;
    let key = first.authkey().clone();
    let cutter = Cutter::start(&first.address().to_string());
    let client = Client::connect_with(cutter.address.as_str(), &key, &reconnecting()).await.unwrap();
    let dict = client.dict::<String, u64>().await.unwrap();
    dict.insert("a".into(), 1).await.unwrap();
    // The link breaks; meanwhile the server is replaced by a new run at the address.
    cutter.refuse(true);
    cutter.cut();
    first.shutdown().await;
    let second = Server::builder().listen_tcp("127.0.0.1:0").authkey_value(key.clone()).start().await.unwrap();
    cutter.retarget(&second.address().to_string());
    cutter.refuse(false);
    let err = dict.len().await.unwrap_err();
    assert!(matches!(err, Error::ServerRestarted { .. }), "{err:?}");
    assert!(err.is_session_lost() && err.is_connection_lost());
    // The client goes on with the new run.
    let again = client.dict::<String, u64>().await.unwrap();
    assert_eq!(again.len().await.unwrap(), 0);
    assert_eq!(client.server_id(), second.server_id());
}

#[tokio::test]
async fn a_silent_link_is_noticed_and_the_session_resumes_over_a_new_one() {
    let server = server(Duration::from_secs(30)).await;
    let cutter = Cutter::start(&server.address().to_string());
    let options = ClientOptions { keepalive: Duration::from_millis(200), ..reconnecting() };
    let client = Client::connect_with(cutter.address.as_str(), server.authkey(), &options).await.unwrap();
    let queue = client.queue::<u32>(0).await.unwrap();
    let getter = tokio::spawn({
        let queue = queue.clone();
        async move { queue.get().await }
    });
    wait_until("the get to park", || async { server.stats().parked_calls == 1 }).await;
    cutter.freeze();
    // Neither side hears a close; the client's relay notices the silence, and the
    // session goes on over a new link (new connections pass the forwarder).
    queue.put(7).await.unwrap();
    assert_eq!(getter.await.unwrap().unwrap(), 7);
    assert_eq!(cutter.forwarded(), 2);
    assert_eq!(server.stats().connections, 1);
    cutter.cut();
}

#[test]
fn a_blocking_client_resumes_too() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (server, cutter) = runtime.block_on(async {
        let server = server(Duration::from_secs(30)).await;
        let cutter = Cutter::start(&server.address().to_string());
        (server, cutter)
    });
    let client =
        manager_client::blocking::Client::connect_with(cutter.address.as_str(), server.authkey(), &reconnecting())
            .unwrap();
    let counter = client.named::<manager_client::blocking::DictProxy<String, u64>>("counter").unwrap();
    for i in 0..200u64 {
        counter.insert("n".into(), i).unwrap();
        if i % 20 == 0 {
            cutter.cut();
        }
    }
    assert_eq!(counter.get("n").unwrap(), Some(199));
    assert!(cutter.forwarded() > 5);
    drop(client);
    runtime.block_on(server.shutdown());
}

#[tokio::test]
async fn a_stream_goes_on_across_breaks_with_no_item_lost_or_doubled() {
    let server = server(Duration::from_secs(30)).await;
    let cutter = Cutter::start(&server.address().to_string());
    let client = Client::connect_with(cutter.address.as_str(), server.authkey(), &reconnecting()).await.unwrap();
    let list = client.list::<u64>().await.unwrap();
    list.extend((0..20_000).collect::<Vec<u64>>()).await.unwrap();
    let mut items = list.iter();
    let mut seen = Vec::new();
    while let Some(item) = items.next().await {
        seen.push(item.unwrap());
        if seen.len() % 2_500 == 0 {
            cutter.cut();
        }
    }
    assert_eq!(seen, (0..20_000).collect::<Vec<u64>>());
    assert!(cutter.forwarded() > 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_over_tls_resumes_with_a_new_tls_handshake() {
    use crate::server_bin::KEY;
    use crate::tls_certs::{Certs, pki, tls_server};
    let certs = Certs::new();
    let (ca, cert) = pki(&certs);
    let server = tls_server(&cert, &[]);
    let cutter = Cutter::start(&server.tcp[0]);
    let through = cutter.address.replacen("tcp://", "tls://", 1);
    let options = ClientOptions { tls: Some(manager_client::ClientTls::ca_file(&ca.pem).unwrap()), ..reconnecting() };
    let client = Client::connect_with(through.as_str(), KEY, &options).await.unwrap();
    let list = client.list::<u64>().await.unwrap();
    for i in 0..400u64 {
        list.append(i).await.unwrap();
        if i % 50 == 0 {
            cutter.cut();
        }
    }
    assert_eq!(list.snapshot().await.unwrap(), (0..400).collect::<Vec<u64>>());
    assert!(cutter.forwarded() > 5, "{} links", cutter.forwarded());
}

#[tokio::test]
async fn a_server_shutting_down_ends_a_session_at_once() {
    let server = server(Duration::from_secs(30)).await;
    let client = Client::connect_with(server.address(), server.authkey(), &reconnecting()).await.unwrap();
    let queue = client.queue::<u32>(0).await.unwrap();
    let waiting = tokio::spawn({
        let queue = queue.clone();
        async move { queue.get().await }
    });
    wait_until("the get to park", || async { server.stats().parked_calls == 1 }).await;
    let started = std::time::Instant::now();
    server.shutdown().await;
    // The parked call is answered as any client's is; later calls hear that the server
    // stopped on purpose, not a broken link waited out for the grace period.
    let err = waiting.await.unwrap().unwrap_err();
    assert_eq!(err.remote_kind(), Some(manager_client::RemoteErrorKind::ShuttingDown), "{err:?}");
    let err = queue.qsize().await.unwrap_err();
    assert!(err.is_server_shut_down(), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_named_proxy_looks_its_name_up_again_after_the_session_or_the_server_is_gone() {
    let first = server(Duration::from_millis(300)).await;
    let key = first.authkey().clone();
    let cutter = Cutter::start(&first.address().to_string());
    let client = Client::connect_with(cutter.address.as_str(), &key, &reconnecting()).await.unwrap();
    let counter = client.named::<manager_client::DictProxy<String, u64>>("counter").await.unwrap();
    let mine = client.dict::<String, u64>().await.unwrap();
    counter.insert("a".into(), 1).await.unwrap();
    // The session is lost (its grace period passes with the link down).
    cutter.refuse(true);
    cutter.cut();
    let other = Client::connect(first.address(), &key).await.unwrap();
    wait_until("the server to end the session", || async { first.stats().connections == 1 }).await;
    drop(other);
    cutter.refuse(false);
    // The object the client created went with the session; the named one is found
    // again by its name, the same object, its contents as they were.
    let err = mine.len().await.unwrap_err();
    assert!(err.is_session_lost(), "{err:?}");
    assert_eq!(counter.get("a").await.unwrap(), Some(1));
    counter.insert("b".into(), 2).await.unwrap();
    assert_eq!(counter.len().await.unwrap(), 2);

    // A new run of the server with the same name: the proxy finds the new object.
    cutter.refuse(true);
    cutter.cut();
    first.shutdown().await;
    let second = Server::builder()
        .listen_tcp("127.0.0.1:0")
        .authkey_value(key.clone())
        .named_builtin("counter", Builtin::Dict)
        .start()
        .await
        .unwrap();
    cutter.retarget(&second.address().to_string());
    cutter.refuse(false);
    // A call made before the client learned of the restart fails with it (it may have
    // reached the old run: it is not repeated on the new one); the next finds the new
    // run's object by its name.
    match counter.len().await {
        Err(e) => assert!(matches!(e, Error::ServerRestarted { .. }), "{e:?}"),
        Ok(n) => assert_eq!(n, 0),
    }
    assert_eq!(counter.len().await.unwrap(), 0, "the new run's (empty) dict");
    counter.insert("c".into(), 3).await.unwrap();
    let seen = Client::connect(second.address(), &key).await.unwrap();
    let theirs = seen.named::<manager_client::DictProxy<String, u64>>("counter").await.unwrap();
    assert_eq!(theirs.get("c").await.unwrap(), Some(3));
    assert_eq!(counter.token().server, second.server_id(), "its tokens name the new run");
}
