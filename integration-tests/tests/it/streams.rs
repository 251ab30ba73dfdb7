//! Streams: live iteration of the built-ins, iterator methods, credit and cancel.

use crate::util::{start, wait_until};
use manager_client::Client;
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
