//! Panics, shutdown, server death, bad requests: the caller gets a clear error, the
//! server goes on.

use crate::raw::Raw;
use crate::util;
use integration_tests::{Counter, CounterProxy, Gate, GateProxy};
use manager_client::proto::{MethodRef, ObjectId, Proxy, Request};
use manager_client::{Client, Error, RemoteErrorKind};
use manager_server::Server;
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_panicking_method_answers_panicked_and_the_object_works_on() {
    let (_dir, server) = util::start(Server::builder().register::<Counter>()).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let c = CounterProxy::create(&client, 1).await.unwrap();
    let err = c.boom("kaboom".into()).await.unwrap_err();
    assert_eq!(err.remote_kind(), Some(RemoteErrorKind::Panicked));
    assert!(err.to_string().contains("kaboom"), "{err}");
    // The proxy called by id; the message names the method as its author wrote it.
    assert!(err.to_string().contains(".boom` panicked"), "{err}");
    assert!(!err.to_string().contains("0x"), "{err}");
    assert_eq!(c.incr(1).await.unwrap(), 2, "the next call on the same object works");
}

#[tokio::test]
async fn a_builtins_error_names_its_method_and_an_unknown_id_says_so() {
    let (_dir, server) = util::start(Server::builder()).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let lock = client.lock().await.unwrap();
    // A lock has no stream methods: opening `acquire` by id, as a proxy would, is refused by name.
    let id = manager_client::proto::method_id("acquire");
    let mut opened = lock.handle().open_with(MethodRef::Id(id), &(), "args");
    let err = std::future::poll_fn(|cx| opened.poll_item(cx, |b| Ok(((), b.len())))).await.unwrap().unwrap_err();
    assert!(err.to_string().contains("`lock.acquire` is not a stream method"), "{err}");
    let mut opened = lock.handle().open_with(MethodRef::Id(0x1234_5678), &(), "args");
    let err = std::future::poll_fn(|cx| opened.poll_item(cx, |b| Ok(((), b.len())))).await.unwrap().unwrap_err();
    assert!(err.to_string().contains("an unknown method (id 0x12345678)"), "{err}");
    let list = client.list::<u8>().await.unwrap();
    let err = list.handle().call_with(MethodRef::Id(0x1234_5678), &(), "args").await.unwrap_err();
    assert!(err.to_string().contains("`list` does not expose an unknown method (id 0x12345678)"), "{err}");
}

