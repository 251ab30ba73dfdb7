//! `Queue` and `JoinableQueue`: FIFO with an optional bound, blocking `put` and `get`
//! with timeouts, Python 3.13's `shutdown`, and `task_done` / `join` (one type, and its
//! rendering for `Inspect`: a little over 450 lines together).
//!
//! Nothing is ever taken by nobody. A waiting `get` receives its item through a
//! one-shot channel; if the waiter is dropped (its call cancelled, its connection gone)
//! it closes the channel and puts back anything that raced in. A `get` that was
//! answered but whose caller had already given up is undone by the connection (the
//! item goes back to the front). A `put` that times out either removed its item from
//! the waiting list (not put: `Full`) or finds it already admitted (put: `Ok`).

use manager_proto::builtin::queue as q;
use manager_proto::contract::Method;
use manager_proto::element::ItemRef;
use manager_proto::{Item, MethodRef, RemoteError, RemoteErrorKind};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use super::budget::Budgeted;
use super::waiters::{Outcome, Ticket, Wait, WaitQueue, Waiters};
use super::watch::{Watched, Watchers};
use super::{Element, args, args_within, encode, err, lock, new_args, reply, reply_bytes, resolve, timeout};
use crate::object::CallContext;
use crate::object::{Reply, ServerObject, Step, StepResult};
use manager_proto::stream::BoxSource;
use manager_proto::watch::QueueChange;

pub(crate) const TYPE_ID: &str = manager_proto::builtin::QUEUE;
pub(crate) const JOINABLE_TYPE_ID: &str = manager_proto::builtin::JOINABLE_QUEUE;

/// What a waiting `put` is granted: its item was admitted.
pub(crate) struct Admitted;

/// What a waiting `join` is told: every item put was marked done.
pub(crate) struct AllDone;

#[derive(Default)]
struct State {
    items: VecDeque<Element>,
    /// 0 means unbounded.
    maxsize: usize,
    /// Waiting gets, oldest first, each granted an item.
    getters: Waiters<(), Element>,
    /// Waiting puts, oldest first, each holding its item until admitted.
    putters: Waiters<Element, Admitted>,
    /// Waiting `join`s, told when no item is unfinished.
    joiners: Waiters<(), AllDone>,
    /// Items put and not yet marked done (`task_done`). Counted once per item admitted,
    /// so it cannot wrap.
    unfinished: u64,
    shut_down: bool,
    /// The length watchers were last told.
    watched_len: usize,
}

impl State {
    fn has_room(&self) -> bool {
        self.maxsize == 0 || self.items.len() < self.maxsize
    }

    /// An item enters the queue: straight to the oldest waiting `get`, else to the
    /// back.
    fn admit(&mut self, item: Element) {
        self.unfinished = self.unfinished.saturating_add(1);
        self.offer(item, false);
    }

    /// Hands `item` to the oldest waiting `get`, or stores it (at the front if it is
    /// coming back).
    fn offer(&mut self, item: Element, front: bool) {
        match self.getters.offer(item) {
            Ok(()) => {}
            Err(item) if front => self.items.push_front(item),
            Err(item) => self.items.push_back(item),
        }
    }

    /// Room was made: admit waiting puts while it lasts.
    fn refill(&mut self) {
        while self.has_room() {
            let Some(item) = self.putters.grant_oldest(|_| Admitted) else { break };
            self.admit(item);
        }
    }

    fn take(&mut self) -> Option<Element> {
        let item = self.items.pop_front()?;
        self.refill();
        Some(item)
    }

    /// Every item put was marked done: wake the `join`s.
    fn all_done_if_finished(&mut self) {
        if self.unfinished == 0 {
            self.joiners.grant_all(|_, ()| AllDone);
        }
    }

    /// `first` and then as many more as there are, up to `max` in all and as many as
    /// fit in one reply of `max_reply` bytes (the rest stay for the next call).
    fn take_more(&mut self, first: Element, max: u64, max_reply: usize) -> Vec<Element> {
        let mut size = first.encoded_len().saturating_add(10);
        let mut items = vec![first];
        while (items.len() as u64) < max {
            let fits = self.items.front().is_some_and(|next| {
                size = size.saturating_add(next.encoded_len());
                size <= max_reply
            });
            match self.take() {
                Some(item) if fits => items.push(item),
                _ => break,
            }
        }
        items
    }
}

