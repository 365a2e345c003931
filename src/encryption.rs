//! Encryption at rest: segments and indexes readable only by the holders of an `age`
//! identity.
//!
//! Why this shape: a segment is appended to frame by frame for minutes, and a crash
//! must lose only the frames after the last complete one. A single `age` stream over
//! the whole file cannot do that (its chunks are fixed-size and only the last may be
//! short), so `age` does what it is best at, wrapping a key for recipients, and each
//! frame is sealed on its own:
//!
//! - Each segment gets a random 256-bit data key of its own, wrapped with `age` for
//!   every recipient of `RETRACE_ENCRYPT_TO` (X25519, `age1…`; several for key
//!   rotation); its index is sealed with the same key.
//! - An encrypted segment or index is format 3.0: the header, then an *envelope*
//!   frame (the recipients' public keys, in clear so a reader can say which identity
//!   a file wants, and the wrapped key), then frames whose payloads are
//!   `XChaCha20-Poly1305(lz4 payload) || tag (16 bytes)`. The nonce is the frame's
//!   byte offset in its file ([`INDEX_POSITION`] for the index): unique under the
//!   file's key, and a frame moved to another place or file, or replayed, does not
//!   open. Framing, lengths and checksums are those of every segment, so a torn tail
//!   is found and cut exactly as in a plain one, and `retrace verify` checks the
//!   frames without any key. (Frames are sealed as the writer appends them, when
//!   their offset is known; a failed append closes the segment, so no offset is ever
//!   sealed twice under one key.)
//! - A reader unwraps a file's data key once with the identities it was given
//!   ([`keyring`], `--identity FILE` or `RETRACE_IDENTITY` in the CLI); a missing or
//!   wrong identity is an error naming the recipients the file was encrypted to.
//!
//! What stays in clear: the session's `metadata.json` and `counters.json` (service,
//! host, pod and counters, which listing sessions needs), file names and sizes, and
//! the recipients' public keys.
//!
//! The crypto needs the `encryption` feature; without it, configuring recipients is an
//! error and an encrypted file is reported as such.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use once_cell::sync::Lazy;
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

/// Bytes a sealed payload adds to its plaintext: the nonce and the tag.
pub const SEAL_OVERHEAD: usize = TAG_LEN;
/// The position an index's payload is sealed at: never a frame's offset.
pub const INDEX_POSITION: u64 = u64::MAX;
#[cfg(feature = "encryption")]
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// Why encrypting or decrypting failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncryptionError {
    /// A recipient is not an age X25519 public key.
    #[error("{value:?} is not an age X25519 recipient (age1…): {reason}")]
    BadRecipient {
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An identity file cannot be used.
    #[error("identity file {path}: {reason}")]
    BadIdentity {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// No identity was given to read an encrypted file.
    #[error(
        "it is encrypted to {}; give the matching identity with --identity FILE or RETRACE_IDENTITY",
        recipients.join(", ")
    )]
    NoIdentity {
        /// The recipients the file was encrypted to.
        recipients: Vec<String>,
    },
    /// None of the identities given opens the file.
    #[error(
        "it is encrypted to {}, and none of the {tried} identities given is one of them",
        recipients.join(", ")
    )]
    NoMatchingIdentity {
        /// The recipients the file was encrypted to.
        recipients: Vec<String>,
        /// How many identities were tried.
        tried: usize,
    },
    /// The envelope frame does not decode.
    #[error("its key envelope is damaged: {0}")]
    BadEnvelope(String),
    /// A sealed frame does not open: it was altered, or sealed with another key.
    #[error("a sealed frame does not authenticate (altered, or not sealed with this file's key)")]
    Unauthentic,
    /// This build has no encryption.
    #[error("this build of retrace lacks its `encryption` cargo feature")]
    Unavailable,
}

/// The first frame of an encrypted file: who can read it, and its wrapped data key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// The recipients' public keys (`age1…`), in clear.
    pub recipients: Vec<String>,
    /// The data key, encrypted with `age` to those recipients (a binary age file).
    pub wrapped_key: Vec<u8>,
}

