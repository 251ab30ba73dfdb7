//! Answers into the output buffer: a value, a transfer the caller must acknowledge, or
//! an error; a large stored element written from where it lies; a reply too large for
//! the client refused with an error instead.

use manager_proto::frame::FrameError;
use manager_proto::outq::SharedBytes;
use manager_proto::{NO_RESPONSE, RemoteError, RemoteErrorKind, RequestId, Response};

use super::{Connection, Held};
use crate::object::StepResult;

impl Connection {
    /// Queues a reply to request `id` (none for [`NO_RESPONSE`]).
    pub(super) fn respond(&mut self, id: RequestId, response: Response<'_>) {
        if id == NO_RESPONSE {
            return;
        }
        let queued = self.out.frame(self.shared.config.max_frame, |out| response.encode(id, out));
        self.refuse_if_too_large(id, queued);
    }

    /// Queues a reply to request `id` made of `head` (a response with an empty tail)
    /// and then `value`, which a large reply keeps as it is instead of copying it; then,
    /// if there is one, a shared stored element and what follows it, written from where
    /// the element lies.
    pub(super) fn respond_with_tail(
        &mut self,
        id: RequestId,
        head: Response<'_>,
        value: manager_proto::Reply,
        shared: Option<(SharedBytes, Vec<u8>)>,
    ) {
        if id == NO_RESPONSE {
            return;
        }
        if let Some((body, trailer)) = shared {
            return self.respond_with_shared(id, head, &value, body, &trailer);
        }
        let limit = self.shared.config.max_frame;
        let queued = if value.bytes().len() <= manager_proto::Reply::INLINE {
            self.out.frame(limit, |out| {
                head.encode(id, out);
                out.extend_from_slice(value.bytes());
            })
        } else {
            self.out.frame_with_body(limit, |out| head.encode(id, out), value.into_vec(), &[])
        };
        self.refuse_if_too_large(id, queued);
    }

    /// [`respond_with_tail`](Self::respond_with_tail) for a reply that carries a large
    /// stored element: `head`, `value`, then `body` written from where it lies, then
    /// `trailer`. Kept out of line: the small replies of the common path stay compact.
    #[inline(never)]
    pub(super) fn respond_with_shared(
        &mut self,
        id: RequestId,
        head: Response<'_>,
        value: &manager_proto::Reply,
        body: SharedBytes,
        trailer: &[u8],
    ) {
        let limit = self.shared.config.max_frame;
        let encode_head = |out: &mut Vec<u8>| {
            head.encode(id, out);
            out.extend_from_slice(value.bytes());
        };
        let queued = self.out.frame_with_shared(limit, encode_head, body, trailer);
        self.refuse_if_too_large(id, queued);
    }

    /// When the reply to `id` was too large for the client to accept, says so instead.
    pub(super) fn refuse_if_too_large(&mut self, id: RequestId, queued: Result<(), FrameError>) {
        if let Err(e) = queued {
            let error = RemoteError::new(RemoteErrorKind::LimitExceeded, format!("the reply is too large: {e}"));
            self.warn_if_limit(&error);
            // An error message always fits.
            let _ = self.out.frame(usize::MAX, |out| Response::Error(error).encode(id, out));
        }
    }

    pub(super) fn respond_result(&mut self, id: RequestId, result: StepResult) {
        self.merge_adopted();
        match result {
            Ok(reply) => match reply.undo {
                None => self.respond_with_tail(id, Response::Value(&[]), reply.bytes, reply.shared),
                Some(undo) if id == NO_RESPONSE => undo(),
                Some(undo) => {
                    let head = if reply.grant { Response::Grant(&[]) } else { Response::Transfer(&[]) };
                    self.respond_with_tail(id, head, reply.bytes, reply.shared);
                    if let Some((old, _)) = self.reserved.insert(id, (undo, reply.grant)) {
                        old();
                    }
                }
            },
            Err(e) => {
                self.warn_if_limit(&e);
                self.respond(id, Response::Error(e));
            }
        }
    }

    /// A warning for a request refused at a limit (what one request may store, the
    /// largest frame): the message names the method and the sizes, never a value.
    pub(super) fn warn_if_limit(&self, e: &RemoteError) {
        if e.kind == RemoteErrorKind::LimitExceeded {
            tracing::warn!(peer = %self.peer, conn = self.ctx.connection(), "request refused: {}", e.message);
        }
    }

    /// Folds references calls took for this connection into its own.
    pub(super) fn merge_adopted(&mut self) {
        let Some(adopted) = self.ctx.take_adopted() else { return };
        for (id, object) in adopted {
            match self.held.get_mut(&id) {
                Some(held) => {
                    held.count += 1;
                    // The table counts a connection once.
                    self.shared.table.release(id);
                }
                None => {
                    self.held.insert(id, Held { object, count: 1 });
                }
            }
        }
    }
}
