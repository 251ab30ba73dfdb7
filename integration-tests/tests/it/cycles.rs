//! The cycle collector: containers that hold proxies to each other are freed once
//! nothing outside the cycle holds them, and only then.

use crate::util;
use manager_client::{Client, DictProxy, ListProxy, QueueProxy};
use manager_server::{Builtin, Server};
use serde::{Deserialize, Serialize};
use std::time::Duration;

type Leaf = DictProxy<String, u8>;
/// A dict whose values link to other dicts: to nodes (which may close a cycle) or to
/// leaves.
type Node = DictProxy<String, Link>;

#[derive(Clone, Serialize, Deserialize)]
enum Link {
    Node(Node),
    Leaf(Leaf),
}

impl Link {
    fn node(self) -> Node {
        match self {
            Link::Node(n) => n,
            Link::Leaf(_) => panic!("a leaf where a node was expected"),
        }
    }
}

/// A link to `d`, to store in another node.
fn to(d: &Node) -> Link {
    Link::Node(d.clone())
}

/// Two dicts holding each other; both proxies dropped and the drops delivered.
async fn dict_cycle(client: &Client) {
    let (a, b): (Node, Node) = (client.dict().await.unwrap(), client.dict().await.unwrap());
    a.insert("b".into(), to(&b)).await.unwrap();
    b.insert("a".into(), to(&a)).await.unwrap();
}

async fn setup(builder: manager_server::ServerBuilder) -> (tempfile::TempDir, Server, Client) {
    let (dir, server) = util::start(builder).await;
    let client = Client::connect(server.address(), server.authkey()).await.unwrap();
    (dir, server, client)
}

#[tokio::test]
async fn a_dict_cycle_is_freed_and_what_it_held_outside_lives_on() {
    let (_d, server, client) = setup(Server::builder().collect_cycles(None)).await;
    let outside: Leaf = client.dict().await.unwrap();
    outside.insert("x".into(), 1).await.unwrap();
    {
        let (a, b): (Node, Node) = (client.dict().await.unwrap(), client.dict().await.unwrap());
        a.insert("b".into(), to(&b)).await.unwrap();
        b.insert("a".into(), to(&a)).await.unwrap();
        a.insert("outside".into(), Link::Leaf(outside.clone())).await.unwrap();
    }
    client.ping().await.unwrap();
    assert_eq!(client.stats().await.unwrap().objects, 3, "the cycle leaks without the collector");
    assert_eq!(client.collect().await.unwrap(), 2);
    let stats = client.stats().await.unwrap();
    assert_eq!((stats.objects, stats.cycles_collected), (1, 2));
    // What the cycle referenced, but which is held from outside, is untouched.
    assert_eq!(outside.get("x").await.unwrap(), Some(1));
    assert_eq!(client.collect().await.unwrap(), 0);
    assert_eq!(server.collect(), 0);
}

#[tokio::test]
async fn a_thousand_cycles_leave_the_object_count_at_its_baseline() {
    let builder = Server::builder().collect_cycles(Some(Duration::from_millis(20)));
    let (_d, server, client) = setup(builder).await;
    let _kept: Leaf = client.dict().await.unwrap();
    let baseline = server.stats().objects;
    let mut peak = 0;
    for _ in 0..1_000 {
        dict_cycle(&client).await;
        peak = peak.max(server.stats().objects);
    }
    // The periodic collector, not an explicit call, brings it back.
    util::wait_until("the cycles are collected", async || server.stats().objects == baseline).await;
    assert_eq!(server.stats().cycles_collected, 2_000);
    eprintln!("peak objects during the loop: {peak}");
}

#[tokio::test]
async fn a_cycle_reachable_from_a_named_object_is_not_freed() {
    let builder = Server::builder().collect_cycles(None).named_builtin("root", Builtin::Dict);
    let (_d, server, client) = setup(builder).await;
    let root: Node = client.named("root").await.unwrap();
    {
        let (a, b): (Node, Node) = (client.dict().await.unwrap(), client.dict().await.unwrap());
        a.insert("b".into(), to(&b)).await.unwrap();
        b.insert("a".into(), to(&a)).await.unwrap();
        root.insert("a".into(), to(&a)).await.unwrap();
    }
    drop(root);
    client.ping().await.unwrap();
    assert_eq!(server.collect(), 0);
    assert_eq!(server.stats().objects, 3);
    // Still whole: root -> a -> b -> a.
    let root: Node = client.named("root").await.unwrap();
    {
        let a = root.get("a").await.unwrap().unwrap().node();
        let b = a.get("b").await.unwrap().unwrap().node();
        assert!(b.contains("a").await.unwrap());
    }
    // Unlinked from the name, it is garbage.
    root.remove("a").await.unwrap();
    client.ping().await.unwrap();
    assert_eq!(server.collect(), 2);
    assert_eq!(server.stats().objects, 1);
}

