//! [`ByteArena`]: the copies a recording keeps, packed into a few shared buffers.
//!
//! A recording copies small byte strings out of the messages it sees: the kept values
//! of each head, each body frame of up to 64 KiB (so it does not pin the server's read
//! buffers while it waits for the writer). Copied one by one, each is an allocation on
//! the request path, and a head's values sliced from one buffer are two (the buffer, and
//! the shared-slice header `bytes` makes on the first slice). The arena copies them into
//! a buffer of [`CHUNK_BYTES`] instead and hands out slices of it: a recording whose
//! heads and bodies fit in one buffer pays two allocations for all its copies.
//!
//! All the slices belong to one recording and are freed together when its events are
//! dropped, so what the buffers leave unused lives as long as they do;
//! [`unused`](ByteArena::unused) says how much that is, for the in-flight budget. A copy
//! larger than half a buffer gets an allocation of its own, exactly its size: a buffer
//! given up for a copy that does not fit leaves less than that copy unused.

use bytes::{Bytes, BytesMut};

/// The size of the buffers a recording's arena copies into.
pub const CHUNK_BYTES: usize = 4 * 1024;

/// Copies of a recording's byte strings, handed out as slices of shared buffers.
///
/// A slice keeps its whole buffer alive, the other copies in it included: the copies
/// are meant to live and die together, as a recording's events do.
///
/// ```
/// use retrace::arena::ByteArena;
///
/// let mut arena = ByteArena::new();
/// let a = arena.copy(b"application/json");
/// let b = arena.copy(b"{\"id\":7}");
/// assert_eq!(&a[..], b"application/json");
/// assert_eq!(&b[..], b"{\"id\":7}");
/// ```
#[derive(Debug)]
pub struct ByteArena {
    /// The current buffer's free part: what was copied before is split off it.
    free: BytesMut,
    /// The capacity of a new buffer, at least; 0 makes every copy an allocation of
    /// its own.
    chunk: usize,
    /// What the buffers given up before the current one left unused.
    retired: usize,
}

impl Default for ByteArena {
    fn default() -> Self {
        Self::new()
    }
}

impl ByteArena {
    /// An arena that allocates buffers of [`CHUNK_BYTES`] as it needs them (none yet).
    pub fn new() -> Self {
        Self::with_chunk(CHUNK_BYTES)
    }

    /// An arena that shares no buffer: every copy is an allocation of its own, exactly
    /// its size, so nothing is left unused.
    pub(crate) fn unpooled() -> Self {
        Self::with_chunk(0)
    }

    fn with_chunk(chunk: usize) -> Self {
        Self {
            free: BytesMut::new(),
            chunk,
            retired: 0,
        }
    }

    /// A copy of `data`, sharing a buffer with the arena's other copies when it is
    /// small enough.
    pub fn copy(&mut self, data: &[u8]) -> Bytes {
        self.copy_parts(data.len(), [data])
    }

