//! A census of the connections, for `Inspect`: each connection's task describes itself
//! (what it holds lives in that task alone), and the asker waits for every answer.
//!
//! The asker makes a [`Census`] expecting one answer per connection it asked (through
//! `liveness::Watches::ask`, which costs a connection nothing until it is asked: the
//! flag it already reads on every turn of its loop carries the question). A connection
//! answers with [`Census::answer`] on its next turn; one that ends first, or was ending
//! already, counts as [`Census::gone`]. The asker waits at most [`PATIENCE`]: a
//! connection whose task is stuck in a long synchronous call is left out rather than
//! holding the operator's command up.

use manager_proto::inspect::ConnectionReport;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Poll, Waker};
use std::time::Duration;

/// How long an `Inspect` waits for the connections' answers.
pub(crate) const PATIENCE: Duration = Duration::from_secs(2);

#[derive(Debug, Default)]
struct Tally {
    /// Answers still expected.
    expected: usize,
    reports: Vec<ConnectionReport>,
    /// The asker's task, woken by the last answer.
    waker: Option<Waker>,
}

/// One gathering of connection reports.
#[derive(Debug, Default)]
pub(crate) struct Census {
    tally: Mutex<Tally>,
}

impl Census {
    fn lock(&self) -> std::sync::MutexGuard<'_, Tally> {
        self.tally.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Expects one more answer (a connection was asked).
    pub(crate) fn expect(&self) {
        self.lock().expected += 1;
    }

    /// A connection's answer.
    pub(crate) fn answer(&self, report: ConnectionReport) {
        let mut tally = self.lock();
        tally.reports.push(report);
        Self::one_less(&mut tally);
    }

    /// A connection asked that ended without answering.
    pub(crate) fn gone(&self) {
        Self::one_less(&mut self.lock());
    }

    fn one_less(tally: &mut Tally) {
        tally.expected = tally.expected.saturating_sub(1);
        if tally.expected == 0
            && let Some(waker) = tally.waker.take()
        {
            waker.wake();
        }
    }

    /// Every answer, once all came or after [`PATIENCE`], sorted by connection id.
    pub(crate) async fn reports(self: Arc<Self>) -> Vec<ConnectionReport> {
        let all = std::future::poll_fn(|cx| {
            let mut tally = self.lock();
            if tally.expected == 0 {
                return Poll::Ready(());
            }
            tally.waker = Some(cx.waker().clone());
            Poll::Pending
        });
        let _ = tokio::time::timeout(PATIENCE, all).await;
        let mut reports = std::mem::take(&mut self.lock().reports);
        reports.sort_by_key(|r| r.id);
        reports
    }
}
