//! Stream methods of `#[shared]` types: a method returning `impl Iterator` or `impl
//! Stream` is read as a stream, async, blocking and from another process; long and
//! endless ones, one that panics midway, a `&mut self` one, an async `Stream`.

use crate::util::{self, start, wait_until};
use integration_tests::streams::{Numbers, NumbersBlockingProxy, NumbersProxy, plain};
use manager_client::{Client, RemoteErrorKind, blocking};
use manager_server::Server;
use std::process::Stdio;

async fn numbers() -> (tempfile::TempDir, Server, Client, NumbersProxy) {
    let (dir, server) = start(Server::builder().register::<Numbers>()).await;
    let client = Client::connect(server.address(), server.authkey().as_bytes()).await.unwrap();
    let numbers = NumbersProxy::create(&client).await.unwrap();
    (dir, server, client, numbers)
}

/// CPython's test: a generator of squares, consumed with `list(...)`.
#[tokio::test]
async fn squares_arrive_as_a_stream() {
    let (_dir, server, _client, numbers) = numbers().await;
    let mut squares = numbers.squares(5);
    let mut got = Vec::new();
    while let Some(item) = squares.next().await {
        got.push(item.unwrap());
    }
    assert_eq!(got, [0, 1, 4, 9, 16]);
    assert_eq!(numbers.squares(0).collect_all().await.unwrap(), Vec::<u64>::new());
    wait_until("the streams are closed", || async { server.stats().streams == 0 }).await;
    server.shutdown().await;
}

#[test]
fn squares_read_blocking_as_an_iterator() {
    let server = Server::builder().register::<Numbers>().start_blocking().unwrap();
    let client = blocking::Client::connect(server.address(), server.authkey()).unwrap();
    let numbers = NumbersBlockingProxy::create(&client).unwrap();
    let got: Result<Vec<u64>, _> = numbers.squares(5).collect();
    assert_eq!(got.unwrap(), [0, 1, 4, 9, 16]);
    // A `&mut self` stream method: the object's lock is held while it runs, not while
    // its items are read.
    numbers.push("a".into()).unwrap();
    numbers.push("b".into()).unwrap();
    let mut drained = numbers.drain();
    numbers.push("c".into()).unwrap();
    assert_eq!(drained.next().unwrap().unwrap(), "a");
    assert_eq!(drained.next().unwrap().unwrap(), "b");
    assert!(drained.next().is_none());
    let rest: Result<Vec<String>, _> = numbers.drain().collect();
    assert_eq!(rest.unwrap(), ["c"]);
}

/// A child process handed the object reads the stream both ways.
#[test]
fn a_child_process_reads_the_squares() {
    let server = Server::builder().register::<Numbers>().start_blocking().unwrap();
    let client = blocking::Client::connect(server.address(), server.authkey()).unwrap();
    let numbers = NumbersBlockingProxy::create(&client).unwrap();
    let mut child = client.child(env!("CARGO_BIN_EXE_worker")).args(["squares", "numbers", "1000"]);
    child = child.proxy("numbers", &numbers);
    child.command().stdout(Stdio::piped());
    let out = child.spawn().unwrap().into_child().wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "the worker failed: {stdout}");
    let sum: u64 = (0..1000u64).map(|i| i * i).sum();
    assert_eq!(stdout, format!("blocking: 1000 items, sum {sum}\nasync: 1000 items, sum {sum}\n"));
}

#[tokio::test]
async fn a_million_items_arrive_whole_and_in_order() {
    let (_dir, server, _client, numbers) = numbers().await;
    let mut squares = numbers.squares(1_000_000);
    let mut expected = 0u64;
    while let Some(item) = squares.next().await {
        assert_eq!(item.unwrap(), expected * expected);
        expected += 1;
    }
    assert_eq!(expected, 1_000_000);
    server.shutdown().await;
}

#[tokio::test]
async fn an_endless_iterator_dropped_early_frees_its_cursor() {
    let (_dir, server, _client, numbers) = numbers().await;
    let mut count = numbers.count_from(7);
    for expected in 7..17 {
        assert_eq!(count.next().await.unwrap().unwrap(), expected);
    }
    assert_eq!(server.stats().streams, 1);
    drop(count);
    wait_until("the cursor is freed", || async { server.stats().streams == 0 }).await;
    // The object and the connection go on.
    assert_eq!(numbers.squares(3).collect_all().await.unwrap(), [0, 1, 4]);
    server.shutdown().await;
}

