//! The pool broker's bookkeeping, apart from the object that answers calls: the
//! queue (front and back, by position), the tasks by id, the workers and what each
//! took, the parked takes and joins. No call, no reply: `mod.rs` decodes and answers.

use manager_proto::RemoteError;
use manager_proto::pool::{PoolStats, Task};
use std::collections::{BTreeMap, HashMap, VecDeque};
use tokio::sync::oneshot;

use super::super::waiters::Waiters;

/// The most tasks one `take` hands out, whatever the worker asks.
pub(super) const MAX_BATCH: u64 = 1024;
/// The most argument bytes one batch carries (past its first task): a batch answer
/// stays far below any frame limit.
pub(super) const BATCH_BYTES: usize = 256 * 1024;

/// A task's outcome as its submitter receives it.
pub(super) type Answer = Result<Vec<u8>, RemoteError>;

/// A submitted task and where its answer goes.
pub(super) struct Pending {
    pub(super) task: Task,
    /// The submitter's parked `apply` (its receiver is gone if it gave up).
    pub(super) answer: oneshot::Sender<Answer>,
    /// Whether it was already retried after a lost worker (a second loss fails it).
    pub(super) retried: bool,
}

/// A registered worker connection.
pub(super) struct Worker {
    pub(super) pid: u64,
    /// Tasks it took and has not answered, in the order it runs them.
    pub(super) taken: VecDeque<u64>,
}

/// A parked `take` is woken to look at the queue again.
pub(super) struct Wake;
/// A parked `join` is woken to look at the pool again.
pub(super) struct Joinable;

#[derive(Default)]
pub(super) struct State {
    /// The initializer workers learn from `hello`.
    pub(super) init: (String, u64, Vec<u8>),
    /// Retry a task once when its worker is lost.
    pub(super) retry: bool,
    pub(super) closed: bool,
    pub(super) terminated: bool,
    /// Why it was terminated, when not asked to (the owner's workers kept failing):
    /// empty, or ": " and the reason, which errors repeat.
    pub(super) why_terminated: String,
    /// Every task queued or taken, by id.
    pub(super) tasks: HashMap<u64, Pending>,
    /// Queued tasks by position (lower runs first): back of the queue counts up,
    /// front down.
    pub(super) order: BTreeMap<i64, u64>,
    /// Each queued task's position in `order`.
    pub(super) position: HashMap<u64, i64>,
    pub(super) front: i64,
    pub(super) back: i64,
    pub(super) next_id: u64,
    pub(super) workers: HashMap<u64, Worker>,
    pub(super) takers: Waiters<u64, Wake>,
    pub(super) joiners: Waiters<(), Joinable>,
    pub(super) done: u64,
    pub(super) failed: u64,
}

impl State {
    pub(super) fn push_back(&mut self, id: u64) {
        self.back = self.back.saturating_add(1);
        self.order.insert(self.back, id);
        self.position.insert(id, self.back);
    }

    pub(super) fn push_front(&mut self, id: u64) {
        self.front = self.front.saturating_sub(1);
        self.order.insert(self.front, id);
        self.position.insert(id, self.front);
    }

    /// Wakes up to `n` parked takes.
    pub(super) fn wake_takers(&mut self, n: usize) {
        for _ in 0..n {
            if self.takers.grant_oldest(|_| Wake).is_none() {
                break;
            }
        }
    }

    pub(super) fn joinable(&self) -> bool {
        self.closed && self.tasks.is_empty() && self.workers.is_empty()
    }

    pub(super) fn check_joiners(&mut self) {
        if self.joinable() {
            self.joiners.grant_all(|_, _| Joinable);
        }
    }

    /// Answers task `id` (no longer queued nor taken) and counts it.
    pub(super) fn finish(&mut self, id: u64, answer: Answer) {
        if let Some(pending) = self.tasks.remove(&id) {
            if answer.is_ok() {
                self.done = self.done.saturating_add(1);
            } else {
                self.failed = self.failed.saturating_add(1);
            }
            // The submitter may have given up: its output is dropped.
            let _ = pending.answer.send(answer);
        }
        self.check_joiners();
    }

    /// Puts `ids` (taken by no one now) back at the front, in their order.
    pub(super) fn requeue(&mut self, ids: impl DoubleEndedIterator<Item = u64>) {
        let mut n = 0usize;
        for id in ids.rev() {
            if self.tasks.contains_key(&id) {
                self.push_front(id);
                n = n.saturating_add(1);
            }
        }
        self.wake_takers(n);
    }

    /// Up to `max` queued tasks for worker `conn`: its fair share of the queue.
    pub(super) fn take_batch(&mut self, conn: u64, max: u64) -> Vec<Task> {
        let workers = self.workers.len().max(1);
        let share = self.order.len().div_ceil(workers);
        let n = usize::try_from(max.clamp(1, MAX_BATCH)).unwrap_or(1).min(share);
        let mut batch = Vec::with_capacity(n);
        let mut bytes = 0usize;
        while batch.len() < n {
            let Some(entry) = self.order.first_entry() else { break };
            let id = *entry.get();
            let Some(pending) = self.tasks.get(&id) else {
                entry.remove();
                continue;
            };
            bytes = bytes.saturating_add(pending.task.args.len());
            if !batch.is_empty() && bytes > BATCH_BYTES {
                break;
            }
            entry.remove();
            self.position.remove(&id);
            batch.push(pending.task.clone());
        }
        if let Some(worker) = self.workers.get_mut(&conn) {
            worker.taken.extend(batch.iter().map(|t| t.id));
        }
        batch
    }

    pub(super) fn stats(&self) -> PoolStats {
        PoolStats {
            queued: self.order.len() as u64,
            running: self.tasks.len().saturating_sub(self.order.len()) as u64,
            workers: self.workers.len() as u64,
            done: self.done,
            failed: self.failed,
            closed: self.closed,
            terminated: self.terminated,
        }
    }
}
