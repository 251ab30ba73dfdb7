//! One request, decoded and answered: the dispatch over request kinds — references
//! (create, incref, decref, names, tokens' leases), calls and value copies, cancels and
//! acknowledgements, descriptions, stats, inspections, shutdown. A large request frame is taken whole
//! from the decoder, so a large element it stores keeps its part of the frame.

use manager_proto::frame::FrameDecoder;
use manager_proto::outq::{OWNED_BODY_MIN, SharedBytes};
use manager_proto::{DecodeError, ObjectId, RemoteError, RemoteErrorKind, Request, Response};
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::parked::{catch_panic, panicked};
use super::{Connection, Held};
use crate::ended::Ended;
use crate::object::{ServerObject, Step};

impl Connection {
    /// [`handle`](Self::handle) for a large request (at `range` in the decoder's
    /// buffer). When its frame ends what was read, the frame is taken whole, and an
    /// element the request stores keeps its part of it instead of a copy.
    #[inline(never)]
    pub(super) fn handle_large(&mut self, decoder: &mut FrameDecoder, range: Range<usize>) -> Result<(), Ended> {
        let Some(frame) = take_large(decoder, &range) else {
            return self.handle(&decoder.bytes()[range]);
        };
        self.ctx.set_received(Some(frame.clone()));
        let handled = self.handle(&frame[range]);
        self.ctx.set_received(None);
        handled
    }

