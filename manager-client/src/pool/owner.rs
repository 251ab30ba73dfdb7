//! [`Pool`]: the owner of a process pool — the broker object, and the worker processes
//! it starts, watches and replaces ([`PoolOptions`]).
//!
//! The worker processes are started, reaped and killed by one supervisor thread, which
//! lives as long as the pool: on Linux a worker's parent-death signal follows the
//! thread that started it, so a worker dies with its owner and none is orphaned.

use manager_proto::pool::{Job, WORKER_ENV};
use manager_proto::{Error, MethodRef, Proxy, RemoteError, RemoteErrorKind};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::worker::{MAX_TASKS_ENV, MAX_TASKS_EXIT, OWNER_ENV, TOLD_EXIT};
use super::{PoolProxy, encode_args};
use crate::Client;

/// How a [`Pool`] is set up. Every field has a default: [`PoolOptions::default()`].
#[derive(Clone, Debug, Default)]
pub struct PoolOptions {
    processes: Option<usize>,
    max_tasks_per_child: Option<u64>,
    initializer: Option<(String, u64, Vec<u8>)>,
    retry_lost_tasks: bool,
    program: Option<PathBuf>,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    error: Option<String>,
}

impl PoolOptions {
    /// The number of worker processes (default: `std::thread::available_parallelism`).
    pub fn processes(mut self, n: usize) -> Self {
        self.processes = Some(n.max(1));
        self
    }

    /// A worker exits after this many tasks and is replaced (Python's
    /// `maxtasksperchild`; default: never). A chunk of `map` counts as one task.
    pub fn max_tasks_per_child(mut self, n: u64) -> Self {
        self.max_tasks_per_child = Some(n.max(1));
        self
    }

    /// Job `J` runs with `args` once in each worker before its first task (Python's
    /// `initializer` and `initargs`). A worker whose initializer fails or panics exits
    /// (and is replaced).
    pub fn initializer<J: Job>(mut self, args: J::Args) -> Self {
        match encode_args::<J>(&args) {
            Ok(bytes) => self.initializer = Some((J::NAME.to_owned(), J::fingerprint(), bytes)),
            Err(e) => self.error = Some(e.to_string()),
        }
        self
    }

    /// A task whose worker died while running it goes back to the front of the queue
    /// once (a second loss fails it) instead of failing with `WorkerLost` (default:
    /// fail). For jobs that may run twice.
    pub fn retry_lost_tasks(mut self, retry: bool) -> Self {
        self.retry_lost_tasks = retry;
        self
    }

    /// Runs the workers as this program (which must call
    /// [`serve_jobs`](super::serve_jobs) first thing in `main`) instead of the current
    /// executable.
    pub fn program(mut self, program: impl Into<PathBuf>) -> Self {
        self.program = Some(program.into());
        self
    }

    /// An argument for each worker process.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// An environment variable for each worker process.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }
}

/// A process pool (Python's `multiprocessing.Pool`): worker processes that run
/// registered [jobs](crate::job), fed by a broker object on the manager server. Derefs
/// to its [`PoolProxy`] (`apply`, `apply_async`, `map`, `imap`, ...).
///
/// Workers are this program started again (its `main` calls
/// [`serve_jobs`](super::serve_jobs) first), or [`PoolOptions::program`]. A worker that
/// dies — killed, crashed, or done with its `max_tasks_per_child` — is replaced; the
/// task it was running fails with `WorkerLost` (or is retried once, by option) instead
/// of hanging as in Python. Dropping the pool terminates it (Python's `with Pool()`).
///
/// ```no_run
/// use manager_client::{Client, Pool, PoolOptions, job, jobs, serve_jobs};
///
/// #[job]
/// fn square(x: u64) -> u64 { x * x }
///
/// #[tokio::main]
/// async fn main() -> Result<(), manager_client::Error> {
///     serve_jobs(jobs![square]); // in a worker, runs tasks and exits
///     let client = Client::from_env().await?;
///     let pool = Pool::new(&client, PoolOptions::default().processes(4)).await?;
///     assert_eq!(pool.apply::<square>(7).await?, 49);
///     assert_eq!(pool.map::<square>(0..10).await?[9], 81);
///     pool.close().await?;
///     pool.join().await
/// }
/// ```
/// (`no_run`: a doc test cannot be re-entered as a worker; see
/// `integration-tests/examples/pool_map.rs`, which runs in the tests.)
pub struct Pool {
    proxy: PoolProxy,
    supervisor: Supervisor,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").field("proxy", &self.proxy).field("pids", &self.pids()).finish()
    }
}

impl std::ops::Deref for Pool {
    type Target = PoolProxy;
    fn deref(&self) -> &PoolProxy {
        &self.proxy
    }
}

