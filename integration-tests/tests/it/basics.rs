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
