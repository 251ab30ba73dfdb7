//! How long a side polls for the peer before it sleeps, learned from how long its waits
//! turned out to be: adaptive spinning, as the kernel's halt-polling does it.
//!
//! Polling pays when what it waits for comes sooner than a sleep and a wake-up would
//! take (tens of microseconds across cores on a VM); it wastes a core otherwise. So the
//! budget grows when a wait that slept would have been caught by a longer poll (it
//! ended within the cap), and halves when a wait outlasted the cap (the peer was idle,
//! or busy elsewhere): an idle connection soon polls not at all, and never longer than
//! the cap once. Pure: the caller reads the clock and passes the instants.

use std::time::{Duration, Instant};

/// A poll budget that adapts to how long waits take.
#[derive(Clone, Copy, Debug)]
pub struct AdaptiveSpin {
    /// The current budget, in nanoseconds.
    budget: u64,
    /// The cap, in nanoseconds.
    max: u64,
    /// When the wait under way began, if one is.
    since: Option<Instant>,
    /// Whether a poll of the wait under way missed.
    missed: bool,
}

impl AdaptiveSpin {
    /// A budget that starts at zero and never exceeds `max` (zero: never poll).
    pub const fn new(max: Duration) -> AdaptiveSpin {
        let max = max.as_nanos();
        AdaptiveSpin {
            budget: 0,
            max: if max > u64::MAX as u128 { u64::MAX } else { max as u64 },
            since: None,
            missed: false,
        }
    }

    /// A side is about to wait for the peer (from `now`, unless a wait is already under
    /// way): how long to poll before sleeping.
    pub fn begin_wait(&mut self, now: Instant) -> Duration {
        self.since.get_or_insert(now);
        self.budget()
    }

    /// A poll of the wait under way ended without what it waited for: it did not pay.
    /// Halves the budget, and the wait teaches nothing more when it ends: growing the
    /// budget because the wait ended just past it would, on a loaded machine, keep a
    /// core polling while it delays the very peer it waits for (measured: calls 5–10×
    /// slower at a load of 5 on 2 cores).
    pub fn missed(&mut self) {
        self.budget /= 2;
        self.missed = self.since.is_some();
    }

    /// What the side waited for came at `now`: ends the wait under way, if any, and
    /// learns from it (it slept if it waited past the budget), unless a poll of it
    /// missed.
    pub fn end_wait(&mut self, now: Instant) {
        if let Some(since) = self.since.take() {
            if std::mem::take(&mut self.missed) {
                return;
            }
            let waited = now.saturating_duration_since(since);
            let slept = waited > self.budget();
            self.record(waited, slept);
        }
    }

    /// How long to poll before sleeping, now.
    pub fn budget(&self) -> Duration {
        Duration::from_nanos(self.budget)
    }

    /// A wait ended after `waited`: while polling (`slept == false`), or after a sleep.
    pub fn record(&mut self, waited: Duration, slept: bool) {
        if !slept {
            // Caught: the budget paid for itself, keep it.
            return;
        }
        let waited = u64::try_from(waited.as_nanos()).unwrap_or(u64::MAX);
        if waited <= self.max {
            // A poll this long (with a quarter more) would have caught it.
            let want = waited.saturating_add(waited / 4);
            self.budget = self.budget.saturating_mul(2).max(want).min(self.max);
        } else {
            self.budget /= 2;
        }
    }
}

/// How a side polls: looking at the ring, and between looks either pausing (`Pure`,
/// low-latency mode: fixed time, a core given to it) or, every few looks, giving the
/// CPU to whoever else can run (`Yielding`, the adaptive budget: a peer on the same core
/// runs instead of waiting for a time slice to end).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pace {
    /// Pause between looks; read the clock every 64.
    Pure,
    /// Yield every 8th look (and read the clock then).
    Yielding,
}

