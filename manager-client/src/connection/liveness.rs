//! Whether the server still answers: when calls wait and it has been quiet for a
//! keepalive period, a ping goes out; when that ping goes unanswered for another, the
//! connection is lost (`Lost::Silent` of two periods, the bound users are told).
//!
//! Two watchers share this one record: the reader task on its ticks, and a blocking
//! client's calling thread whose read of its own reply timed out. The calling thread
//! must watch too: while it reads, the client's runtime (and so the reader task) does
//! not run, and a reader task that started counting only when handed the call took
//! up to five periods to give up (the ~50 s of issue 21 with the default 10 s).

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The liveness watch of one connection.
#[derive(Debug)]
pub(super) struct Liveness {
    /// `ClientOptions::keepalive`: how long a quiet server with calls waiting goes
    /// before it is pinged, and how long the ping may go unanswered.
    pub(super) keepalive: Duration,
    /// What the watchers have seen so far.
    watch: Mutex<Watch>,
}

/// The silence seen so far.
#[derive(Debug, Default)]
struct Watch {
    /// Since when calls have waited without a word from the server.
    quiet_since: Option<Instant>,
    /// When the ping that has gone unanswered was sent.
    pinged_at: Option<Instant>,
}

/// What a check found.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Nothing to do.
    Fine,
    /// The caller sends a ping (with a real id, so that the server answers).
    Ping,
    /// The server is gone.
    Lost,
}

impl Liveness {
    pub(super) fn new(keepalive: Duration) -> Liveness {
        Liveness { keepalive, watch: Mutex::default() }
    }

    /// A check: `heard` the server spoke since the last one, `waiting` calls wait for
    /// answers, and the checker itself has heard nothing for at least `quiet_for`.
    pub(super) fn check(&self, heard: bool, waiting: bool, quiet_for: Duration) -> Verdict {
        let now = Instant::now();
        let mut watch = self.watch.lock().unwrap_or_else(PoisonError::into_inner);
        if heard {
            *watch = Watch::default();
        }
        if !waiting && watch.pinged_at.is_none() {
            watch.quiet_since = None;
            return Verdict::Fine;
        }
        let seen = now.checked_sub(quiet_for).unwrap_or(now);
        let since = watch.quiet_since.map_or(seen, |s| s.min(seen));
        watch.quiet_since = Some(since);
        match watch.pinged_at {
            Some(at) if now.duration_since(at) >= self.keepalive => Verdict::Lost,
            Some(_) => Verdict::Fine,
            None if now.duration_since(since) >= self.keepalive => {
                watch.pinged_at = Some(now);
                Verdict::Ping
            }
            None => Verdict::Fine,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ping_after_one_quiet_period_and_lost_after_another() {
        let live = Liveness::new(Duration::from_millis(40));
        assert_eq!(live.check(false, false, Duration::ZERO), Verdict::Fine, "nothing waits");
        assert_eq!(live.check(false, true, Duration::ZERO), Verdict::Fine, "quiet only now");
        assert_eq!(live.check(false, true, Duration::from_millis(40)), Verdict::Ping);
        assert_eq!(live.check(false, true, Duration::ZERO), Verdict::Fine, "the ping is young");
        std::thread::sleep(Duration::from_millis(45));
        assert_eq!(live.check(false, true, Duration::ZERO), Verdict::Lost);
        assert_eq!(live.check(true, true, Duration::ZERO), Verdict::Fine, "heard: all forgiven");
    }
}
