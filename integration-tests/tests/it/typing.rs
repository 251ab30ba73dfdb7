//! Types checked across processes: an object's element types (built-ins) or interface
//! (`#[shared]`) travel with it as its fingerprint, and a proxy that disagrees is
//! refused — naming both sides — before it writes or reads anything. A worker process
//! plays the program that disagrees.

use crate::util::{self, run_worker, worker};
use integration_tests::typing::{Msg, Renamed, RenamedProxy, meter_a, meter_b};
use manager_client::{Client, DictProxy, Error, QueueProxy, RemoteErrorKind, ValueProxy};
use manager_server::{Builtin, Server};

/// Runs `worker open-as KIND NAME` against `client`'s server; its one line of output.
async fn open_as(client: &Client, kind: &str, name: &str) -> String {
    let mut cmd = worker();
    client.configure_child(&mut cmd);
    cmd.args(["open-as", kind, name]);
    tokio::task::spawn_blocking(move || run_worker(cmd)).await.unwrap().trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_opened_as_another_type_is_refused_by_name_and_left_unchanged() {
    let (_dir, server) = util::start(Server::builder()).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let answer = client.value::<i32>(41).await.unwrap();
    client.bind_name("answer", &answer).await.unwrap();
    let seen = open_as(&client, "value-string", "answer").await;
    assert_eq!(
        seen,
        "refused: type mismatch: the object named `answer`: a `Value<i32>` cannot be opened as a `Value<String>`"
    );
    assert_eq!(answer.get().await.unwrap(), 41, "the refused proxy wrote nothing");
    // The same in this process, and through a token.
    let err = client.named::<ValueProxy<String>>("answer").await.unwrap_err();
    assert!(matches!(&err, Error::TypeMismatch(m) if m.contains("`Value<i32>`")), "{err:?}");
    let err = client.attach::<ValueProxy<String>>(&answer.token()).await.unwrap_err();
    assert!(matches!(&err, Error::TypeMismatch(m) if m.contains("`Value<String>`")), "{err:?}");
    let same: ValueProxy<i32> = client.attach(&answer.token()).await.unwrap();
    assert_eq!(same.get().await.unwrap(), 41);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_u64_read_as_an_i64_is_refused_instead_of_misread() {
    let (_dir, server) = util::start(Server::builder()).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let d = client.dict::<String, u64>().await.unwrap();
    d.insert("k".into(), 7).await.unwrap();
    client.bind_name("d", &d).await.unwrap();
    let seen = open_as(&client, "dict-i64", "d").await;
    assert!(seen.ends_with("a `Dict<String, u64>` cannot be opened as a `Dict<String, i64>`"), "{seen}");
    // What the check prevents: postcard's zigzag reads the u64 7 as the i64 -4.
    let unchecked: DictProxy<String, i64> = client.named_unchecked("d").await.unwrap();
    assert_eq!(unchecked.get("k").await.unwrap(), Some(-4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_of_messages_is_not_opened_as_a_queue_of_numbers() {
    let (_dir, server) = util::start(Server::builder()).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let jobs = client.queue::<Msg>(0).await.unwrap();
    client.bind_name("jobs", &jobs).await.unwrap();
    jobs.put(Msg { from: "test".into(), seq: 1 }).await.unwrap();
    let seen = open_as(&client, "queue-u64", "jobs").await;
    assert!(seen.ends_with("a `Queue<Msg>` cannot be opened as a `Queue<u64>`"), "{seen}");
    assert_eq!(jobs.qsize().await.unwrap(), 1, "nothing was put");
    assert_eq!(jobs.get().await.unwrap(), Msg { from: "test".into(), seq: 1 });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_builtin_without_types_accepts_any_proxy_of_its_type() {
    let (_dir, server) = util::start(Server::builder().named_builtin("jobs", Builtin::Queue { maxsize: 0 })).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    assert_eq!(open_as(&client, "queue-u64", "jobs").await, "put");
    let numbers: QueueProxy<u64> = client.named("jobs").await.unwrap();
    assert_eq!(numbers.get().await.unwrap(), 7);
    client.named::<QueueProxy<Msg>>("jobs").await.unwrap();
    // The type id is still checked.
    let err = client.named::<DictProxy<String, u64>>("jobs").await.unwrap_err();
    assert!(matches!(err, Error::WrongType { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_can_pin_a_named_builtins_element_types() {
    let builder = Server::builder().named_typed::<QueueProxy<Msg>>("jobs", Builtin::Queue { maxsize: 0 });
    let (_dir, server) = util::start(builder).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let seen = open_as(&client, "queue-u64", "jobs").await;
    assert!(seen.ends_with("a `Queue<Msg>` cannot be opened as a `Queue<u64>`"), "{seen}");
    let jobs: QueueProxy<Msg> = client.named("jobs").await.unwrap();
    assert_eq!(jobs.qsize().await.unwrap(), 0);
    // A proxy of another type than the built-in's is a configuration error.
    let err =
        util::start_err(Server::builder().named_typed::<DictProxy<String, u8>>("d", Builtin::Queue { maxsize: 0 }))
            .await;
    assert!(err.contains("the named queue `d` is pinned to a proxy of `dict` objects"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_unchecked_escape_opens_what_the_check_refuses() {
    let (_dir, server) = util::start(Server::builder()).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    // Bytes and a string are the same on the wire: a program may mean one as the other.
    let v = client.value::<Vec<u8>>(b"hello".to_vec()).await.unwrap();
    client.bind_name("v", &v).await.unwrap();
    assert!(open_as(&client, "value-string", "v").await.starts_with("refused: "));
    assert_eq!(open_as(&client, "value-string-unchecked", "v").await, "hello");
    let blocking = {
        let (address, key) = (server.address().clone(), server.authkey().clone());
        tokio::task::spawn_blocking(move || {
            let client = manager_client::blocking::Client::connect(&address, &key).unwrap();
            client.named_unchecked::<manager_client::blocking::ValueProxy<String>>("v").unwrap().get().unwrap()
        })
    };
    assert_eq!(blocking.await.unwrap(), "hello");
    // The same through a token.
    let token = v.token().to_string();
    let refused = client.attach::<manager_client::ValueProxy<String>>(token.as_str()).await.unwrap_err();
    assert!(matches!(refused, manager_client::Error::TypeMismatch(_)), "{refused:?}");
    let raw: manager_client::ValueProxy<String> = client.attach_unchecked(token.as_str()).await.unwrap();
    assert_eq!(raw.get().await.unwrap(), "hello");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_types_whose_methods_differ_between_programs_are_refused() {
    let builder = Server::builder().register::<meter_a::Meter>().named("meter", meter_a::Meter::default());
    let (_dir, server) = util::start(builder).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    // Opening the server's meter with the other program's proxy.
    let seen = open_as(&client, "meter-b", "meter").await;
    assert!(
        seen.ends_with(
            "the server's `Meter` has methods `add(u64) -> u64`, `read() -> u64`; this client's has methods \
             `add(i64) -> i64`, `read() -> u64` (they differ in add): the two programs were built from different \
             sources, or the type's id was reused"
        ),
        "{seen}"
    );
    // Creating one: refused by the server before the constructor runs.
    let before = client.stats().await.unwrap().objects;
    let mut cmd = worker();
    client.configure_child(&mut cmd);
    cmd.args(["create-meter-b", "other"]);
    let created = tokio::task::spawn_blocking(move || run_worker(cmd)).await.unwrap();
    assert!(created.starts_with("refused: the server's `Meter` has constructor `new()` and methods"), "{created}");
    assert_eq!(client.stats().await.unwrap().objects, before, "nothing was constructed");
    let err = meter_b::MeterProxy::create(&client).await.unwrap_err();
    assert_eq!(err.remote_kind(), Some(RemoteErrorKind::WrongType), "{err}");
    // The program that agrees is served.
    let meter: meter_a::MeterProxy = client.named("meter").await.unwrap();
    assert_eq!(meter.add(2).await.unwrap(), 2);
    assert_eq!(meter_a::MeterProxy::create(&client).await.unwrap().read().await.unwrap(), 0);
}

#[tokio::test]
async fn an_explicit_id_is_the_types_wire_identity() {
    use manager_client::proto::Proxy;
    assert_eq!(RenamedProxy::shared_type_id(), "tests.renamed-v1");
    assert_eq!(meter_a::MeterProxy::shared_type_id(), meter_b::MeterProxy::shared_type_id());
    let (_dir, server) = util::start(Server::builder().register::<Renamed>()).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let r = RenamedProxy::create(&client).await.unwrap();
    assert_eq!(r.call().await.unwrap(), 1);
    assert_eq!(r.token().type_id, "tests.renamed-v1");
    let again: RenamedProxy = client.attach(&r.token()).await.unwrap();
    assert_eq!(again.call().await.unwrap(), 2);
    assert_eq!(client.describe("tests.renamed-v1").await.unwrap().methods, Renamed::EXPOSED);
    let stats = client.stats().await.unwrap();
    assert!(stats.objects_by_type.contains(&("tests.renamed-v1".to_owned(), 1)), "{stats:?}");
}
