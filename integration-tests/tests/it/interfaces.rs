//! Interfaces: a `#[shared]` trait declared once (`integration_tests::interface`), with
//! servers hosting their own types under it (`#[shared] impl Counter for T`) and
//! clients — worker processes among them — holding only the trait's proxy.
//! This file plays the server crate: it implements the interface twice.

use crate::util::{self, run_worker, worker};
use integration_tests::interface::{Counter, CounterProxy, older};
use manager_client::{Client, Error, RemoteErrorKind};
use manager_server::Server;
use std::sync::Mutex;
use tokio::sync::watch;

/// One implementation: the count in a watch channel, so waiters see it change.
#[derive(Debug)]
pub struct Tally {
    count: watch::Sender<u64>,
}

#[manager_server::shared]
impl Counter for Tally {
    fn new(start: u64) -> Self {
        Tally { count: watch::channel(start).0 }
    }

    fn incr(&self, by: u64) -> u64 {
        self.count.send_modify(|c| *c += by);
        *self.count.borrow()
    }

    fn get(&self) -> u64 {
        *self.count.borrow()
    }

    fn take(&self, by: u64) -> Result<u64, String> {
        let mut result = Err(String::new());
        self.count.send_if_modified(|c| {
            result = c.checked_sub(by).ok_or_else(|| format!("cannot take {by} from {c}"));
            if let Ok(left) = result {
                *c = left;
            }
            result.is_ok()
        });
        result
    }

    fn reset(&mut self) -> u64 {
        self.count.send_replace(0)
    }

    async fn wait_above(&self, n: u64) -> u64 {
        let mut rx = self.count.subscribe();
        rx.wait_for(|c| *c > n).await.map_or(0, |c| *c)
    }
}

/// Another implementation, as a second server program would write it: every change
/// kept in a ledger, and its own wording for a refusal.
#[derive(Debug)]
pub struct Ledger {
    entries: Mutex<Vec<i64>>,
    total: watch::Sender<u64>,
}

#[manager_server::shared]
impl Counter for Ledger {
    fn new(start: u64) -> Self {
        Ledger { entries: Mutex::new(vec![start as i64]), total: watch::channel(start).0 }
    }

    fn incr(&self, by: u64) -> u64 {
        self.entries.lock().unwrap().push(by as i64);
        self.total.send_modify(|t| *t += by);
        *self.total.borrow()
    }

    fn get(&self) -> u64 {
        self.entries.lock().unwrap().iter().sum::<i64>() as u64
    }

    fn take(&self, by: u64) -> Result<u64, String> {
        let have = self.get();
        if by > have {
            return Err(format!("the ledger holds {have}, not {by}"));
        }
        self.entries.lock().unwrap().push(-(by as i64));
        self.total.send_replace(have - by);
        Ok(have - by)
    }

    fn reset(&mut self) -> u64 {
        let before = self.get();
        self.entries.get_mut().unwrap().clear();
        self.total.send_replace(0);
        before
    }

    async fn wait_above(&self, n: u64) -> u64 {
        let mut rx = self.total.subscribe();
        rx.wait_for(|t| *t > n).await.map_or(0, |t| *t)
    }
}

/// Runs `worker ARGS..` against `client`'s server; its output.
async fn run(client: &Client, args: &[&str]) -> String {
    let mut cmd = worker();
    client.configure_child(&mut cmd);
    cmd.args(args);
    tokio::task::spawn_blocking(move || run_worker(cmd)).await.unwrap()
}

