//! `Pool`: the broker of a process pool. It queues submitted tasks, hands them to
//! worker connections in batches, answers each submitter's parked `apply` with the
//! output its worker sent back, and notices a worker's death through the machinery that
//! releases a dead connection's locks. Its bookkeeping is `state.rs`.
//!
//! Rules it keeps (docs/ARCHITECTURE.md, "The process pool"):
//! - A task is in one place: queued (`order`), or taken by one worker (`Worker::taken`,
//!   in the order the worker runs them). `tasks` holds both, by id.
//! - A worker sends the outcome of a task before it starts the next one, and the
//!   connection's requests are read in order: when its connection ends, the first task
//!   it still holds is the one it may have been running. That one fails with
//!   `WorkerLost` (or, with the retry policy, goes back to the front once); the others
//!   go back to the front of the queue untouched.
//! - A batch whose reply the worker never acknowledged is undone as a transfer (before
//!   the connection's end is reported): its tasks go back untouched.
//! - A submitter that gives up (cancel, its connection's end) withdraws its task if it
//!   is still queued; a running one finishes and its output is dropped.
//! - Every task is a parked `apply`, so a connection holds at most its `max_in_flight`
//!   of them, each no larger than one request.

use manager_proto::contract::Method;
use manager_proto::pool::{Task, methods as p};
use manager_proto::{MethodRef, RemoteError, RemoteErrorKind};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

use super::waiters::{Outcome, Ticket, Wait, WaitQueue};
use super::{args, encode, err, lock, new_args, reply, reply_bytes, timeout};
use crate::object::CallContext;
use crate::object::{Reply, ServerObject, Step, StepResult};

mod state;
use state::{Joinable, Pending, State, Wake, Worker};

/// How many characters of a termination's reason errors repeat.
const MAX_REASON: usize = 500;

pub(crate) struct Pool {
    state: Mutex<State>,
}

fn not_running(st: &State) -> RemoteError {
    let why = if st.terminated { "it was terminated" } else { "it was closed" };
    err(
        RemoteErrorKind::PoolNotRunning,
        format!("Pool not running: {why}{}, so it takes no new tasks", st.why_terminated),
    )
}

impl Pool {
    pub(crate) fn create(bytes: &[u8], _ctx: &CallContext) -> Result<Pool, RemoteError> {
        let (job, fingerprint, init_args, retry): (String, u64, Vec<u8>, bool) = new_args::<p::New, _>(bytes, p::NEW)?;
        let state = State { init: (job, fingerprint, init_args), retry, ..State::default() };
        Ok(Pool { state: Mutex::new(state) })
    }

    fn apply(self: Arc<Self>, bytes: &[u8]) -> Step {
        let (job, fingerprint, chunk, task_args): (String, u64, bool, Vec<u8>) = match args::<p::Apply, _>(bytes) {
            Ok(a) => a,
            Err(e) => return Step::Ready(Err(e)),
        };
        let (tx, rx) = oneshot::channel();
        let id = {
            let mut st = lock(&self.state);
            if st.closed {
                return Step::Ready(Err(not_running(&st)));
            }
            let id = st.next_id;
            st.next_id = st.next_id.saturating_add(1);
            let task = Task { id, job, fingerprint, chunk, args: task_args };
            st.tasks.insert(id, Pending { task, answer: tx, retried: false });
            st.push_back(id);
            st.wake_takers(1);
            id
        };
        let submitted = Submitted { pool: self, id };
        Step::Pending(Box::pin(async move {
            let answer = rx.await;
            drop(submitted);
            match answer {
                Ok(Ok(output)) => reply::<p::Apply>(&output),
                Ok(Err(e)) => Err(e),
                Err(_) => Err(err(RemoteErrorKind::PoolNotRunning, "Pool not running: the pool is gone")),
            }
        }))
    }

    /// A submitter gave up on task `id`: withdrawn if still queued.
    fn withdraw(&self, id: u64) {
        let mut st = lock(&self.state);
        if let Some(at) = st.position.remove(&id) {
            st.order.remove(&at);
            st.tasks.remove(&id);
            st.check_joiners();
        }
    }

    fn hello(self: &Arc<Self>, ctx: &CallContext, bytes: &[u8]) -> StepResult {
        let (pid,): (u64,) = args::<p::Hello, _>(bytes)?;
        ctx.on_disconnect(Arc::clone(self) as Arc<dyn ServerObject>);
        let mut st = lock(&self.state);
        st.workers.entry(ctx.connection()).or_insert(Worker { pid, taken: VecDeque::new() }).pid = pid;
        reply::<p::Hello>(&st.init)
    }

