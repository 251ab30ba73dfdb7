//! The workloads, measured against a manager server running in its own process.

use integration_tests::{Counter, CounterBlockingProxy, CounterProxy};
use manager_client::blocking::{self, Client};
use manager_client::{ClientOptions, Proxy};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where the server is, and how to run helpers.
#[derive(Clone)]
pub struct Ctx {
    pub address: String,
    pub key: Vec<u8>,
    /// Client options (low-latency mode spins).
    pub options: ClientOptions,
    /// Scale factor: 1 normally, smaller with --quick.
    pub scale: f64,
}

impl Ctx {
    pub fn n(&self, full: usize) -> usize {
        ((full as f64 * self.scale) as usize).max(10)
    }

    pub fn client(&self) -> Client {
        Client::connect_with(self.address.as_str(), &self.key, &self.options).expect("connect")
    }

    fn helper(&self, args: &[&str]) -> Child {
        let mut cmd = Command::new(std::env::current_exe().expect("exe"));
        cmd.args(args)
            .env("BENCH_ADDRESS", &self.address)
            .env("BENCH_KEY", hex(&self.key))
            .env("BENCH_SPIN_US", self.options.spin.as_micros().to_string())
            .stdout(Stdio::null());
        cmd.spawn().expect("spawn helper")
    }
}

/// A fresh suffix for names bound in one run (names are permanent on a server).
fn run_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Starts the manager server process at `address`.
pub fn start_server(address: &str, key: &[u8], spin_us: u64) -> (Child, String) {
    start_server_with(address, key, spin_us, &[])
}

/// [`start_server`] with more environment for the server (its TLS files).
pub fn start_server_with(address: &str, key: &[u8], spin_us: u64, env: &[(&str, &std::path::Path)]) -> (Child, String) {
    use std::io::BufRead;
    let mut child = Command::new(std::env::current_exe().expect("exe"))
        .args(["serve", address, &spin_us.to_string()])
        .envs(env.iter().copied())
        .env("BENCH_KEY", hex(key))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn server");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.as_mut().expect("stdout")).read_line(&mut line).expect("read");
    let addr = line.trim().strip_prefix("LISTENING ").expect("listening line").to_owned();
    (child, addr)
}

/// The server role: serves until its stdin closes. `BENCH_ADAPTIVE_POLL_US` in its
/// environment sets its adaptive poll's cap (the `-ap` rows).
pub fn serve(address: &str, spin_us: u64) {
    let adaptive_us = std::env::var("BENCH_ADAPTIVE_POLL_US").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    let key = std::env::var("BENCH_KEY").expect("BENCH_KEY");
    let key = manager_client::AuthKey::from_hex(&key).expect("key");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    // A tls:// address serves with the files `BENCH_TLS_CERT` and `BENCH_TLS_KEY` name.
    let tls = std::env::var_os("BENCH_TLS_CERT").map(|cert| {
        let key = std::env::var_os("BENCH_TLS_KEY").expect("BENCH_TLS_KEY");
        manager_server::ServerTls::from_files(cert, key).expect("TLS files")
    });
    rt.block_on(async {
        let mut builder = manager_server::Server::builder();
        if let Some(tls) = tls {
            builder = builder.tls(tls);
        }
        let server = builder
            .listen(&address.parse().expect("address"))
            .authkey_value(key)
            .register::<Counter>()
            .busy_poll(Duration::from_micros(spin_us))
            // The shared-memory transport's rows connect with `ClientOptions::shared_memory`.
            .shared_memory(true)
            .adaptive_poll(Duration::from_micros(adaptive_us))
            // The shared memory rows' 256 MiB blocks stay leased for 30 s after their
            // token is minted: room for a run's worth (pages are committed only once
            // touched).
            .max_shared_memory(16 << 30)
            .start()
            .await
            .expect("start");
        println!("LISTENING {}", server.address());
        let mut rest = Vec::new();
        let _ = tokio::io::AsyncReadExt::read_to_end(&mut tokio::io::stdin(), &mut rest).await;
        server.shutdown().await;
    });
}

