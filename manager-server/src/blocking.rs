//! A server for programs without an async runtime: [`ServerBuilder::start_blocking`]
//! builds a runtime of its own and serves on a background thread.

use std::ops::Deref;
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::builder::ServerBuilder;
use crate::error::ServerError;

impl ServerBuilder {
    /// Binds the listeners and serves on a background thread with a tokio runtime of its
    /// own, for plain synchronous programs (Python's `Manager()`): no `#[tokio::main]`,
    /// no runtime built by hand. Every connection is served on that one thread, as with
    /// [`start`](Self::start) on a current-thread runtime.
    ///
    /// ```
    /// use manager_server::{Builtin, Server};
    /// let server = Server::builder().named_builtin("d", Builtin::Dict).start_blocking()?;
    /// let client = manager_client::blocking::Client::connect(server.address(), server.authkey())?;
    /// let d = client.named::<manager_client::blocking::DictProxy<u32, u32>>("d")?;
    /// d.insert(1, 2)?;
    /// assert_eq!(server.stats().objects, 1);
    /// server.shutdown();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn start_blocking(self) -> Result<BlockingServer, ServerError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name("manager-server")
            .build()
            .map_err(ServerError::Io)?;
        let server = Arc::new(runtime.block_on(self.start())?);
        let serving = Arc::clone(&server);
        let thread = std::thread::Builder::new()
            .name("manager-server".into())
            .spawn(move || {
                runtime.block_on(async {
                    serving.stopped().await;
                    serving.shutdown().await;
                })
            })
            .map_err(ServerError::Io)?;
        Ok(BlockingServer { server, thread: Some(thread) })
    }
}

/// A running server served by a thread of its own; made by
/// [`ServerBuilder::start_blocking`]. It dereferences to [`Server`](crate::Server) for
/// its address, key and stats. Dropping it shuts the server down and waits for that.
#[must_use = "dropping the server shuts it down"]
#[derive(Debug)]
pub struct BlockingServer {
    server: Arc<crate::Server>,
    thread: Option<JoinHandle<()>>,
}

impl BlockingServer {
    /// Shuts down (as [`Server::shutdown`](crate::Server::shutdown)) and waits until it
    /// has.
    pub fn shutdown(mut self) {
        self.stop();
    }

    /// Serves until a client shuts the server down (only where
    /// [`allow_remote_shutdown`](ServerBuilder::allow_remote_shutdown) allows it): for a
    /// program whose main thread has nothing else to do.
    pub fn serve_forever(mut self) {
        self.join();
    }

    fn stop(&mut self) {
        self.server.shared.shutdown.cancel();
        self.join();
    }

    fn join(&mut self) {
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the server thread panicked");
        }
    }
}

impl Deref for BlockingServer {
    type Target = crate::Server;

    fn deref(&self) -> &crate::Server {
        &self.server
    }
}

impl Drop for BlockingServer {
    fn drop(&mut self) {
        self.stop();
    }
}
