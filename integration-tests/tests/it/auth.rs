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
    assert_eq!(err, "protocol version mismatch: this side speaks versions 7..=9, the peer speaks version 1");
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
