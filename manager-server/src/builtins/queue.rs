//! `Queue` and `JoinableQueue`: FIFO with an optional bound, blocking `put` and `get`
//! with timeouts, Python 3.13's `shutdown`, and `task_done` / `join`.
//!
//! Nothing is ever taken by nobody. A waiting `get` receives its item through a
//! one-shot channel; if the waiter is dropped (its call cancelled, its connection gone)
//! it closes the channel and puts back anything that raced in. A `get` that was
//! answered but whose caller had already given up is undone by the connection (the
//! item goes back to the front). A `put` that times out either removed its item from
//! the waiting list (not put: `Full`) or finds it already admitted (put: `Ok`).

use manager_proto::element::ItemRef;
use manager_proto::{Item, MethodRef, RemoteError, RemoteErrorKind};
use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, oneshot};

use super::{Element, args, encode, err, lock, methods, resolve, timeout};
use crate::connection::CallContext;
use crate::object::{Reply, ServerObject, Step, StepResult};

pub(crate) const TYPE_ID: &str = manager_proto::builtin::QUEUE;
pub(crate) const JOINABLE_TYPE_ID: &str = manager_proto::builtin::JOINABLE_QUEUE;

methods! {
    PUT = "put",
    GET = "get",
    PUT_MANY = "put_many",
    GET_MANY = "get_many",
    QSIZE = "qsize",
    EMPTY = "empty",
    FULL = "full",
    MAXSIZE = "maxsize",
    SHUTDOWN = "shutdown",
    TASK_DONE = "task_done",
    JOIN = "join",
}

/// A `put` waiting for room, holding its item.
struct Putter {
    id: u64,
    item: Element,
    admitted: oneshot::Sender<()>,
}

#[derive(Default)]
struct State {
    items: VecDeque<Element>,
    /// 0 means unbounded.
    maxsize: usize,
    /// Waiting gets, oldest first; closed ones are skipped.
    getters: VecDeque<oneshot::Sender<Element>>,
    /// Waiting puts, oldest first.
    putters: VecDeque<Putter>,
    next_putter: u64,
    /// Items put and not yet marked done (`task_done`).
    unfinished: u64,
    shut_down: bool,
}

impl State {
    fn has_room(&self) -> bool {
        self.maxsize == 0 || self.items.len() < self.maxsize
    }

    /// An item enters the queue: straight to the oldest live waiting `get`, else to
    /// the back.
    fn admit(&mut self, item: Element) {
        self.unfinished += 1;
        self.offer(item, false);
    }

    /// Hands `item` to a waiting `get`, or stores it (at the front if it is coming
    /// back).
    fn offer(&mut self, mut item: Element, front: bool) {
        while let Some(getter) = self.getters.pop_front() {
            match getter.send(item) {
                Ok(()) => return,
                Err(back) => item = back,
            }
        }
        if front {
            self.items.push_front(item);
        } else {
            self.items.push_back(item);
        }
    }

    /// Room was made: admit waiting puts while it lasts.
    fn refill(&mut self) {
        while self.has_room() {
            let Some(putter) = self.putters.pop_front() else { break };
            if putter.admitted.send(()).is_ok() {
                self.admit(putter.item);
            }
        }
    }

    fn take(&mut self) -> Option<Element> {
        let item = self.items.pop_front()?;
        self.refill();
        Some(item)
    }
}

pub(crate) struct Queue {
    type_id: &'static str,
    state: Mutex<State>,
    /// Wakes `join`ers when the last unfinished item is marked done.
    all_done: Notify,
}

fn shut_down() -> RemoteError {
    err(RemoteErrorKind::QueueShutDown, "the queue is shut down")
}

impl Queue {
    fn new(bytes: &[u8], type_id: &'static str) -> Result<Queue, RemoteError> {
        let (maxsize,): (u64,) = args(bytes, "Queue()")?;
        Ok(Queue {
            type_id,
            state: Mutex::new(State { maxsize: usize::try_from(maxsize).unwrap_or(usize::MAX), ..State::default() }),
            all_done: Notify::new(),
        })
    }

    pub(crate) fn create(bytes: &[u8], _ctx: &CallContext) -> Result<Queue, RemoteError> {
        Queue::new(bytes, TYPE_ID)
    }

    pub(crate) fn create_joinable(bytes: &[u8], _ctx: &CallContext) -> Result<Queue, RemoteError> {
        Queue::new(bytes, JOINABLE_TYPE_ID)
    }

    /// A reply handing `items` to the caller, undone by putting them back in front.
    fn transfer(self: &Arc<Self>, items: Vec<Element>, one: bool, ctx: &CallContext) -> StepResult {
        let sent = Element::to_items(items.iter(), ctx)?;
        let bytes = if one { postcard::to_allocvec(&sent[0]) } else { postcard::to_allocvec(&sent) }
            .map_err(|e| err(RemoteErrorKind::Protocol, e.to_string()))?;
        let queue = Arc::clone(self);
        Ok(Reply::transfer(
            bytes,
            Box::new(move || {
                let mut st = lock(&queue.state);
                for item in items.into_iter().rev() {
                    st.offer(item, true);
                }
            }),
        ))
    }

