//! Every built-in type, method by method, against a real server: Python's semantics.

use crate::util;
use integration_tests::{Counter, CounterProxy};
use manager_client::{Client, DictProxy, Error, ListProxy, RemoteErrorKind};
use manager_server::Server;
use std::time::Duration;

async fn client() -> (tempfile::TempDir, Server, Client) {
    let (dir, server) = util::start(Server::builder().register::<Counter>()).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    (dir, server, client)
}

fn kind(e: Error) -> RemoteErrorKind {
    e.remote_kind().unwrap_or_else(|| panic!("not a remote error: {e:?}"))
}

#[tokio::test]
async fn dict_behaves_like_pythons() {
    let (_d, _s, c) = client().await;
    let d = c.dict::<String, i64>().await.unwrap();
    assert_eq!(d.insert("b".into(), 2).await.unwrap(), None);
    assert_eq!(d.insert("a".into(), 1).await.unwrap(), None);
    assert_eq!(d.insert("b".into(), 20).await.unwrap(), Some(2), "replacing keeps the position");
    assert_eq!(d.get("b").await.unwrap(), Some(20));
    assert_eq!(d.get("zz").await.unwrap(), None);
    assert!(d.contains("a").await.unwrap());
    assert_eq!(d.keys().collect_all().await.unwrap(), vec!["b", "a"], "insertion order");
    assert_eq!(d.values().collect_all().await.unwrap(), vec![20, 1]);
    assert_eq!(d.len().await.unwrap(), 2);
    assert_eq!(kind(d.remove("missing").await.unwrap_err()), RemoteErrorKind::KeyNotFound);
    assert_eq!(d.setdefault("c".into(), 3).await.unwrap(), 3);
    assert_eq!(d.setdefault("c".into(), 99).await.unwrap(), 3);
    assert_eq!(d.pop_or("nope", -1).await.unwrap(), -1);
    assert_eq!(d.pop("a").await.unwrap(), 1);
    d.update(vec![("x".into(), 10), ("b".into(), 21)]).await.unwrap();
    assert_eq!(d.items().collect_all().await.unwrap(), vec![("b".into(), 21), ("c".into(), 3), ("x".into(), 10)]);
    assert_eq!(d.popitem().await.unwrap(), ("x".into(), 10), "popitem takes the last inserted");
    let merged = d.merged(vec![("c".into(), 30), ("z".into(), 26)]).await.unwrap();
    assert_eq!(merged, vec![("b".into(), 21), ("c".into(), 30), ("z".into(), 26)]);
    assert_eq!(d.len().await.unwrap(), 2, "merged leaves the dict alone");
    assert_eq!(d.remove("b").await.unwrap(), 21);
    d.clear().await.unwrap();
    assert!(d.is_empty().await.unwrap());
    assert_eq!(kind(d.popitem().await.unwrap_err()), RemoteErrorKind::KeyNotFound);
    let f = c.dict_fromkeys(vec![1u8, 2, 3], "v".to_string()).await.unwrap();
    assert_eq!(f.items().collect_all().await.unwrap().len(), 3);
    // Opening it with the wrong types is refused, naming both.
    let err = c.attach::<DictProxy<String, String>>(&d.token()).await.unwrap_err();
    assert!(matches!(&err, Error::TypeMismatch(m) if m.contains("`Dict<String, i64>`")), "{err:?}");
    // Opened anyway, reading bytes that do not fit is a decode error, not garbage.
    c.bind_name("d", &d).await.unwrap();
    let wrong: DictProxy<String, String> = c.named_unchecked("d").await.unwrap();
    d.insert("k".into(), 1_000_000).await.unwrap();
    assert!(matches!(wrong.get("k").await.unwrap_err(), Error::Decode { .. }));
}

