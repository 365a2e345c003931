//! Well-known names of HTTP heads, borrowed from static tables.
//!
//! Capturing a head used to allocate a `String` for its method, its version and every
//! header name, and the request path paid for those allocations twice (made there, and
//! freed there when the written buffer came back). Methods, versions and most header
//! names come from small fixed sets, so they are recorded as borrowed [`Name`]s and only
//! a custom name allocates. The encoding is unchanged: a name is a plain string on disk.

use std::borrow::Cow;

use http::header::HeaderName;
use http::{Method, Version};

use crate::event::Name;

/// The recorded name of a method: borrowed for the standard ones.
pub fn method(method: &Method) -> Name {
    let name = match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => return Cow::Owned(method.as_str().to_owned()),
    };
    Cow::Borrowed(name)
}

/// The printed form of an HTTP version, such as `HTTP/1.1`.
pub fn version(version: Version) -> Name {
    Cow::Borrowed(match version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_11 => "HTTP/1.1",
        Version::HTTP_2 => "HTTP/2",
        Version::HTTP_3 => "HTTP/3",
        _ => "HTTP/?",
    })
}

/// Header names seen on most requests and responses (`http` keeps names lower case, as
/// these are); a name not listed is recorded as an owned string. The list makes a
/// `match` (its constants inlined: about a quarter of the instructions of walking a
/// list of strings) and, for the tests, a `COMMON_HEADERS` array.
macro_rules! common_headers {
    ($($name:literal,)*) => {
        #[cfg(test)]
        const COMMON_HEADERS: &[&str] = &[$($name,)*];

        /// The static copy of `text` when it is a common header name.
        fn common_header(text: &str) -> Option<&'static str> {
            match text {
                $($name => Some($name),)*
                _ => None,
            }
        }
    };
}

common_headers! {
    "host",
    "content-type",
    "content-length",
    "accept",
    "user-agent",
    "date",
    "accept-encoding",
    "accept-language",
    "connection",
    "cache-control",
    "transfer-encoding",
    "content-encoding",
    "authorization",
    "cookie",
    "set-cookie",
    "server",
    "vary",
    "etag",
    "last-modified",
    "if-none-match",
    "if-modified-since",
    "location",
    "origin",
    "referer",
    "pragma",
    "expires",
    "x-content-type-options",
    "access-control-allow-origin",
    "proxy-authorization",
    "upgrade",
    "traceparent",
    "tracestate",
    "x-request-id",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-real-ip",
    "x-api-key",
    "x-retrace-parent",
    "x-retrace-record",
    "x-retrace-recording-id",
}

/// The recorded name of a header: borrowed when it is a common one.
pub fn header(name: &HeaderName) -> Name {
    let text = name.as_str();
    match common_header(text) {
        Some(known) => Cow::Borrowed(known),
        None => Cow::Owned(text.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header;

    #[test]
    fn table_entries_are_borrowed_as_their_header_name() {
        for text in COMMON_HEADERS {
            let name = HeaderName::from_static(text);
            assert!(matches!(header(&name), Cow::Borrowed(t) if t == *text));
        }
        assert!(matches!(header(&header::HOST), Cow::Borrowed("host")));
    }

    #[test]
    fn other_names_are_owned_and_exact() {
        let name = HeaderName::from_static("x-shop-tenant");
        assert!(matches!(header(&name), Cow::Owned(t) if t == "x-shop-tenant"));
        let custom = Method::from_bytes(b"PURGE").expect("a valid method");
        assert_eq!(method(&custom), "PURGE");
        assert!(matches!(method(&Method::PATCH), Cow::Borrowed("PATCH")));
        assert_eq!(version(Version::HTTP_2), "HTTP/2");
    }
}
