//! The blocking facade: the same API without an async runtime.

use crate::util;
use integration_tests::{Counter, CounterBlockingProxy, CounterError, GateBlockingProxy};
use manager_client::blocking::{Client, LockProxy, QueueProxy};
use manager_client::{ClientOptions, Error, RemoteErrorKind};
use manager_server::Server;
use std::time::Duration;

#[test]
fn blocking_clients_and_proxies() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (_dir, server) = rt.block_on(util::start(
        Server::builder().register::<Counter>().register::<integration_tests::Gate>().named("c", Counter::new(1)),
    ));
    let client = Client::connect(server.address(), server.authkey()).unwrap();
    let c: CounterBlockingProxy = client.named("c").unwrap();
    assert_eq!(c.incr(1).unwrap(), 2);
    let mine = CounterBlockingProxy::create(&client, 10).unwrap();
    assert_eq!(mine.checked_sub(11).unwrap(), Err(CounterError::Underflow { have: 10, wanted: 11 }));
    let err = mine.boom("x".into()).unwrap_err();
    assert_eq!(err.remote_kind(), Some(RemoteErrorKind::Panicked));
    // Threads share one blocking client.
    std::thread::scope(|s| {
        for _ in 0..4 {
            let c = c.clone();
            s.spawn(move || {
                for _ in 0..100 {
                    c.incr(1).unwrap();
                }
            });
        }
    });
    assert_eq!(c.get().unwrap(), 402);
    let other = Client::connect(server.address(), server.authkey()).unwrap();
    let same: CounterBlockingProxy = other.attach(mine.token()).unwrap();
    assert_eq!(same.get().unwrap(), 10);
    assert_eq!(client.stats().unwrap().objects, 2);
    drop((mine, same));
    client.ping().unwrap();
    other.ping().unwrap();
    let stats = client.stats().unwrap();
    assert_eq!((stats.objects, stats.leases), (2, 1), "the token's lease holds it after both proxies went");
    // Used inside an async runtime, a blocking proxy refuses instead of stalling it.
    let gate = GateBlockingProxy::create(&client).unwrap();
    let err = rt.block_on(async { gate.waiters() }).unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err:?}");
    assert_eq!(gate.as_async().handle().type_id(), "integration_tests::Gate");
    rt.block_on(server.shutdown());
    let err = c.get().unwrap_err();
    assert!(err.is_connection_lost(), "{err:?}");
}

/// A blocked call sleeps reading the socket on its own thread; calls from the other
/// threads sharing the client are answered meanwhile (the blocked thread routes their
/// responses), not a keepalive period later.
#[test]
fn a_blocked_caller_does_not_hold_up_the_other_threads() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (_dir, server) = rt.block_on(util::start(Server::builder().register::<Counter>()));
    let options = ClientOptions { keepalive: Duration::from_secs(120), ..ClientOptions::default() };
    let client = Client::connect_with(server.address(), server.authkey(), &options).unwrap();
    let queue: QueueProxy<u64> = client.queue(0).unwrap();
    let counter = CounterBlockingProxy::create(&client, 0).unwrap();
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        let getter = {
            let queue = queue.clone();
            s.spawn(move || queue.get())
        };
        util::wait_until_blocking("the get to park", || server.stats().parked_calls == 1);
        for _ in 0..3 {
            let (counter, done) = (counter.clone(), done.clone());
            s.spawn(move || {
                for _ in 0..200 {
                    counter.incr(1).unwrap();
                }
                done.send(()).unwrap();
            });
        }
        let answered = (0..3).all(|_| finished.recv_timeout(Duration::from_secs(30)).is_ok());
        let still_blocked = !getter.is_finished();
        queue.put(7).unwrap();
        assert!(answered, "the other threads' calls were not answered while one thread blocked");
        assert!(still_blocked, "get returned before anything was put");
        assert_eq!(getter.join().unwrap().unwrap(), 7);
    });
    assert_eq!(counter.get().unwrap(), 600);
    // A user future that waits on a timer runs on the runtime, not on a socket read
    // (the timer is the thing under test).
    let slept = client
        .block_on(async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            counter.as_async().get().await
        })
        .unwrap();
    assert_eq!(slept, 600);
}

