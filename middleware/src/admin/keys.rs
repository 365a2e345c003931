//! API keys: who may call the admin service, and for what.
//!
//! Keys are stored hashed (BLAKE3 of the key's text), so a keys file holds no secret
//! and can sit in a ConfigMap. A presented key is hashed and compared with every stored
//! hash in constant time (`blake3::Hash`'s equality is), without stopping at the first
//! match, so the time taken does not say which key was close.
//!
//! The file has one key per line, `#` comments and blank lines ignored:
//!
//! ```text
//! # id        scopes          hash of the key
//! oncall      capture         blake3:3f1c…
//! dashboards  read            blake3:9a0e…
//! platform    admin           blake3:c2d4…
//! old-laptop  revoked         blake3:77b1…
//! ```
//!
//! `retrace admin-key new ID --scope capture` prints a fresh key and its line.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::SystemTime;

use parking_lot::RwLock;

/// What a key allows. Each scope includes the ones before it: `read` < `capture` <
/// `admin`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Read metrics, captures and recordings.
    Read,
    /// Also start captures and stop one's own.
    Capture,
    /// Also stop anyone's capture.
    Admin,
}

impl Scope {
    /// The scope's name: `read`, `capture`, `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Capture => "capture",
            Self::Admin => "admin",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = KeysError;

    fn from_str(s: &str) -> Result<Self, KeysError> {
        match s {
            "read" => Ok(Self::Read),
            "capture" => Ok(Self::Capture),
            "admin" => Ok(Self::Admin),
            other => Err(KeysError::Scope(other.to_owned())),
        }
    }
}

/// A keys file or key that is not right.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeysError {
    /// The file could not be read.
    #[error("cannot read the API keys file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A line does not parse.
    #[error("API keys file, line {line}: {reason}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// An unknown scope.
    #[error("unknown scope {0:?}: expected read, capture, admin or revoked")]
    Scope(String),
    /// Two keys share an id (the audit log could not tell them apart).
    #[error("the key id {0:?} is used twice")]
    DuplicateId(String),
    /// One key is listed twice, under these ids.
    #[error("the keys {0:?} and {1:?} are the same key")]
    DuplicateKey(String, String),
    /// An id the keys file cannot hold (empty, with a space or a `#`).
    #[error("the key id {0:?} must be one word without `#`")]
    BadId(String),
}

/// One stored key.
#[derive(Clone, Debug)]
struct StoredKey {
    id: String,
    /// `None`: revoked.
    scope: Option<Scope>,
    hash: blake3::Hash,
}

/// Who a presented key turned out to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// A valid key: its id and scope.
    Key {
        /// The key's id, as the audit log names it.
        id: String,
        /// What it allows.
        scope: Scope,
    },
    /// A key that was revoked: its id.
    Revoked(String),
    /// No stored key has this hash.
    Unknown,
}

/// A set of API keys, stored hashed.
///
/// ```
/// use retrace_tower::admin::{ApiKeys, Caller, Scope};
///
/// let key = ApiKeys::generate();
/// let keys = ApiKeys::default().with_key("oncall", Scope::Capture, &key)?;
/// assert_eq!(
///     keys.identify(&key),
///     Caller::Key { id: "oncall".into(), scope: Scope::Capture }
/// );
/// assert_eq!(keys.identify("rtk_guess"), Caller::Unknown);
/// // The line to put in a keys file: the key's hash, never the key.
/// let line = ApiKeys::file_line("oncall", Scope::Capture, &key);
/// assert!(line.starts_with("oncall capture blake3:") && !line.contains(&key));
/// # Ok::<(), retrace_tower::admin::KeysError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct ApiKeys {
    keys: Vec<StoredKey>,
}

impl ApiKeys {
    /// A fresh random key: `rtk_` and 64 hex digits (256 bits).
    pub fn generate() -> String {
        let bytes: [u8; 32] = rand::random();
        let mut key = String::with_capacity(68);
        key.push_str("rtk_");
        for b in bytes {
            key.push_str(&format!("{b:02x}"));
        }
        key
    }