impl Envelope {
    /// The envelope frame's payload.
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_stdvec(self).unwrap_or_default()
    }

    /// Reads an envelope frame's payload.
    pub fn decode(payload: &[u8]) -> Result<Self, EncryptionError> {
        postcard::from_bytes(payload).map_err(|e| EncryptionError::BadEnvelope(e.to_string()))
    }
}

/// At most the bytes of an envelope for these recipients: age's header (its version
/// line, one X25519 stanza per recipient, its MAC), the wrapped key and postcard's
/// lengths, with room to spare. For disk budgets, before a file exists.
pub fn envelope_bound(recipients: &[String]) -> usize {
    256 + recipients.iter().map(|r| r.len() + 160).sum::<usize>()
}

/// Checks recipients (`age1…` X25519 public keys) without encrypting anything.
pub fn check_recipients(recipients: &[String]) -> Result<(), EncryptionError> {
    imp::parse_recipients(recipients).map(drop)
}

/// A segment's data key: seals its frames and its index for the recipients.
pub struct Sealer {
    envelope: Vec<u8>,
    key: imp::Key,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer").finish_non_exhaustive()
    }
}

impl Sealer {
    /// A fresh data key, wrapped for `recipients`.
    pub fn new(recipients: &[String]) -> Result<Self, EncryptionError> {
        let (key, wrapped_key) = imp::new_wrapped_key(recipients)?;
        let envelope = Envelope {
            recipients: recipients.to_vec(),
            wrapped_key,
        }
        .encode();
        Ok(Self { envelope, key })
    }

    /// The envelope frame's payload, written after the header of each file.
    pub fn envelope(&self) -> &[u8] {
        &self.envelope
    }

    /// Seals `plaintext`, the payload of the frame at byte offset `position` of its
    /// file ([`INDEX_POSITION`] for an index), into `out` (cleared first): ciphertext,
    /// then tag. The nonce is the position: unique under this file's key, and a frame
    /// moved elsewhere does not open.
    pub fn seal(&self, plaintext: &[u8], position: u64, out: &mut Vec<u8>) {
        out.clear();
        out.reserve(plaintext.len() + SEAL_OVERHEAD);
        out.extend_from_slice(plaintext);
        self.seal_in_place(out, 0, position);
    }

    /// Seals the bytes of `buf` from `from` on in place, as [`seal`](Self::seal) would,
    /// and appends the tag: a large payload (an index) is sealed where it was built.
    pub(crate) fn seal_in_place(&self, buf: &mut Vec<u8>, from: usize, position: u64) {
        imp::seal_in_place(&self.key, buf, from, position);
    }
}

/// The key that opens the frames of one envelope.
pub struct Opener {
    key: imp::Key,
}

impl std::fmt::Debug for Opener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opener").finish_non_exhaustive()
    }
}

impl Opener {
    /// Opens the sealed payload of the frame at `position` into `out` (cleared first).
    pub fn open(
        &self,
        sealed: &[u8],
        position: u64,
        out: &mut Vec<u8>,
    ) -> Result<(), EncryptionError> {
        imp::open(&self.key, sealed, position, out)
    }
}

/// The identities a process reads encrypted files with, and the data keys they have
/// unwrapped (once per envelope).
#[derive(Default)]
pub struct Keyring {
    identities: RwLock<Vec<imp::Identity>>,
    opened: RwLock<HashMap<[u8; 32], Arc<Opener>>>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("identities", &self.identities.read().len())
            .finish_non_exhaustive()
    }
}

static KEYRING: Lazy<Keyring> = Lazy::new(Keyring::default);

/// The process's keyring, which every reader of segments and indexes uses.
pub fn keyring() -> &'static Keyring {
    &KEYRING
}

