//! The builder's settings for how a connection waits for its client, which matter most
//! on the same host: low-latency mode (a fixed poll), the adaptive poll, and the
//! shared-memory transport. Another `impl ServerBuilder`, beside `builder.rs`, which
//! holds the rest of the settings.

use std::time::Duration;

use crate::builder::ServerBuilder;

impl ServerBuilder {
    /// Low-latency mode: after answering a batch of requests, a connection keeps reading
    /// for up to `spin` before going to sleep. Default zero (off). A round trip then
    /// skips the wake-up of a sleeping thread — tens of microseconds when it lands on
    /// another core — at the price of a core spinning while clients are active. Pair it
    /// with the client's `ClientOptions::spin`.
    pub fn busy_poll(mut self, spin: Duration) -> Self {
        self.config.busy_poll = spin;
        self
    }

    /// Lets clients on this server's Unix socket switch their connections to
    /// shared-memory rings (`ClientOptions::shared_memory`): after the handshake, the
    /// server makes a segment for the connection (a sealed memfd, mode 0600, never named
    /// in `/dev/shm`) with two rings of 1 MiB and passes it over the socket; requests
    /// and replies then cross through memory, the socket staying open as the liveness
    /// channel. A round trip skips the kernel's socket path, and both sides poll briefly
    /// (an adaptive budget of at most 50 µs, learned from how soon answers come) before
    /// they sleep, so a busy connection rarely pays a cross-core wake-up. Default false:
    /// a client that asks is refused with a message naming this option. Costs 2 MiB of
    /// address space (and the memory its rings touch) per such connection.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let server = manager_server::Server::builder()
    ///     .listen_unix("/tmp/manager.sock")
    ///     .shared_memory(true)
    ///     .start()
    ///     .await?;
    /// # let _ = server; Ok(()) }
    /// ```
    pub fn shared_memory(mut self, enabled: bool) -> Self {
        self.config.shared_memory = enabled;
        self
    }

    /// An adaptive poll (when `busy_poll` is off): after answering, a connection polls
    /// its socket before sleeping for as long as requests have lately taken to come (a
    /// quarter more), learned per connection, never longer than `max` (default zero:
    /// never poll; 30 µs is a sensible cap). A budget grows when a request that found
    /// the connection asleep came within `max`, and halves when one took longer or a
    /// poll missed: a busy client's next request is read without a sleep and a wake-up,
    /// and an idle connection soon polls not at all. Never where the server may run on
    /// one core only (its affinity mask), where polling only delays the peer it waits
    /// for. Off by default: on a loaded machine it measured slower than sleeping
    /// (docs/PERFORMANCE.md, issue 23). Pair it with `ClientOptions::adaptive_poll`.
    pub fn adaptive_poll(mut self, max: Duration) -> Self {
        self.config.adaptive_poll = max;
        self
    }
}
