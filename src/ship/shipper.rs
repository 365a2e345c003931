//! One shipping pass over a recording root, and the counters across passes.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use object_store::path::Path as Key;
use object_store::{
    Attribute, AttributeValue, Attributes, GetOptions, ObjectStore, PutMultipartOptions,
    PutOptions, PutPayload, WriteMultipart,
};

use super::digest::Fingerprint;
use super::journal::{Journal, JournalEntry};
use super::parquet_index::{self, PARQUET_EXT};
use super::{Destination, ShipError, ShipStatus, segment_key};
use crate::metadata::{COUNTERS_FILE, METADATA_FILE};
use crate::segment::{INDEX_EXT, INDEX_MAGIC, SegmentHeader, SegmentIndex, newest_unix_us};
use crate::stats::ShippingStats;
use crate::store::{SessionInfo, Store, segment_files};

/// The user-metadata name under which an object carries its BLAKE3 digest.
const DIGEST_METADATA: &str = "retrace-blake3";

/// How shipping behaves.
#[derive(Clone, Debug)]
pub struct ShipOptions {
    /// Delete each local segment and index once its upload is verified and journaled.
    pub delete_after_ship: bool,
    /// Files at least this large go up as multipart uploads (default 16 MiB).
    pub multipart_threshold: u64,
    /// The size of each part of a multipart upload (default 8 MiB; S3 needs ≥ 5 MiB).
    pub part_size: usize,
    /// The first wait before a failed segment is tried again; it doubles with each
    /// failure up to [`ShipOptions::max_backoff`] (default 1 s).
    pub first_backoff: Duration,
    /// The longest wait between tries of a failing segment (default 60 s).
    pub max_backoff: Duration,
}

impl Default for ShipOptions {
    fn default() -> Self {
        Self {
            delete_after_ship: false,
            multipart_threshold: 16 << 20,
            part_size: 8 << 20,
            first_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
        }
    }
}

/// What one pass did.
#[derive(Debug, Default)]
pub struct ShipReport {
    /// Segments shipped (with their index) in this pass.
    pub segments: u64,
    /// Bytes uploaded.
    pub bytes: u64,
    /// Files found already in the store with the same size and digest (shipped
    /// before a crash that lost the journal line), journaled without an upload.
    pub already_there: u64,
    /// Local files deleted after their upload was verified.
    pub deleted: u64,
    /// Closed segments not shipped yet (failed, or waiting for their next try).
    pub pending: u64,
    /// How long the oldest closed segment not shipped yet has waited.
    pub lag: Option<Duration>,
    /// The segments that failed in this pass, and why.
    pub failures: Vec<(PathBuf, ShipError)>,
}

/// Counters across every pass of a [`Shipper`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShipTotals {
    /// Segments shipped.
    pub segments: u64,
    /// Bytes uploaded.
    pub bytes: u64,
    /// Failed attempts.
    pub failed: u64,
    /// Attempts at a segment that had failed before.
    pub retried: u64,
}

/// A failing segment's next try.
#[derive(Debug)]
struct Backoff {
    next_try: Instant,
    wait: Duration,
}

/// Ships a recording root's closed segments to a [`Destination`].
#[derive(Debug)]
pub struct Shipper {
    root: PathBuf,
    destination: Destination,
    journal: Journal,
    options: ShipOptions,
    backoff: HashMap<PathBuf, Backoff>,
    totals: ShipTotals,
    started_unix_ms: u64,
    /// The metadata files this shipper has sent, by key, as they were sent.
    metadata_sent: HashMap<Key, Fingerprint>,
}

impl Shipper {
    /// A shipper from `root` to `destination`, resuming from its journal.
    pub fn new(
        root: impl Into<PathBuf>,
        destination: Destination,
        options: ShipOptions,
    ) -> Result<Self, ShipError> {
        let root = root.into();
        fs::create_dir_all(&root).map_err(|source| ShipError::Io {
            path: root.clone(),
            source,
        })?;
        let journal = Journal::open(&root, destination.url())?;
        Ok(Self {
            root,
            destination,
            journal,
            options,
            backoff: HashMap::new(),
            totals: ShipTotals::default(),
            started_unix_ms: unix_ms(SystemTime::now()),
            metadata_sent: HashMap::new(),
        })
    }

    /// The destination.
    pub fn destination(&self) -> &Destination {
        &self.destination
    }

