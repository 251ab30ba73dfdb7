//! Tokens' leases: objects the server itself holds for a while because a client minted
//! a token for them, so the token stays good while it travels to another process,
//! whoever drops their proxy meanwhile.
//!
//! A lease is one table reference, held until its deadline (minting time plus the
//! server's lease length). One lease per object: leasing it again moves the deadline,
//! so minting tokens in a loop costs no memory. Leases belong to the server, not to the
//! connection that asked: a connection's end keeps them; shutdown drops them (and
//! refuses new ones: nothing would release them). One
//! sweeper task per server releases the expired ones, waking at the earliest deadline
//! (not before a sixteenth of the lease length after its last sweep, so leases that
//! run out close together are released together), and sleeping while there are none.

use manager_proto::{ObjectId, RemoteError, RemoteErrorKind};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::table::{ObjectTable, Typed};

/// The leases running now.
#[derive(Debug)]
pub(crate) struct Leases {
    /// Each leased object's deadline.
    deadlines: Mutex<HashMap<ObjectId, Instant>>,
    /// The lease length (`ServerBuilder::token_lease`).
    length: Duration,
    /// Wakes the sweeper when the first lease comes after a time with none.
    started: Notify,
    /// The sweeper has stopped (at shutdown) and dropped every lease: no new one is
    /// granted, as nothing would release it. Set and read under the `deadlines` lock.
    stopped: AtomicBool,
}

impl Leases {
    /// No leases, each to last `length`.
    pub(crate) fn new(length: Duration) -> Leases {
        Leases { deadlines: Mutex::default(), length, started: Notify::new(), stopped: AtomicBool::new(false) }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<ObjectId, Instant>> {
        self.deadlines.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many leases run now.
    pub(crate) fn count(&self) -> u64 {
        self.lock().len() as u64
    }

    /// Leases `object` for the lease length from now: a new lease takes a reference in
    /// `table`; a running one gets the new deadline. Refused once shutdown has dropped
    /// the leases (a request handled after the shutdown began, in the same batch).
    pub(crate) fn grant<O: ?Sized + Typed>(&self, object: ObjectId, table: &ObjectTable<O>) -> Result<(), RemoteError> {
        let deadline = Instant::now() + self.length;
        let mut deadlines = self.lock();
        if self.stopped.load(Ordering::Relaxed) {
            return Err(RemoteError::new(
                RemoteErrorKind::ShuttingDown,
                format!("the server is shutting down: object {object} cannot be leased"),
            ));
        }
        if let Some(running) = deadlines.get_mut(&object) {
            *running = deadline;
            return Ok(());
        }
        table.incref(object)?;
        deadlines.insert(object, deadline);
        if deadlines.len() == 1 {
            // A permit is kept if the sweeper is not waiting yet.
            self.started.notify_one();
        }
        Ok(())
    }

    /// The objects leased now (for the fuzz harness's checks).
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn leased(&self) -> Vec<ObjectId> {
        self.lock().keys().copied().collect()
    }

    /// How long, from now, until a running sweeper has released every lease running now:
    /// the lease length, then at most one gap between sweeps.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn all_released_within(&self) -> Duration {
        self.length + sweep_gap(self.length)
    }

    /// The earliest deadline, if any lease runs.
    fn next_deadline(&self) -> Option<Instant> {
        self.lock().values().min().copied()
    }

    /// Releases the leases whose deadline is past `now` (their references outside the
    /// lock: releasing a container releases what it holds).
    fn sweep<O: ?Sized + Typed>(&self, now: Instant, table: &ObjectTable<O>) {
        let expired: Vec<ObjectId> = {
            let mut deadlines = self.lock();
            let expired: Vec<ObjectId> = deadlines.iter().filter(|(_, d)| **d <= now).map(|(id, _)| *id).collect();
            for id in &expired {
                deadlines.remove(id);
            }
            expired
        };
        for id in expired {
            table.release(id);
        }
    }

    /// Drops every lease, and refuses new ones (at shutdown).
    fn clear<O: ?Sized + Typed>(&self, table: &ObjectTable<O>) {
        let all = {
            let mut deadlines = self.lock();
            self.stopped.store(true, Ordering::Relaxed);
            std::mem::take(&mut *deadlines)
        };
        for id in all.into_keys() {
            table.release(id);
        }
    }
}

/// The sweeper's least pause between two sweeps, for leases of `length`.
fn sweep_gap(length: Duration) -> Duration {
    (length / 16).max(Duration::from_millis(10))
}

/// The sweeper: releases expired leases until shutdown, then drops the rest.
pub(crate) async fn sweeper<O: ?Sized + Typed>(
    leases: Arc<Leases>,
    table: Arc<ObjectTable<O>>,
    shutdown: CancellationToken,
) {
    let gap = sweep_gap(leases.length);
    loop {
        let wait = async {
            match leases.next_deadline() {
                Some(deadline) => tokio::time::sleep_until(deadline).await,
                None => leases.started.notified().await,
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = wait => leases.sweep(Instant::now(), &table),
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(gap) => {}
        }
    }
    leases.clear(&table);
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Thing;

    impl Typed for Thing {
        fn type_name(&self) -> &str {
            "thing"
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_lease_holds_its_object_until_its_deadline_and_leasing_again_moves_it() {
        let table = Arc::new(ObjectTable::<Thing>::default());
        let leases = Arc::new(Leases::new(Duration::from_secs(16)));
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(sweeper(Arc::clone(&leases), Arc::clone(&table), shutdown.clone()));
        let id = table.insert(Arc::new(Thing), None);
        leases.grant(id, &table).unwrap();
        table.release(id); // the creator lets go: only the lease holds it
        tokio::time::sleep(Duration::from_secs(10)).await;
        leases.grant(id, &table).unwrap(); // minted again: one lease, a later deadline
        assert_eq!(leases.count(), 1);
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(table.counts().0, 1, "the second lease holds it past the first's deadline");
        tokio::time::sleep(Duration::from_secs(8)).await;
        assert_eq!(table.counts().0, 0, "released a sweep after its deadline");
        assert_eq!(leases.count(), 0);
        assert!(leases.grant(id, &table).is_err(), "a gone object cannot be leased");
        shutdown.cancel();
        task.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_drops_the_leases_and_refuses_new_ones() {
        let table = Arc::new(ObjectTable::<Thing>::default());
        let leases = Arc::new(Leases::new(Duration::from_secs(30)));
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(sweeper(Arc::clone(&leases), Arc::clone(&table), shutdown.clone()));
        let id = table.insert(Arc::new(Thing), None);
        leases.grant(id, &table).unwrap();
        table.release(id);
        shutdown.cancel();
        task.await.unwrap();
        assert_eq!((leases.count(), table.counts().0), (0, 0));
        // A lease asked for once the sweeper has stopped: nothing would release it.
        let late = table.insert(Arc::new(Thing), None);
        let refused = leases.grant(late, &table).unwrap_err();
        assert_eq!(refused.kind, RemoteErrorKind::ShuttingDown);
        table.release(late);
        assert_eq!((leases.count(), table.counts().0), (0, 0));
    }
}
