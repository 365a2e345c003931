//! Event buffers handed back by the writer for reuse.
//!
//! A recording's event buffer is allocated on the request path and, once written,
//! freed on the writer thread. With glibc's allocator a block freed by another thread
//! lands in that thread's cache, so every new buffer took the allocator's slow path (a
//! third of the hand-off's time in the profile). The writer returns emptied buffers
//! through this small pool instead, and the request path takes one from it.

use crossbeam_channel::{Receiver, Sender};

use crate::event::Event;

/// Buffers larger than this many events are not kept.
const MAX_KEPT_CAPACITY: usize = 64;

#[derive(Debug)]
pub(crate) struct BufferPool {
    tx: Sender<Vec<Event>>,
    rx: Receiver<Vec<Event>>,
}

impl BufferPool {
    pub(crate) fn new(buffers: usize) -> Self {
        let (tx, rx) = crossbeam_channel::bounded(buffers);
        Self { tx, rx }
    }

    /// An empty buffer, reused when one is available.
    pub(crate) fn take(&self) -> Vec<Event> {
        self.rx.try_recv().unwrap_or_else(|_| Vec::with_capacity(8))
    }

    /// Empties a buffer and keeps it for reuse (or drops it when the pool is full).
    pub(crate) fn give(&self, mut buffer: Vec<Event>) {
        buffer.clear();
        if buffer.capacity() <= MAX_KEPT_CAPACITY {
            let _ = self.tx.try_send(buffer);
        }
    }
}
