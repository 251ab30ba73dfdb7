//! Authentication and version negotiation over real sockets.

use crate::raw::Raw;
use crate::util;
use integration_tests::{Counter, CounterProxy};
use manager_client::proto::handshake::VersionRange;
use manager_client::{AuthKey, Client, Error};
use manager_server::Server;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_fails_the_handshake_and_the_server_serves_on() {
    let (_dir, server) = util::start(Server::builder().authkey(b"right key").named("c", Counter::new(1))).await;
    let err = Client::connect(server.address(), b"wrong key").await.unwrap_err();
    assert!(matches!(err, Error::Authentication { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("authentication with the manager at {} failed: wrong key or wrong server", server.address())
    );
    assert!(!err.to_string().contains("right key"), "the key never appears in errors");
    let client = Client::connect(server.address(), b"right key").await.unwrap();
    let c: CounterProxy = client.named("c").await.unwrap();
    assert_eq!(c.incr(1).await.unwrap(), 2);
    assert_eq!(client.stats().await.unwrap().connections, 1, "the failed peer never counted as connected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_mismatch_names_both_sides_versions() {
    let (_dir, server) = util::start(Server::builder().authkey(b"k")).await;
    let path = match server.address() {
        manager_client::Address::Unix(p) => p.clone(),
        other => panic!("{other}"),
    };
    let key = AuthKey::new(*b"k").unwrap();
    let err = tokio::task::spawn_blocking(move || {
        let mut raw = Raw::connect(&path);
        raw.handshake(&key, VersionRange { min: 7, max: 9 }).unwrap_err()
    })
    .await
    .unwrap();
    assert_eq!(err, "protocol version mismatch: this side speaks versions 7..=9, the peer speaks version 3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn before_authentication_a_peer_gets_a_challenge_and_nothing_else() {
    let (_dir, server) = util::start(Server::builder().authkey(b"k").named("c", Counter::new(1))).await;
    let path = match server.address() {
        manager_client::Address::Unix(p) => p.clone(),
        other => panic!("{other}"),
    };
    let stats_before = server.stats();
    tokio::task::spawn_blocking(move || {
        // A request where a hello belongs: refused, closed, nothing run.
        let mut raw = Raw::connect(&path);
        raw.send_request(1, manager_client::proto::Request::GetNamed { name: "c" });
        assert!(raw.is_closed());
        // Garbage bytes.
        let mut raw = Raw::connect(&path);
        std::io::Write::write_all(&mut raw.stream, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        assert!(raw.is_closed());
    })
    .await
    .unwrap();
    let after = server.stats();
    assert_eq!(after.requests, stats_before.requests, "no request was served before authentication");
    assert_eq!(after.objects, stats_before.objects);
}

/// The client polls briefly for each handshake message before it sleeps: a server that
/// answers later than that, each message in two pieces, is still joined, over both
/// transports, from the async and the blocking client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_slow_to_answer_the_handshake_is_still_joined() {
    use manager_client::proto::ServerId;
    use manager_client::proto::frame::{self, FrameDecoder};
    use manager_client::proto::handshake::{NONCE_LEN, ServerHandshake};
    use std::io::{Read, Write};
    use std::time::Duration;

    /// Serves one handshake on `stream`, each reply 20 ms late and split in two writes.
    fn slow_handshake(mut stream: impl Read + Write, id: u64) {
        let key = AuthKey::new(*b"k").unwrap();
        let mut hs = ServerHandshake::new(&key, [3; NONCE_LEN], VersionRange::CURRENT, ServerId(id));
        let mut decoder = FrameDecoder::new(frame::HANDSHAKE_MAX_FRAME);
        loop {
            let msg = loop {
                if let Some(f) = decoder.next_frame().unwrap() {
                    break f.to_vec();
                }
                let mut chunk = [0u8; 256];
                let n = stream.read(&mut chunk).unwrap();
                assert!(n > 0, "the client hung up mid-handshake");
                decoder.buffer_mut().extend_from_slice(&chunk[..n]);
            };
            let step = hs.receive(&msg).unwrap();
            let mut out = Vec::new();
            frame::encode_frame(&step.reply.unwrap(), &mut out, usize::MAX).unwrap();
            let (first, second) = out.split_at(3);
            // The slowness under test: later than the client's brief poll.
            std::thread::sleep(Duration::from_millis(20));
            stream.write_all(first).unwrap();
            std::thread::sleep(Duration::from_millis(5));
            stream.write_all(second).unwrap();
            if step.established.is_some() {
                return;
            }
        }
    }

    let (_dir, path) = util::socket_path();
    let unix = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp_address = format!("tcp://{}", tcp.local_addr().unwrap());
    let fake = std::thread::spawn(move || {
        slow_handshake(unix.accept().unwrap().0, 41);
        slow_handshake(tcp.accept().unwrap().0, 42);
        slow_handshake(unix.accept().unwrap().0, 43);
    });
    let unix_address = format!("unix:{}", path.display());
    let client = Client::connect(unix_address.as_str(), b"k").await.unwrap();
    assert_eq!(client.server_id(), ServerId(41));
    let client = Client::connect(tcp_address.as_str(), b"k").await.unwrap();
    assert_eq!(client.server_id(), ServerId(42));
    let blocking = tokio::task::spawn_blocking(move || {
        manager_client::blocking::Client::connect(unix_address.as_str(), b"k").unwrap().server_id()
    });
    assert_eq!(blocking.await.unwrap(), ServerId(43));
    fake.join().unwrap();
}
