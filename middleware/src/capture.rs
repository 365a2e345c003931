//! Capture shared by every layer: request and response heads as events (redacted
//! before they are buffered), and the body tap that tees frames into a recording.
//!
//! The tap keeps frames up to the per-body cap; past it the rest is only counted, and
//! a digest of the whole body is kept so the body can still be matched. A body is held
//! back until it ends whenever the redaction inspects bodies (the default), since a
//! secret can only be found once the body is whole: a JSON field, a token split across
//! two frames.
//!
//! Frames of up to [`COPY_BELOW`] bytes are copied, larger ones kept by reference. A
//! frame is usually a slice of a bigger buffer (hyper reads a connection into 8 KiB
//! and larger buffers and hands out slices of them), and a reference keeps the whole
//! buffer alive while the recording waits for the writer: with the writer stalled,
//! the in-flight byte budget counted the slices while memory held their buffers (a
//! 16 MiB budget let the process grow by 55 MiB in the end-to-end benchmark). A copy
//! of a small frame costs less than the memory it frees; a large frame is most of its
//! buffer.

use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use retrace::event::{BodyChunk, BodyEnd, Event, Header, Loss, RequestHead, ResponseHead};
use retrace::{RecordingHandle, Redaction};

/// How a capture point captures: the recorder's redaction and the body cap.
#[derive(Clone, Debug)]
pub(crate) struct CaptureSettings {
    pub(crate) redaction: Redaction,
    pub(crate) body_cap: usize,
}

impl CaptureSettings {
    pub(crate) fn headers(&self, headers: &HeaderMap) -> Vec<Header> {
        self.redaction.headers(headers)
    }

    /// The head of an incoming request, and the body's content coding when the body
    /// is recorded decoded (see [`message_headers`](Self::message_headers)).
    pub(crate) fn request_head<B>(&self, req: &http::Request<B>) -> (RequestHead, BodyCoding) {
        self.request_parts_head(req.method(), req.uri(), req.version(), req.headers())
    }

    pub(crate) fn request_parts_head(
        &self,
        method: &http::Method,
        uri: &http::Uri,
        v: http::Version,
        headers: &HeaderMap,
    ) -> (RequestHead, BodyCoding) {
        let (headers, coding) = self.message_headers(headers);
        let head = RequestHead {
            method: retrace::names::method(method),
            uri: self.redaction.uri(uri),
            version: retrace::names::version(v),
            headers,
        };
        (head, coding)
    }

    /// The head of a response, and the body's content coding when the body is recorded
    /// decoded.
    pub(crate) fn response_head<B>(&self, resp: &http::Response<B>) -> (ResponseHead, BodyCoding) {
        let (headers, coding) = self.message_headers(resp.headers());
        let head = ResponseHead {
            status: resp.status().as_u16(),
            version: retrace::names::version(resp.version()),
            headers,
        };
        (head, coding)
    }

    /// The headers of a message whose body is captured, redacted. When the body names
    /// codings [`retrace::content_coding`] undoes and the redaction reads bodies, the
    /// body is recorded decoded (a record layer outside a compression layer then
    /// records what one inside it would, and the detectors read the content), so
    /// `content-encoding` and `content-length`, which describe the encoded form, are
    /// left out and the coding is returned. Read from the redacted list the head needs
    /// anyway: no second lookup in the map.
    fn message_headers(&self, headers: &HeaderMap) -> (Vec<Header>, BodyCoding) {
        let mut recorded = self.headers(headers);
        let coding = recorded
            .iter()
            .find(|h| h.name.as_ref() == "content-encoding")
            .map(|h| h.value.clone())
            .filter(|v| self.redaction.inspects_bodies() && retrace::content_coding::supported(v));
        if coding.is_some() {
            recorded.retain(|h| {
                let name: &str = h.name.as_ref();
                name != "content-encoding" && name != "content-length"
            });
        }
        (recorded, BodyCoding(coding))
    }

    /// A body's content coding as [`message_headers`](Self::message_headers) decides
    /// it, read from the headers alone (for replay, which computes the recorded form of
    /// a live request to match it).
    pub(crate) fn body_coding(&self, headers: &HeaderMap) -> BodyCoding {
        BodyCoding(
            headers
                .get(http::header::CONTENT_ENCODING)
                .map(|v| Bytes::copy_from_slice(v.as_bytes()))
                .filter(|v| {
                    self.redaction.inspects_bodies() && retrace::content_coding::supported(v)
                }),
        )
    }
}

/// The `content-encoding` of a body that is recorded decoded; `None` for a body
/// recorded as it passed.
#[derive(Clone, Debug, Default)]
pub(crate) struct BodyCoding(Option<Bytes>);

