//! The `Event` proxy.

use manager_proto::builtin::event as e;
use std::time::Duration;

use super::{call, constructors, proxy_methods, proxy_types};

proxy_types!(
    /// A shared `Event`. Create with `client.event()`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let server = manager_server::Server::builder().start().await?;
    /// # let (address, key) = (server.address().clone(), server.authkey().clone());
    /// # let client = manager_client::Client::connect(&address, key.as_bytes()).await?;
    /// use std::time::Duration;
    /// let event = client.event().await?; // event = manager.Event()
    /// let waiter = tokio::spawn({
    ///     let event = event.clone();
    ///     async move { event.wait().await } // event.wait(), in another task
    /// });
    /// event.set().await?; // event.set(): wakes every waiter
    /// assert!(waiter.await??);
    /// assert!(event.is_set().await?);
    /// event.clear().await?; // event.clear()
    /// assert!(!event.wait_timeout(Duration::from_millis(10)).await?); // event.wait(0.01)
    /// # server.shutdown().await;
    /// # Ok(()) }
    /// ```
    ///
    /// Without an async runtime: [`blocking::EventProxy`](crate::blocking::EventProxy),
    /// the same methods without `.await`.
    EventProxy, BlockingEventProxy, [], manager_proto::builtin::EVENT
);

proxy_methods! {
    impl[] EventProxy<>, BlockingEventProxy {
        /// `is_set()`.
        async fn is_set(&self) -> bool {
            call::<e::IsSet, _>(&self.handle, &()).await
        }

        /// `set()`: wakes every waiter.
        async fn set(&self) -> () {
            call::<e::Set, _>(&self.handle, &()).await
        }

        /// `clear()`.
        async fn clear(&self) -> () {
            call::<e::Clear, _>(&self.handle, &()).await
        }

        /// `wait()`: until set; returns `true`.
        async fn wait(&self) -> bool {
            call::<e::Wait, _>(&self.handle, &(None::<f64>,)).await
        }

        /// `wait(timeout)`: whether it is set when the wait ends.
        async fn wait_timeout(&self, t: Duration) -> bool {
            call::<e::Wait, _>(&self.handle, &(Some(t.as_secs_f64()),)).await
        }
    }
}

constructors! {
    /// A new shared `Event`.
    fn event[](&self) -> EventProxy | BlockingEventProxy {
        self.create_builtin::<_, e::New>(&()).await
    }
}
