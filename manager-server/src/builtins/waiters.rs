//! Parked callers of a blocking built-in, in arrival order: the one way every blocking
//! type waits, grants, times out and gives back.
//!
//! The rules, which every user of this module relies on:
//!
//! - A queue of [`Waiters`] lives inside its object's state, under the object's mutex.
//!   Every grant (taking an entry out and sending to it) and every withdrawal happens
//!   under that mutex.
//! - A waiter that gives up — its timeout passed, its call was cancelled, its connection
//!   closed — removes its own entry at once ([`Wait`]'s drop, or [`Wait::until`] on a
//!   timeout). Nothing is left for a later grant to skip: 100,000 timed-out waits on an
//!   object nobody touches leave its queue empty.
//! - A waiter that finds its entry gone after locking the mutex has been answered: the
//!   grant is in its channel, or the object refused it (dropped the entry, as a queue's
//!   shutdown does). A grant is never in flight while the entry is gone.
//! - A grant whose waiter gave up goes back to the object ([`WaitQueue::give_back`]):
//!   an item is offered again, a lock or permit passed on, a notification handed to the
//!   next waiter. Nothing is lost and nothing is granted twice.
//!
//! Entries are kept in a `BTreeMap` keyed by arrival number: the oldest comes out in
//! O(log n), and any entry leaves in O(log n) when its waiter gives up, however many
//! are waiting.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

/// A waiter's place in its queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Ticket(u64);

/// One waiting caller: what it brought (its owner, the item it waits to put) and where
/// its grant goes.
struct Entry<T, G> {
    tag: T,
    grant: oneshot::Sender<G>,
}

/// The waiters of one blocking operation of one object, oldest first. `T` is what each
/// waiter brings, `G` what it is granted.
pub(crate) struct Waiters<T, G> {
    entries: BTreeMap<Ticket, Entry<T, G>>,
    /// The next arrival's number. A `u64` counted once per wait cannot wrap.
    next: u64,
}

impl<T, G> Default for Waiters<T, G> {
    fn default() -> Self {
        Waiters { entries: BTreeMap::new(), next: 0 }
    }
}

impl<T, G> Waiters<T, G> {
    /// How many are waiting.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nobody is waiting.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Queues a waiter bringing `tag`; the receiver gets its grant. The caller wraps it
    /// in a [`Wait`] before anything can drop it.
    pub(crate) fn push(&mut self, tag: T) -> (Ticket, oneshot::Receiver<G>) {
        let ticket = Ticket(self.next);
        self.next = self.next.wrapping_add(1);
        let (grant, rx) = oneshot::channel();
        self.entries.insert(ticket, Entry { tag, grant });
        (ticket, rx)
    }

    /// Grants the oldest waiter: `grant` is made from its tag (and may change the
    /// object's state, under the same lock). Returns what the waiter brought; `None`
    /// when nobody waits.
    pub(crate) fn grant_oldest(&mut self, grant: impl FnOnce(&T) -> G) -> Option<T> {
        let (_, entry) = self.entries.pop_first()?;
        // The receiver is alive: a waiter that gives up removes its entry first, under
        // the lock this runs under.
        let _ = entry.grant.send(grant(&entry.tag));
        Some(entry.tag)
    }

    /// Grants `grant` to the oldest waiter, returning what it brought; gives `grant`
    /// back when nobody waits.
    pub(crate) fn offer(&mut self, grant: G) -> Result<T, G> {
        match self.entries.pop_first() {
            Some((_, entry)) => {
                // Alive, as in `grant_oldest`.
                let _ = entry.grant.send(grant);
                Ok(entry.tag)
            }
            None => Err(grant),
        }
    }

    /// Grants every waiter, oldest first, each with what `grant` makes of its arrival
    /// order (0 for the oldest) and tag.
    pub(crate) fn grant_all(&mut self, mut grant: impl FnMut(u64, &T) -> G) {
        for (n, (_, entry)) in std::mem::take(&mut self.entries).into_iter().enumerate() {
            let _ = entry.grant.send(grant(n as u64, &entry.tag));
        }
    }

    /// Removes a waiter that gave up; what it brought, if it was still waiting.
    pub(crate) fn remove(&mut self, ticket: Ticket) -> Option<T> {
        self.entries.remove(&ticket).map(|e| e.tag)
    }

    /// Refuses every waiter `keep` rejects: each gets [`Outcome::Refused`].
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        self.entries.retain(|_, e| keep(&e.tag));
    }

    /// Refuses every waiter; returns what they brought.
    pub(crate) fn refuse_all(&mut self) -> Vec<T> {
        std::mem::take(&mut self.entries).into_values().map(|e| e.tag).collect()
    }
}