    /// The journal.
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// The counters across every pass so far.
    pub fn totals(&self) -> ShipTotals {
        self.totals
    }

    /// Ships every closed segment not shipped yet, except those waiting for their
    /// next try after a failure. Cancelling the future (dropping it mid-upload) is
    /// safe: what was not journaled is shipped again by a later pass.
    pub async fn ship_pending(&mut self) -> Result<ShipReport, ShipError> {
        let mut report = ShipReport::default();
        let store = Store::open(&self.root)?;
        for session in store.sessions() {
            // A session that cannot be listed (deleted by a gc meanwhile) is that
            // session's failure, not the pass's.
            let files = match segment_files(&session.dir) {
                Ok(files) => files,
                Err(source) => {
                    report.failures.push((
                        session.dir.clone(),
                        ShipError::Io {
                            path: session.dir.clone(),
                            source,
                        },
                    ));
                    continue;
                }
            };
            for segment in files {
                let index = segment.with_extension(INDEX_EXT);
                let Ok(meta) = fs::metadata(&segment) else {
                    continue;
                };
                if !index.exists() || self.is_shipped(session, &segment, meta.len()) {
                    continue;
                }
                if let Some(b) = self.backoff.get(&segment)
                    && b.next_try > Instant::now()
                {
                    report.pending += 1;
                    note_lag(&mut report, meta.modified().ok());
                    continue;
                }
                let retry = self.backoff.contains_key(&segment);
                if retry {
                    self.totals.retried += 1;
                }
                match self
                    .ship_segment(session, &segment, &index, &mut report)
                    .await
                {
                    Ok(()) => {
                        self.backoff.remove(&segment);
                        report.segments += 1;
                        self.totals.segments += 1;
                    }
                    Err(error) => {
                        self.totals.failed += 1;
                        let wait = self
                            .backoff
                            .get(&segment)
                            .map_or(self.options.first_backoff, |b| {
                                (b.wait * 2).min(self.options.max_backoff)
                            });
                        self.backoff.insert(
                            segment.clone(),
                            Backoff {
                                next_try: Instant::now() + wait,
                                wait,
                            },
                        );
                        report.pending += 1;
                        note_lag(&mut report, meta.modified().ok());
                        report.failures.push((segment, error));
                    }
                }
            }
        }
        self.totals.bytes += report.bytes;
        self.write_status(&report);
        Ok(report)
    }

    /// What this shipper has done since it started, as of `report`'s pass.
    pub fn status(&self, report: &ShipReport) -> ShipStatus {
        ShipStatus {
            destination: self.destination.url().to_owned(),
            started_unix_ms: self.started_unix_ms,
            updated_unix_ms: unix_ms(SystemTime::now()),
            counts: ShippingStats {
                segments: self.totals.segments,
                bytes: self.totals.bytes,
                failed: self.totals.failed,
                retried: self.totals.retried,
                pending: report.pending,
                lag_ms: report
                    .lag
                    .map_or(0, |l| l.as_millis().min(u128::from(u64::MAX)) as u64),
            },
            last_error: report
                .failures
                .last()
                .map(|(path, e)| format!("{}: {e}", path.display())),
        }
    }

    /// Publishes what this shipper has done in its status file; a status that cannot
    /// be written only costs `retrace stats` its view, so it is logged and ignored.
    fn write_status(&self, report: &ShipReport) {
        let status = self.status(report);
        if let Err(e) = status.write(&self.root) {
            tracing::warn!(error = %e, "retrace: the shipper's status file was not written");
        }
    }

    fn local_name(session: &SessionInfo, file: &Path) -> String {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        format!("{}/{}", session.name, name)
    }

    fn is_shipped(&self, session: &SessionInfo, segment: &Path, len: u64) -> bool {
        // A closed segment never changes, so its length tells a journaled one apart
        // from a new file that took its name after a `gc`.
        let shipped = |path: &Path, len: Option<u64>| {
            self.journal
                .get(&Self::local_name(session, path))
                .is_some_and(|e| len.is_none_or(|l| e.len == l))
        };
        shipped(segment, Some(len)) && shipped(&segment.with_extension(INDEX_EXT), None)
    }

