//! HAR 1.2 export: recordings as an HTTP archive that browser developer tools (and most
//! HTTP tooling) open. Each recording becomes a page; its incoming request is the first
//! entry of the page and every outgoing call follows as an entry of its own, so the
//! dependency traffic shows in the same timeline. Binary bodies travel as base64.

pub(crate) mod model;

use retrace::{
    BodyEnd, CallOutcome, Header, Outcome, Recording, RecordingInfo, RequestHead, ResponseHead,
};

use self::model::{
    Cache, Content, Creator, Entry, Har, Log, NameValue, Page, PageTimings, PostData, Request,
    Response, RetraceTag, Timings,
};
use crate::format::message::{find, header_value, reason_phrase};
use crate::time::rfc3339_millis;
use retrace::json::encode_body;

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn name_values(headers: &[Header]) -> Vec<NameValue> {
    headers
        .iter()
        .map(|h| NameValue {
            name: h.name.to_string(),
            value: header_value(&h.value),
        })
        .collect()
}

fn query_string(url: &str) -> Vec<NameValue> {
    let Some((_, query)) = url.split_once('?') else {
        return Vec::new();
    };
    let query = query.split('#').next().unwrap_or(query);
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            NameValue {
                name: name.to_owned(),
                value: value.to_owned(),
            }
        })
        .collect()
}

fn body_size(data: &[u8], end: Option<&BodyEnd>) -> u64 {
    end.map_or(0, |e| e.total_len).max(data.len() as u64)
}

fn request(head: &RequestHead, url: String, data: &[u8], end: Option<&BodyEnd>) -> Request {
    let size = body_size(data, end);
    let post_data = (size > 0).then(|| {
        let (encoding, text) = encode_body(data);
        PostData {
            mime_type: find(&head.headers, "content-type")
                .unwrap_or_else(|| "application/octet-stream".to_owned()),
            params: Vec::new(),
            text,
            encoding: (encoding == "base64").then(|| encoding.to_owned()),
        }
    });
    Request {
        method: head.method.to_string(),
        query_string: query_string(&url),
        url,
        http_version: head.version.to_string(),
        cookies: Vec::new(),
        headers: name_values(&head.headers),
        post_data,
        headers_size: -1,
        body_size: size as i64,
    }
}

fn response(head: &ResponseHead, data: &[u8], end: Option<&BodyEnd>) -> Response {
    let size = body_size(data, end) as i64;
    let (encoding, text) = encode_body(data);
    Response {
        status: head.status,
        status_text: reason_phrase(head.status).to_owned(),
        http_version: head.version.to_string(),
        cookies: Vec::new(),
        headers: name_values(&head.headers),
        content: Content {
            size,
            mime_type: find(&head.headers, "content-type")
                .unwrap_or_else(|| "x-unknown".to_owned()),
            text: Some(text),
            encoding: (encoding == "base64").then(|| encoding.to_owned()),
        },
        redirect_url: find(&head.headers, "location").unwrap_or_default(),
        headers_size: -1,
        body_size: size,
        error: None,
    }
}

fn no_response(error: String) -> Response {
    Response {
        status: 0,
        status_text: String::new(),
        http_version: String::new(),
        cookies: Vec::new(),
        headers: Vec::new(),
        content: Content {
            size: 0,
            mime_type: "x-unknown".to_owned(),
            text: None,
            encoding: None,
        },
        redirect_url: String::new(),
        headers_size: -1,
        body_size: -1,
        error: Some(error),
    }
}

fn timings(time: f64) -> Timings {
    Timings {
        send: 0.0,
        wait: time,
        receive: 0.0,
    }
}

/// The absolute URL of the incoming request: the recorded target joined to the `host`
/// header (and `x-forwarded-proto`, else http); the service name stands in for a
/// missing host.
fn incoming_url(info: &RecordingInfo, head: &RequestHead) -> String {
    if head.uri.contains("://") {
        return head.uri.clone();
    }
    let scheme = find(&head.headers, "x-forwarded-proto").unwrap_or_else(|| "http".to_owned());
    let host = find(&head.headers, "host").unwrap_or_else(|| info.session.service().to_owned());
    format!("{scheme}://{host}{}", head.uri)
}

