//! How streams share a connection and end: many at once, blocking readers across many
//! credits, and a server that stops mid-stream.

use crate::util::{start, wait_until};
use manager_client::{Client, Error};
use manager_server::Server;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_streams_on_one_connection_each_arrive_whole_and_in_order() {
    let (_dir, server) = start(Server::builder()).await;
    let c = Client::connect(server.address(), server.authkey().as_bytes()).await.unwrap();
    let mut lists = Vec::new();
    for k in 0..8u64 {
        let items: Vec<u64> = (0..50_000).map(|i| i * 8 + k).collect();
        lists.push((c.list_from(&items).await.unwrap(), items));
    }
    // All open at once, read in turns so their batches interleave on the socket.
    let mut streams: Vec<_> = lists.iter().map(|(l, _)| (l.iter(), Vec::new())).collect();
    let mut open = streams.len();
    while open > 0 {
        open = 0;
        for (stream, got) in &mut streams {
            for _ in 0..1000 {
                match stream.next().await {
                    Some(item) => got.push(item.unwrap()),
                    None => break,
                }
            }
            if got.len() < 50_000 {
                open += 1;
            }
        }
    }
    for ((_, got), (_, expected)) in streams.iter().zip(&lists) {
        assert_eq!(got, expected);
    }
    drop(streams);
    wait_until("every stream closed", || async { server.stats().streams == 0 }).await;
    server.shutdown().await;
}

#[test]
fn a_blocking_reader_goes_through_many_windows() {
    let server = Server::builder().start_blocking().unwrap();
    let c = manager_client::blocking::Client::connect(server.address(), server.authkey().as_bytes()).unwrap();
    // About 2 MB of items: eight times the stream's window, so credit must come back.
    let items: Vec<String> = (0..200_000).map(|i| format!("item {i}")).collect();
    let l = c.list_from(&items).unwrap();
    let got: Vec<String> = l.iter().collect::<Result<_, _>>().unwrap();
    assert_eq!(got, items);
    // A stream read halfway and dropped is closed; the connection goes on.
    let mut half = l.iter();
    for expected in items.iter().take(100_000) {
        assert_eq!(&half.next().unwrap().unwrap(), expected);
    }
    drop(half);
    assert_eq!(l.len().unwrap(), 200_000);
    let deadline = std::time::Instant::now() + crate::util::PATIENCE;
    while server.stats().streams != 0 {
        assert!(std::time::Instant::now() < deadline, "the dropped stream stayed open");
        std::thread::yield_now();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_shuts_down_mid_stream_ends_it_with_an_error() {
    let (_dir, server) = start(Server::builder()).await;
    let c = Client::connect(server.address(), server.authkey().as_bytes()).await.unwrap();
    let items: Vec<u64> = (0..1_000_000).collect();
    let l = c.list_from(&items).await.unwrap();
    let mut it = l.iter();
    assert_eq!(it.next().await.unwrap().unwrap(), 0);
    server.shutdown().await;
    // What was already sent may still be read; then the stream ends with the reason.
    let mut last = None;
    while let Some(item) = it.next().await {
        if let Err(e) = item {
            last = Some(e);
            break;
        }
    }
    match last {
        Some(Error::ServerShutDown { .. }) => {}
        other => panic!("expected the stream to end with ServerShutDown, got {other:?}"),
    }
    assert!(it.next().await.is_none(), "a stream yields nothing after its last error");
}
