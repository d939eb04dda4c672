//! The join token: one opaque string carrying the coordinator address, the SHA-256 of its CA
//! certificate, the token id and a secret. Only a hash of the secret is stored by the
//! coordinator.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::{Deserialize, Serialize};

const PREFIX: &str = "drv1_";

/// What a join token carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinToken {
    /// `host:port` of the coordinator's QUIC listener as agents should dial it.
    pub address: String,
    pub ca_sha256: [u8; 32],
    pub token_id: String,
    pub secret: String,
}

/// Why a token string could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("not a drover join token (it should start with {PREFIX})")]
    Prefix,
    #[error("the join token is damaged: {0}")]
    Damaged(String),
}

impl JoinToken {
    /// A fresh random id and secret for `address` and the CA fingerprint.
    pub fn generate(address: String, ca_sha256: [u8; 32]) -> Self {
        let mut id = [0u8; 8];
        let mut secret = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut id);
        rand::thread_rng().fill_bytes(&mut secret);
        Self {
            address,
            ca_sha256,
            token_id: crate::pki::hex(&id),
            secret: URL_SAFE_NO_PAD.encode(secret),
        }
    }

    /// The opaque string handed to operators.
    pub fn encode(&self) -> String {
        let bytes = encode_bytes(self);
        format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Reads a token string; whitespace around it is ignored.
    pub fn decode(text: &str) -> Result<Self, TokenError> {
        let body = text.trim().strip_prefix(PREFIX).ok_or(TokenError::Prefix)?;
        let bytes = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|e| TokenError::Damaged(e.to_string()))?;
        let (token, used): (JoinToken, usize) = bincode::serde::decode_from_slice(
            &bytes,
            bincode::config::standard().with_limit::<4096>(),
        )
        .map_err(|e| TokenError::Damaged(e.to_string()))?;
        if used != bytes.len() {
            return Err(TokenError::Damaged("trailing bytes".into()));
        }
        Ok(token)
    }
}

fn encode_bytes(token: &JoinToken) -> Vec<u8> {
    bincode::serde::encode_to_vec(token, bincode::config::standard())
        .expect("a token always encodes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let token = JoinToken::generate("127.0.0.1:7400".into(), [3; 32]);
        let text = token.encode();
        assert!(text.starts_with(PREFIX));
        assert_eq!(
            JoinToken::decode(&format!("  {text}\n")).expect("decodes"),
            token
        );
    }

    #[test]
    fn damaged_tokens_are_refused() {
        assert!(matches!(
            JoinToken::decode("hello"),
            Err(TokenError::Prefix)
        ));
        assert!(matches!(
            JoinToken::decode("drv1_!!!"),
            Err(TokenError::Damaged(_))
        ));
        let text = JoinToken::generate("h:1".into(), [0; 32]).encode();
        assert!(JoinToken::decode(&text[..text.len() - 5]).is_err());
    }
}
