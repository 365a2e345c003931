//! [`RecordBody`]: a body that tees its frames into the recording as they pass.
//!
//! Frames are passed on unchanged and at once: streaming stays streaming and
//! backpressure is untouched. The body ends the recording's view of it when a frame
//! leaves `is_end_stream()` true, when `None` arrives, on an error, or when it is dropped
//! before its end (the client went away).

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project::pin_project;

use crate::capture::Tap;

/// A request or response body being recorded (or passed through untouched).
#[pin_project]
#[derive(Debug)]
pub struct RecordBody<B> {
    #[pin]
    inner: B,
    // Boxed: a tap is 328 bytes, and a body, recorded or not, is moved several times
    // on its way through hyper; inline, the copies cost more than the allocation
    // saved (+578 instructions a request not recorded: benches/README.md, issue 16).
    tap: Option<Box<Tap>>,
}

impl<B> RecordBody<B> {
    /// A body passed through without recording.
    pub fn passthrough(inner: B) -> Self {
        Self { inner, tap: None }
    }

    pub(crate) fn tapped(inner: B, tap: Tap) -> Self
    where
        B: Body,
    {
        let mut body = Self {
            inner,
            tap: Some(Box::new(tap)),
        };
        // A body that is empty from the start may never be polled.
        if body.inner.is_end_stream()
            && let Some(mut tap) = body.tap.take()
        {
            tap.end(true);
        }
        body
    }

    /// Whether this body is being recorded.
    pub fn is_recording(&self) -> bool {
        self.tap.is_some()
    }
}

impl<B> Body for RecordBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let mut inner = this.inner;
        let frame = ready!(inner.as_mut().poll_frame(cx));
        let Some(tap) = this.tap.as_mut() else {
            return Poll::Ready(frame);
        };
        match &frame {
            Some(Ok(f)) => {
                if let Some(data) = f.data_ref() {
                    tap.data(data);
                } else if let Some(trailers) = f.trailers_ref() {
                    tap.trailers(trailers);
                }
                if inner.is_end_stream()
                    && let Some(mut tap) = this.tap.take()
                {
                    tap.end(true);
                }
            }
            Some(Err(_)) => {
                if let Some(mut tap) = this.tap.take() {
                    tap.end(false);
                }
            }
            None => {
                if let Some(mut tap) = this.tap.take() {
                    tap.end(true);
                }
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