#[tokio::test]
async fn a_method_not_exposed_called_by_name_is_refused() {
    let (_dir, server) = util::start(Server::builder().register::<Counter>()).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let c = CounterProxy::create(&client, 1).await.unwrap();
    for name in ["local_only", "private_helper", "reset_to_zero", "nonexistent"] {
        let err = c.handle().call::<_, u64>(name, &()).await.unwrap_err();
        assert_eq!(err.remote_kind(), Some(RemoteErrorKind::NotExposed), "{name}: {err}");
        assert!(err.to_string().contains(name), "{err}");
    }
    // The exposed ones work by name too (Python's `_callmethod`).
    assert_eq!(c.handle().call::<_, u64>("incr", &(4u64,)).await.unwrap(), 5);
    c.handle().call::<_, ()>("reset", &()).await.unwrap();
    assert_eq!(c.get().await.unwrap(), 0);
    // Wrong argument types: a decode error, not garbage.
    let err = c.handle().call::<_, u64>("incr", &("x".to_string(),)).await.unwrap_err();
    assert_eq!(err.remote_kind(), Some(RemoteErrorKind::Decode), "{err}");
    // Wrong result type on the client: a decode error too. (postcard is not
    // self-describing: a mismatch is caught when the bytes do not fit the type, as
    // here — 7 announces a 7-byte string that is not there — not in every case.)
    c.incr(7).await.unwrap();
    let err = c.handle().call::<_, String>("get", &()).await.unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_blocked_in_an_async_method_fails_promptly_when_the_server_shuts_down() {
    let (_dir, server) = util::start(Server::builder().register::<Gate>()).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let gate = GateProxy::create(&client).await.unwrap();
    let blocked = tokio::spawn(async move { gate.wait_open().await });
    assert!(
        util::eventually(Duration::from_secs(5), async || server.stats().parked_calls == 1).await,
        "the call parked"
    );
    let start = Instant::now();
    server.shutdown().await;
    let result = tokio::time::timeout(Duration::from_secs(5), blocked).await.expect("never hangs").unwrap();
    let err = result.unwrap_err();
    assert!(err.remote_kind() == Some(RemoteErrorKind::ShuttingDown) || err.is_connection_lost(), "{err:?}");
    assert!(start.elapsed() < Duration::from_secs(5));
    // Later calls fail fast, and say the server shut down (it did not break).
    let start = Instant::now();
    let err = client.ping().await.unwrap_err();
    assert!(err.is_connection_lost(), "{err:?}");
    assert!(err.is_server_shut_down(), "{err:?}");
    assert!(err.to_string().contains("shut down"), "{err}");
    assert!(start.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn shutdown_removes_the_unix_socket_file() {
    let (dir, server) = util::start(Server::builder()).await;
    let path = dir.path().join("m.sock");
    assert!(path.exists());
    server.shutdown().await;
    assert!(!path.exists());
    let err = Client::connect(manager_client::Address::Unix(path), b"x").await.unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_request_kinds_and_bad_requests_get_error_responses() {
    let (_dir, server) = util::start(Server::builder().authkey(b"k").named("c", Counter::new(1))).await;
    let path = match server.address() {
        manager_client::Address::Unix(p) => p.clone(),
        other => panic!("{other}"),
    };
    let key = manager_client::AuthKey::new(*b"k").unwrap();
    tokio::task::spawn_blocking(move || {
        let mut raw = Raw::authenticated(&path, &key);
        // Kind 4000 from some future client: (id 9, kind 4000) then a body.
        let mut payload = manager_client::proto::postcard::to_allocvec(&(9u64, 4000u32)).unwrap();
        payload.extend_from_slice(b"body");
        raw.send_frame(&payload);
        let (id, resp) = raw.recv_response();
        assert_eq!(id, 9);
        assert!(resp.contains("UnknownRequest"), "{resp}");
        // A call on an object this connection does not hold.
        raw.send_request(10, Request::Call { object: ObjectId(999), method: MethodRef::Name("get"), args: &[] });
        let (id, resp) = raw.recv_response();
        assert_eq!(id, 10);
        assert!(resp.contains("NoSuchObject"), "{resp}");
        // A malformed body after a good header.
        let mut payload = manager_client::proto::postcard::to_allocvec(&(11u64, 6u32)).unwrap();
        payload.push(200); // a string length with no string
        raw.send_frame(&payload);
        let (id, resp) = raw.recv_response();
        assert_eq!(id, 11);
        assert!(resp.contains("Protocol"), "{resp}");
        // The connection still works.
        raw.send_request(12, Request::Ping);
        assert_eq!(raw.recv_response(), (12, "Pong".to_string()));
        // A frame announcing 4 GiB: refused and closed without allocating it.
        std::io::Write::write_all(&mut raw.stream, &u32::MAX.to_be_bytes()).unwrap();
        assert!(raw.is_closed());
    })
    .await
    .unwrap();
    // Everyone else is still served.
    let client = Client::connect(server.address(), b"k").await.unwrap();
    let c: CounterProxy = client.named("c").await.unwrap();
    assert_eq!(c.get().await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_death_fails_calls_in_flight_promptly_and_later_calls_fast() {
    let (_dir, server) = util::start(Server::builder().register::<Gate>()).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let gate = GateProxy::create(&client).await.unwrap();
    let blocked = tokio::spawn({
        let gate = gate.clone();
        async move { gate.wait_open().await }
    });
    assert!(util::eventually(Duration::from_secs(5), async || server.stats().parked_calls == 1).await);
    // Dropping the handle stops the server without waiting for anyone.
    drop(server);
    let err = tokio::time::timeout(Duration::from_secs(5), blocked).await.unwrap().unwrap().unwrap_err();
    assert!(err.is_connection_lost() || err.remote_kind() == Some(RemoteErrorKind::ShuttingDown), "{err:?}");
    let err = gate.open().await.unwrap_err();
    assert!(err.is_connection_lost(), "{err:?}");
    // Dropping the handle is a shutdown too: the server says so before closing.
    assert!(err.is_server_shut_down(), "{err:?}");
}
