//! [`Joined`]: a body's data frames as one buffer, without copying the only frame.
//!
//! Most bodies arrive as one frame. Gathering frames into a list and then into one
//! buffer (as `http_body_util`'s `collect` does) costs the list's allocation even
//! then; a body held whole here keeps its one frame by reference, and only a second
//! frame makes them one buffer, copied once.

use bytes::{Bytes, BytesMut};

/// A body's data frames so far, joined.
#[derive(Debug, Default)]
pub(crate) enum Joined {
    /// No data yet.
    #[default]
    Empty,
    /// One frame, referred to as it came.
    One(Bytes),
    /// Several frames, copied into one buffer.
    Many(BytesMut),
}

impl Joined {
    /// Adds a frame.
    pub(crate) fn push(&mut self, data: &Bytes) {
        *self = match std::mem::take(self) {
            Self::Empty => Self::One(data.clone()),
            Self::One(first) => {
                let mut buf = BytesMut::with_capacity(first.len() + data.len());
                buf.extend_from_slice(&first);
                buf.extend_from_slice(data);
                Self::Many(buf)
            }
            Self::Many(mut buf) => {
                buf.extend_from_slice(data);
                Self::Many(buf)
            }
        };
    }

    /// The whole body.
    pub(crate) fn into_bytes(self) -> Bytes {
        match self {
            Self::Empty => Bytes::new(),
            Self::One(data) => data,
            Self::Many(buf) => buf.freeze(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_frame_is_kept_as_it_came() {
        let frame = Bytes::from(vec![1u8, 2, 3]);
        let mut joined = Joined::Empty;
        joined.push(&frame);
        let whole = joined.into_bytes();
        assert_eq!(whole.as_ptr(), frame.as_ptr());
    }

    #[test]
    fn several_frames_are_joined_in_order() {
        let mut joined = Joined::Empty;
        for part in [&b"ab"[..], b"", b"cde", b"f"] {
            joined.push(&Bytes::copy_from_slice(part));
        }
        assert_eq!(&joined.into_bytes()[..], b"abcdef");
    }

    #[test]
    fn nothing_pushed_is_empty() {
        assert!(Joined::Empty.into_bytes().is_empty());
    }
}
