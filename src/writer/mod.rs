//! The background writer: one thread per [`Recorder`](crate::Recorder).
//!
//! It blocks for the first message, drains what else is queued, encodes the chunks
//! into frames (postcard, then lz4 per frame so a batch of similar requests compresses
//! well), and writes them with one `write` call per batch (or per interval). Control
//! messages travel on the data channel, so a flush acknowledges everything sent before
//! it. Frames rotate into a new segment by size and age; a closed segment gets its
//! index. I/O errors are counted, logged once per kind, and put the writer in a failed
//! state that drops (and counts) data until a retry, with back-off, succeeds: writing
//! resumes by itself when the disk has room again.
//!
//! With fsync on, each write is followed by one `fdatasync`: one per drained batch, and
//! a batch is whatever queued while the previous write and sync ran, so batches grow
//! with the load and one sync covers them (group commit; figures in
//! `benches/README.md`).

mod budget;
mod index_builder;
mod segment_file;
mod session;

use std::collections::HashSet;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, TryRecvError};

pub(crate) use budget::{METADATA_RESERVE, MIN_BUDGET};
pub(crate) use session::Session;
pub use session::SessionError;

use self::budget::{Admission, DiskBudget};
use self::segment_file::SegmentFile;
use crate::config::{Config, FlushPolicy};
use crate::encryption::Sealer;
use crate::hand_off::{Accounting, BufferPool, ChunkMessage, Message, WriterPause};
use crate::segment::{MAX_FRAME_BYTES, codec, encode_frame};
use crate::stats::{Counters, DropReason};
use crate::summary::Summary;

/// Messages drained per batch at most, so a flood cannot starve flushing.
const MAX_BATCH_MESSAGES: usize = 4096;
/// With an interval flush policy, write anyway once this much is buffered.
const MAX_BUFFERED_BYTES: usize = 8 << 20;
/// Longest wait between retries after an I/O error: a retry is one write attempt, so
/// probing this often costs nothing, and recording resumes within this much of the
/// disk taking writes again.
const MAX_BACKOFF: Duration = Duration::from_millis(500);
/// How often the writer retries a failed write of what it holds, at the least.
const RETRY_TICK: Duration = Duration::from_secs(1);
/// While traffic flows, the writer polls the channel at this pace instead of parking
/// on it: a parked receiver makes every send a futex wake-up (a system call on the
/// request path); a polling one costs the sender nothing.
const POLL_INTERVAL: Duration = Duration::from_millis(2);
/// How often, at most, the writer rewrites `counters.json` while counters change.
const COUNTERS_EVERY: Duration = Duration::from_secs(1);
/// Empty polls in a row before the writer parks until the next message or deadline:
/// 10 ms, so traffic denser than that is polled and sparser traffic (a request every
/// 50 ms) costs a few polls per message rather than a poll every 2 ms. Parked with
/// nothing due (no open segment to close by age, no counters to publish, nothing to
/// retry), the writer does not wake at all.
const POLLS_BEFORE_PARKING: u32 = 5;

pub(crate) fn spawn(
    session: Session,
    config: Arc<Config>,
    rx: Receiver<Message>,
    accounting: Arc<Accounting>,
    pause: Arc<WriterPause>,
    buffers: Arc<BufferPool>,
) -> std::io::Result<JoinHandle<()>> {
    let budget = config.max_disk_bytes.map(|max| {
        // A live writer closes a segment by age: one of another session idle for
        // twice that (and at least an hour) was left by a process that died.
        let abandoned = (config.segment_max_age * 2).max(Duration::from_secs(3600));
        DiskBudget::new(&config.recording_path, max, config.disk_policy)
            .for_session(session.dir(), abandoned)
    });
    let recipients: Option<Arc<[String]>> =
        (!config.encrypt_to.is_empty()).then(|| config.encrypt_to.clone().into());
    let writer = Writer {
        config,
        session,
        rx,
        accounting,
        pause,
        buffers,
        budget,
        recipients,
        sealed: Vec::new(),
        sealed_out: Vec::new(),
        segment: None,
        next_segment: 1,
        frame: FrameBuilder::default(),
        out: Vec::new(),
        out_frames: Vec::new(),
        last_write: Instant::now(),
        retry_at: None,
        backoff: Duration::from_millis(100),
        logged: HashSet::new(),
        index_reserved: 0,
        pending_indexes: Vec::new(),
        counters_published: Instant::now(),
        counters_on_disk: crate::stats::Stats::default(),
    };
    std::thread::Builder::new()
        .name("retrace-writer".to_owned())
        .spawn(move || writer.run())
}

