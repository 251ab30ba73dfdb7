//! `manager-server`: a standalone manager hosting the built-in types for any client.
//!
//! ```text
//! manager-server --listen tcp://127.0.0.1:5000 --authkey-file key.hex --named dict:config --named queue:jobs
//! ```
//!
//! Built only with the crate's `cli` feature, which brings its dependencies (clap,
//! tracing-subscriber, tokio's multi-threaded runtime and signals):
//! `cargo run --release -p manager-server --features cli -- --help`.

mod cli;

use clap::Parser;
use cli::{flags, key, named};
use manager_server::{Address, Builtin, Server, ServerTls};
use std::io::{IsTerminal, Write};
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
#[command(name = "manager-server", version, args_override_self = true)]
struct Args {
    /// Listen on TCP at tcp://HOST:PORT, or with TLS at tls://HOST:PORT (repeatable).
    /// PORT 0 picks a free port. With neither --listen nor --unix, listens on
    /// tcp://127.0.0.1:0. A listener on an address other than loopback needs a key from
    /// --authkey-file or MANAGER_AUTHKEY (tcp:// is authenticated but not encrypted;
    /// tls:// is both: see the server crate's docs). tls:// needs --tls-cert and --tls-key.
    #[arg(long = "listen", value_name = "tcp://HOST:PORT")]
    listen: Vec<String>,

    /// The certificate chain (PEM, the server's certificate first) that tls://
    /// listeners present. Needs --tls-key and a tls:// --listen.
    #[arg(long, value_name = "PATH", value_parser = flags::pem_certificates, requires = "tls_key")]
    tls_cert: Option<PathBuf>,

    /// The private key (PEM) of --tls-cert's certificate. Never logged.
    #[arg(long, value_name = "PATH", value_parser = flags::pem_key, requires = "tls_cert")]
    tls_key: Option<PathBuf>,

    /// Mutual TLS: clients must present a certificate signed by a CA in PATH (PEM).
    #[arg(long, value_name = "PATH", value_parser = flags::pem_certificates, requires = "tls_cert")]
    tls_client_ca: Option<PathBuf>,

    /// Listen on a Unix socket at PATH (repeatable); the file is created owner-only
    /// (0600) and removed at shutdown.
    #[arg(long = "unix", value_name = "PATH")]
    unix: Vec<PathBuf>,

    /// Read the key (hex) from PATH. Otherwise the key comes from the MANAGER_AUTHKEY
    /// environment variable (hex), or --generate-authkey. A file its group or others
    /// may read gets a warning in the log.
    #[arg(long, value_name = "PATH", conflicts_with = "generate_authkey")]
    authkey_file: Option<PathBuf>,

    /// Use the key (hex) in PATH, or if there is no such file make a fresh random key
    /// and write it there (owner-only, 0600), so the same command works again with the
    /// same key. A file that holds no key is an error, never overwritten. For loopback
    /// and Unix listeners only.
    #[arg(long, value_name = "PATH")]
    generate_authkey: Option<PathBuf>,

    /// Create a built-in object at start-up under a name (repeatable), as KIND:NAME or
    /// KIND:NAME:ARG. Kinds: dict, list, set, namespace, queue[:MAXSIZE],
    /// joinable_queue[:MAXSIZE], lock, rlock, semaphore[:N], bounded_semaphore[:N],
    /// condition, event, barrier:PARTIES, value:TYPE:VALUE, array:TYPE:LEN (LEN zeros)
    /// and array:TYPE:[ITEM,...]; TYPE is i8..i128, u8..u128, f32, f64, bool or str,
    /// the type a client then reads it as (`client.named::<ValueProxy<i64>>`).
    /// Examples: dict:config, queue:jobs:100, barrier:start:3, value:counter:i64:0,
    /// value:greeting:str:hello, array:samples:f64:8, array:ids:u32:[1,2,3].
    #[arg(long = "named", value_name = "KIND:NAME[:ARG]", value_parser = named::parse)]
    named: Vec<(String, Builtin)>,

    /// Log level: off, error, warn, info, debug or trace (logs go to stderr, coloured
    /// only on a terminal). RUST_LOG, when set, wins over it and takes tracing's full
    /// filter syntax (e.g. RUST_LOG=manager_server=debug).
    #[arg(long, value_name = "LEVEL", default_value = "info", value_parser = flags::level)]
    log_level: String,

    /// Obey shutdown requests from clients (off by default: any client holding the key
    /// could stop the server).
    #[arg(long)]
    allow_remote_shutdown: bool,

    /// Most simultaneous connections; beyond it new ones are refused with a message.
    #[arg(long, value_name = "N", default_value = "4096", value_parser = flags::positive, allow_negative_numbers = true)]
    max_connections: usize,

    /// Largest frame accepted or sent, in bytes (1024 to 4294967295).
    #[arg(long, value_name = "BYTES", default_value = "67108864", value_parser = flags::frame_size, allow_negative_numbers = true)]
    max_frame_size: usize,

    /// Most memory one request may make the server store (the elements one call adds
    /// to an object, plus a fixed cost per element); default: twice --max-frame-size.
    #[arg(long, value_name = "BYTES", value_parser = flags::memory, allow_negative_numbers = true)]
    max_request_memory: Option<usize>,