#[tokio::test]
async fn dict_and_set_keys_of_every_size_around_the_stack_buffer_are_one_key() {
    // Small keys and values are encoded on the stack, larger ones into a buffer of their
    // own: a String of n bytes encodes in n + 1 (n < 128), so 31 and 32 straddle the
    // 32-byte buffer. Either way it must be the same key on the server.
    let (_d, _s, c) = client().await;
    let d = c.dict::<String, String>().await.unwrap();
    let s = c.set::<String>().await.unwrap();
    let sizes = [0usize, 1, 30, 31, 32, 33, 127, 128, 10_000];
    for n in sizes {
        let key = "k".repeat(n);
        assert_eq!(d.insert(key.clone(), "v".repeat(n)).await.unwrap(), None, "{n}");
        assert_eq!(d.insert(key.clone(), "w".repeat(n)).await.unwrap(), Some("v".repeat(n)), "{n}");
        assert_eq!(d.get(&key).await.unwrap(), Some("w".repeat(n)), "{n}");
        assert!(d.contains(&key).await.unwrap(), "{n}");
        s.add(key.clone()).await.unwrap();
        assert!(s.contains(&key).await.unwrap(), "{n}");
    }
    let keys: Vec<String> = sizes.iter().map(|&n| "k".repeat(n)).collect();
    assert_eq!(d.keys().collect_all().await.unwrap(), keys, "each size is its own key, in order");
    assert_eq!(s.len().await.unwrap(), sizes.len());
    for n in sizes {
        assert_eq!(d.pop(&"k".repeat(n)).await.unwrap(), "w".repeat(n), "{n}");
        s.remove(&"k".repeat(n)).await.unwrap();
    }
    assert!(d.is_empty().await.unwrap());
    assert_eq!(s.len().await.unwrap(), 0);
}

#[tokio::test]
async fn list_behaves_like_pythons() {
    let (_d, _s, c) = client().await;
    let l = c.list_from(&[1, 2, 3, 4]).await.unwrap();
    assert_eq!(l.get(-1).await.unwrap(), 4);
    assert_eq!(kind(l.get(10).await.unwrap_err()), RemoteErrorKind::IndexOutOfRange);
    assert_eq!(l.slice(Some(1), Some(3), None).await.unwrap(), vec![2, 3]);
    assert_eq!(l.slice(None, None, Some(-1)).await.unwrap(), vec![4, 3, 2, 1]);
    l.set(0, 10).await.unwrap();
    l.append(5).await.unwrap();
    l.extend(vec![6, 7]).await.unwrap();
    l.insert(-100, 0).await.unwrap();
    assert_eq!(l.snapshot().await.unwrap(), vec![0, 10, 2, 3, 4, 5, 6, 7]);
    assert_eq!(l.pop().await.unwrap(), 7);
    assert_eq!(l.pop_at(0).await.unwrap(), 0);
    l.remove(&3).await.unwrap();
    assert_eq!(kind(l.remove(&99).await.unwrap_err()), RemoteErrorKind::InvalidValue);
    assert_eq!(l.index(&5).await.unwrap(), 3);
    l.append(2).await.unwrap();
    assert_eq!(l.count(&2).await.unwrap(), 2);
    assert!(l.contains(&6).await.unwrap());
    l.reverse().await.unwrap();
    assert_eq!(l.snapshot().await.unwrap(), vec![2, 6, 5, 4, 2, 10]);
    l.sort().await.unwrap();
    assert_eq!(l.snapshot().await.unwrap(), vec![2, 2, 4, 5, 6, 10]);
    l.sort_by_key(|v: &i32| -v).await.unwrap();
    assert_eq!(l.snapshot().await.unwrap(), vec![10, 6, 5, 4, 2, 2]);
    l.set_slice(Some(1), Some(3), vec![0]).await.unwrap();
    assert_eq!(l.snapshot().await.unwrap(), vec![10, 0, 4, 2, 2]);
    l.delete_slice(None, None, Some(2)).await.unwrap();
    assert_eq!(l.snapshot().await.unwrap(), vec![0, 2]);
    l.repeat(3).await.unwrap();
    assert_eq!(l.len().await.unwrap(), 6);
    assert_eq!(l.delete(1).await.unwrap(), 2);
    l.clear().await.unwrap();
    assert_eq!(kind(l.pop().await.unwrap_err()), RemoteErrorKind::IndexOutOfRange);
}

