//! The mutual handshake, as two state machines with no I/O (one job: the two sides
//! and their tests, which are most of its length past 350 lines, stay together).
//!
//! ```text
//! client                                             server
//!   ClientHello { magic, versions, nonce_c }   ──►
//!                                              ◄──   Challenge { version, nonce_s }
//!                                                    (or Refused { server's versions })
//!   ClientProof { HMAC(key, "client"..) }      ──►
//!                                              ◄──   Welcome { HMAC(key, "server"..), server id }
//!                                                    (or Rejected)
//! ```
//!
//! Both MACs are HMAC-SHA256 over a domain-separation label, the side's role, the
//! chosen version and both nonces (the server's also covers its id), and are compared
//! in constant time. The client proves first, so a peer without the key learns nothing
//! but a random challenge; fresh nonces on both sides make a captured exchange useless
//! for replay in either direction. Nonces come from the caller, which keeps this
//! module deterministic and fuzzable.
//!
//! ```
//! use manager_proto::handshake::*;
//! use manager_proto::{AuthKey, ServerId};
//! let key = AuthKey::new(*b"secret").unwrap();
//! let (mut client, hello) = ClientHandshake::new(&key, [1; NONCE_LEN], VersionRange::CURRENT);
//! let mut server = ServerHandshake::new(&key, [2; NONCE_LEN], VersionRange::CURRENT, ServerId(7));
//! let challenge = server.receive(&hello).unwrap().reply.unwrap();
//! let proof = client.receive(&challenge).unwrap().reply.unwrap();
//! let step = server.receive(&proof).unwrap();
//! let server_side = step.established.unwrap();
//! let client_side = client.receive(&step.reply.unwrap()).unwrap().established.unwrap();
//! assert_eq!(client_side, server_side);
//! assert_eq!(client_side.server, ServerId(7));
//! ```

use crate::session::SessionRequest;
use crate::{AuthKey, ServerId};
use hmac::{KeyInit, Mac};
use std::fmt;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Bytes of each side's nonce.
pub const NONCE_LEN: usize = 32;
const MAC_LEN: usize = 32;
const MAGIC: [u8; 4] = *b"RMGR";
const LABEL: &[u8] = b"rust-managers/handshake/v1";

const CHALLENGE: u8 = 0;
const REFUSED: u8 = 1;
const UNAVAILABLE: u8 = 2;
const WELCOME: u8 = 0;
const REJECTED: u8 = 1;

/// An inclusive range of protocol versions a side speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VersionRange {
    /// Oldest version spoken.
    pub min: u16,
    /// Newest version spoken.
    pub max: u16,
}

impl VersionRange {
    /// What this build speaks.
    pub const CURRENT: VersionRange = VersionRange { min: 3, max: 3 };

    fn contains(&self, v: u16) -> bool {
        self.min <= v && v <= self.max
    }
}

impl fmt::Display for VersionRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.min == self.max {
            write!(f, "version {}", self.min)
        } else {
            write!(f, "versions {}..={}", self.min, self.max)
        }
    }
}

/// What a completed handshake agreed on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Established {
    /// The protocol version both sides will speak.
    pub version: u16,
    /// The server run the client is talking to.
    pub server: ServerId,
    /// The session the client asked for in its proof, if any (server side only; see
    /// [`crate::session`]).
    pub session: Option<SessionRequest>,
}

/// Why a handshake failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// The peer does not speak this protocol at all (wrong magic, malformed message).
    #[error("the peer is not a manager peer: {0}")]
    NotAManager(String),
    /// No protocol version in common.
    #[error("protocol version mismatch: this side speaks {ours}, the peer speaks {theirs}")]
    VersionMismatch {
        /// What this side speaks.
        ours: VersionRange,
        /// What the peer speaks.
        theirs: VersionRange,
    },
    /// The peer does not hold the key (or we do not).
    #[error("authentication failed: wrong key or wrong server")]
    Authentication,
    /// A message arrived when none was expected.
    #[error("unexpected handshake message")]
    OutOfOrder,
    /// The server refused the connection before authenticating it (at its connection
    /// limit, shutting down); the message says why.
    #[error("the server refused the connection: {0}")]
    Unavailable(String),
}

/// The first message of a server that will not serve this connection (connection limit
/// reached, shutting down): sent instead of a challenge, then the server closes.
pub fn unavailable_message(reason: &str) -> Vec<u8> {
    let reason = &reason.as_bytes()[..reason.len().min(200)];
    let mut msg = vec![UNAVAILABLE];
    msg.extend_from_slice(reason);
    msg
}

/// What to do after feeding a message to a handshake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// A message to send to the peer, if any.
    pub reply: Option<Vec<u8>>,
    /// Set once the handshake is complete (after sending `reply`).
    pub established: Option<Established>,
}

