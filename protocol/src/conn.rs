//! Whole frames over quinn streams. Nothing above this layer sees bytes.

use bytes::BytesMut;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::frame::{self, FrameError};
use crate::{MIN_PROTOCOL_VERSION, PROTOCOL_VERSION};

/// Why a framed stream failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error("stream read failed: {0}")]
    Read(#[from] quinn::ReadError),
    #[error("stream write failed: {0}")]
    Write(#[from] quinn::WriteError),
    #[error("connection failed: {0}")]
    Connection(#[from] quinn::ConnectionError),
    #[error("stream closed in the middle of a frame")]
    Truncated,
    #[error("stream closed before the expected message")]
    Closed,
    #[error("protocol version mismatch: we speak {ours}, the peer speaks {theirs}")]
    VersionMismatch { ours: u32, theirs: u32 },
}

/// Sends frames on a quinn send stream.
pub struct FramedSend {
    stream: quinn::SendStream,
    buf: BytesMut,
}

impl FramedSend {
    pub fn new(stream: quinn::SendStream) -> Self {
        Self {
            stream,
            buf: BytesMut::new(),
        }
    }

    /// Encodes and writes one message.
    pub async fn send<T: Serialize>(&mut self, msg: &T) -> Result<(), ConnError> {
        self.buf.clear();
        frame::encode_into(msg, &mut self.buf)?;
        self.stream.write_all(&self.buf).await?;
        Ok(())
    }

    /// Writes raw bytes; only for tests that must send what no encoder would.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), ConnError> {
        self.stream.write_all(bytes).await?;
        Ok(())
    }

    /// Finishes the stream: the peer reads end-of-stream after the last frame.
    pub fn finish(&mut self) {
        // Finishing an already closed stream only means the peer is gone, which the next read reports.
        let _ = self.stream.finish();
    }
}

/// Receives frames from a quinn receive stream, buffering at most one frame plus one read.
pub struct FramedRecv {
    stream: quinn::RecvStream,
    buf: BytesMut,
}

const READ_CHUNK: usize = 64 * 1024;

impl FramedRecv {
    pub fn new(stream: quinn::RecvStream) -> Self {
        Self {
            stream,
            buf: BytesMut::new(),
        }
    }

    /// Next whole frame body; `Ok(None)` on a clean end of stream between frames.
    pub async fn recv_body(&mut self) -> Result<Option<BytesMut>, ConnError> {
        loop {
            if let Some(body) = frame::take_body(&mut self.buf)? {
                return Ok(Some(body));
            }
            match self.stream.read_chunk(READ_CHUNK, true).await? {
                Some(chunk) => self.buf.extend_from_slice(&chunk.bytes),
                None if self.buf.is_empty() => return Ok(None),
                None => return Err(ConnError::Truncated),
            }
        }
    }

    /// Next message; `Ok(None)` on a clean end of stream between frames.
    pub async fn recv<T: DeserializeOwned>(&mut self) -> Result<Option<T>, ConnError> {
        match self.recv_body().await? {
            Some(body) => Ok(Some(frame::decode_body(&body)?)),
            None => Ok(None),
        }
    }

    /// Next message and the size of its frame body, bytes; `Ok(None)` on a clean end of
    /// stream between frames.
    pub async fn recv_sized<T: DeserializeOwned>(
        &mut self,
    ) -> Result<Option<(T, usize)>, ConnError> {
        match self.recv_body().await? {
            Some(body) => Ok(Some((frame::decode_body(&body)?, body.len()))),
            None => Ok(None),
        }
    }

    /// Next message, treating end of stream as an error.
    pub async fn expect<T: DeserializeOwned>(&mut self) -> Result<T, ConnError> {
        self.recv().await?.ok_or(ConnError::Closed)
    }

    /// The raw stream and whatever bytes were read past the last frame, for a bulk transfer
    /// that follows a request frame on the same stream.
    pub fn into_parts(self) -> (BytesMut, quinn::RecvStream) {
        (self.buf, self.stream)
    }

    /// Next message of a versioned kind (`Hello`, `HelloReply`): the version is checked before
    /// the rest is decoded, so a peer outside [`MIN_PROTOCOL_VERSION`]..=[`PROTOCOL_VERSION`]
    /// gets a mismatch, not a decode error.
    pub async fn expect_versioned<T: DeserializeOwned>(&mut self) -> Result<T, ConnError> {
        let body = self.recv_body().await?.ok_or(ConnError::Closed)?;
        let theirs = frame::peek_version(&body)?;
        if !(MIN_PROTOCOL_VERSION..=PROTOCOL_VERSION).contains(&theirs) {
            return Err(ConnError::VersionMismatch {
                ours: PROTOCOL_VERSION,
                theirs,
            });
        }
        Ok(frame::decode_body(&body)?)
    }
}

/// Opens a bidirectional stream as a framed pair.
pub async fn open_bi(conn: &quinn::Connection) -> Result<(FramedSend, FramedRecv), ConnError> {
    let (send, recv) = conn.open_bi().await?;
    Ok((FramedSend::new(send), FramedRecv::new(recv)))
}

/// Accepts a bidirectional stream as a framed pair.
pub async fn accept_bi(conn: &quinn::Connection) -> Result<(FramedSend, FramedRecv), ConnError> {
    let (send, recv) = conn.accept_bi().await?;
    Ok((FramedSend::new(send), FramedRecv::new(recv)))
}
