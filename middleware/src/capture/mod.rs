//! Capture shared by every layer: request and response heads as events (redacted
//! before they are buffered), and the body tap that tees frames into a recording.
//!
//! One job a module: [`CaptureSettings`] here makes the heads; [`coding`] decides
//! whether a body is recorded decoded and decodes it; [`tap`] tees a body's frames.
//!
//! Frames of up to [`COPY_BELOW`] bytes are copied, larger ones kept by reference. A
//! frame is usually a slice of a bigger buffer (hyper reads a connection into 8 KiB
//! and larger buffers and hands out slices of them), and a reference keeps the whole
//! buffer alive while the recording waits for the writer: with the writer stalled,
//! the in-flight byte budget counted the slices while memory held their buffers (a
//! 16 MiB budget let the process grow by 55 MiB in the end-to-end benchmark). A copy
//! of a small frame costs less than the memory it frees; a large frame is most of its
//! buffer. Copies go into the recording's arena ([`retrace::arena`]), as do the heads'
//! kept values: a recording's copies share a few buffers instead of an allocation
//! each.

mod coding;
mod joined;
mod tap;

use bytes::Bytes;
use http::HeaderMap;
use retrace::event::{Header, RequestHead, ResponseHead};
use retrace::{RecordingHandle, Redaction};

pub(crate) use coding::BodyCoding;
pub(crate) use joined::Joined;
pub(crate) use tap::{BodyEndHook, Side, Tap};

/// How a capture point captures: the recorder's redaction and the body cap.
#[derive(Clone, Debug)]
pub(crate) struct CaptureSettings {
    pub(crate) redaction: Redaction,
    pub(crate) body_cap: usize,
}

impl CaptureSettings {
    /// `headers` redacted, their kept values copied into the recording's arena.
    pub(crate) fn headers(&self, handle: &RecordingHandle, headers: &HeaderMap) -> Vec<Header> {
        self.redaction.headers_for(headers, handle)
    }

    /// The head of an incoming request, and the body's content coding when the body
    /// is recorded decoded (see [`message_headers`](Self::message_headers)).
    pub(crate) fn request_head<B>(
        &self,
        handle: &RecordingHandle,
        req: &http::Request<B>,
    ) -> (RequestHead, BodyCoding) {
        self.request_parts_head(
            handle,
            req.method(),
            req.uri(),
            req.version(),
            req.headers(),
        )
    }

    pub(crate) fn request_parts_head(
        &self,
        handle: &RecordingHandle,
        method: &http::Method,
        uri: &http::Uri,
        v: http::Version,
        headers: &HeaderMap,
    ) -> (RequestHead, BodyCoding) {
        let (headers, coding) = self.message_headers(handle, headers);
        let head = RequestHead {
            method: retrace::names::method(method),
            uri: self.redaction.uri_for(uri, handle),
            version: retrace::names::version(v),
            headers,
        };
        (head, coding)
    }

    /// The head of a response, and the body's content coding when the body is recorded
    /// decoded.
    pub(crate) fn response_head<B>(
        &self,
        handle: &RecordingHandle,
        resp: &http::Response<B>,
    ) -> (ResponseHead, BodyCoding) {
        self.response_parts_head(handle, resp.status(), resp.version(), resp.headers())
    }

    /// [`response_head`](Self::response_head) from a response's parts (a client's own
    /// response type, say).
    pub(crate) fn response_parts_head(
        &self,
        handle: &RecordingHandle,
        status: http::StatusCode,
        version: http::Version,
        headers: &HeaderMap,
    ) -> (ResponseHead, BodyCoding) {
        let (headers, coding) = self.message_headers(handle, headers);
        let head = ResponseHead {
            status: status.as_u16(),
            version: retrace::names::version(version),
            headers,
        };
        (head, coding)
    }

    /// The headers of a message whose body is captured, redacted (their kept values
    /// copied into the recording's arena), and the body's coding when it is recorded
    /// decoded (see [`BodyCoding::take_from_head`]).
    fn message_headers(
        &self,
        handle: &RecordingHandle,
        headers: &HeaderMap,
    ) -> (Vec<Header>, BodyCoding) {
        let mut recorded = self.headers(handle, headers);
        let coding = BodyCoding::take_from_head(&self.redaction, &mut recorded);
        (recorded, coding)
    }

    /// A body's content coding as the capture decides it, from the headers alone (for
    /// replay, which computes the recorded form of a live request to match it).
    pub(crate) fn body_coding(&self, headers: &HeaderMap) -> BodyCoding {
        BodyCoding::of(&self.redaction, headers)
    }
}

/// Frames up to this size are copied into the recording rather than referenced (see
/// the module docs).
pub(crate) const COPY_BELOW: usize = 64 * 1024;

/// `data` as a recording keeps it: a copy (into the recording's arena) when it is
/// small, a reference otherwise.
pub(crate) fn own(handle: &RecordingHandle, data: &Bytes) -> Bytes {
    if data.len() <= COPY_BELOW {
        handle.copy_bytes(data)
    } else {
        data.clone()
    }
}

/// A whole body (held to its end, or an outgoing call's) as it is recorded: with its
/// secrets redacted ([`Redaction::body`]), read by what it is whatever the
/// `content-type` among `headers` claims.
pub(crate) fn redact_whole_body(redaction: &Redaction, headers: &HeaderMap, body: Bytes) -> Bytes {
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .map(http::HeaderValue::as_bytes);
    redaction.body(content_type, &body).unwrap_or(body)
}

#[cfg(test)]
mod tests {
    use retrace::event::RecordReason;
    use retrace::{Config, Recorder, StartOptions};

    use super::*;

    #[test]
    fn a_small_frame_is_copied_out_of_its_buffer_and_a_large_one_referenced() {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = Config::builder()
            .enabled(true)
            .service("own")
            .recording_path(dir.path())
            .build()
            .expect("config");
        let (recorder, guard) = Recorder::new(config).expect("recorder");
        let handle = recorder
            .start(StartOptions::new(RecordReason::Sampled))
            .expect("started");
        // A frame as hyper hands it out: a slice of a larger read buffer.
        let read_buffer = Bytes::from(vec![b'x'; 4 * COPY_BELOW]);
        let small = read_buffer.slice(10..110);
        let kept = own(&handle, &small);
        assert_eq!(kept, small);
        let inside = read_buffer.as_ptr_range();
        assert!(
            !inside.contains(&kept.as_ptr()),
            "a copy, not a slice of the buffer"
        );
        let large = read_buffer.slice(..COPY_BELOW + 1);
        assert_eq!(own(&handle, &large).as_ptr(), large.as_ptr());
        handle.finish(Some(200), retrace::event::Outcome::Completed);
        guard.shutdown().expect("shutdown");
    }
}