    fn take(self: Arc<Self>, conn: u64, bytes: &[u8]) -> Step {
        let max = match args::<p::Take, (u64,)>(bytes) {
            Ok((max,)) => max,
            Err(e) => return Step::Ready(Err(e)),
        };
        if !lock(&self.state).workers.contains_key(&conn) {
            return Step::Ready(Err(err(
                RemoteErrorKind::InvalidValue,
                "Pool.take is for workers: call hello(pid) first on this connection",
            )));
        }
        Step::Pending(Box::pin(async move {
            loop {
                let wait = {
                    let mut st = lock(&self.state);
                    if !st.workers.contains_key(&conn) {
                        return Err(err(RemoteErrorKind::InvalidValue, "this worker is no longer registered"));
                    }
                    let exit = st.terminated || (st.closed && st.order.is_empty());
                    if exit || !st.order.is_empty() {
                        let batch = if exit { Vec::new() } else { st.take_batch(conn, max) };
                        drop(st);
                        return self.handed_out(conn, batch);
                    }
                    Wait::new(Arc::clone(&self), st.takers.push(conn))
                };
                match wait.until(None).await {
                    Outcome::Granted(Wake) | Outcome::Refused | Outcome::TimedOut => {}
                }
            }
        }))
    }

    /// A batch as a transfer: if the worker never acknowledges it (cancelled, or its
    /// connection ended first), its tasks go back to the front untouched.
    fn handed_out(self: &Arc<Self>, conn: u64, batch: Vec<Task>) -> StepResult {
        let bytes = reply_bytes::<p::Take>(&batch)?;
        if batch.is_empty() {
            return Ok(Reply::value(bytes));
        }
        let ids: Vec<u64> = batch.iter().map(|t| t.id).collect();
        let me = Arc::clone(self);
        Ok(Reply::transfer(bytes, Box::new(move || me.untake(conn, &ids))))
    }

    /// Undoes a batch: those of `ids` that worker `conn` still holds go back.
    fn untake(&self, conn: u64, ids: &[u64]) {
        let mut st = lock(&self.state);
        let Some(worker) = st.workers.get_mut(&conn) else { return };
        worker.taken.retain(|id| !ids.contains(id));
        st.requeue(ids.iter().copied());
    }

    fn done(&self, conn: u64, bytes: &[u8]) -> StepResult {
        let (id, code, output, message): (u64, u64, Vec<u8>, String) = args::<p::Done, _>(bytes)?;
        let mut st = lock(&self.state);
        let held = st.workers.get_mut(&conn).and_then(|w| w.taken.iter().position(|t| *t == id).map(|at| (w, at)));
        let Some((worker, at)) = held else {
            return Err(err(
                RemoteErrorKind::InvalidValue,
                format!("Pool.done: task {id} is not one this connection took (or the pool was terminated)"),
            ));
        };
        worker.taken.remove(at);
        let answer = match u32::try_from(code) {
            Ok(0) => Ok(output),
            Ok(code) => Err(RemoteError::new(RemoteErrorKind::from(code), message)),
            Err(_) => Err(err(RemoteErrorKind::Protocol, format!("task {id}: the worker sent error code {code}"))),
        };
        st.finish(id, answer);
        reply::<p::Done>(&())
    }

    /// Closes the pool, and terminates it if `terminate` says why (empty: asked to).
    fn close(&self, terminate: Option<&str>) {
        let mut st = lock(&self.state);
        st.closed = true;
        if let Some(why) = terminate {
            if !st.terminated && !why.is_empty() {
                // A reason is a line for people, not a payload: kept short.
                let why: String = why.chars().take(MAX_REASON).collect();
                st.why_terminated = format!(": {why}");
            }
            st.terminated = true;
            st.order.clear();
            st.position.clear();
            for worker in st.workers.values_mut() {
                worker.taken.clear();
            }
            let ids: Vec<u64> = st.tasks.keys().copied().collect();
            for id in ids {
                let job = st.tasks.get(&id).map(|p| p.task.job.clone()).unwrap_or_default();
                let message = format!(
                    "Pool not running: the pool was terminated before task {id} (job `{job}`) ran{}",
                    st.why_terminated
                );
                st.finish(id, Err(err(RemoteErrorKind::PoolNotRunning, message)));
            }
        }
        // Parked takes look again: the queue is empty, so they answer "exit".
        if st.order.is_empty() {
            st.takers.refuse_all();
        }
        st.check_joiners();
    }

