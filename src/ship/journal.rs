//! The shipper's journal: which local files are safely in the store.
//!
//! One line per verified upload, `{session}/{file}\t{len}\t{blake3}\t{key}`, appended
//! and synced before the local copy may be deleted. A crash can tear the last line;
//! a torn line (no newline yet) is dropped when the journal is opened, so that file
//! is shipped again, to the same key with the same bytes. Lines for files that are no
//! longer on the local disk are dropped when the journal is opened: they can never be
//! shipped again, so the journal stays as small as the directory it describes.
//!
//! Each destination has a journal of its own in the recording root (its name carries
//! a digest of the destination URL), so shipping one directory to two places works.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::ShipError;

/// One shipped file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalEntry {
    /// `{session}/{file}`, relative to the recording root.
    pub local: String,
    /// Its length in bytes.
    pub len: u64,
    /// Its BLAKE3 digest, in hex.
    pub blake3: String,
    /// The key it was shipped to.
    pub key: String,
}

/// The journal of shipments from one recording root to one destination.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    entries: HashMap<String, JournalEntry>,
}

impl Journal {
    /// The journal's file name for a destination.
    pub fn file_name(destination_url: &str) -> String {
        let digest = blake3::hash(destination_url.as_bytes()).to_hex();
        format!(".retrace-ship-{}.journal", &digest[..16])
    }

    /// Opens (or creates) the journal of `root` for `destination_url`.
    pub fn open(root: &Path, destination_url: &str) -> Result<Self, ShipError> {
        let path = root.join(Self::file_name(destination_url));
        let io_error = |source| ShipError::Io {
            path: path.clone(),
            source,
        };
        let text = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io_error(e)),
        };
        let complete = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let mut entries = HashMap::new();
        let mut kept = 0usize;
        let mut lines = 0usize;
        for line in String::from_utf8_lossy(&text[..complete]).lines() {
            lines += 1;
            let Some(entry) = parse_line(line) else {
                continue;
            };
            if root.join(&entry.local).exists() {
                kept += 1;
                entries.insert(entry.local.clone(), entry);
            }
        }
        if kept != lines || complete != text.len() {
            // Rewrite without torn, unparsable or stale lines; atomically, so a crash
            // here leaves either journal whole.
            let tmp = path.with_extension("journal.tmp");
            let mut body = String::new();
            for entry in entries.values() {
                body.push_str(&format_line(entry));
            }
            write_synced(&tmp, body.as_bytes()).map_err(io_error)?;
            fs::rename(&tmp, &path).map_err(io_error)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_error)?;
        Ok(Self {
            path,
            file,
            entries,
        })
    }

    /// The journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The entry for `{session}/{file}`, if it was shipped.
    pub fn get(&self, local: &str) -> Option<&JournalEntry> {
        self.entries.get(local)
    }

    /// Every entry.
    pub fn entries(&self) -> impl Iterator<Item = &JournalEntry> {
        self.entries.values()
    }

    /// Records a verified upload, durably, before anything relies on it.
    pub fn record(&mut self, entry: JournalEntry) -> Result<(), ShipError> {
        if self.entries.get(&entry.local) == Some(&entry) {
            return Ok(()); // journaled before a crash that came before its sibling's line
        }
        let line = format_line(&entry);
        self.file
            .write_all(line.as_bytes())
            .and_then(|()| self.file.sync_data())
            .map_err(|source| ShipError::Io {
                path: self.path.clone(),
                source,
            })?;
        self.entries.insert(entry.local.clone(), entry);
        Ok(())
    }
}

fn format_line(e: &JournalEntry) -> String {
    format!("{}\t{}\t{}\t{}\n", e.local, e.len, e.blake3, e.key)
}

fn parse_line(line: &str) -> Option<JournalEntry> {
    let mut fields = line.split('\t');
    let local = fields.next()?.to_owned();
    let len = fields.next()?.parse().ok()?;
    let blake3 = fields.next()?.to_owned();
    let key = fields.next()?.to_owned();
    if fields.next().is_some() || blake3.len() != 64 {
        return None;
    }
    Some(JournalEntry {
        local,
        len,
        blake3,
        key,
    })
}

fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(local: &str) -> JournalEntry {
        JournalEntry {
            local: local.to_owned(),
            len: 3,
            blake3: "ab".repeat(32),
            key: format!("p/{local}"),
        }
    }

    #[test]
    fn entries_survive_reopening_and_a_torn_line_is_dropped() {
        let root = tempfile::tempdir().expect("tempdir");
        fs::create_dir(root.path().join("s")).expect("mkdir");
        for f in ["a", "b"] {
            fs::write(root.path().join("s").join(f), "abc").expect("write");
        }
        let mut journal = Journal::open(root.path(), "s3://b/p").expect("open");
        journal.record(entry("s/a")).expect("record");
        let path = journal.path().to_owned();
        drop(journal);
        // A crash in the middle of the next line.
        let mut file = OpenOptions::new().append(true).open(&path).expect("open");
        file.write_all(b"s/b\t3\tabab").expect("write");
        drop(file);

        let journal = Journal::open(root.path(), "s3://b/p").expect("reopen");
        assert_eq!(journal.get("s/a"), Some(&entry("s/a")));
        assert_eq!(journal.get("s/b"), None);
        let text = fs::read_to_string(&path).expect("read");
        assert!(text.ends_with('\n'), "the torn line is gone: {text:?}");
    }

    #[test]
    fn recording_the_same_upload_twice_writes_one_line() {
        let root = tempfile::tempdir().expect("tempdir");
        fs::create_dir(root.path().join("s")).expect("mkdir");
        fs::write(root.path().join("s/a"), "abc").expect("write");
        let mut journal = Journal::open(root.path(), "s3://b/p").expect("open");
        journal.record(entry("s/a")).expect("record");
        journal.record(entry("s/a")).expect("again");
        let text = fs::read_to_string(journal.path()).expect("read");
        assert_eq!(text.lines().count(), 1, "{text}");
    }

    #[test]
    fn lines_for_deleted_files_are_dropped_and_destinations_have_their_own_journals() {
        let root = tempfile::tempdir().expect("tempdir");
        fs::create_dir(root.path().join("s")).expect("mkdir");
        fs::write(root.path().join("s/a"), "abc").expect("write");
        let mut journal = Journal::open(root.path(), "s3://b/p").expect("open");
        journal.record(entry("s/a")).expect("record");
        drop(journal);
        assert!(
            Journal::open(root.path(), "s3://other/p")
                .expect("other")
                .get("s/a")
                .is_none()
        );
        fs::remove_file(root.path().join("s/a")).expect("rm");
        let journal = Journal::open(root.path(), "s3://b/p").expect("reopen");
        assert_eq!(journal.entries().count(), 0);
    }
}