    /// The keys-file line for `key`: `id scope blake3:hash`.
    pub fn file_line(id: &str, scope: Scope, key: &str) -> String {
        format!(
            "{id} {scope} blake3:{}",
            blake3::hash(key.as_bytes()).to_hex()
        )
    }

    /// Adds a key given in clear (it is hashed at once).
    pub fn with_key(self, id: &str, scope: Scope, key: &str) -> Result<Self, KeysError> {
        self.with_stored(id, Some(scope), blake3::hash(key.as_bytes()))
    }

    /// Adds a revoked key: presenting it is refused as revoked.
    pub fn with_revoked(self, id: &str, key: &str) -> Result<Self, KeysError> {
        self.with_stored(id, None, blake3::hash(key.as_bytes()))
    }

    fn with_stored(
        mut self,
        id: &str,
        scope: Option<Scope>,
        hash: blake3::Hash,
    ) -> Result<Self, KeysError> {
        if self.keys.iter().any(|k| k.id == id) {
            return Err(KeysError::DuplicateId(id.to_owned()));
        }
        // One key, one line: with two, which one revokes it would depend on order.
        if let Some(other) = self.keys.iter().find(|k| k.hash == hash) {
            return Err(KeysError::DuplicateKey(other.id.clone(), id.to_owned()));
        }
        if id.is_empty() || id.contains(|c: char| c.is_whitespace() || c == '#') {
            return Err(KeysError::BadId(id.to_owned()));
        }
        self.keys.push(StoredKey {
            id: id.to_owned(),
            scope,
            hash,
        });
        Ok(self)
    }

    /// Parses a keys file's text.
    pub fn parse(text: &str) -> Result<Self, KeysError> {
        let mut keys = Self::default();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let bad = |reason: String| KeysError::Line {
                line: i + 1,
                reason,
            };
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [id, scope, hash] = fields[..] else {
                return Err(bad(format!(
                    "expected `id scope blake3:hash`, found {} fields",
                    fields.len()
                )));
            };
            let scope = match scope {
                "revoked" => None,
                s => Some(s.parse().map_err(|e: KeysError| bad(e.to_string()))?),
            };
            let hex = hash
                .strip_prefix("blake3:")
                .ok_or_else(|| bad("the hash must start with `blake3:`".to_owned()))?;
            let hash = blake3::Hash::from_hex(hex)
                .map_err(|_| bad("the hash is not 64 hex digits".to_owned()))?;
            keys = keys
                .with_stored(id, scope, hash)
                .map_err(|e| bad(e.to_string()))?;
        }
        Ok(keys)
    }

    /// Reads a keys file.
    pub fn load(path: &Path) -> Result<Self, KeysError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeysError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text)
    }

    /// Whether there is no key at all (the admin service then serves only `/health`).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Who presents `key`.
    pub fn identify(&self, key: &str) -> Caller {
        let presented = blake3::hash(key.as_bytes());
        let mut found: Option<&StoredKey> = None;
        for stored in &self.keys {
            // Every hash is compared, in constant time, whatever matched before.
            if stored.hash == presented {
                found = Some(stored);
            }
        }
        match found {
            Some(StoredKey {
                id, scope: Some(s), ..
            }) => Caller::Key {
                id: id.clone(),
                scope: *s,
            },
            Some(StoredKey {
                id, scope: None, ..
            }) => Caller::Revoked(id.clone()),
            None => Caller::Unknown,
        }
    }
}

/// Keys given once, or read from a file and read again when the file changes (so a
/// revoked key stops working without a restart). A file that no longer parses keeps
/// the keys read last, and its error is reported (by `/health` in the admin service).
///
/// ```
/// use retrace_tower::admin::{ApiKeys, Caller, KeySource, Scope};
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("keys");
/// let key = ApiKeys::generate();
/// std::fs::write(&path, ApiKeys::file_line("oncall", Scope::Read, &key))?;
/// let source = KeySource::file(path)?;
/// assert!(matches!(source.identify(&key), Caller::Key { .. }));
/// assert_eq!(source.identify("rtk_guess"), Caller::Unknown);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct KeySource(Source);