    /// Handles one request. An error ends the connection.
    pub(super) fn handle(&mut self, payload: &[u8]) -> Result<(), Ended> {
        self.shared.stats.requests.fetch_add(1, Ordering::Relaxed);
        let (id, request) = match Request::decode(payload) {
            Ok(decoded) => decoded,
            Err(e @ DecodeError::UnknownKind { id, .. }) => {
                tracing::debug!(peer = %self.peer, "{e}");
                let msg = format!("this server does not know {e}; it may be older than the client");
                self.respond(id, Response::Error(RemoteError::new(RemoteErrorKind::UnknownRequest, msg)));
                return Ok(());
            }
            Err(e @ DecodeError::Malformed { id: Some(id), .. }) => {
                self.respond(id, Response::Error(RemoteError::new(RemoteErrorKind::Protocol, e.to_string())));
                return Ok(());
            }
            Err(e) => return Err(Ended::BadRequest(e)),
        };
        match request {
            Request::Ping => self.respond(id, Response::Pong),
            Request::Create { type_id, fingerprint, args } => {
                let ctx = &self.ctx;
                let created = catch_panic(|| self.shared.registry.construct(type_id, fingerprint, args, ctx))
                    .unwrap_or_else(|what| Err(panicked(format!("the constructor of `{type_id}` {what}"))));
                match created {
                    Ok((object, kept)) => {
                        self.merge_adopted();
                        let oid = self.shared.table.insert(Arc::clone(&object), kept.clone());
                        self.held.insert(oid, Held { object, count: 1 });
                        let fingerprint = kept.as_deref().unwrap_or_default();
                        self.respond(id, Response::Object { id: oid, type_id, fingerprint });
                    }
                    Err(e) => {
                        self.warn_if_limit(&e);
                        self.respond(id, Response::Error(e));
                    }
                }
            }
            Request::Call { object, method, args } => {
                let target = match self.held(object) {
                    Ok(target) => target,
                    Err(e) => {
                        self.respond(id, Response::Error(e));
                        return Ok(());
                    }
                };
                let ctx = &self.ctx;
                let outcome = catch_panic(|| Arc::clone(&target).call(ctx, method, args));
                match outcome {
                    Ok(Step::Ready(result)) => self.respond_result(id, result),
                    Ok(Step::Pending(fut)) => {
                        let what = target.describe(method);
                        self.park(id, fut, what);
                    }
                    Err(what) => {
                        let what = format!("{} {what}", target.describe(method));
                        tracing::warn!(peer = %self.peer, "{what}");
                        self.respond(id, Response::Error(panicked(what)));
                    }
                }
            }
            Request::ValueCopy { object } => match self.held(object) {
                Ok(target) => {
                    let what = format!("the value copy of `{}` {object}", target.shared_type_id());
                    let ctx = &self.ctx;
                    match catch_panic(|| target.value_copy(ctx)) {
                        Ok(Step::Ready(result)) => self.respond_result(id, result),
                        Ok(Step::Pending(fut)) => self.park(id, fut, what),
                        Err(p) => self.respond(id, Response::Error(panicked(format!("{what} {p}")))),
                    }
                }
                Err(e) => self.respond(id, Response::Error(e)),
            },
            Request::Cancel { target } => {
                if let Some(handle) = self.parked.remove(&target) {
                    handle.abort();
                } else if self.close_stream(target) {
                    // A stream the client dropped: its producer is gone.
                } else if let Some((undo, _)) = self.reserved.remove(&target) {
                    // Answered, but the caller had given up: put back what it took.
                    self.shared.stats.undone.fetch_add(1, Ordering::Relaxed);
                    if catch_panic(undo).is_err() {
                        tracing::error!(peer = %self.peer, "undoing a cancelled transfer panicked");
                    }
                }
            }
            Request::Open { object, method, credit, args } => self.open_stream(id, object, method, credit, args),
            Request::Credit { target, bytes } => self.credit_stream(target, bytes),
            Request::Ack { target } => {
                self.reserved.remove(&target);
            }
            Request::Incref { object } => {
                let taken = match self.held.get_mut(&object) {
                    Some(held) => {
                        held.count += 1;
                        Ok((Arc::clone(&held.object), self.shared.table.fingerprint(object)))
                    }
                    None => self.shared.table.take(object).inspect(|(target, _)| {
                        self.held.insert(object, Held { object: Arc::clone(target), count: 1 });
                    }),
                };
                match taken {
                    Ok((target, fingerprint)) => {
                        let type_id = target.shared_type_id();
                        let fingerprint = fingerprint.as_deref().unwrap_or_default();
                        self.respond(id, Response::Object { id: object, type_id, fingerprint });
                    }
                    Err(e) => self.respond(id, Response::Error(e)),
                }
            }
            Request::Lease { object } => {
                let leased = self.held(object).and_then(|_| self.shared.leases.grant(object, &self.shared.table));
                match leased {
                    Ok(()) => self.respond(id, Response::Done),
                    Err(e) => {
                        tracing::debug!(peer = %self.peer, "lease: {e}");
                        self.respond(id, Response::Error(e));
                    }
                }
            }
            Request::Decref { object } => match self.held.get_mut(&object) {
                Some(held) if held.count > 1 => {
                    held.count -= 1;
                    self.respond(id, Response::Done);
                }
                Some(_) => {
                    self.held.remove(&object);
                    self.shared.table.release(object);
                    self.respond(id, Response::Done);
                }
                None => {
                    let e = not_held(object);
                    tracing::debug!(peer = %self.peer, "decref: {e}");
                    self.respond(id, Response::Error(e));
                }
            },
            Request::GetNamed { name } => match self.shared.table.get_named(name) {
                Ok((oid, object, fingerprint)) => {
                    match self.held.get_mut(&oid) {
                        Some(held) => {
                            held.count += 1;
                            // The connection already counted once in the table.
                            self.shared.table.release(oid);
                        }
                        None => {
                            self.held.insert(oid, Held { object: Arc::clone(&object), count: 1 });
                        }
                    }
                    let type_id = object.shared_type_id();
                    let fingerprint = fingerprint.as_deref().unwrap_or_default();
                    self.respond(id, Response::Object { id: oid, type_id, fingerprint });
                }
                Err(e) => self.respond(id, Response::Error(e)),
            },
            Request::BindNamed { name, object } => {
                let result = self.held(object).and_then(|_| self.shared.table.bind_name(name, object));
                match result {
                    Ok(()) => self.respond(id, Response::Done),
                    Err(e) => self.respond(id, Response::Error(e)),
                }
            }
            Request::Describe { type_id } => match self.shared.registry.describe(type_id) {
                Ok(d) => self.respond(id, Response::Description(d)),
                Err(e) => self.respond(id, Response::Error(e)),
            },
            Request::Inspect { query } => self.inspect(id, query),
            Request::Stats => {
                let stats = self.shared.stats();
                self.respond(id, Response::Stats(stats));
            }
            Request::Collect => {
                let freed = crate::collect::collect(&self.shared);
                let mut encoded = [0u8; 10];
                match postcard::to_slice(&freed, &mut encoded) {
                    Ok(bytes) => self.respond(id, Response::Value(bytes)),
                    Err(e) => {
                        self.respond(id, Response::Error(RemoteError::new(RemoteErrorKind::Decode, e.to_string())))
                    }
                }
            }
            Request::Shutdown => {
                if self.shared.config.allow_remote_shutdown {
                    tracing::info!(peer = %self.peer, "shutdown requested by a client");
                    self.respond(id, Response::Done);
                    // Reply first; the loop sees the signal after this batch is flushed.
                    let _ = self.flush();
                    self.shared.shutdown.cancel();
                } else {
                    let e = RemoteError::new(
                        RemoteErrorKind::Forbidden,
                        "this server does not accept shutdown requests from clients",
                    );
                    self.respond(id, Response::Error(e));
                }
            }
        }
        Ok(())
    }

