//! Helpers: servers on unique sockets, worker processes, bounded waits.

use manager_server::{Server, ServerBuilder};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A unique Unix socket path in a fresh temporary directory (kept alive by the guard).
pub fn socket_path() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.sock");
    (dir, path)
}

/// Starts `builder` on a unique Unix socket.
pub async fn start(builder: ServerBuilder) -> (tempfile::TempDir, Server) {
    let (dir, path) = socket_path();
    let server = builder.listen_unix(path).start().await.unwrap();
    (dir, server)
}

/// The worker binary.
pub fn worker() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_worker"));
    cmd.stdin(Stdio::null()).stderr(Stdio::inherit());
    cmd
}

/// Runs a worker to completion and returns its stdout, failing the test on a bad exit.
pub fn run_worker(mut cmd: Command) -> String {
    let out = cmd.stdout(Stdio::piped()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "worker failed: {:?}\nstdout:\n{stdout}", out.status);
    stdout
}

/// Waits (up to `limit`) until `cond` holds; returns whether it did.
pub async fn eventually(limit: Duration, mut cond: impl AsyncFnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond().await {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Kills a child with SIGKILL and reaps it.
pub fn sigkill(child: &mut Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}
