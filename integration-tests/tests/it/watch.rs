//! `watch()` on the built-ins: snapshot then changes in order, versions, lag, and the
//! subscription's end (a dropped stream, a killed watcher process).

use crate::util::{sigkill, start, wait_until, worker};
use manager_client::watch::{
    DictChange, EventChange, ListChange, NamespaceChange, QueueChange, SetChange, ValueChange, Watch,
};
use manager_client::{Client, Elements, ListProxy, ValueProxy};
use manager_server::Server;
use std::process::Stdio;

async fn client(server: &Server) -> Client {
    Client::connect(server.address(), server.authkey().as_bytes()).await.unwrap()
}

async fn next<S, C>(events: &mut Elements<Watch<S, C>>) -> Watch<S, C> {
    events.next().await.expect("the watch ended").expect("a watch event")
}

/// The next event is a change at `version`: its change.
async fn change<S, C>(events: &mut Elements<Watch<S, C>>, version: &mut u64) -> C {
    match next(events).await {
        Watch::Change { version: v, change } => {
            *version += 1;
            assert_eq!(v, *version, "versions go up by one");
            change
        }
        _ => panic!("expected a change"),
    }
}

async fn snapshot<S, C>(events: &mut Elements<Watch<S, C>>) -> (u64, S) {
    match next(events).await {
        Watch::Snapshot { version, state } => (version, state),
        _ => panic!("expected a snapshot"),
    }
}

#[tokio::test]
async fn a_list_watch_sees_every_edit_as_a_splice() {
    let (_dir, server) = start(Server::builder()).await;
    let c = client(&server).await;
    let l = c.list_from(&[3u32, 1, 2]).await.unwrap();
    let mut events = l.watch();
    let (mut version, mut mirror) = snapshot(&mut events).await;
    assert_eq!(mirror, [3, 1, 2]);
    let splice = |index, removed, inserted: Vec<u32>| ListChange { index, removed, inserted };
    l.append(4).await.unwrap();
    l.insert(0, 9).await.unwrap();
    l.set(1, 7).await.unwrap();
    l.pop().await.unwrap();
    l.delete(0).await.unwrap();
    l.remove(&1).await.unwrap();
    l.extend(vec![5, 6]).await.unwrap();
    l.set_slice(Some(0), Some(1), vec![8, 8]).await.unwrap();
    l.delete_slice(None, None, Some(2)).await.unwrap();
    l.sort().await.unwrap();
    l.reverse().await.unwrap();
    let expected = [
        splice(3, 0, vec![4]),
        splice(0, 0, vec![9]),
        splice(1, 1, vec![7]),
        splice(4, 1, vec![]),
        splice(0, 1, vec![]),
        splice(1, 1, vec![]),
    ];
    for want in expected {
        let got = change(&mut events, &mut version).await;
        assert_eq!(got, want);
        assert!(got.apply(&mut mirror));
    }
    assert_eq!(mirror, [7, 2]);
    // extend, set_slice, delete_slice, sort, reverse: each applies to the mirror.
    for _ in 0..5 {
        assert!(change(&mut events, &mut version).await.apply(&mut mirror));
    }
    let now = l.snapshot().await.unwrap();
    assert_eq!(mirror, now);
    l.clear().await.unwrap();
    assert_eq!(change(&mut events, &mut version).await, splice(0, now.len(), vec![]));
    assert_eq!(l.len().await.unwrap(), 0);
    server.shutdown().await;
}

