//! Bearer tokens: stored only as SHA-256 hashes, compared in constant time.
//!
//! SHA-256 rather than a password hash: tokens are 256 random bits, not human secrets,
//! so there is nothing to stretch, and a per-request check must cost microseconds.

use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The hash of a bearer token, written `sha256:<64 hex digits>`.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// The hash of a token.
    pub fn of(token: &str) -> TokenHash {
        TokenHash(Sha256::digest(token.as_bytes()).into())
    }

    /// Whether `token` hashes to this, in time independent of where they differ.
    pub fn matches(&self, token: &str) -> bool {
        let candidate = Sha256::digest(token.as_bytes());
        self.0.ct_eq(candidate.as_slice()).into()
    }

    /// Parses `sha256:<hex>`.
    pub fn parse(text: &str) -> Result<TokenHash, String> {
        let hex_digits = text.strip_prefix("sha256:").ok_or_else(|| {
            format!(
                "token hash \"{}\" must look like sha256:<64 hex digits>; make one with `scim-host hash-token`",
                shorten(text)
            )
        })?;
        let bytes = hex::decode(hex_digits)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| format!("token hash \"{}\" must have 64 hex digits after sha256:", shorten(text)))?;
        Ok(TokenHash(bytes))
    }
}

/// Shows the start of a value in an error message, never a whole secret.
fn shorten(text: &str) -> String {
    if text.chars().count() > 12 {
        format!("{}…", text.chars().take(12).collect::<String>())
    } else {
        text.to_string()
    }
}

impl std::fmt::Display for TokenHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sha256:{}", hex::encode(self.0))
    }
}

impl std::fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self}")
    }
}

impl<'de> Deserialize<'de> for TokenHash {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        TokenHash::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Whether any of `hashes` accepts `token`. Every hash is checked, so the time taken does
/// not tell which one matched.
pub fn accepts(hashes: &[TokenHash], token: &str) -> bool {
    hashes.iter().fold(false, |found, hash| hash.matches(token) | found)
}

/// The token of an `Authorization: Bearer <token>` header value.
pub fn bearer(header: Option<&str>) -> Option<&str> {
    let value = header?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// A new random token: 32 bytes, hex.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_round_trip_and_match_only_their_token() {
        let token = new_token();
        let hash = TokenHash::parse(&TokenHash::of(&token).to_string()).unwrap();
        assert!(hash.matches(&token));
        assert!(!hash.matches("other"));
        assert!(accepts(&[TokenHash::of("a"), hash], &token));
        assert!(!accepts(&[], &token));
    }

    #[test]
    fn bad_hashes_say_how_to_make_a_good_one() {
        assert!(TokenHash::parse("hunter2").unwrap_err().contains("scim-host hash-token"));
        assert!(TokenHash::parse("sha256:abcd").unwrap_err().contains("64 hex digits"));
    }

    #[test]
    fn bearer_tokens_are_read_from_the_header() {
        assert_eq!(bearer(Some("Bearer abc")), Some("abc"));
        assert_eq!(bearer(Some("bearer  abc ")), Some("abc"));
        assert_eq!(bearer(Some("Basic abc")), None);
        assert_eq!(bearer(Some("Bearer ")), None);
        assert_eq!(bearer(None), None);
    }
}