/// Per-call time of `n` dict inserts then `n` gets.
pub fn dict_ops(ctx: &Ctx) -> Duration {
    let n = ctx.n(20_000);
    let client = ctx.client();
    let d = client.dict::<u32, u32>().expect("dict");
    let start = Instant::now();
    for i in 0..n as u32 {
        d.insert(i, i).expect("insert");
    }
    for i in 0..n as u32 {
        d.get(&i).expect("get");
    }
    start.elapsed() / (2 * n) as u32
}

/// Aggregate calls per second of two client processes doing `dict_ops` at once.
pub fn dict_two_processes(ctx: &Ctx) -> f64 {
    let n = ctx.n(20_000);
    let client = ctx.client();
    let barrier = client.barrier(3).expect("barrier");
    let done = client.semaphore(0).expect("semaphore");
    let id = run_id();
    client.bind_name(&format!("start-{id}"), &barrier).expect("bind");
    client.bind_name(&format!("done-{id}"), &done).expect("bind");
    let mut helpers: Vec<Child> = (0..2).map(|_| ctx.helper(&["dict-client", &n.to_string(), &id])).collect();
    barrier.wait().expect("barrier");
    let start = Instant::now();
    done.acquire().expect("done");
    done.acquire().expect("done");
    let elapsed = start.elapsed();
    for h in &mut helpers {
        let _ = h.wait();
    }
    (4 * n) as f64 / elapsed.as_secs_f64()
}

/// Helper role for `dict_two_processes`.
pub fn dict_client(n: usize, id: &str) {
    let client = env_client();
    let barrier: blocking::BarrierProxy = client.named(&format!("start-{id}")).expect("start");
    let done: blocking::SemaphoreProxy = client.named(&format!("done-{id}")).expect("done");
    let d = client.dict::<u32, u32>().expect("dict");
    barrier.wait().expect("wait");
    for i in 0..n as u32 {
        d.insert(i, i).expect("insert");
    }
    for i in 0..n as u32 {
        d.get(&i).expect("get");
    }
    done.release().expect("release");
}

fn env_client() -> Client {
    let address = std::env::var("BENCH_ADDRESS").expect("BENCH_ADDRESS");
    let key = manager_client::AuthKey::from_hex(&std::env::var("BENCH_KEY").expect("BENCH_KEY")).expect("key");
    let spin: u64 = std::env::var("BENCH_SPIN_US").ok().and_then(|s| s.parse().ok()).unwrap_or(0);
    let options = ClientOptions { spin: Duration::from_micros(spin), ..ClientOptions::default() };
    Client::connect_with(address.as_str(), key, &options).expect("connect")
}

/// Per-call time of `incr` on a `#[shared]` type.
pub fn incr(ctx: &Ctx) -> Duration {
    let n = ctx.n(20_000);
    let client = ctx.client();
    let c = CounterBlockingProxy::create(&client, 0).expect("create");
    let start = Instant::now();
    for _ in 0..n {
        c.incr(1).expect("incr");
    }
    start.elapsed() / n as u32
}

/// Per hand-off time of a proxy passed to another process: a token minted on one
/// connection (which leases the object), attached on a second and the attached proxy
/// dropped. The second connection stands for the receiving process: it sends the same
/// requests a child would, without a process start in every hand-off. Minting rides on
/// one lease while it is fresh (`LEASE_REUSE`), so a hand-off is one round trip
/// (`Incref`) and a fire-and-forget `Decref`.
pub fn handoff(ctx: &Ctx) -> Duration {
    let n = ctx.n(10_000);
    let (sender, receiver) = (ctx.client(), ctx.client());
    let d = sender.dict::<u32, u32>().expect("dict");
    let start = Instant::now();
    for _ in 0..n {
        let token = d.token();
        let attached: blocking::DictProxy<u32, u32> = receiver.attach(&token).expect("attach");
        drop(attached);
    }
    start.elapsed() / n as u32
}

/// Per-pair time of Lock acquire + release.
pub fn lock_pairs(ctx: &Ctx) -> Duration {
    let n = ctx.n(10_000);
    let client = ctx.client();
    let lock = client.lock().expect("lock");
    let start = Instant::now();
    for _ in 0..n {
        lock.acquire().expect("acquire");
        lock.release().expect("release");
    }
    start.elapsed() / n as u32
}