#[tokio::test]
async fn an_iterator_that_panics_yields_what_came_before_then_the_panic() {
    let (_dir, server, _client, numbers) = numbers().await;
    let mut items = numbers.until_panic(100, 3);
    for expected in 0..3 {
        assert_eq!(items.next().await.unwrap().unwrap(), expected);
    }
    let err = items.next().await.unwrap().unwrap_err();
    assert_eq!(err.remote_kind(), Some(RemoteErrorKind::Panicked), "{err}");
    assert!(err.to_string().contains("`Numbers::until_panic` panicked: the iterator panics at 3"), "{err}");
    assert!(items.next().await.is_none(), "the error is the stream's last item");
    // The server goes on.
    assert_eq!(numbers.squares(4).collect_all().await.unwrap(), [0, 1, 4, 9]);
    assert_eq!(numbers.publish(1).await.unwrap(), 0);
    wait_until("the streams are closed", || async { server.stats().streams == 0 }).await;
    server.shutdown().await;
}

/// A `&mut self` stream method opened while a `&self` call holds the object waits for
/// the lock, then runs; the stream opens meanwhile, and other objects' calls go on.
#[tokio::test]
async fn a_stream_method_waits_for_the_objects_lock() {
    let (_dir, server, client, numbers) = numbers().await;
    numbers.push("x".into()).await.unwrap();
    let held = tokio::spawn({
        let numbers = numbers.clone();
        async move { numbers.hold().await }
    });
    wait_until("the object is held", || async { numbers.holding().await.unwrap() }).await;
    let mut drained = numbers.drain();
    wait_until("the stream is open", || async { server.stats().streams == 1 }).await;
    NumbersProxy::create(&client).await.unwrap().release().await.unwrap();
    held.await.unwrap().unwrap();
    assert_eq!(drained.next().await.unwrap().unwrap(), "x");
    assert!(drained.next().await.is_none());
    drop(client);
    server.shutdown().await;
}

/// A method returning `impl Stream`: its items come as they are published.
#[tokio::test]
async fn an_async_stream_method_sends_items_as_they_come() {
    let (_dir, server, _client, numbers) = numbers().await;
    let mut values = numbers.subscribe();
    // The stream is open once the server has its subscriber.
    wait_until("the subscriber is registered", || async { numbers.publish(0).await.unwrap() == 1 }).await;
    for v in [10, 20, 30] {
        numbers.publish(v).await.unwrap();
    }
    let mut got = Vec::new();
    while got.len() < 3 {
        let v = values.next().await.unwrap().unwrap();
        if v != 0 {
            got.push(v);
        }
    }
    assert_eq!(got, [10, 20, 30]);
    numbers.close().await.unwrap();
    assert!(values.next().await.is_none(), "closing ends the stream");
    server.shutdown().await;
}

#[tokio::test]
async fn stream_and_plain_methods_are_not_mistaken_for_each_other() {
    let (_dir, server, client, numbers) = numbers().await;
    let err = numbers.handle().call::<_, u64>("squares", &(3u64,)).await.unwrap_err().to_string();
    assert!(err.contains("`tests::Numbers.squares` is a stream method"), "{err}");
    let mut opened = numbers.handle().open_with(manager_client::proto::MethodRef::Name("publish"), &(1u64,), "args");
    let err = std::future::poll_fn(|cx| opened.poll_item(cx, |b| Ok(((), b.len())))).await.unwrap().unwrap_err();
    assert!(err.to_string().contains("`tests::Numbers.publish` is not a stream method"), "{err}");
    // A program whose `squares` is plain, with the same item type, cannot attach.
    let token = numbers.token();
    let err = client.attach::<plain::NumbersProxy>(&token).await.unwrap_err().to_string();
    assert!(err.contains("mismatch"), "{err}");
    util::wait_until("the streams are closed", || async { server.stats().streams == 0 }).await;
    server.shutdown().await;
}