#[tokio::test]
async fn a_dict_watch_sees_inserts_updates_removals_and_clears() {
    let (_dir, server) = start(Server::builder()).await;
    let c = client(&server).await;
    let d = c.dict_from(&[("a".to_owned(), 1u32)]).await.unwrap();
    let mut events = d.watch();
    let (mut version, state) = snapshot(&mut events).await;
    assert_eq!(state, [("a".to_owned(), 1)]);
    d.insert("b".into(), 2).await.unwrap();
    d.insert("a".into(), 3).await.unwrap();
    d.pop("a").await.unwrap();
    d.setdefault("c".into(), 4).await.unwrap();
    d.clear().await.unwrap();
    let (a, b, cc) = ("a".to_owned(), "b".to_owned(), "c".to_owned());
    for want in [
        DictChange::Inserted { key: b, value: 2 },
        DictChange::Updated { key: a.clone(), value: 3 },
        DictChange::Removed { key: a },
        DictChange::Inserted { key: cc, value: 4 },
        DictChange::Cleared,
    ] {
        assert_eq!(change(&mut events, &mut version).await, want);
    }
    server.shutdown().await;
}

#[tokio::test]
async fn set_value_namespace_event_and_queue_watches_see_their_changes() {
    let (_dir, server) = start(Server::builder()).await;
    let c = client(&server).await;

    let s = c.set_from(&[1u32]).await.unwrap();
    let mut events = s.watch();
    let (mut version, state) = snapshot(&mut events).await;
    assert_eq!(state, [1]);
    s.add(2).await.unwrap();
    s.add(2).await.unwrap(); // already there: no change
    s.discard(&1).await.unwrap();
    s.clear().await.unwrap();
    for want in [SetChange::Added(2), SetChange::Removed(1), SetChange::Cleared] {
        assert_eq!(change(&mut events, &mut version).await, want);
    }

    let v = c.value(10u64).await.unwrap();
    let mut events = v.watch();
    let (mut version, state) = snapshot(&mut events).await;
    assert_eq!(state, 10);
    v.set(11).await.unwrap();
    v.swap(12).await.unwrap();
    v.fetch_add(3).await.unwrap();
    for want in [11, 12, 15] {
        assert_eq!(change(&mut events, &mut version).await, ValueChange::Set(want));
    }

    let ns = c.namespace().await.unwrap();
    ns.set("x", 1u32).await.unwrap();
    let mut events = ns.watch::<u32>();
    let (mut version, state) = snapshot(&mut events).await;
    assert_eq!(state, [("x".to_owned(), 1)]);
    ns.set("y", 2u32).await.unwrap();
    ns.delete("x").await.unwrap();
    assert_eq!(change(&mut events, &mut version).await, NamespaceChange::Set { name: "y".into(), value: 2 });
    assert_eq!(change(&mut events, &mut version).await, NamespaceChange::Removed { name: "x".into() });

    let e = c.event().await.unwrap();
    let mut events = e.watch();
    let (mut version, state) = snapshot(&mut events).await;
    assert!(!state);
    e.set().await.unwrap();
    e.clear().await.unwrap();
    assert_eq!(change(&mut events, &mut version).await, EventChange::Set);
    assert_eq!(change(&mut events, &mut version).await, EventChange::Cleared);

    let q = c.queue::<u32>(0).await.unwrap();
    let mut events = q.watch();
    let (mut version, state) = snapshot(&mut events).await;
    assert_eq!(state, 0);
    q.put(1).await.unwrap();
    q.put(2).await.unwrap();
    q.get().await.unwrap();
    for len in [1, 2, 1] {
        assert_eq!(change(&mut events, &mut version).await, QueueChange { len });
    }
    server.shutdown().await;
}

