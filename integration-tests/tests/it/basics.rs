//! One process: a server and clients in the same test, over real sockets.

use crate::util;
use integration_tests::{Counter, CounterError, CounterProxy};
use manager_client::{Client, Error, RemoteErrorKind};
use manager_server::Server;

#[tokio::test]
async fn create_call_and_named() {
    let (_dir, server) = util::start(Server::builder().register::<Counter>().named("hits", Counter::new(40))).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let hits: CounterProxy = client.named("hits").await.unwrap();
    assert_eq!(hits.incr(2).await.unwrap(), 42);
    let mine = CounterProxy::create(&client, 5).await.unwrap();
    assert_eq!(mine.incr(1).await.unwrap(), 6);
    assert_eq!(mine.get().await.unwrap(), 6);
    assert_eq!(mine.checked_sub(10).await.unwrap(), Err(CounterError::Underflow { have: 6, wanted: 10 }));
    assert_eq!(mine.checked_sub(1).await.unwrap(), Ok(5));
    mine.reset_to_zero().await.unwrap();
    assert_eq!(mine.get().await.unwrap(), 0);
    assert_eq!(Counter::EXPOSED, &["incr", "get", "checked_sub", "boom", "slow_get", "reset", "doubled"]);
    let err = mine.handle().call::<_, u64>("local_only", &()).await.unwrap_err();
    assert_eq!(err.remote_kind(), Some(RemoteErrorKind::NotExposed), "{err}");
    let stats = client.stats().await.unwrap();
    assert_eq!(stats.objects, 2);
    drop(mine);
    let _ = client.ping().await;
    assert_eq!(client.stats().await.unwrap().objects, 1);
    let _: Option<Error> = None;
    let _ = hits.token();
}

/// Arguments and results are encoded on the stack or inline when small, in a buffer of
/// their own when not: every size on both sides of those limits arrives whole, through
/// the async and the blocking proxies.
#[tokio::test]
async fn arguments_and_results_of_every_size_arrive_whole() {
    use integration_tests::v2;
    let (_dir, server) = util::start(Server::builder().register::<v2::Evolving>()).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let log = v2::EvolvingProxy::create(&client).await.unwrap();
    // A String of n bytes encodes to n + 1 (n < 128) or n + 2 bytes; the limits are 96
    // bytes for arguments and 46 for results.
    let sizes = [0, 1, 43, 44, 45, 46, 47, 93, 94, 95, 96, 97, 200, 100_000];
    let mut expected = Vec::new();
    for n in sizes {
        let note: String = (0..n).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
        log.note(note.clone()).await.unwrap();
        expected.push(note);
        // The result grows past the inline limit as notes are added.
        assert_eq!(log.notes().await.unwrap(), expected, "after a note of {n} bytes");
    }
    let token = log.token();
    let address = server.address().clone();
    let key = server.authkey().clone();
    tokio::task::spawn_blocking(move || {
        let client = manager_client::blocking::Client::connect(&address, &key).unwrap();
        let log: v2::EvolvingBlockingProxy = client.attach(&token).unwrap();
        for n in [45, 97, 5_000] {
            log.note("b".repeat(n)).unwrap();
        }
        assert_eq!(log.notes().unwrap().len(), sizes.len() + 3);
        assert_eq!(log.notes().unwrap().last().map(String::len), Some(5_000));
    })
    .await
    .unwrap();
}
