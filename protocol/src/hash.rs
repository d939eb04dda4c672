//! Content hashes: the BLAKE3 digest that names every dataset version and artifact. A
//! [`ContentHash`] can only hold 64 lower-case hex digits, so a value taken from the wire or a
//! file can never be a path (`..`, `/`, a drive letter) once it has parsed.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Hex digits in a BLAKE3 digest.
pub const HASH_HEX_LEN: usize = 64;

/// A BLAKE3 digest as 64 lower-case hex digits. Serialized as that string, so it is wire
/// compatible with the plain strings earlier protocol versions carried; decoding anything
/// else fails.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ContentHash(String);

/// Why a text is not a content hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a content hash (64 lower-case hex digits): {shown:?}")]
pub struct BadHash {
    shown: String,
}

impl ContentHash {
    /// The hash of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(blake3::hash(bytes).to_hex().to_string())
    }

    /// The hash a finished hasher holds.
    pub fn from_hasher(hasher: &blake3::Hasher) -> Self {
        Self(hasher.finalize().to_hex().to_string())
    }

    /// Parses 64 lower-case hex digits; anything else is refused.
    pub fn parse(text: &str) -> Result<Self, BadHash> {
        let valid = text.len() == HASH_HEX_LEN
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if valid {
            Ok(Self(text.to_string()))
        } else {
            let shown: String = text.chars().take(80).collect();
            Err(BadHash { shown })
        }
    }

    /// The hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first two hex digits: the shard a blob store keeps it under.
    pub fn shard(&self) -> &str {
        &self.0[..2]
    }
}

impl FromStr for ContentHash {
    type Err = BadHash;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl TryFrom<String> for ContentHash {
    type Error = BadHash;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl From<ContentHash> for String {
    fn from(hash: ContentHash) -> Self {
        hash.0
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for ContentHash {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for ContentHash {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for ContentHash {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for ContentHash {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_lowercase_hex_of_the_right_length_parses() {
        let good = ContentHash::of(b"drover");
        assert_eq!(ContentHash::parse(good.as_str()), Ok(good.clone()));
        for bad in [
            "",
            "../pki/ca.key",
            "/etc/shadow",
            &good.as_str().to_uppercase(),
            &good.as_str()[..63],
            &format!("{good}0"),
            &format!("../{}", &good.as_str()[3..]),
            &format!("{}g", &good.as_str()[..63]),
        ] {
            assert!(ContentHash::parse(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn the_wire_form_is_the_plain_string_and_bad_strings_do_not_decode() {
        let hash = ContentHash::of(b"x");
        let frame = crate::frame::encode(&hash).expect("encodes");
        let as_string = crate::frame::encode(&hash.to_string()).expect("encodes");
        assert_eq!(frame, as_string);
        let mut evil = crate::frame::encode(&"/etc/shadow".to_string()).expect("encodes");
        assert!(crate::frame::decode::<ContentHash>(&mut evil).is_err());
    }
}
