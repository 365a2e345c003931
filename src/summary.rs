//! [`Summary`]: what a listing shows about a recording, without its bodies.
//!
//! The writer folds every chunk it writes into a summary and stores the summaries in the
//! segment index when the segment closes; a reader scanning a segment that was never
//! closed folds the same way, so both paths agree by construction.

use serde::{Deserialize, Serialize};

use crate::event::{Chunk, Event, Outcome, RecordReason};
use crate::id::{RecordingId, TraceId};

/// The listing view of one recording.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// The recording's id.
    pub id: RecordingId,
    /// Its trace, when known.
    pub trace_id: Option<TraceId>,
    /// Wall-clock start, microseconds since the Unix epoch.
    pub started_unix_us: u64,
    /// Request method.
    pub method: crate::event::Name,
    /// Request target (path and query).
    pub uri: String,
    /// Response status, when there was a response.
    pub status: Option<u16>,
    /// Duration in microseconds, when the recording ended.
    pub duration_us: Option<u64>,
    /// Why it was recorded, when the recording ended.
    pub reason: Option<RecordReason>,
    /// Outgoing calls made.
    pub outbound_calls: u32,
    /// Values asked for (clock, random, boundaries).
    pub values: u32,
    /// Request body bytes that passed through.
    pub request_bytes: u64,
    /// Response body bytes that passed through.
    pub response_bytes: u64,
    /// Estimated raw size of the recording's events.
    pub raw_bytes: u64,
    /// Events in the recording.
    pub events: u32,
    /// Whether a body was cut at its cap or events at the recording limit.
    pub truncated: bool,
    /// Whether the request or response was abandoned mid-way.
    pub aborted: bool,
    /// Whether the service returned an error instead of a response.
    pub failed: bool,
    /// Whether any part was lost on the way to disk (reported by the recorder).
    pub lost_chunks: bool,
    /// Chunks of the recording seen.
    pub chunks_seen: u32,
    /// Sequence number of the final chunk, once seen.
    pub last_chunk: Option<u32>,
}

impl Summary {
    /// An empty summary for a recording.
    pub fn new(id: RecordingId) -> Self {
        Self {
            id,
            trace_id: None,
            started_unix_us: id.unix_ms() * 1000,
            method: crate::event::Name::Borrowed(""),
            uri: String::new(),
            status: None,
            duration_us: None,
            reason: None,
            outbound_calls: 0,
            values: 0,
            request_bytes: 0,
            response_bytes: 0,
            raw_bytes: 0,
            events: 0,
            truncated: false,
            aborted: false,
            failed: false,
            lost_chunks: false,
            chunks_seen: 0,
            last_chunk: None,
        }
    }

    /// Folds one chunk of this recording into the summary.
    pub fn absorb(&mut self, chunk: &Chunk) {
        self.chunks_seen += 1;
        if chunk.last {
            self.last_chunk = Some(chunk.seq);
        }
        for event in &chunk.events {
            self.events += 1;
            self.raw_bytes += event.approx_size() as u64;
            match event {
                Event::Begin(b) => {
                    self.started_unix_us = b.started_unix_us;
                    self.trace_id = b.trace_id;
                }
                Event::Request(h) => {
                    self.method.clone_from(&h.method);
                    self.uri.clone_from(&h.uri);
                }
                Event::RequestEnd(e) => {
                    self.request_bytes = e.total_len;
                    self.truncated |= e.truncated();
                }
                Event::ResponseEnd(e) => {
                    self.response_bytes = e.total_len;
                    self.truncated |= e.truncated();
                }
                Event::Response(h) => self.status = Some(h.status),
                Event::Call(_) => self.outbound_calls += 1,
                Event::Value(_) => self.values += 1,
                Event::End(end) => {
                    self.status = end.status.or(self.status);
                    self.duration_us = Some(end.duration_us);
                    self.reason = Some(end.reason);
                    match end.outcome {
                        Outcome::Completed => {}
                        Outcome::Aborted => self.aborted = true,
                        Outcome::Failed(_) => self.failed = true,
                    }
                    for loss in &end.losses {
                        match loss {
                            crate::event::Loss::ChunksDropped { .. } => self.lost_chunks = true,
                            _ => self.truncated = true,
                        }
                    }
                }
                Event::RequestBody(_) | Event::ResponseBody(_) | Event::CallResult(_) => {}
            }
        }
    }

    /// Merges a summary of other chunks of the same recording (from another segment).
    pub fn merge(&mut self, other: &Summary) {
        if self.method.is_empty() {
            self.method.clone_from(&other.method);
            self.uri.clone_from(&other.uri);
        }
        if other.trace_id.is_some() {
            self.trace_id = other.trace_id;
            self.started_unix_us = other.started_unix_us;
        }
        self.status = other.status.or(self.status);
        self.duration_us = other.duration_us.or(self.duration_us);
        self.reason = other.reason.or(self.reason);
        self.outbound_calls += other.outbound_calls;
        self.values += other.values;
        self.request_bytes = self.request_bytes.max(other.request_bytes);
        self.response_bytes = self.response_bytes.max(other.response_bytes);
        self.raw_bytes += other.raw_bytes;
        self.events += other.events;
        self.truncated |= other.truncated;
        self.aborted |= other.aborted;
        self.failed |= other.failed;
        self.lost_chunks |= other.lost_chunks;
        self.chunks_seen += other.chunks_seen;
        self.last_chunk = other.last_chunk.or(self.last_chunk);
    }

    /// Whether the recording ended and every chunk of it is present.
    pub fn ended(&self) -> bool {
        self.last_chunk.is_some()
    }

    /// Whether every part of the recording reached disk: it ended, no chunk is missing
    /// and the recorder reported no loss.
    pub fn complete(&self) -> bool {
        self.last_chunk
            .is_some_and(|last| last + 1 == self.chunks_seen)
            && !self.lost_chunks
    }

    /// The path part of the request target.
    pub fn path(&self) -> &str {
        self.uri.split(['?', '#']).next().unwrap_or(&self.uri)
    }
}
