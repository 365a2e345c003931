//! The open segment's index, kept in memory in the form it is written in.
//!
//! A segment indexes up to [`MAX_INDEX_ENTRIES`](super::segment_file::MAX_INDEX_ENTRIES)
//! recordings, and its index stays in memory until the segment closes. As structs
//! (an [`IndexEntry`] is 240 bytes, plus its frame list and URI on the heap, plus a
//! place in a map of ids) that was about 12 MiB at the end of a full segment, most of
//! what recording every request added to a service's resident memory. A recording
//! whose last chunk is in the segment cannot change its entry any more, so the entry
//! is encoded there and then (about 90 bytes with a short URI) and only recordings
//! still going on stay as structs. Closing the segment then writes out bytes it
//! already has.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::ops::Range;

use serde::Serialize;

use super::segment_file::{IdHasher, MAX_INDEX_ENTRIES};
use crate::encryption::{SEAL_OVERHEAD, Sealer};
use crate::id::RecordingId;
use crate::segment::codec::append_encoded;
use crate::segment::{FRAME_OVERHEAD, IndexEntry, begin_index, end_index};
use crate::summary::Summary;

/// One recording's place in the index, in the order its first chunk was written.
#[derive(Debug)]
enum Slot {
    /// A recording that ended in this segment: its entry's bytes in
    /// [`IndexBuilder::encoded`].
    Encoded(Range<usize>),
    /// A recording whose last chunk is not in the segment (yet).
    Open(Box<IndexEntry>),
}

/// The entries of a segment being written; encodes to exactly the bytes of the
/// [`SegmentIndex`](crate::segment::SegmentIndex) holding them.
#[derive(Debug)]
pub(crate) struct IndexBuilder {
    slots: Vec<Slot>,
    /// Ended recordings' entries, postcard-encoded, in the order they ended.
    encoded: Vec<u8>,
    /// Where each open recording's slot is.
    open: HashMap<RecordingId, usize, BuildHasherDefault<IdHasher>>,
}

/// Bytes reserved for the encoded entries of a segment: a full segment's worth at the
/// usual size of an entry. Reserved, not touched: the pages become resident as entries
/// fill them, and the buffer never grows by copying itself (a copy the allocator may
/// keep resident after freeing it) unless entries run larger.
const RESERVED_BYTES: usize = MAX_INDEX_ENTRIES * 96 + 256;

impl Default for IndexBuilder {
    fn default() -> Self {
        Self {
            slots: Vec::with_capacity(MAX_INDEX_ENTRIES),
            encoded: Vec::with_capacity(RESERVED_BYTES),
            open: HashMap::default(),
        }
    }
}

impl IndexBuilder {
    /// Recordings indexed so far.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Records that a frame at `offset` holds a chunk summarised by `summary`.
    ///
    /// No chunk follows a recording's last, so an ended recording is not looked up
    /// again; if one did, it would start a second entry, which readers merge by id as
    /// they merge a recording's entries across segments.
    pub(crate) fn note(&mut self, offset: u64, summary: Summary) {
        let Some(&slot) = self.open.get(&summary.id) else {
            // Most recordings are one chunk: encoded from their parts, without an
            // entry (whose frame list is an allocation of its own).
            let slot = match encode_if_ended(summary.id, &[offset], &summary, &mut self.encoded) {
                Some(range) => Slot::Encoded(range),
                None => {
                    self.open.insert(summary.id, self.slots.len());
                    Slot::Open(Box::new(IndexEntry {
                        id: summary.id,
                        frames: vec![offset],
                        summary,
                    }))
                }
            };
            self.slots.push(slot);
            return;
        };
        let Slot::Open(entry) = &mut self.slots[slot] else {
            return;
        };
        if entry.frames.last() != Some(&offset) {
            entry.frames.push(offset);
        }
        entry.summary.merge(&summary);
        if let Some(range) =
            encode_if_ended(entry.id, &entry.frames, &entry.summary, &mut self.encoded)
        {
            self.open.remove(&summary.id);
            self.slots[slot] = Slot::Encoded(range);
        }
    }

