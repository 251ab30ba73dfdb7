//! A real network between processes: two network namespaces joined by a veth pair,
//! programs run inside either, a link that can be cut and healed.
//!
//! ```text
//!   namespace A (client side)                namespace B (server side)
//!   [net-client] ──▶ [netrelay 127.0.0.1] ─▶ va 10.X.Y.1/24 ══ veth ══ vb 10.X.Y.2/24 ◀─ [manager-server]
//!                                                                                       + unix socket (the test's
//!                                                                                         observer, outside)
//! ```
//!
//! [`TestNet::new`] makes the pair (namespaces and addresses unique per test: the
//! process id and a counter), [`TestNet::partition`] takes A's end of the link down
//! (nothing reaches either side, and neither is told) and [`TestNet::heal`] brings it
//! back; dropping the `TestNet` deletes both namespaces. Programs run in a namespace
//! through [`TestNet::exec_in`] (`ip netns exec NAME …`): the server
//! ([`server::server_in_b`], a `ServerChild` started through [`TestNet::launcher_in`],
//! observed from outside through its Unix socket: [`server::observer`]), the `worker
//! net-client` ([`client::NetClient`]) and the relay ([`relay::Relay`]).
//!
//! A test, in short:
//!
//! ```text
//! let Some(net) = TestNet::or_skip("my_test") else { return };
//! let server = server_in_b(&net, "60");                        // idle timeout, seconds
//! let relay = Relay::start(&net.a, "127.0.0.1:0", &server.tcp[0]);
//! let (mut a, connected) = NetClient::start(&net.a, &relay.address, KEEPALIVE);
//! assert_eq!(a.run("add 1").value(), "1");
//! net.partition(); /* … */ net.heal();
//! ```
//!
//! Namespaces need root (CAP_SYS_ADMIN) and iproute2. Where they are not permitted,
//! [`TestNet::or_skip`] prints `SKIPPED (network namespaces not permitted: REASON)` and
//! the test returns; either way it appends a line (`ran NAME` or `skipped NAME: …`) to
//! `target/tmp/netns-tests.txt`, which `.ci/run` counts.

pub mod client;
pub mod relay;
pub mod server;

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::sync::Once;
use std::sync::atomic::{AtomicU32, Ordering};

/// The prefix of every namespace these tests make: `mnet-PID-N-a`.
const PREFIX: &str = "mnet-";

/// One end of the link: its namespace, its device there, its address.
#[derive(Debug)]
pub struct Side {
    /// The namespace's name (`ip netns list`).
    pub ns: String,
    /// The veth end inside it.
    pub dev: &'static str,
    /// Its IPv4 address (no prefix length).
    pub ip: String,
}

/// Two namespaces, A and B, joined by a veth pair; deleted on drop.
#[derive(Debug)]
pub struct TestNet {
    /// The client's side.
    pub a: Side,
    /// The server's side.
    pub b: Side,
}