/// What a client knowing only the interface does with any server's counter.
async fn exercise(client: &Client) -> Vec<String> {
    let c = CounterProxy::create(client, 10).await.unwrap();
    let waiter = {
        let c = c.clone();
        tokio::spawn(async move { c.wait_above(14).await.unwrap() })
    };
    util::wait_until("the wait to park", || {
        let client = client.clone();
        async move { client.stats().await.unwrap().parked_calls >= 1 }
    })
    .await;
    let mut seen = vec![format!("incr {}", c.incr(5).await.unwrap())];
    seen.push(format!("woke at {}", waiter.await.unwrap()));
    seen.push(format!("take {:?}", c.take(100).await.unwrap()));
    seen.push(format!("take {:?}", c.take(3).await.unwrap()));
    seen.push(format!("reset from {}", c.reset().await.unwrap()));
    seen.push(format!("get {}", c.get().await.unwrap()));
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_with_only_the_interface_creates_names_and_attaches_the_servers_type() {
    let builder = Server::builder().register::<Tally>().named("tally", Tally::new(5));
    let (_dir, server) = util::start(builder).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    // Another process, built with the trait's proxy and nothing of `Tally`.
    let out = run(&client, &["iface-use", "tally"]).await;
    assert_eq!(out, "created 10 -> 12\nnamed 5 -> 6\nattached 6\nrefused: cannot take 7 from 6\n", "{out}");
    let named: CounterProxy = client.named("tally").await.unwrap();
    assert_eq!(named.get().await.unwrap(), 6, "the worker's call ran on the server's object");
    let stats = client.stats().await.unwrap();
    assert!(stats.objects_by_type.contains(&("demo.Counter".to_owned(), 1)), "{stats:?}");
    // The server describes it by the interface's methods.
    let methods = client.describe("demo.Counter").await.unwrap().methods;
    assert_eq!(methods, ["incr", "get", "take", "reset", "wait_above"]);
    assert_eq!(named.token().type_id, "demo.Counter");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_implementations_behind_one_interface_are_interchangeable() {
    let (_a_dir, a) = util::start(Server::builder().register::<Tally>()).await;
    let (_b_dir, b) = util::start(Server::builder().register::<Ledger>()).await;
    let on_a = Client::connect(a.address(), a.authkey()).await.unwrap();
    let on_b = Client::connect(b.address(), b.authkey()).await.unwrap();
    let (seen_a, seen_b) = (exercise(&on_a).await, exercise(&on_b).await);
    assert_eq!(seen_a[..2], ["incr 15", "woke at 15"]);
    assert_eq!(seen_a[..2], seen_b[..2]);
    assert_eq!(seen_a[2], "take Err(\"cannot take 100 from 15\")");
    assert_eq!(seen_b[2], "take Err(\"the ledger holds 15, not 100\")", "each server's own behaviour");
    assert_eq!(seen_a[3..], ["take Ok(12)", "reset from 12", "get 0"]);
    assert_eq!(seen_a[3..], seen_b[3..]);
    // A worker process uses both servers with the same proxy type.
    for (client, name) in [(&on_a, "a"), (&on_b, "b")] {
        let c = CounterProxy::create(client, 5).await.unwrap();
        client.bind_name(name, &c).await.unwrap();
        assert!(run(client, &["iface-use", name]).await.starts_with("created 10 -> 12\nnamed 5 -> 6\n"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_built_from_an_older_interface_is_refused_naming_the_method() {
    let builder = Server::builder().register::<Tally>().named("tally", Tally::new(5));
    let (_dir, server) = util::start(builder).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let out = run(&client, &["iface-older", "tally"]).await;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].starts_with(
            "named: refused: type mismatch: the object named `tally`: the server's `demo.Counter` has methods"
        ),
        "{out}"
    );
    assert!(lines[0].contains("`incr(u64) -> u64`") && lines[0].contains("`incr(u32) -> u32`"), "{out}");
    assert!(lines[0].contains("(they differ in incr)"), "{out}");
    assert!(lines[1].starts_with("create: refused: the server's `demo.Counter` has constructor `new(u64)`"), "{out}");
    assert!(lines[1].contains("(they differ in incr)"), "{out}");
    // The same in this process: nothing was created, and the current interface works.
    let before = client.stats().await.unwrap().objects;
    let err = older::CounterProxy::create(&client, 1).await.unwrap_err();
    assert_eq!(err.remote_kind(), Some(RemoteErrorKind::WrongType), "{err}");
    assert!(err.to_string().contains("they differ in incr"), "{err}");
    let err = client.named::<older::CounterProxy>("tally").await.unwrap_err();
    assert!(matches!(&err, Error::TypeMismatch(m) if m.contains("they differ in incr")), "{err:?}");
    assert_eq!(client.stats().await.unwrap().objects, before);
    let current: CounterProxy = client.named("tally").await.unwrap();
    assert_eq!(current.incr(1).await.unwrap(), 6);
}

#[tokio::test]
async fn the_trait_stays_an_ordinary_trait_on_the_server() {
    // Server code may use the implementations directly, through the trait.
    fn bump(c: &impl Counter, by: u64) -> u64 {
        c.incr(by)
    }
    let t = Tally::new(1);
    assert_eq!(bump(&t, 2), 3);
    assert_eq!(t.describe(), "a counter at 3", "a skipped method keeps its body");
    assert_eq!(Ledger::new(4).wait_above(3).await, 4);
}

/// An interface whose method makes a new object of the implementation's own type.
mod cells {
    use manager_server::{Shared, shared};

    #[shared(id = "tests.Cell")]
    pub trait Cell {
        fn new(value: String) -> Self
        where
            Self: Sized;
        fn value(&self) -> String;
        /// A new cell holding this one's value, of whatever type the server has.
        fn fork(&self, suffix: String) -> Shared<Self>
        where
            Self: Sized;
    }

    pub struct TextCell(pub String);

    #[shared]
    impl Cell for TextCell {
        fn new(value: String) -> Self {
            TextCell(value)
        }
        fn value(&self) -> String {
            self.0.clone()
        }
        fn fork(&self, suffix: String) -> Shared<Self> {
            Shared::new(TextCell(format!("{}{suffix}", self.0)))
        }
    }
}

#[tokio::test]
async fn an_interface_method_may_host_a_new_object_of_the_servers_type() {
    use cells::CellProxy;
    let (_dir, server) = util::start(Server::builder().register::<cells::TextCell>()).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    let cell = CellProxy::create(&client, "a".into()).await.unwrap();
    let forked: CellProxy = cell.fork("b".into()).await.unwrap();
    assert_eq!(forked.value().await.unwrap(), "ab");
    assert_eq!(client.stats().await.unwrap().objects_by_type, [("tests.Cell".to_owned(), 2)]);
}