impl BodyCoding {
    /// `body` as recorded: decoded when it has a coding, within `cap` bytes. A body
    /// that cannot be decoded within the cap is `None`: its compressed bytes cannot be
    /// read by the redaction detectors, so none of it is recorded.
    pub(crate) fn decode(&self, body: &Bytes, cap: usize) -> Option<Bytes> {
        match &self.0 {
            None => Some(body.clone()),
            Some(coding) => match retrace::content_coding::decode(Some(coding), body, cap) {
                Ok(Some(plain)) => Some(Bytes::from(plain)),
                Ok(None) => Some(body.clone()),
                Err(_) => None,
            },
        }
    }

    fn is_some(&self) -> bool {
        self.0.is_some()
    }
}

/// Frames up to this size are copied into the recording rather than referenced (see
/// the module docs).
pub(crate) const COPY_BELOW: usize = 64 * 1024;

/// `data` as a recording keeps it: a copy when it is small, a reference otherwise.
pub(crate) fn own(data: &Bytes) -> Bytes {
    if data.len() <= COPY_BELOW {
        Bytes::copy_from_slice(data)
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

/// Which body a tap sees, and so where its frames go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    /// The incoming request's body: one event per frame.
    Request,
    /// The response's body: one event per frame.
    Response,
    /// An outgoing call's answer: collected, and handed whole to the end hook.
    Collect,
}

/// What happens when a body ends: one of the two things a tap's owner asks for. An
/// enum rather than a boxed trait object, since a tap is made per recorded body and
/// the box was an allocation per body.
pub(crate) enum BodyEndHook {
    /// A response's body: the recording ends with it.
    FinishRecording(crate::record::FinishOnBodyEnd),
    /// An outgoing call's answer: the call is recorded with its body.
    RecordCall(crate::client::RecordCallResult),
}

impl BodyEndHook {
    /// Called exactly once, with how the body ended and, for a collecting tap, the kept
    /// bytes.
    fn body_ended(self, end: &BodyEnd, collected: Bytes) {
        match self {
            Self::FinishRecording(hook) => hook.body_ended(end),
            Self::RecordCall(hook) => hook.body_ended(end, collected),
        }
    }
}

/// A body held back until its end: most bodies arrive as one frame, which is kept as
/// [`own`] keeps any frame; a second frame makes them one buffer of the recording's,
/// copied once.
#[derive(Debug)]
enum Held {
    Empty,
    One(Bytes),
    Many(BytesMut),
}

impl Held {
    fn push(&mut self, data: &Bytes) {
        *self = match std::mem::replace(self, Held::Empty) {
            Held::Empty => Held::One(own(data)),
            Held::One(first) => {
                let mut buf = BytesMut::with_capacity(first.len() + data.len());
                buf.extend_from_slice(&first);
                buf.extend_from_slice(data);
                Held::Many(buf)
            }
            Held::Many(mut buf) => {
                buf.extend_from_slice(data);
                Held::Many(buf)
            }
        };
    }

    fn into_bytes(self) -> Bytes {
        match self {
            Held::Empty => Bytes::new(),
            Held::One(data) => data,
            Held::Many(buf) => buf.freeze(),
        }
    }
}

/// Tees one body's frames into a recording.
pub(crate) struct Tap {
    handle: RecordingHandle,
    side: Side,
    cap: usize,
    captured: usize,
    total: u64,
    // Boxed: a blake3 hasher is about 1.9 KiB, mostly unused (a digest is only needed
    // when the body may pass the cap); inline, it made every tap a 2 KiB allocation
    // copied on each move.
    hasher: Option<Box<blake3::Hasher>>,
    held: Option<Held>,
    /// The body's content type, for redaction; only kept when the body is held.
    content_type: ContentType,
    /// The body's content coding, when it is recorded decoded.
    coding: BodyCoding,
    trailers: Vec<Header>,
    settings: Arc<CaptureSettings>,
    on_end: Option<BodyEndHook>,
    ended: bool,
    started: Instant,
}

impl std::fmt::Debug for Tap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tap")
            .field("side", &self.side)
            .field("captured", &self.captured)
            .field("total", &self.total)
            .finish_non_exhaustive()
    }
}

/// A body's `content-type`, copied inline when short (as nearly all are): a clone of
/// a header value parsed into its own buffer would allocate, once per recorded body.
enum ContentType {
    Absent,
    Inline { bytes: [u8; 64], len: u8 },
    Long(http::HeaderValue),
}

impl ContentType {
    fn of(value: &http::HeaderValue) -> Self {
        let text = value.as_bytes();
        match u8::try_from(text.len()) {
            Ok(len) if text.len() <= 64 => {
                let mut bytes = [0; 64];
                bytes[..text.len()].copy_from_slice(text);
                Self::Inline { bytes, len }
            }
            _ => Self::Long(value.clone()),
        }
    }

    fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Self::Absent => None,
            Self::Inline { bytes, len } => Some(&bytes[..usize::from(*len)]),
            Self::Long(value) => Some(value.as_bytes()),
        }
    }
}

