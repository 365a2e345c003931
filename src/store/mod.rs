//! The [`Store`]: reads the recordings under a recording root.
//!
//! A store is every session directory below the root. Listing reads segment indexes
//! (a few bytes per recording) and scans only segments that were never closed, such as
//! the last one of a crashed process. Damaged files never stop a listing: each problem
//! is reported as a [`Problem`] naming the file and offset, and everything that can be
//! trusted is returned. The store only reads: repair is a separate, explicit operation.
//! Recording ids given by a user are parsed into [`RecordingId`]s and compared, never
//! used to build a path, so no input can make the store read outside its root.
//! Session directories and segment files that are symbolic links are ignored, for the
//! same reason (the root itself may be a link, and is followed).

mod problem;
mod recording;
mod segment_check;
mod segment_list;
mod segment_reader;

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use problem::Problem;
pub use recording::{CallRecord, Recording};
pub use segment_check::{SegmentCheck, check_segment};
pub use segment_list::{SegmentInfo, SegmentListing};
pub use segment_reader::{
    SegmentContents, read_frame_chunks, read_segment, scan_segment, segment_files,
};

use crate::event::Chunk;
use crate::id::{RecordingId, normalize_id_prefix};
use crate::metadata::{COUNTERS_FILE, METADATA_FILE, SessionCounters, SessionMetadata};
use crate::summary::Summary;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The root does not exist.
    #[error("recording directory {0} does not exist")]
    NotFound(PathBuf),
    /// The root or a file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// No recording has this id or prefix.
    #[error("no recording matches {0:?}")]
    UnknownId(String),
    /// The text cannot be part of a recording id.
    #[error(
        "{0:?} is not a recording id or prefix (ids use the characters 0-9 and A-Z without I, L, O, U)"
    )]
    InvalidId(String),
    /// Several recordings share the prefix.
    #[error("{prefix:?} is ambiguous; it matches {}{}", candidates.join(", "), if *more > 0 { format!(" and {more} more") } else { String::new() })]
    AmbiguousPrefix {
        /// The prefix as given.
        prefix: String,
        /// Some of the matching ids.
        candidates: Vec<String>,
        /// How many more match.
        more: usize,
    },
    /// The recording's data is damaged.
    #[error("recording {id} cannot be read: {problem}")]
    Damaged {
        /// The recording.
        id: RecordingId,
        /// What is wrong.
        problem: Problem,
    },
}

/// One session directory.
#[derive(Clone, Debug)]
pub struct SessionInfo {
    /// The directory's name.
    pub name: String,
    /// Its path.
    pub dir: PathBuf,
    /// Its metadata, when readable.
    pub metadata: Option<SessionMetadata>,
}

impl SessionInfo {
    /// Where the session's process ran, when its metadata says.
    pub fn origin(&self) -> Option<&crate::metadata::Origin> {
        self.metadata.as_ref().map(|m| &m.origin)
    }

    /// The service name, from the metadata or the directory name.
    pub fn service(&self) -> &str {
        match &self.metadata {
            Some(m) => &m.service,
            None => self.name.split('_').next().unwrap_or(&self.name),
        }
    }
}

/// Where a recording's chunks are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The segment file.
    pub segment: PathBuf,
    /// The frame offsets within it.
    pub frames: Vec<u64>,
}

/// A listed recording: its summary and where to find it.
#[derive(Clone, Debug)]
pub struct RecordingInfo {
    /// The summary.
    pub summary: Summary,
    /// The session.
    pub session: Arc<SessionInfo>,
    /// Where its chunks are, in order.
    pub locations: Vec<Location>,
}

/// The result of listing a store.
#[derive(Debug, Default)]
pub struct Listing {
    /// The recordings, newest first.
    pub recordings: Vec<RecordingInfo>,
    /// What was wrong on the way.
    pub problems: Vec<Problem>,
}

/// Brings a segment's bytes to the local disk before its frames are read: how a store
/// whose segments live in object storage lists from the indexes alone and downloads
/// only the segments a command reads (see `retrace::ship::Mirror`).
pub trait SegmentFetcher: Send + Sync + std::fmt::Debug {
    /// Makes `segment` readable on the local disk; does nothing if it already is.
    fn fetch(&self, segment: &Path) -> Result<(), String>;
}

