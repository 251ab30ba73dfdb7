//! `Barrier`: `parties` callers wait until all have arrived, then all go on.
//!
//! Python's semantics — arrival indexes, `abort`, `reset`, a timeout breaks the barrier
//! for everyone — with one improvement: a waiter whose call is cancelled or whose
//! connection dies leaves the barrier instead of counting as a party (Python's dead
//! waiter keeps its place, and the barrier later trips with a ghost).
//!
//! An action (Python's `Barrier(parties, action)`) is a server-side function
//! registered by name on the builder and chosen by the client at creation; the last
//! arrival runs it, under the barrier's mutex, before anyone is released. One that
//! panics breaks the barrier: every waiter gets `BrokenBarrier` saying so.

use manager_proto::builtin::barrier as ba;
use manager_proto::contract::Method;
use manager_proto::{MethodRef, RemoteError, RemoteErrorKind};
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::waiters::{Outcome, Ticket, Wait, WaitQueue, Waiters};
use super::{args, encode, err, lock, new_args, reply, timeout};
use crate::object::CallContext;
use crate::object::{ServerObject, Step};
use crate::registry::Constructor;

pub(crate) const TYPE_ID: &str = manager_proto::builtin::BARRIER;

/// What a waiter gets: its arrival index when the barrier trips, or why it broke.
pub(crate) type Passage = Result<u64, Why>;

/// Why a barrier is broken, as its waiters are told.
pub(crate) type Why = Arc<str>;

/// A barrier action: run once per pass by the last arrival, before the others go on.
pub(crate) type Action = Arc<dyn Fn() + Send + Sync>;

/// The actions a server's clients may choose from, by name.
pub(crate) type Actions = HashMap<String, Action>;

struct State {
    parties: u64,
    /// Those waiting, in arrival order: a waiter's index is its place when the barrier
    /// trips (one that left moves the later ones up).
    waiting: Waiters<(), Passage>,
    /// Why the barrier is broken, if it is.
    broken: Option<Why>,
}

impl State {
    fn break_barrier(&mut self, why: Why) {
        self.waiting.grant_all(|_, ()| Err(Arc::clone(&why)));
        self.broken = Some(why);
    }
}

pub(crate) struct Barrier {
    default_timeout: Option<Duration>,
    /// The action chosen at creation, with its name for errors.
    action: Option<(String, Action)>,
    state: Mutex<State>,
}

/// Why a barrier broke by a timeout, `abort` or `reset`.
fn plain() -> Why {
    Arc::from("the barrier is broken")
}

fn broken(why: &Why) -> RemoteError {
    err(RemoteErrorKind::BrokenBarrier, why.to_string())
}

/// The barrier's constructor on a server whose builder registered `actions`.
pub(crate) fn constructor(actions: Arc<Actions>) -> Constructor {
    Box::new(move |args, ctx| Ok(Arc::new(Barrier::create(args, ctx, &actions)?) as Arc<dyn ServerObject>))
}

impl Barrier {
    fn create(bytes: &[u8], _ctx: &CallContext, actions: &Actions) -> Result<Barrier, RemoteError> {
        let (parties, t, name): (u64, Option<f64>, String) = match new_args::<ba::New, _>(bytes, ba::NEW) {
            Ok(args) => args,
            // A client from before barrier actions sends no name: a barrier without one.
            // (Unambiguous: the two fields alone are one byte short of any three.)
            Err(e) => match super::decode::<(u64, Option<f64>)>(bytes, ba::NEW) {
                Ok((parties, t)) => (parties, t, String::new()),
                Err(_) => return Err(e),
            },
        };
        if parties == 0 {
            return Err(err(RemoteErrorKind::InvalidValue, "parties must be > 0"));
        }
        let action = if name.is_empty() {
            None
        } else {
            let action = actions.get(&name).ok_or_else(|| {
                let mut known: Vec<&str> = actions.keys().map(String::as_str).collect();
                known.sort_unstable();
                err(
                    RemoteErrorKind::InvalidValue,
                    format!(
                        "no barrier action `{name}` is registered on this server (registered: {})",
                        if known.is_empty() { "none".to_owned() } else { known.join(", ") }
                    ),
                )
            })?;
            Some((name, Arc::clone(action)))
        };
        Ok(Barrier {
            default_timeout: timeout(t, "Barrier()")?,
            action,
            state: Mutex::new(State { parties, waiting: Waiters::default(), broken: None }),
        })
    }

