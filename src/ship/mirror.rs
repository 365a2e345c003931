//! Reading shipped recordings: a local mirror of a bucket's indexes and metadata, with
//! segments downloaded only when a command reads them.
//!
//! Why a mirror: every reader (`ls`, `show`, `export`, `replay`, `stats`) works on a
//! [`Store`] over a directory. [`Mirror::sync`] rebuilds that directory's shape from the
//! bucket, `{cache}/{session}/…`, whatever hour prefixes a session's segments were
//! shipped under: the metadata and each segment's index (small, and all a listing
//! needs) are downloaded; each segment is a sparse placeholder of its real length
//! beside a `.remote` marker naming its key. The [`Store`] it returns fetches a
//! segment, replacing its placeholder atomically, the first time a frame of it is
//! read. Indexes and segments never change once shipped, so what is in the cache
//! stays valid; metadata and counters are downloaded again at each sync.

use std::collections::HashMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::TryStreamExt;
use object_store::ObjectStore;
use object_store::path::Path as Key;

use super::{Destination, ShipError};
use crate::metadata::{COUNTERS_FILE, METADATA_FILE};
use crate::segment::{INDEX_EXT, SEGMENT_EXT};
use crate::store::{SegmentFetcher, Store};

/// The marker beside a segment placeholder: its extension, and what it holds (the key).
const REMOTE_EXT: &str = "remote";

/// A local mirror of the recordings under a destination.
#[derive(Clone, Debug)]
pub struct Mirror {
    destination: Destination,
    dir: PathBuf,
}

/// What a sync found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Sessions found.
    pub sessions: usize,
    /// Segments found.
    pub segments: usize,
    /// Files downloaded (indexes and metadata).
    pub downloaded: usize,
}

impl Mirror {
    /// A mirror of `destination` in `cache_root`, in a directory named after the
    /// destination's URL.
    pub fn new(destination: Destination, cache_root: &Path) -> Self {
        let digest = blake3::hash(destination.url().as_bytes()).to_hex();
        let dir = cache_root.join(&digest[..16]);
        Self { destination, dir }
    }

    /// The mirror's directory: a recording root.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Brings the mirror up to date with the bucket and opens it as a store whose
    /// segments download on first read.
    pub fn open_store(&self) -> Result<(Store, SyncReport), ShipError> {
        let report = self.sync()?;
        let store = Store::open(&self.dir)?.with_fetcher(Arc::new(self.clone()));
        Ok((store, report))
    }

    /// Lists the bucket and downloads what changed; segments stay placeholders.
    pub fn sync(&self) -> Result<SyncReport, ShipError> {
        fs::create_dir_all(&self.dir).map_err(io_error(&self.dir))?;
        let destination = self.destination.clone();
        let dir = self.dir.clone();
        on_own_runtime(move || async move { sync(&destination, &dir).await })
    }

    /// Downloads every segment still a placeholder (for a command that reads every
    /// byte, such as `verify`).
    pub fn fetch_all(&self) -> Result<usize, ShipError> {
        let mut fetched = 0;
        for session in fs::read_dir(&self.dir)
            .map_err(io_error(&self.dir))?
            .flatten()
        {
            for file in fs::read_dir(session.path())
                .map_err(io_error(&session.path()))?
                .flatten()
            {
                let path = file.path();
                if path.extension().is_some_and(|e| e == SEGMENT_EXT) && marker(&path).exists() {
                    self.fetch_segment(&path)?;
                    fetched += 1;
                }
            }
        }
        Ok(fetched)
    }

    fn fetch_segment(&self, segment: &Path) -> Result<(), ShipError> {
        let marker = marker(segment);
        let Ok(key) = fs::read_to_string(&marker) else {
            return Ok(()); // already local
        };
        let store = Arc::clone(self.destination.store());
        let key = Key::from(key.trim());
        let tmp = segment.with_extension("download");
        let bytes = {
            let key = key.clone();
            on_own_runtime(move || async move { download(&store, &key).await })?
        };
        fs::write(&tmp, &bytes).map_err(io_error(&tmp))?;
        fs::rename(&tmp, segment).map_err(io_error(segment))?;
        fs::remove_file(&marker).map_err(io_error(&marker))?;
        Ok(())
    }
}

