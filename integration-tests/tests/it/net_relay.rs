//! A client in namespace A reaching the server in B through `netrelay` (also in A),
//! which delays, holds, stalls, drops and resets the connection on command.

use crate::netns::TestNet;
use crate::netns::client::NetClient;
use crate::netns::relay::Relay;
use crate::netns::server::{KEEPALIVE, observer, server_in_b};
use crate::server_bin::ServerChild;
use crate::util::wait_until_blocking;
use manager_client::blocking;
use std::time::Duration;

/// The server in B, a relay in A forwarding to it, and a client in A connected through
/// the relay with `keepalive`. The server's idle timeout is its default, 60 s: longer
/// than any test waits, so whatever it releases it released because it saw the
/// connection end, not because the connection fell silent.
fn relayed(net: &TestNet, keepalive: Duration) -> (ServerChild, Relay, NetClient) {
    let server = server_in_b(net, "60");
    let relay = Relay::start(&net.a, "127.0.0.1:0", &server.tcp[0]);
    let (client, connected) = NetClient::start(&net.a, &relay.address, keepalive);
    assert!(connected.ok, "{}", connected.line);
    (server, relay, client)
}

#[test]
fn a_delay_slows_calls_down_and_loses_nothing() {
    let Some(net) = TestNet::or_skip("a_delay_slows_calls_down_and_loses_nothing") else { return };
    let (_server, mut relay, mut a) = relayed(&net, KEEPALIVE);
    assert_eq!(a.run("add 1").value(), "1");

    relay.command("delay 150");
    // The request waits 150 ms in the relay, the response another 150.
    let slow = a.run("add 1");
    assert_eq!(slow.value(), "2");
    assert!(slow.took >= Duration::from_millis(300), "a call through a 150 ms delay each way took {:?}", slow.took);
    a.run("put 200000").value();
    assert_eq!(a.run("get").value(), "200000 intact");

    relay.command("delay 0");
    assert_eq!(a.run("add 1").value(), "3");
}

#[test]
fn a_hold_shorter_than_the_keepalive_loses_nothing() {
    let Some(net) = TestNet::or_skip("a_hold_shorter_than_the_keepalive_loses_nothing") else { return };
    let keepalive = Duration::from_secs(1);
    let (server, mut relay, mut a) = relayed(&net, keepalive);
    let observer = observer(&server);

    relay.command("hold");
    a.send("add 1");
    wait_until_blocking("the relay to hold A's request", || relay.status().waiting > 0);
    // The hold itself (the stimulus, not a wait for state): half a keepalive period,
    // during which the server hears nothing of the call.
    std::thread::sleep(keepalive / 2);
    assert_eq!(observer.stats().unwrap().connections, 2, "the server lost A during the hold");
    let counter: blocking::ValueProxy<i64> = observer.named("counter").unwrap();
    assert_eq!(counter.get().unwrap(), 0, "the held request reached the server");
    relay.command("release");

    let done = a.outcome();
    assert_eq!(done.value(), "1");
    assert!(done.took >= keepalive / 2, "the held call took only {:?}", done.took);
    assert_eq!(a.run("add 1").value(), "2");
    assert_eq!(counter.get().unwrap(), 2);
}

#[test]
fn a_hold_past_the_keepalive_bound_loses_the_connection() {
    let Some(net) = TestNet::or_skip("a_hold_past_the_keepalive_bound_loses_the_connection") else { return };
    let (_server, mut relay, mut a) = relayed(&net, KEEPALIVE);
    assert_eq!(a.run("add 1").value(), "1");

    // A black hole: the relay keeps both connections open and forwards nothing, pings
    // included. The client gives up within its bound of the server's last word (before
    // the hold), a second of slack for a loaded machine.
    relay.command("hold");
    let held = std::time::Instant::now();
    a.send("add 1");
    let bound = KEEPALIVE * 9 / 4 + Duration::from_secs(1);
    let lost = a.outcome_within(bound).unwrap_or_else(|| panic!("no ConnectionLost within {bound:?} of the hold"));
    assert!(lost.is_err("ConnectionLost"), "{}", lost.line);
    assert!(held.elapsed() >= KEEPALIVE, "lost {:?} into the hold, before a ping could go unanswered", held.elapsed());
}

#[test]
fn a_stall_mid_frame_then_release_completes_the_call() {
    let Some(net) = TestNet::or_skip("a_stall_mid_frame_then_release_completes_the_call") else { return };
    let (server, mut relay, mut a) = relayed(&net, KEEPALIVE);
    let observer = observer(&server);
    let queue: blocking::QueueProxy<Vec<u8>> = observer.named("q").unwrap();

    // 1000 bytes of a 200,000-byte request pass, then the relay holds.
    let before = relay.status().forwarded;
    relay.command("stall-after 1000");
    a.send("put 200000");
    wait_until_blocking("the relay to stall mid-frame", || {
        let status = relay.status();
        status.held && status.waiting > 0
    });
    assert!(relay.status().forwarded <= before + 1000);
    assert_eq!(queue.qsize().unwrap(), 0, "the server has the item before the rest of its frame");
    relay.command("release");
    assert_eq!(a.outcome().value(), "put");
    assert_eq!(a.run("get").value(), "200000 intact");
}

#[test]
fn a_dropped_or_reset_connection_fails_calls_in_flight_and_frees_what_the_client_held() {
    let Some(net) =
        TestNet::or_skip("a_dropped_or_reset_connection_fails_calls_in_flight_and_frees_what_the_client_held")
    else {
        return;
    };
    let (server, mut relay, mut a) = relayed(&net, KEEPALIVE);
    let observer = observer(&server);
    let lock: blocking::LockProxy = observer.named("lock").unwrap();
    let baseline = observer.stats().unwrap().objects;

    for how in ["drop", "reset"] {
        // A holds two dicts and the lock, and waits in a `get`.
        a.run("dict").value();
        a.run("dict").value();
        assert_eq!(a.run("acquire").value(), "acquired=true");
        a.send("get");
        wait_until_blocking("A's get to park on the server", || observer.stats().unwrap().parked_calls == 1);
        assert_eq!(observer.stats().unwrap().objects, baseline + 2);

        relay.command(how);
        let failed = a.outcome();
        assert!(failed.is_err("ConnectionLost"), "{how}: {}", failed.line);
        // A FIN reads as the server closing; a RST as a reset.
        let why = if how == "drop" { "the server closed the connection" } else { "Connection reset" };
        assert!(failed.line.contains(why), "{how}: {}", failed.line);
        assert!(a.run("add 1").is_err("ConnectionLost"), "{how}: a later call");

        // The server saw the end (its idle timeout is far off): it releases A's dicts,
        // its parked call and its lock.
        wait_until_blocking("the server to release A's holdings", || {
            let stats = observer.stats().unwrap();
            stats.objects == baseline && stats.connections == 1 && stats.parked_calls == 0
        });
        assert!(lock.try_acquire().unwrap(), "{how}: A's lock was not released");
        lock.release().unwrap();

        // New connections through the relay are forwarded as before.
        assert!(a.run("connect").ok, "{how}: reconnecting");
        assert_eq!(relay.status().connections, 1);
    }
}