    pub(super) fn held(&self, object: ObjectId) -> Result<Arc<dyn ServerObject>, RemoteError> {
        self.held.get(&object).map(|h| Arc::clone(&h.object)).ok_or_else(|| not_held(object))
    }
}

fn not_held(object: ObjectId) -> RemoteError {
    RemoteError::new(
        RemoteErrorKind::NoSuchObject,
        format!("this connection holds no reference to object {object} (it was released, or never taken)"),
    )
}

/// A large request frame that ends what was read, taken from the decoder whole instead
/// of leaving its arguments to be copied out. Room the buffer had beyond the frame is
/// given back first: an element stored from the frame keeps the buffer alive.
#[inline]
fn take_large(decoder: &mut FrameDecoder, range: &Range<usize>) -> Option<SharedBytes> {
    if range.len() < OWNED_BODY_MIN {
        return None;
    }
    let mut buf = decoder.take_buffer_if_last(range)?;
    if buf.capacity() - buf.len() > buf.len() / 8 {
        buf.shrink_to_fit();
    }
    Some(SharedBytes::from(buf))
}

#[cfg(test)]
mod tests {
    use super::*;
    use manager_proto::frame::encode_frame;

    /// A decoder holding `frames`, each encoded as a frame, with `room` spare bytes.
    fn decoder_with(frames: &[Vec<u8>], room: usize) -> FrameDecoder {
        let mut dec = FrameDecoder::new(usize::MAX);
        let buf = dec.buffer_mut();
        for f in frames {
            encode_frame(f, buf, usize::MAX).unwrap();
        }
        buf.reserve_exact(room);
        dec
    }

    #[test]
    fn only_a_large_frame_that_ends_the_buffer_is_taken_and_its_spare_room_is_given_back() {
        let large = vec![3u8; OWNED_BODY_MIN];
        // Small: left in place.
        let mut dec = decoder_with(&[vec![1; 100]], 0);
        let range = dec.next_range().unwrap().unwrap();
        assert!(take_large(&mut dec, &range).is_none());
        assert_eq!(&dec.bytes()[range], &[1; 100][..]);
        // Large, with another frame behind it: left in place.
        let mut dec = decoder_with(&[large.clone(), vec![2]], 0);
        let range = dec.next_range().unwrap().unwrap();
        assert!(take_large(&mut dec, &range).is_none());
        assert_eq!(dec.next_frame().unwrap(), Some(&[2][..]));
        // Large and last: taken, with no more room than it needs, and the decoder
        // starts over.
        let mut dec = decoder_with(std::slice::from_ref(&large), 4 * OWNED_BODY_MIN);
        let range = dec.next_range().unwrap().unwrap();
        let frame = take_large(&mut dec, &range).unwrap();
        assert_eq!(dec.buffered(), 0);
        // Nobody else holds it: this is the decoder's buffer itself.
        let buf = frame.into_vec();
        assert_eq!(&buf[range], &large[..]);
        assert!(buf.capacity() <= buf.len() + buf.len() / 8, "spare room given back");
    }
}