    async fn ship_segment(
        &mut self,
        session: &SessionInfo,
        segment: &Path,
        index: &Path,
        report: &mut ShipReport,
    ) -> Result<(), ShipError> {
        let index_bytes = read(index)?;
        let decoded = SegmentIndex::decode(&index_bytes).ok();
        let newest = decoded
            .as_ref()
            .and_then(|i| newest_unix_us(&i.entries))
            .or_else(|| modified_unix_us(segment))
            .unwrap_or(0);
        // A segment journaled before a crash keeps the directory it went to, whatever
        // the hour computed now (an identity given this time, a different mtime).
        let journaled_dir: Option<Vec<String>> = self
            .journal
            .get(&Self::local_name(session, segment))
            .and_then(|e| Key::parse(&e.key).ok())
            .map(|k| k.parts().map(|p| p.as_ref().to_owned()).collect::<Vec<_>>())
            .filter(|parts| !parts.is_empty())
            .map(|mut parts| {
                parts.pop();
                parts
            });
        let key = |file: &Path| {
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default();
            match &journaled_dir {
                Some(dir) => {
                    let joined = format!("{}/{}", dir.join("/"), Key::from(name.as_ref()));
                    Key::parse(joined).unwrap_or_else(|_| Key::from(name.as_ref()))
                }
                None => segment_key(
                    self.destination.prefix(),
                    session.service(),
                    newest,
                    &session.name,
                    &name,
                ),
            }
        };
        let segment_key = key(segment);
        let index_key = key(index);
        // The session's metadata first, so that whoever finds a segment can read it;
        // sent again when it changed since this shipper last sent it (the counters
        // change), not checked again otherwise.
        for name in [METADATA_FILE, COUNTERS_FILE] {
            let path = session.dir.join(name);
            if let Ok(bytes) = fs::read(&path) {
                let meta_key = key(&path);
                let print = Fingerprint::of(&bytes);
                if self.metadata_sent.get(&meta_key) == Some(&print) {
                    continue;
                }
                report.bytes += self.upload(&meta_key, Bytes::from(bytes)).await?.sent;
                self.metadata_sent.insert(meta_key, print);
            }
        }
        // The segment before its index: an index in the store means its segment is
        // complete there.
        let segment_bytes = Bytes::from(read(segment)?);
        let print = self
            .upload(&segment_key, segment_bytes)
            .await?
            .count(report);
        // The index as Parquet for query engines, derived and not journaled (like the
        // metadata); an index that does not decode ships without it.
        // An encrypted index stays encrypted: no Parquet copy of it in clear, even
        // when this process holds an identity that opens it.
        let encrypted =
            SegmentHeader::decode_with(&index_bytes, INDEX_MAGIC).is_ok_and(|h| h.is_encrypted());
        if let Some(decoded) = decoded.as_ref().filter(|_| !encrypted) {
            // Derived: a Parquet file that cannot be made is logged, never a reason to
            // hold the segment back.
            match parquet_index::encode(session, segment_key.as_ref(), &decoded.entries) {
                Ok(parquet) => {
                    let parquet_key = key(&segment.with_extension(PARQUET_EXT));
                    report.bytes += self.upload(&parquet_key, Bytes::from(parquet)).await?.sent;
                }
                Err(e) => {
                    tracing::warn!(segment = %segment.display(), error = %e, "retrace: the segment ships without its Parquet index");
                }
            }
        }
        self.journal.record(JournalEntry {
            local: Self::local_name(session, segment),
            len: print.len,
            blake3: print.hex(),
            key: segment_key.to_string(),
        })?;
        let print = self
            .upload(&index_key, Bytes::from(index_bytes))
            .await?
            .count(report);
        self.journal.record(JournalEntry {
            local: Self::local_name(session, index),
            len: print.len,
            blake3: print.hex(),
            key: index_key.to_string(),
        })?;
        if self.options.delete_after_ship {
            for path in [segment, index] {
                fs::remove_file(path).map_err(|source| ShipError::Io {
                    path: path.to_owned(),
                    source,
                })?;
                report.deleted += 1;
            }
        }
        Ok(())
    }

