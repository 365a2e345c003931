//! Reading shipped recordings: a local mirror of a bucket's indexes and metadata, with
//! segments downloaded only when a command reads them.
//!
//! Why a mirror: every reader (`ls`, `show`, `export`, `replay`, `stats`) works on a
//! [`Store`] over a directory. [`Mirror::sync`] rebuilds that directory's shape from the
//! bucket, `{cache}/{session}/…`, whatever hour prefixes a session's segments were
//! shipped under: the metadata and each segment's index (small, and all a listing
//! needs) are downloaded; each segment is a sparse placeholder of its real length
//! beside a `.remote` marker, and a `.key` file naming its object. The [`Store`] it
//! returns fetches a segment, replacing its placeholder atomically, the first time a
//! frame of it is read. Indexes and segments never change once shipped, so what is in
//! the cache stays valid; metadata and counters are downloaded again at each sync, and
//! what is no longer in the bucket (expired, or deleted by a `gc`) leaves the mirror.
//!
//! Retention on a bucket works through the mirror too: [`Mirror::delete_segment`]
//! and [`Mirror::delete_session`] delete the objects behind a mirrored segment or
//! session, then the mirror's copies.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::{StreamExt, TryStreamExt};
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt};

use super::{Destination, ShipError};
use crate::metadata::{COUNTERS_FILE, METADATA_FILE};
use crate::segment::{INDEX_EXT, SEGMENT_EXT};
use crate::store::{SegmentFetcher, Store};

/// Index and metadata downloads in flight at once during a sync.
const CONCURRENT_DOWNLOADS: usize = 16;

/// The marker beside a segment not downloaded yet.
const REMOTE_EXT: &str = "remote";
/// The file beside a mirrored segment that names its object.
const KEY_EXT: &str = "key";
/// The file in a mirrored session naming its metadata objects, one key a line (a
/// session shipped over several hours has a copy in each hour's prefix).
const METADATA_KEYS: &str = ".metadata-keys";

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
        if !marker.exists() {
            return Ok(()); // already local
        }
        let store = Arc::clone(self.destination.store());
        let key = segment_object(segment)?;
        let tmp = download_path(segment);
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

impl Mirror {
    /// Deletes a mirrored segment's objects (segment, index, Parquet index) from the
    /// store, then its files from the mirror. The segment first: a delete cut short
    /// leaves at worst an index without its segment, which readers skip (a sync
    /// mirrors a segment only with its index, never the other way round); the
    /// bucket's lifecycle rule clears such leftovers.
    pub fn delete_segment(&self, segment: &Path) -> Result<(), ShipError> {
        let key = segment_object(segment)?;
        let keys: Vec<Key> = [SEGMENT_EXT, INDEX_EXT, super::parquet_index::PARQUET_EXT]
            .iter()
            .map(|ext| sibling_key(&key, ext))
            .collect();
        self.delete_objects(keys)?;
        remove_local(segment)
    }

    /// Deletes a mirrored session's metadata objects, then the session from the
    /// mirror. For a session whose segments are all gone.
    pub fn delete_session(&self, session_dir: &Path) -> Result<(), ShipError> {
        let list = session_dir.join(METADATA_KEYS);
        let text = fs::read_to_string(&list).unwrap_or_default();
        let keys = text
            .lines()
            .map(|line| parse_key(line, &list))
            .collect::<Result<Vec<_>, _>>()?;
        self.delete_objects(keys)?;
        fs::remove_dir_all(session_dir).map_err(io_error(session_dir))
    }

    /// The object behind a mirrored segment, for messages.
    pub fn segment_key(&self, segment: &Path) -> Option<String> {
        segment_object(segment).ok().map(|k| k.to_string())
    }

    fn delete_objects(&self, keys: Vec<Key>) -> Result<(), ShipError> {
        let store = Arc::clone(self.destination.store());
        on_own_runtime(move || async move {
            for key in keys {
                match store.delete(&key).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(source) => {
                        return Err(ShipError::Store {
                            operation: "delete",
                            key: key.to_string(),
                            source,
                        });
                    }
                }
            }
            Ok(())
        })
    }
}

