//! Drives `N` sequential `incr` calls at a running server (for profiling the server
//! under a tool such as callgrind or perf):
//!
//! ```text
//! MANAGER_ADDRESS=unix:/tmp/m.sock MANAGER_AUTHKEY=<hex> cargo run --release --example profile_calls -- 20000
//! ```
//!
//! With `serve ADDRESS` it is the server instead (key from `MANAGER_AUTHKEY`), so either
//! side can run under the profiler; `RUNTIME=current` or `RUNTIME=N` picks its tokio
//! runtime (a current-thread one, or N workers). `DEPTH=64` keeps 64 calls in flight on
//! the one connection instead of calling one at a time. `BULK=1` instead sets then gets
//! a 1 MiB value `N` times (the benchmark's 1 MiB workload) and prints MB/s; `CONNECT=1`
//! connects and authenticates `N` times (async client, as the benchmark does); `LOCK=1`
//! makes `N` lock acquire + release pairs; `DICT=1` makes `N` dict inserts, then `N`
//! gets (the benchmark's dict workload; `KEYS=K` cycles through `K` keys instead).
//! `SPIN_US=S` sets the blocking client's low-latency poll (`ClientOptions::spin`) to `S` µs.
//! `SHM=1` connects over shared memory (`ClientOptions::shared_memory`; the server role
//! always allows it); `BUSY_US=S` gives the server role a `busy_poll` of `S` µs.
//! With `--stop` the client shuts the server down when done (incr and `DEPTH` runs), so a
//! profiler around the server writes its data.

use integration_tests::{Counter, CounterBlockingProxy};
use manager_client::blocking::Client;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("serve") {
        let address = args.get(2).ok_or("serve ADDRESS")?;
        let key = manager_client::AuthKey::from_hex(&std::env::var("MANAGER_AUTHKEY")?)?;
        let rt = match std::env::var("RUNTIME").as_deref() {
            Ok("current") => tokio::runtime::Builder::new_current_thread().enable_all().build()?,
            Ok(n) if n.parse::<usize>().is_ok() => {
                tokio::runtime::Builder::new_multi_thread().worker_threads(n.parse()?).enable_all().build()?
            }
            _ => tokio::runtime::Runtime::new()?,
        };
        return rt.block_on(async {
            let server = manager_server::Server::builder()
                .listen(&address.parse()?)
                .authkey_value(key)
                .register::<Counter>()
                .allow_remote_shutdown(true)
                .shared_memory(true)
                .busy_poll(std::time::Duration::from_micros(
                    std::env::var("BUSY_US").ok().and_then(|s| s.parse().ok()).unwrap_or(0),
                ))
                .start()
                .await?;
            println!("LISTENING {}", server.address());
            server.serve_forever().await?;
            Ok(())
        });
    }
    let n: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(20_000);
    if let Some(depth) = std::env::var("DEPTH").ok().and_then(|d| d.parse::<u64>().ok()) {
        return in_flight(n, depth.max(1), args.iter().any(|a| a == "--stop"));
    }
    if std::env::var_os("CONNECT").is_some() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let address = std::env::var("MANAGER_ADDRESS")?;
        let key = manager_client::AuthKey::from_hex(&std::env::var("MANAGER_AUTHKEY")?)?;
        let start = std::time::Instant::now();
        rt.block_on(async {
            for _ in 0..n {
                drop(manager_client::Client::connect(address.as_str(), &key).await?);
            }
            Ok::<_, manager_client::Error>(())
        })?;
        println!("{n} connects, {:?} per call", start.elapsed() / n as u32);
        return Ok(());
    }
    let spin: u64 = std::env::var("SPIN_US").ok().and_then(|s| s.parse().ok()).unwrap_or(0);
    let shared_memory = std::env::var_os("SHM").is_some();
    let options = manager_client::ClientOptions {
        spin: std::time::Duration::from_micros(spin),
        shared_memory,
        ..Default::default()
    };
    let client = Client::connect_with(
        std::env::var("MANAGER_ADDRESS")?.as_str(),
        manager_client::AuthKey::from_hex(&std::env::var("MANAGER_AUTHKEY")?)?.as_bytes(),
        &options,
    )?;
    if std::env::var_os("BULK").is_some() {
        // Each round sets the value the last one got back: no copy of the caller's own.
        let mut payload = manager_client::Bytes::from(vec![7u8; 1 << 20]);
        let v = client.value(payload.clone())?;
        let start = std::time::Instant::now();
        for _ in 0..n {
            v.set(payload)?;
            payload = v.get()?;
            assert_eq!(payload.len(), 1 << 20);
        }
        let mbs = (2 * n * (1 << 20)) as f64 / 1e6 / start.elapsed().as_secs_f64();
        println!("{n} x 1 MiB set + get: {mbs:.0} MB/s");
        return Ok(());
    }
    if std::env::var_os("DICT").is_some() {
        let d = client.dict::<u32, u32>()?;
        let keys: u32 = std::env::var("KEYS").ok().and_then(|k| k.parse().ok()).unwrap_or(u32::MAX);
        let start = std::time::Instant::now();
        for i in 0..n as u32 {
            d.insert(i % keys, i)?;
        }
        let inserts = start.elapsed();
        for i in 0..n as u32 {
            d.get(&(i % keys))?;
        }
        let all = start.elapsed();
        println!(
            "{n} dict inserts + gets, {:?} per call ({:?} per insert, {:?} per get)",
            all / (2 * n) as u32,
            inserts / n as u32,
            (all - inserts) / n as u32
        );
        return stop_if_asked(&client, &args);
    }
    if std::env::var_os("LOCK").is_some() {
        let lock = client.lock()?;
        let start = std::time::Instant::now();
        for _ in 0..n {
            lock.acquire()?;
            lock.release()?;
        }
        println!("{n} lock pairs, {:?} per pair", start.elapsed() / n as u32);
        return stop_if_asked(&client, &args);
    }
    let c = CounterBlockingProxy::create(&client, 0)?;
    let start = std::time::Instant::now();
    for _ in 0..n {
        c.incr(1)?;
    }
    let per = start.elapsed() / n as u32;
    println!("{n} calls, {per:?} per call");
    stop_if_asked(&client, &args)
}

/// With `--stop`, shuts the server down (so that a profiler running it writes its
/// figures).
fn stop_if_asked(client: &manager_client::blocking::Client, args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    if args.iter().any(|a| a == "--stop") {
        client.shutdown_server()?;
    }
    Ok(())
}

/// `n` calls, `depth` of them in flight at once, from one current-thread runtime.
fn in_flight(n: u64, depth: u64, stop: bool) -> Result<(), Box<dyn std::error::Error>> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        let client = manager_client::Client::from_env().await?;
        let c = integration_tests::CounterProxy::create(&client, 0).await?;
        let start = std::time::Instant::now();
        let tasks: Vec<_> = (0..depth)
            .map(|_| {
                let c = c.clone();
                tokio::spawn(async move {
                    for _ in 0..n / depth {
                        c.incr(1).await?;
                    }
                    Ok::<_, manager_client::Error>(())
                })
            })
            .collect();
        for t in tasks {
            t.await??;
        }
        let calls = n / depth * depth;
        println!("{calls} calls, {depth} in flight: {:.0} calls/s", calls as f64 / start.elapsed().as_secs_f64());
        if stop {
            client.shutdown_server().await?;
        }
        Ok(())
    })
}