    /// Runs the action, if any; a panic in it breaks the barrier and says why.
    fn run_action(&self, st: &mut State) -> Result<(), Why> {
        let Some((name, action)) = &self.action else { return Ok(()) };
        catch_unwind(AssertUnwindSafe(|| action())).map_err(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".to_owned());
            let why: Why = Arc::from(format!("the barrier is broken: its action `{name}` panicked ({what})"));
            st.break_barrier(Arc::clone(&why));
            why
        })
    }

    fn wait(self: Arc<Self>, bytes: &[u8]) -> Step {
        let limit = match args::<ba::Wait, (Option<f64>,)>(bytes).and_then(|(t,)| timeout(t, ba::Wait::WHAT)) {
            Ok(l) => l.or(self.default_timeout),
            Err(e) => return Step::Ready(Err(e)),
        };
        let mut st = lock(&self.state);
        if let Some(why) = &st.broken {
            return Step::Ready(Err(broken(why)));
        }
        let index = st.waiting.len() as u64;
        if st.parties.checked_sub(index) == Some(1) {
            // The last arrival runs the action, then trips the barrier for everyone.
            if let Err(why) = self.run_action(&mut st) {
                return Step::Ready(Err(broken(&why)));
            }
            st.waiting.grant_all(|n, ()| Ok(n));
            return Step::Ready(reply::<ba::Wait>(&index));
        }
        let wait = Wait::new(Arc::clone(&self), st.waiting.push(()));
        drop(st);
        Step::Pending(Box::pin(async move {
            match wait.until(limit).await {
                Outcome::Granted(Ok(index)) => reply::<ba::Wait>(&index),
                Outcome::Granted(Err(why)) => Err(broken(&why)),
                Outcome::Refused => Err(broken(&plain())),
                Outcome::TimedOut => {
                    // It has left the queue; the barrier breaks for everyone (Python's
                    // semantics).
                    lock(&self.state).break_barrier(plain());
                    Err(broken(&plain()))
                }
            }
        }))
    }
}

/// A waiter cancelled before the barrier trips leaves (without breaking it); one
/// cancelled after has nothing to give back.
impl WaitQueue<Passage> for Barrier {
    fn withdraw(&self, ticket: Ticket) {
        lock(&self.state).waiting.remove(ticket);
    }

    fn give_back(&self, _: Passage) {}
}

impl ServerObject for Barrier {
    fn shared_type_id(&self) -> &str {
        TYPE_ID
    }

    fn method_name(&self, id: u32) -> Option<&'static str> {
        super::name_of(ba::NAMES, ba::IDS, id)
    }

    fn call(self: Arc<Self>, _ctx: &CallContext, method: MethodRef<'_>, bytes: &[u8]) -> Step {
        let id = match super::resolve(TYPE_ID, ba::NAMES, ba::IDS, method) {
            Ok(id) => id,
            Err(e) => return Step::Ready(Err(e)),
        };
        let ready = |r| Step::Ready(r);
        match id {
            ba::Wait::ID => self.wait(bytes),
            ba::Abort::ID => ready(args::<ba::Abort, _>(bytes).and_then(|()| {
                lock(&self.state).break_barrier(plain());
                reply::<ba::Abort>(&())
            })),
            ba::Reset::ID => ready(args::<ba::Reset, _>(bytes).and_then(|()| {
                let mut st = lock(&self.state);
                // Waiters get BrokenBarrier; the barrier starts afresh.
                st.break_barrier(plain());
                st.broken = None;
                reply::<ba::Reset>(&())
            })),
            ba::Parties::ID => {
                ready(args::<ba::Parties, _>(bytes).and_then(|()| reply::<ba::Parties>(&lock(&self.state).parties)))
            }
            ba::NWaiting::ID => ready(
                args::<ba::NWaiting, _>(bytes)
                    .and_then(|()| reply::<ba::NWaiting>(&(lock(&self.state).waiting.len() as u64))),
            ),
            ba::Broken::ID => ready(
                args::<ba::Broken, _>(bytes).and_then(|()| reply::<ba::Broken>(&lock(&self.state).broken.is_some())),
            ),
            _ => ready(Err(err(RemoteErrorKind::NotExposed, "unknown Barrier method"))),
        }
    }

    fn value_copy(self: Arc<Self>, _ctx: &CallContext) -> Step {
        let st = lock(&self.state);
        Step::Ready(encode(&(st.parties, st.waiting.len() as u64, st.broken.is_some())))
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn std::any::Any + Send + Sync> {
        self
    }
}