/// Watchers subscribing while a writer writes: each one's snapshot plus the changes
/// after it reproduce the list exactly, with no change missed or seen twice.
#[tokio::test]
async fn no_change_is_missed_or_repeated_between_snapshot_and_first_event() {
    let (_dir, server) = start(Server::builder()).await;
    let c = client(&server).await;
    let l = c.list::<u32>().await.unwrap();
    const N: u32 = 3000;
    let writer = {
        let l = l.clone();
        tokio::spawn(async move {
            for i in 0..N {
                l.append(i).await.unwrap();
            }
        })
    };
    let mut watchers = Vec::new();
    for _ in 0..6 {
        // Each watcher on a connection of its own.
        let other = client(&server).await;
        let watched: ListProxy<u32> = other.attach(l.token()).await.unwrap();
        let mut events = watched.watch();
        watchers.push(tokio::spawn(async move {
            let (mut version, mut mirror) = snapshot(&mut events).await;
            while mirror.len() < N as usize {
                assert!(change(&mut events, &mut version).await.apply(&mut mirror));
            }
            drop((watched, other));
            mirror
        }));
        // Let the writer go on before the next one subscribes.
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
    }
    writer.await.unwrap();
    let all: Vec<u32> = (0..N).collect();
    for w in watchers {
        assert_eq!(w.await.unwrap(), all);
    }
    server.shutdown().await;
}

/// A watcher that stops reading never holds up a writer; when it reads again it has
/// the changes that fit its buffers, then `Lagged`, then a snapshot equal to the state.
#[tokio::test]
async fn a_slow_watcher_never_blocks_a_writer_and_then_lags() {
    let (_dir, server) = start(Server::builder()).await;
    let c = client(&server).await;
    let l = c.list::<u64>().await.unwrap();
    let mut events = l.watch();
    let (mut version, mut mirror) = snapshot(&mut events).await;
    for i in 0..100_000u64 {
        l.append(i).await.unwrap();
    }
    let missed = loop {
        match next(&mut events).await {
            Watch::Change { version: v, change } => {
                version += 1;
                assert_eq!(v, version);
                assert!(change.apply(&mut mirror));
            }
            Watch::Lagged { missed } => break missed,
            Watch::Snapshot { .. } => panic!("a snapshot before Lagged"),
        }
    };
    assert!(missed > 0 && mirror.len() < 100_000, "{missed} missed, {} seen", mirror.len());
    assert_eq!(mirror.len() as u64 + missed, 100_000, "every change is either seen or counted missed");
    let (v, state) = snapshot(&mut events).await;
    assert_eq!(v, 100_000);
    assert_eq!(state, l.snapshot().await.unwrap());
    // Live again.
    l.append(7).await.unwrap();
    let mut version = v;
    assert_eq!(change(&mut events, &mut version).await, ListChange { index: 100_000, removed: 0, inserted: vec![7] });
    server.shutdown().await;
}

#[tokio::test]
async fn dropping_a_watch_ends_its_subscription() {
    let (_dir, server) = start(Server::builder()).await;
    let c = client(&server).await;
    let v = c.value(1u32).await.unwrap();
    let mut events = v.watch();
    snapshot(&mut events).await;
    assert_eq!(server.stats().streams, 1);
    drop(events);
    wait_until("the subscription ends", || async { server.stats().streams == 0 }).await;
    // Writes go on, watched by nobody.
    v.set(2).await.unwrap();
    assert_eq!(v.get().await.unwrap(), 2);
    server.shutdown().await;
}

#[tokio::test]
async fn a_killed_watcher_process_frees_its_subscription() {
    let (_dir, server) = start(Server::builder()).await;
    let c = client(&server).await;
    let l = c.list_from(&[1u32]).await.unwrap();
    let mut cmd = worker();
    c.pass_proxy(&mut cmd, "watched", &l).unwrap();
    let mut child = cmd.args(["watch-and-hang", "watched"]).stdout(Stdio::piped()).spawn().unwrap();
    let line = crate::util::first_line(&mut child).await;
    assert_eq!(line.trim(), "ready");
    assert_eq!(server.stats().streams, 1);
    for i in 0..100 {
        l.append(i).await.unwrap();
    }
    sigkill(&mut child);
    wait_until("the killed watcher's subscription ends", || async { server.stats().streams == 0 }).await;
    l.append(1).await.unwrap();
    server.shutdown().await;
}

