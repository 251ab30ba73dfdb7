//! The standalone `manager-server` binary as a child process, for tests whose server may
//! hang, spin or bloat: its memory can be read from `/proc`, it can be sent SIGTERM, and
//! it is SIGKILLed when the test ends however the test ends, so a server that went wrong
//! never takes the test process (or the machine) with it.
//!
//! The binary belongs to another package, so cargo does not build it for these tests;
//! [`binary`] asks cargo for it (a no-op when it is fresh) so a test never runs a stale
//! server. `MANAGER_SERVER_BIN` overrides the path.

use manager_client::AuthKey;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The generous bound on anything that should happen "at once": a call, a handshake.
/// Only a hung server takes this long; it is a hang detector, not a speed assertion.
pub const HANG: Duration = Duration::from_secs(20);

/// The key every child server is started with.
pub const KEY: &[u8] = b"hostile-tests-key";

/// The `manager-server` executable, built by cargo for this test binary's profile and
/// target directory (once per test process).
pub fn binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| built("MANAGER_SERVER_BIN", "manager-server", "manager-server"))
}

/// The `manager-cli` executable (the client crate's, with its `cli` feature), built as
/// [`binary`] is. `MANAGER_CLI_BIN` overrides the path.
pub fn cli_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| built("MANAGER_CLI_BIN", "manager-client", "manager-cli"))
}

/// Binary `bin` of `package` (built with its `cli` feature), or the path in `var`.
fn built(var: &str, package: &str, bin: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(var) {
        return PathBuf::from(path);
    }
    // This test runs from <target>/<profile>/deps/it-<hash>.
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    let target_dir = profile_dir.parent().unwrap();
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()).unwrap() {
        "debug" => "dev",
        other => other,
    };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let mut child = Command::new(cargo)
        .args(["build", "-p", package, "--features", "cli", "--bin", bin, "--message-format=json"])
        .arg("--profile")
        .arg(profile)
        .arg("--target-dir")
        .arg(target_dir)
        .arg("--manifest-path")
        .arg(manifest)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let name = bin.to_owned();
    let reader = std::thread::spawn(move || {
        let mut found = None;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let Ok(msg) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
            if msg["target"]["name"] == name.as_str()
                && let Some(path) = msg["executable"].as_str()
            {
                found = Some(PathBuf::from(path));
            }
        }
        found
    });
    let deadline = Instant::now() + Duration::from_secs(600);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("building {bin} took over 10 minutes");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "cargo could not build {bin}: {status:?}");
    reader.join().unwrap().unwrap_or_else(|| panic!("cargo named no {bin} executable"))
}

/// A `manager-server` child listening on a Unix socket of its own, keyed with [`KEY`].
pub struct ServerChild {
    pub child: Child,
    /// `unix:/…/m.sock`
    pub address: String,
    /// The socket file.
    pub path: PathBuf,
    /// The TCP addresses it listens on besides (`tcp://HOST:PORT`, one per `--listen`
    /// argument, in their order).
    pub tcp: Vec<String>,
    dir: tempfile::TempDir,
}

impl ServerChild {
    /// Starts one with the default settings.
    pub fn start() -> ServerChild {
        ServerChild::start_with(&[])
    }

    /// Starts one with extra command-line arguments.
    pub fn start_with(args: &[&str]) -> ServerChild {
        ServerChild::spawn(Command::new(binary()), args)
    }

    /// Starts one through `launcher` — a command that runs the program given as its
    /// last arguments (`ip netns exec NAME`, see [`crate::netns`]) — with extra
    /// arguments. Its Unix socket, a file, is reachable from outside a network
    /// namespace too: a test observes the server through it.
    pub fn start_via(mut launcher: Command, args: &[&str]) -> ServerChild {
        launcher.arg(binary());
        ServerChild::spawn(launcher, args)
    }

    fn spawn(mut command: Command, args: &[&str]) -> ServerChild {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.sock");
        let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
        let mut child = command
            .arg("--unix")
            .arg(&path)
            .args(["--log-level", "warn"])
            .args(args)
            .env("MANAGER_AUTHKEY", key().to_hex())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        // One line per listener: the TCP ones (from `--listen`) first, then the socket.
        let listeners = 1 + args.iter().filter(|a| **a == "--listen").count();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut stdout = BufReader::new(stdout);
            for _ in 0..listeners {
                let mut line = String::new();
                let _ = stdout.read_line(&mut line);
                let _ = tx.send(line);
            }
        });
        let mut server = ServerChild { child, address: String::new(), path, tcp: Vec::new(), dir };
        for _ in 0..listeners {
            let line = rx.recv_timeout(HANG).unwrap_or_default();
            let address = line
                .trim()
                .strip_prefix("listening on ")
                .unwrap_or_else(|| panic!("manager-server printed {line:?}; its log:\n{}", server.log()))
                .to_owned();
            if address.starts_with("unix:") {
                server.address = address;
            } else {
                server.tcp.push(address);
            }
        }
        server
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's log (stderr) so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// An async client of it.
    pub async fn client(&self) -> manager_client::Client {
        tokio::time::timeout(HANG, manager_client::Client::connect(self.address.as_str(), KEY))
            .await
            .expect("no connection to the server within the hang bound")
            .unwrap()
    }

    /// Resident memory now, in KiB (`VmRSS`).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap()
    }

    /// Whether the process has a handler installed for `signal` (`SigCgt` in
    /// `/proc/PID/status`).
    pub fn catches(&self, signal: i32) -> bool {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("SigCgt:"))
            .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
            .is_some_and(|mask| mask & (1 << (signal - 1)) != 0)
    }

    /// Sends SIGTERM; returns the exit status if the process ends within `limit`.
    pub fn terminate_within(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let sent = Command::new("kill").args(["-TERM", &self.pid().to_string()]).status().unwrap();
        assert!(sent.success());
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        // SIGKILL: a hung server ignores anything gentler.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// [`KEY`] as a key.
pub fn key() -> AuthKey {
    AuthKey::new(KEY.to_vec()).unwrap()
}

/// Runs blocking `work` on a thread of its own and returns its result, or panics with
/// `what` if it takes longer than `limit` (the thread is left behind, blocked on a
/// socket the server's SIGKILL will close).
pub fn within<T: Send + 'static>(limit: Duration, what: &str, work: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)));
    });
    match rx.recv_timeout(limit) {
        Ok(Ok(value)) => value,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => panic!("hung: {what} did not finish within {limit:?}"),
    }
}

/// Waits (up to `limit`) until `cond` holds; returns whether it did. The blocking twin
/// of [`crate::util::eventually`].
pub fn eventually_blocking(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Awaits `fut`, or panics with `what` if it takes longer than [`HANG`].
pub async fn bounded<F: std::future::Future>(what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(HANG, fut).await {
        Ok(out) => out,
        Err(_) => panic!("hung: {what} did not finish within {HANG:?}"),
    }
}
