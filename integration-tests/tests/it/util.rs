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

/// Eight `consume` and eight `produce` worker processes (children of `client`, with its
/// environment) move `per_producer` items each through `queue`, bound as `work`:
/// `while_running` runs once all are started; the producers finish, the queue shuts
/// down, the consumers drain it. Checks that no item was consumed twice and every item
/// was consumed, then that the queue is empty.
pub async fn eight_by_eight(
    client: &manager_client::Client,
    queue: &manager_client::QueueProxy<u64>,
    per_producer: u64,
    while_running: impl AsyncFnOnce(),
) {
    client.bind_name("work", queue).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let spawn = |args: Vec<String>| {
        let mut cmd = worker();
        client.configure_child(&mut cmd);
        cmd.args(&args).stdout(Stdio::null()).spawn().unwrap()
    };
    let consumers: Vec<Child> = (0..8)
        .map(|c| spawn(vec!["consume".into(), "work".into(), dir.path().join(format!("c{c}")).display().to_string()]))
        .collect();
    let producers: Vec<Child> = (0..8u64)
        .map(|p| spawn(vec!["produce".into(), "work".into(), (p * per_producer).to_string(), per_producer.to_string()]))
        .collect();
    while_running().await;
    for mut p in producers {
        assert!(tokio::task::spawn_blocking(move || p.wait().unwrap()).await.unwrap().success());
    }
    // Every item is in: consumers drain what is left, then see `QueueShutDown`.
    queue.shutdown(false).await.unwrap();
    for mut c in consumers {
        assert!(tokio::task::spawn_blocking(move || c.wait().unwrap()).await.unwrap().success());
    }
    let mut all = Vec::new();
    for c in 0..8 {
        let bytes = std::fs::read(dir.path().join(format!("c{c}"))).unwrap();
        all.extend(bytes.chunks_exact(8).map(|b| u64::from_le_bytes(b.try_into().unwrap())));
    }
    let got = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), got, "no item was consumed twice");
    assert_eq!(all, (0..8 * per_producer).collect::<Vec<_>>(), "every item was consumed");
    assert_eq!(queue.qsize().await.unwrap(), 0);
}