#[tokio::test]
async fn a_cycle_held_by_a_live_proxy_is_not_freed() {
    let (_d, server, client) = setup(Server::builder().collect_cycles(None).token_lease(Duration::from_secs(1))).await;
    let a: Node = client.dict().await.unwrap();
    {
        let b: Node = client.dict().await.unwrap();
        a.insert("b".into(), to(&b)).await.unwrap();
        b.insert("a".into(), to(&a)).await.unwrap();
    }
    client.ping().await.unwrap();
    // Another process holding the only proxy counts just the same.
    let other = Client::connect(server.address(), server.authkey()).await.unwrap();
    let held: Node = other.attach(a.token()).await.unwrap();
    drop(a);
    // The token's lease held `a` too; only `other`'s proxy does once it ends.
    util::wait_until("the token's lease to end", async || server.stats().leases == 0).await;
    client.ping().await.unwrap();
    assert_eq!(client.collect().await.unwrap(), 0);
    assert_eq!(server.stats().objects, 2);
    let b = held.get("b").await.unwrap().unwrap().node();
    assert!(b.contains("a").await.unwrap());
    drop((b, held));
    other.ping().await.unwrap();
    assert_eq!(client.collect().await.unwrap(), 2);
    assert_eq!(server.stats().objects, 0);
}

/// A list of queues and a queue of lists, in one element type.
#[derive(Clone, Serialize, Deserialize)]
enum Either {
    List(ListProxy<Either>),
    Queue(QueueProxy<Either>),
}

#[tokio::test]
async fn a_cycle_through_a_list_and_a_queue_is_freed() {
    let (_d, server, client) = setup(Server::builder().collect_cycles(None)).await;
    {
        let list: ListProxy<Either> = client.list().await.unwrap();
        let queue: QueueProxy<Either> = client.queue(0).await.unwrap();
        list.append(Either::Queue(queue.clone())).await.unwrap();
        queue.put(Either::List(list.clone())).await.unwrap();
    }
    client.ping().await.unwrap();
    assert_eq!(server.stats().objects, 2);
    assert_eq!(client.collect().await.unwrap(), 2);
    assert_eq!(server.stats().objects, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collections_racing_with_traffic_free_only_garbage() {
    let builder = Server::builder().collect_cycles(Some(Duration::from_millis(1))).named_builtin("root", Builtin::Dict);
    let (_d, server, client) = setup(builder).await;
    // Another connection asks for collections as fast as it can, all along.
    let collecting = tokio::spawn({
        let other = Client::connect(server.address(), server.authkey()).await.unwrap();
        async move {
            let mut freed = 0;
            for _ in 0..2_000 {
                freed += other.collect().await.unwrap();
            }
            freed
        }
    });
    let root: Node = client.named("root").await.unwrap();
    for round in 0..200 {
        let key = format!("k{round}");
        {
            let (a, b): (Node, Node) = (client.dict().await.unwrap(), client.dict().await.unwrap());
            a.insert("b".into(), to(&b)).await.unwrap();
            b.insert("a".into(), to(&a)).await.unwrap();
            root.insert(key.clone(), to(&a)).await.unwrap();
        }
        // Reachable only through the name now: whole, whatever the collector does.
        let a = root.get(&key).await.unwrap().unwrap().node();
        let b = a.get("b").await.unwrap().unwrap().node();
        assert!(b.contains("a").await.unwrap(), "round {round}: the cycle lost an element");
        drop((a, b));
        drop(root.remove(&key).await.unwrap());
    }
    collecting.await.unwrap();
    util::wait_until("the cycles are collected", async || server.stats().objects == 1).await;
    assert_eq!(server.stats().cycles_collected, 400);
}

/// Cycles a process built and left behind, whether it exits or is SIGKILLed, are freed
/// by the periodic collector: nothing of that process stays on the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cycles_left_by_a_process_that_exits_or_is_killed_are_freed() {
    use std::process::Stdio;
    let builder = Server::builder().collect_cycles(Some(Duration::from_millis(50)));
    let (_d, server, client) = setup(builder).await;
    for (ending, cycles) in [("exit", 100u64), ("hang", 50)] {
        let before = server.stats().cycles_collected;
        let mut cmd = util::worker();
        client.configure_child(&mut cmd);
        let mut child = cmd.args(["make-cycles", &cycles.to_string(), ending]).stdout(Stdio::piped()).spawn().unwrap();
        let line = crate::util::first_line(&mut child).await;
        assert_eq!(line.trim(), "built", "{ending}");
        if ending == "hang" {
            util::sigkill(&mut child);
        } else {
            assert!(child.wait().unwrap().success());
        }
        util::wait_until("the process's cycles to be collected", async || server.stats().objects == 0).await;
        assert_eq!(server.stats().cycles_collected - before, 2 * cycles, "{ending}");
    }
}
