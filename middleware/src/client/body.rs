//! [`ClientBody`]: a call's response body, live (and teed) or answered from a recording.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project::pin_project;

use crate::record::RecordBody;

/// The response body of a call through a [`RecordedClient`](super::RecordedClient):
/// the real client's body (recorded when a recording is current) or, during replay,
/// the recorded answer.
#[pin_project]
#[derive(Debug)]
pub struct ClientBody<B> {
    #[pin]
    kind: Kind<B>,
}

#[pin_project(project = KindProj)]
#[derive(Debug)]
enum Kind<B> {
    Live(#[pin] RecordBody<B>),
    /// The recorded data, then its trailers (a gRPC answer's `grpc-status`), when it
    /// had any.
    Recorded(Option<Bytes>, Option<http::HeaderMap>),
}

impl<B> ClientBody<B> {
    /// The real client's body, as `RecordBody` taps (or passes through) it.
    pub(crate) fn live(body: RecordBody<B>) -> Self {
        Self {
            kind: Kind::Live(body),
        }
    }

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
        Self {
            kind: Kind::Recorded(Some(data), trailers),
        }
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
        match self.project().kind.project() {
            KindProj::Live(inner) => inner.poll_frame(cx),
            KindProj::Recorded(data, trailers) => Poll::Ready(
                data.take()
                    .filter(|d| !d.is_empty())
                    .map(Frame::data)
                    .or_else(|| trailers.take().map(Frame::trailers))
                    .map(Ok),
            ),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Live(inner) => inner.is_end_stream(),
            Kind::Recorded(data, trailers) => {
                data.as_ref().is_none_or(Bytes::is_empty) && trailers.is_none()
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Live(inner) => inner.size_hint(),
            Kind::Recorded(data, _) => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
        }
    }
}