/// A failed handshake: the error, and a last message to send the peer before closing
/// (a refusal naming our versions, or a rejection), if any.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{error}")]
pub struct Failure {
    /// Why it failed.
    pub error: HandshakeError,
    /// What to send before closing.
    pub reply: Option<Vec<u8>>,
}

impl From<HandshakeError> for Failure {
    fn from(error: HandshakeError) -> Self {
        Failure { error, reply: None }
    }
}

fn mac(key: &AuthKey, role: &[u8], version: u16, client: &[u8], server: &[u8], id: u64) -> HmacSha256 {
    // Any key length is valid for HMAC; a failure here is impossible.
    let mut m = <HmacSha256 as KeyInit>::new_from_slice(key.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    m.update(LABEL);
    m.update(role);
    m.update(&version.to_be_bytes());
    m.update(client);
    m.update(server);
    m.update(&id.to_be_bytes());
    m
}

/// The client's MAC also covers the session request that follows it (none: nothing).
fn client_mac(key: &AuthKey, v: u16, nc: &[u8], ns: &[u8], session: &[u8]) -> HmacSha256 {
    let mut m = mac(key, b"client", v, nc, ns, 0);
    m.update(session);
    m
}

fn server_mac(key: &AuthKey, v: u16, nc: &[u8], ns: &[u8], id: ServerId) -> HmacSha256 {
    mac(key, b"server", v, nc, ns, id.0)
}

fn bad(reason: &str) -> HandshakeError {
    HandshakeError::NotAManager(reason.to_owned())
}

fn split<const N: usize>(msg: &[u8]) -> Result<([u8; N], &[u8]), HandshakeError> {
    msg.split_first_chunk::<N>().map(|(head, rest)| (*head, rest)).ok_or_else(|| bad("message too short"))
}

/// The client's side.
#[derive(Debug)]
pub struct ClientHandshake {
    key: AuthKey,
    nonce: [u8; NONCE_LEN],
    versions: VersionRange,
    state: ClientState,
    /// The session request sent after the proof (empty: none).
    session: Vec<u8>,
}

#[derive(Debug)]
enum ClientState {
    AwaitChallenge,
    AwaitVerdict { version: u16, server_nonce: [u8; NONCE_LEN] },
    Finished,
}

impl ClientHandshake {
    /// Starts a handshake; returns the machine and the hello to send.
    pub fn new(key: &AuthKey, nonce: [u8; NONCE_LEN], versions: VersionRange) -> (Self, Vec<u8>) {
        let mut hello = Vec::with_capacity(4 + 4 + NONCE_LEN);
        hello.extend_from_slice(&MAGIC);
        hello.extend_from_slice(&versions.min.to_le_bytes());
        hello.extend_from_slice(&versions.max.to_le_bytes());
        hello.extend_from_slice(&nonce);
        let hs = ClientHandshake {
            key: key.clone(),
            nonce,
            versions,
            state: ClientState::AwaitChallenge,
            session: Vec::new(),
        };
        (hs, hello)
    }

    /// Asks for a session (see [`crate::session`]) in the proof.
    pub fn with_session(mut self, request: SessionRequest) -> Self {
        self.session = request.encode();
        self
    }

    /// Feeds the server's next message.
    pub fn receive(&mut self, msg: &[u8]) -> Result<Step, Failure> {
        let state = std::mem::replace(&mut self.state, ClientState::Finished);
        match state {
            ClientState::AwaitChallenge => {
                let ([tag], rest) = split::<1>(msg)?;
                match tag {
                    CHALLENGE => {
                        let (version, rest) = split::<2>(rest)?;
                        let version = u16::from_le_bytes(version);
                        let (server_nonce, rest) = split::<NONCE_LEN>(rest)?;
                        if !rest.is_empty() {
                            return Err(bad("trailing bytes in challenge").into());
                        }
                        if !self.versions.contains(version) {
                            let theirs = VersionRange { min: version, max: version };
                            return Err(HandshakeError::VersionMismatch { ours: self.versions, theirs }.into());
                        }
                        let mut proof = client_mac(&self.key, version, &self.nonce, &server_nonce, &self.session)
                            .finalize()
                            .into_bytes()
                            .to_vec();
                        proof.extend_from_slice(&self.session);
                        self.state = ClientState::AwaitVerdict { version, server_nonce };
                        Ok(Step { reply: Some(proof), established: None })
                    }
                    REFUSED => {
                        let (min, rest) = split::<2>(rest)?;
                        let (max, _) = split::<2>(rest)?;
                        Err(HandshakeError::VersionMismatch {
                            ours: self.versions,
                            theirs: VersionRange { min: u16::from_le_bytes(min), max: u16::from_le_bytes(max) },
                        }
                        .into())
                    }
                    UNAVAILABLE => Err(HandshakeError::Unavailable(String::from_utf8_lossy(rest).into_owned()).into()),
                    _ => Err(bad("unknown challenge tag").into()),
                }
            }
            ClientState::AwaitVerdict { version, server_nonce } => {
                let ([tag], rest) = split::<1>(msg)?;
                match tag {
                    WELCOME => {
                        let (their_mac, rest) = split::<MAC_LEN>(rest)?;
                        let (id, rest) = split::<8>(rest)?;
                        if !rest.is_empty() {
                            return Err(bad("trailing bytes in welcome").into());
                        }
                        let server = ServerId(u64::from_le_bytes(id));
                        server_mac(&self.key, version, &self.nonce, &server_nonce, server)
                            .verify_slice(&their_mac)
                            .map_err(|_| HandshakeError::Authentication)?;
                        Ok(Step { reply: None, established: Some(Established { version, server, session: None }) })
                    }
                    REJECTED => Err(HandshakeError::Authentication.into()),
                    _ => Err(bad("unknown verdict tag").into()),
                }
            }
            ClientState::Finished => Err(HandshakeError::OutOfOrder.into()),
        }
    }
}

/// The server's side.
#[derive(Debug)]
pub struct ServerHandshake {
    key: AuthKey,
    nonce: [u8; NONCE_LEN],
    versions: VersionRange,
    server: ServerId,
    state: ServerState,
}

#[derive(Debug)]
enum ServerState {
    AwaitHello,
    AwaitProof { version: u16, client_nonce: [u8; NONCE_LEN] },
    Finished,
}

impl ServerHandshake {
    /// A server handshake that waits for a client's hello.
    pub fn new(key: &AuthKey, nonce: [u8; NONCE_LEN], versions: VersionRange, server: ServerId) -> Self {
        ServerHandshake { key: key.clone(), nonce, versions, server, state: ServerState::AwaitHello }
    }

    /// Feeds the client's next message.
    pub fn receive(&mut self, msg: &[u8]) -> Result<Step, Failure> {
        let state = std::mem::replace(&mut self.state, ServerState::Finished);
        match state {
            ServerState::AwaitHello => {
                let (magic, rest) = split::<4>(msg)?;
                if magic != MAGIC {
                    return Err(bad("wrong magic").into());
                }
                let (min, rest) = split::<2>(rest)?;
                let (max, rest) = split::<2>(rest)?;
                let (client_nonce, rest) = split::<NONCE_LEN>(rest)?;
                if !rest.is_empty() {
                    return Err(bad("trailing bytes in hello").into());
                }
                let theirs = VersionRange { min: u16::from_le_bytes(min), max: u16::from_le_bytes(max) };
                let common = theirs.max.min(self.versions.max);
                if theirs.min > theirs.max || !theirs.contains(common) || !self.versions.contains(common) {
                    let mut refusal = vec![REFUSED];
                    refusal.extend_from_slice(&self.versions.min.to_le_bytes());
                    refusal.extend_from_slice(&self.versions.max.to_le_bytes());
                    return Err(Failure {
                        error: HandshakeError::VersionMismatch { ours: self.versions, theirs },
                        reply: Some(refusal),
                    });
                }
                let mut challenge = vec![CHALLENGE];
                challenge.extend_from_slice(&common.to_le_bytes());
                challenge.extend_from_slice(&self.nonce);
                self.state = ServerState::AwaitProof { version: common, client_nonce };
                Ok(Step { reply: Some(challenge), established: None })
            }
            ServerState::AwaitProof { version, client_nonce } => {
                let (proof, session) = msg.split_at(msg.len().min(MAC_LEN));
                let ok = proof.len() == MAC_LEN
                    && client_mac(&self.key, version, &client_nonce, &self.nonce, session).verify_slice(proof).is_ok();
                if !ok {
                    return Err(Failure { error: HandshakeError::Authentication, reply: Some(vec![REJECTED]) });
                }
                // Authenticated: a malformed request now is a broken peer, not a stranger.
                let session = SessionRequest::decode(session).map_err(|e| bad(&e.to_string()))?;
                let mut welcome = vec![WELCOME];
                welcome.extend_from_slice(
                    &server_mac(&self.key, version, &client_nonce, &self.nonce, self.server).finalize().into_bytes(),
                );
                welcome.extend_from_slice(&self.server.0.to_le_bytes());
                let established = Established { version, server: self.server, session };
                Ok(Step { reply: Some(welcome), established: Some(established) })
            }
            ServerState::Finished => Err(HandshakeError::OutOfOrder.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &[u8]) -> AuthKey {
        AuthKey::new(k).unwrap()
    }

    fn run(
        ck: &AuthKey,
        sk: &AuthKey,
        cv: VersionRange,
        sv: VersionRange,
    ) -> (Result<Established, HandshakeError>, Result<Established, HandshakeError>) {
        let (mut c, hello) = ClientHandshake::new(ck, [1; NONCE_LEN], cv);
        let mut s = ServerHandshake::new(sk, [2; NONCE_LEN], sv, ServerId(42));
        let chal = match s.receive(&hello) {
            Ok(step) => step.reply.unwrap(),
            Err(f) => {
                let client = c.receive(&f.reply.unwrap()).map(|_| unreachable!()).map_err(|f| f.error);
                return (client, Err(f.error));
            }
        };
        let proof = match c.receive(&chal) {
            Ok(step) => step.reply.unwrap(),
            Err(f) => return (Err(f.error), Err(HandshakeError::OutOfOrder)),
        };
        match s.receive(&proof) {
            Ok(step) => {
                let client = c.receive(&step.reply.unwrap()).map(|s| s.established.unwrap());
                (client.map_err(|f| f.error), Ok(step.established.unwrap()))
            }
            Err(f) => {
                let client = c.receive(&f.reply.unwrap()).map(|_| unreachable!());
                (client.map_err(|f| f.error), Err(f.error))
            }
        }
    }

    #[test]
    fn same_key_succeeds_on_both_sides() {
        let k = key(b"k");
        let (c, s) = run(&k, &k, VersionRange::CURRENT, VersionRange::CURRENT);
        assert_eq!(c.unwrap(), s.unwrap());
    }

    #[test]
    fn wrong_key_fails_on_both_sides() {
        let (c, s) = run(&key(b"a"), &key(b"b"), VersionRange::CURRENT, VersionRange::CURRENT);
        assert_eq!(c, Err(HandshakeError::Authentication));
        assert_eq!(s, Err(HandshakeError::Authentication));
    }

    #[test]
    fn version_mismatch_names_both_ranges() {
        let k = key(b"k");
        let newer = VersionRange { min: 4, max: 5 };
        let (c, s) = run(&k, &k, newer, VersionRange::CURRENT);
        let err = c.unwrap_err();
        assert_eq!(
            err.to_string(),
            "protocol version mismatch: this side speaks versions 4..=5, the peer speaks version 3"
        );
        assert_eq!(
            s.unwrap_err().to_string(),
            "protocol version mismatch: this side speaks version 3, the peer speaks versions 4..=5"
        );
    }

    #[test]
    fn overlapping_ranges_pick_the_highest_common_version() {
        let k = key(b"k");
        let (c, _) = run(&k, &k, VersionRange { min: 1, max: 5 }, VersionRange { min: 1, max: 3 });
        assert_eq!(c.unwrap().version, 3);
    }

    #[test]
    fn a_replayed_proof_fails_against_a_fresh_server_nonce() {
        let k = key(b"k");
        let (mut c, hello) = ClientHandshake::new(&k, [1; NONCE_LEN], VersionRange::CURRENT);
        let mut s1 = ServerHandshake::new(&k, [2; NONCE_LEN], VersionRange::CURRENT, ServerId(1));
        let chal = s1.receive(&hello).unwrap().reply.unwrap();
        let proof = c.receive(&chal).unwrap().reply.unwrap();
        // An eavesdropper replays hello and proof to a new connection (new nonce).
        let mut s2 = ServerHandshake::new(&k, [3; NONCE_LEN], VersionRange::CURRENT, ServerId(1));
        s2.receive(&hello).unwrap();
        assert_eq!(s2.receive(&proof).unwrap_err().error, HandshakeError::Authentication);
    }

    #[test]
    fn an_unavailable_server_says_why() {
        let (mut c, _) = ClientHandshake::new(&key(b"k"), [1; NONCE_LEN], VersionRange::CURRENT);
        let err = c.receive(&unavailable_message("too many connections (limit 2)")).unwrap_err().error;
        assert_eq!(err.to_string(), "the server refused the connection: too many connections (limit 2)");
    }

    #[test]
    fn garbage_is_refused_and_messages_after_the_end_are_out_of_order() {
        let k = key(b"k");
        let mut s = ServerHandshake::new(&k, [2; NONCE_LEN], VersionRange::CURRENT, ServerId(1));
        assert!(matches!(s.receive(b"GET / HTTP/1.1").unwrap_err().error, HandshakeError::NotAManager(_)));
        assert_eq!(s.receive(b"").unwrap_err().error, HandshakeError::OutOfOrder);
    }
}
