//! `#[shared]`'s richer signatures: fallible constructors, methods that return new
//! shared objects (`Shared<T>`) or existing proxies, and proxies as arguments, through
//! real sockets and, for each, from a worker process.

use crate::util;
use integration_tests::accounts::{Account, AccountError, AccountProxy};
use manager_client::{Client, RemoteErrorKind};
use manager_server::Server;
use std::time::Duration;

async fn objects(client: &Client) -> u64 {
    client.stats().await.unwrap().objects
}

#[tokio::test]
async fn a_fallible_constructor_gives_the_creator_its_error_and_creates_nothing() {
    let (_dir, server) = util::start(Server::builder().register::<Account>()).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let before = objects(&client).await;
    let refused = AccountProxy::create(&client, -5).await.unwrap();
    assert_eq!(refused.unwrap_err(), AccountError::Negative(-5));
    assert_eq!(objects(&client).await, before);
    let opened = AccountProxy::create(&client, 5).await.unwrap().unwrap();
    assert_eq!(opened.balance().await.unwrap(), 5);
    assert_eq!(objects(&client).await, before + 1);
}

#[tokio::test]
async fn a_returned_shared_value_is_a_live_proxy_freed_when_dropped() {
    let (_dir, server) = util::start(Server::builder().register::<Account>()).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let main = AccountProxy::create(&client, 100).await.unwrap().unwrap();
    let base = objects(&client).await;
    let part = main.split(30).await.unwrap().unwrap();
    assert_eq!(part.balance().await.unwrap(), 30);
    assert_eq!(main.balance().await.unwrap(), 70);
    assert_eq!(objects(&client).await, base + 1);
    // `Result<Shared<T>, E>`: the method's own error, and nothing hosted.
    assert_eq!(main.split(1_000).await.unwrap().unwrap_err(), AccountError::Insufficient { have: 70, wanted: 1_000 });
    // `Shared<Self>`.
    let empty = main.sibling().await.unwrap();
    assert_eq!(empty.balance().await.unwrap(), 0);
    assert_eq!(objects(&client).await, base + 2);
    // Clones share the one reference; the last drop frees the object.
    let again = part.clone();
    drop(part);
    assert_eq!(again.balance().await.unwrap(), 30);
    drop(again);
    drop(empty);
    util::wait_until("the returned accounts to be freed", || async { objects(&client).await == base }).await;
    // Through the blocking proxy too.
    let (address, key, token) = (server.address().clone(), server.authkey().clone(), main.token());
    tokio::task::spawn_blocking(move || {
        let client = manager_client::blocking::Client::connect(&address, &key).unwrap();
        let main: integration_tests::accounts::AccountBlockingProxy = client.attach(&token).unwrap();
        let part = main.split(20).unwrap().unwrap();
        assert_eq!(part.balance().unwrap(), 20);
        assert_eq!(main.balance().unwrap(), 50);
    })
    .await
    .unwrap();
    util::wait_until("the blocking client's account to be freed", || async { objects(&client).await == base }).await;
}

#[tokio::test]
async fn returning_an_unregistered_type_is_an_error_naming_it() {
    let (_dir, server) = util::start(Server::builder().register::<Account>()).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let main = AccountProxy::create(&client, 1).await.unwrap().unwrap();
    let base = objects(&client).await;
    let err = main.receipt().await.unwrap_err();
    assert_eq!(err.remote_kind(), Some(RemoteErrorKind::NoSuchType), "{err}");
    assert!(err.to_string().contains("`Receipt`"), "{err}");
    assert!(err.to_string().contains("register::<Receipt>()"), "{err}");
    assert_eq!(objects(&client).await, base);
    // The connection goes on.
    assert_eq!(main.balance().await.unwrap(), 1);
}