/// How an object takes back what its waiters give up. Implemented once per waiting
/// operation (a type with two, like a queue's `get` and `put`, tells them apart by `G`).
pub(crate) trait WaitQueue<G>: Send + Sync + 'static {
    /// Removes waiter `ticket` from its queue if it is still there (it gives up).
    fn withdraw(&self, ticket: Ticket);

    /// `grant` reached a waiter that had given up: put it back (offer the item again,
    /// pass the lock on).
    fn give_back(&self, grant: G);
}

/// How a wait ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome<G> {
    /// Granted (possibly in the same instant as the timeout: a grant wins).
    Granted(G),
    /// The timeout passed first; the waiter has left the queue.
    TimedOut,
    /// The object dropped the waiter without a grant (a queue shut down, a connection's
    /// waiters cleared).
    Refused,
}

/// A parked caller's side of its entry. Dropped at any point — its call cancelled, its
/// connection gone — it leaves the queue, and gives back a grant that raced in.
pub(crate) struct Wait<Q: WaitQueue<G>, G: Send + 'static> {
    queue: Arc<Q>,
    ticket: Ticket,
    rx: oneshot::Receiver<G>,
    /// Set once the outcome was taken: nothing left to withdraw or give back.
    settled: bool,
}

impl<Q: WaitQueue<G>, G: Send + 'static> Wait<Q, G> {
    /// Takes charge of an entry just queued with [`Waiters::push`].
    pub(crate) fn new(queue: Arc<Q>, (ticket, rx): (Ticket, oneshot::Receiver<G>)) -> Self {
        Wait { queue, ticket, rx, settled: false }
    }

    /// Waits for a grant, at most `limit` (`None`: for ever).
    pub(crate) async fn until(mut self, limit: Option<Duration>) -> Outcome<G> {
        let answered = match limit {
            None => Some((&mut self.rx).await),
            Some(d) => tokio::time::timeout(d, &mut self.rx).await.ok(),
        };
        self.settled = true;
        match answered {
            Some(Ok(grant)) => Outcome::Granted(grant),
            Some(Err(_)) => Outcome::Refused,
            None => {
                // Leave the queue; a grant sent before we got the lock is ours.
                self.queue.withdraw(self.ticket);
                match self.rx.try_recv() {
                    Ok(grant) => Outcome::Granted(grant),
                    Err(_) => Outcome::TimedOut,
                }
            }
        }
    }
}

impl<Q: WaitQueue<G>, G: Send + 'static> Drop for Wait<Q, G> {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        self.queue.withdraw(self.ticket);
        // Withdrawn under the lock: a grant is in the channel now, or never will be.
        if let Ok(grant) = self.rx.try_recv() {
            self.queue.give_back(grant);
        }
    }
}

#[cfg(test)]
mod tests {
    //! The primitive on its own: a pool of tokens handed to waiters, checked for
    //! tokens lost or granted twice while waiting futures are dropped at random points.
    #![allow(clippy::unwrap_used, clippy::arithmetic_side_effects)]

    use super::*;
    use proptest::prelude::*;
    use std::sync::Mutex;

    /// A pool of numbered tokens: `take` waits for one, `put` returns one.
    #[derive(Default)]
    struct Pool {
        state: Mutex<PoolState>,
    }

    #[derive(Default)]
    struct PoolState {
        free: Vec<u32>,
        waiters: Waiters<(), u32>,
    }

    impl Pool {
        fn put(&self, token: u32) {
            let mut st = self.state.lock().unwrap();
            if st.waiters.grant_oldest(|()| token).is_none() {
                st.free.push(token);
            }
        }

        fn take(self: &Arc<Self>) -> Result<u32, Wait<Pool, u32>> {
            let mut st = self.state.lock().unwrap();
            match st.free.pop() {
                Some(t) => Ok(t),
                None => Err(Wait::new(Arc::clone(self), st.waiters.push(()))),
            }
        }
    }

    impl WaitQueue<u32> for Pool {
        fn withdraw(&self, ticket: Ticket) {
            self.state.lock().unwrap().waiters.remove(ticket);
        }

        fn give_back(&self, token: u32) {
            self.put(token);
        }
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap()
    }

