//! A pool's worker process: the jobs it knows ([`Jobs`], `jobs![..]`), and the loop
//! that takes tasks from the broker, runs them and sends their outcomes
//! ([`serve_jobs`], [`run_worker`]).
//!
//! The guarantee the broker relies on: a worker *sends* the outcome of a task (writes
//! its `done` to the socket: a call's request goes out when it is made, before its
//! reply is awaited; an outcome too large to be sure of that is awaited) before it
//! starts the next task of its batch. The replies are awaited together before the next
//! `take`. So when a worker dies, the broker has read
//! the outcome of every task it finished, and the first task it still holds is the one
//! it was running.

use manager_proto::contract::Method;
use manager_proto::pool::{Job, Task, WORKER_ENV, methods as p};
use manager_proto::{Bytes, Error, MethodRef, Proxy, RemoteErrorKind, postcard};
use std::collections::HashMap;

use super::PoolProxy;
use crate::Client;

/// The environment variable with a worker's task limit (`max_tasks_per_child`).
pub const MAX_TASKS_ENV: &str = "MANAGER_POOL_MAX_TASKS";
/// The environment variable with the owner's pid: a worker started by a pool dies with
/// its owner.
pub const OWNER_ENV: &str = "MANAGER_POOL_OWNER";

/// The tasks a worker asks for at once (the broker gives a fair share of the queue).
const BATCH: u64 = 64;

/// A job run from its encoded arguments: the encoded output, or an error kind and
/// message.
type Runner = fn(&[u8], bool) -> Result<Vec<u8>, (RemoteErrorKind, String)>;

/// The jobs a worker process can run, by name: `jobs![square, cube]`.
#[derive(Default, Clone)]
pub struct Jobs {
    table: HashMap<&'static str, (u64, Runner)>,
}

impl std::fmt::Debug for Jobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<_> = self.table.keys().collect();
        names.sort();
        f.debug_tuple("Jobs").field(&names).finish()
    }
}

fn run_job<J: Job>(args: &[u8], chunk: bool) -> Result<Vec<u8>, (RemoteErrorKind, String)> {
    let bad_args = |e: postcard::Error| {
        (RemoteErrorKind::Decode, format!("the arguments of job `{}` did not decode in the worker: {e}", J::NAME))
    };
    let bad_out = |e: postcard::Error| {
        (RemoteErrorKind::Decode, format!("the output of job `{}` did not encode in the worker: {e}", J::NAME))
    };
    if chunk {
        let all: Vec<J::Args> = postcard::from_bytes(args).map_err(bad_args)?;
        let outputs: Vec<J::Output> = all.into_iter().map(J::run).collect();
        postcard::to_allocvec(&outputs).map_err(bad_out)
    } else {
        let one: J::Args = postcard::from_bytes(args).map_err(bad_args)?;
        postcard::to_allocvec(&J::run(one)).map_err(bad_out)
    }
}

impl Jobs {
    /// No jobs yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds job `J`.
    pub fn with<J: Job>(mut self) -> Self {
        self.table.insert(J::NAME, (J::fingerprint(), run_job::<J>));
        self
    }

    /// Runs task `task` here, catching a panic: its outcome for `done`.
    fn run(&self, task: &Task) -> Result<Vec<u8>, (RemoteErrorKind, String)> {
        let pid = std::process::id();
        let Some((fingerprint, runner)) = self.table.get(task.job.as_str()) else {
            return Err((
                RemoteErrorKind::NotExposed,
                format!("worker {pid} does not know job `{}`: register it in its `serve_jobs` list", task.job),
            ));
        };
        if *fingerprint != task.fingerprint {
            return Err((
                RemoteErrorKind::Decode,
                format!(
                    "worker {pid} has job `{}` with another signature (its argument or output types differ from the \
                     submitter's): build both from the same definition",
                    task.job
                ),
            ));
        }
        match std::panic::catch_unwind(|| runner(&task.args, task.chunk)) {
            Ok(outcome) => outcome,
            Err(panic) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "(a non-text panic)".to_owned());
                Err((RemoteErrorKind::Panicked, format!("job `{}` panicked in worker {pid}: {message}", task.job)))
            }
        }
    }
}

/// Registers jobs for [`serve_jobs`]: `jobs![square, cube]` is
/// `Jobs::new().with::<square>().with::<cube>()`.
#[macro_export]
macro_rules! jobs {
    ($($job:ty),* $(,)?) => {
        $crate::Jobs::new()$(.with::<$job>())*
    };
}

/// Call first thing in `main`: if this process was started as a pool's worker (the
/// pool sets `MANAGER_POOL_WORKER`), runs the worker loop with `jobs` and exits the
/// process; otherwise returns at once. Works whatever `main` is (`#[tokio::main]`
/// too): the loop runs on a thread of its own. In a worker it replaces the panic hook
/// with one printing a line (a job's panic is reported to its submitter).
///
/// ```no_run
/// use manager_client::{job, jobs, serve_jobs};
///
/// #[job]
/// fn square(x: u64) -> u64 { x * x }
///
/// fn main() {
///     serve_jobs(jobs![square]); // a worker never returns from here
///     // ... the program proper: start a Pool, submit `square` ...
/// }
/// ```
pub fn serve_jobs(jobs: Jobs) {
    let Ok(token) = std::env::var(WORKER_ENV) else { return };
    die_with_owner();
    // A job's panic goes back to its submitter (`Panicked`, with the message): here it
    // is one line on stderr, not the default hook's backtrace.
    std::panic::set_hook(Box::new(|info| eprintln!("pool worker {}: {info}", std::process::id())));
    let max_tasks = std::env::var(MAX_TASKS_ENV).ok().and_then(|v| v.parse::<u64>().ok()).filter(|n| *n > 0);
    let outcome = std::thread::spawn(move || run_worker(jobs, &token, max_tasks)).join();
    let code = match outcome {
        Ok(Ok(Exit::Told)) => TOLD_EXIT,
        Ok(Ok(Exit::MaxTasks)) => MAX_TASKS_EXIT,
        Ok(Err(e)) => {
            eprintln!("pool worker {}: {e}", std::process::id());
            1
        }
        Err(_) => 1,
    };
    std::process::exit(code);
}