    fn join(self: Arc<Self>, bytes: &[u8]) -> Step {
        let limit = match args::<p::Join, (Option<f64>,)>(bytes).and_then(|(t,)| timeout(t, p::Join::WHAT)) {
            Ok(l) => l,
            Err(e) => return Step::Ready(Err(e)),
        };
        let wait = {
            let mut st = lock(&self.state);
            if st.joinable() {
                return Step::Ready(reply::<p::Join>(&true));
            }
            Wait::new(Arc::clone(&self), st.joiners.push(()))
        };
        Step::Pending(Box::pin(async move {
            let joined = matches!(wait.until(limit).await, Outcome::Granted(Joinable));
            reply::<p::Join>(&(joined || lock(&self.state).joinable()))
        }))
    }
}

/// A submitter's parked `apply`: dropped before its answer came, it withdraws a task
/// still queued.
struct Submitted {
    pool: Arc<Pool>,
    id: u64,
}

impl Drop for Submitted {
    fn drop(&mut self) {
        self.pool.withdraw(self.id);
    }
}

impl WaitQueue<Wake> for Pool {
    fn withdraw(&self, ticket: Ticket) {
        lock(&self.state).takers.remove(ticket);
    }

    fn give_back(&self, _: Wake) {
        lock(&self.state).wake_takers(1);
    }
}

impl WaitQueue<Joinable> for Pool {
    fn withdraw(&self, ticket: Ticket) {
        lock(&self.state).joiners.remove(ticket);
    }

    fn give_back(&self, _: Joinable) {}
}

impl ServerObject for Pool {
    fn shared_type_id(&self) -> &str {
        manager_proto::pool::TYPE_ID
    }

    fn method_name(&self, id: u32) -> Option<&'static str> {
        super::name_of(p::NAMES, p::IDS, id)
    }

    fn call(self: Arc<Self>, ctx: &CallContext, method: MethodRef<'_>, bytes: &[u8]) -> Step {
        let id = match super::resolve(manager_proto::pool::TYPE_ID, p::NAMES, p::IDS, method) {
            Ok(id) => id,
            Err(e) => return Step::Ready(Err(e)),
        };
        let conn = ctx.connection();
        match id {
            p::Apply::ID => self.apply(bytes),
            p::Hello::ID => Step::Ready(self.hello(ctx, bytes)),
            p::Take::ID => self.take(conn, bytes),
            p::Done::ID => Step::Ready(self.done(conn, bytes)),
            p::Close::ID => Step::Ready(args::<p::Close, ()>(bytes).and_then(|()| {
                self.close(None);
                reply::<p::Close>(&())
            })),
            p::Terminate::ID => Step::Ready(args::<p::Terminate, (String,)>(bytes).and_then(|(why,)| {
                self.close(Some(&why));
                reply::<p::Terminate>(&())
            })),
            p::Join::ID => self.join(bytes),
            p::Stats::ID => {
                Step::Ready(args::<p::Stats, ()>(bytes).and_then(|()| reply::<p::Stats>(&lock(&self.state).stats())))
            }
            _ => Step::Ready(Err(err(RemoteErrorKind::NotExposed, "unknown Pool method"))),
        }
    }

    fn value_copy(self: Arc<Self>, _ctx: &CallContext) -> Step {
        Step::Ready(encode(&lock(&self.state).stats()))
    }

    fn render(&self, _types: &[&str], out: &mut manager_proto::repr::Repr) {
        let s = lock(&self.state).stats();
        out.push(&format!(
            "<Pool: queued={} running={} workers={} done={} failed={}{}>",
            s.queued,
            s.running,
            s.workers,
            s.done,
            s.failed,
            if s.terminated {
                " terminated"
            } else if s.closed {
                " closed"
            } else {
                ""
            }
        ));
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn std::any::Any + Send + Sync> {
        self
    }

    /// A worker's connection ended: the task it may have been running is lost (or
    /// retried once), the others it took go back untouched.
    fn disconnected(&self, conn: u64) {
        let mut st = lock(&self.state);
        let Some(worker) = st.workers.remove(&conn) else { return };
        let mut taken = worker.taken;
        if let Some(running) = taken.pop_front() {
            let retry = st.retry && st.tasks.get(&running).is_some_and(|p| !p.retried);
            if retry {
                if let Some(p) = st.tasks.get_mut(&running) {
                    p.retried = true;
                }
                taken.push_front(running);
            } else {
                let (job, again) = st.tasks.get(&running).map(|p| (p.task.job.clone(), p.retried)).unwrap_or_default();
                let again = if again { ", for the second time" } else { "" };
                let message =
                    format!("worker process {} ended while running job `{job}` (task {running}){again}", worker.pid);
                st.finish(running, Err(err(RemoteErrorKind::WorkerLost, message)));
            }
        }
        st.requeue(taken.into_iter());
        st.check_joiners();
    }
}
