//! Sessions that survive a broken connection: what a client asks for in its handshake,
//! what the server answers, and the link between them — both ends' state, with no I/O.
//!
//! A client that opts into reconnecting asks for a session in its handshake proof (the
//! proof's MAC covers the request). The server then serves the connection behind a
//! *relay*: the connection task talks to one end of a local socket pair, and a relay
//! task carries its bytes over the network link, which may break and be replaced while
//! the connection task notices nothing. Each end keeps what it sent until the peer
//! acknowledges it; after a break, a new link (a fresh socket and a full handshake)
//! names the session and how many bytes it received, and each end sends again exactly
//! what the other did not get. Requests and replies therefore cross exactly once:
//! nothing is run twice, nothing answered twice, nothing lost.
//!
//! ```text
//! client conn ⇄ socket pair ⇄ client relay ══ link (TCP/TLS/Unix) ══ server relay ⇄ socket pair ⇄ server conn
//! ```
//!
//! On the link, every message is a frame whose payload starts with a tag:
//! `DATA bytes…` (the inner stream's bytes), `ACK u64` (DATA bytes received so far, all
//! links counted), `PING`, `PONG` (the link's own liveness) and `CLOSE` (the inner
//! stream ended on purpose: no grace period to wait out).
//!
//! ```
//! use manager_proto::session::{Relay, Event};
//! let (mut client, mut server) = (Relay::new(), Relay::new());
//! client.from_inner(b"request");
//! let wire = client.take_to_link();
//! server.link_buffer().extend_from_slice(&wire);
//! server.process_link().unwrap();
//! assert_eq!(server.take_to_inner(), b"request");
//! // The link breaks before anything is acknowledged; a new one resumes from what the
//! // server says it received: nothing is sent twice.
//! let (from, early, upto) = client.resend_early();
//! server.resume(client.received(), from).unwrap();
//! server.link_buffer().extend_from_slice(&early);
//! server.process_link().unwrap();
//! assert!(server.take_to_inner().is_empty(), "the server had it: dropped, not doubled");
//! client.resumed(server.received(), upto).unwrap();
//! assert!(client.take_to_link().is_empty());
//! # let _ = Event::Closed;
//! ```

mod messages;
mod relay;

pub use messages::{RING_FDS, RingOffer, SESSION_ID_LEN, SessionError, SessionId, SessionReply, SessionRequest};
pub use relay::{ACK_EVERY, Event, MAX_CHUNK, REPLAY_LIMIT, RESEND_EARLY, Relay};

#[cfg(test)]
mod tests;
