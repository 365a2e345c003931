//! [`Recording`]: one recording read back, with accessors for what replay and the CLI
//! need.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use super::SessionInfo;
use crate::event::{
    Begin, BodyEnd, End, Event, NamedValue, OutboundCall, OutboundResult, RequestHead, ResponseHead,
};
use crate::id::RecordingId;
use crate::summary::Summary;

/// A recording read from the store.
#[derive(Clone, Debug)]
pub struct Recording {
    /// Its id.
    pub id: RecordingId,
    /// The session it belongs to.
    pub session: Arc<SessionInfo>,
    /// Its summary.
    pub summary: Summary,
    /// Its events, in order.
    pub events: Vec<Event>,
}

/// An outgoing call with its answer, if one was recorded.
#[derive(Clone, Debug)]
pub struct CallRecord<'a> {
    /// The call.
    pub call: &'a OutboundCall,
    /// Its answer.
    pub result: Option<&'a OutboundResult>,
}

fn concat<'a>(chunks: impl Iterator<Item = &'a Bytes>) -> Bytes {
    let parts: Vec<&Bytes> = chunks.collect();
    match parts.as_slice() {
        [] => Bytes::new(),
        [one] => (*one).clone(),
        many => {
            let mut buf = BytesMut::with_capacity(many.iter().map(|b| b.len()).sum());
            for b in many {
                buf.extend_from_slice(b);
            }
            buf.freeze()
        }
    }
}

impl Recording {
    /// The first event.
    pub fn begin(&self) -> Option<&Begin> {
        self.events.iter().find_map(|e| match e {
            Event::Begin(b) => Some(b),
            _ => None,
        })
    }

    /// The incoming request's head.
    pub fn request(&self) -> Option<&RequestHead> {
        self.events.iter().find_map(|e| match e {
            Event::Request(h) => Some(h),
            _ => None,
        })
    }

    /// The captured incoming request body.
    pub fn request_body(&self) -> Bytes {
        concat(self.events.iter().filter_map(|e| match e {
            Event::RequestBody(c) => Some(&c.data),
            _ => None,
        }))
    }

    /// How the request body ended.
    pub fn request_end(&self) -> Option<&BodyEnd> {
        self.events.iter().find_map(|e| match e {
            Event::RequestEnd(b) => Some(b),
            _ => None,
        })
    }

    /// The response head.
    pub fn response(&self) -> Option<&ResponseHead> {
        self.events.iter().find_map(|e| match e {
            Event::Response(h) => Some(h),
            _ => None,
        })
    }

    /// The captured response body.
    pub fn response_body(&self) -> Bytes {
        concat(self.events.iter().filter_map(|e| match e {
            Event::ResponseBody(c) => Some(&c.data),
            _ => None,
        }))
    }

    /// How the response body ended.
    pub fn response_end(&self) -> Option<&BodyEnd> {
        self.events.iter().find_map(|e| match e {
            Event::ResponseEnd(b) => Some(b),
            _ => None,
        })
    }

    /// The outgoing calls, in the order they started, each with its answer.
    pub fn calls(&self) -> Vec<CallRecord<'_>> {
        let mut calls: Vec<CallRecord<'_>> = self
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Call(c) => Some(CallRecord {
                    call: c,
                    result: None,
                }),
                _ => None,
            })
            .collect();
        for e in &self.events {
            if let Event::CallResult(r) = e
                && let Some(c) = calls.iter_mut().find(|c| c.call.call_id == r.call_id)
            {
                c.result = Some(r);
            }
        }
        calls.sort_by_key(|c| c.call.call_id);
        calls
    }

    /// The values the code asked for, in order.
    pub fn values(&self) -> impl Iterator<Item = &NamedValue> {
        self.events.iter().filter_map(|e| match e {
            Event::Value(v) => Some(v),
            _ => None,
        })
    }

    /// The last event, when the recording ended.
    pub fn end(&self) -> Option<&End> {
        self.events.iter().rev().find_map(|e| match e {
            Event::End(end) => Some(end),
            _ => None,
        })
    }
}