    #[test]
    fn a_timed_out_waiter_leaves_nothing_behind() {
        rt().block_on(async {
            let pool = Arc::new(Pool::default());
            for _ in 0..1000 {
                let wait = pool.take().err().unwrap();
                assert_eq!(wait.until(Some(Duration::from_millis(1))).await, Outcome::TimedOut);
            }
            assert!(pool.state.lock().unwrap().waiters.is_empty());
        });
    }

    #[test]
    fn waiters_are_granted_oldest_first_and_refused_when_dropped_by_the_object() {
        rt().block_on(async {
            let pool = Arc::new(Pool::default());
            let first = pool.take().err().unwrap();
            let second = pool.take().err().unwrap();
            pool.put(7);
            assert_eq!(first.until(None).await, Outcome::Granted(7));
            pool.state.lock().unwrap().waiters.refuse_all();
            assert_eq!(second.until(None).await, Outcome::Refused);
        });
    }

    #[test]
    fn a_grant_racing_a_timeout_is_kept() {
        rt().block_on(async {
            let pool = Arc::new(Pool::default());
            let wait = pool.take().err().unwrap();
            // Granted before the waiter ran at all: its zero timeout still finds it.
            pool.put(3);
            assert_eq!(wait.until(Some(Duration::ZERO)).await, Outcome::Granted(3));
        });
    }

    /// One step of the property test.
    #[derive(Clone, Debug)]
    enum Op {
        /// A waiter (or an immediate take) with this timeout in ms (`None`: for ever).
        Take(Option<u8>),
        /// Return a held token (the n-th, modulo).
        Put(usize),
        /// Drop the n-th waiting future (modulo), as a cancel or a closed connection.
        Cancel(usize),
        /// Let time pass, in ms.
        Advance(u8),
        /// Let woken waiters run. Without it, a put and a cancel meet a waiter that was
        /// granted and has not run yet: the grant must come back.
        Yield,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            proptest::option::of(0u8..20).prop_map(Op::Take),
            any::<usize>().prop_map(Op::Put),
            any::<usize>().prop_map(Op::Cancel),
            (0u8..30).prop_map(Op::Advance),
            Just(Op::Yield),
        ]
    }

    proptest! {
        /// Whatever the order of takes, puts, timeouts and cancellations, every token is
        /// in exactly one place — free, or held by one caller — and no waiter is left in
        /// the queue once every wait has ended.
        #[test]
        fn tokens_are_never_lost_or_granted_twice(tokens in 1u32..4, ops in proptest::collection::vec(op(), 1..80)) {
            rt().block_on(async {
                let pool = Arc::new(Pool::default());
                for t in 0..tokens {
                    pool.put(t);
                }
                let mut held: Vec<u32> = Vec::new();
                let mut waiting: Vec<tokio::task::JoinHandle<Outcome<u32>>> = Vec::new();
                for op in ops {
                    match op {
                        Op::Take(limit) => match pool.take() {
                            Ok(t) => held.push(t),
                            Err(wait) => {
                                let limit = limit.map(|ms| Duration::from_millis(u64::from(ms)));
                                waiting.push(tokio::spawn(wait.until(limit)));
                            }
                        },
                        Op::Put(n) if !held.is_empty() => {
                            let t = held.remove(n % held.len());
                            pool.put(t);
                        }
                        Op::Put(_) => {}
                        Op::Cancel(n) if !waiting.is_empty() => {
                            let task = waiting.remove(n % waiting.len());
                            task.abort();
                            // A grant it had already taken is its own: it counts as held.
                            if let Ok(Outcome::Granted(t)) = task.await {
                                held.push(t);
                            }
                        }
                        Op::Cancel(_) => {}
                        Op::Advance(ms) => tokio::time::sleep(Duration::from_millis(u64::from(ms))).await,
                        Op::Yield => tokio::task::yield_now().await,
                    }
                    let mut still = Vec::new();
                    for task in waiting.drain(..) {
                        if task.is_finished() {
                            if let Outcome::Granted(t) = task.await.unwrap() {
                                held.push(t);
                            }
                        } else {
                            still.push(task);
                        }
                    }
                    waiting = still;
                }
                for task in waiting.drain(..) {
                    task.abort();
                    if let Ok(Outcome::Granted(t)) = task.await {
                        held.push(t);
                    }
                }
                let st = pool.state.lock().unwrap();
                prop_assert!(st.waiters.is_empty(), "{} waiters left behind", st.waiters.len());
                let mut all: Vec<u32> = st.free.iter().chain(held.iter()).copied().collect();
                all.sort_unstable();
                prop_assert_eq!(all, (0..tokens).collect::<Vec<_>>());
                Ok(())
            })?;
        }
    }
}