    /// One copy of `parts` one after the other, `len` bytes in all.
    pub(crate) fn copy_parts<'a>(
        &mut self,
        len: usize,
        parts: impl IntoIterator<Item = &'a [u8]>,
    ) -> Bytes {
        if len == 0 {
            return Bytes::new();
        }
        if len > self.chunk / 2 {
            // Exactly its size: `Bytes` takes the vector as it is.
            let mut own = Vec::with_capacity(len);
            parts
                .into_iter()
                .for_each(|part| own.extend_from_slice(part));
            return Bytes::from(own);
        }
        if len > self.spare() {
            self.retired += self.spare();
            self.free = BytesMut::with_capacity(self.chunk);
        }
        parts
            .into_iter()
            .for_each(|part| self.free.extend_from_slice(part));
        self.free.split().freeze()
    }

    /// This arena made whole again for new copies when none of its copies is left
    /// (their events were dropped), else a new one: a written recording's buffer
    /// serves the next recording without an allocation.
    pub(crate) fn reclaimed(mut self) -> Self {
        self.retired = 0;
        if self.chunk == 0 || !self.free.try_reclaim(self.chunk) {
            self.free = BytesMut::new();
        }
        self
    }

    /// Bytes allocated for copies and left unused: the current buffer's free part and
    /// the free parts of the buffers given up before it.
    pub fn unused(&self) -> usize {
        self.retired + self.spare()
    }

    fn spare(&self) -> usize {
        self.free.capacity() - self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_copies_share_one_buffer() {
        let mut arena = ByteArena::new();
        let a = arena.copy(b"first");
        let b = arena.copy(b"second");
        assert_eq!(&a[..], b"first");
        assert_eq!(&b[..], b"second");
        // Adjacent in one allocation.
        assert_eq!(a.as_ptr().wrapping_add(a.len()), b.as_ptr());
        assert_eq!(arena.unused(), CHUNK_BYTES - 11);
    }

    #[test]
    fn a_large_copy_has_its_own_buffer_and_leaves_the_chunk_alone() {
        let mut arena = ByteArena::new();
        let a = arena.copy(b"head");
        let large = vec![7u8; CHUNK_BYTES / 2 + 1];
        let b = arena.copy(&large);
        let c = arena.copy(b"tail");
        assert_eq!(&b[..], &large[..]);
        assert_eq!(a.as_ptr().wrapping_add(a.len()), c.as_ptr());
        assert_eq!(arena.unused(), CHUNK_BYTES - 8);
    }

    #[test]
    fn a_copy_that_does_not_fit_starts_a_new_buffer_and_counts_the_old_ones_rest() {
        let mut arena = ByteArena::new();
        let filler = vec![1u8; CHUNK_BYTES / 2];
        let a = arena.copy(&filler);
        let b = arena.copy(&filler[..CHUNK_BYTES / 2 - 10]);
        let c = arena.copy(&[2u8; 20]);
        assert_eq!(&a[..], &filler[..]);
        assert_eq!(&b[..], &filler[..CHUNK_BYTES / 2 - 10]);
        assert_eq!(&c[..], &[2u8; 20]);
        // 10 bytes left in the first buffer, the second's rest.
        assert_eq!(arena.unused(), 10 + CHUNK_BYTES - 20);
    }

    #[test]
    fn parts_are_copied_as_one_block() {
        let mut arena = ByteArena::new();
        let block = arena.copy_parts(7, [&b"abc"[..], b"", b"defg"]);
        assert_eq!(&block[..], b"abcdefg");
        let large = vec![3u8; CHUNK_BYTES];
        let whole = arena.copy_parts(CHUNK_BYTES + 1, [&large[..], b"!"]);
        assert_eq!(whole.len(), CHUNK_BYTES + 1);
        assert_eq!(whole[CHUNK_BYTES], b'!');
        assert_eq!(arena.unused(), CHUNK_BYTES - 7);
    }

    #[test]
    fn an_unpooled_arena_leaves_nothing_unused() {
        let mut arena = ByteArena::unpooled();
        let a = arena.copy(b"one");
        let b = arena.copy_parts(3, [&b"t"[..], b"wo"]);
        assert_eq!((&a[..], &b[..]), (&b"one"[..], &b"two"[..]));
        assert_eq!(arena.unused(), 0);
    }

    #[test]
    fn a_buffer_whose_copies_are_gone_is_reclaimed_whole() {
        let mut arena = ByteArena::new();
        let first = arena.copy(b"first recording");
        let start = first.as_ptr();
        drop(first);
        let mut again = arena.reclaimed();
        assert_eq!(again.unused(), CHUNK_BYTES);
        let copy = again.copy(b"next");
        assert_eq!(copy.as_ptr(), start, "the same buffer, from its start");
    }

    #[test]
    fn a_buffer_still_referred_to_is_not_reclaimed() {
        let mut arena = ByteArena::new();
        let kept = arena.copy(b"kept elsewhere");
        let mut again = arena.reclaimed();
        assert_eq!(again.unused(), 0, "let go");
        let copy = again.copy(b"next");
        assert_eq!(&kept[..], b"kept elsewhere");
        assert_eq!(&copy[..], b"next");
    }

    #[test]
    fn nothing_copied_allocates_nothing() {
        let mut arena = ByteArena::new();
        assert!(arena.copy(b"").is_empty());
        assert!(arena.copy_parts(0, []).is_empty());
        assert_eq!(arena.unused(), 0);
    }
}
