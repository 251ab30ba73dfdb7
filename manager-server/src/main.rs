//! `manager-server`: a standalone manager hosting the built-in types for any client.
//!
//! ```text
//! manager-server --listen tcp://127.0.0.1:5000 --authkey-file key.hex --named dict:config --named queue:jobs
//! ```
//!
//! Built only with the crate's `cli` feature, which brings its dependencies (clap,
//! tracing-subscriber, tokio's multi-threaded runtime and signals):
//! `cargo run --release -p manager-server --features cli -- --help`.

use clap::Parser;
use manager_server::{Address, AuthKey, Builtin, Server};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A standalone manager server: hosts dicts, lists, queues, locks and the other
/// built-in shared types for clients in other processes and on other hosts.
///
/// Clients connect with the address it prints and the key; objects named with --named
/// are there from the start (`client.named("jobs")`), others are created by clients.
/// SIGINT or SIGTERM shuts it down gracefully: calls in flight are answered with a
/// shutting-down error, Unix socket files are removed. Whatever the server is doing, the
/// process is gone within the shutdown grace plus a second; a second signal ends it at
/// once.
#[derive(Debug, Parser)]
#[command(name = "manager-server", version)]
struct Args {
    /// Listen on TCP at tcp://HOST:PORT (repeatable). PORT 0 picks a free port. With
    /// neither --listen nor --unix, listens on tcp://127.0.0.1:0. A listener on an
    /// address other than loopback needs a key from --authkey-file or MANAGER_AUTHKEY
    /// (TCP is authenticated but not encrypted: see the server crate's docs).
    #[arg(long = "listen", value_name = "tcp://HOST:PORT")]
    listen: Vec<String>,

    /// Listen on a Unix socket at PATH (repeatable); the file is created owner-only
    /// (0600) and removed at shutdown.
    #[arg(long = "unix", value_name = "PATH")]
    unix: Vec<PathBuf>,

    /// Read the key (hex) from PATH. Otherwise the key comes from the MANAGER_AUTHKEY
    /// environment variable (hex), or --generate-authkey.
    #[arg(long, value_name = "PATH", conflicts_with = "generate_authkey")]
    authkey_file: Option<PathBuf>,

    /// Make a fresh random key, write it (hex) to PATH (created owner-only; an existing
    /// file is not overwritten) and use it. For loopback and Unix listeners only.
    #[arg(long, value_name = "PATH")]
    generate_authkey: Option<PathBuf>,

    /// Create a built-in object at start-up under a name (repeatable), as KIND:NAME or
    /// KIND:NAME:ARG. Kinds: dict, list, set, namespace, queue[:MAXSIZE],
    /// joinable_queue[:MAXSIZE], lock, rlock, semaphore[:N], bounded_semaphore[:N],
    /// condition, event, barrier:PARTIES.
    #[arg(long = "named", value_name = "KIND:NAME[:ARG]")]
    named: Vec<String>,

    /// Log level: error, warn, info, debug or trace (logs go to stderr).
    #[arg(long, value_name = "LEVEL", default_value = "info")]
    log_level: String,

    /// Obey shutdown requests from clients (off by default: any client holding the key
    /// could stop the server).
    #[arg(long)]
    allow_remote_shutdown: bool,

    /// Most simultaneous connections; beyond it new ones are refused with a message.
    #[arg(long, value_name = "N", default_value_t = 4096)]
    max_connections: usize,

    /// Largest frame accepted or sent, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 64 * 1024 * 1024)]
    max_frame_size: usize,

    /// Most memory one request may make the server store (the elements one call adds
    /// to an object, plus a fixed cost per element); default: twice --max-frame-size.
    #[arg(long, value_name = "BYTES")]
    max_request_memory: Option<usize>,

    /// Seconds a peer has to authenticate before it is dropped.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    handshake_timeout: f64,