/// The chunks of the frame being built.
#[derive(Default)]
struct FrameBuilder {
    /// Encoded chunks of the frame being built, back to back.
    raw: Vec<u8>,
    /// Where frames are compressed, reused from frame to frame and never cleared (a
    /// fresh buffer of this size per frame would be a fresh mapping, and page faults,
    /// with glibc's allocator; see `codec::compress_batch_reusing`).
    payload: Vec<u8>,
    parts: Vec<Summary>,
    lasts: u64,
    others: u64,
}

/// A frame encoded into the output buffer but not yet written.
struct PendingFrame {
    rel_offset: usize,
    parts: Vec<Summary>,
    lasts: u64,
    others: u64,
}

struct Writer {
    config: Arc<Config>,
    session: Session,
    rx: Receiver<Message>,
    accounting: Arc<Accounting>,
    pause: Arc<WriterPause>,
    buffers: Arc<BufferPool>,
    budget: Option<DiskBudget>,
    /// The recipients segments are encrypted to (`RETRACE_ENCRYPT_TO`); each segment
    /// gets a data key of its own.
    recipients: Option<Arc<[String]>>,
    /// Where a frame's payload is sealed, reused from frame to frame.
    sealed: Vec<u8>,
    /// Where a batch's sealed frames are built, swapped with the output buffer.
    sealed_out: Vec<u8>,
    segment: Option<SegmentFile>,
    next_segment: u32,
    frame: FrameBuilder,
    out: Vec<u8>,
    out_frames: Vec<PendingFrame>,
    last_write: Instant,
    retry_at: Option<Instant>,
    backoff: Duration,
    logged: HashSet<String>,
    /// Bytes reserved in the disk budget for the open segment's index.
    index_reserved: u64,
    /// Closed segments' indexes that could not be written yet, with the bytes the
    /// budget reserved for each.
    pending_indexes: Vec<(segment_file::PendingIndex, u64)>,
    /// When `counters.json` was last rewritten, and what it holds.
    counters_published: Instant,
    counters_on_disk: crate::stats::Stats,
}