/// `get` and `get_many`: how each reads its arguments and writes what it took.
trait Take: Method {
    /// At most how many to take, whether to wait, and for how long.
    fn parse(bytes: &[u8]) -> Result<(u64, bool, Option<f64>), RemoteError>;
    /// The reply for what was taken (never nothing).
    fn encode(sent: &[Item]) -> Result<manager_proto::Reply, RemoteError>;
}

impl Take for q::Get {
    fn parse(bytes: &[u8]) -> Result<(u64, bool, Option<f64>), RemoteError> {
        args::<Self, (bool, Option<f64>)>(bytes).map(|(b, t)| (1, b, t))
    }

    fn encode(sent: &[Item]) -> Result<manager_proto::Reply, RemoteError> {
        let first = sent.first().ok_or_else(|| err(RemoteErrorKind::Protocol, "Queue.get took nothing"))?;
        reply_bytes::<Self>(first)
    }
}

impl Take for q::GetMany {
    fn parse(bytes: &[u8]) -> Result<(u64, bool, Option<f64>), RemoteError> {
        args::<Self, (u64, bool, Option<f64>)>(bytes)
    }

    fn encode(sent: &[Item]) -> Result<manager_proto::Reply, RemoteError> {
        reply_bytes::<Self>(sent)
    }
}

pub(crate) struct Queue {
    type_id: &'static str,
    state: Mutex<State>,
    watchers: Watchers,
}

fn shut_down() -> RemoteError {
    err(RemoteErrorKind::QueueShutDown, "the queue is shut down")
}

impl Queue {
    fn new(bytes: &[u8], type_id: &'static str) -> Result<Queue, RemoteError> {
        let (maxsize,): (u64,) = new_args::<q::New, _>(bytes, q::NEW)?;
        Ok(Queue {
            type_id,
            state: Mutex::new(State { maxsize: usize::try_from(maxsize).unwrap_or(usize::MAX), ..State::default() }),
            watchers: Watchers::default(),
        })
    }

    pub(crate) fn create(bytes: &[u8], _ctx: &CallContext) -> Result<Queue, RemoteError> {
        Queue::new(bytes, TYPE_ID)
    }

    pub(crate) fn create_joinable(bytes: &[u8], _ctx: &CallContext) -> Result<Queue, RemoteError> {
        Queue::new(bytes, JOINABLE_TYPE_ID)
    }

    /// A reply handing `items` to the caller, undone by putting them back in front.
    /// Hands `items` to a `get` (`M`) as a reply the connection gives back to the
    /// queue if it cannot deliver it.
    fn transfer<M: Take>(self: &Arc<Self>, items: Vec<Element>, ctx: &CallContext) -> StepResult {
        let sent = Element::to_items(items.iter(), ctx, M::WHAT)?;
        let bytes = M::encode(&sent)?;
        let queue = Arc::clone(self);
        Ok(Reply::transfer(
            bytes,
            Box::new(move || {
                let mut st = lock(&queue.state);
                for item in items.into_iter().rev() {
                    st.offer(item, true);
                }
                queue.emit_len(&mut st);
            }),
        ))
    }

    fn put(self: Arc<Self>, bytes: &[u8], ctx: &CallContext) -> Step {
        let parsed = args::<q::Put, ((), ItemRef<'_>, (bool, Option<f64>))>(bytes)
            .and_then(|((), item, (block, t))| Ok((Element::take_ref(item, ctx)?, block, timeout(t, q::Put::WHAT)?)));
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
            self.emit_len(&mut st);
            return Step::Ready(reply::<q::Put>(&()));
        }
        if !block {
            return Step::Ready(Err(err(RemoteErrorKind::Full, "the queue is full")));
        }
        let wait: Wait<Queue, Admitted> = Wait::new(Arc::clone(&self), st.putters.push(item));
        drop(st);
        Step::Pending(Box::pin(async move {
            // Timed out: the item left with the waiter (not put). Refused: shut down.
            match wait.until(limit).await {
                Outcome::Granted(Admitted) => reply::<q::Put>(&()),
                Outcome::TimedOut if !lock(&self.state).shut_down => {
                    Err(err(RemoteErrorKind::Full, "the queue is full"))
                }
                Outcome::TimedOut | Outcome::Refused => Err(shut_down()),
            }
        }))
    }