impl Tap {
    /// A tap for a body whose head carried `headers` (and, when it is recorded
    /// decoded, `coding`); `exact_len` is the body's exact size when known (no digest
    /// is needed when it fits under the cap).
    pub(crate) fn new(
        handle: RecordingHandle,
        side: Side,
        settings: &Arc<CaptureSettings>,
        headers: &HeaderMap,
        coding: BodyCoding,
        exact_len: Option<u64>,
        started: Instant,
    ) -> Self {
        let cap = settings.body_cap;
        let may_exceed = exact_len.is_none_or(|n| n > cap as u64);
        let held =
            (side == Side::Collect || settings.redaction.inspects_bodies()).then_some(Held::Empty);
        let content_type = match (&held, headers.get(http::header::CONTENT_TYPE)) {
            (Some(_), Some(value)) => ContentType::of(value),
            _ => ContentType::Absent,
        };
        Self {
            handle,
            side,
            cap,
            captured: 0,
            total: 0,
            hasher: may_exceed.then(|| Box::new(blake3::Hasher::new())),
            held,
            content_type,
            coding,
            trailers: Vec::new(),
            settings: Arc::clone(settings),
            on_end: None,
            ended: false,
            started,
        }
    }

    /// Runs `hook` when the body ends (or is dropped).
    pub(crate) fn on_end(mut self, hook: BodyEndHook) -> Self {
        self.on_end = Some(hook);
        self
    }

    fn at_us(&self) -> u64 {
        self.started.elapsed().as_micros() as u64
    }

    pub(crate) fn data(&mut self, data: &Bytes) {
        self.total += data.len() as u64;
        if let Some(h) = self.hasher.as_mut() {
            h.update(data);
        }
        if self.captured >= self.cap {
            return;
        }
        let take = data.len().min(self.cap - self.captured);
        self.captured += take;
        let kept = data.slice(..take);
        if let Some(held) = self.held.as_mut() {
            held.push(&kept);
            return;
        }
        let chunk = BodyChunk {
            at_us: self.at_us(),
            data: own(&kept),
        };
        self.handle.record(match self.side {
            Side::Request => Event::RequestBody(chunk),
            Side::Response | Side::Collect => Event::ResponseBody(chunk),
        });
    }

    /// The held body decoded, within the body cap. A body cut at the cap, one that
    /// decodes to more than the cap, or one that is not valid in its coding is not
    /// recorded at all (its compressed bytes cannot be read by the detectors): the
    /// recording says it was cut, with nothing captured.
    fn decoded(&mut self, held: &Bytes) -> Bytes {
        let whole = (self.captured as u64) == self.total;
        match self.coding.decode(held, self.cap) {
            Some(plain) if whole => {
                self.captured = plain.len();
                self.total = plain.len() as u64;
                self.hasher = None;
                plain
            }
            _ => {
                self.captured = 0;
                self.total = self.total.max(1);
                Bytes::new()
            }
        }
    }

    pub(crate) fn trailers(&mut self, trailers: &HeaderMap) {
        let redacted = self.settings.headers(trailers);
        self.trailers.extend(redacted);
    }

    /// Ends the body: `finished` is false when it was dropped or failed mid-way.
    pub(crate) fn end(&mut self, finished: bool) {
        if self.ended {
            return;
        }
        self.ended = true;
        let at_us = self.at_us();
        let mut collected = Bytes::new();
        if let Some(held) = self.held.take() {
            let mut held = held.into_bytes();
            if self.coding.is_some() {
                held = self.decoded(&held);
            }
            let content_type = self.content_type.as_bytes();
            let data = self
                .settings
                .redaction
                .body(content_type, &held)
                .unwrap_or(held);
            match self.side {
                Side::Request => self
                    .handle
                    .record(Event::RequestBody(BodyChunk { at_us, data })),
                Side::Response => self
                    .handle
                    .record(Event::ResponseBody(BodyChunk { at_us, data })),
                Side::Collect => collected = data,
            }
        }
        let truncated = (self.captured as u64) < self.total;
        let end = BodyEnd {
            at_us,
            total_len: self.total,
            captured_len: self.captured as u64,
            digest: if truncated {
                self.hasher.take().map(|h| *h.finalize().as_bytes())
            } else {
                None
            },
            trailers: std::mem::take(&mut self.trailers),
            finished,
        };
        let dropped_bytes = self.total - self.captured as u64;
        match self.side {
            Side::Request => {
                if truncated {
                    self.handle
                        .note_loss(Loss::RequestBodyTruncated { dropped_bytes });
                }
                self.handle.record(Event::RequestEnd(end.clone()));
            }
            Side::Response => {
                if truncated {
                    self.handle
                        .note_loss(Loss::ResponseBodyTruncated { dropped_bytes });
                }
                self.handle.record(Event::ResponseEnd(end.clone()));
            }
            // The end hook records the whole call with its body.
            Side::Collect => {}
        }
        if let Some(hook) = self.on_end.take() {
            hook.body_ended(&end, collected);
        }
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.end(false);
    }
}