#[tokio::test]
async fn a_proxy_argument_runs_against_the_object_on_the_server() {
    let (_dir, server) = util::start(Server::builder().register::<Account>()).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let a = AccountProxy::create(&client, 10).await.unwrap().unwrap();
    let b = AccountProxy::create(&client, 32).await.unwrap().unwrap();
    let base = objects(&client).await;
    assert_eq!(a.absorb(b.clone()).await.unwrap(), Ok(42));
    assert_eq!(b.balance().await.unwrap(), 0);
    // The server took a reference for the call and gave it back.
    assert_eq!(objects(&client).await, base);
    // A proxy to the object being called would wait for itself: an error instead.
    let Err(AccountError::Remote(message)) = a.absorb(a.clone()).await.unwrap() else { panic!("absorbed itself") };
    assert!(message.contains("same object"), "{message}");
    assert_eq!(a.balance().await.unwrap(), 42);
    // A proxy kept by the object keeps its object alive, and comes back as a proxy.
    let c = AccountProxy::create(&client, 7).await.unwrap().unwrap();
    a.set_partner(c).await.unwrap();
    assert_eq!(objects(&client).await, base + 1);
    let partner = a.partner().await.unwrap().unwrap();
    assert_eq!(partner.balance().await.unwrap(), 7);
    assert_eq!(a.partner_balance().await.unwrap(), Ok(7));
    drop(partner);
    a.clear_partner().await.unwrap();
    // A kept proxy to the object itself is refused too, whatever the method's signature.
    a.set_partner(a.clone()).await.unwrap();
    let message = a.partner_balance().await.unwrap().unwrap_err();
    assert!(message.contains("same object"), "{message}");
    a.clear_partner().await.unwrap();
    util::wait_until("the partner to be freed", || async { objects(&client).await == base }).await;
}

#[tokio::test]
async fn a_constructor_may_take_a_proxy_which_keeps_its_object_alive() {
    use integration_tests::accounts::{Joint, JointProxy};
    // The token minted below leases the partner: a short lease, so it ends in the test.
    let builder = Server::builder().register::<Account>().register::<Joint>().token_lease(Duration::from_secs(1));
    let (_dir, server) = util::start(builder).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let base = objects(&client).await;
    let partner = AccountProxy::create(&client, 12).await.unwrap().unwrap();
    let token = partner.token();
    // The only proxy, moved into the call: it holds its object until the joint exists.
    let joint = JointProxy::create(&client, partner).await.unwrap();
    assert_eq!(client.attach::<AccountProxy>(&token).await.unwrap().balance().await.unwrap(), 12);
    assert_eq!(joint.partner_balance().await.unwrap(), Ok(12));
    drop(joint);
    util::wait_until("the joint account and its partner to be freed", || async { objects(&client).await == base })
        .await;
}

#[tokio::test]
async fn a_built_in_proxy_argument_is_read_and_written_in_place() {
    let (_dir, server) = util::start(Server::builder().register::<Account>()).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let account = AccountProxy::create(&client, 1).await.unwrap().unwrap();
    let ledger = client.dict_from(&[("a".to_owned(), 10i64), ("b".to_owned(), 31)]).await.unwrap();
    assert_eq!(account.deposit_all(ledger.clone()).await.unwrap(), Ok(42));
    assert_eq!(ledger.get("total").await.unwrap(), Some(42));
}

#[tokio::test]
async fn each_form_works_from_a_worker_process() {
    let (_dir, server) = util::start(Server::builder().register::<Account>()).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let main = AccountProxy::create(&client, 100).await.unwrap().unwrap();
    client.bind_name("main", &main).await.unwrap();
    let base = objects(&client).await;
    let mut cmd = util::worker();
    cmd.args(["accounts", "main"]);
    client.configure_child(&mut cmd);
    let out = tokio::task::spawn_blocking(move || util::run_worker(cmd)).await.unwrap();
    assert!(out.contains("refused: Negative(-1)\n"), "{out}");
    assert!(out.contains("split: 40 left 60\n"), "{out}");
    assert!(out.contains("absorbed: 100\n"), "{out}");
    assert!(out.contains("unregistered: NoSuchType\n"), "{out}");
    assert_eq!(main.balance().await.unwrap(), 100);
    // What the worker created went with its connection.
    util::wait_until("the worker's accounts to be freed", || async { objects(&client).await == base }).await;
}