/// Looks with `look` until it finds something (`Some`) or `budget` has passed since
/// `clock()`'s first reading (`None`), at `pace`; `yield_now` gives the CPU away. A zero
/// budget looks once. Errors from `look` end the poll. Pure: the caller passes the clock
/// and the yield.
pub fn poll<T, E>(
    budget: Duration,
    pace: Pace,
    mut look: impl FnMut() -> Result<Option<T>, E>,
    clock: impl Fn() -> Instant,
    yield_now: impl Fn(),
) -> Result<Option<T>, E> {
    let start = clock();
    let every = match pace {
        Pace::Pure => 64,
        Pace::Yielding => 8,
    };
    let mut looks = 0u32;
    loop {
        if let Some(found) = look()? {
            return Ok(Some(found));
        }
        if budget.is_zero() {
            return Ok(None);
        }
        looks = looks.wrapping_add(1);
        if looks.is_multiple_of(every) {
            if clock().saturating_duration_since(start) >= budget {
                return Ok(None);
            }
            if pace == Pace::Yielding {
                yield_now();
                continue;
            }
        }
        std::hint::spin_loop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: Duration = Duration::from_micros(1);

    #[test]
    fn grows_to_catch_short_waits_and_never_past_the_cap() {
        let mut s = AdaptiveSpin::new(50 * US);
        assert_eq!(s.budget(), Duration::ZERO);
        s.record(8 * US, true);
        assert_eq!(s.budget(), 10 * US);
        s.record(30 * US, true);
        assert_eq!(s.budget(), 37500 * US / 1000);
        s.record(45 * US, true);
        assert_eq!(s.budget(), 50 * US);
        // Caught while polling: kept.
        s.record(3 * US, false);
        assert_eq!(s.budget(), 50 * US);
    }

    #[test]
    fn long_waits_halve_it_down_to_nothing() {
        let mut s = AdaptiveSpin::new(50 * US);
        s.record(40 * US, true);
        for _ in 0..20 {
            s.record(Duration::from_millis(5), true);
        }
        assert_eq!(s.budget(), Duration::ZERO);
    }

    #[test]
    fn a_wait_is_timed_from_its_first_begin_to_its_end() {
        let mut s = AdaptiveSpin::new(50 * US);
        let t0 = Instant::now();
        assert_eq!(s.begin_wait(t0), Duration::ZERO);
        // Polled again later in the same wait: still timed from t0.
        s.begin_wait(t0 + 5 * US);
        s.end_wait(t0 + 20 * US);
        assert_eq!(s.budget(), 25 * US);
        // No wait under way: nothing learned.
        s.end_wait(t0 + Duration::from_secs(1));
        assert_eq!(s.budget(), 25 * US);
    }

    #[test]
    fn a_poll_ends_with_what_it_found_or_when_its_budget_is_spent() {
        use std::cell::Cell;
        let t0 = Instant::now();
        // A fake clock: 1 µs per reading.
        let readings = Cell::new(0u32);
        let clock = || {
            readings.set(readings.get() + 1);
            t0 + US * readings.get()
        };
        let yields = Cell::new(0u32);
        let mut looks = 0;
        let found = poll(
            10 * US,
            Pace::Yielding,
            || Ok::<_, ()>((looks == 20).then_some(looks)).inspect(|_| looks += 1),
            clock,
            || yields.set(yields.get() + 1),
        );
        assert_eq!(found, Ok(Some(20)));
        assert_eq!(yields.get(), 2, "a yield every 8 looks");
        readings.set(0);
        let nothing = poll(3 * US, Pace::Pure, || Ok::<Option<()>, ()>(None), clock, || panic!("never yields"));
        assert_eq!(nothing, Ok(None));
        let mut once = 0;
        let zero = poll(
            Duration::ZERO,
            Pace::Yielding,
            || {
                Ok::<Option<()>, ()>({
                    once += 1;
                    None
                })
            },
            clock,
            || {},
        );
        assert_eq!((zero, once), (Ok(None), 1), "a zero budget looks once");
        assert_eq!(poll(US, Pace::Pure, || Err::<Option<()>, _>("broken"), clock, || {}), Err("broken"));
    }

    #[test]
    fn a_poll_that_missed_halves_the_budget_and_its_wait_teaches_nothing() {
        let mut s = AdaptiveSpin::new(50 * US);
        s.record(16 * US, true);
        assert_eq!(s.budget(), 20 * US);
        let t0 = Instant::now();
        s.begin_wait(t0);
        s.missed();
        assert_eq!(s.budget(), 10 * US);
        // The wait ended just past the old budget: no growth from it.
        s.end_wait(t0 + 25 * US);
        assert_eq!(s.budget(), 10 * US);
        // The next wait, polled and caught, keeps it; an unpolled one that slept teaches.
        s.begin_wait(t0);
        s.end_wait(t0 + 5 * US);
        assert_eq!(s.budget(), 10 * US);
    }

    #[test]
    fn a_zero_cap_never_polls() {
        let mut s = AdaptiveSpin::new(Duration::ZERO);
        s.record(US, true);
        assert_eq!(s.budget(), Duration::ZERO);
    }
}
