//! The pseudonymisation key: where it comes from and the keyed hash it feeds.

use std::sync::OnceLock;

use super::PSEUDONYM_PREFIX;
use super::builder::RedactionError;

/// The environment variable holding the pseudonymisation key: 64 hex digits (32 bytes).
pub const KEY_ENV: &str = crate::config::variables::REDACTION_KEY.name;

/// Hex digits of the hash kept in a pseudonym: 128 bits, far beyond any chance of two
/// secrets in one store colliding, and short enough to read in a header dump.
const PSEUDONYM_HEX: usize = 32;

/// Where a [`Redaction`](super::Redaction)'s pseudonymisation key came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// Given in code, through [`RedactionBuilder::key`](super::RedactionBuilder::key).
    Builder,
    /// Read from [`KEY_ENV`].
    Environment,
    /// Made at random once per process: equal secrets match only within this process.
    PerProcess,
}

/// A key for the keyed hash, and where it came from.
#[derive(Clone)]
pub(super) struct PseudonymKey {
    key: [u8; 32],
    pub(super) source: KeySource,
}

impl PseudonymKey {
    pub(super) fn new(key: [u8; 32], source: KeySource) -> Self {
        Self { key, source }
    }

    /// The key made at random on first use and shared by the whole process.
    pub(super) fn per_process() -> Self {
        static KEY: OnceLock<[u8; 32]> = OnceLock::new();
        Self::new(*KEY.get_or_init(rand::random), KeySource::PerProcess)
    }

    /// `pseudo:` and the first 32 hex digits of BLAKE3 keyed with this key.
    pub(super) fn pseudonym(&self, secret: &[u8]) -> Vec<u8> {
        let hash = blake3::keyed_hash(&self.key, secret);
        let hex = hash.to_hex();
        let mut out = Vec::with_capacity(PSEUDONYM_PREFIX.len() + PSEUDONYM_HEX);
        out.extend_from_slice(PSEUDONYM_PREFIX.as_bytes());
        out.extend_from_slice(&hex.as_bytes()[..PSEUDONYM_HEX]);
        out
    }
}

/// Parses the value of [`KEY_ENV`]: exactly 64 hex digits, either case, surrounding white
/// space ignored.
pub(super) fn parse_env_key(value: &str) -> Result<[u8; 32], RedactionError> {
    // The value is a secret (a mistyped key is nearly the real one): the error shows
    // its shape, never its characters.
    let invalid = |reason: &str| RedactionError::InvalidEnv {
        var: KEY_ENV,
        value: format!("<{} characters, hidden>", value.chars().count()),
        reason: reason.to_owned(),
    };
    let trimmed = value.trim();
    let digits = trimmed.as_bytes();
    if digits.len() != 64 {
        return Err(invalid(&format!(
            "expected 64 hex digits (32 bytes), found {} characters",
            trimmed.chars().count()
        )));
    }
    let mut key = [0u8; 32];
    for (byte, pair) in key.iter_mut().zip(digits.chunks_exact(2)) {
        match (hex_digit(pair[0]), hex_digit(pair[1])) {
            (Some(high), Some(low)) => *byte = high << 4 | low,
            _ => return Err(invalid("expected only hex digits 0-9, a-f")),
        }
    }
    Ok(key)
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}
