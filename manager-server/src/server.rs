//! A running server: its addresses and key, its figures, and stopping it.

use manager_proto::{Address, AuthKey, ServerId, ServerStats};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio_util::task::TaskTracker;

use crate::error::ServerError;
use crate::state::Shared;

/// Socket files and directories to remove when the server stops, whoever gets there
/// first (shutdown, or the handle's drop).
#[derive(Debug)]
pub(crate) struct Cleanup {
    pub(crate) paths: Mutex<Vec<PathBuf>>,
    pub(crate) dir: Option<PathBuf>,
}

impl Cleanup {
    pub(crate) fn run(&self) {
        let paths = std::mem::take(&mut *self.paths.lock().unwrap_or_else(|p| p.into_inner()));
        for path in paths {
            let _ = std::fs::remove_file(&path);
        }
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// A running server. Dropping it shuts the server down without waiting; call
/// [`shutdown`](Server::shutdown) to wait for a clean stop.
///
/// ```
/// use manager_server::Server;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server = Server::builder().start().await?; // a private Unix socket, a random key
/// println!("clients connect to {} with the key in {:?}", server.address(), server.authkey());
/// let client = manager_client::Client::connect(server.address(), server.authkey()).await?;
/// let list = client.list::<u32>().await?;
/// list.extend(vec![1, 2, 3]).await?;
/// assert_eq!(server.stats().objects, 1);
/// server.shutdown().await; // calls in flight are answered with ShuttingDown
/// assert!(client.ping().await.unwrap_err().is_server_shut_down());
/// # Ok(()) }
/// ```
#[must_use = "dropping the Server shuts it down"]
#[derive(Debug)]
pub struct Server {
    pub(crate) shared: Arc<Shared>,
    pub(crate) addresses: Vec<Address>,
    pub(crate) tracker: TaskTracker,
    pub(crate) cleanup: Arc<Cleanup>,
}

impl Server {
    /// The first address the server listens on (with the real port for `:0`).
    pub fn address(&self) -> &Address {
        &self.addresses[0]
    }

    /// Every address the server listens on.
    pub fn addresses(&self) -> &[Address] {
        &self.addresses
    }

    /// The key clients must hold.
    pub fn authkey(&self) -> &AuthKey {
        &self.shared.authkey
    }

    /// This run's id (tokens carry it).
    pub fn server_id(&self) -> ServerId {
        self.shared.server_id
    }

    /// Live figures: objects, connections, requests.
    pub fn stats(&self) -> ServerStats {
        self.shared.stats()
    }

    /// Frees now the objects that only keep each other alive (containers holding
    /// proxies to each other, with no proxy, name or other holder left outside the
    /// cycle); returns how many. The server also does this on its own (see
    /// `ServerBuilder::collect_cycles`).
    ///
    /// ```
    /// use manager_server::Server;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let server = Server::builder().start().await?;
    /// let client = manager_client::Client::connect(server.address(), server.authkey()).await?;
    /// // A dict of dicts like itself: a type that names itself, as a newtype.
    /// #[derive(Clone, serde::Serialize, serde::Deserialize)]
    /// #[serde(transparent)]
    /// struct Node(manager_client::DictProxy<String, Node>);
    /// let d = client.dict::<String, Node>().await?;
    /// d.insert("me".into(), Node(d.clone())).await?; // d["me"] = d
    /// drop(d); // the dict still holds itself
    /// client.ping().await?; // the release reaches the server before the collection
    /// assert_eq!(server.collect(), 1);
    /// assert_eq!(server.stats().objects, 0);
    /// # server.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub fn collect(&self) -> u64 {
        crate::collect::collect(&self.shared)
    }

    /// Whether shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.shared.shutdown.is_cancelled()
    }

    /// Shuts down: listeners close (Unix socket files are removed), calls in flight
    /// get a shutting-down error, connections close, objects are dropped. Waits up to
    /// the shutdown grace for connections to finish.
    pub async fn shutdown(&self) {
        self.shared.shutdown.cancel();
        self.tracker.close();
        if tokio::time::timeout(self.shared.config.shutdown_grace, self.tracker.wait()).await.is_err() {
            tracing::warn!("connections still open after the shutdown grace; dropping them");
        }
        self.cleanup.run();
        // Leases too: the lease sweeper drops them as it stops.
        self.shared.table.clear();
        tracing::info!("manager server stopped");
    }

    /// Serves until shut down (by [`shutdown`](Self::shutdown) from another task, or
    /// by a client if allowed), then finishes the shutdown.
    pub async fn serve_forever(self) -> Result<(), ServerError> {
        self.shared.shutdown.cancelled().await;
        self.shutdown().await;
        Ok(())
    }

    /// Resolves when shutdown begins.
    pub async fn stopped(&self) {
        self.shared.shutdown.cancelled().await;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
        self.cleanup.run();
    }
}