impl SegmentFetcher for Mirror {
    fn fetch(&self, segment: &Path) -> Result<(), String> {
        self.fetch_segment(segment).map_err(|e| e.to_string())
    }
}

fn marker(segment: &Path) -> PathBuf {
    segment.with_extension(format!("{SEGMENT_EXT}.{REMOTE_EXT}"))
}

async fn sync(destination: &Destination, dir: &Path) -> Result<SyncReport, ShipError> {
    let store = destination.store();
    let objects: Vec<_> = store
        .list(Some(destination.prefix()))
        .try_collect()
        .await
        .map_err(|source| ShipError::Store {
            operation: "list",
            key: destination.prefix().to_string(),
            source,
        })?;
    let mut report = SyncReport::default();
    let mut sessions: HashMap<String, ()> = HashMap::new();
    for object in objects {
        let parts: Vec<String> = object
            .location
            .parts()
            .map(|p| p.as_ref().to_owned())
            .collect();
        let [.., session, file] = parts.as_slice() else {
            continue;
        };
        if session.starts_with('.') || file.starts_with('.') {
            continue;
        }
        let is_segment = file.ends_with(&format!(".{SEGMENT_EXT}"));
        let is_index = file.ends_with(&format!(".{INDEX_EXT}"));
        let is_metadata = file == METADATA_FILE || file == COUNTERS_FILE;
        if !(is_segment || is_index || is_metadata) {
            continue;
        }
        let session_dir = dir.join(session);
        fs::create_dir_all(&session_dir).map_err(io_error(&session_dir))?;
        sessions.insert(session.clone(), ());
        let local = session_dir.join(file);
        if is_segment {
            report.segments += 1;
            let len = fs::metadata(&local).map(|m| m.len()).ok();
            if len != Some(object.size) {
                // A sparse placeholder of the real length: the index check compares it.
                let placeholder = File::create(&local).map_err(io_error(&local))?;
                placeholder.set_len(object.size).map_err(io_error(&local))?;
                let marker = marker(&local);
                fs::write(&marker, object.location.as_ref()).map_err(io_error(&marker))?;
            }
            continue;
        }
        let stale = is_metadata || fs::metadata(&local).map(|m| m.len()).ok() != Some(object.size);
        if stale {
            let bytes = download(store, &object.location).await?;
            let tmp = local.with_extension("download");
            fs::write(&tmp, &bytes).map_err(io_error(&tmp))?;
            fs::rename(&tmp, &local).map_err(io_error(&local))?;
            report.downloaded += 1;
        }
    }
    report.sessions = sessions.len();
    Ok(report)
}

async fn download(store: &Arc<dyn ObjectStore>, key: &Key) -> Result<bytes::Bytes, ShipError> {
    let error = |source| ShipError::Store {
        operation: "download",
        key: key.to_string(),
        source,
    };
    store
        .get_opts(key, Default::default())
        .await
        .map_err(error)?
        .bytes()
        .await
        .map_err(error)
}

/// Runs an async job to completion on a runtime of its own, on a thread of its own,
/// so that a caller already inside a runtime (a replay) can call it too.
fn on_own_runtime<F, Fut, T>(job: F) -> Result<T, ShipError>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<T, ShipError>>,
    T: Send + 'static,
{
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(io_error(Path::new("(async runtime)")))?;
        runtime.block_on(job())
    });
    thread.join().unwrap_or_else(|_| {
        Err(ShipError::Destination {
            url: String::new(),
            reason: "the download thread panicked".to_owned(),
        })
    })
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> ShipError + '_ {
    move |source| ShipError::Io {
        path: path.to_owned(),
        source,
    }
}
