//! Limits and hostile or broken peers over real sockets: every one gets a clear error
//! or a closed connection, holds nothing past its deadline, and everyone else is
//! served.

use crate::raw::Raw;
use crate::util;
use integration_tests::{Counter, CounterProxy};
use manager_client::proto::{HandshakeError, MethodRef, ObjectId, Request};
use manager_client::{AuthKey, Client, ClientOptions, Error};
use manager_server::Server;
use std::time::{Duration, Instant};

fn unix_path(server: &Server) -> std::path::PathBuf {
    match server.address() {
        manager_client::Address::Unix(p) => p.clone(),
        other => panic!("{other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_peer_is_dropped_after_the_idle_timeout_and_its_holdings_freed() {
    let (_d, server) =
        util::start(Server::builder().authkey(b"k").register::<Counter>().idle_timeout(Duration::from_millis(300)))
            .await;
    let path = unix_path(&server);
    let key = AuthKey::new(*b"k").unwrap();
    let (raw, objects) = tokio::task::spawn_blocking(move || {
        // An authenticated peer takes a reference and then says nothing, as a host
        // that vanished without closing its connection would.
        let mut raw = Raw::authenticated(&path, &key);
        raw.send_request(1, Request::Create { type_id: "integration_tests::Counter", fingerprint: "", args: &[0] });
        let created = raw.recv_response();
        (raw, created)
    })
    .await
    .unwrap();
    assert!(objects.1.contains("Object"), "{objects:?}");
    assert_eq!(server.stats().objects, 1);
    let start = Instant::now();
    let closed = tokio::task::spawn_blocking(move || {
        let mut raw = raw;
        raw.is_closed()
    })
    .await
    .unwrap();
    assert!(closed, "the server closed the silent connection");
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(util::eventually(Duration::from_secs(5), async || server.stats().objects == 0).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_clients_are_kept_alive_by_their_pings() {
    let (_d, server) = util::start(Server::builder().idle_timeout(Duration::from_millis(400))).await;
    let options = ClientOptions { keepalive: Duration::from_millis(50), ..ClientOptions::default() };
    let client = Client::connect_with(server.address(), server.authkey(), &options).await.unwrap();
    let lock = client.lock().await.unwrap();
    assert!(lock.acquire().await.unwrap());
    let address = server.address().clone();
    let key = server.authkey().clone();
    let blocking_lock_holder = tokio::task::spawn_blocking(move || {
        let client = manager_client::blocking::Client::connect_with(&address, key, &options).unwrap();
        let sem = client.semaphore(1).unwrap();
        assert!(sem.acquire().unwrap());
        // Idle, with no call running: only the keepalive thread speaks for it. The
        // idleness, three idle timeouts long, is the thing under test.
        std::thread::sleep(Duration::from_millis(1200));
        sem.value().unwrap()
    });
    // The async client idles as long, with only its pings (the thing under test).
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(lock.locked().await.unwrap(), "still connected, still holding the lock");
    assert_eq!(blocking_lock_holder.await.unwrap(), 0, "the blocking client kept its permit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_handshakes_are_dropped_at_the_deadline() {
    let (_d, server) = util::start(
        Server::builder().authkey(b"k").handshake_timeout(Duration::from_millis(200)).named("c", Counter::new(0)),
    )
    .await;
    let path = unix_path(&server);
    let start = Instant::now();
    let all_closed = tokio::task::spawn_blocking(move || {
        let mut stalled = Vec::new();
        for _ in 0..50 {
            let mut raw = Raw::connect(&path);
            // Half a hello, then nothing.
            std::io::Write::write_all(&mut raw.stream, &[0, 0, 0, 40, b'R', b'M']).unwrap();
            stalled.push(raw);
        }
        stalled.iter_mut().all(|r| r.is_closed())
    })
    .await
    .unwrap();
    assert!(all_closed);
    assert!(start.elapsed() < Duration::from_secs(5), "dropped at the deadline, not later");
    assert_eq!(server.stats().connections, 0);
    let client = Client::connect(server.address(), b"k").await.unwrap();
    let c: CounterProxy = client.named("c").await.unwrap();
    assert_eq!(c.incr(1).await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_limit_are_refused_with_a_message() {
    let (_d, server) = util::start(Server::builder().max_connections(2)).await;
    let a = Client::connect(server.address(), server.authkey()).await.unwrap();
    let _b = Client::connect(server.address(), server.authkey()).await.unwrap();
    let err = Client::connect(server.address(), server.authkey()).await.unwrap_err();
    match &err {
        Error::Handshake { source: HandshakeError::Unavailable(why), .. } => {
            assert_eq!(why, "too many connections (limit 2)")
        }
        other => panic!("{other:?}"),
    }
    drop(a);
    assert!(
        util::eventually(Duration::from_secs(5), async || Client::connect(server.address(), server.authkey())
            .await
            .is_ok())
        .await,
        "a slot frees when a client leaves"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_at_its_in_flight_limit_is_not_read_until_calls_finish() {
    let (_d, server) = util::start(Server::builder().max_in_flight(2)).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let q = client.queue::<u32>(0).await.unwrap();
    let parked: Vec<_> = (0..2)
        .map(|_| {
            let q = q.clone();
            tokio::spawn(async move { q.get().await })
        })
        .collect();
    assert!(util::eventually(Duration::from_secs(5), async || server.stats().parked_calls == 2).await);
    // The server stops reading this connection: a ping waits behind the parked gets.
    let ping = tokio::spawn({
        let client = client.clone();
        async move { client.ping().await }
    });
    // A quiet window, the check itself: the ping must not be answered. That something
    // does not happen can only be seen by letting time pass.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!ping.is_finished(), "not read while two calls are parked");
    // Another connection puts; a get finishes; reading resumes.
    let other = Client::connect(server.address(), server.authkey()).await.unwrap();
    let q2: manager_client::QueueProxy<u32> = other.attach(&q.token()).await.unwrap();
    q2.put(1).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), ping).await.unwrap().unwrap().unwrap();
    q2.put(2).await.unwrap();
    for p in parked {
        p.await.unwrap().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_after_authentication_closes_only_that_connection() {
    let (_d, server) = util::start(Server::builder().authkey(b"k").named("c", Counter::new(5))).await;
    let path = unix_path(&server);
    let key = AuthKey::new(*b"k").unwrap();
    tokio::task::spawn_blocking(move || {
        // A frame of random bytes: not even a request id.
        let mut raw = Raw::authenticated(&path, &key);
        raw.send_frame(&[0xff; 11]);
        assert!(raw.is_closed());
        // A frame announced, half sent, then the peer leaves.
        let mut raw = Raw::authenticated(&path, &key);
        std::io::Write::write_all(&mut raw.stream, &[0, 0, 1, 0, 1, 2, 3]).unwrap();
        drop(raw);
        // Random bytes in many frames, each answered or refused, never a crash.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..200 {
            let mut raw = Raw::authenticated(&path, &key);
            let len = (seed % 64) as usize;
            let mut payload = Vec::with_capacity(len);
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                payload.push(seed as u8);
            }
            raw.send_frame(&payload);
            // The server may already have closed this connection for the garbage.
            let _ = raw.try_send_request(
                u64::MAX,
                Request::Call { object: ObjectId(1), method: MethodRef::Name("get"), args: &[] },
            );
            drop(raw);
        }
    })
    .await
    .unwrap();
    let client = Client::connect(server.address(), b"k").await.unwrap();
    let c: CounterProxy = client.named("c").await.unwrap();
    assert_eq!(c.get().await.unwrap(), 5, "everyone else is still served, and nothing changed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bounded_queue_holds_its_bound_under_concurrent_producers() {
    let (_d, server) = util::start(Server::builder()).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let q = client.queue::<u32>(5).await.unwrap();
    let mut producers = Vec::new();
    for p in 0..8u32 {
        let c = Client::connect(server.address(), server.authkey()).await.unwrap();
        let q: manager_client::QueueProxy<u32> = c.attach(&q.token()).await.unwrap();
        producers.push(tokio::spawn(async move {
            for i in 0..200 {
                q.put(p * 1000 + i).await.unwrap();
            }
            c
        }));
    }
    let mut got = std::collections::HashSet::new();
    while got.len() < 1600 {
        assert!(q.qsize().await.unwrap() <= 5, "the bound holds");
        for v in q.get_many(3, None).await.unwrap() {
            assert!(got.insert(v), "{v} twice");
        }
    }
    for p in producers {
        p.await.unwrap();
    }
    assert_eq!(q.qsize().await.unwrap(), 0);
}

#[test]
fn the_key_never_appears_in_logs_debug_output_or_errors() {
    let secret = b"s3cr3t-VALUE-never-logged".to_vec();
    let key = AuthKey::new(secret.clone()).unwrap();
    let hex = key.to_hex();
    // Debug output of the key, the server and the client.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (_d, server) = rt.block_on(util::start(Server::builder().authkey(&secret)));
    let client = rt.block_on(Client::connect(server.address(), &secret)).unwrap();
    let wrong = rt.block_on(Client::connect(server.address(), b"s3cr3t-VALUE-wrong")).unwrap_err();
    for text in
        [format!("{key:?}"), format!("{server:?}"), format!("{client:?}"), format!("{wrong:?}"), wrong.to_string()]
    {
        assert!(!text.contains("s3cr3t") && !text.contains(&hex), "leaked: {text}");
    }
    // The server's logs, at the most verbose level, through a real process.
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("s.sock");
    let log = dir.path().join("log");
    let mut cmd = util::worker();
    cmd.args(["serve-at", &format!("unix:{}", sock.display())])
        .env("MANAGER_AUTHKEY", &hex)
        .env("RUST_LOG", "trace")
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap());
    let mut child = cmd.spawn().unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.as_mut().unwrap()), &mut line).unwrap();
    let address = format!("unix:{}", sock.display());
    let blocking = manager_client::blocking::Client::connect(address.as_str(), &secret).unwrap();
    assert!(manager_client::blocking::Client::connect(address.as_str(), b"s3cr3t-VALUE-wrong").is_err());
    blocking.ping().unwrap();
    blocking.shutdown_server().unwrap();
    assert!(child.wait().unwrap().success());
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(
        logs.contains("authentication failed") || logs.contains("handshake failed"),
        "the logs say something:\n{logs}"
    );
    assert!(!logs.contains("s3cr3t") && !logs.contains(&hex), "the key leaked into the logs");
}

#[tokio::test]
async fn unix_sockets_are_created_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, _server) = util::start(Server::builder()).await;
    let mode = std::fs::metadata(dir.path().join("m.sock")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    // The default socket lives in a fresh owner-only directory.
    let default = Server::builder().start().await.unwrap();
    let path = match default.address() {
        manager_client::Address::Unix(p) => p.clone(),
        other => panic!("{other}"),
    };
    let dir_mode = std::fs::metadata(path.parent().unwrap()).unwrap().permissions().mode();
    assert_eq!(dir_mode & 0o777, 0o700);
    default.shutdown().await;
    assert!(!path.exists() && !path.parent().unwrap().exists(), "both removed at shutdown");
}
