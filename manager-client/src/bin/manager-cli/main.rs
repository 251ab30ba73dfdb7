//! `manager-cli`: look into a running manager server, in the redis-cli tradition.
//!
//! ```text
//! manager-cli --address tcp://127.0.0.1:5000 --authkey-file key.hex ls dict
//! manager-cli --json conns | jq '.[] | select(.locks_held != [])'
//! ```
//!
//! The address, key and TLS files default to what `Client::from_env` reads
//! (`MANAGER_ADDRESS`, `MANAGER_AUTHKEY` or `MANAGER_AUTHKEY_FILE`, `MANAGER_TLS_CA` or
//! `MANAGER_TLS_PIN`, `MANAGER_TLS_CERT` and `MANAGER_TLS_KEY`). Tables for people by default, one JSON
//! document with `--json`. Exit status: 0 done, 1 the command failed (no server, wrong
//! key, no such object, shutdown refused), 2 a usage error. Built only with the client
//! crate's `cli` feature: `cargo run -p manager-client --features cli -- --help`.

mod table;

use clap::{Parser, Subcommand};
use manager_client::blocking::Client;
use manager_client::env::{ADDRESS_VAR, AUTHKEY_FILE_VAR, AUTHKEY_VAR, read_authkey};
use manager_client::proto::ObjectId;
use manager_client::{Address, AuthKey, ClientOptions, ClientTls, Error, RemoteErrorKind};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Look into a running manager server: its figures, its objects, its connections.
#[derive(Debug, Parser)]
#[command(name = "manager-cli", version)]
struct Args {
    /// The server's address: tcp://HOST:PORT, tls://HOST:PORT or unix:PATH. Default:
    /// $MANAGER_ADDRESS.
    #[arg(long, value_name = "ADDR", global = true)]
    address: Option<String>,

    /// Read the key (hex) from PATH. Default: $MANAGER_AUTHKEY (hex), or the file
    /// named by $MANAGER_AUTHKEY_FILE.
    #[arg(long, value_name = "PATH", global = true)]
    authkey_file: Option<PathBuf>,

    /// For tls:// addresses: verify the server against the CA certificates in PATH
    /// (PEM). Default: $MANAGER_TLS_CA.
    #[arg(long, value_name = "PATH", global = true, conflicts_with = "tls_pin")]
    tls_ca: Option<PathBuf>,

    /// For tls:// addresses: trust exactly the server certificate in PATH (PEM).
    /// Default: $MANAGER_TLS_PIN.
    #[arg(long, value_name = "PATH", global = true)]
    tls_pin: Option<PathBuf>,

    /// For a server that requires client certificates: this one (PEM), with
    /// --tls-key. Default: $MANAGER_TLS_CERT.
    #[arg(long, value_name = "PATH", global = true, requires = "tls_key")]
    tls_cert: Option<PathBuf>,

    /// The client certificate's private key (PEM). Default: $MANAGER_TLS_KEY.
    #[arg(long, value_name = "PATH", global = true, requires = "tls_cert")]
    tls_key: Option<PathBuf>,

    /// Print one JSON document instead of a table.
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The server's figures: objects, connections, requests, parked calls, streams.
    Stats,
    /// Every live object (or those of one TYPE: dict, queue, a #[shared] type's id),
    /// with its references, names and a rendering.
    Ls {
        /// Only objects of this type id.
        #[arg(value_name = "TYPE")]
        type_id: Option<String>,
    },
    /// One object: its type, references, holders, names and rendering.
    Show {
        /// The object's id (as `ls` prints it; a leading # is allowed).
        #[arg(value_name = "ID", value_parser = object_id)]
        id: ObjectId,
    },
    /// Every open connection: peer, age, calls in flight, locks and references held.
    Conns,
    /// Ask the server to shut down (it must run with --allow-remote-shutdown).
    Shutdown,
}

