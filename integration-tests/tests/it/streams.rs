//! Streams: live iteration of the built-ins, iterator methods, credit and cancel.

use crate::util::{start, wait_until};
use manager_client::{Client, Elements, Error, RemoteError, RemoteErrorKind};
use manager_server::Server;

async fn client(server: &Server) -> Client {
    Client::connect(server.address(), server.authkey().as_bytes()).await.unwrap()
}

#[tokio::test]
async fn a_list_iterates_in_order_across_many_batches() {
    let (_dir, server) = start(Server::builder()).await;
    let c = client(&server).await;
    let all: Vec<u64> = (0..200_000).collect();
    let l = c.list_from(&all).await.unwrap();
    let got = l.iter().collect_all().await.unwrap();
    assert_eq!(got, all);
    wait_until("the stream is closed", || async { server.stats().streams == 0 }).await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_dropped_iteration_frees_its_cursor() {
    let (_dir, server) = start(Server::builder()).await;
    let c = client(&server).await;
    let all: Vec<u64> = (0..1_000_000).collect();
    let l = c.list_from(&all).await.unwrap();
    let mut it = l.iter();
    assert_eq!(it.next().await.unwrap().unwrap(), 0);
    assert_eq!(server.stats().streams, 1);
    drop(it);
    wait_until("the cursor is freed", || async { server.stats().streams == 0 }).await;
    // The connection goes on.
    assert_eq!(l.len().await.unwrap(), 1_000_000);
    server.shutdown().await;
}

#[test]
fn a_blocking_list_iterates() {
    let server = Server::builder().start_blocking().unwrap();
    let c = manager_client::blocking::Client::connect(server.address(), server.authkey().as_bytes()).unwrap();
    let l = c.list_from(&["a".to_owned(), "b".to_owned()]).unwrap();
    let got: Result<Vec<String>, _> = l.iter().collect();
    assert_eq!(got.unwrap(), ["a", "b"]);
}

// ---- dict and set ----

/// Enough entries for many batches, and for far more than one stream window (256 KiB):
/// what the server has not sent when a test changes the dict is most of it.
const N: u64 = 200_000;

/// `N` pairs whose keys are not in sorted order (7919 is coprime with `N`), so the
/// order seen is the insertion order and nothing else.
fn pairs() -> Vec<(u64, u64)> {
    (0..N).map(|i| ((i * 7919) % N, i)).collect()
}

fn remote(e: Error) -> RemoteError {
    match e {
        Error::Remote(e) => e,
        other => panic!("not a remote error: {other:?}"),
    }
}

/// Reads `stream` to its error: the items before it, and the error, which must be the
/// stream's last answer.
async fn read_to_error<T: std::fmt::Debug>(mut stream: Elements<T>) -> (Vec<T>, RemoteError) {
    let mut got = Vec::new();
    loop {
        match stream.next().await {
            Some(Ok(item)) => got.push(item),
            Some(Err(e)) => {
                assert!(stream.next().await.is_none(), "the error is the stream's last answer");
                return (got, remote(e));
            }
            None => panic!("the stream ended without an error after {} items", got.len()),
        }
    }
}

/// Checks a failed iteration: `read` (the first item read, then the rest) is a proper
/// prefix of `all`, and the error is `ChangedDuringIteration` saying `message`.
fn failed_after_a_prefix<T: PartialEq + std::fmt::Debug>(read: &[T], all: &[T], e: &RemoteError, message: &str) {
    assert!(!read.is_empty() && read.len() < all.len(), "read {} of {}", read.len(), all.len());
    assert_eq!(read, &all[..read.len()], "the items before the error are the first ones, in order");
    assert_eq!(e.kind, RemoteErrorKind::ChangedDuringIteration);
    assert_eq!(e.message, message);
}

#[tokio::test]
async fn a_dict_iterates_in_insertion_order_across_many_batches() {
    let (_dir, server) = start(Server::builder()).await;
    let c = client(&server).await;
    let pairs = pairs();
    let d = c.dict_from(&pairs).await.unwrap();
    let keys: Vec<u64> = pairs.iter().map(|p| p.0).collect();
    let values: Vec<u64> = pairs.iter().map(|p| p.1).collect();
    assert_eq!(d.iter().collect_all().await.unwrap(), keys);
    assert_eq!(d.keys().collect_all().await.unwrap(), keys);
    assert_eq!(d.values().collect_all().await.unwrap(), values);
    assert_eq!(d.items().collect_all().await.unwrap(), pairs);
    assert_eq!(d.snapshot().await.unwrap(), pairs);
    wait_until("the streams are closed", || async { server.stats().streams == 0 }).await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_dict_with_removed_and_reinserted_keys_iterates_in_python_order() {
    let (_dir, server) = start(Server::builder()).await;
    let c = client(&server).await;
    let d = c.dict::<u32, u32>().await.unwrap();
    let mut model: Vec<(u32, u32)> = Vec::new();
    for k in 0..300 {
        d.insert(k, k).await.unwrap();
        model.push((k, k));
    }
    // Holes, then enough of them to compact; a key inserted again goes to the end, a
    // replaced value keeps its place.
    for k in (0..300).filter(|k| k % 3 != 0) {
        d.remove(&k).await.unwrap();
        model.retain(|p| p.0 != k);
    }
    for k in [7, 1, 299] {
        d.insert(k, 1000 + k).await.unwrap();
        model.push((k, 1000 + k));
    }
    d.insert(0, 5).await.unwrap();
    model[0].1 = 5;
    assert_eq!(d.items().collect_all().await.unwrap(), model);
    server.shutdown().await;
}

#[tokio::test]
async fn values_updated_during_a_dict_iteration_are_seen_unless_passed() {
    let (_dir, server) = start(Server::builder()).await;
    let c = client(&server).await;
    let pairs = pairs();
    let d = c.dict_from(&pairs).await.unwrap();
    let mut items = d.items();
    assert_eq!(items.next().await.unwrap().unwrap(), pairs[0]);
    // The first key was passed; the last is far beyond what the window let through.
    let (first, last) = (pairs[0].0, pairs[pairs.len() - 1].0);
    assert_eq!(d.insert(first, 1_000_000).await.unwrap(), Some(pairs[0].1));
    assert_eq!(d.insert(last, 1_000_001).await.unwrap(), Some(pairs[pairs.len() - 1].1));
    let mut expected = pairs[1..].to_vec();
    expected.last_mut().unwrap().1 = 1_000_001;
    assert_eq!(items.collect_all().await.unwrap(), expected, "no error: the size and keys are the same");
    // A value the caller already has is not sent again; a new iteration sees both.
    assert_eq!(d.get(&first).await.unwrap(), Some(1_000_000));
    server.shutdown().await;
}

#[derive(Clone, Copy, Debug)]
enum DictChange {
    Insert,
    Remove,
    Clear,
    /// A key removed and another inserted: the size is the same.
    Swap,
}

#[tokio::test]
async fn a_dict_changed_during_iteration_fails_after_the_keys_before() {
    let (_dir, server) = start(Server::builder()).await;
    let c = client(&server).await;
    let pairs = pairs();
    let keys: Vec<u64> = pairs.iter().map(|p| p.0).collect();
    for change in [DictChange::Insert, DictChange::Remove, DictChange::Clear, DictChange::Swap] {
        let d = c.dict_from(&pairs).await.unwrap();
        let mut it = d.keys();
        let mut read = vec![it.next().await.unwrap().unwrap()];
        let last = keys[keys.len() - 1];
        match change {
            DictChange::Insert => assert_eq!(d.insert(N, 0).await.unwrap(), None),
            DictChange::Remove => drop(d.remove(&last).await.unwrap()),
            DictChange::Clear => d.clear().await.unwrap(),
            DictChange::Swap => {
                d.remove(&last).await.unwrap();
                d.insert(N, 0).await.unwrap();
            }
        }
        let (rest, e) = read_to_error(it).await;
        read.extend(rest);
        let message = match change {
            DictChange::Swap => "dictionary keys changed during iteration",
            _ => SIZE_CHANGED,
        };
        failed_after_a_prefix(&read, &keys, &e, message);
    }
    // The other views fail alike.
    let d = c.dict_from(&pairs).await.unwrap();
    let mut values = d.values();
    let mut read = vec![values.next().await.unwrap().unwrap()];
    let mut items = d.items();
    let mut read_pairs = vec![items.next().await.unwrap().unwrap()];
    d.pop(&keys[1]).await.unwrap();
    let (rest, e) = read_to_error(values).await;
    read.extend(rest);
    let all: Vec<u64> = pairs.iter().map(|p| p.1).collect();
    failed_after_a_prefix(&read, &all, &e, SIZE_CHANGED);
    let (rest, e) = read_to_error(items).await;
    read_pairs.extend(rest);
    failed_after_a_prefix(&read_pairs, &pairs, &e, SIZE_CHANGED);
    wait_until("the streams are closed", || async { server.stats().streams == 0 }).await;
    server.shutdown().await;
}

const SIZE_CHANGED: &str = "dictionary changed size during iteration";

#[tokio::test]
async fn a_dropped_dict_iteration_frees_its_cursor() {
    let (_dir, server) = start(Server::builder()).await;
    let c = client(&server).await;
    let d = c.dict_from(&pairs()).await.unwrap();
    let mut items = d.items();
    items.next().await.unwrap().unwrap();
    assert_eq!(server.stats().streams, 1);
    drop(items);
    wait_until("the cursor is freed", || async { server.stats().streams == 0 }).await;
    // The dict and the connection go on; a cursor a connection leaves open goes with it.
    assert_eq!(d.len().await.unwrap(), N as usize);
    let mut keys = d.keys();
    keys.next().await.unwrap().unwrap();
    drop((keys, d, c));
    wait_until("the connection's cursor is freed", || async { server.stats().streams == 0 }).await;
    server.shutdown().await;
}

#[tokio::test]
async fn proxies_streamed_from_a_dict_own_their_references() {
    let (_dir, server) = start(Server::builder()).await;
    let c = client(&server).await;
    let d = c.dict::<String, manager_client::ListProxy<u32>>().await.unwrap();
    for n in 0..3u32 {
        let l = c.list_from(&vec![n; n as usize]).await.unwrap();
        d.insert(format!("l{n}"), l).await.unwrap();
    }
    let lists = d.values().collect_all().await.unwrap();
    let pairs = d.items().collect_all().await.unwrap();
    d.clear().await.unwrap();
    drop(d);
    // The streamed proxies hold the lists now: they work, then go with them.
    for (n, l) in lists.iter().enumerate() {
        assert_eq!(l.len().await.unwrap(), n);
    }
    assert_eq!(pairs[2].0, "l2");
    assert_eq!(pairs[2].1.snapshot().await.unwrap(), [2, 2]);
    drop((lists, pairs));
    wait_until("the lists are freed", || async { server.stats().objects == 0 }).await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_set_iterates_in_insertion_order_and_fails_when_changed() {
    let (_dir, server) = start(Server::builder()).await;
    let c = client(&server).await;
    let members: Vec<u64> = pairs().into_iter().map(|p| p.0).collect();
    let s = c.set_from(&members).await.unwrap();
    assert_eq!(s.iter().collect_all().await.unwrap(), members);
    for (same_size, message) in [(false, "Set changed size during iteration"), (true, "Set changed during iteration")] {
        let s = c.set_from(&members).await.unwrap();
        let mut it = s.iter();
        let mut read = vec![it.next().await.unwrap().unwrap()];
        if same_size {
            s.remove(&members[members.len() - 1]).await.unwrap();
        }
        s.add(N).await.unwrap();
        let (rest, e) = read_to_error(it).await;
        read.extend(rest);
        failed_after_a_prefix(&read, &members, &e, message);
    }
    // Adding what is there already changes nothing.
    let mut it = s.iter();
    let first = it.next().await.unwrap().unwrap();
    s.add(first).await.unwrap();
    assert_eq!(it.collect_all().await.unwrap(), members[1..]);
    wait_until("the streams are closed", || async { server.stats().streams == 0 }).await;
    server.shutdown().await;
}

#[test]
fn blocking_dict_and_set_iterate_live() {
    let server = Server::builder().start_blocking().unwrap();
    let c = manager_client::blocking::Client::connect(server.address(), server.authkey().as_bytes()).unwrap();
    let d = c.dict_from(&[("b".to_owned(), 2u32), ("a".to_owned(), 1)]).unwrap();
    assert_eq!(d.iter().collect::<Result<Vec<_>, _>>().unwrap(), ["b", "a"]);
    assert_eq!(d.keys().collect::<Result<Vec<_>, _>>().unwrap(), ["b", "a"]);
    assert_eq!(d.values().collect::<Result<Vec<_>, _>>().unwrap(), [2, 1]);
    assert_eq!(d.items().collect::<Result<Vec<_>, _>>().unwrap(), [("b".to_owned(), 2), ("a".to_owned(), 1)]);
    let s = c.set_from(&[3u8, 1, 2]).unwrap();
    assert_eq!(s.iter().collect::<Result<Vec<_>, _>>().unwrap(), [3, 1, 2]);

    // A change fails the iterator, after the keys before it.
    let pairs = pairs();
    let big = c.dict_from(&pairs).unwrap();
    let mut keys = big.keys();
    let mut read = vec![keys.next().unwrap().unwrap()];
    big.insert(N, 0).unwrap();
    let e = loop {
        match keys.next().unwrap() {
            Ok(k) => read.push(k),
            Err(e) => break remote(e),
        }
    };
    assert!(keys.next().is_none());
    let all: Vec<u64> = pairs.iter().map(|p| p.0).collect();
    failed_after_a_prefix(&read, &all, &e, SIZE_CHANGED);
    let big = c.set_from(&all).unwrap();
    let mut members = big.iter();
    members.next().unwrap().unwrap();
    big.discard(&all[1]).unwrap();
    let e = members.find_map(Result::err).map(remote).unwrap();
    assert_eq!(e.message, "Set changed size during iteration");
}

// CPython's own iteration tests (`Lib/test/test_dict.py`, `Lib/test/test_set.py`),
// ported. Python checks before each item; a stream checks before each batch, so a
// change shows once the items sent ahead run out: these dicts are larger than a window.

/// Keys of about 100 bytes: a window holds a few thousand of them.
fn long_keys(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{i:0>100}")).collect()
}

/// `test_dict.DictTest.test_mutating_iteration`: `for i in d: d[i + 1] = 1` raises.
#[tokio::test]
async fn cpython_dict_test_mutating_iteration() {
    let (_dir, server) = start(Server::builder()).await;
    let c = client(&server).await;
    let pairs: Vec<(String, u32)> = long_keys(20_000).into_iter().map(|k| (k, 1)).collect();
    let d = c.dict_from(&pairs).await.unwrap();
    let mut it = d.iter();
    let e = loop {
        match it.next().await.expect("the loop raises before the dict's end") {
            Ok(k) => d.insert(format!("{k}+1"), 1).await.map(drop).unwrap(),
            Err(e) => break remote(e),
        }
    };
    assert_eq!((e.kind, e.message.as_str()), (RemoteErrorKind::ChangedDuringIteration, SIZE_CHANGED));
    server.shutdown().await;
}

/// `test_dict.DictTest.test_mutating_iteration_delete`: `for i in d: del d[0]; d[0] = 0`
/// raises (after the loop body, the size is the same and the keys are not).
#[tokio::test]
async fn cpython_dict_test_mutating_iteration_delete() {
    let (_dir, server) = start(Server::builder()).await;
    let c = client(&server).await;
    let keys = long_keys(20_000);
    let pairs: Vec<(String, u32)> = keys.iter().map(|k| (k.clone(), 0)).collect();
    let d = c.dict_from(&pairs).await.unwrap();
    let mut it = d.iter();
    let e = loop {
        match it.next().await.expect("the loop raises before the dict's end") {
            Ok(_) => {
                d.remove(&keys[0]).await.unwrap();
                d.insert(keys[0].clone(), 0).await.unwrap();
            }
            Err(e) => break remote(e),
        }
    };
    // The stream reads ahead while the loop runs, so the batch may come between the two
    // calls (Python's loop body runs between two reads): either message is right, as
    // `assertRaises(RuntimeError)` is all Python asks.
    assert_eq!(e.kind, RemoteErrorKind::ChangedDuringIteration);
    assert!([SIZE_CHANGED, "dictionary keys changed during iteration"].contains(&e.message.as_str()), "{e:?}");
    server.shutdown().await;
}

/// `test_set.TestSet.test_changingSizeWhileIterating`: `for i in s: s.update([4])` raises.
#[tokio::test]
async fn cpython_set_test_changing_size_while_iterating() {
    let (_dir, server) = start(Server::builder()).await;
    let c = client(&server).await;
    let s = c.set_from(&long_keys(20_000)).await.unwrap();
    let mut it = s.iter();
    let e = loop {
        match it.next().await.expect("the loop raises before the set's end") {
            Ok(_) => s.update(&["4".to_owned()]).await.unwrap(),
            Err(e) => break remote(e),
        }
    };
    assert_eq!(e.kind, RemoteErrorKind::ChangedDuringIteration);
    assert_eq!(e.message, "Set changed size during iteration");
    server.shutdown().await;
}