/// A worker's exit code when the broker told it to exit (not 0: a program whose `main`
/// did not call `serve_jobs` may end with 0, and must not pass for a worker told so).
pub(crate) const TOLD_EXIT: i32 = 4;

/// A worker's exit code when it reached its task limit (and wants a replacement).
pub(crate) const MAX_TASKS_EXIT: i32 = 3;

/// Why a worker loop ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// The broker said so: the pool was closed and drained, or terminated.
    Told,
    /// It ran its `max_tasks`.
    MaxTasks,
}

/// A worker started by a pool ends when its owner does (Linux: the parent-death
/// signal; the owner's pid is checked after setting it, in case it is gone already).
fn die_with_owner() {
    let Some(owner) = std::env::var(OWNER_ENV).ok().and_then(|v| v.parse::<i32>().ok()) else { return };
    #[cfg(target_os = "linux")]
    {
        let _ = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL));
        if rustix::process::getppid().map(|p| p.as_raw_nonzero().get()) != Some(owner) {
            std::process::exit(1);
        }
    }
    let _ = owner;
}

/// The worker loop, for a process anywhere that joins a pool as a worker: connects
/// with `Client::from_env` (`MANAGER_ADDRESS`, `MANAGER_AUTHKEY`), attaches the pool
/// by token or name (`pool` is a `mgr1-…` token or a name the owner bound), runs the
/// initializer, then takes and runs tasks until the pool is closed and drained or
/// terminated, or `max_tasks` ran. Blocks; runs its own runtime (call it from a
/// thread without one).
pub fn run_worker(jobs: Jobs, pool: &str, max_tasks: Option<u64>) -> Result<Exit, Error> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(Error::from)?;
    rt.block_on(async move {
        let client = Client::from_env().await?;
        let proxy: PoolProxy =
            if pool.starts_with("mgr") { client.attach(pool).await? } else { client.named(pool).await? };
        work(&jobs, &proxy, max_tasks).await
    })
}

async fn call<R: serde::de::DeserializeOwned>(
    proxy: &PoolProxy,
    id: u32,
    args: &impl serde::Serialize,
    what: &str,
) -> Result<R, Error> {
    let reply = proxy.handle().call_with(MethodRef::Id(id), args, what).await?;
    manager_proto::proxy::decode_exact(reply.bytes(), what)
}

/// The largest outcome sure to be written to the socket when its `done` is made (far
/// below a Unix or TCP socket's send buffer).
const SOCKET_SURE: usize = 32 * 1024;

/// Awaits the replies to the `done`s sent. A refused outcome (the pool was terminated
/// meanwhile) is no reason to stop.
async fn settle(sent: &mut Vec<manager_proto::PendingReply>) -> Result<(), Error> {
    for reply in sent.drain(..) {
        match reply.await {
            Ok(_) | Err(Error::Remote(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

async fn work(jobs: &Jobs, proxy: &PoolProxy, max_tasks: Option<u64>) -> Result<Exit, Error> {
    let pid = u64::from(std::process::id());
    let (init, fingerprint, args): (String, u64, Bytes) = call(proxy, p::Hello::ID, &(pid,), p::Hello::WHAT).await?;
    if !init.is_empty() {
        let task = Task { id: 0, job: init.clone(), fingerprint, chunk: false, args: args.into_vec() };
        if let Err((_, message)) = jobs.run(&task) {
            return Err(Error::Config(format!("the pool's initializer `{init}` failed: {message}")));
        }
    }
    let mut ran = 0u64;
    loop {
        let want = max_tasks.map_or(BATCH, |m| m.saturating_sub(ran).min(BATCH));
        let batch: Vec<Task> = call(proxy, p::Take::ID, &(want,), p::Take::WHAT).await?;
        if batch.is_empty() {
            return Ok(Exit::Told);
        }
        let mut sent = Vec::with_capacity(batch.len());
        for task in &batch {
            let (code, output, message) = match jobs.run(task) {
                Ok(output) => (0u64, output, String::new()),
                Err((kind, message)) => (u64::from(kind.code()), Vec::new(), message),
            };
            // A small outcome is written to the socket now (a call's request goes out
            // when it is made); its reply is awaited with the others. A large one may
            // not fit the socket's buffer at once, and the rest would wait for the
            // writer task, which does not run while the next job does: it is awaited
            // now, so that it has reached the broker before the next task starts.
            let large = output.len() > SOCKET_SURE;
            let args = (task.id, code, Bytes::from(output), message);
            sent.push(proxy.handle().call_with(MethodRef::Id(p::Done::ID), &args, p::Done::WHAT));
            if large {
                settle(&mut sent).await?;
            }
        }
        ran = ran.saturating_add(batch.len() as u64);
        settle(&mut sent).await?;
        if max_tasks.is_some_and(|m| ran >= m) {
            return Ok(Exit::MaxTasks);
        }
    }
}
