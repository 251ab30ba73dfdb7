//! [`PoolProxy`]: the submit side of a process pool — `apply`, `apply_async`, `map`,
//! `imap`, `starmap` — for the pool's owner and for any client that opens the pool by
//! name or token.
//!
//! Every task is one parked `apply` call on the broker. A proxy keeps at most
//! [`WINDOW`] of them in flight (the server refuses a connection's calls past its
//! `max_in_flight`, 1024 by default); more wait their turn here, in the client.

use manager_proto::contract::Method;
use manager_proto::pool::{Job, PoolStats, TYPE_ID, default_chunksize, methods as p};
use manager_proto::proxy::decode_exact;
use manager_proto::{Bytes, Error, Handle, MethodRef, Proxy, postcard};
use serde::Serialize;
use std::sync::Arc;
use tokio::sync::{Semaphore, mpsc};

use super::results::{AsyncResult, Callback, Imap, Slot};
use crate::Client;

/// The most tasks one proxy has in flight on the broker at once (below the server's
/// default `max_in_flight` of 1024, leaving room for the connection's other calls).
pub const WINDOW: usize = 768;

/// A process pool's submit side: runs registered [jobs](crate::job) in the pool's
/// worker processes. Clones share the pool and the window of calls in flight. Opened
/// by the owner ([`Pool`](super::Pool) derefs to it) or by any client from a name or
/// token (`client.named::<PoolProxy>("pool")`), so several processes can submit to the
/// same workers.
///
/// Task outputs and errors are typed: `apply::<square>(7)` is a `u64`. A task fails
/// with [`RemoteErrorKind::WorkerLost`](crate::RemoteErrorKind::WorkerLost) if its
/// worker died while running it, `Panicked` if the job panicked,
/// `PoolNotRunning` after `close` (new tasks) or `terminate` (all).
///
/// ```no_run
/// # async fn f(client: &manager_client::Client) -> Result<(), manager_client::Error> {
/// use manager_client::{PoolProxy, job};
/// #[job] fn square(x: u64) -> u64 { x * x }
/// let pool: PoolProxy = client.named("squares").await?; // a pool another process owns
/// assert_eq!(pool.apply::<square>(7).await?, 49);
/// assert_eq!(pool.map::<square>(0..4).await?, vec![0, 1, 4, 9]);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PoolProxy {
    handle: Handle,
    window: Arc<Semaphore>,
}

impl std::fmt::Debug for PoolProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("PoolProxy").field(&self.handle).finish()
    }
}

impl Proxy for PoolProxy {
    fn shared_type_id() -> &'static str {
        TYPE_ID
    }
    fn fingerprint() -> std::borrow::Cow<'static, str> {
        manager_proto::fingerprint::elements("Pool", &[]).into()
    }
    fn from_handle(handle: Handle) -> Self {
        PoolProxy { handle, window: Arc::new(Semaphore::new(WINDOW)) }
    }
    fn handle(&self) -> &Handle {
        &self.handle
    }
}

/// Encodes a value for a worker.
fn encode<T: Serialize + ?Sized>(value: &T, what: &str) -> Result<Vec<u8>, Error> {
    postcard::to_allocvec(value).map_err(|e| Error::Encode { what: what.to_owned(), reason: e.to_string() })
}

/// The runtime background tasks go on: the caller's.
fn runtime() -> Result<tokio::runtime::Handle, Error> {
    tokio::runtime::Handle::try_current().map_err(|_| {
        Error::Config(
            "PoolProxy::apply_async and imap run on the caller's tokio runtime, and there is none here: call them \
             from async code, or use manager_client::blocking::Pool"
                .into(),
        )
    })
}