/// The key of a mirrored segment, from the file beside it.
fn segment_object(segment: &Path) -> Result<Key, ShipError> {
    let file = key_file(segment);
    let text = fs::read_to_string(&file).map_err(io_error(&file))?;
    parse_key(text.trim(), &file)
}

/// A key as stored (already encoded): parsed, not encoded again.
fn parse_key(text: &str, from: &Path) -> Result<Key, ShipError> {
    Key::parse(text).map_err(|e| ShipError::Io {
        path: from.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()),
    })
}

/// `key` with its file's extension changed: the index beside a segment, say.
fn sibling_key(key: &Key, ext: &str) -> Key {
    // The key's text is already encoded; a plain extension changes nothing of that.
    let text = key.as_ref();
    let stem = text.rsplit_once('.').map_or(text, |(stem, _)| stem);
    Key::parse(format!("{stem}.{ext}")).unwrap_or_else(|_| key.clone())
}

/// Removes a mirrored segment's files: the segment, its index and its sidecars.
fn remove_local(segment: &Path) -> Result<(), ShipError> {
    for path in [
        segment.to_path_buf(),
        segment.with_extension(INDEX_EXT),
        marker(segment),
        key_file(segment),
    ] {
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(ShipError::Io { path, source }),
        }
    }
    Ok(())
}

impl SegmentFetcher for Mirror {
    fn fetch(&self, segment: &Path) -> Result<(), String> {
        self.fetch_segment(segment).map_err(|e| e.to_string())
    }
}

fn marker(segment: &Path) -> PathBuf {
    segment.with_extension(format!("{SEGMENT_EXT}.{REMOTE_EXT}"))
}

/// A temporary file beside `path` for a download, unique to this process and call, so
/// that two commands sharing a cache never write into each other's.
fn download_path(path: &Path) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{}.{n}.download", std::process::id()));
    PathBuf::from(name)
}

/// The file beside a mirrored metadata file holding its object's ETag.
fn etag_file(local: &Path) -> PathBuf {
    let mut name = local.as_os_str().to_owned();
    name.push(".etag");
    PathBuf::from(name)
}