impl Keyring {
    /// Adds the identities of an age identity file (`AGE-SECRET-KEY-1…` lines, `#`
    /// comments, as `age-keygen` writes it); returns how many it holds.
    pub fn add_identity_file(&self, path: &Path) -> Result<usize, EncryptionError> {
        let bad = |reason: String| EncryptionError::BadIdentity {
            path: path.to_path_buf(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let mut found = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            found.push(
                imp::parse_identity(line)
                    .map_err(|reason| bad(format!("line {}: {reason}", n + 1)))?,
            );
        }
        if found.is_empty() {
            return Err(bad("it holds no identity".to_owned()));
        }
        let count = found.len();
        self.identities.write().extend(found);
        Ok(count)
    }

    /// Adds one identity (`AGE-SECRET-KEY-1…`).
    pub fn add_identity(&self, secret: &str) -> Result<(), EncryptionError> {
        let identity =
            imp::parse_identity(secret.trim()).map_err(|reason| EncryptionError::BadIdentity {
                path: PathBuf::from("(given)"),
                reason,
            })?;
        self.identities.write().push(identity);
        Ok(())
    }

    /// The opener of an envelope's frames.
    pub fn open(&self, envelope: &Envelope) -> Result<Arc<Opener>, EncryptionError> {
        let id = *blake3::hash(&envelope.wrapped_key).as_bytes();
        if let Some(opener) = self.opened.read().get(&id) {
            return Ok(Arc::clone(opener));
        }
        let identities = self.identities.read();
        if identities.is_empty() {
            return Err(EncryptionError::NoIdentity {
                recipients: envelope.recipients.clone(),
            });
        }
        let key = imp::unwrap_key(&envelope.wrapped_key, &identities).map_err(|e| match e {
            EncryptionError::NoMatchingIdentity { tried, .. } => {
                EncryptionError::NoMatchingIdentity {
                    recipients: envelope.recipients.clone(),
                    tried,
                }
            }
            other => other,
        })?;
        let opener = Arc::new(Opener { key });
        self.opened.write().insert(id, Arc::clone(&opener));
        Ok(opener)
    }
}

/// A recipient as an error may show it: an identity (a secret key) pasted where the
/// public key belongs is not repeated into logs.
#[cfg_attr(not(feature = "encryption"), allow(dead_code))]
fn shown_recipient(value: &str) -> String {
    if value
        .trim()
        .to_ascii_uppercase()
        .starts_with("AGE-SECRET-KEY-")
    {
        "AGE-SECRET-KEY-… (a secret identity, not a recipient; give its public key, `age-keygen -y`)"
            .to_owned()
    } else {
        value.to_owned()
    }
}

#[cfg(feature = "encryption")]
mod imp {
    use std::io::{Read, Write};

    use age::x25519;
    use chacha20poly1305::aead::{AeadInPlace, KeyInit, OsRng};
    use chacha20poly1305::{XChaCha20Poly1305, XNonce};

    use super::{EncryptionError, NONCE_LEN, TAG_LEN};

    pub(super) type Key = XChaCha20Poly1305;
    pub(super) type Identity = x25519::Identity;

    pub(super) fn parse_recipients(
        recipients: &[String],
    ) -> Result<Vec<x25519::Recipient>, EncryptionError> {
        recipients
            .iter()
            .map(|r| {
                r.trim().parse::<x25519::Recipient>().map_err(|reason| {
                    EncryptionError::BadRecipient {
                        value: super::shown_recipient(r),
                        reason: reason.to_owned(),
                    }
                })
            })
            .collect()
    }

    pub(super) fn parse_identity(secret: &str) -> Result<Identity, String> {
        secret.parse::<x25519::Identity>().map_err(|e| e.to_owned())
    }

    pub(super) fn new_wrapped_key(
        recipients: &[String],
    ) -> Result<(Key, Vec<u8>), EncryptionError> {
        let parsed = parse_recipients(recipients)?;
        if parsed.is_empty() {
            return Err(EncryptionError::BadRecipient {
                value: String::new(),
                reason: "no recipient".to_owned(),
            });
        }
        let raw = XChaCha20Poly1305::generate_key(&mut OsRng);
        let encryptor =
            age::Encryptor::with_recipients(parsed.iter().map(|r| r as &dyn age::Recipient))
                .map_err(|e| EncryptionError::BadRecipient {
                    value: recipients
                        .iter()
                        .map(|r| super::shown_recipient(r))
                        .collect::<Vec<_>>()
                        .join(","),
                    reason: e.to_string(),
                })?;
        let mut wrapped = Vec::new();
        let wrap = |wrapped: &mut Vec<u8>| -> std::io::Result<()> {
            let mut writer = encryptor.wrap_output(wrapped)?;
            writer.write_all(raw.as_slice())?;
            writer.finish().map(drop)
        };
        wrap(&mut wrapped).map_err(|e| EncryptionError::BadEnvelope(e.to_string()))?;
        Ok((XChaCha20Poly1305::new(&raw), wrapped))
    }

