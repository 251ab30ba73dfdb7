//! The worker process the integration tests spawn: each subcommand is one role a
//! separate process plays against a manager (`worker <command> [args..]`). Unless a
//! command says otherwise, it finds the server through `MANAGER_ADDRESS` and
//! `MANAGER_AUTHKEY`.

use integration_tests::typing::meter_b;
use integration_tests::{Counter, CounterBlockingProxy, CounterProxy, token_from_hex, token_to_hex};
use manager_client::blocking;
use manager_client::{Client, RemoteErrorKind};
use manager_server::Server;
use std::io::BufRead;
use std::path::Path;
use std::time::{Duration, Instant};

#[path = "worker/cycles.rs"]
mod cycles;
#[path = "worker/interface.rs"]
mod interface;
#[path = "worker/misuse.rs"]
mod misuse;
#[path = "worker/netclient.rs"]
mod netclient;
#[path = "worker/shm.rs"]
mod shm;
#[path = "worker/streams.rs"]
mod streams;
#[path = "worker/travel.rs"]
mod travel;
#[path = "worker/watching.rs"]
mod watching;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() {
    // A pool's worker runs its tasks here and exits.
    manager_client::serve_jobs(integration_tests::jobs::all());
    integration_tests::init_logging();
    watchdog();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["incr", name, times] => incr(name, times.parse().unwrap_or(0)),
        ["serve", file] => serve(Path::new(file)),
        ["use-named", file, name] => use_named(Path::new(file), name),
        ["hold", n] => hold(n.parse().unwrap_or(0)),
        ["attach"] => attach(),
        ["child-server"] => child_server(),
        ["hold-lock", token] => hold_lock(token),
        ["hold-all"] => hold_all(),
        ["call-loop", name] => call_loop(name),
        ["serve-at", address] => serve_at(address),
        ["produce", name, start, count] => produce(name, start.parse().unwrap_or(0), count.parse().unwrap_or(0)),
        ["consume", name, out] => consume(name, Path::new(out)),
        ["hammer", n] => hammer(n.parse().unwrap_or(0)),
        ["pipe-produce", address, n] => pipe_role(address, Some(n.parse().unwrap_or(0))),
        ["pipe-consume", address] => pipe_role(address, None),
        ["block-get", token] => block_get(token),
        ["get-and-hang", token] => get_and_hang(token),
        ["block-barrier", token] => block_barrier(token),
        ["inherit-append", name, value, delay_ms, flavor] => {
            travel::inherit_append(name, value.parse().unwrap_or(0), delay_ms.parse().unwrap_or(0), flavor)
        }
        ["inherit", name] => travel::inherit(name),
        ["pool-serve", name] => pool_serve(name),
        ["pool-submit", name] => pool_submit(name),
        ["pool-hang", name, n] => pool_hang(name, n.parse().unwrap_or(0)),
        ["shm-rw", name] => shm::read_write(name),
        ["shm-list", name] => shm::list(name),
        ["shm-hold"] => shm::hold(None),
        ["shm-hold", token] => shm::hold(Some(token)),
        ["shm-map", token] => shm::map(token),
        ["mint-and-hang"] => travel::mint_and_hang(),
        ["watch-and-hang", name] => watching::watch_and_hang(name),
        ["open-as", kind, name] => open_as(kind, name),
        ["create-meter-b", name] => create_meter_b(name),
        ["accounts", name] => accounts(name),
        ["make-cycles", n, then] => cycles::make_cycles(n.parse().unwrap_or(0), then),
        ["iface-use", name] => interface::use_counter(name),
        ["iface-older", name] => interface::use_older(name),
        ["misuse", flavor] => misuse::misuse(flavor),
        ["net-client", address, keepalive_ms] => netclient::net_client(address, keepalive_ms.parse().unwrap_or(10_000)),
        ["squares", name, n] => streams::squares(name, n.parse().unwrap_or(0)),
        other => Err(format!("unknown worker command {other:?}").into()),
    };
    if let Err(e) = result {
        eprintln!("worker: {e}");
        std::process::exit(1);
    }
}

