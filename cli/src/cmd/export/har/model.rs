//! The HAR 1.2 format (<http://www.softwareishard.com/blog/har-12-spec/>) as serde types.
//! Every field the specification requires is a plain field; optional ones are `Option`s
//! left out when empty. Fields starting with `_` are the custom fields the
//! specification allows, read by browser developer tools where they know them
//! (`_error`).

use serde::{Deserialize, Serialize};

/// The top-level object.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Har {
    pub(crate) log: Log,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Log {
    pub(crate) version: String,
    pub(crate) creator: Creator,
    pub(crate) pages: Vec<Page>,
    pub(crate) entries: Vec<Entry>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Creator {
    pub(crate) name: String,
    pub(crate) version: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Page {
    pub(crate) started_date_time: String,
    pub(crate) id: String,
    pub(crate) title: String,
    pub(crate) page_timings: PageTimings,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PageTimings {
    pub(crate) on_content_load: f64,
    pub(crate) on_load: f64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Entry {
    pub(crate) pageref: String,
    pub(crate) started_date_time: String,
    pub(crate) time: f64,
    pub(crate) request: Request,
    pub(crate) response: Response,
    pub(crate) cache: Cache,
    pub(crate) timings: Timings,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) comment: Option<String>,
    /// Which recording and which part of it the entry shows.
    #[serde(rename = "_retrace")]
    pub(crate) retrace: RetraceTag,
}

/// The custom field tying an entry to its recording.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RetraceTag {
    pub(crate) recording: String,
    /// `incoming` for the request the service received, `outgoing` for its calls.
    pub(crate) direction: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) call_id: Option<u32>,
    /// How the incoming request ended: `completed`, `aborted` (the client went away
    /// before the response ended: the response is partial), `failed`, or `incomplete`
    /// (the recording has no end).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) outcome: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Request {
    pub(crate) method: String,
    pub(crate) url: String,
    pub(crate) http_version: String,
    pub(crate) cookies: Vec<Cookie>,
    pub(crate) headers: Vec<NameValue>,
    pub(crate) query_string: Vec<NameValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) post_data: Option<PostData>,
    pub(crate) headers_size: i64,
    pub(crate) body_size: i64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) status_text: String,
    pub(crate) http_version: String,
    pub(crate) cookies: Vec<Cookie>,
    pub(crate) headers: Vec<NameValue>,
    pub(crate) content: Content,
    #[serde(rename = "redirectURL")]
    pub(crate) redirect_url: String,
    pub(crate) headers_size: i64,
    pub(crate) body_size: i64,
    /// Why there is no response (the call failed), as Chrome's HAR export names it.
    #[serde(rename = "_error", skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Cookie {
    pub(crate) name: String,
    pub(crate) value: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct NameValue {
    pub(crate) name: String,
    pub(crate) value: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PostData {
    pub(crate) mime_type: String,
    pub(crate) params: Vec<NameValue>,
    pub(crate) text: String,
    /// `base64` when `text` carries a binary body in base64 (HAR 1.2 has no encoding
    /// field for request bodies).
    #[serde(rename = "_encoding", skip_serializing_if = "Option::is_none")]
    pub(crate) encoding: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Content {
    pub(crate) size: i64,
    pub(crate) mime_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) encoding: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Cache {}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Timings {
    pub(crate) send: f64,
    pub(crate) wait: f64,
    pub(crate) receive: f64,
}