    pub(super) fn unwrap_key(
        wrapped: &[u8],
        identities: &[Identity],
    ) -> Result<Key, EncryptionError> {
        let decryptor = age::Decryptor::new_buffered(wrapped)
            .map_err(|e| EncryptionError::BadEnvelope(e.to_string()))?;
        let mut reader = match decryptor.decrypt(identities.iter().map(|i| i as &dyn age::Identity))
        {
            Ok(reader) => reader,
            Err(age::DecryptError::NoMatchingKeys) => {
                return Err(EncryptionError::NoMatchingIdentity {
                    recipients: Vec::new(),
                    tried: identities.len(),
                });
            }
            Err(e) => return Err(EncryptionError::BadEnvelope(e.to_string())),
        };
        let mut raw = Vec::new();
        reader
            .read_to_end(&mut raw)
            .map_err(|e| EncryptionError::BadEnvelope(e.to_string()))?;
        XChaCha20Poly1305::new_from_slice(&raw).map_err(|_| {
            EncryptionError::BadEnvelope("the data key has the wrong length".to_owned())
        })
    }

    /// The nonce of the frame at `position`: the offset, then zeros.
    fn nonce(position: u64) -> XNonce {
        let mut nonce = [0u8; NONCE_LEN];
        nonce[..8].copy_from_slice(&position.to_le_bytes());
        XNonce::from(nonce)
    }

    pub(super) fn seal_in_place(key: &Key, buf: &mut Vec<u8>, from: usize, position: u64) {
        buf.reserve(TAG_LEN);
        // Sealing in place cannot fail for a buffer this size (it fails only past
        // the cipher's 256 GiB message limit, far above a frame's 64 MiB).
        match key.encrypt_in_place_detached(&nonce(position), b"", &mut buf[from..]) {
            Ok(tag) => buf.extend_from_slice(&tag),
            Err(_) => buf.truncate(from),
        }
    }

    pub(super) fn open(
        key: &Key,
        sealed: &[u8],
        position: u64,
        out: &mut Vec<u8>,
    ) -> Result<(), EncryptionError> {
        if sealed.len() < TAG_LEN {
            return Err(EncryptionError::Unauthentic);
        }
        let (body, tag) = sealed.split_at(sealed.len() - TAG_LEN);
        out.clear();
        out.extend_from_slice(body);
        key.decrypt_in_place_detached(&nonce(position), b"", out, tag.into())
            .map_err(|_| EncryptionError::Unauthentic)
    }
}

#[cfg(not(feature = "encryption"))]
mod imp {
    use super::EncryptionError;

    /// Never constructed without the feature.
    pub(super) enum Key {}
    /// Never constructed without the feature.
    pub(super) enum Identity {}

    pub(super) fn parse_recipients(_: &[String]) -> Result<Vec<Identity>, EncryptionError> {
        Err(EncryptionError::Unavailable)
    }

    pub(super) fn parse_identity(_: &str) -> Result<Identity, String> {
        Err(EncryptionError::Unavailable.to_string())
    }

    pub(super) fn new_wrapped_key(_: &[String]) -> Result<(Key, Vec<u8>), EncryptionError> {
        Err(EncryptionError::Unavailable)
    }

    pub(super) fn unwrap_key(_: &[u8], _: &[Identity]) -> Result<Key, EncryptionError> {
        Err(EncryptionError::Unavailable)
    }

    pub(super) fn seal_in_place(key: &Key, _: &mut Vec<u8>, _: usize, _: u64) {
        match *key {}
    }