impl TestNet {
    /// Makes the pair, or says why it cannot.
    pub fn new() -> Result<TestNet, String> {
        static SWEEP: Once = Once::new();
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let ip_version = Command::new("ip").arg("-V").output().map_err(|e| format!("cannot run `ip`: {e}"))?;
        if !ip_version.status.success() {
            return Err("`ip -V` failed: is iproute2 installed?".into());
        }
        SWEEP.call_once(sweep_stale);
        let pid = std::process::id();
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        // 10.X.Y.0/24, X.Y from the process and the test: distinct per test, although
        // each pair is a world of its own anyway.
        let net = (pid.wrapping_mul(64).wrapping_add(n)) % 65_536;
        let prefix = format!("10.{}.{}", net / 256, net % 256);
        let side =
            |tag: &str, dev, host| Side { ns: format!("{PREFIX}{pid}-{n}-{tag}"), dev, ip: format!("{prefix}.{host}") };
        let (a, b) = (side("a", "va", 1), side("b", "vb", 2));
        run_ip(&["netns", "add", &a.ns])?;
        // From here on, Drop deletes whatever was made.
        let net = TestNet { a, b };
        run_ip(&["netns", "add", &net.b.ns])?;
        run_ip(&[
            "link", "add", net.a.dev, "netns", &net.a.ns, "type", "veth", "peer", "name", net.b.dev, "netns", &net.b.ns,
        ])?;
        for side in [&net.a, &net.b] {
            run_ip(&["-n", &side.ns, "addr", "add", &format!("{}/24", side.ip), "dev", side.dev])?;
            run_ip(&["-n", &side.ns, "link", "set", side.dev, "up"])?;
            run_ip(&["-n", &side.ns, "link", "set", "lo", "up"])?;
        }
        // `ip netns exec` also needs to mount (a private /sys): check it can.
        let probe = net.exec("true").output().map_err(|e| format!("cannot run `ip netns exec`: {e}"))?;
        if !probe.status.success() {
            return Err(format!("`ip netns exec` failed: {}", stderr_of(&probe)));
        }
        Ok(net)
    }

    /// [`TestNet::new`] for test `name`, recording that it ran; or, where namespaces are
    /// not permitted, prints `SKIPPED (…)`, records that, and gives `None`: the test
    /// returns.
    pub fn or_skip(name: &str) -> Option<TestNet> {
        match TestNet::new() {
            Ok(net) => {
                record(&format!("ran {name}"));
                Some(net)
            }
            Err(reason) => {
                println!("SKIPPED (network namespaces not permitted: {reason})");
                record(&format!("skipped {name}: {reason}"));
                None
            }
        }
    }

    /// A command that runs `program` inside `side`'s namespace (add its arguments).
    pub fn exec_in(side: &Side, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = TestNet::launcher_in(side);
        cmd.arg(program);
        cmd
    }

    /// The same in A's namespace.
    pub fn exec(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        TestNet::exec_in(&self.a, program)
    }

    /// A launcher for `ServerChild::start_via`: `ip netns exec B`.
    pub fn launcher_in(side: &Side) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &side.ns]);
        cmd
    }

    /// Cuts the link: A's end goes down. Nothing crosses, no one is told (no FIN, no
    /// RST): only timeouts notice.
    pub fn partition(&self) {
        run_ip(&["-n", &self.a.ns, "link", "set", self.a.dev, "down"]).unwrap();
    }

    /// Restores the link after [`partition`](Self::partition).
    pub fn heal(&self) {
        run_ip(&["-n", &self.a.ns, "link", "set", self.a.dev, "up"]).unwrap();
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        // Deleting a namespace deletes its end of the veth, and with it the other end.
        // Processes still inside keep theirs alive until they exit (the tests' children
        // are killed before: they are declared after the `TestNet`).
        for side in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "delete", &side.ns]).stderr(Stdio::null()).status();
        }
    }
}

/// Runs `ip ARGS`: its stderr as the error when it fails.
fn run_ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip").args(args).output().map_err(|e| format!("cannot run `ip`: {e}"))?;
    if out.status.success() { Ok(()) } else { Err(format!("`ip {}` failed: {}", args.join(" "), stderr_of(&out))) }
}

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).trim().to_owned()
}

/// Deletes the namespaces an earlier run left behind (its process killed before the
/// `TestNet`s dropped): those named for a process that no longer exists.
fn sweep_stale() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else { return };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else { continue };
        let Some(pid) = name.strip_prefix(PREFIX).and_then(|rest| rest.split('-').next()) else { continue };
        if pid.parse::<u32>().is_ok() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = Command::new("ip").args(["netns", "delete", name]).status();
        }
    }
}

/// Appends `line` to the summary `.ci/run` counts.
fn record(line: &str) {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("netns-tests.txt");
    if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
        let _ = writeln!(file, "{line}");
    }
}
