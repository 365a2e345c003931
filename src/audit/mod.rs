//! The audit log: who started a capture or read a recording, in a file that shows
//! tampering.
//!
//! Recordings hold what customers sent, redacted or not, and the admin service lets
//! people start captures and read recordings from a running process. The security team
//! needs to know who did what and when, and to trust that nobody quietly removed or
//! edited a line afterwards. This module is that record: the admin service appends a
//! line per action and per read, the command line appends one per read of a recording
//! directory that has an audit log, and `retrace audit verify` checks the whole chain.
//!
//! # Format
//!
//! One JSON object per line (JSON Lines), members always in this order:
//!
//! ```text
//! {"seq":1,"at":"2026-12-07T01:02:03.456Z","who":"oncall","action":"captures.create","target":"/checkout","outcome":"ok","detail":{"rate":0.5},"prev":"000…000","hash":"9f3c…"}
//! ```
//!
//! - `seq` counts lines from 1 and goes up by one per line, across rotated files.
//! - `at` is UTC, RFC 3339 with milliseconds.
//! - `who` names the actor: an API key's id (never the key) or `cli:<user>`.
//! - `action` is a dotted name (`captures.create`, `recordings.read`, `auth.denied`,
//!   `cli.show`); `target` what it applied to, or `null`; `outcome` `ok`, `denied`,
//!   `limited`, `error`…; `detail` any JSON value, left out when there is none.
//! - `prev` is the previous line's `hash`, or 64 zeros on line `seq` 1.
//! - `hash` is the lowercase hex BLAKE3 hash of the line's bytes without its hash: the
//!   line as written, up to and including the `prev` member's value, followed by `}`.
//!   In other words the compact `serde_json` serialisation of the object with every member
//!   but `hash`, in the order above. `hash` is always the last member, so a checker
//!   hashes the exact bytes on disk and never depends on how JSON is re-serialised.
//!
//! # What it promises
//!
//! - **Tamper-evident, not tamper-proof.** An edited, removed, reordered or cut line
//!   breaks the chain at that line, and [`verify`] names it (file, line number, seq,
//!   and why). Someone who can write the file can still rewrite every line after the one
//!   they changed and recompute the hashes: to anchor the chain, copy
//!   [`VerifyReport::last_hash`] somewhere they cannot write (a ticket, another
//!   system's log) from time to time.
//! - **Private.** The file is created with mode 0600 and its directory, when created,
//!   with 0700. Lines are appended with `O_APPEND`, each in one write.
//! - **Several writers.** Each append takes an exclusive lock on the file (`flock`) and
//!   continues from the last line on disk, so the admin service and the command line can
//!   append to the same file without forking the chain.
//! - **Rotated, chain unbroken.** When a line would take the file past
//!   [`DEFAULT_ROTATE_AT`] (see [`AuditLog::rotate_at`]), the file becomes `<name>.1`
//!   (`.1` becomes `.2`, and so on; [`DEFAULT_KEEP`] rotated files are kept, see
//!   [`AuditLog::keep`]) and the new file's first line carries the hash of the rotated
//!   file's last line. Once the oldest files are deleted, the retained history starts
//!   at a `seq` above 1, which [`VerifyReport::first_seq`] shows.
//! - **A torn line is named, then repaired by the next writer.** A crash in the middle
//!   of a write leaves a last line without its newline. [`verify`] reports it as broken
//!   ([`BrokenReason::Incomplete`]): an interrupted write and a cut file look the same,
//!   and an audit log should not hide either. The next [`AuditLog::append`] removes those
//!   bytes and first appends an `audit.repair` line whose `detail` holds them (as text,
//!   at most 4 KiB), so the chain is whole again and the loss stays on record.
//! - **Fails closed.** When the last complete line does not check out (not an audit
//!   line, or its hash does not match), appending fails with [`AuditError::BrokenTail`]
//!   rather than start a new chain over a damaged one.
//!
//! Where a recording directory's log lives: [`default_path`] (`<root>/audit.log`). The
//! [`Store`](crate::Store) only looks at directories in the root, so the file never
//! disturbs a listing.

mod files;
mod line;
mod log;
mod verify;

#[cfg(test)]
mod tests;

use std::io;
use std::path::{Path, PathBuf};

pub use line::{AuditEntry, AuditLine, BrokenReason};
pub use log::AuditLog;
pub use verify::{BrokenLine, Entries, VerifyReport, read, verify};

/// The audit log's file name in a recording directory.
pub const AUDIT_FILE: &str = "audit.log";

/// The `prev` of the first line: 64 zeros.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The size past which the file is rotated, unless [`AuditLog::rotate_at`] says
/// otherwise: 16 MiB.
pub const DEFAULT_ROTATE_AT: u64 = 16 << 20;

/// How many rotated files are kept, unless [`AuditLog::keep`] says otherwise.
pub const DEFAULT_KEEP: usize = 5;

/// The longest line, newline included: 1 MiB. Longer entries are refused, and longer
/// lines on disk are reported as broken.
pub const MAX_LINE: usize = 1 << 20;

/// Where the audit log of the recording directory `root` lives: `<root>/audit.log`.
pub fn default_path(root: &Path) -> PathBuf {
    root.join(AUDIT_FILE)
}

/// Why the audit log could not be opened, written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// A file system operation failed.
    #[error("cannot {op} audit log {path}: {source}")]
    Io {
        /// The file (or directory) concerned.
        path: PathBuf,
        /// What was being done: `open`, `read`, `write`, `lock`, `rotate`…
        op: &'static str,
        /// The cause.
        source: io::Error,
    },
    /// There is no audit log at the path (reading never creates one).
    #[error("no audit log at {0}")]
    NotFound(PathBuf),
    /// The last complete line cannot be continued, so nothing is appended.
    #[error("cannot continue the audit chain: {path} line {line}: {reason}")]
    BrokenTail {
        /// The file.
        path: PathBuf,
        /// The line's 1-based number in that file.
        line: u64,
        /// What is wrong with it.
        reason: BrokenReason,
    },
    /// A line could not be read as an audit line (see [`read`]).
    #[error("{path} line {line}: {reason}")]
    BadLine {
        /// The file.
        path: PathBuf,
        /// The line's 1-based number in that file.
        line: u64,
        /// What is wrong with it.
        reason: BrokenReason,
    },
    /// The entry would make a line longer than [`MAX_LINE`].
    #[error("audit entry too long: {len} bytes, the limit is {max}", max = MAX_LINE)]
    TooLong {
        /// The line's length in bytes.
        len: usize,
    },
    /// The entry could not be serialised.
    #[error("cannot encode the audit entry: {0}")]
    Encode(#[source] serde_json::Error),
}

impl AuditError {
    fn io(path: &Path, op: &'static str) -> impl FnOnce(io::Error) -> Self + use<> {
        let path = path.to_path_buf();
        move |source| Self::Io { path, op, source }
    }
}