    /// The postcard encoding of the [`SegmentIndex`](crate::segment::SegmentIndex) of
    /// a segment `segment_len` bytes long holding these entries.
    #[cfg(test)]
    fn encode_index(&self, segment_len: u64) -> Result<Vec<u8>, postcard::Error> {
        let mut out = Vec::with_capacity(self.encoded.len() + 32);
        self.append_fields(segment_len, &mut out)?;
        self.append_entries(&mut out)?;
        Ok(out)
    }

    /// Appends the entries' encodings, in the order their recordings began.
    fn append_entries(&self, out: &mut Vec<u8>) -> Result<(), postcard::Error> {
        for slot in &self.slots {
            match slot {
                Slot::Encoded(range) => out.extend_from_slice(&self.encoded[range.clone()]),
                Slot::Open(entry) => append_encoded(&**entry, out)?,
            }
        }
        Ok(())
    }

    /// Appends what the index's encoding holds before its entries: a struct is its
    /// fields in order, a sequence its length and then its elements.
    fn append_fields(&self, segment_len: u64, out: &mut Vec<u8>) -> Result<(), postcard::Error> {
        append_encoded(&segment_len, out)?;
        append_encoded(&(self.slots.len() as u64), out)
    }

    /// Whether the encoded entries are the index's entries in order: every recording
    /// ended, each in the order it began (one chunk each, the common case).
    fn encoded_in_order(&self) -> bool {
        let mut end = 0;
        for slot in &self.slots {
            match slot {
                Slot::Encoded(range) if range.start == end => end = range.end,
                _ => return false,
            }
        }
        end == self.encoded.len()
    }

    /// The index file of a segment `segment_len` bytes long holding these entries,
    /// encrypted with the segment's data key when it has one.
    ///
    /// A plain file is built in place of the encoded entries when they are already in
    /// order; otherwise the file is built in one buffer (and sealed there) after which
    /// they are freed: at most one copy of the index beside the entries, where
    /// building the payload, then its sealed copy, then the file held three.
    pub(crate) fn into_file(
        self,
        segment_len: u64,
        sealer: Option<&Sealer>,
    ) -> Result<Vec<u8>, postcard::Error> {
        if sealer.is_none() && self.encoded_in_order() {
            let mut head = Vec::with_capacity(64);
            let frame = begin_index(&mut head, None);
            self.append_fields(segment_len, &mut head)?;
            let mut file = self.encoded;
            file.reserve_exact(head.len() + FRAME_OVERHEAD);
            file.splice(0..0, head);
            end_index(&mut file, frame, None);
            return Ok(file);
        }
        let envelope = sealer.map_or(0, |s| s.envelope().len() + FRAME_OVERHEAD + SEAL_OVERHEAD);
        let mut file = Vec::with_capacity(self.encoded.len() + envelope + 64);
        let frame = begin_index(&mut file, sealer);
        self.append_fields(segment_len, &mut file)?;
        self.append_entries(&mut file)?;
        drop(self);
        end_index(&mut file, frame, sealer);
        Ok(file)
    }
}

/// An [`IndexEntry`] as borrowed parts: encodes to the same bytes (postcard writes a
/// struct as its fields in order, and a slice as a `Vec`), so its fields follow
/// `IndexEntry`'s; `the_index_is_the_bytes_of_the_segment_index_it_holds` fails when
/// they part.
#[derive(Serialize)]
struct EntryParts<'a> {
    id: RecordingId,
    frames: &'a [u64],
    summary: &'a Summary,
}