#[tokio::test]
async fn set_behaves_like_pythons() {
    let (_d, _s, c) = client().await;
    let s = c.set_from(&[1, 2, 3]).await.unwrap();
    s.add(3).await.unwrap();
    assert_eq!(s.len().await.unwrap(), 3);
    s.discard(&10).await.unwrap();
    assert_eq!(kind(s.remove(&10).await.unwrap_err()), RemoteErrorKind::KeyNotFound);
    assert!(s.contains(&2).await.unwrap());
    let mut u = s.union(&[3, 4]).await.unwrap();
    u.sort();
    assert_eq!(u, vec![1, 2, 3, 4]);
    assert_eq!(s.intersection(&[2, 3, 9]).await.unwrap(), vec![2, 3]);
    assert_eq!(s.difference(&[2]).await.unwrap(), vec![1, 3]);
    assert_eq!(s.symmetric_difference(&[3, 4]).await.unwrap(), vec![1, 2, 4]);
    assert!(s.is_subset(&[1, 2, 3, 4]).await.unwrap());
    assert!(!s.is_superset(&[1, 5]).await.unwrap());
    assert!(s.is_disjoint(&[7, 8]).await.unwrap());
    s.difference_update(&[1]).await.unwrap();
    s.update(&[8]).await.unwrap();
    let mut left = s.snapshot().await.unwrap();
    left.sort();
    assert_eq!(left, vec![2, 3, 8]);
    let popped = s.pop().await.unwrap();
    assert!([2, 3, 8].contains(&popped));
    s.clear().await.unwrap();
    assert_eq!(kind(s.pop().await.unwrap_err()), RemoteErrorKind::KeyNotFound);
}

#[tokio::test]
async fn namespace_value_and_array() {
    let (_d, _s, c) = client().await;
    let ns = c.namespace().await.unwrap();
    ns.set("name", "alice").await.unwrap();
    ns.set("age", 30u8).await.unwrap();
    assert_eq!(ns.get::<String>("name").await.unwrap(), "alice");
    assert_eq!(ns.names().await.unwrap(), vec!["age", "name"]);
    let err = ns.get::<u8>("missing").await.unwrap_err();
    assert!(err.to_string().contains("'missing'"), "{err}");
    ns.delete("age").await.unwrap();
    assert!(!ns.contains("age").await.unwrap());

    let v = c.value(10i64).await.unwrap();
    assert_eq!(v.fetch_add(5).await.unwrap(), 10);
    assert_eq!(v.fetch_sub(20).await.unwrap(), 15);
    assert_eq!(v.get().await.unwrap(), -5);
    assert_eq!(v.swap(7).await.unwrap(), -5);
    assert_eq!(v.compare_exchange(&7, 8).await.unwrap(), Ok(7));
    assert_eq!(v.compare_exchange(&7, 9).await.unwrap(), Err(8));
    let small = c.value(250u8).await.unwrap();
    assert_eq!(kind(small.fetch_add(10).await.unwrap_err()), RemoteErrorKind::Overflow);
    assert_eq!(small.get().await.unwrap(), 250, "an overflowing add changes nothing");
    let f = c.value(1.5f64).await.unwrap();
    f.fetch_add(0.25).await.unwrap();
    assert_eq!(f.get().await.unwrap(), 1.75);

    let a = c.array(&[0u32; 5]).await.unwrap();
    a.set(-1, 9).await.unwrap();
    assert_eq!(a.get(4).await.unwrap(), 9);
    assert_eq!(kind(a.get(5).await.unwrap_err()), RemoteErrorKind::IndexOutOfRange);
    a.set_slice(Some(0), Some(2), None, vec![1, 2]).await.unwrap();
    assert_eq!(kind(a.set_slice(Some(0), Some(2), None, vec![1]).await.unwrap_err()), RemoteErrorKind::InvalidValue);
    assert_eq!(a.snapshot().await.unwrap(), vec![1, 2, 0, 0, 9]);
    assert_eq!(a.len().await.unwrap(), 5);
}

