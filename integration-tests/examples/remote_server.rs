//! A manager server on a fixed TCP address, for unrelated programs: it hosts a named
//! dict (`shared`) and a named RLock (`guard`). Run `remote_client` against it from
//! another terminal (or another host).
//!
//! ```text
//! cargo run --example remote_server                       # tcp://127.0.0.1:50505
//! cargo run --example remote_client                       # as many times as you like
//! cargo run --example remote_client -- --stop             # stops the server
//! ```
//!
//! Python's version: `BaseManager(address=('', 50000), authkey=b'abc')` with
//! `register('get_dict', ...)` and `get_server().serve_forever()`. Options:
//! `--address tcp://HOST:PORT` and `--key KEY` (both programs must agree).

use manager_server::{Builtin, Server};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (address, key) = options();
    let server = Server::builder()
        .listen_tcp(address.trim_start_matches("tcp://"))
        .authkey(key.as_bytes())
        .named_builtin("shared", Builtin::Dict)
        .named_builtin("guard", Builtin::RLock)
        .allow_remote_shutdown(true)
        .start()
        .await?;
    println!("remote_server: listening on {}", server.address());
    tokio::select! {
        _ = tokio::signal::ctrl_c() => println!("remote_server: interrupted"),
        () = server.stopped() => println!("remote_server: a client asked me to stop"),
    }
    server.shutdown().await;
    Ok(())
}

/// `--address` and `--key`, with the defaults both example programs share.
fn options() -> (String, String) {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str, default: &str| {
        args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned().unwrap_or_else(|| default.to_owned())
    };
    (value("--address", "tcp://127.0.0.1:50505"), value("--key", "remote-example-key"))
}
