//! Frames: a big-endian `u32` body length, then the bincode body. No I/O here, so every rule
//! is testable on bytes: lengths over [`MAX_FRAME_LEN`] are refused before any allocation, and
//! bincode decodes under the same byte limit.

use bytes::{Buf, BufMut, BytesMut};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Largest frame body accepted or sent on a control stream (bulk data uses its own streams).
pub const MAX_FRAME_LEN: usize = 4 * 1024 * 1024;

const HEADER_LEN: usize = 4;

/// Why a frame could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge { len: usize, max: usize },
    #[error("malformed frame: {0}")]
    Malformed(String),
    #[error("frame body has {0} trailing bytes")]
    Trailing(usize),
    #[error("could not encode frame: {0}")]
    Encode(String),
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_FRAME_LEN>()
}

/// Encodes one message as a frame appended to `out`.
pub fn encode_into<T: Serialize>(msg: &T, out: &mut BytesMut) -> Result<(), FrameError> {
    let body = bincode::serde::encode_to_vec(msg, config())
        .map_err(|e| FrameError::Encode(e.to_string()))?;
    if body.len() > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge {
            len: body.len(),
            max: MAX_FRAME_LEN,
        });
    }
    out.reserve(HEADER_LEN + body.len());
    out.put_u32(u32::try_from(body.len()).map_err(|e| FrameError::Encode(e.to_string()))?);
    out.put_slice(&body);
    Ok(())
}

/// Encodes one message as a standalone frame.
pub fn encode<T: Serialize>(msg: &T) -> Result<BytesMut, FrameError> {
    let mut out = BytesMut::new();
    encode_into(msg, &mut out)?;
    Ok(out)
}

/// Reads the length of the frame at the front of `buf`, refusing oversized ones.
/// `Ok(None)` while fewer than four bytes are buffered.
pub fn peek_len(buf: &[u8]) -> Result<Option<usize>, FrameError> {
    let Some(header) = buf.get(..HEADER_LEN) else {
        return Ok(None);
    };
    let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge {
            len,
            max: MAX_FRAME_LEN,
        });
    }
    Ok(Some(len))
}

/// Takes one whole frame's body off the front of `buf`. `Ok(None)` means the frame is not
/// complete yet, which is not an error: read more bytes and call again.
pub fn take_body(buf: &mut BytesMut) -> Result<Option<BytesMut>, FrameError> {
    let Some(len) = peek_len(buf)? else {
        return Ok(None);
    };
    if buf.len() < HEADER_LEN + len {
        return Ok(None);
    }
    buf.advance(HEADER_LEN);
    Ok(Some(buf.split_to(len)))
}

/// Decodes a whole frame body; every byte must belong to the message.
pub fn decode_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, FrameError> {
    let (msg, used) = bincode::serde::decode_from_slice(body, config())
        .map_err(|e| FrameError::Malformed(e.to_string()))?;
    if used != body.len() {
        return Err(FrameError::Trailing(body.len() - used));
    }
    Ok(msg)
}

/// Reads only the leading `u32` of a body: the protocol version of a `Hello` or `HelloReply`,
/// readable whatever the rest of the message looks like in the peer's version.
pub fn peek_version(body: &[u8]) -> Result<u32, FrameError> {
    bincode::serde::decode_from_slice::<u32, _>(body, config())
        .map(|(v, _)| v)
        .map_err(|e| FrameError::Malformed(e.to_string()))
}