#[derive(Debug)]
enum Source {
    Fixed(ApiKeys),
    File {
        path: PathBuf,
        state: RwLock<FileKeys>,
    },
}

#[derive(Debug)]
struct FileKeys {
    modified: Option<SystemTime>,
    keys: ApiKeys,
    error: Option<String>,
}

impl KeySource {
    /// Keys that never change.
    pub fn fixed(keys: ApiKeys) -> Self {
        Self(Source::Fixed(keys))
    }

    /// The keys of the file at `path`, read now and again whenever its modification
    /// time moves; an error names the file's bad line.
    pub fn file(path: PathBuf) -> Result<Self, KeysError> {
        let modified = modified(&path);
        let keys = ApiKeys::load(&path)?;
        Ok(Self(Source::File {
            path,
            state: RwLock::new(FileKeys {
                modified,
                keys,
                error: None,
            }),
        }))
    }

    /// The current keys, the file read again first when it changed.
    pub fn current(&self) -> ApiKeys {
        self.with_current(ApiKeys::clone)
    }

    /// Who presents `key` by the current keys (the file read again first when it
    /// changed), without copying them.
    pub fn identify(&self, key: &str) -> Caller {
        self.with_current(|keys| keys.identify(key))
    }

    /// `f` of the current keys, the file read again first when it changed.
    fn with_current<R>(&self, f: impl FnOnce(&ApiKeys) -> R) -> R {
        match &self.0 {
            Source::Fixed(keys) => f(keys),
            Source::File { path, state } => {
                let now = modified(path);
                if state.read().modified != now {
                    let mut s = state.write();
                    s.modified = now;
                    match ApiKeys::load(path) {
                        Ok(keys) => {
                            s.keys = keys;
                            s.error = None;
                        }
                        Err(e) => s.error = Some(e.to_string()),
                    }
                }
                f(&state.read().keys)
            }
        }
    }

    /// Why the keys file was last refused, if it was (the keys read before it stay).
    pub fn problem(&self) -> Option<String> {
        match &self.0 {
            Source::Fixed(_) => None,
            Source::File { state, .. } => state.read().error.clone(),
        }
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_keys_file_parses_and_names_its_bad_line() {
        let key = "rtk_secret";
        let text = format!(
            "# keys\n\n{}\nold revoked blake3:{}\n",
            ApiKeys::file_line("oncall", Scope::Capture, key),
            blake3::hash(b"old-key").to_hex()
        );
        let keys = ApiKeys::parse(&text).unwrap();
        assert_eq!(
            keys.identify(key),
            Caller::Key {
                id: "oncall".into(),
                scope: Scope::Capture
            }
        );
        assert_eq!(keys.identify("old-key"), Caller::Revoked("old".into()));
        let err = ApiKeys::parse("a read blake3:abc\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "API keys file, line 1: the hash is not 64 hex digits"
        );
        let err = ApiKeys::parse(&format!("\nb owner blake3:{}", "0".repeat(64))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "API keys file, line 2: unknown scope \"owner\": expected read, capture, admin or revoked"
        );
        let same_key = format!(
            "{}\n{}\n",
            ApiKeys::file_line("a", Scope::Read, "k"),
            ApiKeys::file_line("b", Scope::Read, "k")
        );
        assert_eq!(
            ApiKeys::parse(&same_key).unwrap_err().to_string(),
            "API keys file, line 2: the keys \"a\" and \"b\" are the same key"
        );
        assert_eq!(
            ApiKeys::default()
                .with_key("on#call", Scope::Read, "k")
                .unwrap_err()
                .to_string(),
            "the key id \"on#call\" must be one word without `#`"
        );
        let twice = format!("{0}\n{0}\n", ApiKeys::file_line("a", Scope::Read, "k"));
        assert_eq!(
            ApiKeys::parse(&twice).unwrap_err().to_string(),
            "API keys file, line 2: the key id \"a\" is used twice"
        );
    }

    #[test]
    fn scopes_include_the_lesser_ones() {
        assert!(Scope::Admin > Scope::Capture && Scope::Capture > Scope::Read);
    }
}
