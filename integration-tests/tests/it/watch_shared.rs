//! `#[shared(watch)]`: a user type whose `&mut self` calls are changes its proxies'
//! `watch()` streams, in order, numbered, with `Lagged` for a watcher that fell behind.

use crate::util::{start, wait_until};
use integration_tests::streams::{Tally, TallyBlockingProxy, TallyProxy};
use manager_client::watch::{Called, Watch};
use manager_client::{Client, blocking};
use manager_server::Server;

fn called(method: &str) -> Called {
    Called { method: method.to_owned() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mut_call_from_any_client_reaches_the_watcher_in_order() {
    let (_dir, server) = start(Server::builder().register::<Tally>()).await;
    let a = Client::connect(server.address(), server.authkey().as_bytes()).await.unwrap();
    let b = Client::connect(server.address(), server.authkey().as_bytes()).await.unwrap();
    let tally = TallyProxy::create(&a).await.unwrap();
    tally.add(5).await.unwrap();
    let mut events = tally.watch();
    let Some(Ok(Watch::Snapshot { version, state: () })) = events.next().await else { panic!("no snapshot first") };
    let other: TallyProxy = b.attach(tally.token()).await.unwrap();
    other.add(1).await.unwrap();
    assert_eq!(other.total().await.unwrap(), 6, "a `&self` call is no change");
    tally.reset().await.unwrap();
    other.add(2).await.unwrap();
    for (k, method) in ["add", "reset", "add"].into_iter().enumerate() {
        let expected = Watch::Change { version: version + 1 + k as u64, change: called(method) };
        assert_eq!(events.next().await.unwrap().unwrap(), expected);
    }
    assert_eq!(server.stats().streams, 1);
    drop(events);
    wait_until("the watch is closed", || async { server.stats().streams == 0 }).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_that_stops_reading_is_told_what_it_missed() {
    let (_dir, server) = start(Server::builder().register::<Tally>()).await;
    let c = Client::connect(server.address(), server.authkey().as_bytes()).await.unwrap();
    let tally = TallyProxy::create(&c).await.unwrap();
    let mut events = tally.watch();
    let Some(Ok(Watch::Snapshot { version, .. })) = events.next().await else { panic!("no snapshot first") };
    // Far more changes than a watcher's queue holds; the writer is never held up.
    let writes = 5_000u64;
    for _ in 0..writes {
        tally.add(1).await.unwrap();
    }
    let (mut seen, mut missed, mut last) = (0u64, 0u64, version);
    // Until the watcher is level with the object again (a lag's snapshot comes after it).
    while last < version + writes {
        match events.next().await.unwrap().unwrap() {
            Watch::Change { version, .. } => {
                seen += 1;
                last = version;
            }
            Watch::Lagged { missed: m } => missed += m,
            Watch::Snapshot { version, .. } => last = version,
        }
    }
    assert!(missed > 0, "a watcher that read nothing during {writes} writes lagged");
    assert_eq!(seen + missed, writes, "every change was seen or counted as missed");
    server.shutdown().await;
}

#[test]
fn a_blocking_watch_is_an_iterator() {
    let server = Server::builder().register::<Tally>().start_blocking().unwrap();
    let client = blocking::Client::connect(server.address(), server.authkey()).unwrap();
    let tally = TallyBlockingProxy::create(&client).unwrap();
    let mut events = tally.watch();
    let Some(Ok(Watch::Snapshot { version, .. })) = events.next() else { panic!("no snapshot first") };
    tally.add(3).unwrap();
    assert_eq!(events.next().unwrap().unwrap(), Watch::Change { version: version + 1, change: called("add") });
}