fn key_file(segment: &Path) -> PathBuf {
    segment.with_extension(format!("{SEGMENT_EXT}.{KEY_EXT}"))
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
    // A segment is mirrored once its index is in the bucket too: the shipper uploads
    // the index last, so a segment without one is still on its way.
    let indexed: HashSet<String> = objects
        .iter()
        .filter_map(|o| {
            o.location
                .as_ref()
                .strip_suffix(&format!(".{INDEX_EXT}"))
                .map(str::to_owned)
        })
        .collect();
    // A session shipped over several hours has a copy of its metadata in each hour's
    // prefix; the newest is the one mirrored.
    let mut newest_metadata = HashMap::new();
    for object in &objects {
        let parts: Vec<String> = object
            .location
            .parts()
            .map(|p| p.as_ref().to_owned())
            .collect();
        if let [.., session, file] = parts.as_slice()
            && (file == METADATA_FILE || file == COUNTERS_FILE)
        {
            let entry = newest_metadata
                .entry((session.clone(), file.clone()))
                .or_insert((object.last_modified, object.location.clone()));
            if object.last_modified > entry.0 {
                *entry = (object.last_modified, object.location.clone());
            }
        }
    }
    let mut report = SyncReport::default();
    let mut sessions: HashSet<String> = HashSet::new();
    let mut listed: HashSet<PathBuf> = HashSet::new();
    let mut metadata_keys: HashMap<String, Vec<String>> = HashMap::new();
    let mut wanted = Vec::new();
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
        sessions.insert(session.clone());
        let local = session_dir.join(file);
        listed.insert(local.clone());
        if is_metadata {
            metadata_keys
                .entry(session.clone())
                .or_default()
                .push(object.location.to_string());
            let newest = newest_metadata.get(&(session.clone(), file.clone()));
            if newest.is_some_and(|(_, key)| *key != object.location) {
                continue;
            }
        }
        if is_segment {
            let stem = object
                .location
                .as_ref()
                .strip_suffix(&format!(".{SEGMENT_EXT}"));
            if !stem.is_some_and(|stem| indexed.contains(stem)) {
                listed.remove(&local);
                continue;
            }
            report.segments += 1;
            let len = fs::metadata(&local).map(|m| m.len()).ok();
            if len != Some(object.size) {
                // The marker first: a crash between the two leaves a marked file that
                // is fetched, never an unmarked placeholder read as the segment.
                let marker = marker(&local);
                fs::write(&marker, b"").map_err(io_error(&marker))?;
                // A sparse placeholder of the real length: the index check compares it.
                let placeholder = File::create(&local).map_err(io_error(&local))?;
                placeholder.set_len(object.size).map_err(io_error(&local))?;
            }
            let key_file = key_file(&local);
            fs::write(&key_file, object.location.as_ref()).map_err(io_error(&key_file))?;
            continue;
        }
        // Indexes never change once shipped; metadata and counters do (the counters
        // in place, at the same size), so they are fetched again when their ETag moved.
        let stale = if is_metadata {
            object.e_tag.is_none() || fs::read_to_string(etag_file(&local)).ok() != object.e_tag
        } else {
            fs::metadata(&local).map(|m| m.len()).ok() != Some(object.size)
        };
        if stale {
            wanted.push((object.location, local, object.e_tag.filter(|_| is_metadata)));
        }
    }
    // Small files over one connection each are latency-bound: several at a time.
    let mut downloads = futures_util::stream::iter(wanted)
        .map(
            |(key, local, e_tag): (Key, PathBuf, Option<String>)| async move {
                let bytes = download(store, &key).await?;
                let tmp = download_path(&local);
                fs::write(&tmp, &bytes).map_err(io_error(&tmp))?;
                fs::rename(&tmp, &local).map_err(io_error(&local))?;
                if let Some(e_tag) = e_tag {
                    let file = etag_file(&local);
                    fs::write(&file, e_tag).map_err(io_error(&file))?;
                }
                Ok::<(), ShipError>(())
            },
        )
        .buffer_unordered(CONCURRENT_DOWNLOADS);
    while let Some(done) = downloads.next().await {
        done?;
        report.downloaded += 1;
    }
    for (session, keys) in metadata_keys {
        let list = dir.join(&session).join(METADATA_KEYS);
        fs::write(&list, keys.join("\n")).map_err(io_error(&list))?;
    }
    prune(dir, &sessions, &listed)?;
    report.sessions = sessions.len();
    Ok(report)
}

/// Removes from the mirror what the bucket no longer holds: sessions with no object
/// left, and segments (with their index) whose object is gone.
fn prune(
    dir: &Path,
    sessions: &HashSet<String>,
    listed: &HashSet<PathBuf>,
) -> Result<(), ShipError> {
    for entry in fs::read_dir(dir).map_err(io_error(dir))?.flatten() {
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        if !sessions.contains(&name) {
            fs::remove_dir_all(&path).map_err(io_error(&path))?;
            continue;
        }
        for file in fs::read_dir(&path).map_err(io_error(&path))?.flatten() {
            let file = file.path();
            let gone =
                file.extension().is_some_and(|e| e == SEGMENT_EXT) && !listed.contains(&file);
            if gone {
                remove_local(&file)?;
            }
        }
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sibling_of_an_encoded_key_is_not_encoded_twice() {
        let key = Key::from_iter(["p", "a%b c", "seg-000001.rtseg"]);
        let index = sibling_key(&key, INDEX_EXT);
        let parts: Vec<String> = index.parts().map(|p| p.as_ref().to_owned()).collect();
        let original: Vec<String> = key.parts().map(|p| p.as_ref().to_owned()).collect();
        assert_eq!(parts[..2], original[..2], "{index}");
        assert_eq!(parts[2], "seg-000001.rtidx");
        let stored = parse_key(key.as_ref(), Path::new("k")).expect("parses");
        assert_eq!(stored, key, "a stored key reads back as itself");
    }
}
