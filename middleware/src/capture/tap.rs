//! The body tap: tees one body's frames into a recording up to the per-body cap; past
//! it the rest is only counted, and a digest of the whole body is kept so the body can
//! still be matched. A body is held back until it ends whenever the redaction inspects
//! bodies (the default), since a secret can only be found once the body is whole: a
//! JSON field, a token split across two frames.

use std::time::Instant;

use bytes::Bytes;
use http::HeaderMap;
use retrace::RecordingHandle;
use retrace::event::{BodyChunk, BodyEnd, Event, Header, Loss};

use super::{BodyCoding, CaptureSettings, Joined, own};

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
    /// The body held back until its end (see [`Joined`]).
    held: Option<Joined>,
    /// The body's content type, for redaction; only kept when the body is held.
    content_type: ContentType,
    /// The body's content coding, when it is recorded decoded.
    coding: BodyCoding,
    trailers: Vec<Header>,
    settings: CaptureSettings,
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
        settings: &CaptureSettings,
        headers: &HeaderMap,
        coding: BodyCoding,
        exact_len: Option<u64>,
        started: Instant,
    ) -> Self {
        let cap = settings.body_cap;
        let may_exceed = exact_len.is_none_or(|n| n > cap as u64);
        let held = (side == Side::Collect || settings.redaction.inspects_bodies())
            .then_some(Joined::Empty);
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
            settings: settings.clone(),
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
            // Referenced while held (the body is alive meanwhile anyway); a body
            // of one frame is copied into the recording at its end, once.
            held.push(&kept);
            return;
        }
        let chunk = BodyChunk {
            at_us: self.at_us(),
            data: own(&self.handle, &kept),
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
        let redacted = self.settings.headers(&self.handle, trailers);
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
            // A body of one frame still refers to the frame; several were joined
            // into a buffer of the tap's own, and decoding makes another.
            let mut referenced = matches!(held, Joined::One(_));
            let mut held = held.into_bytes();
            if self.coding.is_some() {
                held = self.decoded(&held);
                referenced = false;
            }
            let content_type = self.content_type.as_bytes();
            let data = self
                .settings
                .redaction
                .body(content_type, &held)
                .unwrap_or_else(|| {
                    if referenced {
                        own(&self.handle, &held)
                    } else {
                        held
                    }
                });
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