/// The recordings under a recording root.
#[derive(Debug)]
pub struct Store {
    root: PathBuf,
    sessions: Vec<Arc<SessionInfo>>,
    problems: Vec<Problem>,
    fetcher: Option<Arc<dyn SegmentFetcher>>,
}

impl Store {
    /// Opens the store at `root`, finding its sessions.
    pub fn open(root: impl AsRef<Path>) -> Result<Self, StoreError> {
        let root = root.as_ref().to_path_buf();
        let entries = fs::read_dir(&root).map_err(|source| {
            if source.kind() == io::ErrorKind::NotFound {
                StoreError::NotFound(root.clone())
            } else {
                StoreError::Io {
                    path: root.clone(),
                    source,
                }
            }
        })?;
        let mut sessions = Vec::new();
        let mut problems = Vec::new();
        for entry in entries.flatten() {
            let dir = entry.path();
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let meta_path = dir.join(METADATA_FILE);
            let metadata = match fs::read(&meta_path) {
                Ok(bytes) => match serde_json::from_slice::<SessionMetadata>(&bytes) {
                    Ok(mut m) => {
                        // The counters file is newer during and after a full disk; a
                        // torn or missing one is simply not used.
                        if let Some(counters) = fs::read(dir.join(COUNTERS_FILE))
                            .ok()
                            .and_then(|b| serde_json::from_slice::<SessionCounters>(&b).ok())
                        {
                            m.merge_counters(counters);
                        }
                        Some(m)
                    }
                    Err(e) => {
                        problems.push(Problem::BadMetadata {
                            file: meta_path,
                            reason: e.to_string(),
                        });
                        None
                    }
                },
                Err(_) => None,
            };
            let has_segments = segment_files(&dir).is_ok_and(|f| !f.is_empty());
            if metadata.is_none() && !has_segments {
                continue;
            }
            sessions.push(Arc::new(SessionInfo {
                name: entry.file_name().to_string_lossy().into_owned(),
                dir,
                metadata,
            }));
        }
        sessions.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Self {
            root,
            sessions,
            problems,
            fetcher: None,
        })
    }

    /// Reads each segment through `fetcher` before its frames are read.
    pub fn with_fetcher(mut self, fetcher: Arc<dyn SegmentFetcher>) -> Self {
        self.fetcher = Some(fetcher);
        self
    }

    fn loader(&self) -> Loader {
        Loader {
            cache: Vec::new(),
            fetcher: self.fetcher.clone(),
        }
    }

    /// The recording root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The sessions, by name.
    pub fn sessions(&self) -> &[Arc<SessionInfo>] {
        &self.sessions
    }

    /// Every byte the store holds as a reader sees it: each segment's frames
    /// decompressed (a frame that does not validate or decompress as it is on disk),
    /// then every other file of each session (indexes, metadata, counters) as it is.
    /// For checking what reached the disk, such as that no secret did:
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// let store = retrace::Store::open(dir.path())?;
    /// let bytes = store.plain_bytes()?;
    /// assert!(!bytes.windows(6).any(|w| w == b"s3cr3t"));
    /// # Ok(()) }
    /// ```
    pub fn plain_bytes(&self) -> Result<Vec<u8>, StoreError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StoreError::Io { path, source }
        };
        let mut all = Vec::new();
        for session in &self.sessions {
            let segments = segment_files(&session.dir).map_err(io(&session.dir))?;
            for segment in &segments {
                let data = fs::read(segment).map_err(io(segment))?;
                // An encrypted segment is read as a reader with the keyring's
                // identities reads it; without one, as it is on disk.
                let body = crate::segment::Body::read(&data, crate::segment::SEGMENT_MAGIC).ok();
                let start = body
                    .as_ref()
                    .map_or(crate::segment::HEADER_LEN, |b| b.start);
                let mut frames = crate::segment::Frames::new(&data, start);
                let mut any = false;
                let mut opened = Vec::new();
                for frame in frames.by_ref() {
                    let Ok(frame) = frame else { continue };
                    any = true;
                    let payload = body
                        .as_ref()
                        .and_then(|b| b.open(frame.payload, frame.offset, &mut opened).ok())
                        .unwrap_or(frame.payload);
                    let mut raw = Vec::new();
                    match crate::segment::codec::decompress_payload(payload, &mut raw) {
                        Ok(()) => all.extend_from_slice(&raw),
                        Err(_) => all.extend_from_slice(payload),
                    }
                }
                if !any {
                    all.extend_from_slice(data.get(start..).unwrap_or_default());
                }
            }
            let entries = fs::read_dir(&session.dir).map_err(io(&session.dir))?;
            for entry in entries {
                let path = entry.map_err(io(&session.dir))?.path();
                if path.is_file() && !segments.contains(&path) {
                    all.extend_from_slice(&fs::read(&path).map_err(io(&path))?);
                }
            }
        }
        Ok(all)
    }

    /// Lists every recording, newest first, with the problems met.
    pub fn list(&self) -> Listing {
        let mut listing = Listing {
            recordings: Vec::new(),
            problems: self.problems.clone(),
        };
        for session in &self.sessions {
            self.list_session(session, &mut listing);
        }
        listing
            .recordings
            .sort_by_key(|r| std::cmp::Reverse(r.summary.id));
        listing
    }

    fn list_session(&self, session: &Arc<SessionInfo>, listing: &mut Listing) {
        let files = match segment_files(&session.dir) {
            Ok(f) => f,
            Err(e) => {
                listing.problems.push(Problem::Unreadable {
                    file: session.dir.clone(),
                    reason: e.to_string(),
                });
                return;
            }
        };
        let mut by_id: HashMap<RecordingId, usize> = HashMap::new();
        let first = listing.recordings.len();
        for file in files {
            let mut contents = read_segment(&file);
            listing.problems.append(&mut contents.problems);
            for entry in contents.entries {
                let location = Location {
                    segment: file.clone(),
                    frames: entry.frames,
                };
                match by_id.get(&entry.id) {
                    Some(&i) => {
                        let info = &mut listing.recordings[first + i];
                        info.summary.merge(&entry.summary);
                        info.locations.push(location);
                    }
                    None => {
                        by_id.insert(entry.id, listing.recordings.len() - first);
                        listing.recordings.push(RecordingInfo {
                            summary: entry.summary,
                            session: Arc::clone(session),
                            locations: vec![location],
                        });
                    }
                }
            }
        }
    }

    /// Finds a listed recording by full id or unique prefix.
    pub fn find<'a>(
        listing: &'a Listing,
        id_or_prefix: &str,
    ) -> Result<&'a RecordingInfo, StoreError> {
        IdFinder::new(listing).find(id_or_prefix)
    }
}