/// A result that failed before it was submitted.
fn failed<T>(e: Error, callback: Option<Callback<T>>) -> AsyncResult<T> {
    let slot = Slot::new();
    slot.set(Err(e), callback);
    AsyncResult::new(slot)
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, Error> {
    decode_exact(bytes, what)
}

impl PoolProxy {
    /// The pool's token, to hand to another process (which then submits with
    /// `client.attach::<PoolProxy>(token)`).
    pub fn token(&self) -> manager_proto::Token {
        self.handle.token()
    }

    /// Creates a broker with no workers: they join with [`run_worker`](super::run_worker)
    /// from anywhere. [`Pool::new`](super::Pool::new) also starts workers.
    pub(crate) async fn create(client: &Client, init: &(String, u64, Vec<u8>), retry: bool) -> Result<Self, Error> {
        let args = encode(&(&init.0, init.1, Bytes::from(init.2.clone()), retry), p::NEW)?;
        let handle = client.create_handle(TYPE_ID, &Self::fingerprint(), args).await?;
        Ok(Self::from_handle(handle))
    }

    /// One task, encoded: its output's bytes once a worker ran it.
    async fn submit(&self, job: &str, fingerprint: u64, chunk: bool, args: Vec<u8>) -> Result<Vec<u8>, Error> {
        let _turn = self.window.acquire().await.map_err(|_| Error::Protocol("the pool's window closed".into()))?;
        let reply = self
            .handle
            .call_with(MethodRef::Id(p::Apply::ID), &(job, fingerprint, chunk, Bytes::from(args)), p::Apply::WHAT)
            .await?;
        let output: Bytes = decode(reply.bytes(), p::Apply::WHAT)?;
        Ok(output.into_vec())
    }

    /// `pool.apply(f, args)`: runs job `J` in a worker and returns its output.
    pub async fn apply<J: Job>(&self, args: J::Args) -> Result<J::Output, Error> {
        let what = format!("the arguments of job `{}`", J::NAME);
        let out = self.submit(J::NAME, J::fingerprint(), false, encode(&args, &what)?).await?;
        decode(&out, &format!("the output of job `{}`", J::NAME))
    }

    /// `pool.apply_async(f, args)`: submits job `J` and returns at once; the task runs
    /// on the current tokio runtime's tasks (a blocking pool runs them on its own).
    /// Outside a tokio runtime the result is an error saying so (use the blocking pool
    /// there).
    pub fn apply_async<J: Job>(&self, args: J::Args) -> AsyncResult<J::Output> {
        match runtime() {
            Ok(rt) => self.apply_async_on::<J>(&rt, args, None),
            Err(e) => failed(e, None),
        }
    }

    /// [`apply_async`](Self::apply_async) with a callback, run with the output or the
    /// error (Python's `callback` and `error_callback` in one: match on it) before the
    /// result is ready, on the task that received it: keep it short.
    pub fn apply_async_with<J: Job>(
        &self,
        args: J::Args,
        callback: impl FnOnce(&Result<J::Output, Error>) + Send + 'static,
    ) -> AsyncResult<J::Output> {
        match runtime() {
            Ok(rt) => self.apply_async_on::<J>(&rt, args, Some(Box::new(callback))),
            Err(e) => failed(e, Some(Box::new(callback))),
        }
    }

    pub(crate) fn apply_async_on<J: Job>(
        &self,
        rt: &tokio::runtime::Handle,
        args: J::Args,
        callback: Option<Callback<J::Output>>,
    ) -> AsyncResult<J::Output> {
        let slot = Slot::new();
        let what = format!("the arguments of job `{}`", J::NAME);
        match encode(&args, &what) {
            Err(e) => slot.set(Err(e), callback),
            Ok(bytes) => {
                let me = self.clone();
                let to = Arc::clone(&slot);
                rt.spawn(async move {
                    let out = me.submit(J::NAME, J::fingerprint(), false, bytes).await;
                    let out = out.and_then(|o| decode(&o, &format!("the output of job `{}`", J::NAME)));
                    to.set(out, callback);
                });
            }
        }
        AsyncResult::new(slot)
    }

    /// One chunk: the arguments in order, the outputs in the same order.
    async fn run_chunk<J: Job>(&self, chunk: Vec<u8>, len: usize) -> Result<Vec<J::Output>, Error> {
        let out = self.submit(J::NAME, J::fingerprint(), true, chunk).await?;
        let outputs: Vec<J::Output> = decode(&out, &format!("the outputs of job `{}`", J::NAME))?;
        if outputs.len() != len {
            return Err(Error::Protocol(format!(
                "a chunk of {len} `{}` tasks came back with {} outputs",
                J::NAME,
                outputs.len()
            )));
        }
        Ok(outputs)
    }

    /// The arguments cut into chunks of `chunksize`, each encoded as a `Vec`.
    fn chunks<J: Job>(args: &[J::Args], chunksize: usize) -> Result<Vec<(Vec<u8>, usize)>, Error> {
        let what = format!("the arguments of job `{}`", J::NAME);
        args.chunks(chunksize.max(1)).map(|c| Ok((encode(c, &what)?, c.len()))).collect()
    }

    /// `pool.map(f, iterable)`: job `J` over every argument, outputs in order. The
    /// arguments travel in chunks of Python's default size (`len / (4 × workers)`,
    /// rounded up), each run by one worker. The first failed task fails the whole call.
    pub async fn map<J: Job>(&self, args: impl IntoIterator<Item = J::Args>) -> Result<Vec<J::Output>, Error> {
        let args: Vec<J::Args> = args.into_iter().collect();
        let workers = self.stats().await?.workers as usize;
        let chunksize = default_chunksize(args.len(), workers);
        self.map_chunked::<J>(args, chunksize).await
    }

    /// [`map`](Self::map) with an explicit chunk size.
    pub async fn map_chunked<J: Job>(
        &self,
        args: impl IntoIterator<Item = J::Args>,
        chunksize: usize,
    ) -> Result<Vec<J::Output>, Error> {
        let args: Vec<J::Args> = args.into_iter().collect();
        let mut running = Vec::new();
        for (chunk, len) in Self::chunks::<J>(&args, chunksize)? {
            let me = self.clone();
            running.push(tokio::spawn(async move { me.run_chunk::<J>(chunk, len).await }));
        }
        let mut outputs = Vec::with_capacity(args.len());
        for task in running {
            let chunk = task.await.map_err(|e| Error::Protocol(format!("a map task ended: {e}")))??;
            outputs.extend(chunk);
        }
        Ok(outputs)
    }

    /// `pool.starmap(f, iterable)`: for jobs of several arguments, whose `Args` is a
    /// tuple — each element of `args` is one call's tuple. The same as [`map`](Self::map)
    /// (a `#[job]` of several arguments already takes them as one tuple), under
    /// Python's name.
    pub async fn starmap<J: Job>(&self, args: impl IntoIterator<Item = J::Args>) -> Result<Vec<J::Output>, Error> {
        self.map::<J>(args).await
    }

    /// `pool.imap(f, iterable, chunksize)`: the outputs in order, each as soon as it and
    /// those before it are there.
    /// Outside a tokio runtime it yields one error saying so.
    pub fn imap<J: Job>(&self, args: impl IntoIterator<Item = J::Args>, chunksize: usize) -> Imap<J::Output> {
        match runtime() {
            Ok(rt) => self.imap_on::<J>(&rt, args, chunksize, true),
            Err(e) => Imap::failed(e),
        }
    }

    /// `pool.imap_unordered(f, iterable, chunksize)`: the outputs as they complete.
    pub fn imap_unordered<J: Job>(&self, args: impl IntoIterator<Item = J::Args>, chunksize: usize) -> Imap<J::Output> {
        match runtime() {
            Ok(rt) => self.imap_on::<J>(&rt, args, chunksize, false),
            Err(e) => Imap::failed(e),
        }
    }

    pub(crate) fn imap_on<J: Job>(
        &self,
        rt: &tokio::runtime::Handle,
        args: impl IntoIterator<Item = J::Args>,
        chunksize: usize,
        ordered: bool,
    ) -> Imap<J::Output> {
        let (tx, rx) = mpsc::unbounded_channel();
        let args: Vec<J::Args> = args.into_iter().collect();
        let chunks = match Self::chunks::<J>(&args, chunksize) {
            Ok(c) => c,
            Err(e) => {
                let _ = tx.send(Err(e));
                return Imap { rx };
            }
        };
        let me = self.clone();
        rt.spawn(async move {
            let (done_tx, mut done_rx) = mpsc::unbounded_channel();
            let count = chunks.len();
            for (i, (chunk, len)) in chunks.into_iter().enumerate() {
                let (me, done_tx) = (me.clone(), done_tx.clone());
                tokio::spawn(async move {
                    let _ = done_tx.send((i, me.run_chunk::<J>(chunk, len).await));
                });
            }
            drop(done_tx);
            let mut waiting = std::collections::BTreeMap::new();
            let mut next = 0;
            while next < count {
                let Some((i, outputs)) = done_rx.recv().await else { break };
                waiting.insert(i, outputs);
                while let Some(outputs) = if ordered { waiting.remove(&next) } else { waiting.pop_first().map(|e| e.1) }
                {
                    next += 1;
                    match outputs {
                        Ok(outputs) => outputs.into_iter().for_each(|o| drop(tx.send(Ok(o)))),
                        Err(e) => drop(tx.send(Err(e))),
                    }
                }
            }
        });
        Imap { rx }
    }

    /// `pool.close()`: no new tasks (they fail with `PoolNotRunning`); the workers exit
    /// once the queued ones ran.
    pub async fn close(&self) -> Result<(), Error> {
        self.call0(p::Close::ID, p::Close::WHAT).await
    }

    /// Fails every queued and running task with `PoolNotRunning` and tells the workers
    /// to exit ([`Pool::terminate`](super::Pool::terminate) also kills its processes).
    pub async fn terminate(&self) -> Result<(), Error> {
        let reply =
            self.handle.call_with(MethodRef::Id(p::Terminate::ID), &(String::new(),), p::Terminate::WHAT).await?;
        decode(reply.bytes(), p::Terminate::WHAT)
    }

    async fn call0(&self, id: u32, what: &str) -> Result<(), Error> {
        let reply = self.handle.call_with(MethodRef::Id(id), &(), what).await?;
        decode(reply.bytes(), what)
    }

    /// Waits until the pool is closed (or terminated), every task answered and every
    /// worker gone, at most `timeout` (`None`: for ever); whether it is so.
    pub async fn join_broker(&self, timeout: Option<std::time::Duration>) -> Result<bool, Error> {
        let reply = self
            .handle
            .call_with(MethodRef::Id(p::Join::ID), &(timeout.map(|t| t.as_secs_f64()),), p::Join::WHAT)
            .await?;
        decode(reply.bytes(), p::Join::WHAT)
    }

    /// The broker's counters: tasks queued, running, done and failed; workers.
    pub async fn stats(&self) -> Result<PoolStats, Error> {
        let reply = self.handle.call_with(MethodRef::Id(p::Stats::ID), &(), p::Stats::WHAT).await?;
        decode(reply.bytes(), p::Stats::WHAT)
    }
}
