//! The blocking facade: the same API without an async runtime.

use crate::util;
use integration_tests::{Counter, CounterBlockingProxy, CounterError, GateBlockingProxy};
use manager_client::blocking::Client;
use manager_client::{Error, RemoteErrorKind};
use manager_server::Server;

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
    let same: CounterBlockingProxy = other.attach(&mine.token()).unwrap();
    assert_eq!(same.get().unwrap(), 10);
    assert_eq!(client.stats().unwrap().objects, 2);
    drop((mine, same));
    client.ping().unwrap();
    other.ping().unwrap();
    assert_eq!(client.stats().unwrap().objects, 1);
    // Used inside an async runtime, a blocking proxy refuses instead of stalling it.
    let gate = GateBlockingProxy::create(&client).unwrap();
    let err = rt.block_on(async { gate.waiters() }).unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err:?}");
    assert_eq!(gate.as_async().handle().type_id(), "integration_tests::Gate");
    rt.block_on(server.shutdown());
    let err = c.get().unwrap_err();
    assert!(err.is_connection_lost(), "{err:?}");
}