/// Large values come back whole and in order: alone on the connection (a blocking
/// client, where the receive buffer is handed over instead of copied) and mixed with
/// small replies in flight on one async connection (frames sharing the buffer). Large
/// sets in flight go out interleaved with small requests (their bytes queued as
/// segments of their own, written over many partial writes), as does a large queue item.
#[test]
fn large_values_round_trip_whole() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (_dir, server) = rt.block_on(util::start(Server::builder()));
    let big: Vec<u8> = (0..(1usize << 20) + 123).map(|i| (i * 7 % 251) as u8).collect();
    let client = Client::connect(server.address(), server.authkey()).unwrap();
    let value = client.value(manager_client::Bytes::from(big.clone())).unwrap();
    let small = client.value(5u64).unwrap();
    for _ in 0..3 {
        assert_eq!(value.get().unwrap().as_slice(), &big[..]);
        assert_eq!(small.get().unwrap(), 5);
    }
    let (value_token, small_token) = (value.token(), small.token());
    rt.block_on(async {
        let client = manager_client::Client::connect(server.address(), server.authkey()).await.unwrap();
        let value: manager_client::ValueProxy<manager_client::Bytes> = client.attach(&value_token).await.unwrap();
        let small: manager_client::ValueProxy<u64> = client.attach(&small_token).await.unwrap();
        let mut copies = Vec::new();
        for _ in 0..4 {
            copies.push(client.value(manager_client::Bytes::from(Vec::new())).await.unwrap());
        }
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let (value, small, copy, big) = (value.clone(), small.clone(), copies[i / 4].clone(), big.clone());
                tokio::spawn(async move {
                    match i % 4 {
                        0 => small.get().await.map(|n| n as usize),
                        1 => copy.set(manager_client::Bytes::from(big)).await.map(|()| 1),
                        _ => value.get().await.map(|b| b.len()),
                    }
                })
            })
            .collect();
        for (i, task) in tasks.into_iter().enumerate() {
            let want = [5, 1, big.len(), big.len()][i % 4];
            assert_eq!(task.await.unwrap().unwrap(), want);
        }
        assert_eq!(value.get().await.unwrap().as_slice(), &big[..]);
        for copy in &copies {
            assert_eq!(copy.get().await.unwrap().as_slice(), &big[..]);
        }
        let queue = client.queue::<manager_client::Bytes>(0).await.unwrap();
        queue.put(manager_client::Bytes::from(big.clone())).await.unwrap();
        queue.put(manager_client::Bytes::from(vec![1u8])).await.unwrap();
        assert_eq!(queue.get().await.unwrap().as_slice(), &big[..]);
        assert_eq!(queue.get().await.unwrap().as_slice(), &[1u8][..]);
        // A large element next to a proxy (its reference travels after the bytes), in a
        // list and a namespace.
        let list = client.list::<(manager_client::Bytes, manager_client::ValueProxy<u64>)>().await.unwrap();
        list.append((manager_client::Bytes::from(big.clone()), small.clone())).await.unwrap();
        list.insert(0, (manager_client::Bytes::from(vec![2u8]), small.clone())).await.unwrap();
        let (bytes, proxy) = list.get(1).await.unwrap();
        assert_eq!(bytes.as_slice(), &big[..]);
        assert_eq!(proxy.get().await.unwrap(), 5);
        let ns = client.namespace().await.unwrap();
        ns.set("blob", manager_client::Bytes::from(big.clone())).await.unwrap();
        assert_eq!(ns.get::<manager_client::Bytes>("blob").await.unwrap().as_slice(), &big[..]);
        // A dict's `get` (the value as `Some`) and `pop`, with a proxy after the bytes.
        let dict = client.dict::<u8, (manager_client::Bytes, manager_client::ValueProxy<u64>)>().await.unwrap();
        dict.insert(1, (manager_client::Bytes::from(big.clone()), small.clone())).await.unwrap();
        let (bytes, proxy) = dict.get(&1).await.unwrap().expect("the key is there");
        assert_eq!(bytes.as_slice(), &big[..]);
        assert_eq!(proxy.get().await.unwrap(), 5);
        assert!(dict.get(&2).await.unwrap().is_none());
        let (bytes, proxy) = dict.pop(&1).await.unwrap();
        assert_eq!(bytes.as_slice(), &big[..]);
        assert_eq!(proxy.get().await.unwrap(), 5);
        assert_eq!(dict.len().await.unwrap(), 0);
    });
}