/// Exits the worker after `WORKER_DEADLINE_SECS` (default 300): a test that goes wrong
/// fails with a message instead of leaving a worker blocked forever (and CI with it).
fn watchdog() {
    let secs = std::env::var("WORKER_DEADLINE_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(300);
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(secs));
        eprintln!("worker {}: still running after {secs} s; exiting", std::process::id());
        std::process::exit(3);
    });
}

/// `pool-serve NAME`: joins the pool bound to NAME as a worker started by hand (as on
/// another host), until the pool is closed and drained.
fn pool_serve(name: &str) -> Result {
    manager_client::run_worker(integration_tests::jobs::all(), name, None)?;
    Ok(())
}

/// `pool-submit NAME`: another client process maps `square` over 0..10 on the pool
/// bound to NAME (blocking API); prints the outputs.
fn pool_submit(name: &str) -> Result {
    let client = blocking::Client::from_env()?;
    let pool = blocking::PoolProxy::named(&client, name)?;
    println!("{:?}", pool.map::<integration_tests::jobs::square>(0..10)?);
    Ok(())
}

/// `pool-hang NAME N`: submits N `square` tasks to the pool bound to NAME and waits
/// for ever (the test kills it).
fn pool_hang(name: &str, n: u64) -> Result {
    let client = blocking::Client::from_env()?;
    let pool = blocking::PoolProxy::named(&client, name)?;
    let results: Vec<_> = (0..n).map(|i| pool.apply_async::<integration_tests::jobs::square>(i)).collect();
    for r in results {
        r.get(None)?;
    }
    Ok(())
}

/// `accounts NAME`: against the named account (100 in it): a refused opening, a split
/// into a new shared account, absorbing it back through a proxy argument, and a result
/// of an unregistered type; prints each outcome.
fn accounts(name: &str) -> Result {
    use integration_tests::accounts::AccountBlockingProxy;
    let client = blocking::Client::from_env()?;
    if let Err(e) = AccountBlockingProxy::create(&client, -1)? {
        println!("refused: {e:?}");
    }
    let main: AccountBlockingProxy = client.named(name)?;
    let part = main.split(40)?.map_err(|e| e.to_string())?;
    println!("split: {} left {}", part.balance()?, main.balance()?);
    let absorbed = main.absorb(part.as_async().clone())?.map_err(|e| e.to_string())?;
    println!("absorbed: {absorbed}");
    match main.receipt() {
        Ok(_) => println!("unregistered: hosted anyway"),
        Err(e) => println!("unregistered: {}", e.remote_kind().map_or_else(|| e.to_string(), |k| format!("{k:?}"))),
    }
    Ok(())
}

/// `incr NAME TIMES`: increments the named counter by 1, TIMES times, through the
/// blocking client; prints the last value it saw.
fn incr(name: &str, times: u64) -> Result {
    let client = blocking::Client::from_env()?;
    let counter: CounterBlockingProxy = client.named(name)?;
    let mut last = 0;
    for _ in 0..times {
        last = counter.incr(1)?;
    }
    println!("{last}");
    Ok(())
}

/// `serve FILE`: runs a server on a free TCP port hosting a counter named `shared`, and
/// writes its address and key to FILE for unrelated processes. Serves until a client
/// shuts it down.
fn serve(file: &Path) -> Result {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let server = Server::builder()
            .listen_tcp("127.0.0.1:0")
            .register::<Counter>()
            .named("shared", Counter::new(0))
            .allow_remote_shutdown(true)
            .start()
            .await?;
        let tmp = file.with_extension("tmp");
        std::fs::write(&tmp, format!("{}\n{}\n", server.address(), server.authkey().to_hex()))?;
        std::fs::rename(&tmp, file)?;
        server.serve_forever().await?;
        Ok(())
    })
}