/// Appends the entry of recording `id` to `encoded` if the recording has ended, and
/// says where. `None` keeps it open, also when it cannot be encoded (closing the
/// segment then reports the error).
fn encode_if_ended(
    id: RecordingId,
    frames: &[u64],
    summary: &Summary,
    encoded: &mut Vec<u8>,
) -> Option<Range<usize>> {
    if !summary.ended() {
        return None;
    }
    let start = encoded.len();
    match append_encoded(
        &EntryParts {
            id,
            frames,
            summary,
        },
        encoded,
    ) {
        Ok(()) => Some(start..encoded.len()),
        Err(_) => {
            encoded.truncate(start);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::RecordReason;
    use crate::segment::SegmentIndex;

    /// A chunk's summary: `seq` of a recording, the last one when `last`.
    fn chunk(id: RecordingId, seq: u32, last: bool) -> Summary {
        let mut s = Summary::new(id);
        s.chunks_seen = 1;
        s.events = 3;
        if seq == 0 {
            s.method = "POST".into();
            s.uri = format!("/orders/{}?page=2", id.as_u128() % 1000);
        }
        if last {
            s.last_chunk = Some(seq);
            s.status = Some(201);
            s.duration_us = Some(1_234);
            s.reason = Some(RecordReason::Sampled);
        }
        s
    }

    /// What the builder's notes must come to: entries as `SegmentFile` kept them
    /// before, one per recording in the order its first chunk was written.
    fn reference(notes: &[(u64, Summary)]) -> Vec<IndexEntry> {
        let mut entries: Vec<IndexEntry> = Vec::new();
        for (offset, summary) in notes {
            match entries.iter_mut().find(|e| e.id == summary.id) {
                Some(e) => {
                    if e.frames.last() != Some(offset) {
                        e.frames.push(*offset);
                    }
                    e.summary.merge(summary);
                }
                None => entries.push(IndexEntry {
                    id: summary.id,
                    frames: vec![*offset],
                    summary: summary.clone(),
                }),
            }
        }
        entries
    }

    #[test]
    fn the_index_is_the_bytes_of_the_segment_index_it_holds() {
        let [a, b, c, d] =
            [1u128, 2, 3, 4].map(|n| RecordingId::from_parts(1_700_000_000_000, n << 90 | n));
        let notes = vec![
            // `a` spans three frames, two chunks in the second; `b` is one chunk; `c`
            // ends before `a` does; `d` is still going when the segment closes.
            (16, chunk(a, 0, false)),
            (16, chunk(b, 0, true)),
            (300, chunk(a, 1, false)),
            (300, chunk(c, 0, false)),
            (300, chunk(a, 2, false)),
            (700, chunk(c, 1, true)),
            (700, chunk(d, 0, false)),
            (900, chunk(a, 3, true)),
        ];
        let mut builder = IndexBuilder::default();
        for (offset, summary) in notes.clone() {
            builder.note(offset, summary);
        }
        assert_eq!(builder.len(), 4);
        // Only the recording still going on is kept as a struct.
        assert_eq!(builder.open.len(), 1);
        assert!(builder.open.contains_key(&d));

        let expected = SegmentIndex {
            segment_len: 1_000,
            entries: reference(&notes),
        };
        assert_eq!(
            builder.encode_index(1_000).expect("encodes"),
            postcard::to_stdvec(&expected).expect("encodes")
        );
        let read: SegmentIndex =
            postcard::from_bytes(&builder.encode_index(1_000).expect("encodes")).expect("decodes");
        assert_eq!(read, expected);
        assert_eq!(read.entries[0].frames, vec![16, 300, 900]);
        assert!(read.entries[0].summary.ended());
        assert!(!read.entries[3].summary.ended());

        // Out of order (`c` ended before `a`, `d` is open): built in a buffer of its own.
        assert!(!builder.encoded_in_order());
        assert_eq!(
            builder.into_file(1_000, None).expect("encodes"),
            expected.encode().expect("encodes")
        );
    }

    #[test]
    fn an_index_of_ended_recordings_is_built_in_place_as_the_segment_index_file() {
        let mut builder = IndexBuilder::default();
        let mut notes = Vec::new();
        for n in 0..300u128 {
            let summary = chunk(
                RecordingId::from_parts(1_700_000_000_000 + n as u64, n),
                0,
                true,
            );
            notes.push((16 + n as u64 * 100, summary.clone()));
            builder.note(16 + n as u64 * 100, summary);
        }
        assert!(builder.encoded_in_order());
        let expected = SegmentIndex {
            segment_len: 30_016,
            entries: reference(&notes),
        };
        let entries_at = builder.encoded.as_ptr();
        let file = builder.into_file(30_016, None).expect("encodes");
        // In place: the file is the entries' own buffer, not a copy beside it.
        assert_eq!(file.as_ptr(), entries_at);
        assert_eq!(file, expected.encode().expect("encodes"));
        assert_eq!(SegmentIndex::decode(&file).expect("reads"), expected);
    }

    #[cfg(feature = "encryption")]
    #[test]
    fn an_encrypted_index_is_sealed_where_it_is_built_to_the_same_bytes() {
        use age::secrecy::ExposeSecret;
        let identity = age::x25519::Identity::generate();
        crate::encryption::keyring()
            .add_identity(identity.to_string().expose_secret())
            .expect("identity");
        let sealer = Sealer::new(&[identity.to_public().to_string()]).expect("recipient");
        let id = RecordingId::from_parts(1_700_000_000_000, 7);
        let notes = vec![(16, chunk(id, 0, false)), (400, chunk(id, 1, true))];
        let mut builder = IndexBuilder::default();
        for (offset, summary) in notes.clone() {
            builder.note(offset, summary);
        }
        let expected = SegmentIndex {
            segment_len: 500,
            entries: reference(&notes),
        };
        let file = builder.into_file(500, Some(&sealer)).expect("encodes");
        assert_eq!(SegmentIndex::decode(&file).expect("opens"), expected);

        // The same bytes as sealing a copy of the payload and framing that: the header,
        // the envelope frame, then the sealed payload's frame.
        let payload = postcard::to_stdvec(&expected).expect("encodes");
        let mut sealed = Vec::new();
        sealer.seal(&payload, crate::encryption::INDEX_POSITION, &mut sealed);
        let mut apart = crate::segment::SegmentHeader::ENCRYPTED
            .encode_with(crate::segment::INDEX_MAGIC)
            .to_vec();
        crate::segment::encode_frame(sealer.envelope(), &mut apart);
        crate::segment::encode_frame(&sealed, &mut apart);
        assert_eq!(file, apart);
        assert_eq!(file, expected.encode_sealed(&sealer).expect("encodes"));
    }

    #[test]
    fn an_empty_index_is_the_empty_segment_index() {
        let empty = SegmentIndex {
            segment_len: 16,
            entries: Vec::new(),
        };
        assert_eq!(
            IndexBuilder::default().encode_index(16).expect("encodes"),
            postcard::to_stdvec(&empty).expect("encodes")
        );
    }

    #[test]
    fn an_ended_recording_takes_its_encoded_size_not_a_struct() {
        let mut builder = IndexBuilder::default();
        for n in 0..1_000u128 {
            builder.note(
                16 + n as u64 * 10,
                chunk(RecordingId::from_parts(1_700_000_000_000, n), 0, true),
            );
        }
        assert!(builder.open.is_empty());
        assert!(
            builder
                .slots
                .iter()
                .all(|slot| matches!(slot, Slot::Encoded(range) if !range.is_empty()))
        );
        let per_entry = builder.encoded.len() / 1_000;
        // 92 bytes here, where the struct alone (without its heap) is 240.
        assert!(
            per_entry * 2 < std::mem::size_of::<IndexEntry>(),
            "{per_entry} bytes an entry, against {} as a struct",
            std::mem::size_of::<IndexEntry>()
        );
    }
}
