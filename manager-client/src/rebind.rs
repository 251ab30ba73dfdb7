//! Proxies to named objects that outlive their connection, for a reconnecting client:
//! when the session a proxy was bound on is over (lost, or the server restarted or shut
//! down), its next call looks the name up again on the client's current connection — a
//! new session if need be — and goes on there. Proxies to objects the client created
//! have no name to look up: they fail with the session's error.

use manager_proto::dispatch::BoxFuture;
use manager_proto::proxy::{CallArgs, SplitArgs};
use manager_proto::stream::RawStream;
use manager_proto::{Address, Error, MethodRef, ObjectId, PendingReply, Request, Response, ServerId, Transport};
use std::sync::{Arc, Mutex, Weak};

use crate::connection::Conn;

/// Gives the client's current connection, opening a new session when the last is over.
pub(crate) type Reopen = Arc<dyn Fn() -> BoxFuture<'static, Result<Arc<Conn>, Error>> + Send + Sync>;

/// The transport of a named object's proxy: the connection it is bound on now, and how
/// to bind it again.
pub(crate) struct Named {
    name: String,
    type_id: String,
    address: Address,
    reopen: Reopen,
    bound: Mutex<(Arc<Conn>, ObjectId)>,
    me: Weak<Named>,
}

impl std::fmt::Debug for Named {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Named").field("name", &self.name).field("type_id", &self.type_id).finish_non_exhaustive()
    }
}

impl Named {
    /// A transport for the object named `name` (of type `type_id`), now `object` on
    /// `conn`, which holds the reference.
    pub(crate) fn new(name: &str, type_id: &str, reopen: Reopen, conn: Arc<Conn>, object: ObjectId) -> Arc<Named> {
        let address = conn.address().clone();
        Arc::new_cyclic(|me| Named {
            name: name.to_owned(),
            type_id: type_id.to_owned(),
            address,
            reopen,
            bound: Mutex::new((conn, object)),
            me: me.clone(),
        })
    }

    fn bound(&self) -> (Arc<Conn>, ObjectId) {
        let bound = self.bound.lock().unwrap_or_else(|p| p.into_inner());
        (Arc::clone(&bound.0), bound.1)
    }

    /// Binds the name again on the client's current connection, unless another call
    /// did since `stale` was seen.
    async fn rebind(&self, stale: Arc<Conn>) -> Result<(Arc<Conn>, ObjectId), Error> {
        let conn = (self.reopen)().await?;
        if Arc::ptr_eq(&conn, &stale) {
            // No newer connection: the client does not reconnect, or could not.
            return Err(conn.ended().unwrap_or_else(|| Error::Protocol("the connection is over".into())));
        }
        let name = self.name.as_str();
        let (object, type_id) = conn
            .request(&Request::GetNamed { name }, |r| match r {
                Response::Object { id, type_id, .. } => Some((id, type_id.to_owned())),
                _ => None,
            })
            .await?;
        if type_id != self.type_id {
            conn.release(object);
            return Err(Error::WrongType { expected: self.type_id.clone(), found: type_id });
        }
        let mut bound = self.bound.lock().unwrap_or_else(|p| p.into_inner());
        if Arc::ptr_eq(&bound.0, &stale) {
            *bound = (Arc::clone(&conn), object);
            Ok((conn, object))
        } else {
            // Another call bound it first: ours is a reference too many.
            conn.release(object);
            Ok((Arc::clone(&bound.0), bound.1))
        }
    }

    /// Runs `call` on the bound connection, binding again first if it is over.
    fn with_binding(&self, call: impl FnOnce(&Arc<Conn>, ObjectId) -> PendingReply + Send + 'static) -> PendingReply {
        let (conn, object) = self.bound();
        if !conn.is_over() {
            return call(&conn, object);
        }
        let Some(me) = self.me.upgrade() else { return call(&conn, object) };
        PendingReply::from_future(async move {
            let (conn, object) = me.rebind(conn).await?;
            call(&conn, object).await
        })
    }
}

impl Transport for Named {
    fn call(&self, _object: ObjectId, method: MethodRef<'_>, args: CallArgs<'_>) -> PendingReply {
        let (conn, object) = self.bound();
        if !conn.is_over() {
            return conn.call(object, method, args);
        }
        // Binding again takes a round trip: the call's arguments wait for it, owned.
        let method = method.id();
        let args = match args {
            CallArgs::Borrowed(bytes) => SplitArgs { body: bytes.to_vec(), ..SplitArgs::default() },
            CallArgs::Split(split) => split,
        };
        self.with_binding(move |conn, object| conn.call(object, MethodRef::Id(method), CallArgs::Split(args)))
    }

    fn call_unanswered(&self, _object: ObjectId, method: MethodRef<'_>, args: Vec<u8>) {
        let (conn, object) = self.bound();
        conn.call_unanswered(object, method, args);
    }

    fn open(&self, _object: ObjectId, method: MethodRef<'_>, args: CallArgs<'_>) -> RawStream {
        // A stream opened on a connection that is over fails with its error; the next
        // call binds the name again.
        let (conn, object) = self.bound();
        conn.open(object, method, args)
    }

    fn value_copy(&self, _object: ObjectId) -> PendingReply {
        self.with_binding(|conn, object| conn.value_copy(object))
    }

    fn release(&self, _object: ObjectId) {
        let (conn, object) = self.bound();
        Conn::release(&conn, object);
    }

    fn lease(&self, _object: ObjectId) {
        let (conn, object) = self.bound();
        conn.lease(object);
    }

    fn address(&self) -> &Address {
        &self.address
    }

    fn server(&self) -> ServerId {
        self.bound().0.server()
    }
}