/// MB/s moving 1 MiB values: `set` then `get`, 200 times.
pub fn value_1mib(ctx: &Ctx) -> f64 {
    let n = ctx.n(200).max(10);
    let client = ctx.client();
    // Each round sets the value the last one got back, as the floor's client sends the
    // buffer it read: cloning one to keep would add a 1 MiB copy that is the
    // benchmark's, not the manager's.
    let mut payload = manager_client::Bytes::from(vec![7u8; 1 << 20]);
    let v = client.value(payload.clone()).expect("value");
    let start = Instant::now();
    for _ in 0..n {
        v.set(payload).expect("set");
        payload = v.get().expect("get");
        assert_eq!(payload.len(), 1 << 20);
    }
    (2 * n * (1 << 20)) as f64 / 1e6 / start.elapsed().as_secs_f64()
}

/// Per-connect time of connecting and authenticating (then closing).
pub fn connect(ctx: &Ctx) -> Duration {
    let n = ctx.n(200).max(20);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let start = Instant::now();
        for _ in 0..n {
            let c = manager_client::Client::connect_with(ctx.address.as_str(), &ctx.key, &ctx.options)
                .await
                .expect("connect");
            drop(c);
        }
        start.elapsed() / n as u32
    })
}

/// Calls per second with `depth` calls in flight on one connection.
pub fn pipelined(ctx: &Ctx, depth: usize) -> f64 {
    let n = ctx.n(200_000);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let client =
            manager_client::Client::connect_with(ctx.address.as_str(), &ctx.key, &ctx.options).await.expect("connect");
        let c = CounterProxy::create(&client, 0).await.expect("create");
        let start = Instant::now();
        let per = n / depth;
        let tasks: Vec<_> = (0..depth)
            .map(|_| {
                let c = c.clone();
                tokio::spawn(async move {
                    for _ in 0..per {
                        c.incr(1).await.expect("incr");
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("task");
        }
        (per * depth) as f64 / start.elapsed().as_secs_f64()
    })
}

/// Keys removed per second draining a dict of a million keys in insertion order (the
/// order that made an order-keeping removal shift every later key), 64 removals in
/// flight.
pub fn dict_drain(ctx: &Ctx) -> f64 {
    let n = ctx.n(1_000_000) as u64;
    let depth = 64u64;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let client =
            manager_client::Client::connect_with(ctx.address.as_str(), &ctx.key, &ctx.options).await.expect("connect");
        let d = client.dict::<u64, u64>().await.expect("dict");
        let batch = 10_000u64;
        for start in (0..n).step_by(batch as usize) {
            d.update((start..(start + batch).min(n)).map(|k| (k, k)).collect()).await.expect("update");
        }
        let started = Instant::now();
        let per = n / depth;
        let tasks: Vec<_> = (0..depth)
            .map(|t| {
                let d = d.clone();
                // Task t removes keys t, t + depth, t + 2 * depth, ...: together, the
                // oldest key first.
                tokio::spawn(async move {
                    for i in 0..per {
                        d.pop(&(i * depth + t)).await.expect("pop");
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("task");
        }
        let rate = (per * depth) as f64 / started.elapsed().as_secs_f64();
        assert_eq!(d.len().await.expect("len") as u64, n - per * depth);
        rate
    })
}

/// Items per second from a producer process to a consumer process through a queue,
/// ending with a sentinel. `batched`: the producer puts in batches and the consumer
/// gets in batches; otherwise one item per call, the classic loop.
pub fn queue(ctx: &Ctx, items: usize, batched: bool) -> f64 {
    let client = ctx.client();
    let q = client.queue::<Option<u64>>(0).expect("queue");
    let barrier = client.barrier(3).expect("barrier");
    let done = client.event().expect("event");
    let id = run_id();
    client.bind_name(&format!("q-{id}"), &q).expect("bind");
    client.bind_name(&format!("start-{id}"), &barrier).expect("bind");
    client.bind_name(&format!("done-{id}"), &done).expect("bind");
    let mode = if batched { "batched" } else { "sequential" };
    let mut consumer = ctx.helper(&["consumer", mode, &id]);
    let mut producer = ctx.helper(&["producer", &items.to_string(), mode, &id]);
    barrier.wait().expect("barrier");
    let start = Instant::now();
    done.wait().expect("done");
    let elapsed = start.elapsed();
    let _ = producer.wait();
    let _ = consumer.wait();
    items as f64 / elapsed.as_secs_f64()
}

/// Helper role: the producer.
pub fn producer(items: usize, batched: bool, id: &str) {
    let client = env_client();
    let q: blocking::QueueProxy<Option<u64>> = client.named(&format!("q-{id}")).expect("q");
    let barrier: blocking::BarrierProxy = client.named(&format!("start-{id}")).expect("start");
    barrier.wait().expect("wait");
    if batched {
        let all: Vec<Option<u64>> = (0..items as u64).map(Some).collect();
        for chunk in all.chunks(1000) {
            q.put_many(chunk.to_vec()).expect("put_many");
        }
    } else {
        for i in 0..items as u64 {
            q.put(Some(i)).expect("put");
        }
    }
    q.put(None).expect("sentinel");
}

/// Helper role: the consumer.
pub fn consumer(batched: bool, id: &str) {
    let client = env_client();
    let q: blocking::QueueProxy<Option<u64>> = client.named(&format!("q-{id}")).expect("q");
    let barrier: blocking::BarrierProxy = client.named(&format!("start-{id}")).expect("start");
    let done: blocking::EventProxy = client.named(&format!("done-{id}")).expect("done");
    barrier.wait().expect("wait");
    let mut n = 0u64;
    if batched {
        'outer: loop {
            for v in q.get_many(1000, None).expect("get_many") {
                if v.is_none() {
                    break 'outer;
                }
                n += 1;
            }
        }
    } else {
        while q.get().expect("get").is_some() {
            n += 1;
        }
    }
    let _ = n;
    done.set().expect("set");
}

/// Memory and scale: server bytes per idle connection and per small object, and calls
/// per second with 100 connections at once.
pub fn memory_and_scale(ctx: &Ctx, server_pid: u32) -> (f64, f64, f64) {
    let rss = || -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{server_pid}/status")).unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            * 1024.0
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let connect = || manager_client::Client::connect(ctx.address.as_str(), &ctx.key);
        // Idle connections.
        let before = rss();
        let mut idle = Vec::new();
        for _ in 0..200 {
            idle.push(connect().await.expect("connect"));
        }
        let _ = idle[0].ping().await;
        let per_connection = (rss() - before) / 200.0;
        // Small objects: 100,000 counters (at least 20,000 even at smoke scale: a few
        // hundred kilobytes can come wholly from memory the allocator kept from earlier
        // workloads, and read as zero growth).
        let n = ctx.n(100_000).max(20_000);
        let client = connect().await.expect("connect");
        let before = rss();
        let mut objects = Vec::with_capacity(n);
        let mut in_flight = Vec::new();
        for _ in 0..n {
            in_flight.push(CounterProxy::create(&client, 0));
            if in_flight.len() == 256 {
                for c in futures_join(std::mem::take(&mut in_flight)).await {
                    objects.push(c);
                }
            }
        }
        for c in futures_join(in_flight).await {
            objects.push(c);
        }
        let per_object = (rss() - before) / n as f64;
        drop(objects);
        drop(idle);
        // 100 connections at once.
        let mut counters = Vec::new();
        for _ in 0..100 {
            let c = connect().await.expect("connect");
            let counter = CounterProxy::create(&c, 0).await.expect("create");
            counters.push((c, counter));
        }
        let per = ctx.n(2000);
        let start = Instant::now();
        let tasks: Vec<_> = counters
            .into_iter()
            .map(|(c, counter)| {
                tokio::spawn(async move {
                    for _ in 0..per {
                        counter.incr(1).await.expect("incr");
                    }
                    drop(c);
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("task");
        }
        let rate = (100 * per) as f64 / start.elapsed().as_secs_f64();
        (per_connection, per_object, rate)
    })
}

async fn futures_join<F: std::future::Future<Output = Result<T, manager_client::Error>>, T>(fs: Vec<F>) -> Vec<T> {
    let mut out = Vec::with_capacity(fs.len());
    let handles: Vec<_> = fs.into_iter().map(Box::pin).collect();
    for h in handles {
        out.push(h.await.expect("create"));
    }
    let _ = <CounterProxy as Proxy>::shared_type_id;
    out
}
