//! The server's side of the handshake, over a socket: the protocol's state machine
//! (`manager_proto::handshake`) fed with frames read and written here.

use manager_proto::frame::{self, FrameDecoder};
use manager_proto::handshake::{NONCE_LEN, ServerHandshake, VersionRange};
use manager_proto::session::SessionRequest;

use crate::ended::Ended;
use crate::random::random_bytes;
use crate::state::Shared;
use crate::stream::Stream;

/// Authenticates the peer; returns the session it asked for, if any.
pub(crate) async fn authenticate(
    stream: &Stream,
    shared: &Shared,
    decoder: &mut FrameDecoder,
) -> Result<Option<SessionRequest>, Ended> {
    let nonce = random_bytes::<NONCE_LEN>().map_err(Ended::Random)?;
    let mut hs = ServerHandshake::new(&shared.authkey, nonce, VersionRange::CURRENT, shared.server_id);
    loop {
        let msg = read_frame(stream, decoder).await?;
        match hs.receive(&msg) {
            Ok(step) => {
                if let Some(reply) = step.reply {
                    write_frame(stream, &reply).await.map_err(Ended::Write)?;
                }
                if let Some(established) = step.established {
                    return Ok(established.session);
                }
            }
            Err(failure) => {
                if let Some(reply) = failure.reply {
                    let _ = write_frame(stream, &reply).await;
                }
                return Err(Ended::Handshake(failure.error));
            }
        }
    }
}

async fn read_frame(stream: &Stream, decoder: &mut FrameDecoder) -> Result<Vec<u8>, Ended> {
    loop {
        if let Some(frame) = decoder.next_frame().map_err(Ended::BadFrame)? {
            return Ok(frame.to_vec());
        }
        match stream.read_some(decoder.buffer_mut()).await {
            Ok(0) => return Err(Ended::ClosedByPeer),
            Ok(_) => {}
            Err(e) => return Err(Ended::Read(e)),
        }
    }
}

pub(crate) async fn write_frame(stream: &Stream, payload: &[u8]) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(payload.len() + frame::HEADER_LEN);
    frame::encode_frame(payload, &mut buf, usize::MAX).map_err(std::io::Error::other)?;
    stream.write_all(&buf).await
}
