//! The server's side of the handshake, over a socket: the protocol's state machine
//! (`manager_proto::handshake`) fed with frames read and written here.

use manager_proto::frame::{self, FrameDecoder};
use manager_proto::handshake::{NONCE_LEN, ServerHandshake, VersionRange};
use manager_proto::session::{RingOffer, SessionRequest};
use std::os::fd::AsFd;

use crate::ended::Ended;
use crate::random::random_bytes;
use crate::rings::RingLink;
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

/// Answers a client that asked for shared-memory rings: an offer carrying a new segment
/// and its bells, after which `stream` speaks through them; or a refusal that says why,
/// after which the connection ends.
pub(crate) async fn offer_rings(stream: &mut Stream, shared: &Shared) -> Result<(), Ended> {
    let refusal = if !shared.config.shared_memory {
        Some(
            "this server does not serve connections over shared memory: start it with --shared-memory \
              (ServerBuilder::shared_memory)"
                .to_owned(),
        )
    } else if !stream.is_unix() {
        Some("shared memory needs the server's Unix socket (a unix: address) on the same host".to_owned())
    } else {
        None
    };
    let made = match refusal {
        Some(why) => Err(why),
        None => RingLink::create(shared.config.ring_capacity)
            .map_err(|e| format!("the server could not make a shared-memory segment: {e}")),
    };
    let (link, fds) = match made {
        Ok(made) => made,
        Err(why) => {
            let _ = write_frame(stream, &RingOffer::Declined(why.clone()).encode()).await;
            return Err(Ended::RingsRefused(why));
        }
    };
    let offer = RingOffer::Offered { capacity: shared.config.ring_capacity as u64 }.encode();
    let mut framed = Vec::with_capacity(offer.len() + frame::HEADER_LEN);
    frame::encode_frame(&offer, &mut framed, usize::MAX).map_err(|e| Ended::Write(std::io::Error::other(e)))?;
    let borrowed = fds.each_ref().map(AsFd::as_fd);
    stream.send_with_fds(&framed, &borrowed).await.map_err(Ended::Write)?;
    // Our copies of what the client got: the segment stays mapped, the bells stay in
    // the link; the descriptors themselves are the client's now.
    drop(fds);
    stream.attach_rings(link);
    Ok(())
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