/// `use-named FILE NAME`: waits for FILE (written by `serve`), connects with what it
/// says, adds 5 to the named counter and prints the new value.
fn use_named(file: &Path, name: &str) -> Result {
    let deadline = Instant::now() + Duration::from_secs(20);
    let text = loop {
        if let Ok(text) = std::fs::read_to_string(file) {
            break text;
        }
        if Instant::now() > deadline {
            return Err("the address file never appeared".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut lines = text.lines();
    let (address, key) = (lines.next().unwrap_or(""), lines.next().unwrap_or(""));
    let key = manager_client::AuthKey::from_hex(key)?;
    let client = blocking::Client::connect(address, key)?;
    let counter: CounterBlockingProxy = client.named(name)?;
    println!("{}", counter.incr(5)?);
    Ok(())
}

/// `hold N`: creates N counters and takes the named `shared` one, prints `READY`, then
/// sleeps until killed.
fn hold(n: usize) -> Result {
    let client = blocking::Client::from_env()?;
    let mut held = Vec::new();
    for i in 0..n {
        held.push(CounterBlockingProxy::create(&client, i as u64)?);
    }
    let _named: CounterBlockingProxy = client.named("shared")?;
    println!("READY {}", held.len());
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// `attach`: reads a token (hex) from the first line of stdin, attaches it, and then
/// obeys one command per line: `incr` (prints the new value), `drop` (drops the
/// proxy, prints `DROPPED`), `exit`.
fn attach() -> Result {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let client = rt.block_on(Client::from_env())?;
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let token = token_from_hex(&lines.next().ok_or("no token on stdin")??)?;
    let mut proxy: Option<CounterProxy> = Some(rt.block_on(client.attach(&token))?);
    println!("ATTACHED {}", token_to_hex(&token));
    for line in lines {
        match line?.trim() {
            "incr" => {
                let p = proxy.as_ref().ok_or("already dropped")?;
                println!("{}", rt.block_on(p.incr(1))?);
            }
            "drop" => {
                proxy = None;
                // A round trip after the drop, so the release has surely been sent.
                rt.block_on(client.ping())?;
                println!("DROPPED");
            }
            "exit" => break,
            other => return Err(format!("unknown command {other:?}").into()),
        }
    }
    drop(proxy);
    Ok(())
}

/// `hold-lock TOKEN`: takes the lock the token names, prints `HELD`, and sleeps until
/// killed — never releasing it.
fn hold_lock(token: &str) -> Result {
    let client = blocking::Client::from_env()?;
    let lock: blocking::LockProxy = client.attach(&token_from_hex(token)?)?;
    lock.acquire()?;
    println!("HELD");
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// `hold-all`: takes the named `lock`, the named `rlock` twice, a permit of the named
/// `sem` and the named `cond`'s lock, prints `HELD`, and sleeps until killed.
fn hold_all() -> Result {
    let client = blocking::Client::from_env()?;
    let lock: blocking::LockProxy = client.named("lock")?;
    let rlock: blocking::RLockProxy = client.named("rlock")?;
    let sem: blocking::SemaphoreProxy = client.named("sem")?;
    let cond: blocking::ConditionProxy = client.named("cond")?;
    lock.acquire()?;
    rlock.acquire()?;
    rlock.acquire()?;
    sem.acquire()?;
    cond.acquire()?;
    println!("HELD");
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// `call-loop NAME`: increments the named counter for ever, printing `RUNNING` after the
/// first call (to be killed mid-call).
fn call_loop(name: &str) -> Result {
    let client = blocking::Client::from_env()?;
    let counter: CounterBlockingProxy = client.named(name)?;
    counter.incr(1)?;
    println!("RUNNING");
    loop {
        counter.incr(1)?;
    }
}

/// `serve-at ADDRESS`: a server at ADDRESS (key from `MANAGER_AUTHKEY`) with a named
/// counter `counter` and a named queue `queue`, allowing remote shutdown; prints
/// `LISTENING` and serves until shut down or killed. `WORKER_ADAPTIVE_POLL_US` sets its
/// adaptive poll's cap.
fn serve_at(address: &str) -> Result {
    let rt = tokio::runtime::Runtime::new()?;
    let adaptive_poll = std::env::var("WORKER_ADAPTIVE_POLL_US").ok().and_then(|v| v.parse().ok());
    rt.block_on(async {
        let key = manager_client::AuthKey::from_hex(&std::env::var("MANAGER_AUTHKEY")?)?;
        let server = Server::builder()
            .adaptive_poll(Duration::from_micros(adaptive_poll.unwrap_or(0)))
            .listen(&address.parse()?)
            .authkey_value(key)
            .register::<Counter>()
            .named("counter", Counter::new(0))
            .named_builtin("queue", manager_server::Builtin::Queue { maxsize: 0 })
            .allow_remote_shutdown(true)
            .start()
            .await?;
        println!("LISTENING {}", server.address());
        server.serve_forever().await?;
        Ok(())
    })
}

/// `produce NAME START COUNT`: puts START..START+COUNT into the named queue, in batches.
fn produce(name: &str, start: u64, count: u64) -> Result {
    let client = blocking::Client::from_env()?;
    let queue: blocking::QueueProxy<u64> = client.named(name)?;
    let items: Vec<u64> = (start..start + count).collect();
    for chunk in items.chunks(500) {
        queue.put_many(chunk.to_vec())?;
    }
    Ok(())
}

/// `consume NAME FILE`: gets from the named queue in batches until the queue is shut
/// down and drained, writing every item (little-endian u64s) to FILE.
///
/// (Not a sentinel per consumer: one batch can hold several sentinels, and the consumers
/// that should have had them would then wait forever.)
fn consume(name: &str, out: &Path) -> Result {
    let client = blocking::Client::from_env()?;
    let queue: blocking::QueueProxy<u64> = client.named(name)?;
    let mut bytes = Vec::new();
    loop {
        match queue.get_many(1000, None) {
            Ok(batch) => batch.iter().for_each(|v| bytes.extend_from_slice(&v.to_le_bytes())),
            Err(e) if e.remote_kind() == Some(RemoteErrorKind::QueueShutDown) => break,
            Err(e) => return Err(e.into()),
        }
    }
    std::fs::write(out, bytes)?;
    Ok(())
}

/// `hammer N`: N times, adds 1 to the named value `total` and to this worker's key in
/// the named dict `per_worker`; prints how many of each were acknowledged.
fn hammer(n: u64) -> Result {
    let client = blocking::Client::from_env()?;
    let total: blocking::ValueProxy<u64> = client.named("total")?;
    let per: blocking::DictProxy<String, u64> = client.named("per_worker")?;
    let me = format!("pid{}", std::process::id());
    let mut acked = 0u64;
    for i in 1..=n {
        total.fetch_add(1)?;
        per.update(vec![(me.clone(), i)])?;
        acked += 1;
    }
    println!("{me} {acked}");
    Ok(())
}

/// `pipe-produce ADDRESS N` / `pipe-consume ADDRESS`: one item per call through the
/// named `queue` of the server at ADDRESS (key from `MANAGER_AUTHKEY`), with a keepalive
/// too long to rescue a lost wake-up. The consumer prints how many it got.
fn pipe_role(address: &str, produce: Option<u32>) -> Result {
    let key = manager_client::AuthKey::from_hex(&std::env::var("MANAGER_AUTHKEY")?)?;
    let options = manager_client::ClientOptions { keepalive: Duration::from_secs(600), ..Default::default() };
    let client = blocking::Client::connect_with(address, key, &options)?;
    let q: blocking::QueueProxy<Option<u32>> = client.named("queue")?;
    match produce {
        Some(n) => {
            for i in 0..n {
                q.put(Some(i))?;
            }
            q.put(None)?;
        }
        None => {
            let mut got = 0;
            while q.get()?.is_some() {
                got += 1;
            }
            println!("{got}");
        }
    }
    Ok(())
}

/// `block-get TOKEN`: prints `WAITING`, then blocks in `get` on the queue the token
/// names (to be killed there).
fn block_get(token: &str) -> Result {
    let client = blocking::Client::from_env()?;
    let queue: blocking::QueueProxy<String> = client.attach(&token_from_hex(token)?)?;
    println!("WAITING");
    let item = queue.get()?;
    println!("GOT {item}");
    Ok(())
}

/// `get-and-hang TOKEN`: like `block-get`, but then sleeps (until killed) without
/// another word to the server.
fn get_and_hang(token: &str) -> Result {
    let client = blocking::Client::from_env()?;
    let queue: blocking::QueueProxy<String> = client.attach(&token_from_hex(token)?)?;
    println!("WAITING");
    let item = queue.get()?;
    println!("GOT {item}");
    std::thread::sleep(Duration::from_secs(3600));
    Ok(())
}

/// `block-barrier TOKEN`: prints `WAITING`, then waits on the barrier the token names.
fn block_barrier(token: &str) -> Result {
    let client = blocking::Client::from_env()?;
    let barrier: blocking::BarrierProxy = client.attach(&token_from_hex(token)?)?;
    println!("WAITING");
    println!("PASSED {}", barrier.wait()?);
    Ok(())
}

/// `child-server`: starts a server as a child process of this one (Python's
/// `Manager().start()`), prints `CHILD <pid> <address> <key>`, and sleeps until killed.
/// Its start-up hook names a counter `started_in` holding the id of the process the
/// hook ran in.
fn child_server() -> Result {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let child = Server::builder()
            .register::<Counter>()
            .named("shared", Counter::new(7))
            .on_start(|s| s.named("started_in", Counter::new(u64::from(std::process::id()))))
            .spawn_child()
            .await?;
        println!("CHILD {} {} {}", child.pid().unwrap_or(0), child.address(), child.authkey().to_hex());
        tokio::time::sleep(Duration::from_secs(3600)).await;
        drop(child);
        Ok(())
    })
}

/// `open-as KIND NAME`: opens the named object as the proxy KIND names and uses it,
/// printing what it did, or `refused: ERROR` when the client refused the proxy. KIND:
/// `value-string` (sets it), `value-string-unchecked` (the same without the check; reads
/// it), `dict-i64` (reads key `k`), `queue-u64` (puts 7), `meter-b` (adds 1).
fn open_as(kind: &str, name: &str) -> Result {
    use manager_client::blocking::{DictProxy, QueueProxy, ValueProxy};
    let client = blocking::Client::from_env()?;
    let outcome: std::result::Result<String, manager_client::Error> = match kind {
        "value-string" => client.named::<ValueProxy<String>>(name).and_then(|v| {
            v.set("from the worker".into())?;
            Ok("set".into())
        }),
        "value-string-unchecked" => client.named_unchecked::<ValueProxy<String>>(name).and_then(|v| v.get()),
        "dict-i64" => client.named::<DictProxy<String, i64>>(name).and_then(|d| Ok(format!("{:?}", d.get("k")?))),
        "queue-u64" => client.named::<QueueProxy<u64>>(name).and_then(|q| {
            q.put(7)?;
            Ok("put".into())
        }),
        "meter-b" => client.named::<meter_b::MeterBlockingProxy>(name).and_then(|m| Ok(m.add(1)?.to_string())),
        other => return Err(format!("unknown proxy kind {other:?}").into()),
    };
    match outcome {
        Ok(done) => println!("{done}"),
        Err(e) => println!("refused: {e}"),
    }
    Ok(())
}

/// `create-meter-b NAME`: creates a meter as `meter_b` builds it and names it NAME,
/// printing what happened (`created`, or `refused: ERROR`).
fn create_meter_b(name: &str) -> Result {
    let client = blocking::Client::from_env()?;
    match meter_b::MeterBlockingProxy::create(&client) {
        Ok(meter) => {
            client.bind_name(name, &meter)?;
            println!("created");
        }
        Err(e) => println!("refused: {e}"),
    }
    Ok(())
}