    /// Uploads `bytes` to `key` unless the store already holds them, then verifies
    /// what the store holds.
    async fn upload(&self, key: &Key, bytes: Bytes) -> Result<Uploaded, ShipError> {
        let print = Fingerprint::of(&bytes);
        if self.holds(key, &print).await? {
            return Ok(Uploaded { print, sent: 0 });
        }
        let store = self.destination.store();
        let mut attributes = Attributes::new();
        if self.destination.keeps_metadata() {
            attributes.insert(
                Attribute::Metadata(DIGEST_METADATA.into()),
                AttributeValue::from(print.hex()),
            );
        }
        let len = print.len;
        if len >= self.options.multipart_threshold {
            let upload = store
                .put_multipart_opts(
                    key,
                    PutMultipartOptions {
                        attributes,
                        ..PutMultipartOptions::default()
                    },
                )
                .await
                .map_err(store_error("upload", key))?;
            let mut writer = WriteMultipart::new_with_chunk_size(upload, self.options.part_size);
            writer.put(bytes);
            writer.finish().await.map_err(store_error("upload", key))?;
        } else {
            store
                .put_opts(
                    key,
                    PutPayload::from(bytes),
                    PutOptions {
                        attributes,
                        ..PutOptions::default()
                    },
                )
                .await
                .map_err(store_error("upload", key))?;
        }
        if !self.holds(key, &print).await? {
            let found = self.found(key).await?;
            return Err(ShipError::Mismatch {
                key: key.to_string(),
                expected: print.to_string(),
                found,
            });
        }
        Ok(Uploaded { print, sent: len })
    }

    /// Whether the store holds exactly these bytes at `key`: from a `HEAD` where the
    /// store keeps the digest in the object's metadata, by reading it back otherwise.
    async fn holds(&self, key: &Key, print: &Fingerprint) -> Result<bool, ShipError> {
        let store = self.destination.store();
        if self.destination.keeps_metadata() {
            let head = GetOptions {
                head: true,
                ..GetOptions::default()
            };
            return match store.get_opts(key, head).await {
                Ok(found) => Ok(found.meta.size == print.len
                    && found
                        .attributes
                        .get(&Attribute::Metadata(DIGEST_METADATA.into()))
                        .is_some_and(|v| v.as_ref() == print.hex())),
                Err(object_store::Error::NotFound { .. }) => Ok(false),
                Err(e) => Err(store_error("verify", key)(e)),
            };
        }
        match store.get_opts(key, GetOptions::default()).await {
            Ok(found) => {
                let bytes = found.bytes().await.map_err(store_error("verify", key))?;
                Ok(Fingerprint::of(&bytes) == *print)
            }
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(store_error("verify", key)(e)),
        }
    }

    async fn found(&self, key: &Key) -> Result<String, ShipError> {
        let head = GetOptions {
            head: true,
            ..GetOptions::default()
        };
        match self.destination.store().get_opts(key, head).await {
            Ok(found) => Ok(format!(
                "{} bytes, blake3 {}",
                found.meta.size,
                found
                    .attributes
                    .get(&Attribute::Metadata(DIGEST_METADATA.into()))
                    .map_or("(none)", |v| v.as_ref())
            )),
            Err(object_store::Error::NotFound { .. }) => Ok("nothing".to_owned()),
            Err(e) => Err(store_error("verify", key)(e)),
        }
    }
}

/// A verified upload: what the store holds, and the bytes sent for it (0: the store
/// held them already).
struct Uploaded {
    print: Fingerprint,
    sent: u64,
}

impl Uploaded {
    /// Counts it in the report and returns what the store holds.
    fn count(self, report: &mut ShipReport) -> Fingerprint {
        report.bytes += self.sent;
        if self.sent == 0 {
            report.already_there += 1;
        }
        self.print
    }
}

fn store_error(
    operation: &'static str,
    key: &Key,
) -> impl FnOnce(object_store::Error) -> ShipError {
    let key = key.to_string();
    move |source| ShipError::Store {
        operation,
        key,
        source,
    }
}

fn read(path: &Path) -> Result<Vec<u8>, ShipError> {
    fs::read(path).map_err(|source| ShipError::Io {
        path: path.to_owned(),
        source,
    })
}

fn modified_unix_us(path: &Path) -> Option<u64> {
    let modified = fs::metadata(path).ok()?.modified().ok()?;
    let since = modified.duration_since(SystemTime::UNIX_EPOCH).ok()?;
    u64::try_from(since.as_micros()).ok()
}

fn unix_ms(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis().min(u128::from(u64::MAX)) as u64)
}

fn note_lag(report: &mut ShipReport, modified: Option<SystemTime>) {
    if let Some(age) = modified.and_then(|m| m.elapsed().ok()) {
        report.lag = Some(report.lag.map_or(age, |l| l.max(age)));
    }
}