/// Decodes one message off the front of `buf`; `Ok(None)` while incomplete.
pub fn decode<T: DeserializeOwned>(buf: &mut BytesMut) -> Result<Option<T>, FrameError> {
    match take_body(buf)? {
        Some(body) => decode_body(&body).map(Some),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::{AgentReport, OperatorRequest};
    use crate::types::{AgentId, HostLoad};
    use proptest::prelude::*;

    #[test]
    fn round_trips_and_waits_for_whole_frames() {
        let msg = AgentReport::Heartbeat {
            seq: 7,
            load: HostLoad {
                cpu_percent: 12.5,
                memory_used_bytes: 1 << 30,
            },
        };
        let frame = encode(&msg).expect("encodes");
        let mut partial = BytesMut::from(&frame[..frame.len() - 1]);
        assert!(
            decode::<AgentReport>(&mut partial)
                .expect("incomplete is fine")
                .is_none()
        );
        let mut whole = frame.clone();
        whole.extend_from_slice(&frame);
        assert_eq!(
            decode::<AgentReport>(&mut whole).expect("decodes"),
            Some(msg.clone())
        );
        assert_eq!(
            decode::<AgentReport>(&mut whole).expect("decodes"),
            Some(msg)
        );
        assert!(whole.is_empty());
    }

    #[test]
    fn refuses_oversized_length_before_reading_body() {
        let mut buf = BytesMut::new();
        buf.put_u32(u32::MAX);
        assert!(matches!(
            decode::<AgentReport>(&mut buf),
            Err(FrameError::TooLarge { .. })
        ));
    }

    #[test]
    fn refuses_trailing_garbage_inside_a_frame() {
        let body =
            bincode::serde::encode_to_vec(OperatorRequest::ListAgents, config()).expect("encodes");
        let mut buf = BytesMut::new();
        buf.put_u32((body.len() + 2) as u32);
        buf.put_slice(&body);
        buf.put_slice(&[0, 0]);
        assert!(matches!(
            decode::<OperatorRequest>(&mut buf),
            Err(FrameError::Trailing(2))
        ));
    }

    #[test]
    fn refuses_unknown_variant() {
        let mut buf = BytesMut::new();
        buf.put_u32(1);
        buf.put_u8(200);
        assert!(matches!(
            decode::<OperatorRequest>(&mut buf),
            Err(FrameError::Malformed(_))
        ));
    }

    #[test]
    fn version_is_readable_from_any_hello() {
        let id = AgentId("ag-1".into());
        let body = bincode::serde::encode_to_vec((9u32, id), config()).expect("encodes");
        assert_eq!(peek_version(&body).expect("reads"), 9);
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut buf = BytesMut::from(&bytes[..]);
            let _ = decode::<crate::msg::Hello>(&mut buf);
            let mut buf = BytesMut::from(&bytes[..]);
            let _ = decode::<OperatorRequest>(&mut buf);
        }

        #[test]
        fn random_bodies_with_valid_length_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            decode_as_every_wire_enum(&body);
        }

        #[test]
        fn mutated_frames_of_every_wire_enum_never_panic(
            sample in 0..wire_samples().len(),
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
            cut in any::<usize>(),
        ) {
            let mut body = wire_samples()[sample].clone();
            for (at, byte) in flips {
                let at = at % body.len();
                body[at] ^= byte;
            }
            body.truncate(body.len() - cut % body.len());
            decode_as_every_wire_enum(&body);
        }
    }

    /// Decodes `body` as each message every peer reads from the network.
    fn decode_as_every_wire_enum(body: &[u8]) {
        use crate::msg::*;
        use crate::run::{AgentRequest, AgentResponse};
        let _ = decode_body::<Hello>(body);
        let _ = decode_body::<HelloReply>(body);
        let _ = decode_body::<AgentReport>(body);
        let _ = decode_body::<AgentCommand>(body);
        let _ = decode_body::<OperatorRequest>(body);
        let _ = decode_body::<OperatorResponse>(body);
        let _ = decode_body::<AgentRequest>(body);
        let _ = decode_body::<AgentResponse>(body);
        let _ = decode_body::<Event>(body);
    }

    /// Encoded bodies of real messages of each wire enum, to mutate.
    fn wire_samples() -> Vec<Vec<u8>> {
        use crate::hash::ContentHash;
        use crate::run::{AgentRequest, AgentResponse, JobOutcome, MetricPoint};
        let body = |msg: BytesMut| msg[HEADER_LEN..].to_vec();
        let heartbeat = AgentReport::Heartbeat {
            seq: 7,
            load: HostLoad {
                cpu_percent: 1.0,
                memory_used_bytes: 2,
            },
        };
        let batch = AgentReport::MetricBatch {
            run_id: "run-1".into(),
            seq: 1,
            points: vec![MetricPoint {
                key: "cv_accuracy".into(),
                step: 1,
                value: 0.5,
                at_ms: 1,
            }],
        };
        let finished = AgentReport::JobFinished {
            run_id: "run-1".into(),
            outcome: JobOutcome::Failed { reason: "x".into() },
        };
        let fetch = AgentRequest::FetchArtifact {
            hash: ContentHash::of(b"x"),
        };
        let samples = [
            encode(&heartbeat),
            encode(&batch),
            encode(&finished),
            encode(&crate::msg::AgentCommand::CancelJob {
                run_id: "run-1".into(),
            }),
            encode(&OperatorRequest::ShowRun { id: "run-1".into() }),
            encode(&fetch),
            encode(&AgentResponse::Artifact { len: 3 }),
        ];
        samples
            .into_iter()
            .map(|s| body(s.expect("encodes")))
            .collect()
    }
}
