//! [`ClientBody`]: a call's response body, live (and teed) or answered from a recording.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project::pin_project;

use crate::record::RecordBody;

/// The response body of a call through a [`Client`](super::Client).
#[pin_project(project = ClientBodyProj)]
#[derive(Debug)]
pub enum ClientBody<B> {
    /// From the real client (recorded when a recording is current).
    Live(#[pin] RecordBody<B>),
    /// From the recording, during replay: its data, then its trailers (a gRPC answer's
    /// `grpc-status`), when it had any.
    Recorded(Option<Bytes>, Option<http::HeaderMap>),
}

impl<B> ClientBody<B> {
    /// A recorded answer: `data`, then the recorded `trailers` (none when empty).
    pub(crate) fn recorded(data: Bytes, trailers: &[retrace::event::Header]) -> Self {
        let trailers = (!trailers.is_empty()).then(|| {
            let mut map = http::HeaderMap::with_capacity(trailers.len());
            for h in trailers {
                if let (Ok(name), Ok(value)) = (
                    http::HeaderName::from_bytes(h.name.as_bytes()),
                    http::HeaderValue::from_bytes(&h.value),
                ) {
                    map.append(name, value);
                }
            }
            map
        });
        Self::Recorded(Some(data), trailers)
    }
}

impl<B> Body for ClientBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.project() {
            ClientBodyProj::Live(inner) => inner.poll_frame(cx),
            ClientBodyProj::Recorded(data, trailers) => Poll::Ready(
                data.take()
                    .filter(|d| !d.is_empty())
                    .map(Frame::data)
                    .or_else(|| trailers.take().map(Frame::trailers))
                    .map(Ok),
            ),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Live(inner) => inner.is_end_stream(),
            Self::Recorded(data, trailers) => {
                data.as_ref().is_none_or(Bytes::is_empty) && trailers.is_none()
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Live(inner) => inner.size_hint(),
            Self::Recorded(data, _) => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
        }
    }
}
