//! Bulk bytes after a request frame on the same stream (datasets, model artifacts): exactly
//! the announced length, hashed with BLAKE3 on the way, never more than announced.

use crate::conn::FramedRecv;

const READ_CHUNK: usize = 256 * 1024;

/// Why a bulk transfer failed.
#[derive(Debug, thiserror::Error)]
pub enum BulkError {
    #[error("the sender sent more than the {len} bytes it announced")]
    TooLong { len: u64 },
    #[error("the transfer was cut off: {received} of {len} bytes arrived{}", reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default())]
    CutOff {
        received: u64,
        len: u64,
        reason: Option<String>,
    },
    #[error("could not keep the bytes: {0}")]
    Sink(#[from] std::io::Error),
}

/// Reads exactly `len` bytes that follow the last frame read from `recv`, handing each chunk to
/// `sink`, and returns their BLAKE3 hash.
pub async fn receive(
    recv: FramedRecv,
    len: u64,
    sink: &mut (dyn FnMut(&[u8]) -> std::io::Result<()> + Send),
) -> Result<crate::hash::ContentHash, BulkError> {
    let (leftover, mut stream) = recv.into_parts();
    let mut hasher = blake3::Hasher::new();
    let mut received = 0u64;
    let mut chunk = leftover.freeze();
    loop {
        received += chunk.len() as u64;
        if received > len {
            return Err(BulkError::TooLong { len });
        }
        hasher.update(&chunk);
        sink(&chunk)?;
        match stream.read_chunk(READ_CHUNK, true).await {
            Ok(Some(next)) => chunk = next.bytes,
            Ok(None) => break,
            Err(e) => {
                return Err(BulkError::CutOff {
                    received,
                    len,
                    reason: Some(e.to_string()),
                });
            }
        }
    }
    if received != len {
        return Err(BulkError::CutOff {
            received,
            len,
            reason: None,
        });
    }
    Ok(crate::hash::ContentHash::from_hasher(&hasher))
}