fn object_id(s: &str) -> Result<ObjectId, String> {
    let digits = s.strip_prefix('#').unwrap_or(s);
    digits.parse().map(ObjectId).map_err(|_| format!("`{s}` is not an object id (a number, as `ls` prints it)"))
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("manager-cli: {message}");
            ExitCode::from(1)
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    let (address, key) = target(args)?;
    let options =
        ClientOptions { connect_timeout: Duration::from_secs(5), tls: tls(args)?, ..ClientOptions::default() };
    // The error names the address already.
    let client = Client::connect_with(address, key, &options).map_err(|e| one_line(&e))?;
    let failed = |e: Error| one_line(&e);
    match &args.command {
        Command::Stats => {
            let stats = client.stats().map_err(failed)?;
            print(args, &stats, table::stats)
        }
        Command::Ls { type_id } => {
            let objects = client.inspect_objects(type_id.as_deref()).map_err(failed)?;
            print(args, &objects, |o| table::objects(o))
        }
        Command::Show { id } => {
            let object = client.inspect_object(*id).map_err(failed)?;
            print(args, &object, table::object)
        }
        Command::Conns => {
            let conns = client.inspect_connections().map_err(failed)?;
            print(args, &conns, |c| table::connections(c))
        }
        Command::Shutdown => match client.shutdown_server() {
            Ok(()) => {
                let done = serde_json::json!({ "shutdown": true });
                print(args, &done, |_| "the server is shutting down\n".to_owned())
            }
            Err(Error::Remote(e)) if e.kind == RemoteErrorKind::Forbidden => Err(format!(
                "the server refused to shut down: {} (start it with --allow-remote-shutdown to allow this)",
                e.message
            )),
            Err(e) => Err(failed(e)),
        },
    }
}

/// What tls:// trusts: the flags, else the environment `Client::from_env` reads.
fn tls(args: &Args) -> Result<Option<ClientTls>, String> {
    let trust = match (&args.tls_ca, &args.tls_pin) {
        (Some(ca), _) => ClientTls::ca_file(ca),
        (None, Some(pin)) => ClientTls::pinned_file(pin),
        (None, None) => return ClientTls::from_env().map_err(|e| one_line(&e)),
    };
    let trust = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => trust.and_then(|t| t.with_client_cert(cert, key)),
        _ => trust,
    };
    trust.map(Some).map_err(|e| one_line(&e))
}

/// The address and key: the flags, else the environment `Client::from_env` reads.
fn target(args: &Args) -> Result<(Address, AuthKey), String> {
    let address = match &args.address {
        Some(a) => a.clone(),
        None => {
            std::env::var(ADDRESS_VAR).map_err(|_| format!("no server address: pass --address or set {ADDRESS_VAR}"))?
        }
    };
    let address: Address = address.parse().map_err(|e| format!("bad address: {e}"))?;
    let key = match (&args.authkey_file, std::env::var(AUTHKEY_VAR), std::env::var_os(AUTHKEY_FILE_VAR)) {
        (Some(path), _, _) => read_authkey(path),
        (None, Ok(hex), _) => AuthKey::from_hex(&hex).map_err(Error::from),
        (None, Err(_), Some(path)) => read_authkey(path),
        (None, Err(_), None) => {
            return Err(format!("no key: pass --authkey-file or set {AUTHKEY_VAR} or {AUTHKEY_FILE_VAR}"));
        }
    };
    Ok((address, key.map_err(|e| one_line(&e))?))
}

/// An error as one line.
fn one_line(e: &Error) -> String {
    e.to_string().lines().map(str::trim).collect::<Vec<_>>().join(" ")
}

/// Prints `value` as JSON or as `human` renders it.
fn print<T: serde::Serialize>(args: &Args, value: &T, human: impl FnOnce(&T) -> String) -> Result<(), String> {
    let text = if args.json {
        let mut json = serde_json::to_string_pretty(value).map_err(|e| format!("cannot write JSON: {e}"))?;
        json.push('\n');
        json
    } else {
        human(value)
    };
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    // A closed pipe (`| head`) is not worth an error.
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    Ok(())
}