    /// Seconds shutdown waits for connections to answer their parked calls and close;
    /// past it (and one more second) the process exits anyway.
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0)]
    shutdown_grace: f64,

    /// Most parked calls per connection before the server stops reading from it.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    max_in_flight: usize,

    /// Seconds the server holds an object after a client minted a token for it, so the
    /// token can reach another process and be attached after the sender dropped its
    /// proxy. A whole number from 1 to 86400.
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = parse_lease)]
    token_lease: Duration,
}

/// `--token-lease`: whole seconds, 1 to a day.
fn parse_lease(text: &str) -> Result<Duration, String> {
    let secs: u64 = text.trim().parse().map_err(|_| format!("`{text}` is not a whole number of seconds"))?;
    if !(1..=86_400).contains(&secs) {
        return Err(format!("{secs} s is out of range: a token lease is 1 to 86400 seconds"));
    }
    Ok(Duration::from_secs(secs))
}

fn main() -> ExitCode {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let grace = Duration::from_secs_f64(if args.shutdown_grace.is_finite() {
        args.shutdown_grace.clamp(0.0, 3600.0)
    } else {
        5.0
    });
    let stop = CancellationToken::new();
    if let Err(e) = watch_signals(stop.clone(), grace) {
        eprintln!("manager-server: cannot watch signals: {e}");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("manager-server: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(run(args, stop, grace));
    // A call that never yields would keep a worker thread busy for ever, and dropping
    // the runtime would wait for it: leave such a thread behind, the process is ending.
    runtime.shutdown_timeout(Duration::from_millis(500));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("manager-server: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Watches SIGINT and SIGTERM on a thread of its own, with its own small runtime, so a
/// signal is heard however busy the server's threads are. The first one cancels `stop`
/// (a graceful shutdown); if the process is still running `grace` and a second later,
/// or at a second signal, it exits.
fn watch_signals(stop: CancellationToken, grace: Duration) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    // Registered before the server starts, so no signal in between is missed.
    let (mut term, mut int) = rt.block_on(async {
        Ok::<_, std::io::Error>((signal(SignalKind::terminate())?, signal(SignalKind::interrupt())?))
    })?;
    std::thread::Builder::new().name("signals".into()).spawn(move || {
        rt.block_on(async move {
            let name = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            };
            tracing::info!("{name}: shutting down");
            stop.cancel();
            tokio::select! {
                () = tokio::time::sleep(grace + Duration::from_secs(1)) => {
                    tracing::error!("still running {grace:?} after {name}: exiting without finishing the shutdown");
                }
                _ = term.recv() => tracing::warn!("SIGTERM again: exiting now"),
                _ = int.recv() => tracing::warn!("SIGINT again: exiting now"),
            }
            std::process::exit(1);
        });
    })?;
    Ok(())
}

async fn run(args: Args, stop: CancellationToken, grace: Duration) -> Result<(), String> {
    let mut addresses: Vec<Address> = Vec::new();
    for l in &args.listen {
        addresses.push(l.parse::<Address>().map_err(|e| e.to_string())?);
    }
    addresses.extend(args.unix.iter().cloned().map(Address::Unix));
    if addresses.is_empty() {
        addresses.push(Address::Tcp("127.0.0.1:0".into()));
    }
    let (key, explicit) = authkey(&args)?;
    for a in &addresses {
        if let Address::Tcp(hostport) = a
            && !is_loopback(hostport).await?
            && !explicit
        {
            return Err(format!(
                "{a} is reachable from other hosts: give a key with --authkey-file or MANAGER_AUTHKEY (a generated \
                     key is for loopback and Unix sockets), and see the server docs on running across hosts"
            ));
        }
    }
    let mut builder = Server::builder()
        .authkey_value(key)
        .allow_remote_shutdown(args.allow_remote_shutdown)
        .max_connections(args.max_connections)
        .max_frame_size(args.max_frame_size)
        .max_in_flight(args.max_in_flight)
        .shutdown_grace(grace)
        .token_lease(args.token_lease)
        .handshake_timeout(Duration::from_secs_f64(args.handshake_timeout.max(0.001)));
    if let Some(bytes) = args.max_request_memory {
        builder = builder.max_request_memory(bytes);
    }
    for a in &addresses {
        builder = builder.listen(a);
    }
    for spec in &args.named {
        let (name, builtin) = parse_named(spec)?;
        builder = builder.named_builtin(name, builtin);
    }
    let server = builder.start().await.map_err(|e| e.to_string())?;
    {
        let mut out = std::io::stdout().lock();
        for a in server.addresses() {
            let _ = writeln!(out, "listening on {a}");
        }
        let _ = out.flush();
    }
    tokio::select! {
        () = stop.cancelled() => {}
        () = server.stopped() => tracing::info!("shutdown requested by a client"),
    }
    server.shutdown().await;
    Ok(())
}

/// The key, and whether the operator supplied it (rather than asking us to make one).
fn authkey(args: &Args) -> Result<(AuthKey, bool), String> {
    if let Some(path) = &args.authkey_file {
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("cannot read the key file {}: {e}", path.display()))?;
        let key = AuthKey::from_hex(&text).map_err(|e| format!("the key file {}: {e}", path.display()))?;
        return Ok((key, true));
    }
    if let Some(path) = &args.generate_authkey {
        use std::os::unix::fs::OpenOptionsExt;
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| format!("no randomness for a key: {e}"))?;
        let key = AuthKey::new(bytes).map_err(|e| e.to_string())?;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| format!("cannot create the key file {} (it must not exist yet): {e}", path.display()))?;
        writeln!(file, "{}", key.to_hex()).map_err(|e| format!("cannot write the key file: {e}"))?;
        return Ok((key, false));
    }
    match std::env::var("MANAGER_AUTHKEY") {
        Ok(hex) => Ok((AuthKey::from_hex(&hex).map_err(|e| format!("MANAGER_AUTHKEY: {e}"))?, true)),
        Err(_) => {
            Err("no key: give --authkey-file PATH, set MANAGER_AUTHKEY (hex), or use --generate-authkey PATH".into())
        }
    }
}