    fn put(self: Arc<Self>, bytes: &[u8], ctx: &CallContext) -> Step {
        let parsed = args::<(ItemRef<'_>, bool, Option<f64>)>(bytes, "Queue.put")
            .and_then(|(item, block, t)| Ok((Element::take_ref(item, ctx)?, block, timeout(t, "Queue.put")?)));
        let (item, block, limit) = match parsed {
            Ok(p) => p,
            Err(e) => return Step::Ready(Err(e)),
        };
        let mut st = lock(&self.state);
        if st.shut_down {
            return Step::Ready(Err(shut_down()));
        }
        if st.has_room() && st.putters.is_empty() {
            st.admit(item);
            return Step::Ready(encode(&()));
        }
        if !block {
            return Step::Ready(Err(err(RemoteErrorKind::Full, "the queue is full")));
        }
        let (tx, rx) = oneshot::channel();
        st.next_putter += 1;
        let id = st.next_putter;
        st.putters.push_back(Putter { id, item, admitted: tx });
        drop(st);
        let guard = PutGuard { queue: self, id };
        Step::Pending(Box::pin(async move {
            let admitted = match with_deadline(limit, rx).await {
                Some(r) => r.is_ok(),
                // Timed out: still waiting means not put; gone from the list means a
                // `get` admitted it just now.
                None => !guard.withdraw(),
            };
            let shut = lock(&guard.queue.state).shut_down;
            drop(guard);
            match admitted {
                true => encode(&()),
                false if shut => Err(shut_down()),
                false => Err(err(RemoteErrorKind::Full, "the queue is full")),
            }
        }))
    }

    fn get(self: Arc<Self>, bytes: &[u8], ctx: &CallContext, many: bool) -> Step {
        let parsed = if many {
            args::<(u64, bool, Option<f64>)>(bytes, "Queue.get_many")
        } else {
            args::<(bool, Option<f64>)>(bytes, "Queue.get").map(|(b, t)| (1, b, t))
        };
        let (max, block, limit) = match parsed.and_then(|(m, b, t)| Ok((m.max(1), b, timeout(t, "Queue.get")?))) {
            Ok(p) => p,
            Err(e) => return Step::Ready(Err(e)),
        };
        let mut st = lock(&self.state);
        if let Some(first) = st.take() {
            let mut items = vec![first];
            while (items.len() as u64) < max {
                match st.take() {
                    Some(item) => items.push(item),
                    None => break,
                }
            }
            drop(st);
            return Step::Ready(self.transfer(items, !many, ctx));
        }
        if st.shut_down {
            return Step::Ready(Err(shut_down()));
        }
        if !block {
            return Step::Ready(Err(err(RemoteErrorKind::Empty, "the queue is empty")));
        }
        let (tx, rx) = oneshot::channel();
        st.getters.push_back(tx);
        drop(st);
        let ctx = ctx.clone();
        let mut guard = GetGuard { queue: self, rx };
        Step::Pending(Box::pin(async move {
            let first = match with_deadline(limit, &mut guard.rx).await {
                Some(Ok(item)) => Some(item),
                // The sender was dropped: only shutdown drops waiting gets.
                Some(Err(_)) => return Err(shut_down()),
                None => {
                    // Timed out; an item may have raced in before we closed the door.
                    guard.rx.close();
                    guard.rx.try_recv().ok()
                }
            };
            let queue = Arc::clone(&guard.queue);
            drop(guard);
            let Some(first) = first else {
                return Err(err(RemoteErrorKind::Empty, "the queue is empty"));
            };
            let mut items = vec![first];
            let mut st = lock(&queue.state);
            while (items.len() as u64) < max {
                match st.take() {
                    Some(item) => items.push(item),
                    None => break,
                }
            }
            drop(st);
            queue.transfer(items, !many, &ctx)
        }))
    }

    fn run(self: Arc<Self>, id: u32, bytes: &[u8], ctx: &CallContext) -> Step {
        let ready = |r| Step::Ready(r);
        match id {
            m::PUT => self.put(bytes, ctx),
            m::GET => self.get(bytes, ctx, false),
            m::GET_MANY => self.get(bytes, ctx, true),
            m::PUT_MANY => {
                // Admits what fits now, in order; returns how many (the client puts the
                // rest one by one, waiting for room).
                ready((|| {
                    let (items,): (Vec<Item>,) = args(bytes, "Queue.put_many")?;
                    let items = Element::take_all(items, ctx)?;
                    let mut st = lock(&self.state);
                    if st.shut_down {
                        return Err(shut_down());
                    }
                    let mut n = 0u64;
                    for item in items {
                        if !(st.has_room() && st.putters.is_empty()) {
                            break;
                        }
                        st.admit(item);
                        n += 1;
                    }
                    encode(&n)
                })())
            }
            m::QSIZE => {
                ready(args::<()>(bytes, "Queue.qsize").and_then(|()| encode(&(lock(&self.state).items.len() as u64))))
            }
            m::EMPTY => {
                ready(args::<()>(bytes, "Queue.empty").and_then(|()| encode(&lock(&self.state).items.is_empty())))
            }
            m::FULL => ready(args::<()>(bytes, "Queue.full").and_then(|()| encode(&!lock(&self.state).has_room()))),
            m::MAXSIZE => {
                ready(args::<()>(bytes, "Queue.maxsize").and_then(|()| encode(&(lock(&self.state).maxsize as u64))))
            }
            m::SHUTDOWN => ready((|| {
                let (immediate,): (bool,) = args(bytes, "Queue.shutdown")?;
                let mut st = lock(&self.state);
                st.shut_down = true;
                let mut dropped = Vec::new();
                if immediate {
                    dropped.extend(st.items.drain(..));
                    st.unfinished = st.unfinished.saturating_sub(dropped.len() as u64);
                }
                // Blocked gets and puts fail with ShutDown (their senders drop).
                st.getters.clear();
                let putters: Vec<Putter> = st.putters.drain(..).collect();
                let done = st.unfinished == 0;
                drop(st);
                drop((dropped, putters));
                if done {
                    self.all_done.notify_waiters();
                }
                encode(&())
            })()),
            m::TASK_DONE => ready((|| {
                let () = args(bytes, "Queue.task_done")?;
                let mut st = lock(&self.state);
                if st.unfinished == 0 {
                    return Err(err(RemoteErrorKind::InvalidValue, "task_done() called too many times"));
                }
                st.unfinished -= 1;
                let done = st.unfinished == 0;
                drop(st);
                if done {
                    self.all_done.notify_waiters();
                }
                encode(&())
            })()),
            m::JOIN => {
                if let Err(e) = args::<()>(bytes, "Queue.join") {
                    return ready(Err(e));
                }
                if lock(&self.state).unfinished == 0 {
                    return ready(encode(&()));
                }
                Step::Pending(Box::pin(async move {
                    loop {
                        let notified = self.all_done.notified();
                        tokio::pin!(notified);
                        notified.as_mut().enable();
                        if lock(&self.state).unfinished == 0 {
                            return encode(&());
                        }
                        notified.await;
                    }
                }))
            }
            _ => ready(Err(err(RemoteErrorKind::NotExposed, "unknown Queue method"))),
        }
    }
}

/// Awaits `fut` until the optional deadline; `None` when it passed first.
async fn with_deadline<F: Future>(limit: Option<Duration>, fut: F) -> Option<F::Output> {
    match limit {
        None => Some(fut.await),
        Some(d) => tokio::time::timeout(d, fut).await.ok(),
    }
}

/// A waiting `get`. Dropped — its call cancelled or its connection gone — it closes
/// its channel and puts back an item that raced in, at the front.
struct GetGuard {
    queue: Arc<Queue>,
    rx: oneshot::Receiver<Element>,
}

impl Drop for GetGuard {
    fn drop(&mut self) {
        self.rx.close();
        if let Ok(item) = self.rx.try_recv() {
            lock(&self.queue.state).offer(item, true);
        }
    }
}

/// A waiting `put`. Dropped, it withdraws its item if it was not admitted yet.
struct PutGuard {
    queue: Arc<Queue>,
    id: u64,
}

impl PutGuard {
    /// Removes the waiting item; false if it had already been admitted.
    fn withdraw(&self) -> bool {
        let mut st = lock(&self.queue.state);
        match st.putters.iter().position(|p| p.id == self.id) {
            Some(at) => {
                let putter = st.putters.remove(at);
                drop(st);
                drop(putter);
                true
            }
            None => false,
        }
    }
}

impl Drop for PutGuard {
    fn drop(&mut self) {
        self.withdraw();
    }
}

impl ServerObject for Queue {
    fn shared_type_id(&self) -> &str {
        self.type_id
    }

    fn call(self: Arc<Self>, ctx: &CallContext, method: MethodRef<'_>, bytes: &[u8]) -> Step {
        match resolve(self.type_id, m::NAMES, m::IDS, method) {
            Ok(id) => self.run(id, bytes, ctx),
            Err(e) => Step::Ready(Err(e)),
        }
    }

    fn value_copy(self: Arc<Self>, ctx: &CallContext) -> Step {
        Step::Ready(Element::to_items(lock(&self.state).items.iter(), ctx).and_then(|items| encode(&items)))
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn std::any::Any + Send + Sync> {
        self
    }
}