    fn get<M: Take>(self: Arc<Self>, bytes: &[u8], ctx: &CallContext) -> Step {
        let (max, block, limit) = match M::parse(bytes).and_then(|(m, b, t)| Ok((m.max(1), b, timeout(t, M::WHAT)?))) {
            Ok(p) => p,
            Err(e) => return Step::Ready(Err(e)),
        };
        let mut st = lock(&self.state);
        if let Some(first) = st.take() {
            let items = st.take_more(first, max, ctx.limits().max_reply);
            self.emit_len(&mut st);
            drop(st);
            return Step::Ready(self.transfer::<M>(items, ctx));
        }
        if st.shut_down {
            return Step::Ready(Err(shut_down()));
        }
        if !block {
            return Step::Ready(Err(err(RemoteErrorKind::Empty, "the queue is empty")));
        }
        let wait: Wait<Queue, Element> = Wait::new(Arc::clone(&self), st.getters.push(()));
        drop(st);
        let ctx = ctx.clone();
        Step::Pending(Box::pin(async move {
            match wait.until(limit).await {
                Outcome::Granted(first) => {
                    let mut st = lock(&self.state);
                    let items = st.take_more(first, max, ctx.limits().max_reply);
                    self.emit_len(&mut st);
                    drop(st);
                    self.transfer::<M>(items, &ctx)
                }
                Outcome::TimedOut => Err(err(RemoteErrorKind::Empty, "the queue is empty")),
                // Only shutdown drops waiting gets.
                Outcome::Refused => Err(shut_down()),
            }
        }))
    }

    /// Tells watchers the queue's length, if it changed since they were last told.
    fn emit_len(&self, st: &mut State) {
        if self.watchers.count() > 0 && st.watched_len != st.items.len() {
            st.watched_len = st.items.len();
            self.watchers.emit_plain(|| QueueChange { len: st.items.len() as u64 });
        }
    }

    fn run(self: Arc<Self>, id: u32, bytes: &[u8], ctx: &CallContext) -> Step {
        let ready = |r| Step::Ready(r);
        match id {
            q::Put::ID => self.put(bytes, ctx),
            q::Get::ID => self.get::<q::Get>(bytes, ctx),
            q::GetMany::ID => self.get::<q::GetMany>(bytes, ctx),
            q::PutMany::ID => {
                // Admits what fits now, in order; returns how many (the client puts the
                // rest one by one, waiting for room).
                ready((|| {
                    let (Budgeted(items),): (Budgeted<Item>,) = args_within::<q::PutMany, _>(bytes, ctx)?;
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
                        n = n.saturating_add(1);
                    }
                    self.emit_len(&mut st);
                    reply::<q::PutMany>(&n)
                })())
            }
            q::Qsize::ID => ready(
                args::<q::Qsize, _>(bytes).and_then(|()| reply::<q::Qsize>(&(lock(&self.state).items.len() as u64))),
            ),
            q::Empty::ID => {
                ready(args::<q::Empty, _>(bytes).and_then(|()| reply::<q::Empty>(&lock(&self.state).items.is_empty())))
            }
            q::Full::ID => {
                ready(args::<q::Full, _>(bytes).and_then(|()| reply::<q::Full>(&!lock(&self.state).has_room())))
            }
            q::Maxsize::ID => ready(
                args::<q::Maxsize, _>(bytes).and_then(|()| reply::<q::Maxsize>(&(lock(&self.state).maxsize as u64))),
            ),
            q::Shutdown::ID => ready((|| {
                let (immediate,): (bool,) = args::<q::Shutdown, _>(bytes)?;
                let mut st = lock(&self.state);
                st.shut_down = true;
                let mut dropped = Vec::new();
                if immediate {
                    dropped.extend(st.items.drain(..));
                    st.unfinished = st.unfinished.saturating_sub(dropped.len() as u64);
                }
                // Blocked gets and puts fail with ShutDown (refused).
                st.getters.refuse_all();
                let putters = st.putters.refuse_all();
                st.all_done_if_finished();
                self.emit_len(&mut st);
                drop(st);
                // Items may release references: not under the lock.
                drop((dropped, putters));
                reply::<q::Shutdown>(&())
            })()),
            q::TaskDone::ID => ready((|| {
                let () = args::<q::TaskDone, _>(bytes)?;
                let mut st = lock(&self.state);
                st.unfinished = st
                    .unfinished
                    .checked_sub(1)
                    .ok_or_else(|| err(RemoteErrorKind::InvalidValue, "task_done() called too many times"))?;
                st.all_done_if_finished();
                reply::<q::TaskDone>(&())
            })()),
            q::Join::ID => {
                if let Err(e) = args::<q::Join, ()>(bytes) {
                    return ready(Err(e));
                }
                let mut st = lock(&self.state);
                if st.unfinished == 0 {
                    return ready(reply::<q::Join>(&()));
                }
                let wait: Wait<Queue, AllDone> = Wait::new(Arc::clone(&self), st.joiners.push(()));
                drop(st);
                Step::Pending(Box::pin(async move {
                    let _ = wait.until(None).await;
                    reply::<q::Join>(&())
                }))
            }
            q::Watch::ID => ready(Err(super::stream_method(q::Watch::WHAT))),
            _ => ready(Err(err(RemoteErrorKind::NotExposed, "unknown Queue method"))),
        }
    }
}

