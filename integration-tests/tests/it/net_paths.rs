//! Clients and a server in two network namespaces, over a veth pair: calls on real
//! addresses, and a partition (the link taken down, no one told).

use crate::netns::TestNet;
use crate::netns::client::NetClient;
use crate::netns::server::{KEEPALIVE, observer, server_in_b};
use crate::util::wait_until_blocking;
use manager_client::blocking;
use std::time::{Duration, Instant};

/// The partition test's server idle timeout (`--idle-timeout`): four keepalive
/// periods, so a live client is never dropped, and a cut-off one is within 2.5 s.
const IDLE_TIMEOUT_SECS: &str = "2";

#[test]
fn calls_cross_the_link_between_namespaces() {
    let Some(net) = TestNet::or_skip("calls_cross_the_link_between_namespaces") else { return };
    let server = server_in_b(&net, "60");
    let address = &server.tcp[0];
    assert!(address.starts_with(&format!("tcp://{}:", net.b.ip)), "{address}");

    let (mut a, connected) = NetClient::start(&net.a, address, KEEPALIVE);
    assert!(connected.ok, "{}", connected.line);
    assert_eq!(a.run("add 5").value(), "5");
    assert_eq!(a.run("add 2").value(), "7");
    // A frame larger than any segment: many packets across the link, in order.
    a.run("put 300000").value();
    assert_eq!(a.run("get").value(), "300000 intact");

    // The server sees the client and the observer, and the value the client left.
    let observer = observer(&server);
    assert_eq!(observer.stats().unwrap().connections, 2);
    let counter: blocking::ValueProxy<i64> = observer.named("counter").unwrap();
    assert_eq!(counter.get().unwrap(), 7);

    // The server is reachable on B's address only: A's loopback has no server.
    let (_, refused) = NetClient::start(&net.a, "tcp://127.0.0.1:1", KEEPALIVE);
    assert!(refused.line.starts_with("err Other: could not connect"), "{}", refused.line);
}

#[test]
fn a_partition_loses_the_connection_within_the_keepalive_bound_and_frees_the_lock() {
    let Some(net) = TestNet::or_skip("a_partition_loses_the_connection_within_the_keepalive_bound_and_frees_the_lock")
    else {
        return;
    };
    let server = server_in_b(&net, IDLE_TIMEOUT_SECS);
    let address = server.tcp[0].clone();
    let observer = observer(&server);

    // A takes the lock, then waits in a `get` on the empty queue.
    let (mut a, connected) = NetClient::start(&net.a, &address, KEEPALIVE);
    assert!(connected.ok, "{}", connected.line);
    assert_eq!(a.run("acquire").value(), "acquired=true");
    a.send("get");
    wait_until_blocking("A's get to park on the server", || observer.stats().unwrap().parked_calls == 1);

    net.partition();
    let cut = Instant::now();
    // ClientOptions::keepalive: lost within two periods and a quarter of the server's
    // last word, which came before the cut. A second of slack for a loaded machine.
    let bound = KEEPALIVE * 9 / 4 + Duration::from_secs(1);
    let lost = a.outcome_within(bound).unwrap_or_else(|| panic!("no ConnectionLost within {bound:?} of the cut"));
    let noticed = cut.elapsed();
    assert!(lost.is_err("ConnectionLost"), "{}", lost.line);
    assert!(noticed <= bound, "the client took {noticed:?} to notice the cut; the bound is {bound:?}");
    // Later calls fail fast with the same error: no reconnect yet.
    assert!(a.run("add 1").is_err("ConnectionLost"));

    // B's side: the server drops A after its idle timeout and releases A's lock, which
    // a client in B's namespace then gets.
    let (mut b, connected) = NetClient::start(&net.b, &address, KEEPALIVE);
    assert!(connected.ok, "{}", connected.line);
    let got = b.run("acquire");
    assert_eq!(got.value(), "acquired=true");
    let freed = cut.elapsed();
    assert!(
        freed >= Duration::from_secs(1),
        "the lock was free {freed:?} after the cut, before any timeout could fire"
    );
    println!("the client noticed the cut after {noticed:?}; the server freed its lock after {freed:?}");
    wait_until_blocking("the server to forget A", || observer.stats().unwrap().connections == 2);
    assert_eq!(observer.stats().unwrap().parked_calls, 0);

    // Healed, A connects again (a new connection: its old one is gone for good).
    net.heal();
    assert!(a.run("connect").ok);
    assert_eq!(a.run("add 1").value(), "1");
}