/// Finds recordings of a listing by id or unique prefix, many lookups for the price of
/// one sort (what [`Store::find`] does once).
#[derive(Debug)]
pub struct IdFinder<'a> {
    /// Every recording's id as text, sorted, with its place in the listing.
    ids: Vec<(String, usize)>,
    listing: &'a Listing,
}

impl<'a> IdFinder<'a> {
    /// Indexes `listing`'s recordings by id.
    pub fn new(listing: &'a Listing) -> Self {
        let mut ids: Vec<(String, usize)> = listing
            .recordings
            .iter()
            .enumerate()
            .map(|(i, r)| (r.summary.id.to_string(), i))
            .collect();
        ids.sort_by(|a, b| a.0.cmp(&b.0));
        Self { ids, listing }
    }

    /// The recording with this id or unique id prefix (case-insensitive).
    pub fn find(&self, id_or_prefix: &str) -> Result<&'a RecordingInfo, StoreError> {
        let text = id_or_prefix.trim();
        let prefix = normalize_id_prefix(text)
            .filter(|p| !p.is_empty() && p.len() <= crate::id::RECORDING_ID_LEN)
            .ok_or_else(|| StoreError::InvalidId(text.to_owned()))?;
        let start = self
            .ids
            .partition_point(|(id, _)| id.as_str() < prefix.as_str());
        let mut places: Vec<usize> = self.ids[start..]
            .iter()
            .take_while(|(id, _)| id.starts_with(&prefix))
            .map(|&(_, i)| i)
            .collect();
        // In the listing's order (newest first), as candidates are shown.
        places.sort_unstable();
        let matches: Vec<&'a RecordingInfo> = places
            .into_iter()
            .map(|i| &self.listing.recordings[i])
            .collect();
        match matches.as_slice() {
            [] => Err(StoreError::UnknownId(text.to_owned())),
            [one] => Ok(one),
            many => {
                // A full id can only match more than once if the same recording is in
                // two sessions (a copied directory); take the first.
                if prefix.len() == crate::id::RECORDING_ID_LEN {
                    return Ok(many[0]);
                }
                let shown = 10.min(many.len());
                Err(StoreError::AmbiguousPrefix {
                    prefix: text.to_owned(),
                    candidates: many[..shown]
                        .iter()
                        .map(|r| r.summary.id.to_string())
                        .collect(),
                    more: many.len() - shown,
                })
            }
        }
    }
}

