//! The server side of a [`TestNet`]: a `manager-server` in B's namespace, and an
//! observer of it from outside the namespaces.

use super::TestNet;
use crate::server_bin::{KEY, ServerChild};
use manager_client::{ClientOptions, blocking};
use std::time::Duration;

/// The clients' keepalive: short, so that a partition is noticed in about a second.
pub const KEEPALIVE: Duration = Duration::from_millis(500);

/// A `manager-server` in B's namespace, on B's address and a Unix socket (the test's
/// observer, outside the namespaces), with the objects `net-client` uses, dropping
/// silent peers after `idle_timeout_secs`.
pub fn server_in_b(net: &TestNet, idle_timeout_secs: &str) -> ServerChild {
    server_in_b_with(net, &["--idle-timeout", idle_timeout_secs])
}

/// [`server_in_b`] with other flags (later ones override earlier ones).
pub fn server_in_b_with(net: &TestNet, flags: &[&str]) -> ServerChild {
    let listen = format!("tcp://{}:0", net.b.ip);
    let mut args =
        vec!["--listen", &listen, "--named", "value:counter:i64:0", "--named", "lock:lock", "--named", "queue:q"];
    args.extend_from_slice(flags);
    ServerChild::start_via(TestNet::launcher_in(&net.b), &args)
}

/// A blocking client of `server` through its Unix socket, outside the namespaces (with
/// the short keepalive too: the server's idle timeout would drop a quieter one).
pub fn observer(server: &ServerChild) -> blocking::Client {
    let options = ClientOptions { keepalive: KEEPALIVE, ..Default::default() };
    blocking::Client::connect_with(server.address.as_str(), KEY, &options).unwrap()
}
