//! Opening a `#[shared]` type's stream method (one returning `impl Iterator` or `impl
//! Stream`): the method runs under the object's lock — read for `&self`, write for
//! `&mut self` — and returns its producer, which owns what it reads (the macro makes
//! it `Send + 'static`); the lock is released as soon as the method returns, so a
//! long or endless stream holds up no other call. When the lock is taken, the opening
//! waits for it inside the producer: the stream's first batch comes once it is free.

use manager_proto::dispatch::{BoxFuture, Dispatch, MethodInfo, Receiver};
use manager_proto::hosting::{Host, InCall, run_in};
use manager_proto::stream::{Batch, BoxSource, ItemSource};
use manager_proto::{RemoteError, RemoteErrorKind};
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::RwLock;

/// Opens stream method `info` of the object behind `lock` with encoded `args`; `key`
/// is the object's (`object_key`), `host` the call's (see `UserObject::call`).
pub(crate) fn open<T: Dispatch>(
    lock: &Arc<RwLock<T>>,
    key: usize,
    host: Option<Arc<dyn Host>>,
    info: &'static MethodInfo,
    args: &[u8],
) -> Result<BoxSource, RemoteError> {
    if !info.stream {
        return Err(RemoteError::new(
            RemoteErrorKind::NotExposed,
            format!("`{}.{}` is not a stream method: call it instead", T::shared_type_id(), info.name),
        ));
    }
    // Fast path: the lock is free, the method runs here.
    let now = run_in(key, host.as_ref(), || match info.receiver {
        Receiver::Ref => lock.try_read().ok().map(|guard| T::open_ref(&guard, info.id, args)),
        Receiver::Mut => lock.try_write().ok().map(|mut guard| T::open_mut(&mut guard, info.id, args)),
    });
    if let Some(opened) = now {
        return opened;
    }
    let args = args.to_vec();
    let lock = Arc::clone(lock);
    let opening: BoxFuture<'static, Result<BoxSource, RemoteError>> = Box::pin(async move {
        match info.receiver {
            Receiver::Ref => T::open_ref(&*lock.read().await, info.id, &args),
            Receiver::Mut => T::open_mut(&mut *lock.write().await, info.id, &args),
        }
    });
    Ok(Box::new(Deferred::Opening(Box::pin(InCall::new(key, host, opening)))))
}

/// A stream whose method waits for the object's lock before it runs.
enum Deferred {
    /// Waiting for the lock, then running the method.
    Opening(BoxFuture<'static, Result<BoxSource, RemoteError>>),
    /// The method's producer.
    Open(BoxSource),
}

impl ItemSource for Deferred {
    fn poll_batch(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut Vec<u8>,
        budget: usize,
    ) -> Poll<Result<Batch, RemoteError>> {
        loop {
            match self {
                Deferred::Open(source) => return source.poll_batch(cx, out, budget),
                Deferred::Opening(opening) => match std::task::ready!(opening.as_mut().poll(cx)) {
                    Ok(source) => *self = Deferred::Open(source),
                    Err(e) => return Poll::Ready(Err(e)),
                },
            }
        }
    }
}
