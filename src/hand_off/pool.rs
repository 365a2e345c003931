//! Event buffers handed back by the writer for reuse, and freed where they were made.
//!
//! A recording's events are allocated on the request path and, once written, would be
//! freed on the writer thread. With glibc's allocator a block freed by another thread
//! goes to that thread's cache and makes the two threads contend for one arena: in the
//! profile, `futex_wake` under `malloc` on the request path. So the writer hands a
//! written buffer back whole (events still in it) when it is small, and the request path
//! empties it when it takes it: the events are freed on the thread that allocated them,
//! and the buffer's own allocation is reused. Large buffers are emptied on the writer.
//!
//! The pool is bounded by what its buffers hold, [`POOL_BYTES`] (their events and,
//! with a recording's last chunk, what the recording's copy buffers left unused,
//! [`crate::arena`]), and by count, [`POOL_BUFFERS`]. The writer drains the queue in batches: while traffic flows
//! it polls every 2 ms, and a bound of 256 buffers, as it was, sent a fifth of a fast
//! request loop's buffers back to be freed on the writer.

use std::sync::atomic::{AtomicUsize, Ordering};

use crossbeam_channel::{Receiver, Sender};

use crate::arena::ByteArena;
use crate::event::Event;

/// A buffer handed back: its events, what they hold, and their copy buffer.
type Returned = (Vec<Event>, usize, Option<ByteArena>);

/// Buffers the pool holds at most.
pub(crate) const POOL_BUFFERS: usize = 1024;
/// Bytes the pool's buffers hold at most, all together.
pub(crate) const POOL_BYTES: usize = 4 * 1024 * 1024;
/// A buffer whose events hold more than this goes back empty.
pub(crate) const RETURN_BYTES: usize = 16 * 1024;
/// Buffers larger than this many events are not kept.
const MAX_KEPT_CAPACITY: usize = 64;

#[derive(Debug)]
pub(crate) struct BufferPool {
    /// Buffers with the bytes each holds and, with a recording's last, its copy
    /// buffer.
    tx: Sender<Returned>,
    rx: Receiver<Returned>,
    /// What the buffers in the pool hold, all together.
    held: AtomicUsize,
}

impl BufferPool {
    pub(crate) fn new() -> Self {
        let (tx, rx) = crossbeam_channel::bounded(POOL_BUFFERS);
        Self {
            tx,
            rx,
            held: AtomicUsize::new(0),
        }
    }

    /// An empty buffer, reused when one is available (its old events are freed here).
    pub(crate) fn take(&self) -> Vec<Event> {
        self.take_draining(drop).0
    }

    /// [`take`](Self::take), handing each old event to `old` instead of dropping it,
    /// and the copy buffer of the recording they were, if it came back with them.
    pub(crate) fn take_draining(&self, old: impl FnMut(Event)) -> (Vec<Event>, Option<ByteArena>) {
        match self.rx.try_recv() {
            Ok((mut buffer, bytes, remnant)) => {
                self.held.fetch_sub(bytes, Ordering::Relaxed);
                buffer.drain(..).for_each(old);
                (buffer, remnant)
            }
            Err(_) => (Vec::with_capacity(8), None),
        }
    }

    /// Hands a written buffer back, with its recording's copy buffer when it was the
    /// last; `bytes` is what it holds in memory, its events' estimated size included.
    pub(crate) fn give(&self, mut buffer: Vec<Event>, bytes: usize, remnant: Option<ByteArena>) {
        if buffer.capacity() > MAX_KEPT_CAPACITY {
            return;
        }
        let slots = buffer.capacity() * std::mem::size_of::<Event>();
        let bytes = if bytes > RETURN_BYTES {
            buffer.clear();
            slots
        } else {
            bytes.max(slots)
        };
        if self.held.fetch_add(bytes, Ordering::Relaxed) + bytes > POOL_BYTES {
            self.held.fetch_sub(bytes, Ordering::Relaxed);
            return;
        }
        if self.tx.try_send((buffer, bytes, remnant)).is_err() {
            self.held.fetch_sub(bytes, Ordering::Relaxed);
        }
    }

    /// What the buffers in the pool hold, all together.
    #[cfg(test)]
    fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::event::BodyChunk;

    fn buffer_of(events: usize) -> Vec<Event> {
        let mut buffer = Vec::with_capacity(8);
        for _ in 0..events {
            buffer.push(Event::RequestBody(BodyChunk {
                at_us: 0,
                data: Bytes::from_static(b"x"),
            }));
        }
        buffer
    }

    #[test]
    fn a_buffer_given_back_is_taken_again_empty_with_its_allocation() {
        let pool = BufferPool::new();
        let buffer = buffer_of(3);
        let at = buffer.as_ptr();
        pool.give(buffer, 1000, None);
        assert_eq!(pool.held(), 1000);
        let taken = pool.take();
        assert!(taken.is_empty());
        assert_eq!(taken.as_ptr(), at);
        assert_eq!(pool.held(), 0);
        // Nothing left: a new buffer.
        let fresh = pool.take();
        assert_ne!(fresh.as_ptr(), at);
    }

    #[test]
    fn a_recordings_copy_buffer_comes_back_with_its_events() {
        let pool = BufferPool::new();
        let mut arena = ByteArena::new();
        let copy = arena.copy(b"body");
        let at = copy.as_ptr();
        let mut events = buffer_of(0);
        events.push(Event::RequestBody(BodyChunk {
            at_us: 0,
            data: copy,
        }));
        pool.give(events, 1000, Some(arena));
        let mut dropped = 0;
        let (buffer, remnant) = pool.take_draining(|_| dropped += 1);
        assert!(buffer.is_empty());
        assert_eq!(dropped, 1);
        let mut reused = remnant.expect("the copy buffer").reclaimed();
        assert_eq!(
            reused.unused(),
            crate::arena::CHUNK_BYTES,
            "reclaimed whole"
        );
        assert_eq!(reused.copy(b"next").as_ptr(), at);
    }

    #[test]
    fn the_pool_keeps_buffers_up_to_its_byte_bound_and_no_further() {
        let pool = BufferPool::new();
        let each = 10 * 1024;
        let fit = POOL_BYTES / each;
        for _ in 0..fit + 5 {
            pool.give(buffer_of(1), each, None);
        }
        assert_eq!(pool.held(), fit * each);
        assert_eq!(pool.rx.len(), fit);
        // Taking one makes room for one.
        let _ = pool.take();
        pool.give(buffer_of(1), each, None);
        pool.give(buffer_of(1), each, None);
        assert_eq!(pool.rx.len(), fit);
    }

    #[test]
    fn a_large_buffer_comes_back_empty_and_counts_its_slots_only() {
        let pool = BufferPool::new();
        let buffer = buffer_of(2);
        let slots = buffer.capacity() * std::mem::size_of::<Event>();
        pool.give(buffer, RETURN_BYTES + 1, None);
        assert_eq!(pool.held(), slots);
        let (kept, bytes, _) = pool.rx.try_recv().unwrap();
        assert!(kept.is_empty());
        assert_eq!(bytes, slots);
    }

    #[test]
    fn the_pool_keeps_no_more_buffers_than_its_count_bound() {
        let pool = BufferPool::new();
        for _ in 0..POOL_BUFFERS + 10 {
            pool.give(Vec::new(), 0, None);
        }
        assert_eq!(pool.rx.len(), POOL_BUFFERS);
        assert_eq!(pool.held(), 0);
    }
}
