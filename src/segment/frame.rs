//! Frames: `[len u32 LE][crc32 u32 LE][payload; len][trailer; 4]`.
//!
//! The checksum is CRC-32 (IEEE) over the four length bytes and the payload. The
//! trailer is a fixed constant; since a frame is written with one `write` call, a crash
//! can only cut it short, and a cut frame lacks its trailer.

use super::MAX_FRAME_BYTES;

/// The fixed bytes that end every frame.
pub const FRAME_TRAILER: [u8; 4] = [0xF5, b'R', b'T', b'\n'];
/// Bytes a frame adds around its payload.
pub const FRAME_OVERHEAD: usize = 12;

/// Appends one frame holding `payload` to `out`.
///
/// The caller keeps `payload` within [`MAX_FRAME_BYTES`]; a longer one is a bug in the
/// writer, which checks before it calls this.
pub fn encode_frame(payload: &[u8], out: &mut Vec<u8>) {
    debug_assert!(payload.len() <= MAX_FRAME_BYTES);
    out.reserve(payload.len() + FRAME_OVERHEAD);
    let at = begin_frame(out);
    out.extend_from_slice(payload);
    end_frame(out, at);
}

/// Bytes of a frame before its payload: the length and the checksum.
pub(crate) const FRAME_HEAD: usize = 8;

/// Starts a frame at the end of `out`, for a payload the caller writes after it (so a
/// large payload need not be built apart and copied in); [`end_frame`] completes it.
/// Returns where the frame begins.
pub(crate) fn begin_frame(out: &mut Vec<u8>) -> usize {
    let at = out.len();
    out.extend_from_slice(&[0; FRAME_HEAD]);
    at
}

/// Completes the frame [`begin_frame`] started at `at`: everything after its head is
/// its payload.
pub(crate) fn end_frame(out: &mut Vec<u8>, at: usize) {
    let len = ((out.len() - at - FRAME_HEAD) as u32).to_le_bytes();
    let crc = checksum(&len, &out[at + FRAME_HEAD..]);
    out[at..at + 4].copy_from_slice(&len);
    out[at + 4..at + FRAME_HEAD].copy_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&FRAME_TRAILER);
}

fn checksum(len: &[u8; 4], payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(len);
    h.update(payload);
    h.finalize()
}

/// One valid frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// Offset of the frame's first byte within the data it was read from.
    pub offset: u64,
    /// The payload.
    pub payload: &'a [u8],
}

/// What went wrong with the bytes at an offset.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// Bytes that do not form a valid frame, followed by frames that do: the reader
    /// resumes at `resumed_at`.
    #[error("corrupt frame at offset {offset}: {reason}; {skipped} bytes skipped")]
    Corrupt {
        /// Where the bad bytes start.
        offset: u64,
        /// What was wrong with the first frame there.
        reason: &'static str,
        /// How many bytes were skipped to reach the next valid frame.
        skipped: u64,
        /// Where reading resumed.
        resumed_at: u64,
    },
    /// Bytes at the end that do not form a frame and are followed by nothing valid: a
    /// write cut short by a crash. Everything before `offset` is intact.
    #[error("torn tail at offset {offset}: {reason}; the last {len} bytes are unusable")]
    TornTail {
        /// Where the torn bytes start.
        offset: u64,
        /// How many bytes are unusable.
        len: u64,
        /// What was wrong with them.
        reason: &'static str,
    },
}

impl FrameError {
    /// The offset the problem starts at.
    pub fn offset(&self) -> u64 {
        match self {
            Self::Corrupt { offset, .. } | Self::TornTail { offset, .. } => *offset,
        }
    }
}

/// Checks the frame starting at `pos`; on success returns its payload range.
fn check_frame(data: &[u8], pos: usize) -> Result<(usize, usize), &'static str> {
    let (from, to) = check_shape(data, pos)?;
    check_crc(data, pos, from, to)
}

/// Checks everything but the checksum: length within limits and the data, trailer in
/// place. Returns the payload range.
fn check_shape(data: &[u8], pos: usize) -> Result<(usize, usize), &'static str> {
    let rest = &data[pos..];
    if rest.len() < 8 {
        return Err("the frame header is cut short");
    }
    let len_bytes: [u8; 4] = [rest[0], rest[1], rest[2], rest[3]];
    let len = u32::from_le_bytes(len_bytes) as usize;
    if len > MAX_FRAME_BYTES {
        return Err("the length exceeds the frame size limit");
    }
    if rest.len() < FRAME_OVERHEAD + len {
        return Err("the frame runs past the end of the data");
    }
    if rest[8 + len..FRAME_OVERHEAD + len] != FRAME_TRAILER {
        return Err("the frame trailer is missing");
    }
    Ok((pos + 8, pos + 8 + len))
}