    /// Most bytes the live shared memory blocks may have together (0: none allowed;
    /// default 1073741824, 1 GiB).
    #[arg(long, value_name = "BYTES", default_value = "1073741824", value_parser = flags::shared_memory, allow_negative_numbers = true)]
    max_shared_memory: u64,

    /// Let clients on the Unix socket switch their connection to shared-memory rings
    /// (a memfd segment made per connection; the client asks with
    /// ClientOptions::shared_memory). Faster round trips on the same host.
    #[arg(long)]
    shared_memory: bool,

    /// Seconds a peer has to authenticate before it is dropped (above 0, at most 3600).
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = flags::seconds, allow_negative_numbers = true)]
    handshake_timeout: Duration,

    /// Seconds shutdown waits for connections to answer their parked calls and close;
    /// past it (and one more second) the process exits anyway (above 0, at most 3600).
    #[arg(long, value_name = "SECONDS", default_value = "5", value_parser = flags::seconds, allow_negative_numbers = true)]
    shutdown_grace: Duration,

    /// Seconds a connection may stay silent before it is dropped, and with it its
    /// references and locks (above 0, at most 3600). Clients ping when they have
    /// nothing to send, every keepalive period (10 s by default): keep it well above
    /// theirs. Shorter frees the holdings of a peer cut off by the network sooner.
    #[arg(long, value_name = "SECONDS", default_value = "60", value_parser = flags::seconds, allow_negative_numbers = true)]
    idle_timeout: Duration,

    /// Most parked calls per connection before the server stops reading from it.
    #[arg(long, value_name = "N", default_value = "1024", value_parser = flags::positive, allow_negative_numbers = true)]
    max_in_flight: usize,

    /// Seconds the server holds an object after a client minted a token for it, so the
    /// token can reach another process and be attached after the sender dropped its
    /// proxy. A whole number from 1 to 86400.
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = flags::lease, allow_negative_numbers = true)]
    token_lease: Duration,

    /// Seconds a reconnecting client's session outlives its broken link: within it, the
    /// client comes back to its references, locks and calls as it left them; after it,
    /// all it held is released (above 0, at most 3600; keep it below the idle timeout).
    #[arg(long, value_name = "SECONDS", default_value = "30", value_parser = flags::seconds, allow_negative_numbers = true)]
    session_grace: Duration,
}

fn main() -> ExitCode {
    let args = Args::parse();
    check_tls_flags(&args);
    // RUST_LOG, when set, wins: it is how tracing users everywhere widen or narrow
    // logs, and it takes per-module filters --log-level cannot express.
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.trim().is_empty() => match tracing_subscriber::EnvFilter::try_new(&spec) {
            Ok(filter) => filter,
            Err(e) => {
                eprintln!("manager-server: RUST_LOG={spec:?} is not a log filter: {e}");
                return ExitCode::from(2);
            }
        },
        _ => tracing_subscriber::EnvFilter::new(&args.log_level),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let grace = args.shutdown_grace;
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
    let key::Loaded { key, explicit } = key::load(args.authkey_file.as_deref(), args.generate_authkey.as_deref())?;
    for a in &addresses {
        if let Address::Tcp(hostport) | Address::Tls(hostport) = a
            && !is_loopback(hostport).await?
        {
            if !explicit {
                return Err(format!(
                    "{a} is reachable from other hosts: give a key with --authkey-file or MANAGER_AUTHKEY (a generated \
                     key is for loopback and Unix sockets), and see the server docs on running across hosts"
                ));
            }
            key::warn_if_short(&key, &a.to_string());
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
        .session_grace(args.session_grace)
        .handshake_timeout(args.handshake_timeout)
        .idle_timeout(args.idle_timeout)
        .max_shared_memory(args.max_shared_memory)
        .shared_memory(args.shared_memory);
    if let Some(bytes) = args.max_request_memory {
        builder = builder.max_request_memory(bytes);
    }
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        let mut tls = ServerTls::from_files(cert, key).map_err(|e| e.to_string())?;
        if let Some(ca) = &args.tls_client_ca {
            tls = tls.require_client_cert(ca).map_err(|e| e.to_string())?;
        }
        builder = builder.tls(tls);
    }
    for a in &addresses {
        builder = builder.listen(a);
    }
    for (name, builtin) in args.named {
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

/// A tls:// listener needs --tls-cert and --tls-key, and those need one: a usage error
/// (exit 2) naming the flags, as clap's own.
fn check_tls_flags(args: &Args) {
    use clap::CommandFactory;
    let tls_listen = args.listen.iter().find(|l| l.starts_with("tls://"));
    let message = match (tls_listen, &args.tls_cert) {
        (Some(l), None) => format!("--listen {l} needs --tls-cert PATH and --tls-key PATH"),
        (None, Some(_)) => "--tls-cert and --tls-key need a --listen tls://HOST:PORT to serve on".to_owned(),
        _ => return,
    };
    Args::command().error(clap::error::ErrorKind::MissingRequiredArgument, message).exit()
}

async fn is_loopback(hostport: &str) -> Result<bool, String> {
    let addrs: Vec<_> =
        tokio::net::lookup_host(hostport).await.map_err(|e| format!("cannot resolve {hostport}: {e}"))?.collect();
    Ok(!addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback()))
}
