//! The command line's own audit lines. A recording directory with an audit log
//! (`<dir>/audit.log`, written by the admin service) wants every read of its recordings
//! on record, and a read from a terminal is a read too: `ls`, `show`, `export`,
//! `replay`, `verify` and `stats` each append one `cli.<command>` line there.
//!
//! Without an audit log nothing happens: the command line never creates one (whether a
//! directory is audited is the service's decision). Appending never stands between a
//! user and the command's output: a failure is one warning on stderr.

use std::fs;

use retrace::audit::{self, AuditLog};
use retrace::{AuditEntry, AuditError, RecordingInfo};
use serde_json::json;

use crate::root::RootArgs;

/// How many recording ids an audit line lists; the rest are only counted.
const LISTED_IDS: usize = 100;

/// Who runs the command: `cli:` and `$USER`, else `$LOGNAME`, else `unknown`. It comes
/// from the environment, so it is who the user says they are; who may append at all is
/// up to the file's permissions.
pub(crate) fn who() -> String {
    let user = ["USER", "LOGNAME"]
        .iter()
        .find_map(|var| std::env::var(var).ok().filter(|u| !u.is_empty()));
    format!("cli:{}", user.as_deref().unwrap_or("unknown"))
}

/// Appends `cli.<command>` to the audit log of the recording directory, if it has one.
/// The target is the recording when `read` names exactly one, else the directory; when
/// several are read, their ids (the first [`LISTED_IDS`]) and count go in `detail`.
pub(crate) fn record_read(root: &RootArgs, command: &str, read: &[&RecordingInfo]) {
    record_read_by(root, &who(), command, read);
}

/// [`record_read`] for a reader other than the user running the command: someone
/// signed in to `retrace view` with a key (`key:ID`).
pub(crate) fn record_read_by(root: &RootArgs, who: &str, command: &str, read: &[&RecordingInfo]) {
    if let Err(e) = append(root, who, command, read) {
        eprintln!("warning: the audit log was not written for `retrace {command}`: {e}");
    }
}

fn append(
    root: &RootArgs,
    who: &str,
    command: &str,
    read: &[&RecordingInfo],
) -> Result<(), AuditError> {
    let Some(log) = AuditLog::open_existing(audit::default_path(&root.path))? else {
        return Ok(());
    };
    let mut entry = AuditEntry::new(who, format!("cli.{command}"));
    entry = match read {
        [one] => entry.target(one.summary.id.to_string()),
        _ => {
            let dir = fs::canonicalize(&root.path).unwrap_or_else(|_| root.path.clone());
            entry.target(dir.display().to_string())
        }
    };
    if read.len() > 1 {
        let ids: Vec<String> = read
            .iter()
            .take(LISTED_IDS)
            .map(|r| r.summary.id.to_string())
            .collect();
        entry = entry.detail(json!({ "recordings": read.len(), "ids": ids }));
    }
    log.append(entry)
}
