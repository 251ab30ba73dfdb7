//! A raw protocol peer: speaks frames and the handshake by hand over a real socket, to
//! test what the server does with bytes no well-behaved client sends.

use manager_client::proto::frame::{self, FrameDecoder};
use manager_client::proto::handshake::{ClientHandshake, NONCE_LEN, VersionRange};
use manager_client::proto::{AuthKey, Request, Response};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// A raw connection.
pub struct Raw {
    pub stream: UnixStream,
    decoder: FrameDecoder,
}

impl Raw {
    /// Connects without authenticating.
    pub fn connect(path: &Path) -> Raw {
        let stream = UnixStream::connect(path).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Raw { stream, decoder: FrameDecoder::new(frame::DEFAULT_MAX_FRAME) }
    }

    /// Connects and completes the handshake.
    pub fn authenticated(path: &Path, key: &AuthKey) -> Raw {
        let mut raw = Raw::connect(path);
        raw.handshake(key, VersionRange::CURRENT).unwrap();
        raw
    }

    /// Runs the client handshake; the error is the handshake's.
    pub fn handshake(&mut self, key: &AuthKey, versions: VersionRange) -> Result<(), String> {
        let (mut hs, hello) = ClientHandshake::new(key, [7; NONCE_LEN], versions);
        self.send_frame(&hello);
        loop {
            let msg = self.recv_frame().ok_or("closed")?;
            let step = hs.receive(&msg).map_err(|f| f.error.to_string())?;
            if let Some(reply) = step.reply {
                self.send_frame(&reply);
            }
            if step.established.is_some() {
                return Ok(());
            }
        }
    }

    pub fn send_frame(&mut self, payload: &[u8]) {
        let mut buf = Vec::new();
        frame::encode_frame(payload, &mut buf, usize::MAX).unwrap();
        self.stream.write_all(&buf).unwrap();
    }

    pub fn send_request(&mut self, id: u64, request: Request<'_>) {
        self.try_send_request(id, request).unwrap();
    }

    /// Sends a request, reporting (not panicking on) a connection the server closed.
    pub fn try_send_request(&mut self, id: u64, request: Request<'_>) -> std::io::Result<()> {
        let mut payload = Vec::new();
        request.encode(id, &mut payload);
        let mut buf = Vec::new();
        frame::encode_frame(&payload, &mut buf, usize::MAX).unwrap();
        self.stream.write_all(&buf)
    }

    /// The next frame, or `None` once the server closed the connection.
    pub fn recv_frame(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(f) = self.decoder.next_frame().unwrap() {
                return Some(f.to_vec());
            }
            let mut buf = [0u8; 4096];
            match self.stream.read(&mut buf) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.decoder.buffer_mut().extend_from_slice(&buf[..n]),
            }
        }
    }

    /// The next frame, keeping the descriptors that come with its bytes (`SCM_RIGHTS`)
    /// in `fds`; `None` once the server closed the connection.
    pub fn recv_frame_with_fds(&mut self, fds: &mut Vec<std::os::fd::OwnedFd>) -> Option<Vec<u8>> {
        use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, recvmsg};
        loop {
            if let Some(f) = self.decoder.next_frame().unwrap() {
                return Some(f.to_vec());
            }
            let mut buf = [0u8; 4096];
            let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(8))];
            let mut control = RecvAncillaryBuffer::new(&mut space);
            let mut iov = [std::io::IoSliceMut::new(&mut buf)];
            let got = match recvmsg(&self.stream, &mut iov, &mut control, RecvFlags::CMSG_CLOEXEC) {
                Ok(msg) if msg.bytes > 0 => msg.bytes,
                _ => return None,
            };
            for message in control.drain() {
                if let RecvAncillaryMessage::ScmRights(received) = message {
                    fds.extend(received);
                }
            }
            self.decoder.buffer_mut().extend_from_slice(&buf[..got]);
        }
    }

    /// The next response, decoded into an owned form for assertions.
    pub fn recv_response(&mut self) -> (u64, String) {
        let payload = self.recv_frame().expect("the server closed the connection");
        let (id, response) = Response::decode(&payload).unwrap();
        (id, format!("{response:?}"))
    }

    /// Whether the server has closed the connection (reads EOF).
    pub fn is_closed(&mut self) -> bool {
        self.recv_frame().is_none()
    }
}
