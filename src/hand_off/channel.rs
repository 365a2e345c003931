//! The hand-off from the request path to the writer thread.
//!
//! A bounded crossbeam channel carries data and control messages in one order, so a
//! flush or shutdown acknowledges everything sent before it. On top of the message
//! count, an in-flight byte budget bounds memory: a message that would exceed it is
//! dropped and counted, never waited for. Each data message carries a drop guard, so
//! a message still queued when the writer goes away is counted as lost rather than
//! vanishing: `started == written + discarded + dropped` holds exactly at shutdown.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crossbeam_channel::{Sender, TrySendError};
use crossbeam_utils::CachePadded;

use crate::arena::ByteArena;
use crate::event::Chunk;
use crate::stats::{Counters, DropReason};

/// Counters and the in-flight byte count, shared by producers, messages and the writer.
#[derive(Debug)]
pub(crate) struct Accounting {
    pub(crate) counters: Counters,
    in_flight: CachePadded<AtomicUsize>,
    budget: usize,
}

impl Accounting {
    pub(crate) fn new(budget: usize) -> Self {
        Self {
            counters: Counters::default(),
            in_flight: CachePadded::new(AtomicUsize::new(0)),
            budget,
        }
    }

    fn reserve(&self, bytes: usize) -> bool {
        let before = self.in_flight.fetch_add(bytes, Ordering::Relaxed);
        if before + bytes > self.budget {
            self.in_flight.fetch_sub(bytes, Ordering::Relaxed);
            return false;
        }
        Counters::raise(
            &self.counters.in_flight_bytes_high_water,
            (before + bytes) as u64,
        );
        true
    }

    fn release(&self, bytes: usize) {
        self.in_flight.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// Counts the loss of a chunk: the whole recording when it was the last chunk.
    pub(crate) fn count_loss(&self, last: bool, reason: DropReason) {
        if last {
            self.counters.drop_recording(reason);
        } else {
            self.counters.drop_chunk(reason);
        }
    }
}

/// A chunk on its way to the writer. Releases its bytes from the budget when dropped,
/// and counts itself as lost if it is dropped before the writer took it.
#[derive(Debug)]
pub(crate) struct ChunkMessage {
    chunk: Option<Chunk>,
    last: bool,
    bytes: usize,
    /// Memory the chunk keeps alive beyond its events' estimate: the unused end of
    /// the recording's copy buffer ([`crate::arena`]). Kept apart from `remnant`,
    /// which the writer takes before the message gives its bytes back to the budget.
    retained: usize,
    /// With a recording's last chunk, its copy buffer, for the next recording to
    /// reuse once these events are gone.
    remnant: Option<ByteArena>,
    accounting: Arc<Accounting>,
}

impl ChunkMessage {
    /// Takes the chunk out; the writer now answers for counting it. `None` only if it
    /// was taken before.
    pub(crate) fn take(&mut self) -> Option<Chunk> {
        self.chunk.take()
    }

    /// Whether the chunk ends its recording.
    pub(crate) fn is_last(&self) -> bool {
        self.last
    }

    /// The chunk's estimated size.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// The memory the chunk holds: its estimated size and what it keeps alive beyond.
    pub(crate) fn held_bytes(&self) -> usize {
        self.bytes + self.retained
    }

    /// The recording's copy buffer, when this is its last chunk.
    pub(crate) fn take_remnant(&mut self) -> Option<ByteArena> {
        self.remnant.take()
    }
}

impl Drop for ChunkMessage {
    fn drop(&mut self) {
        self.accounting.release(self.held_bytes());
        if self.chunk.is_some() {
            self.accounting
                .count_loss(self.last, DropReason::WriterGone);
        }
    }
}

/// A message to the writer.
#[derive(Debug)]
pub(crate) enum Message {
    /// Recording data.
    Chunk(ChunkMessage),
    /// Write out everything before this, flush, then acknowledge.
    Flush(Sender<()>),
    /// Write out everything before this, close the session, acknowledge and exit.
    Shutdown(Sender<()>),
}

/// Sends one chunk of `bytes` estimated bytes without blocking; with a recording's last
/// chunk, its copy buffer `remnant`, whose unused bytes the chunk keeps alive too. On
/// failure the loss is already counted.
pub(crate) fn hand_off(
    tx: &Sender<Message>,
    accounting: &Arc<Accounting>,
    chunk: Chunk,
    bytes: usize,
    remnant: Option<ByteArena>,
) -> Result<(), DropReason> {
    let last = chunk.last;
    let retained = remnant.as_ref().map_or(0, ByteArena::unused);
    if !accounting.reserve(bytes + retained) {
        accounting.count_loss(last, DropReason::ByteBudget);
        return Err(DropReason::ByteBudget);
    }
    let msg = Message::Chunk(ChunkMessage {
        chunk: Some(chunk),
        last,
        bytes,
        retained,
        remnant,
        accounting: Arc::clone(accounting),
    });
    match tx.try_send(msg) {
        // The queue's high-water mark is taken by the writer as it drains: reading the
        // queue's length here would touch the receiver's side of the channel on every
        // send.
        Ok(()) => Ok(()),
        Err(err) => {
            let reason = match err {
                TrySendError::Full(_) => DropReason::ChannelFull,
                TrySendError::Disconnected(_) => DropReason::WriterGone,
            };
            // Dropping the returned message releases its bytes; mark it taken first so
            // it is counted once, under the right reason.
            if let Message::Chunk(mut m) = err.into_inner() {
                m.chunk = None;
            }
            accounting.count_loss(last, reason);
            Err(reason)
        }
    }
}