fn outgoing_url(target: &str, uri: &str) -> String {
    if uri.contains("://") {
        uri.to_owned()
    } else {
        format!("http://{target}{uri}")
    }
}

/// The page and entries of one recording.
fn add_recording(log: &mut Log, info: &RecordingInfo, rec: &Recording) {
    let s = &rec.summary;
    let id = rec.id.to_string();
    let start = s.started_unix_us;
    let time = ms(s.duration_us.unwrap_or(0));
    log.pages.push(Page {
        started_date_time: rfc3339_millis(start),
        id: id.clone(),
        title: format!("{}: {} {}", info.session.service(), s.method, s.uri),
        page_timings: PageTimings {
            on_content_load: -1.0,
            on_load: time,
        },
    });
    if let Some(head) = rec.request() {
        let response = match (rec.response(), rec.end().map(|e| &e.outcome)) {
            (Some(h), _) => response(h, &rec.response_body(), rec.response_end()),
            (None, Some(Outcome::Failed(e))) => no_response(e.clone()),
            (None, _) => no_response("no response was recorded".to_owned()),
        };
        log.entries.push(Entry {
            pageref: id.clone(),
            started_date_time: rfc3339_millis(start),
            time,
            request: request(
                head,
                incoming_url(info, head),
                &rec.request_body(),
                rec.request_end(),
            ),
            response,
            cache: Cache::default(),
            timings: timings(time),
            comment: Some(match rec.end().map(|e| &e.outcome) {
                Some(Outcome::Aborted) => format!(
                    "incoming request of recording {id}; aborted: the client went away \
                     before the response ended, so the response is partial"
                ),
                _ => format!("incoming request of recording {id}"),
            }),
            retrace: RetraceTag {
                recording: id.clone(),
                direction: "incoming".to_owned(),
                call_id: None,
                outcome: Some(
                    match rec.end().map(|e| &e.outcome) {
                        Some(Outcome::Completed) => "completed",
                        Some(Outcome::Aborted) => "aborted",
                        Some(Outcome::Failed(_)) => "failed",
                        None => "incomplete",
                    }
                    .to_owned(),
                ),
            },
        });
    }
    for c in rec.calls() {
        let time = ms(c.result.map_or(0, |r| r.duration_us));
        let response = match c.result.map(|r| &r.outcome) {
            Some(CallOutcome::Response { head, body }) => {
                response(head, &body.data, Some(&body.end))
            }
            Some(CallOutcome::Error(e)) => no_response(e.clone()),
            None => no_response("no answer was recorded".to_owned()),
        };
        let head = &c.call.head;
        log.entries.push(Entry {
            pageref: id.clone(),
            started_date_time: rfc3339_millis(start + c.call.at_us),
            time,
            request: request(
                head,
                outgoing_url(&c.call.target, &head.uri),
                &c.call.body.data,
                Some(&c.call.body.end),
            ),
            response,
            cache: Cache::default(),
            timings: timings(time),
            comment: Some(format!(
                "outgoing call {} to {} of recording {id}",
                c.call.call_id, c.call.target
            )),
            retrace: RetraceTag {
                recording: id.clone(),
                direction: "outgoing".to_owned(),
                call_id: Some(c.call.call_id),
                outcome: None,
            },
        });
    }
}

/// The archive of the given recordings, in order.
pub(crate) fn archive<'a>(
    recordings: impl IntoIterator<Item = (&'a RecordingInfo, &'a Recording)>,
) -> Har {
    let mut log = Log {
        version: "1.2".to_owned(),
        creator: Creator {
            name: "retrace".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        },
        pages: Vec::new(),
        entries: Vec::new(),
    };
    for (info, rec) in recordings {
        add_recording(&mut log, info, rec);
    }
    Har { log }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_split_into_pairs() {
        let q = query_string("http://h/p?a=1&b=&c#frag");
        let pairs: Vec<_> = q
            .iter()
            .map(|p| (p.name.as_str(), p.value.as_str()))
            .collect();
        assert_eq!(pairs, [("a", "1"), ("b", ""), ("c", "")]);
        assert!(query_string("http://h/p").is_empty());
    }
}
