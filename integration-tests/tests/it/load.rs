//! Load with nothing lost: many connections, many processes, many objects. The server
//! runs in its own process so its memory can be read (`/proc/PID/status`); figures are
//! printed (run with `--nocapture`), and only generous bounds are asserted — these
//! machines are shared and noisy.

use crate::util::{eventually, worker};
use integration_tests::CounterProxy;
use manager_client::{AuthKey, Client};
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

struct ServerProcess {
    child: Child,
    address: String,
    key: AuthKey,
    _dir: tempfile::TempDir,
}

impl ServerProcess {
    fn start() -> ServerProcess {
        let dir = tempfile::tempdir().unwrap();
        let address = format!("unix:{}", dir.path().join("s.sock").display());
        let key = AuthKey::new(*b"load-test-key").unwrap();
        let mut child = worker()
            .args(["serve-at", &address])
            .env("MANAGER_AUTHKEY", key.to_hex())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
        assert!(line.starts_with("LISTENING"), "{line:?}");
        ServerProcess { child, address, key, _dir: dir }
    }

    async fn client(&self) -> Client {
        Client::connect(self.address.as_str(), &self.key).await.unwrap()
    }

    /// (current, peak) resident memory in KiB.
    fn rss_kib(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let field = |name: &str| -> u64 {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_connections_each_make_a_hundred_mixed_calls() {
    let server = ServerProcess::start();
    let setup = server.client().await;
    let dict = setup.dict::<u64, u64>().await.unwrap();
    let total = setup.value(0u64).await.unwrap();
    let queue = setup.queue::<u64>(0).await.unwrap();
    let (before, _) = server.rss_kib();
    let start = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..1000 {
        clients.push(server.client().await);
    }
    let connected = start.elapsed();
    let tokens = (dict.token(), total.token(), queue.token());
    let mut tasks = Vec::new();
    for (n, client) in clients.into_iter().enumerate() {
        let tokens = tokens.clone();
        tasks.push(tokio::spawn(async move {
            let n = n as u64;
            let d: manager_client::DictProxy<u64, u64> = client.attach(&tokens.0).await.unwrap();
            let t: manager_client::ValueProxy<u64> = client.attach(&tokens.1).await.unwrap();
            let q: manager_client::QueueProxy<u64> = client.attach(&tokens.2).await.unwrap();
            let counter: CounterProxy = client.named("counter").await.unwrap();
            // 100 calls: 25 of each kind (the attaches above not counted).
            for i in 0..25 {
                d.insert(n * 100 + i, i).await.unwrap();
                t.fetch_add(1).await.unwrap();
                counter.incr(1).await.unwrap();
                q.put(n).await.unwrap();
            }
            client
        }));
    }
    let mut clients = Vec::new();
    for t in tasks {
        clients.push(t.await.unwrap());
    }
    let elapsed = start.elapsed();
    let (during, peak) = server.rss_kib();
    assert_eq!(dict.len().await.unwrap(), 25_000);
    assert_eq!(total.get().await.unwrap(), 25_000);
    let counter: CounterProxy = setup.named("counter").await.unwrap();
    assert_eq!(counter.get().await.unwrap(), 25_000);
    assert_eq!(queue.qsize().await.unwrap(), 25_000);
    let stats = setup.stats().await.unwrap();
    assert_eq!(stats.connections, 1001);
    drop(clients);
    assert!(eventually(Duration::from_secs(10), async || setup.stats().await.unwrap().connections == 1).await);
    eprintln!(
        "1000 connections x 100 calls: connected in {connected:?}, all done in {elapsed:?}; server RSS {} KiB before, \
         {} KiB with 1000 connections, peak {} KiB ({:.1} KiB per connection)",
        before,
        during,
        peak,
        (during.saturating_sub(before)) as f64 / 1000.0
    );
    assert!(peak < 512 * 1024, "server memory stays bounded: peak {peak} KiB");
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_producer_and_eight_consumer_processes_move_every_item_exactly_once() {
    const PER_PRODUCER: u64 = 100_000;
    let server = ServerProcess::start();
    let client = server.client().await;
    let queue = client.queue::<u64>(0).await.unwrap();
    let start = Instant::now();
    crate::util::eight_by_eight(&client, &queue, PER_PRODUCER, async || {}).await;
    let elapsed = start.elapsed();
    eprintln!(
        "8x8 processes: 800,000 items exactly once in {elapsed:?} ({:.0} items/s)",
        800_000.0 / elapsed.as_secs_f64()
    );
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_processes_hammering_a_counter_and_a_dict_lose_nothing() {
    const OPS: u64 = 1000;
    let server = ServerProcess::start();
    let client = server.client().await;
    let total = client.value(0u64).await.unwrap();
    let per = client.dict::<String, u64>().await.unwrap();
    client.bind_name("total", &total).await.unwrap();
    client.bind_name("per_worker", &per).await.unwrap();
    let start = Instant::now();
    let children: Vec<Child> = (0..16)
        .map(|_| {
            let mut cmd = worker();
            client.configure_child(&mut cmd);
            cmd.args(["hammer", &OPS.to_string()]).stdout(Stdio::piped()).spawn().unwrap()
        })
        .collect();
    let mut acked = 0;
    let mut reported = Vec::new();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success());
        let line = String::from_utf8(out.stdout).unwrap();
        let (who, n) = line.trim().split_once(' ').unwrap();
        acked += n.parse::<u64>().unwrap();
        reported.push((who.to_owned(), n.parse::<u64>().unwrap()));
    }
    assert_eq!(total.get().await.unwrap(), acked, "the counter equals the acknowledged additions");
    let mut items = per.items().collect_all().await.unwrap();
    items.sort();
    reported.sort();
    assert_eq!(items, reported, "each worker's last acknowledged update is what the dict holds");
    eprintln!("16 processes: {acked} fetch_adds and {acked} updates in {:?}", start.elapsed());
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_create_drop_cycles_leak_nothing() {
    const CYCLES: usize = 100_000;
    let server = ServerProcess::start();
    let client = server.client().await;
    let baseline = client.stats().await.unwrap().objects;
    // Warm up, so allocator pools exist before the baseline is read.
    for _ in 0..2000 {
        drop(CounterProxy::create(&client, 0).await.unwrap());
    }
    client.ping().await.unwrap();
    let (warm, _) = server.rss_kib();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..CYCLES / 4 {
                let c = CounterProxy::create(&client, 1).await.unwrap();
                drop(c);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    client.ping().await.unwrap();
    let elapsed = start.elapsed();
    assert!(eventually(Duration::from_secs(5), async || client.stats().await.unwrap().objects == baseline).await);
    let (after, peak) = server.rss_kib();
    eprintln!(
        "{CYCLES} create/drop cycles in {elapsed:?}: objects back to {baseline}; server RSS {warm} KiB warm, {after} \
         KiB after, peak {peak} KiB"
    );
    assert!(after < warm + 16 * 1024, "memory returns to baseline: {warm} KiB -> {after} KiB");
    server.stop();
}
