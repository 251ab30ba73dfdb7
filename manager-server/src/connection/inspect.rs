//! `Inspect` on a connection: the request, parked while every connection answers its
//! census, and this connection's own answer when a census asks it (what it holds lives
//! in its task alone, so only it can say).

use manager_proto::inspect::{ConnectionReport, HeldRef, Query};
use manager_proto::{ObjectId, RequestId};
use std::sync::Arc;

use super::Connection;
use crate::census::Census;
use crate::inspect::{Wanted, answer};
use crate::object::Reply;

impl Connection {
    /// `Inspect`: asks every connection (this one too, on its next turn) and parks
    /// until they answered; then describes what `query` asked for.
    pub(super) fn inspect(&mut self, id: RequestId, query: Query<'_>) {
        let census = Arc::new(Census::default());
        self.shared.watches.ask(&census);
        let shared = Arc::clone(&self.shared);
        let wanted = Wanted::from(query);
        let fut = async move {
            let conns = census.reports().await;
            answer(&shared, &wanted, conns).map(Reply::value)
        };
        self.park(id, Box::pin(fut), "`Inspect`".to_owned());
    }

    /// Answers the censuses that asked this connection.
    pub(super) fn answer_censuses(&self, asks: Vec<Arc<Census>>) {
        if asks.is_empty() {
            return;
        }
        let report = self.report();
        for census in asks {
            census.answer(report.clone());
        }
    }

    /// What this connection holds and runs now (its locks are found from the objects).
    fn report(&self) -> ConnectionReport {
        let mut refs_held: Vec<HeldRef> =
            self.held.iter().map(|(object, held)| HeldRef { object: *object, refs: held.count }).collect();
        refs_held.sort_by_key(|r| r.object);
        let parked = self.running.len() as u64;
        ConnectionReport {
            id: self.ctx.connection(),
            peer: self.peer.clone(),
            age_ms: u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX),
            calls_in_flight: parked + self.reserved.len() as u64,
            parked_calls: parked,
            streams: self.streams.len() as u64,
            watches: self.streams.values().filter(|s| s.watch).count() as u64,
            locks_held: Vec::<ObjectId>::new(),
            refs_held,
        }
    }
}