#[test]
fn a_blocking_watch_is_an_iterator() {
    let server = Server::builder().start_blocking().unwrap();
    let c = manager_client::blocking::Client::connect(server.address(), server.authkey().as_bytes()).unwrap();
    let e = c.event().unwrap();
    let mut events = e.watch();
    assert_eq!(events.next().unwrap().unwrap(), Watch::Snapshot { version: 0, state: false });
    e.set().unwrap();
    assert_eq!(events.next().unwrap().unwrap(), Watch::Change { version: 1, change: EventChange::Set });
}

#[tokio::test]
async fn bulk_updates_tell_each_element_and_pair() {
    let (_dir, server) = start(Server::builder()).await;
    let c = client(&server).await;
    let s = c.set_from(&[1u32, 2, 3]).await.unwrap();
    let mut events = s.watch();
    let (mut version, _) = snapshot(&mut events).await;
    s.update(&[3, 4]).await.unwrap();
    s.difference_update(&[1]).await.unwrap();
    s.intersection_update(&[3, 4]).await.unwrap();
    s.symmetric_difference_update(&[4, 5]).await.unwrap();
    for want in
        [SetChange::Added(4), SetChange::Removed(1), SetChange::Removed(2), SetChange::Removed(4), SetChange::Added(5)]
    {
        assert_eq!(change(&mut events, &mut version).await, want);
    }

    let d = c.dict::<u32, u32>().await.unwrap();
    let mut events = d.watch();
    let (mut version, _) = snapshot(&mut events).await;
    d.update(vec![(1, 1), (2, 2), (1, 3)]).await.unwrap();
    assert_eq!(d.popitem().await.unwrap(), (2, 2));
    for want in [
        DictChange::Inserted { key: 1, value: 1 },
        DictChange::Inserted { key: 2, value: 2 },
        DictChange::Updated { key: 1, value: 3 },
        DictChange::Removed { key: 2 },
    ] {
        assert_eq!(change(&mut events, &mut version).await, want);
    }

    let q = c.queue::<u32>(0).await.unwrap();
    let mut events = q.watch();
    let (mut version, _) = snapshot(&mut events).await;
    q.put_many(vec![1, 2, 3]).await.unwrap();
    assert_eq!(q.get_many(2, None).await.unwrap(), [1, 2]);
    assert_eq!(change(&mut events, &mut version).await, QueueChange { len: 3 });
    assert_eq!(change(&mut events, &mut version).await, QueueChange { len: 1 });
    server.shutdown().await;
}

/// Proxies inside a watched container arrive as working proxies, in snapshots and
/// changes alike, even once the writer let go of them.
#[tokio::test]
async fn proxies_in_events_work_in_the_watchers_hands() {
    // Short leases: the token the watcher attaches with leases the list for that long.
    let (_dir, server) = start(Server::builder().token_lease(std::time::Duration::from_millis(300))).await;
    let writer = client(&server).await;
    let watcher = client(&server).await;
    let first = writer.value(1u32).await.unwrap();
    let l = writer.list_from(&[first]).await.unwrap();
    let watched: ListProxy<ValueProxy<u32>> = watcher.attach(l.token()).await.unwrap();
    let mut events = watched.watch();
    let (mut version, state) = snapshot(&mut events).await;
    assert_eq!(state[0].get().await.unwrap(), 1);
    l.append(writer.value(2u32).await.unwrap()).await.unwrap();
    l.clear().await.unwrap();
    let appended = change(&mut events, &mut version).await;
    // The list let go of it, and the writer never held it: the event's proxy keeps it.
    let cleared = change(&mut events, &mut version).await;
    assert_eq!((cleared.index, cleared.removed, cleared.inserted.len()), (0, 2, 0));
    assert_eq!((appended.index, appended.removed), (1, 0));
    assert_eq!(appended.inserted[0].get().await.unwrap(), 2);
    // Nothing leaks: with every proxy and the watch gone, so is every object.
    drop((appended, cleared, state, events, watched, l));
    wait_until("every object is freed", || async { server.stats().objects == 0 }).await;
    server.shutdown().await;
}