impl Writer {
    /// The next message: polled while traffic flows, waited for once it stops.
    fn next_message(&mut self, idle_polls: &mut u32) -> Option<Message> {
        loop {
            if *idle_polls < POLLS_BEFORE_PARKING {
                match self.rx.try_recv() {
                    Ok(m) => {
                        *idle_polls = 0;
                        return Some(m);
                    }
                    Err(TryRecvError::Empty) => {
                        *idle_polls += 1;
                        std::thread::sleep(POLL_INTERVAL);
                        if self.flush_due() && !self.out.is_empty() {
                            self.write_out();
                        }
                        continue;
                    }
                    Err(TryRecvError::Disconnected) => return None,
                }
            }
            let received = match self.next_wake() {
                Some(wait) => self.rx.recv_timeout(wait),
                None => self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            match received {
                Ok(m) => {
                    *idle_polls = 0;
                    return Some(m);
                }
                Err(RecvTimeoutError::Timeout) => self.on_tick(),
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    fn run(mut self) {
        let mut idle_polls = POLLS_BEFORE_PARKING;
        loop {
            let Some(first) = self.next_message(&mut idle_polls) else {
                // Every recorder handle is gone without a shutdown: close cleanly.
                self.finish();
                return;
            };
            self.pause.wait_while_paused();
            // What was queued when `first` was taken (a producer may have refilled its
            // place since: never more than the capacity).
            let queued = (self.rx.len() + 1).min(self.rx.capacity().unwrap_or(usize::MAX));
            Counters::raise(&self.accounting.counters.queue_high_water, queued as u64);
            let mut next = Some(first);
            let mut drained = 0;
            while let Some(msg) = next.take() {
                drained += 1;
                match msg {
                    Message::Chunk(m) => self.on_chunk(m),
                    Message::Flush(ack) => {
                        self.seal_frame();
                        self.write_out();
                        if let Some(Err(e)) = self.segment.as_mut().map(SegmentFile::sync) {
                            self.io_error("fsync", &e);
                        }
                        self.publish_counters();
                        let _ = ack.send(());
                    }
                    Message::Shutdown(ack) => {
                        self.finish();
                        let _ = ack.send(());
                        // Dropping the receiver counts anything still queued as lost.
                        return;
                    }
                }
                if drained < MAX_BATCH_MESSAGES {
                    next = self.rx.try_recv().ok();
                }
            }
            self.seal_frame();
            if self.flush_due() {
                self.write_out();
            }
            if self.counters_published.elapsed() >= COUNTERS_EVERY {
                self.publish_counters();
            }
        }
    }

    /// Rewrites `counters.json` in place (see [`crate::metadata`]): it works when the
    /// disk is full, so the counters on disk show an outage while it lasts.
    fn publish_counters(&mut self) {
        self.counters_published = Instant::now();
        let stats = self.accounting.counters.snapshot();
        if stats == self.counters_on_disk {
            return;
        }
        match self.session.publish_counters(stats.clone()) {
            Ok(()) => self.counters_on_disk = stats,
            Err(e) => self.log_once("counters", &e.to_string()),
        }
    }

    /// How long the writer may sleep: until the next interval flush, the open segment's
    /// age limit, the next retry of a failed write, or the publication of counters
    /// that changed, whichever comes first; `None` when nothing is due, and the writer
    /// sleeps until a message comes.
    fn next_wake(&self) -> Option<Duration> {
        let mut wake: Option<Duration> = None;
        let mut due_in = |d: Duration| wake = Some(wake.map_or(d, |w| w.min(d)));
        if let FlushPolicy::Interval(d) = self.config.flush
            && !self.out.is_empty()
        {
            due_in(d.saturating_sub(self.last_write.elapsed()));
        }
        if let Some(segment) = &self.segment {
            due_in(self.config.segment_max_age.saturating_sub(segment.age()));
        }
        if !self.out.is_empty() || !self.pending_indexes.is_empty() {
            let retry = self.retry_at.map_or(Duration::ZERO, |t| {
                t.saturating_duration_since(Instant::now())
            });
            due_in(retry.min(RETRY_TICK));
        }
        if self.accounting.counters.snapshot() != self.counters_on_disk {
            due_in(COUNTERS_EVERY.saturating_sub(self.counters_published.elapsed()));
        }
        wake
    }

    fn flush_due(&self) -> bool {
        match self.config.flush {
            FlushPolicy::EveryBatch => true,
            FlushPolicy::Interval(d) => {
                self.last_write.elapsed() >= d || self.out.len() >= MAX_BUFFERED_BYTES
            }
        }
    }

    fn on_tick(&mut self) {
        if self.flush_due() || matches!(self.config.flush, FlushPolicy::EveryBatch) {
            self.write_out();
        }
        self.rotate_if_due();
        if self.counters_published.elapsed() >= COUNTERS_EVERY {
            self.publish_counters();
        }
    }

    fn finish(&mut self) {
        self.seal_frame();
        self.write_out();
        self.close_segment();
        let stats = self.accounting.counters.snapshot();
        if let Err(e) = self.session.update(stats, true) {
            self.log_once("metadata", &e.to_string());
        }
    }

    fn on_chunk(&mut self, mut msg: ChunkMessage) {
        let last = msg.is_last();
        let bytes = msg.bytes();
        let held = msg.held_bytes();
        let remnant = msg.take_remnant();
        let Some(chunk) = msg.take() else {
            return;
        };
        drop(msg);
        let c = &self.accounting.counters;
        Counters::add(&c.events, chunk.events.len() as u64);
        Counters::add(&c.raw_bytes, bytes as u64);
        if self.retry_at.is_some_and(|t| Instant::now() < t) {
            self.accounting.count_loss(last, DropReason::IoError);
            return;
        }
        // Encoded straight into the frame; on failure the frame is cut back to where
        // this chunk began.
        let f = &mut self.frame;
        let start = f.raw.len();
        match codec::append_encoded(&chunk, &mut f.raw) {
            Ok(()) => {
                let len = f.raw.len() - start;
                if len > MAX_FRAME_BYTES {
                    f.raw.truncate(start);
                    self.accounting.count_loss(last, DropReason::EncodeError);
                    self.log_once("encode", "a chunk exceeds the frame size limit");
                    return;
                }
                if start > 0 && f.raw.len() > self.config.frame_target_bytes {
                    self.seal_frame_before(start);
                }
                let f = &mut self.frame;
                let mut summary = Summary::new(chunk.id);
                summary.absorb(&chunk);
                f.parts.push(summary);
                if last {
                    f.lasts += 1;
                } else {
                    f.others += 1;
                }
                self.buffers.give(chunk.events, held, remnant);
            }
            Err(e) => {
                self.frame.raw.truncate(start);
                self.accounting.count_loss(last, DropReason::EncodeError);
                self.log_once("encode", &e.to_string());
            }
        }
    }

    /// Compresses the frame being built into the output buffer.
    fn seal_frame(&mut self) {
        self.seal_frame_before(self.frame.raw.len());
    }

    /// Compresses the first `end` bytes of the frame being built (the chunks noted so
    /// far) into the output buffer; what follows starts the next frame.
    fn seal_frame_before(&mut self, end: usize) {
        if end == 0 {
            return;
        }
        let f = &mut self.frame;
        let seal_overhead = if self.recipients.is_some() {
            crate::encryption::SEAL_OVERHEAD
        } else {
            0
        };
        let compressed = codec::compress_batch_reusing(&f.raw[..end], &mut f.payload)
            .ok()
            .map(<[u8]>::len)
            .filter(|&len| len + seal_overhead <= MAX_FRAME_BYTES);
        // The next frame's list starts as large as this one's was: grown from empty,
        // a frame of a few hundred recordings reallocated (and copied) it nine times.
        let next = Vec::with_capacity(f.parts.len());
        let parts = std::mem::replace(&mut f.parts, next);
        let (lasts, others) = (std::mem::take(&mut f.lasts), std::mem::take(&mut f.others));
        f.raw.drain(..end);
        let Some(payload_len) = compressed else {
            self.count_losses(lasts, others, DropReason::EncodeError);
            self.log_once(
                "encode",
                "a frame could not be compressed within the size limit",
            );
            return;
        };
        let rel_offset = self.out.len();
        // Plain for now: sealing needs the frame's offset in its segment, known when
        // the batch is written (`seal_out`).
        encode_frame(&self.frame.payload[..payload_len], &mut self.out);
        self.out_frames.push(PendingFrame {
            rel_offset,
            parts,
            lasts,
            others,
        });
    }

    fn count_losses(&self, lasts: u64, others: u64, reason: DropReason) {
        let c = &self.accounting.counters;
        for _ in 0..lasts {
            c.drop_recording(reason);
        }
        for _ in 0..others {
            c.drop_chunk(reason);
        }
    }

    fn drop_pending(&mut self, reason: DropReason) {
        self.out.clear();
        for f in std::mem::take(&mut self.out_frames) {
            self.count_losses(f.lasts, f.others, reason);
        }
    }

    /// Seals each frame of the output buffer with the segment's key, at the offset it
    /// will have in the segment, and notes the frames' new places.
    fn seal_out(&mut self, sealer: &Sealer, base: u64) {
        self.sealed_out.clear();
        let ends: Vec<usize> = self
            .out_frames
            .iter()
            .skip(1)
            .map(|f| f.rel_offset)
            .chain(std::iter::once(self.out.len()))
            .collect();
        for (f, end) in self.out_frames.iter_mut().zip(ends) {
            // Encoded by `seal_frame_before` a moment ago: it reads back.
            let Ok(payload) = crate::segment::frame::read_frame(&self.out[f.rel_offset..end])
            else {
                continue;
            };
            let rel_offset = self.sealed_out.len();
            sealer.seal(payload, base + rel_offset as u64, &mut self.sealed);
            encode_frame(&self.sealed, &mut self.sealed_out);
            f.rel_offset = rel_offset;
        }
        std::mem::swap(&mut self.out, &mut self.sealed_out);
    }

    /// Writes the output buffer to the current segment (opening one if needed).
    fn write_out(&mut self) {
        self.last_write = Instant::now();
        if self.out.is_empty() {
            return;
        }
        // What the batch adds to the disk: its frames, the header of a new segment,
        // and (at most) what its recordings add to the segment's index.
        let recipients = self.recipients.as_deref();
        let header = if self.segment.is_none() {
            segment_file::header_bound(recipients) + segment_file::index_overhead_bound(recipients)
        } else {
            0
        };
        // Sealing adds a tag to each frame.
        let sealing = if recipients.is_some() {
            (self.out_frames.len() * crate::encryption::SEAL_OVERHEAD) as u64
        } else {
            0
        };
        let index_growth: u64 = self
            .out_frames
            .iter()
            .flat_map(|f| &f.parts)
            .map(segment_file::index_entry_bound)
            .sum();
        if let Some(budget) = self.budget.as_mut() {
            let admission = budget.admit(self.out.len() as u64 + sealing + header + index_growth);
            let (Admission::Fits { deleted } | Admission::Full { deleted }) = admission;
            Counters::add(&self.accounting.counters.segments_deleted, deleted);
            if matches!(admission, Admission::Full { .. }) {
                self.log_once(
                    "budget",
                    "the disk budget is reached; recordings are dropped",
                );
                self.drop_pending(DropReason::DiskBudget);
                return;
            }
        }
        if self.segment.is_none() {
            match SegmentFile::create(
                self.session.dir(),
                self.next_segment,
                self.session.file_mode(),
                self.recipients.as_deref(),
            ) {
                Ok(seg) => {
                    self.next_segment += 1;
                    Counters::add(&self.accounting.counters.written_bytes, seg.len());
                    if let Some(b) = self.budget.as_mut() {
                        b.wrote(seg.len(), seg.index_overhead());
                    }
                    self.index_reserved = seg.index_overhead();
                    self.segment = Some(seg);
                }
                Err(e) => {
                    self.next_segment += 1;
                    self.io_error("create segment", &e);
                    self.drop_pending(DropReason::IoError);
                    return;
                }
            }
        }
        let Some(seg) = self.segment.as_ref() else {
            return;
        };
        let base = seg.len();
        if let Some(sealer) = seg.sealer().cloned() {
            self.seal_out(&sealer, base);
        }
        let Some(seg) = self.segment.as_mut() else {
            return;
        };
        let began = Instant::now();
        match seg.append(&self.out, self.config.fsync) {
            Ok(()) => {
                let c = &self.accounting.counters;
                c.wrote_in(began.elapsed());
                Counters::add(&c.written_bytes, self.out.len() as u64);
                if let Some(b) = self.budget.as_mut() {
                    b.wrote(self.out.len() as u64, index_growth);
                }
                self.index_reserved += index_growth;
                for f in std::mem::take(&mut self.out_frames) {
                    let offset = base + f.rel_offset as u64;
                    for part in f.parts {
                        seg.note(offset, part);
                    }
                    Counters::add(&c.written, f.lasts);
                }
                self.out.clear();
                self.retry_at = None;
                self.backoff = Duration::from_millis(100);
                if !self.pending_indexes.is_empty() {
                    self.write_pending_indexes();
                }
                self.rotate_if_due();
            }
            Err(e) => {
                self.io_error("write", &e);
                self.drop_pending(DropReason::IoError);
                // Start afresh in a new segment after the back-off.
                self.close_segment();
            }
        }
    }

    fn rotate_if_due(&mut self) {
        let due = self.segment.as_ref().is_some_and(|s| {
            s.len() >= self.config.segment_max_bytes
                || s.age() >= self.config.segment_max_age
                || s.entries() >= segment_file::MAX_INDEX_ENTRIES
        });
        if due {
            self.close_segment();
            let stats = self.accounting.counters.snapshot();
            if let Err(e) = self.session.update(stats, false) {
                self.log_once("metadata", &e.to_string());
            }
        }
    }

    fn close_segment(&mut self) {
        if let Some(seg) = self.segment.take() {
            let path = seg.path().display().to_string();
            let reserved = std::mem::take(&mut self.index_reserved);
            match seg.close(self.config.fsync) {
                Ok(index) => self.pending_indexes.push((index, reserved)),
                Err(e) => {
                    if let Some(b) = self.budget.as_mut() {
                        b.index_written(reserved, 0);
                    }
                    Counters::add(&self.accounting.counters.write_errors, 1);
                    self.log_once("index", &format!("cannot close {path}: {e}"));
                }
            }
            self.write_pending_indexes();
        }
    }

    /// Writes the indexes of closed segments that could not be written yet; what fails
    /// again stays for the next time (after a successful write, and at shutdown).
    fn write_pending_indexes(&mut self) {
        let pending = std::mem::take(&mut self.pending_indexes);
        for (index, reserved) in pending {
            match index.write() {
                Ok(len) => {
                    if let Some(b) = self.budget.as_mut() {
                        b.index_written(reserved, len);
                    }
                }
                Err(e) => {
                    Counters::add(&self.accounting.counters.write_errors, 1);
                    self.log_once(
                        "index",
                        &format!(
                            "cannot write the index {}: {e} (retried once writing works again)",
                            index.path().display()
                        ),
                    );
                    self.pending_indexes.push((index, reserved));
                }
            }
        }
    }

    fn io_error(&mut self, what: &str, e: &std::io::Error) {
        Counters::add(&self.accounting.counters.write_errors, 1);
        self.retry_at = Some(Instant::now() + self.backoff);
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        self.log_once(
            &format!("{what}:{:?}", e.kind()),
            &format!("{what} failed: {e}"),
        );
    }

    fn log_once(&mut self, key: &str, message: &str) {
        if self.logged.insert(key.to_owned()) {
            tracing::error!(
                session = %self.session.dir().display(),
                "retrace writer: {message} (further errors of this kind are counted, not logged)"
            );
        }
    }
}