/// Large values the server keeps as part of the request frame they came in (one that
/// ends what was read) stay intact while later large frames arrive on the same
/// connection, whichever built-in stores them; so do those copied out of a buffer that
/// held more (calls in flight).
#[test]
fn large_values_kept_in_their_request_frames_stay_intact() {
    use manager_client::Bytes;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (_dir, server) = rt.block_on(util::start(Server::builder()));
    let blob =
        |seed: usize| Bytes::from((0..(256usize << 10) + seed).map(|i| (i * seed % 241) as u8).collect::<Vec<u8>>());
    let client = Client::connect(server.address(), server.authkey()).unwrap();
    let value = client.value(blob(1)).unwrap();
    let other = client.value(Bytes::from(Vec::new())).unwrap();
    other.set(blob(2)).unwrap();
    assert_eq!(value.swap(blob(3)).unwrap(), blob(1));
    assert_eq!(value.compare_exchange(&blob(3), blob(4)).unwrap(), Ok(blob(3)));
    let list = client.list::<Bytes>().unwrap();
    list.append(blob(5)).unwrap();
    list.insert(0, blob(6)).unwrap();
    list.set(1, blob(7)).unwrap();
    let array = client.array(&[blob(8)]).unwrap();
    array.set(0, blob(9)).unwrap();
    let dict = client.dict::<u8, Bytes>().unwrap();
    dict.insert(1, blob(10)).unwrap();
    let ns = client.namespace().unwrap();
    ns.set("a", blob(11)).unwrap();
    let queue = client.queue::<Bytes>(0).unwrap();
    queue.put(blob(12)).unwrap();
    // Frames that end the buffer again, reusing nothing the stored values lie in.
    for seed in 13..17 {
        other.set(blob(seed)).unwrap();
    }
    assert_eq!(value.get().unwrap(), blob(4));
    assert_eq!(other.get().unwrap(), blob(16));
    assert_eq!((list.get(0).unwrap(), list.get(1).unwrap()), (blob(6), blob(7)));
    assert_eq!(array.get(0).unwrap(), blob(9));
    assert_eq!(dict.get(&1).unwrap(), Some(blob(10)));
    assert_eq!(ns.get::<Bytes>("a").unwrap(), blob(11));
    assert_eq!(queue.get().unwrap(), blob(12));
    // Many in flight: frames share a read, and those not last in it are copied.
    let token = value.token();
    rt.block_on(async {
        let client = manager_client::Client::connect(server.address(), server.authkey()).await.unwrap();
        let mut values = Vec::new();
        for _ in 0..8 {
            values.push(client.value(Bytes::from(Vec::new())).await.unwrap());
        }
        let sets: Vec<_> = values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let v = v.clone();
                tokio::spawn(async move { v.set(blob(20 + i)).await })
            })
            .collect();
        for set in sets {
            set.await.unwrap().unwrap();
        }
        for (i, v) in values.iter().enumerate() {
            assert_eq!(v.get().await.unwrap(), blob(20 + i));
        }
        let value: manager_client::ValueProxy<Bytes> = client.attach(&token).await.unwrap();
        assert_eq!(value.get().await.unwrap(), blob(4));
    });
}