fn check_crc(
    data: &[u8],
    pos: usize,
    from: usize,
    to: usize,
) -> Result<(usize, usize), &'static str> {
    let len_bytes = [data[pos], data[pos + 1], data[pos + 2], data[pos + 3]];
    let crc = u32::from_le_bytes([data[pos + 4], data[pos + 5], data[pos + 6], data[pos + 7]]);
    if crc != checksum(&len_bytes, &data[from..to]) {
        return Err("checksum mismatch");
    }
    Ok((from, to))
}

/// Reads frames from `data`, starting at `start`, reporting and skipping bad bytes.
///
/// Yields every valid frame in order. A bad region followed by a valid frame yields one
/// [`FrameError::Corrupt`] and reading continues; a bad region that reaches the end
/// yields one [`FrameError::TornTail`] and ends the iteration.
#[derive(Debug)]
pub struct Frames<'a> {
    data: &'a [u8],
    pos: usize,
    base: u64,
}

impl<'a> Frames<'a> {
    /// Frames of `data` from offset `start`; offsets reported are relative to `data`.
    pub fn new(data: &'a [u8], start: usize) -> Self {
        Self::with_base(data, start, 0)
    }

    /// As [`new`](Self::new), reporting offsets as `base + position in data`.
    pub fn with_base(data: &'a [u8], start: usize, base: u64) -> Self {
        Self {
            data,
            pos: start.min(data.len()),
            base,
        }
    }

    /// The offset up to which the data was consumed.
    pub fn position(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// The next offset at or after `from` where a valid frame starts.
    ///
    /// Only offsets whose length and trailer line up are checksummed, and the bytes
    /// checksummed are capped at a few times the data's length: a crafted file that
    /// lines up trailers everywhere cannot make the search quadratic; it is then
    /// reported as damaged to its end.
    fn resync(&self, from: usize) -> Option<usize> {
        let end = self.data.len().saturating_sub(FRAME_OVERHEAD - 1);
        let mut budget = 4 * self.data.len() + 4096;
        for p in from..end {
            let Ok((f, t)) = check_shape(self.data, p) else {
                continue;
            };
            if t - f > budget {
                return None;
            }
            budget -= t - f;
            if check_crc(self.data, p, f, t).is_ok() {
                return Some(p);
            }
        }
        None
    }
}

impl<'a> Iterator for Frames<'a> {
    type Item = Result<Frame<'a>, FrameError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.data.len() {
            return None;
        }
        let start = self.pos;
        match check_frame(self.data, start) {
            Ok((from, to)) => {
                self.pos = to + FRAME_TRAILER.len();
                Some(Ok(Frame {
                    offset: self.base + start as u64,
                    payload: &self.data[from..to],
                }))
            }
            Err(reason) => match self.resync(start + 1) {
                Some(next) => {
                    self.pos = next;
                    Some(Err(FrameError::Corrupt {
                        offset: self.base + start as u64,
                        reason,
                        skipped: (next - start) as u64,
                        resumed_at: self.base + next as u64,
                    }))
                }
                None => {
                    self.pos = self.data.len();
                    Some(Err(FrameError::TornTail {
                        offset: self.base + start as u64,
                        len: (self.data.len() - start) as u64,
                        reason,
                    }))
                }
            },
        }
    }
}

/// Checks one frame at the start of `data` (as read from a known frame offset) and
/// returns its payload.
pub fn read_frame(data: &[u8]) -> Result<&[u8], &'static str> {
    check_frame(data, 0).map(|(from, to)| &data[from..to])
}

