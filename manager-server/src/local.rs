//! Calls made in place. A `#[shared]` method's proxy arguments, and the objects it
//! returns as `Shared<T>`, are handles whose transport is [`LocalTransport`]: a call
//! through one runs `ServerObject::call` on the object in the table, on the calling
//! task, with no socket. [`ConnHost`] is what a running call sees of the server (the
//! protocol's `Host`): it hosts returned values, takes references for the proxies a
//! result carries, and resolves proxy arguments into local handles.
//!
//! A call through a local handle to an object whose own call is running below it on
//! this task would wait for the lock that call holds: it is refused with an error
//! instead (`hosting::is_running`).

use manager_proto::hosting::{Host, is_running, object_key};
use manager_proto::proxy::{CallArgs, PendingReply, Transport};
use manager_proto::{Address, Error, Handle, MethodRef, ObjectId, RemoteError, RemoteErrorKind, ServerId, Token};
use std::sync::Arc;

use crate::object::{CallContext, Hosting, Step, StepResult};

/// The transport of handles held on the server: calls run in place.
pub(crate) struct LocalTransport {
    /// The caller the calls are made for (a local context: references the results
    /// hand out belong to the handles they are decoded into).
    ctx: CallContext,
    /// The server, for tokens.
    hosting: Arc<dyn Hosting>,
}

/// What a `#[shared]` call sees of the server.
pub(crate) struct ConnHost {
    /// The call's context: the connection's own, or a local one for a call made in
    /// place.
    ctx: CallContext,
    hosting: Arc<dyn Hosting>,
}

impl ConnHost {
    pub(crate) fn new(ctx: CallContext, hosting: Arc<dyn Hosting>) -> Self {
        ConnHost { ctx, hosting }
    }

    fn transport(&self) -> Arc<dyn Transport> {
        Arc::new(LocalTransport { ctx: self.ctx.local(), hosting: Arc::clone(&self.hosting) })
    }
}

impl Host for ConnHost {
    fn host(
        &self,
        type_id: &'static str,
        type_name: &str,
        value: Box<dyn std::any::Any + Send>,
    ) -> Result<Handle, RemoteError> {
        let (object, fingerprint) = self.hosting.wrap(type_id, type_name, value)?;
        // One reference, which the handle owns until the result is encoded (and the
        // caller's own is taken for the proxy in it).
        let id = self.ctx.table().insert(object, fingerprint);
        Ok(Handle::new(self.transport(), id, type_id.to_owned()))
    }

    fn adopt(&self, server: ServerId, object: ObjectId) -> Result<(), RemoteError> {
        if server != self.hosting.server() {
            return Err(RemoteError::new(
                RemoteErrorKind::InvalidValue,
                format!("a result holds a proxy to object {object} of another server (run {server})"),
            ));
        }
        self.ctx.adopt(object)
    }

    fn resolve(&self, token: &Token) -> Result<Handle, String> {
        if token.server != self.hosting.server() {
            return Err(format!(
                "{} belongs to another server run: a proxy argument must be to an object of the server the call goes \
                 to",
                token.describe()
            ));
        }
        let table = self.ctx.table();
        let object = table.incref(token.object).map_err(|e| e.message)?;
        if object.shared_type_id() != token.type_id {
            table.release(token.object);
            return Err(format!("{} is a `{}`", token.describe(), object.shared_type_id()));
        }
        Ok(Handle::new(self.transport(), token.object, token.type_id.clone()))
    }
}

/// A local call's answer, as a proxy sees one: delivered in place, so nothing it took
/// needs an acknowledgement (its undo is dropped).
fn delivered(result: StepResult) -> Result<manager_proto::Reply, Error> {
    let reply = result.map_err(Error::Remote)?;
    Ok(match reply.shared {
        None => reply.bytes,
        Some((body, trailer)) => {
            let mut bytes = reply.bytes.into_vec();
            bytes.extend_from_slice(&body);
            bytes.extend_from_slice(&trailer);
            bytes.into()
        }
    })
}

fn answer(step: Step) -> PendingReply {
    match step {
        Step::Ready(result) => PendingReply::ready(delivered(result)),
        Step::Pending(future) => PendingReply::from_future(async move { delivered(future.await) }),
    }
}

impl LocalTransport {
    fn run(&self, object: ObjectId, method: MethodRef<'_>, args: &[u8]) -> PendingReply {
        let target = match self.ctx.table().get(object) {
            Ok(target) => target,
            Err(e) => return PendingReply::failed(Error::Remote(e)),
        };
        if is_running(object_key(&target)) {
            return PendingReply::failed(Error::Remote(RemoteError::new(
                RemoteErrorKind::InvalidValue,
                format!(
                    "{} was called through a proxy from inside a call on that same object, which would \
                     wait for itself forever; call it on `self` instead",
                    target.describe(method)
                ),
            )));
        }
        answer(target.call(&self.ctx, method, args))
    }
}

impl Transport for LocalTransport {
    fn call(&self, object: ObjectId, method: MethodRef<'_>, args: CallArgs<'_>) -> PendingReply {
        match args {
            CallArgs::Borrowed(bytes) => self.run(object, method, bytes),
            CallArgs::Split(split) => self.run(object, method, &split.join()),
        }
    }

    fn call_unanswered(&self, object: ObjectId, method: MethodRef<'_>, args: Vec<u8>) {
        let pending = self.run(object, method, &args);
        // A call that must wait finishes on its own task (dropping it would cancel it).
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(pending);
        }
    }

    fn value_copy(&self, object: ObjectId) -> PendingReply {
        match self.ctx.table().get(object) {
            Ok(target) => answer(target.value_copy(&self.ctx)),
            Err(e) => PendingReply::failed(Error::Remote(e)),
        }
    }

    fn release(&self, object: ObjectId) {
        self.ctx.table().release(object);
    }

    fn lease(&self, object: ObjectId) {
        if let Err(e) = self.hosting.lease(object) {
            tracing::debug!("a token minted on the server: {}", e.message);
        }
    }

    fn address(&self) -> &Address {
        self.hosting.address()
    }

    fn server(&self) -> ServerId {
        self.hosting.server()
    }
}
