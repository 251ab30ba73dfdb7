//! The glue of blocking proxies: what drives a proxy's future to completion on a
//! blocking client's runtime ([`BlockOn`]), and the traits a blocking client and its
//! proxies implement. Only the client implements these, but `#[shared]` generates
//! blocking proxies, and generated code may name only this crate's items: so they live
//! here, apart from the async proxy machinery in `proxy`.

use crate::proxy::{Connect, Proxy};
use crate::stream::Stream;
use crate::{Error, Token};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

/// Runs a future to completion on a client's own runtime: the engine of the blocking
/// facade.
pub trait BlockOn: Send + Sync {
    /// Drives `fut` to completion; fails (instead of panicking) when called from inside
    /// an async runtime.
    fn block_on_unit(&self, fut: Pin<&mut (dyn Future<Output = ()> + '_)>) -> Result<(), Error>;

    /// [`block_on_unit`](BlockOn::block_on_unit) for a future that only makes and awaits
    /// calls on this executor's connections — a proxy method's — and needs nothing else
    /// of an async runtime (no timers, no spawns). An executor may skip setting up its
    /// runtime's context for it; the default drives it like any future.
    fn block_on_call_unit(&self, fut: Pin<&mut (dyn Future<Output = ()> + '_)>) -> Result<(), Error> {
        self.block_on_unit(fut)
    }
}

/// A shared [`BlockOn`].
pub type Executor = Arc<dyn BlockOn>;

/// Runs `fut` to completion on `exec`.
pub fn block_on<F: Future>(exec: &dyn BlockOn, fut: F) -> Result<F::Output, Error> {
    drive(fut, |task| exec.block_on_unit(task))
}

/// Runs a proxy method's future (calls on `exec`'s connections, nothing else; see
/// [`BlockOn::block_on_call_unit`]) to completion on `exec`.
pub fn block_on_call<F: Future>(exec: &dyn BlockOn, fut: F) -> Result<F::Output, Error> {
    drive(fut, |task| exec.block_on_call_unit(task))
}

/// Hands `fut`, as a unit future that keeps its output, to `run`.
fn drive<F: Future>(
    fut: F,
    run: impl FnOnce(Pin<&mut (dyn Future<Output = ()> + '_)>) -> Result<(), Error>,
) -> Result<F::Output, Error> {
    let mut out = None;
    {
        // Pinned where it is and polled through a reference: an `async` block would
        // move the future twice more (into the block, then into its await), and these
        // are large.
        let mut fut = std::pin::pin!(fut);
        let mut task = std::pin::pin!(std::future::poll_fn(|cx| {
            if out.is_none() {
                out = Some(std::task::ready!(fut.as_mut().poll(cx)));
            }
            Poll::Ready(())
        }));
        run(task.as_mut())?;
    }
    out.ok_or_else(|| Error::Protocol("the blocking executor returned before the call finished".into()))
}

/// Something objects can be created through without an async runtime: a blocking
/// client.
pub trait BlockingConnect: Connect {
    /// The executor blocking proxies made through this client run on.
    fn executor(&self) -> Executor;
}

/// A blocking proxy: the async proxy plus the executor that drives it.
pub trait BlockingProxy: Sized {
    /// The async proxy it wraps.
    type Async: Proxy;

    /// Wraps an async proxy.
    fn from_async(proxy: Self::Async, exec: Executor) -> Self;

    /// The async proxy inside.
    fn as_async(&self) -> &Self::Async;

    /// The object's token, to hand to another process.
    fn token(&self) -> Token {
        self.as_async().token()
    }
}

/// A stream read without an async runtime: an `Iterator` of its `Result<T, Error>`
/// items ([`RemoteStream`](crate::RemoteStream)'s, or a built-in proxy's). Made by blocking proxies;
/// dropping it closes the stream on the server.
pub struct BlockingStream<S> {
    stream: S,
    exec: Executor,
}

impl<S> BlockingStream<S> {
    /// Reads `stream` on `exec`.
    pub fn new(stream: S, exec: Executor) -> Self {
        BlockingStream { stream, exec }
    }

    /// The async stream underneath.
    pub fn into_inner(self) -> S {
        self.stream
    }
}

impl<S, T> Iterator for BlockingStream<S>
where
    S: Stream<Item = Result<T, Error>> + Unpin,
{
    type Item = Result<T, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let stream = &mut self.stream;
        match block_on_call(&*self.exec, std::future::poll_fn(|cx| Pin::new(&mut *stream).poll_next(cx))) {
            Ok(item) => item,
            Err(e) => Some(Err(e)),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for BlockingStream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("BlockingStream").field(&self.stream).finish()
    }
}