/// Reads the 4-byte length prefix of a frame, so a caller reading from a file knows
/// how many bytes to fetch; `None` when the length is over the limit.
pub fn frame_len(prefix: [u8; 4]) -> Option<usize> {
    let len = u32::from_le_bytes(prefix) as usize;
    (len <= MAX_FRAME_BYTES).then_some(len + FRAME_OVERHEAD)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three_frames() -> (Vec<u8>, Vec<usize>) {
        let mut data = Vec::new();
        let mut offsets = Vec::new();
        for p in [&b"alpha"[..], b"", b"gamma gamma"] {
            offsets.push(data.len());
            encode_frame(p, &mut data);
        }
        (data, offsets)
    }

    fn payloads(data: &[u8]) -> (Vec<Vec<u8>>, Vec<FrameError>) {
        let mut ok = Vec::new();
        let mut errs = Vec::new();
        for f in Frames::new(data, 0) {
            match f {
                Ok(f) => ok.push(f.payload.to_vec()),
                Err(e) => errs.push(e),
            }
        }
        (ok, errs)
    }

    #[test]
    fn frames_round_trip() {
        let (data, offsets) = three_frames();
        let frames: Vec<_> = Frames::new(&data, 0).collect::<Result<_, _>>().unwrap();
        assert_eq!(frames.len(), 3);
        assert_eq!(frames[2].payload, b"gamma gamma");
        assert_eq!(frames[1].offset as usize, offsets[1]);
        assert_eq!(read_frame(&data[offsets[2]..]).unwrap(), b"gamma gamma");
    }

    #[test]
    fn every_cut_keeps_the_frames_before_it() {
        let (data, offsets) = three_frames();
        for cut in 0..data.len() {
            let (ok, errs) = payloads(&data[..cut]);
            let whole = offsets
                .iter()
                .zip(offsets.iter().skip(1).chain([&data.len()]))
                .filter(|&(_, &end)| end <= cut)
                .count();
            assert_eq!(ok.len(), whole, "cut at {cut}");
            if offsets.contains(&cut) {
                assert!(errs.is_empty(), "cut at {cut}: {errs:?}");
            } else {
                assert!(
                    matches!(errs.as_slice(), [FrameError::TornTail { offset, .. }] if *offset as usize == offsets[whole]),
                    "cut at {cut}: {errs:?}"
                );
            }
        }
    }

    #[test]
    fn a_flipped_byte_in_the_middle_is_corruption_and_reading_resumes() {
        let (mut data, offsets) = three_frames();
        data[offsets[0] + 9] ^= 0x40;
        let (ok, errs) = payloads(&data);
        assert_eq!(ok, vec![b"".to_vec(), b"gamma gamma".to_vec()]);
        assert_eq!(
            errs,
            vec![FrameError::Corrupt {
                offset: 0,
                reason: "checksum mismatch",
                skipped: offsets[1] as u64,
                resumed_at: offsets[1] as u64,
            }]
        );
    }

    #[test]
    fn a_corrupt_length_cannot_pass_or_allocate() {
        let (mut data, offsets) = three_frames();
        data[offsets[1]..offsets[1] + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        let (ok, errs) = payloads(&data);
        assert_eq!(ok.len(), 2);
        assert_eq!(errs[0].offset(), offsets[1] as u64);
        assert!(
            errs[0].to_string().contains("frame size limit"),
            "{}",
            errs[0]
        );
        assert_eq!(frame_len(u32::MAX.to_le_bytes()), None);
    }

    #[test]
    fn garbage_after_valid_frames_is_a_torn_tail() {
        let (mut data, _) = three_frames();
        let end = data.len();
        data.extend_from_slice(b"\x05\x00\x00\x00garbage!");
        let (ok, errs) = payloads(&data);
        assert_eq!(ok.len(), 3);
        assert_eq!(
            errs,
            vec![FrameError::TornTail {
                offset: end as u64,
                len: 12,
                reason: "the frame runs past the end of the data"
            }]
        );
    }

    #[test]
    fn trailers_lined_up_everywhere_cannot_make_resync_quadratic() {
        // Every 4-byte-aligned length points at one trailer at the very end: each offset
        // passes the shape check and asks for a checksum over the rest of the file.
        // Unbounded, that is about n^2/8 bytes of CRC (125 GB for this 1 MiB input).
        let n = 1 << 20;
        let mut data = vec![0u8; n + 4];
        for p in (0..n - 8).step_by(4) {
            let len = (n - p - 8) as u32;
            data[p..p + 4].copy_from_slice(&len.to_le_bytes());
        }
        data[n..].copy_from_slice(&FRAME_TRAILER);
        let (ok, errs) = payloads(&data);
        assert!(ok.is_empty());
        assert!(
            matches!(errs.as_slice(), [FrameError::TornTail { offset: 0, .. }]),
            "{errs:?}"
        );
    }
}