#[tokio::test]
async fn queues_block_time_out_and_shut_down() {
    let (_d, s, c) = client().await;
    let q = c.queue::<u32>(2).await.unwrap();
    q.put(1).await.unwrap();
    q.put_nowait(2).await.unwrap();
    assert_eq!((q.qsize().await.unwrap(), q.empty().await.unwrap(), q.full().await.unwrap()), (2, false, true));
    assert_eq!(kind(q.put_nowait(3).await.unwrap_err()), RemoteErrorKind::Full);
    assert_eq!(kind(q.put_timeout(3, Duration::from_millis(50)).await.unwrap_err()), RemoteErrorKind::Full);
    assert_eq!(q.get().await.unwrap(), 1);
    assert_eq!(q.get().await.unwrap(), 2);
    assert_eq!(kind(q.get_nowait().await.unwrap_err()), RemoteErrorKind::Empty);
    assert_eq!(kind(q.get_timeout(Duration::from_millis(50)).await.unwrap_err()), RemoteErrorKind::Empty);
    // A blocked get is woken by a put from another task.
    let q2 = q.clone();
    let getter = tokio::spawn(async move { q2.get().await });
    util::wait_until("the get to park", async || s.stats().parked_calls == 1).await;
    q.put(42).await.unwrap();
    assert_eq!(getter.await.unwrap().unwrap(), 42);
    // A blocked put is admitted when a get makes room.
    q.put(1).await.unwrap();
    q.put(2).await.unwrap();
    let q2 = q.clone();
    let putter = tokio::spawn(async move { q2.put(3).await });
    util::wait_until("the put to park", async || s.stats().parked_calls == 1).await;
    assert_eq!(q.get().await.unwrap(), 1);
    putter.await.unwrap().unwrap();
    assert_eq!(q.get_many(10, None).await.unwrap(), vec![2, 3]);
    // Batches.
    let big = c.queue::<u32>(0).await.unwrap();
    big.put_many((0..1000).collect()).await.unwrap();
    assert_eq!(big.qsize().await.unwrap(), 1000);
    assert_eq!(big.get_many(600, None).await.unwrap().len(), 600);
    // Shutdown: gets drain what is left, then fail; puts fail.
    big.shutdown(false).await.unwrap();
    assert_eq!(kind(big.put(1).await.unwrap_err()), RemoteErrorKind::QueueShutDown);
    assert_eq!(big.get_many(1000, None).await.unwrap().len(), 400);
    assert_eq!(kind(big.get().await.unwrap_err()), RemoteErrorKind::QueueShutDown);
    // A getter blocked at shutdown fails too.
    let q3 = c.queue::<u32>(0).await.unwrap();
    let waiting = tokio::spawn({
        let q3 = q3.clone();
        async move { q3.get().await }
    });
    util::wait_until("the get to park", async || s.stats().parked_calls == 1).await;
    q3.shutdown(true).await.unwrap();
    assert_eq!(kind(waiting.await.unwrap().unwrap_err()), RemoteErrorKind::QueueShutDown);
}

#[tokio::test]
async fn joinable_queue_task_done_and_join() {
    let (_d, _s, c) = client().await;
    let q = c.joinable_queue::<String>(0).await.unwrap();
    q.put("a".into()).await.unwrap();
    q.put("b".into()).await.unwrap();
    let joiner = tokio::spawn({
        let q = q.clone();
        async move { q.join().await }
    });
    for _ in 0..2 {
        q.get().await.unwrap();
        q.task_done().await.unwrap();
    }
    joiner.await.unwrap().unwrap();
    assert_eq!(kind(q.task_done().await.unwrap_err()), RemoteErrorKind::InvalidValue);
}

#[tokio::test]
async fn nested_proxies_work_and_keep_their_objects_alive() {
    let (_d, _s, c) = client().await;
    let base = c.stats().await.unwrap().objects;
    let outer = c.dict::<String, CounterProxy>().await.unwrap();
    let counter = CounterProxy::create(&c, 1).await.unwrap();
    outer.insert("c".into(), counter.clone()).await.unwrap();
    drop(counter);
    c.ping().await.unwrap();
    assert_eq!(c.stats().await.unwrap().objects, base + 2, "the dict keeps the counter alive");
    let back = outer.get("c").await.unwrap().unwrap();
    assert_eq!(back.incr(1).await.unwrap(), 2, "what comes back is a working proxy");
    // Another client reads it too.
    let other = Client::connect(c.address(), _s.authkey()).await.unwrap();
    let same: DictProxy<String, CounterProxy> = other.attach(&outer.token()).await.unwrap();
    assert_eq!(same.get("c").await.unwrap().unwrap().get().await.unwrap(), 2);
    // Lists of lists, queues of proxies.
    let inner = c.list_from(&[1, 2]).await.unwrap();
    let lists = c.list_from(std::slice::from_ref(&inner)).await.unwrap();
    lists.get(0).await.unwrap().append(3).await.unwrap();
    assert_eq!(inner.snapshot().await.unwrap(), vec![1, 2, 3], "mutations through a nested proxy are not lost");
    let q = c.queue::<ListProxy<i32>>(0).await.unwrap();
    q.put(inner.clone()).await.unwrap();
    assert_eq!(q.get().await.unwrap().len().await.unwrap(), 3);
    // Removing the element frees the object once nobody else holds it.
    drop((back, same, other));
    outer.remove("c").await.unwrap();
    c.ping().await.unwrap();
    assert!(
        util::eventually(Duration::from_secs(5), async || c.stats().await.unwrap().objects == base + 4).await,
        "{:?}",
        c.stats().await.unwrap()
    );
}
