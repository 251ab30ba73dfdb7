//! What a client's clones share: the connection they call through now, and what it
//! takes to open another when a reconnecting client's session is over — so that the
//! client stays usable, and its proxies to named objects can bind again.

use manager_proto::{Address, AuthKey, Error, ObjectId, Transport};
use std::sync::{Arc, Mutex};

use crate::connection::{Conn, ConnState};
use crate::options::ClientOptions;
use crate::rebind::{Named, Reopen};

#[derive(Debug)]
pub(crate) struct Current {
    pub(crate) address: Address,
    pub(crate) authkey: AuthKey,
    pub(crate) options: ClientOptions,
    conn: Mutex<Arc<Conn>>,
    /// Held while a new session is opened, so that callers open one, not one each.
    reopening: tokio::sync::Mutex<()>,
}

impl Current {
    pub(crate) fn new(address: Address, authkey: AuthKey, options: ClientOptions, conn: Arc<Conn>) -> Current {
        Current { address, authkey, options, conn: Mutex::new(conn), reopening: tokio::sync::Mutex::new(()) }
    }

    /// The connection now (which may be over).
    pub(crate) fn now(&self) -> Arc<Conn> {
        Arc::clone(&self.conn.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The connection to call through: with a reconnect policy, a new session when the
    /// last one is over (lost, or the server restarted or shut down).
    pub(crate) async fn conn(&self) -> Result<Arc<Conn>, Error> {
        let conn = self.now();
        if self.options.reconnect.is_none() || !conn.is_over() {
            return Ok(conn);
        }
        let _one_at_a_time = self.reopening.lock().await;
        let conn = self.now();
        if !conn.is_over() {
            return Ok(conn);
        }
        let fresh = Conn::open(self.address.clone(), self.authkey.clone(), &self.options).await?;
        *self.conn.lock().unwrap_or_else(|p| p.into_inner()) = Arc::clone(&fresh);
        Ok(fresh)
    }

    /// The state of whichever connection `current` uses, as long as it lives (for the
    /// blocking client's keepalive thread, which must follow a reconnecting client to
    /// its new session, and must not keep the client open).
    pub(crate) fn state_source(current: &Arc<Current>) -> impl Fn() -> Option<Arc<ConnState>> + Send + 'static {
        let current = Arc::downgrade(current);
        move || current.upgrade()?.now().state().upgrade()
    }

    /// What a proxy to the object named `name` (of type `type_id`, now `object` on
    /// `conn`) calls through: with a reconnect policy, a transport that looks the name
    /// up again when its connection is over; else the connection.
    pub(crate) fn named_transport(
        current: &Arc<Current>,
        conn: Arc<Conn>,
        name: &str,
        type_id: &str,
        object: ObjectId,
    ) -> Arc<dyn Transport> {
        if current.options.reconnect.is_none() {
            return conn;
        }
        let weak = Arc::downgrade(current);
        let reopen: Reopen = Arc::new(move || {
            let weak = weak.clone();
            Box::pin(async move {
                let current = weak.upgrade().ok_or_else(|| Error::Config("the client is gone".into()))?;
                current.conn().await
            })
        });
        Named::new(name, type_id, reopen, conn, object)
    }
}