impl WaitQueue<Element> for Queue {
    fn withdraw(&self, ticket: Ticket) {
        lock(&self.state).getters.remove(ticket);
    }

    /// A `get` answered but given up: the item goes back to the front.
    fn give_back(&self, item: Element) {
        let mut st = lock(&self.state);
        st.offer(item, true);
        self.emit_len(&mut st);
    }
}

impl WaitQueue<Admitted> for Queue {
    fn withdraw(&self, ticket: Ticket) {
        // The item leaves with its waiter: dropped outside the lock (it may release
        // references).
        let item = lock(&self.state).putters.remove(ticket);
        drop(item);
    }

    /// A `put` admitted but given up stays put: the item is in the queue already.
    fn give_back(&self, Admitted: Admitted) {}
}

impl WaitQueue<AllDone> for Queue {
    fn withdraw(&self, ticket: Ticket) {
        lock(&self.state).joiners.remove(ticket);
    }

    fn give_back(&self, AllDone: AllDone) {}
}

impl Watched for Queue {
    fn watchers(&self) -> &Watchers {
        &self.watchers
    }

    fn snapshot(&self, id: u64, _ctx: &CallContext, out: &mut Vec<u8>) -> Result<u32, RemoteError> {
        let mut st = lock(&self.state);
        let events = self.watchers.resync(id, out);
        st.watched_len = st.items.len();
        super::watch::encode_state(&(st.items.len() as u64), out)?;
        Ok(events)
    }
}

impl ServerObject for Queue {
    fn shared_type_id(&self) -> &str {
        self.type_id
    }

    fn method_name(&self, id: u32) -> Option<&'static str> {
        super::name_of(q::NAMES, q::IDS, id)
    }

    fn call(self: Arc<Self>, ctx: &CallContext, method: MethodRef<'_>, bytes: &[u8]) -> Step {
        match resolve(self.type_id, q::NAMES, q::IDS, method) {
            Ok(id) => self.run(id, bytes, ctx),
            Err(e) => Step::Ready(Err(e)),
        }
    }

    fn value_copy(self: Arc<Self>, ctx: &CallContext) -> Step {
        Step::Ready(
            Element::to_items(lock(&self.state).items.iter(), ctx, "the Queue's value")
                .and_then(|items| encode(&items)),
        )
    }

    fn open(self: Arc<Self>, ctx: &CallContext, method: MethodRef<'_>, bytes: &[u8]) -> Result<BoxSource, RemoteError> {
        match resolve(self.type_id, q::NAMES, q::IDS, method)? {
            q::Watch::ID => {
                let () = args::<q::Watch, _>(bytes)?;
                Ok(Watchers::subscribe(self, ctx))
            }
            id => Err(super::not_a_stream("Queue", q::NAMES, q::IDS, id)),
        }
    }

    fn render(&self, _types: &[&str], out: &mut manager_proto::repr::Repr) {
        super::render::untyped(out, self.type_id, lock(&self.state).items.len());
    }

    fn references(&self, out: &mut Vec<manager_proto::ObjectId>) {
        lock(&self.state).items.iter().for_each(|e| e.refs.report(out));
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn std::any::Any + Send + Sync> {
        self
    }
}
