//! Reconnecting clients across a real network path (two namespaces, a veth pair): a
//! partition shorter than the server's session grace period loses no lock and no queue
//! item and runs no call twice; a longer one ends the session cleanly.

use crate::netns::TestNet;
use crate::netns::client::NetClient;
use crate::netns::server::{KEEPALIVE, observer, server_in_b_with};
use crate::util::wait_until_blocking;
use manager_client::blocking;
use std::time::Duration;

/// How long a partition lasts that both sides notice: the client's relay gives up a
/// silent link after about 0.75 s (three checks, two per keepalive period), the
/// server's after 1.5 s (three keepalive periods). The sleep below is the partition
/// itself, not a wait for state.
const NOTICED_PARTITION: Duration = Duration::from_millis(2_200);

/// The bytes `net-client put LEN` puts, and `get` checks.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

#[test]
fn a_partition_within_the_grace_period_loses_no_lock_no_item_and_runs_no_call_twice() {
    let name = "a_partition_within_the_grace_period_loses_no_lock_no_item_and_runs_no_call_twice";
    let Some(net) = TestNet::or_skip(name) else { return };
    let server = server_in_b_with(&net, &["--idle-timeout", "30", "--session-grace", "20"]);
    let address = server.tcp[0].clone();
    let observer = observer(&server);
    let counter: blocking::ValueProxy<i64> = observer.named("counter").unwrap();
    let lock: blocking::LockProxy = observer.named("lock").unwrap();
    let queue: blocking::QueueProxy<Vec<u8>> = observer.named("q").unwrap();

    let (mut a, connected) = NetClient::start_reconnecting(&net.a, &address, KEEPALIVE);
    assert!(connected.ok, "{}", connected.line);
    assert_eq!(a.run("acquire").value(), "acquired=true");

    // 1. A call made while the link is down waits, and runs once when it is back.
    net.partition();
    a.send("add 1");
    std::thread::sleep(NOTICED_PARTITION);
    assert_eq!(counter.get().unwrap(), 0, "the call cannot have reached the server");
    assert!(!lock.acquire_timeout(Duration::from_millis(200)).unwrap(), "A's session still holds the lock");
    net.heal();
    let added = a.outcome_within(Duration::from_secs(15)).expect("the add is answered after the heal");
    assert_eq!(added.value(), "1", "{}", added.line);
    assert_eq!(counter.get().unwrap(), 1, "run once");

    // 2. A reply lost in a partition is delivered once: A's `get` parks, the link goes
    //    down, an item arrives and the parked get takes it while its reply cannot pass.
    a.send("get");
    wait_until_blocking("A's get to park", || observer.stats().unwrap().parked_calls == 1);
    net.partition();
    queue.put(pattern(100_000)).unwrap();
    std::thread::sleep(NOTICED_PARTITION);
    assert_eq!(queue.qsize().unwrap(), 0, "the session's parked get took the item");
    net.heal();
    let got = a.outcome_within(Duration::from_secs(15)).expect("the get is answered after the heal");
    assert_eq!(got.value(), "100000 intact", "{}", got.line);

    // The lock was A's throughout; the session is one connection still.
    assert_eq!(a.run("release").value(), "released");
    assert!(lock.acquire_timeout(Duration::from_secs(5)).unwrap());
    lock.release().unwrap();
    assert_eq!(a.run("add 1").value(), "2");
    assert_eq!(observer.stats().unwrap().connections, 2, "A's session and the observer");
}

#[test]
fn a_partition_past_the_grace_period_ends_the_session_and_the_client_starts_anew() {
    let name = "a_partition_past_the_grace_period_ends_the_session_and_the_client_starts_anew";
    let Some(net) = TestNet::or_skip(name) else { return };
    let server = server_in_b_with(&net, &["--idle-timeout", "30", "--session-grace", "1"]);
    let address = server.tcp[0].clone();
    let observer = observer(&server);
    let lock: blocking::LockProxy = observer.named("lock").unwrap();

    let (mut a, connected) = NetClient::start_reconnecting(&net.a, &address, KEEPALIVE);
    assert!(connected.ok, "{}", connected.line);
    assert_eq!(a.run("acquire").value(), "acquired=true");
    assert_eq!(a.run("dict").value(), "dicts=1");
    net.partition();
    // The server notices the silence (1.5 s), waits out the grace period (1 s), and
    // releases the session's lock to the waiter.
    assert!(lock.acquire_timeout(Duration::from_secs(10)).unwrap());
    wait_until_blocking("the server to end A's session", || observer.stats().unwrap().connections == 1);
    net.heal();
    // The dict A created went with the session: its proxy says so.
    let lost = a.run("dict-len");
    assert!(lost.is_err("SessionLost"), "{}", lost.line);
    // Named objects are looked up again by name, on a new session: the counter (the
    // same object, on the same run) and the lock, free again once B lets go.
    assert_eq!(a.run("add 1").value(), "1");
    lock.release().unwrap();
    assert_eq!(a.run("acquire").value(), "acquired=true");
    assert_eq!(observer.stats().unwrap().connections, 2, "A's new session and the observer");
}
