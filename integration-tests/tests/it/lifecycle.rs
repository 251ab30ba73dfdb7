//! References, names, tokens, value copies and descriptions.

use crate::util;
use integration_tests::{Counter, CounterProxy, Gate, GateProxy, Tagged, TaggedProxy, v1, v2};
use manager_client::{Client, Error, Proxy, RemoteErrorKind};
use manager_server::Server;

#[tokio::test]
async fn clones_share_a_reference_and_the_last_drop_releases_it() {
    let (_dir, server) = util::start(Server::builder().register::<Counter>()).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let a = CounterProxy::create(&client, 0).await.unwrap();
    let b = a.clone();
    drop(a);
    assert_eq!(b.incr(1).await.unwrap(), 1, "the clone still works");
    assert_eq!(client.stats().await.unwrap().objects, 1);
    drop(b);
    client.ping().await.unwrap();
    assert_eq!(client.stats().await.unwrap().objects, 0);
}

#[tokio::test]
async fn a_closed_client_releases_everything_and_names_stay() {
    let (_dir, server) = util::start(Server::builder().register::<Counter>().named("n", Counter::new(3))).await;
    let observer = Client::connect(server.address(), server.authkey()).await.unwrap();
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let mut held = Vec::new();
    for i in 0..20 {
        held.push(CounterProxy::create(&client, i).await.unwrap());
    }
    let named: CounterProxy = client.named("n").await.unwrap();
    let published = CounterProxy::create(&client, 9).await.unwrap();
    client.bind_name("published", &published).await.unwrap();
    // 20 created, the named one, the published one.
    assert_eq!(observer.stats().await.unwrap().objects, 22);
    drop((held, named, published, client));
    assert!(
        util::eventually(std::time::Duration::from_secs(5), async || observer.stats().await.unwrap().objects == 2)
            .await
    );
    let p: CounterProxy = observer.named("published").await.unwrap();
    assert_eq!(p.get().await.unwrap(), 9);
    let err = observer.bind_name("published", &p).await.unwrap_err();
    assert_eq!(err.remote_kind(), Some(RemoteErrorKind::InvalidValue), "{err}");
}

#[tokio::test]
async fn named_objects_are_type_checked() {
    let (_dir, server) = util::start(Server::builder().named("c", Counter::new(0))).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let err = client.named::<GateProxy>("c").await.unwrap_err();
    assert!(matches!(err, Error::WrongType { .. }), "{err:?}");
    let err = client.named::<CounterProxy>("missing").await.unwrap_err();
    assert_eq!(err.remote_kind(), Some(RemoteErrorKind::NoSuchName));
    assert!(err.to_string().contains("missing") && err.to_string().contains('c'), "{err}");
    // The failed type check released its reference.
    assert_eq!(client.stats().await.unwrap().objects, 1);
}

#[tokio::test]
async fn creating_an_unregistered_type_names_what_is_registered() {
    let (_dir, server) = util::start(Server::builder().register::<Counter>()).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let err = GateProxy::create(&client).await.unwrap_err();
    assert_eq!(err.remote_kind(), Some(RemoteErrorKind::NoSuchType));
    assert!(err.to_string().contains("Gate"), "{err}");
}

#[tokio::test]
async fn tokens_attach_on_another_client_and_stale_tokens_are_refused() {
    let builder = Server::builder().register::<Counter>().token_lease(std::time::Duration::from_secs(1));
    let (_dir, server) = util::start(builder).await;
    let a = Client::connect(server.address(), server.authkey()).await.unwrap();
    let b = Client::connect(server.address(), server.authkey()).await.unwrap();
    let counter = CounterProxy::create(&a, 10).await.unwrap();
    let token = counter.token();
    let same: CounterProxy = b.attach(&token).await.unwrap();
    assert_eq!(same.incr(1).await.unwrap(), 11);
    assert_eq!(counter.get().await.unwrap(), 11);
    let err = b.attach::<GateProxy>(&token).await.unwrap_err();
    assert!(matches!(err, Error::WrongType { .. }));
    // A token from another server run.
    let (_dir2, other) = util::start(Server::builder().register::<Counter>()).await;
    let c = Client::connect(other.address(), other.authkey()).await.unwrap();
    let err = c.attach::<CounterProxy>(&token).await.unwrap_err();
    assert!(matches!(err, Error::StaleToken(_)), "{err:?}");
    // A token whose object is gone: every proxy dropped, and its lease over.
    drop((counter, same));
    util::wait_until("the counter to be freed", async || server.stats().objects == 0).await;
    let err = b.attach::<CounterProxy>(&token).await.unwrap_err();
    assert!(matches!(err, Error::ObjectGone { ref type_id, .. } if *type_id == token.type_id), "{err:?}");
}

#[tokio::test]
async fn value_copies_and_descriptions() {
    let (_dir, server) = util::start(Server::builder().register::<Counter>().register::<Gate>()).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let c = CounterProxy::create(&client, 5).await.unwrap();
    let copy: Counter = c.handle().value_copy().await.unwrap();
    assert_eq!(copy, Counter::new(5));
    // Gate is not Serialize: a clear refusal, not a crash.
    let g = GateProxy::create(&client).await.unwrap();
    let err = g.handle().value_copy::<()>().await.unwrap_err();
    assert!(err.to_string().contains("not Serialize"), "{err}");
    let d = client.describe(CounterProxy::shared_type_id()).await.unwrap();
    assert_eq!(d.methods, Counter::EXPOSED);
}

#[tokio::test]
async fn adding_methods_does_not_break_clients_built_before() {
    // The server hosts v2 (methods added before, between and after v1's); the client
    // speaks v1. Same type id.
    let (_dir, server) = util::start(Server::builder().register::<v2::Evolving>()).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let old = v1::EvolvingProxy::create(&client).await.unwrap();
    assert_eq!(old.add(5).await.unwrap(), 5);
    assert_eq!(old.add(-2).await.unwrap(), 3);
    assert_eq!(old.get().await.unwrap(), 3);
    let new: v2::EvolvingProxy = client.attach(&old.token()).await.unwrap();
    assert_eq!(new.negate().await.unwrap(), -3);
    new.note("hi".into()).await.unwrap();
    assert_eq!(old.get().await.unwrap(), -3);
    assert_eq!(new.notes().await.unwrap(), vec!["hi".to_string()]);
    // A v2 client calling a method a v1 server lacks: a clear error.
    let (_dir1, server1) = util::start(Server::builder().register::<v1::Evolving>()).await;
    let client1 = Client::connect(server1.address(), server1.authkey()).await.unwrap();
    let newer = v2::EvolvingProxy::create(&client1).await.unwrap();
    let err = newer.negate().await.unwrap_err();
    assert_eq!(err.remote_kind(), Some(RemoteErrorKind::NotExposed), "{err}");
}

#[tokio::test]
async fn type_ids_come_from_the_struct_attribute_or_the_path() {
    assert_eq!(TaggedProxy::shared_type_id(), "tests::Tagged");
    assert_eq!(CounterProxy::shared_type_id(), "integration_tests::Counter");
    let (_dir, server) = util::start(Server::builder().register::<Tagged>()).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let t = TaggedProxy::create(&client).await.unwrap();
    t.set("x".into()).await.unwrap();
    assert_eq!(t.handle().value_copy::<Tagged>().await.unwrap().label, "x");
}
