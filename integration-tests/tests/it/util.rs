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

/// Starts `builder`, which must fail to start: the error, as users read it.
pub async fn start_err(builder: ServerBuilder) -> String {
    let (_dir, path) = socket_path();
    match builder.listen_unix(path).start().await {
        Ok(server) => {
            server.shutdown().await;
            panic!("the server started")
        }
        Err(e) => e.to_string(),
    }
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

/// The first line a child writes to its piped stdout (a worker saying it is ready).
pub async fn first_line(child: &mut Child) -> String {
    use std::io::{BufRead, BufReader};
    let stdout = child.stdout.take().expect("the child's stdout is piped");
    tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line
    })
    .await
    .unwrap()
}

/// Waits (up to `limit`) until `cond` holds; returns whether it did.
///
/// `cond` is an `FnMut` returning a future rather than an `AsyncFnMut`, so that a task
/// waiting with it is `Send` (and may be spawned): `async ||` closures that borrow what
/// they use are both.
pub async fn eventually<F: Future<Output = bool>>(limit: Duration, mut cond: impl FnMut() -> F) -> bool {
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

/// How long a test waits for state it expects to reach: generous, so that a loaded
/// machine is slow, not a failure. Only a broken server or test takes this long.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Waits until `cond` holds (a call parked, a connection closed, an item arrived),
/// polling it; panics naming `what` if it does not within [`PATIENCE`]. Use it instead
/// of a sleep that guesses how long the thing takes: a guess too short lets the test
/// go on before the state it checks exists, and the test passes without testing it.
pub async fn wait_until<F: Future<Output = bool>>(what: &str, cond: impl FnMut() -> F) {
    assert!(eventually(PATIENCE, cond).await, "timed out after {PATIENCE:?} waiting for {what}");
}

/// The blocking twin of [`wait_until`], for tests on plain threads.
#[track_caller]
pub fn wait_until_blocking(what: &str, cond: impl FnMut() -> bool) {
    assert!(crate::server_bin::eventually_blocking(PATIENCE, cond), "timed out after {PATIENCE:?} waiting for {what}");
}

/// Kills a child with SIGKILL and reaps it.
pub fn sigkill(child: &mut Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}
