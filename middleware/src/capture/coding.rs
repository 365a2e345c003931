//! Whether a captured body is recorded decoded, and decoding it: a body with a
//! `content-encoding` the core undoes is recorded plain (within the body cap), so the
//! redaction detectors read it and the recording is the same whichever side of a
//! compression layer the capture sits.

use bytes::Bytes;
use http::HeaderMap;
use retrace::Redaction;
use retrace::event::Header;

/// The `content-encoding` of a body that is recorded decoded; `None` for a body
/// recorded as it passed.
#[derive(Clone, Debug, Default)]
pub(crate) struct BodyCoding(Option<Bytes>);

impl BodyCoding {
    /// The coding of a body whose redacted head is `headers`: when the body names
    /// codings [`retrace::content_coding`] undoes and the redaction reads bodies, the
    /// body is recorded decoded, so `content-encoding` and `content-length`, which
    /// describe the encoded form, are taken out of the head. Read from the redacted
    /// list the head needs anyway: no second lookup in the map.
    pub(crate) fn take_from_head(redaction: &Redaction, headers: &mut Vec<Header>) -> Self {
        let coding = headers
            .iter()
            .find(|h| h.name.as_ref() == "content-encoding")
            .map(|h| h.value.clone())
            .filter(|v| decodes(redaction, v));
        if coding.is_some() {
            headers.retain(|h| {
                let name: &str = h.name.as_ref();
                name != "content-encoding" && name != "content-length"
            });
        }
        Self(coding)
    }

    /// The same decision from a message's headers.
    pub(crate) fn of(redaction: &Redaction, headers: &HeaderMap) -> Self {
        Self(
            headers
                .get(http::header::CONTENT_ENCODING)
                .map(|v| Bytes::copy_from_slice(v.as_bytes()))
                .filter(|v| decodes(redaction, v)),
        )
    }

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

    /// Whether the body is recorded decoded.
    pub(crate) fn is_some(&self) -> bool {
        self.0.is_some()
    }
}

fn decodes(redaction: &Redaction, content_encoding: &[u8]) -> bool {
    redaction.inspects_bodies() && retrace::content_coding::supported(content_encoding)
}
