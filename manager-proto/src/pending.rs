//! A call on its way: the future a transport's calls return, and where it waits for
//! its reply.

use crate::dispatch::BoxFuture;
use crate::reply::Reply;
use crate::{Error, RequestId};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// A call on its way: await it for the reply. Dropping it before the reply comes
/// cancels the call on the server. What [`Transport`](crate::Transport)'s calls return; a transport that
/// tracks its calls by request id ([`ReplySource`]) makes one without an allocation.
#[must_use = "a call is cancelled when its PendingReply is dropped unawaited"]
pub struct PendingReply {
    state: Pending,
}

enum Pending {
    /// Waiting on `source` for the reply to request `id`.
    Waiting { source: Arc<dyn ReplySource>, id: RequestId },
    /// Resolved before it was awaited: failed before it was sent, or answered while
    /// it was being sent (a blocking client's calling thread reads the reply itself).
    Ready(Result<Reply, Error>),
    /// Any other future.
    Future(BoxFuture<'static, Result<Reply, Error>>),
    /// Resolved.
    Done,
}

/// Where a transport's replies arrive, by request id: what a [`PendingReply`] waits on.
pub trait ReplySource: Send + Sync + 'static {
    /// Polls for the reply to request `id`; the waker in `cx` is woken when it comes.
    fn poll_reply(&self, id: RequestId, cx: &mut Context<'_>) -> Poll<Result<Reply, Error>>;

    /// The caller stopped waiting for request `id` before its reply came.
    fn abandon(&self, id: RequestId);
}

impl PendingReply {
    /// A call sent as request `id`, whose reply `source` delivers.
    pub fn waiting(source: Arc<dyn ReplySource>, id: RequestId) -> Self {
        PendingReply { state: Pending::Waiting { source, id } }
    }

    /// A call that failed before it was sent.
    ///
    /// ```
    /// use manager_proto::{Error, PendingReply};
    /// use std::future::Future;
    /// use std::task::{Context, Poll, Waker};
    /// let mut reply = PendingReply::failed(Error::Protocol("no".into()));
    /// let polled = std::pin::Pin::new(&mut reply).poll(&mut Context::from_waker(Waker::noop()));
    /// assert!(matches!(polled, Poll::Ready(Err(Error::Protocol(_)))));
    /// ```
    pub fn failed(error: Error) -> Self {
        PendingReply { state: Pending::Ready(Err(error)) }
    }

    /// A call whose outcome is already known: its first poll returns it.
    ///
    /// ```
    /// use manager_proto::{PendingReply, Reply};
    /// use std::future::Future;
    /// use std::task::{Context, Poll, Waker};
    /// let mut reply = PendingReply::ready(Ok(Reply::copy_of(&[1, 2])));
    /// let polled = std::pin::Pin::new(&mut reply).poll(&mut Context::from_waker(Waker::noop()));
    /// assert!(matches!(polled, Poll::Ready(Ok(r)) if r.bytes() == [1, 2]));
    /// ```
    pub fn ready(outcome: Result<Reply, Error>) -> Self {
        PendingReply { state: Pending::Ready(outcome) }
    }

    /// The reply as some other future produces it.
    pub fn from_future(future: impl Future<Output = Result<Reply, Error>> + Send + 'static) -> Self {
        PendingReply { state: Pending::Future(Box::pin(future)) }
    }
}

impl Future for PendingReply {
    type Output = Result<Reply, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let result = match &mut self.state {
            Pending::Waiting { source, id } => std::task::ready!(source.poll_reply(*id, cx)),
            Pending::Future(future) => std::task::ready!(future.as_mut().poll(cx)),
            Pending::Ready(_) | Pending::Done => match std::mem::replace(&mut self.state, Pending::Done) {
                Pending::Ready(outcome) => return Poll::Ready(outcome),
                _ => return Poll::Ready(Err(Error::Protocol("a reply was awaited again after it came".into()))),
            },
        };
        // Resolved: dropping it now must not cancel anything.
        self.state = Pending::Done;
        Poll::Ready(result)
    }
}

impl Drop for PendingReply {
    fn drop(&mut self) {
        if let Pending::Waiting { source, id } = &self.state {
            source.abandon(*id);
        }
    }
}

impl fmt::Debug for PendingReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            Pending::Waiting { id, .. } => format!("waiting for the reply to request {id}"),
            Pending::Ready(Ok(_)) => "answered".to_owned(),
            Pending::Ready(Err(e)) => format!("failed: {e}"),
            Pending::Future(_) => "waiting".to_owned(),
            Pending::Done => "done".to_owned(),
        };
        f.debug_tuple("PendingReply").field(&state).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers request 7 once `ready` is set; counts abandonments.
    #[derive(Default)]
    struct Source {
        ready: std::sync::atomic::AtomicBool,
        abandoned: std::sync::Mutex<Vec<RequestId>>,
    }

    impl ReplySource for Source {
        fn poll_reply(&self, id: RequestId, _: &mut Context<'_>) -> Poll<Result<Reply, Error>> {
            assert_eq!(id, 7);
            if self.ready.load(std::sync::atomic::Ordering::SeqCst) {
                Poll::Ready(Ok(Reply::copy_of(&[42])))
            } else {
                Poll::Pending
            }
        }

        fn abandon(&self, id: RequestId) {
            self.abandoned.lock().unwrap().push(id);
        }
    }

    fn poll(reply: &mut PendingReply) -> Poll<Result<Reply, Error>> {
        Pin::new(reply).poll(&mut Context::from_waker(std::task::Waker::noop()))
    }

    #[test]
    fn a_pending_reply_dropped_before_its_reply_abandons_the_request_once() {
        let source = Arc::new(Source::default());
        let mut reply = PendingReply::waiting(source.clone(), 7);
        assert!(poll(&mut reply).is_pending());
        assert!(source.abandoned.lock().unwrap().is_empty());
        drop(reply);
        assert_eq!(*source.abandoned.lock().unwrap(), vec![7]);
    }

    #[test]
    fn a_pending_reply_that_resolved_abandons_nothing_and_is_not_answered_twice() {
        let source = Arc::new(Source::default());
        let mut reply = PendingReply::waiting(source.clone(), 7);
        source.ready.store(true, std::sync::atomic::Ordering::SeqCst);
        match poll(&mut reply) {
            Poll::Ready(Ok(value)) => assert_eq!(value.bytes(), &[42]),
            other => panic!("{other:?}"),
        }
        assert!(matches!(poll(&mut reply), Poll::Ready(Err(Error::Protocol(_)))));
        drop(reply);
        assert!(source.abandoned.lock().unwrap().is_empty());
    }

    #[test]
    fn a_pending_reply_from_any_future_resolves_to_its_output() {
        let mut reply = PendingReply::from_future(async { Ok(Reply::copy_of(&[1, 2])) });
        match poll(&mut reply) {
            Poll::Ready(Ok(value)) => assert_eq!(value.bytes(), &[1, 2]),
            other => panic!("{other:?}"),
        }
        assert!(format!("{reply:?}").contains("done"));
    }
}