impl Store {
    /// Reads one recording by full id or unique prefix.
    pub fn get(&self, id_or_prefix: &str) -> Result<Recording, StoreError> {
        let listing = self.list();
        let info = Self::find(&listing, id_or_prefix)?;
        self.load(info)
    }

    /// Reads a listed recording's events.
    pub fn load(&self, info: &RecordingInfo) -> Result<Recording, StoreError> {
        self.loader().load(info)
    }

    /// Reads `infos`, in the order given, decoding each frame once: the recordings are
    /// read in the order they sit in their segments, so the recordings that share a
    /// frame (often hundreds) are read one after another from one decoded copy. This
    /// is how tools read many recordings at disk speed; [`load`](Self::load) one at a
    /// time decodes a whole frame for each.
    pub fn load_many(&self, infos: &[&RecordingInfo]) -> Vec<Result<Recording, StoreError>> {
        let mut order: Vec<usize> = (0..infos.len()).collect();
        let first = |info: &RecordingInfo| {
            info.locations
                .first()
                .map(|l| (l.segment.clone(), l.frames.first().copied().unwrap_or(0)))
        };
        order.sort_by_cached_key(|&i| first(infos[i]));
        let mut loader = self.loader();
        let mut loaded: Vec<Option<Result<Recording, StoreError>>> =
            (0..infos.len()).map(|_| None).collect();
        for i in order {
            loaded[i] = Some(loader.load(infos[i]));
        }
        loaded.into_iter().flatten().collect()
    }

    /// Reads every listed recording, oldest first; damaged ones come as errors.
    pub fn recordings(&self) -> impl Iterator<Item = Result<Recording, StoreError>> + '_ {
        let mut listing = self.list();
        listing.recordings.reverse();
        let mut loader = self.loader();
        listing
            .recordings
            .into_iter()
            .map(move |info| loader.load(&info))
    }
}

/// Loads recordings, keeping the last few decoded frames, since the recordings of one
/// frame are usually read one after another.
/// A frame: its segment and offset.
type FrameKey = (PathBuf, u64);

struct Loader {
    cache: Vec<(FrameKey, Arc<Vec<Chunk>>)>,
    fetcher: Option<Arc<dyn SegmentFetcher>>,
}

impl Loader {
    const CACHED_FRAMES: usize = 4;

    fn frame(&mut self, path: &Path, offset: u64) -> Result<Arc<Vec<Chunk>>, Problem> {
        if let Some((_, chunks)) = self
            .cache
            .iter()
            .find(|((p, o), _)| *o == offset && p == path)
        {
            return Ok(Arc::clone(chunks));
        }
        if let Some(fetcher) = &self.fetcher {
            fetcher.fetch(path).map_err(|reason| Problem::Unreadable {
                file: path.to_path_buf(),
                reason,
            })?;
        }
        let chunks = Arc::new(read_frame_chunks(path, offset)?);
        if self.cache.len() == Self::CACHED_FRAMES {
            self.cache.remove(0);
        }
        self.cache
            .push(((path.to_path_buf(), offset), Arc::clone(&chunks)));
        Ok(chunks)
    }

    fn load(&mut self, info: &RecordingInfo) -> Result<Recording, StoreError> {
        let id = info.summary.id;
        let mut chunks: Vec<Chunk> = Vec::new();
        for location in &info.locations {
            for &offset in &location.frames {
                let frame = self
                    .frame(&location.segment, offset)
                    .map_err(|problem| StoreError::Damaged { id, problem })?;
                chunks.extend(frame.iter().filter(|c| c.id == id).cloned());
            }
        }
        chunks.sort_by_key(|c| c.seq);
        Ok(Recording {
            id,
            session: Arc::clone(&info.session),
            summary: info.summary.clone(),
            events: chunks.into_iter().flat_map(|c| c.events).collect(),
        })
    }
}