async fn is_loopback(hostport: &str) -> Result<bool, String> {
    let addrs: Vec<_> =
        tokio::net::lookup_host(hostport).await.map_err(|e| format!("cannot resolve {hostport}: {e}"))?.collect();
    Ok(!addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback()))
}

fn parse_named(spec: &str) -> Result<(String, Builtin), String> {
    let bad =
        |why: &str| format!("--named {spec}: {why} (expected KIND:NAME[:ARG], e.g. dict:config or queue:jobs:100)");
    let mut parts = spec.splitn(3, ':');
    let kind = parts.next().unwrap_or_default();
    let name = parts.next().filter(|n| !n.is_empty()).ok_or_else(|| bad("no name"))?;
    let arg = parts.next();
    let number = |default: Option<u64>| -> Result<u64, String> {
        match (arg, default) {
            (Some(a), _) => a.parse().map_err(|_| bad("the argument must be a whole number")),
            (None, Some(d)) => Ok(d),
            (None, None) => Err(bad("this kind needs an argument")),
        }
    };
    let no_arg = |b: Builtin| if arg.is_some() { Err(bad("this kind takes no argument")) } else { Ok(b) };
    let builtin = match kind {
        "dict" => no_arg(Builtin::Dict)?,
        "list" => no_arg(Builtin::List)?,
        "set" => no_arg(Builtin::Set)?,
        "namespace" => no_arg(Builtin::Namespace)?,
        "queue" => Builtin::Queue { maxsize: number(Some(0))? },
        "joinable_queue" => Builtin::JoinableQueue { maxsize: number(Some(0))? },
        "lock" => no_arg(Builtin::Lock)?,
        "rlock" => no_arg(Builtin::RLock)?,
        "semaphore" => Builtin::Semaphore(number(Some(1))?),
        "bounded_semaphore" => Builtin::BoundedSemaphore(number(Some(1))?),
        "condition" => no_arg(Builtin::Condition)?,
        "event" => no_arg(Builtin::Event)?,
        "barrier" => Builtin::Barrier { parties: number(None)?, timeout: None },
        _ => return Err(bad("unknown kind")),
    };
    Ok((name.to_owned(), builtin))
}