impl Pool {
    /// Creates the broker on `client`'s server and starts the worker processes.
    pub async fn new(client: &Client, options: PoolOptions) -> Result<Pool, Error> {
        if std::env::var_os(WORKER_ENV).is_some() {
            // A worker whose `main` did not call `serve_jobs` runs the program proper,
            // which starts a pool, whose workers would do the same: refused.
            return Err(Error::Config(format!(
                "this process was started as a pool worker ({WORKER_ENV} is set) but its main did not call \
                 manager_client::serve_jobs first: call it before anything else, or set `PoolOptions::program` \
                 to a binary that does"
            )));
        }
        if let Some(e) = options.error {
            return Err(Error::Config(format!("PoolOptions::initializer: {e}")));
        }
        let init = options.initializer.clone().unwrap_or_default();
        let proxy = PoolProxy::create(client, &init, options.retry_lost_tasks).await?;
        let program = match &options.program {
            Some(p) => p.clone(),
            None => std::env::current_exe()
                .map_err(|e| Error::Config(format!("cannot find this program to start it as pool workers: {e}")))?,
        };
        let mut command = Command::new(program);
        command.args(&options.args);
        for (k, v) in &options.env {
            command.env(k, v);
        }
        client.configure_child(&mut command);
        command.env(WORKER_ENV, proxy.token().to_string());
        command.env(OWNER_ENV, std::process::id().to_string());
        if let Some(n) = options.max_tasks_per_child {
            command.env(MAX_TASKS_ENV, n.to_string());
        }
        let processes =
            options.processes.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get));
        let handle = proxy.handle().clone();
        let give_up = Box::new(move |why: &str| terminate_unanswered(&handle, why));
        let supervisor = Supervisor::start(command, processes, give_up)?;
        Ok(Pool { proxy, supervisor })
    }

    /// The pids of the worker processes running now.
    pub fn pids(&self) -> Vec<u32> {
        self.supervisor.pids.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The submit side, to keep or hand on (it works while the pool runs).
    pub fn proxy(&self) -> &PoolProxy {
        &self.proxy
    }

    /// `pool.close()`: no new tasks; the workers run what is queued, then exit.
    pub async fn close(&self) -> Result<(), Error> {
        self.proxy.close().await
    }

    /// `pool.terminate()`: queued and running tasks fail with `PoolNotRunning`, the
    /// worker processes are killed and reaped. Returns once they are gone.
    pub async fn terminate(&self) -> Result<(), Error> {
        let told = self.proxy.terminate().await;
        let (ack, done) = tokio::sync::oneshot::channel();
        self.supervisor.send(Cmd::Terminate(Some(ack)));
        let _ = done.await;
        told
    }

    /// `pool.join()`: after [`close`](Self::close) or [`terminate`](Self::terminate),
    /// waits until every task was answered and every worker process exited.
    pub async fn join(&self) -> Result<(), Error> {
        let stats = self.proxy.stats().await?;
        if !stats.closed {
            return Err(Error::Remote(RemoteError::new(
                RemoteErrorKind::InvalidValue,
                "Pool.join: the pool is still running: close() or terminate() it first",
            )));
        }
        self.proxy.join_broker(None).await?;
        let (ack, done) = tokio::sync::oneshot::channel();
        self.supervisor.send(Cmd::Reaped(ack));
        let _ = done.await;
        Ok(())
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        terminate_unanswered(self.proxy.handle(), "");
        self.supervisor.send(Cmd::Terminate(None));
        if let Some(thread) = self.supervisor.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Terminates the broker without waiting for the answer (the connection may be gone),
/// saying why (empty: asked to).
fn terminate_unanswered(handle: &manager_proto::Handle, why: &str) {
    if let Ok(args) = manager_proto::proxy::encode(&(why,), "the arguments of Pool.terminate") {
        let id = <manager_proto::pool::methods::Terminate as manager_proto::contract::Method>::ID;
        handle.transport().call_unanswered(handle.object(), MethodRef::Id(id), args);
    }
}

/// What the supervisor does when it gives up on starting workers: terminates the
/// broker, saying why, so that submitters get an error rather than wait for ever.
type GiveUp = Box<dyn Fn(&str) + Send>;

/// What the supervisor is told.
enum Cmd {
    /// Kill and reap every worker, then end (and say so).
    Terminate(Option<tokio::sync::oneshot::Sender<()>>),
    /// Say so once no worker is left.
    Reaped(tokio::sync::oneshot::Sender<()>),
}

/// The thread that owns the worker processes.
struct Supervisor {
    tx: mpsc::Sender<Cmd>,
    thread: Option<std::thread::JoinHandle<()>>,
    pids: Arc<Mutex<Vec<u32>>>,
}

/// How often the supervisor looks for exited workers.
const REAP_EVERY: Duration = Duration::from_millis(20);
/// A worker that exits with an error code this soon after it started failed to start.
const STARTUP: Duration = Duration::from_secs(1);
/// After this many failed starts in a row, workers are no longer replaced.
const MAX_FAILED_STARTS: u32 = 5;

impl Supervisor {
    fn start(command: Command, processes: usize, give_up: GiveUp) -> Result<Supervisor, Error> {
        let pids = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let (started_tx, started_rx) = mpsc::channel();
        let shown = Arc::clone(&pids);
        let thread = std::thread::Builder::new()
            .name("pool-supervisor".into())
            .spawn(move || supervise(command, processes, &rx, &shown, &started_tx, &give_up))
            .map_err(Error::from)?;
        match started_rx.recv() {
            Ok(Ok(())) => Ok(Supervisor { tx, thread: Some(thread), pids }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(Error::Config(format!("could not start the pool's worker processes: {e}")))
            }
            Err(_) => Err(Error::Config("the pool's supervisor thread ended".into())),
        }
    }

    fn send(&self, cmd: Cmd) {
        let _ = self.tx.send(cmd);
    }
}

fn supervise(
    mut command: Command,
    processes: usize,
    rx: &mpsc::Receiver<Cmd>,
    pids: &Mutex<Vec<u32>>,
    started: &mpsc::Sender<std::io::Result<()>>,
    give_up: &GiveUp,
) {
    let show = |children: &[(Child, Instant)]| {
        *pids.lock().unwrap_or_else(|p| p.into_inner()) = children.iter().map(|(c, _)| c.id()).collect();
    };
    let mut children: Vec<(Child, Instant)> = Vec::with_capacity(processes);
    for _ in 0..processes {
        match command.spawn() {
            Ok(child) => children.push((child, Instant::now())),
            Err(e) => {
                kill_all(&mut children);
                let _ = started.send(Err(e));
                return;
            }
        }
    }
    show(&children);
    let _ = started.send(Ok(()));
    let mut failed_starts = 0u32;
    let mut reaped: Vec<tokio::sync::oneshot::Sender<()>> = Vec::new();
    loop {
        match rx.recv_timeout(REAP_EVERY) {
            Ok(Cmd::Reaped(ack)) => reaped.push(ack),
            Ok(Cmd::Terminate(ack)) => {
                kill_all(&mut children);
                show(&children);
                ack.into_iter().chain(reaped).for_each(|a| {
                    let _ = a.send(());
                });
                return;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                kill_all(&mut children);
                show(&children);
                return;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        let mut i = 0;
        while let Some((child, _)) = children.get_mut(i) {
            let status = match child.try_wait() {
                Ok(None) => {
                    i += 1;
                    continue;
                }
                Ok(Some(status)) => Some(status),
                Err(_) => None,
            };
            let (_, born) = children.swap_remove(i);
            if born.elapsed() >= STARTUP {
                // It ran: the failed starts before it were not "in a row".
                failed_starts = 0;
            }
            // Told to exit: not replaced. Done with its task limit, killed or crashed:
            // replaced. Ending at start again and again (whatever its status: a `main`
            // without `serve_jobs` may well exit 0): given up on, and the pool
            // terminated, saying why.
            let replace = match status.and_then(|s| s.code()) {
                Some(TOLD_EXIT) => false,
                Some(MAX_TASKS_EXIT) => true,
                code if born.elapsed() < STARTUP => {
                    failed_starts += 1;
                    if failed_starts == MAX_FAILED_STARTS + 1 {
                        let status = code.map_or_else(|| "by a signal".to_owned(), |c| format!("with exit code {c}"));
                        let why = format!(
                            "its worker processes kept ending at start ({failed_starts} in a row, the last {status}): \
                             does the program call manager_client::serve_jobs first thing in main (or does \
                             PoolOptions::program name one that does)? Its stderr says more"
                        );
                        tracing::error!("pool workers are no longer replaced: {why}");
                        give_up(&why);
                    }
                    failed_starts <= MAX_FAILED_STARTS
                }
                _ => true,
            };
            if replace {
                match command.spawn() {
                    Ok(c) => children.push((c, Instant::now())),
                    Err(e) => tracing::error!("could not start a pool worker to replace one: {e}"),
                }
            }
        }
        show(&children);
        if children.is_empty() {
            reaped.drain(..).for_each(|a| {
                let _ = a.send(());
            });
        }
    }
}

fn kill_all(children: &mut Vec<(Child, Instant)>) {
    for (child, _) in children.iter_mut() {
        let _ = child.kill();
    }
    for (mut child, _) in children.drain(..) {
        let _ = child.wait();
    }
}