/// Low-latency mode on both ends (the client spins on its calling thread, the server's
/// connection spins before parking): calls from a blocking and an async client are
/// answered, a thread blocked in a call is told the server is shutting down, and the
/// next call hears the connection is gone.
#[test]
fn low_latency_mode_answers_and_notices_a_closed_server() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (_dir, server) =
        rt.block_on(util::start(Server::builder().register::<Counter>().busy_poll(Duration::from_micros(50))));
    let options = ClientOptions {
        spin: Duration::from_micros(50),
        keepalive: Duration::from_secs(120),
        ..ClientOptions::default()
    };
    let client = Client::connect_with(server.address(), server.authkey(), &options).unwrap();
    let counter = CounterBlockingProxy::create(&client, 0).unwrap();
    for _ in 0..200 {
        counter.incr(1).unwrap();
    }
    let token = counter.token();
    let total = rt.block_on(async {
        let client = manager_client::Client::connect_with(server.address(), server.authkey(), &options).await.unwrap();
        let counter: integration_tests::CounterProxy = client.attach(&token).await.unwrap();
        for _ in 0..200 {
            counter.incr(1).await.unwrap();
        }
        counter.get().await.unwrap()
    });
    assert_eq!(total, 400);
    let queue: QueueProxy<u64> = client.queue(0).unwrap();
    let (done, result) = std::sync::mpsc::channel();
    std::thread::spawn(move || done.send(queue.get()));
    util::wait_until_blocking("the get to park", || server.stats().parked_calls == 1);
    rt.block_on(server.shutdown());
    let got = result.recv_timeout(Duration::from_secs(10)).expect("the blocked get returned");
    let err = got.unwrap_err();
    assert_eq!(err.remote_kind(), Some(RemoteErrorKind::ShuttingDown), "{err:?}");
    // The socket is closed now: the next call, spinning then sleeping on it, hears so.
    let err = counter.get().unwrap_err();
    assert!(err.is_connection_lost(), "{err:?}");
}

/// A blocking call reads its own reply on its thread, sleeping in `recv` for at most a
/// keepalive period at a time. Calls that wait longer on the server — a queue `get`, a
/// contended lock — outlast many such periods and still get their answer, exactly once:
/// the item is taken once, the lock is held until released.
#[test]
fn blocking_calls_that_wait_many_keepalive_periods_still_get_their_answer() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (_dir, server) = rt.block_on(util::start(Server::builder()));
    let options = ClientOptions { keepalive: Duration::from_millis(40), ..ClientOptions::default() };
    let client = Client::connect_with(server.address(), server.authkey(), &options).unwrap();
    let other = Client::connect(server.address(), server.authkey()).unwrap();
    let queue: QueueProxy<u64> = client.queue(0).unwrap();
    let lock = client.lock().unwrap();
    let queue_there: QueueProxy<u64> = other.attach(queue.token()).unwrap();
    let lock_there: LockProxy = other.attach(lock.token()).unwrap();
    assert!(lock_there.acquire().unwrap());
    std::thread::scope(|s| {
        let getter = s.spawn(|| queue.get());
        let acquirer = s.spawn(|| lock.acquire());
        util::wait_until_blocking("the get and the acquire to park", || server.stats().parked_calls == 2);
        // The wait under test: many keepalive periods pass while both calls are parked.
        std::thread::sleep(Duration::from_millis(300));
        assert!(!getter.is_finished() && !acquirer.is_finished(), "nothing was there to take yet");
        queue_there.put(7).unwrap();
        lock_there.release().unwrap();
        assert_eq!(getter.join().unwrap().unwrap(), 7);
        assert!(acquirer.join().unwrap().unwrap());
    });
    // Taken once: the queue is empty, and the lock is ours until we let it go.
    assert_eq!(queue.qsize().unwrap(), 0);
    assert!(!lock_there.acquire_timeout(Duration::from_millis(100)).unwrap());
    lock.release().unwrap();
    assert!(lock_there.acquire_timeout(Duration::from_millis(100)).unwrap());
}

/// A server started from plain synchronous code serves on its own thread; shutting it
/// down (or a permitted client's shutdown request) stops it, and its clients see that.
#[test]
fn a_blocking_server_needs_no_runtime_and_stops_when_asked() {
    let server = Server::builder().named("c", Counter::new(1)).start_blocking().unwrap();
    let client = Client::connect(server.address(), server.authkey()).unwrap();
    let c: CounterBlockingProxy = client.named("c").unwrap();
    assert_eq!(c.incr(2).unwrap(), 3);
    assert_eq!(server.stats().connections, 1);
    server.shutdown();
    let e = c.get().unwrap_err();
    assert!(e.is_server_shut_down(), "{e:?}");

    // serve_forever returns once a client is allowed to stop it.
    let server = Server::builder().allow_remote_shutdown(true).start_blocking().unwrap();
    let client = Client::connect(server.address(), server.authkey()).unwrap();
    let stopper = std::thread::spawn(move || client.shutdown_server());
    server.serve_forever();
    stopper.join().unwrap().unwrap();
}