    pub(super) fn open(
        key: &Key,
        _: &[u8],
        _: u64,
        _: &mut Vec<u8>,
    ) -> Result<(), EncryptionError> {
        match *key {}
    }
}

#[cfg(all(test, feature = "encryption"))]
mod tests {
    use super::*;

    fn pair() -> (String, String) {
        let identity = age::x25519::Identity::generate();
        use age::secrecy::ExposeSecret;
        (
            identity.to_public().to_string(),
            identity.to_string().expose_secret().to_owned(),
        )
    }

    #[test]
    fn a_sealed_frame_opens_with_an_identity_of_a_recipient_and_with_no_other() {
        let (public_a, secret_a) = pair();
        let (public_b, secret_b) = pair();
        let (_, secret_c) = pair();
        let sealer = Sealer::new(&[public_a.clone(), public_b.clone()]).expect("sealer");
        let mut sealed = Vec::new();
        sealer.seal(b"card 4111 1111 1111 1111", 16, &mut sealed);
        assert_eq!(sealed.len(), 24 + SEAL_OVERHEAD);
        assert!(!sealed.windows(4).any(|w| w == b"4111"), "no plaintext");
        let envelope = Envelope::decode(sealer.envelope()).expect("envelope");
        assert_eq!(
            envelope.recipients,
            vec![public_a.clone(), public_b.clone()]
        );

        for secret in [&secret_a, &secret_b] {
            let keyring = Keyring::default();
            keyring.add_identity(secret).expect("identity");
            let mut plain = Vec::new();
            keyring
                .open(&envelope)
                .expect("opens")
                .open(&sealed, 16, &mut plain)
                .expect("authentic");
            assert_eq!(plain, b"card 4111 1111 1111 1111");
        }

        let empty = Keyring::default();
        let err = empty.open(&envelope).expect_err("no identity");
        assert_eq!(
            err.to_string(),
            format!(
                "it is encrypted to {public_a}, {public_b}; give the matching identity with --identity FILE or RETRACE_IDENTITY"
            )
        );
        let wrong = Keyring::default();
        wrong.add_identity(&secret_c).expect("identity");
        let err = wrong.open(&envelope).expect_err("wrong identity");
        assert!(
            err.to_string().contains("none of the 1 identities given"),
            "{err}"
        );

        let keyring = Keyring::default();
        keyring.add_identity(&secret_a).expect("identity");
        let opener = keyring.open(&envelope).expect("opens");
        let mut altered = sealed.clone();
        let last = altered.len() - 1;
        altered[last] ^= 1;
        assert_eq!(
            opener.open(&altered, 16, &mut Vec::new()),
            Err(EncryptionError::Unauthentic)
        );
        // A frame moved to another position, or sealed with another file's key,
        // does not open.
        assert_eq!(
            opener.open(&sealed, 17, &mut Vec::new()),
            Err(EncryptionError::Unauthentic)
        );
        let other = Sealer::new(std::slice::from_ref(&public_a)).expect("sealer");
        let mut foreign = Vec::new();
        other.seal(b"card 4111 1111 1111 1111", 16, &mut foreign);
        assert_eq!(
            opener.open(&foreign, 16, &mut Vec::new()),
            Err(EncryptionError::Unauthentic)
        );
    }

    #[test]
    fn bad_recipients_and_identity_files_are_named() {
        let err = check_recipients(&["age1nope".to_owned()]).expect_err("bad");
        assert!(
            err.to_string()
                .starts_with("\"age1nope\" is not an age X25519 recipient"),
            "{err}"
        );
        let (_, secret) = pair();
        let err = check_recipients(std::slice::from_ref(&secret)).expect_err("a secret");
        assert!(!err.to_string().contains(&secret[16..]), "{err}");
        assert!(err.to_string().contains("age-keygen -y"), "{err}");
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("key.txt");
        std::fs::write(&file, "# created: today\nAGE-SECRET-KEY-1NOTAKEY\n").expect("write");
        let err = Keyring::default()
            .add_identity_file(&file)
            .expect_err("bad");
        assert!(err.to_string().contains("line 2"), "{err}");
    }
}
