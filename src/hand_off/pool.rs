//! Event buffers handed back by the writer for reuse, and freed where they were made.
//!
//! A recording's events are allocated on the request path and, once written, would be
//! freed on the writer thread. With glibc's allocator a block freed by another thread
//! goes to that thread's cache and makes the two threads contend for one arena: in the
//! profile, `futex_wake` under `malloc` on the request path. So the writer hands a
//! written buffer back whole (events still in it) when it is small, and the request path
//! empties it when it takes it: the events are freed on the thread that allocated them,
//! and the buffer's own allocation is reused. Large buffers are emptied on the writer.
//! The pool is bounded: at most [`POOL_BUFFERS`] buffers of at most
//! [`RETURN_BYTES`] each, a fixed overhead of 4 MiB at worst.

use crossbeam_channel::{Receiver, Sender};

use crate::event::Event;

/// Buffers the pool holds at most.
pub(crate) const POOL_BUFFERS: usize = 256;
/// A buffer whose events hold more than this goes back empty.
pub(crate) const RETURN_BYTES: usize = 16 * 1024;
/// Buffers larger than this many events are not kept.
const MAX_KEPT_CAPACITY: usize = 64;

#[derive(Debug)]
pub(crate) struct BufferPool {
    tx: Sender<Vec<Event>>,
    rx: Receiver<Vec<Event>>,
}

impl BufferPool {
    pub(crate) fn new() -> Self {
        let (tx, rx) = crossbeam_channel::bounded(POOL_BUFFERS);
        Self { tx, rx }
    }

    /// An empty buffer, reused when one is available (its old events are freed here).
    pub(crate) fn take(&self) -> Vec<Event> {
        match self.rx.try_recv() {
            Ok(mut buffer) => {
                buffer.clear();
                buffer
            }
            Err(_) => Vec::with_capacity(8),
        }
    }

    /// Hands a written buffer back; `bytes` is its events' estimated size.
    pub(crate) fn give(&self, mut buffer: Vec<Event>, bytes: usize) {
        if buffer.capacity() > MAX_KEPT_CAPACITY {
            return;
        }
        if bytes > RETURN_BYTES {
            buffer.clear();
        }
        let _ = self.tx.try_send(buffer);
    }
}
