//! The `Barrier` proxy.

use manager_proto::builtin::barrier as ba;
use std::time::Duration;

use super::{call, constructors, proxy_methods, proxy_types};

proxy_types!(
    /// A shared `Barrier`. A timed-out wait, `abort` or `reset` fails the waiters with
    /// `BrokenBarrier`; a waiter whose call is cancelled or whose connection dies leaves
    /// without counting. Create with `client.barrier(parties)`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let server = manager_server::Server::builder().start().await?;
    /// # let (address, key) = (server.address().clone(), server.authkey().clone());
    /// # let client = manager_client::Client::connect(&address, key.as_bytes()).await?;
    /// use manager_client::RemoteErrorKind;
    /// use std::time::Duration;
    /// let barrier = client.barrier(2).await?; // barrier = manager.Barrier(2)
    /// let other = tokio::spawn({
    ///     let barrier = barrier.clone();
    ///     async move { barrier.wait().await } // barrier.wait(), in another task
    /// });
    /// let mine = barrier.wait().await?; // returns once both are waiting
    /// assert_eq!(mine + other.await??, 1); // each has its own index: 0 and 1
    /// // Alone, a wait times out and breaks the barrier (Python's BrokenBarrierError).
    /// let err = barrier.wait_timeout(Duration::from_millis(10)).await.unwrap_err();
    /// assert_eq!(err.remote_kind(), Some(RemoteErrorKind::BrokenBarrier));
    /// assert!(barrier.broken().await?);
    /// # server.shutdown().await;
    /// # Ok(()) }
    /// ```
    ///
    /// Without an async runtime: [`blocking::BarrierProxy`](crate::blocking::BarrierProxy),
    /// the same methods without `.await`.
    BarrierProxy, BlockingBarrierProxy, [], manager_proto::builtin::BARRIER
);

proxy_methods! {
    impl[] BarrierProxy<>, BlockingBarrierProxy {
        /// `wait()`: until `parties` callers are waiting; returns this caller's arrival
        /// index (0 to parties - 1).
        async fn wait(&self) -> u64 {
            call::<ba::Wait, _>(&self.handle, &(None::<f64>,)).await
        }

        /// `wait(timeout)`: a timeout breaks the barrier for everyone.
        async fn wait_timeout(&self, t: Duration) -> u64 {
            call::<ba::Wait, _>(&self.handle, &(Some(t.as_secs_f64()),)).await
        }

        /// `abort()`: breaks the barrier.
        async fn abort(&self) -> () {
            call::<ba::Abort, _>(&self.handle, &()).await
        }

        /// `reset()`: fails the current waiters, then starts afresh.
        async fn reset(&self) -> () {
            call::<ba::Reset, _>(&self.handle, &()).await
        }

        /// `parties`.
        async fn parties(&self) -> u64 {
            call::<ba::Parties, _>(&self.handle, &()).await
        }

        /// `n_waiting`.
        async fn n_waiting(&self) -> u64 {
            call::<ba::NWaiting, _>(&self.handle, &()).await
        }

        /// `broken`.
        async fn broken(&self) -> bool {
            call::<ba::Broken, _>(&self.handle, &()).await
        }
    }
}

constructors! {
    /// A new shared `Barrier` for `parties` callers.
    fn barrier[](&self, parties: u64) -> BarrierProxy | BlockingBarrierProxy {
        self.create_builtin::<_, ba::New>(&(parties, None::<f64>, "")).await
    }

    /// A new shared `Barrier` whose waits time out after `timeout` by default.
    fn barrier_with_timeout[](&self, parties: u64, timeout: Duration) -> BarrierProxy | BlockingBarrierProxy {
        self.create_builtin::<_, ba::New>(&(parties, Some(timeout.as_secs_f64()), "")).await
    }

    /// A new shared `Barrier` whose every pass first runs the server's barrier action
    /// `action` (Python's `Barrier(parties, action)`; the server registers it with
    /// `ServerBuilder::barrier_action`). An action the server does not know is an
    /// `InvalidValue` error naming it; one that panics breaks the barrier, and the
    /// waiters get `BrokenBarrier` saying so.
    fn barrier_with_action[](&self, parties: u64, action: &str) -> BarrierProxy | BlockingBarrierProxy {
        if action.is_empty() {
            return Err(manager_proto::Error::Config("a barrier action's name cannot be empty".into()));
        }
        self.create_builtin::<_, ba::New>(&(parties, None::<f64>, action)).await
    }
}
