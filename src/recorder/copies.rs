//! [`Copies`]: where a recording's capture points put what they copy out of the
//! messages it sees, and the allocations reused for it.
//!
//! Bytes go into the recording's [`ByteArena`]. The lists of headers and the texts of
//! its heads are `Vec`s and `String`s, and an outgoing call and its answer are boxed
//! (public event types); a new recording takes them from the events of one written
//! before, which the request path frees anyway when it takes their buffer back from
//! the pool ([`crate::hand_off`]): emptied and refilled, instead of freed and
//! allocated again. The written recording's copy buffer comes back with its events
//! too; once they are gone it serves the new recording from its start
//! ([`ByteArena::reclaimed`]).
//!
//! Only written recordings are reused: handing a discarded tentative one to the pool
//! cost tail keep more instructions (about 500 a request) than the three allocations
//! it saved.

use crate::arena::ByteArena;
use crate::event::{CallOutcome, Event, Header, OutboundCall, OutboundResult, WholeBody};

/// Lists of headers a recording keeps for reuse: a recorded request's two heads and
/// one outgoing call's two.
const HEADER_LISTS: usize = 4;
/// Texts a recording keeps for reuse: the request's URI, and one call's URI and target.
const TEXTS: usize = 3;

/// A recording's copies: its arena, and allocations reused from a recording before.
#[derive(Debug)]
pub(crate) struct Copies {
    pub(crate) bytes: ByteArena,
    header_lists: [Vec<Header>; HEADER_LISTS],
    texts: [String; TEXTS],
    /// One outgoing call's box and its answer's, emptied.
    call: Option<Box<OutboundCall>>,
    result: Option<Box<OutboundResult>>,
}

impl Copies {
    pub(crate) fn new() -> Self {
        Self::with(ByteArena::new())
    }

    /// Copies that share and reuse nothing: what is left to a recording that ended.
    pub(crate) fn unpooled() -> Self {
        Self::with(ByteArena::unpooled())
    }

    fn with(bytes: ByteArena) -> Self {
        Self {
            bytes,
            header_lists: Default::default(),
            texts: Default::default(),
            call: None,
            result: None,
        }
    }

    /// Frees `event`, keeping its allocations for reuse while there is room. What is
    /// kept refers to nothing of the event's bytes, so its copy buffer can be reclaimed.
    pub(crate) fn salvage(&mut self, event: Event) {
        match event {
            Event::Request(head) => {
                self.keep_headers(head.headers);
                self.keep_text(head.uri);
            }
            Event::Response(head) => self.keep_headers(head.headers),
            Event::Call(mut call) => {
                self.keep_headers(std::mem::take(&mut call.head.headers));
                self.keep_text(std::mem::take(&mut call.head.uri));
                self.keep_text(std::mem::take(&mut call.target));
                call.body = WholeBody::default();
                self.call.get_or_insert(call);
            }
            Event::CallResult(mut result) => {
                let outcome =
                    std::mem::replace(&mut result.outcome, CallOutcome::Error(String::new()));
                if let CallOutcome::Response { head, .. } = outcome {
                    self.keep_headers(head.headers);
                }
                self.result.get_or_insert(result);
            }
            _ => {}
        }
    }

    fn keep_headers(&mut self, mut list: Vec<Header>) {
        if let Some(slot) = self.header_lists.iter_mut().find(|s| s.capacity() == 0) {
            list.clear();
            *slot = list;
        }
    }

    fn keep_text(&mut self, mut text: String) {
        if let Some(slot) = self.texts.iter_mut().find(|s| s.capacity() == 0) {
            text.clear();
            *slot = text;
        }
    }

    /// An empty list of headers with room for `n`: the smallest kept list that has
    /// it, else the largest (grown), else a new one.
    pub(crate) fn header_list(&mut self, n: usize) -> Vec<Header> {
        let kept = self.header_lists.iter_mut().filter(|s| s.capacity() > 0);
        match kept.min_by_key(|s| (s.capacity() < n, s.capacity().abs_diff(n))) {
            Some(fit) => {
                let mut list = std::mem::take(fit);
                list.reserve_exact(n);
                list
            }
            None => Vec::with_capacity(n),
        }
    }

    /// An empty text (for a URI, a call's target).
    pub(crate) fn text(&mut self) -> String {
        self.texts
            .iter_mut()
            .find(|s| s.capacity() > 0)
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// `call` in the box a written recording's call left, if there is one.
    pub(crate) fn boxed_call(&mut self, call: OutboundCall) -> Box<OutboundCall> {
        refill(self.call.take(), call)
    }

    /// `result` in the box a written recording's call result left, if there is one.
    pub(crate) fn boxed_result(&mut self, result: OutboundResult) -> Box<OutboundResult> {
        refill(self.result.take(), result)
    }
}

/// `value` in `kept`'s allocation, or in a new box.
fn refill<T>(kept: Option<Box<T>>, value: T) -> Box<T> {
    match kept {
        Some(mut boxed) => {
            *boxed = value;
            boxed
        }
        None => Box::new(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{BodyEnd, RequestHead, ResponseHead};
    use bytes::Bytes;

    fn request(headers: usize) -> Event {
        Event::Request(RequestHead {
            method: "GET".into(),
            uri: "/orders?page=2".to_owned(),
            version: "HTTP/1.1".into(),
            headers: (0..headers)
                .map(|i| Header::new("x", format!("{i}")))
                .collect(),
        })
    }

    #[test]
    fn a_salvaged_heads_lists_and_text_come_back_empty_with_their_allocations() {
        let mut copies = Copies::new();
        let Event::Request(head) = request(3) else {
            unreachable!()
        };
        let (list_at, text_at) = (head.headers.as_ptr(), head.uri.as_ptr());
        copies.salvage(Event::Request(head));
        let list = copies.header_list(2);
        assert!(list.is_empty());
        assert_eq!(list.as_ptr(), list_at);
        let text = copies.text();
        assert!(text.is_empty());
        assert_eq!(text.as_ptr(), text_at);
        // Nothing left to reuse: new ones.
        assert_eq!(copies.header_list(1).capacity(), 1);
        assert_eq!(copies.text().capacity(), 0);
    }

    fn call(target: &str, body: Bytes) -> OutboundCall {
        OutboundCall {
            call_id: 1,
            target: target.to_owned(),
            at_us: 5,
            head: RequestHead {
                method: "POST".into(),
                uri: "http://upstream/orders".to_owned(),
                version: "HTTP/1.1".into(),
                headers: vec![Header::new("content-type", "application/json")],
            },
            body: WholeBody {
                data: body,
                end: BodyEnd::default(),
            },
        }
    }

    #[test]
    fn a_salvaged_calls_boxes_and_texts_serve_the_next_call_and_its_bytes_are_let_go() {
        let mut copies = Copies::new();
        let (request_body, answer_body) = (Bytes::from(vec![1u8; 64]), Bytes::from(vec![2u8; 64]));
        let written = Box::new(call("upstream:80", request_body.clone()));
        let (call_at, uri_at, target_at) = (
            &raw const *written,
            written.head.uri.as_ptr(),
            written.target.as_ptr(),
        );
        let answer = Box::new(OutboundResult {
            call_id: 1,
            duration_us: 9,
            outcome: CallOutcome::Response {
                head: ResponseHead {
                    status: 200,
                    version: "HTTP/1.1".into(),
                    headers: vec![Header::new("x", "y")],
                },
                body: WholeBody {
                    data: answer_body.clone(),
                    end: BodyEnd::default(),
                },
            },
        });
        let result_at = &raw const *answer;
        copies.salvage(Event::Call(written));
        copies.salvage(Event::CallResult(answer));
        // Nothing kept refers to the bodies: a copy buffer they lived in is free again.
        assert!(request_body.is_unique() && answer_body.is_unique());

        let mut next = call("other:8080", Bytes::from_static(b"{}"));
        next.call_id = 2;
        next.at_us = 7;
        next.head = RequestHead {
            method: "GET".into(),
            uri: "http://other:8080/".to_owned(),
            version: "HTTP/2.0".into(),
            headers: Vec::new(),
        };
        let boxed = copies.boxed_call(next.clone());
        assert_eq!(&raw const *boxed, call_at);
        assert_eq!(*boxed, next);
        let result = OutboundResult {
            call_id: 2,
            duration_us: 3,
            outcome: CallOutcome::Error("refused".to_owned()),
        };
        let boxed = copies.boxed_result(result.clone());
        assert_eq!(&raw const *boxed, result_at);
        assert_eq!(*boxed, result);
        // Spent: new boxes.
        assert_ne!(&raw const *copies.boxed_call(next), call_at);
        assert_ne!(&raw const *copies.boxed_result(result), result_at);

        let texts = [copies.text(), copies.text()];
        let mut at: Vec<_> = texts.iter().map(|t| t.as_ptr()).collect();
        at.sort();
        let mut expected = vec![uri_at, target_at];
        expected.sort();
        assert_eq!(at, expected);
        assert!(texts.iter().all(String::is_empty));
    }

    #[test]
    fn no_more_than_the_slots_are_kept() {
        let mut copies = Copies::new();
        for _ in 0..HEADER_LISTS + 2 {
            copies.salvage(request(1));
        }
        copies.salvage(Event::Response(ResponseHead {
            status: 200,
            version: "HTTP/1.1".into(),
            headers: vec![Header::new("y", "z")],
        }));
        let kept = (0..HEADER_LISTS + 2)
            .filter(|_| copies.header_list(0).capacity() > 0)
            .count();
        assert_eq!(kept, HEADER_LISTS);
        let texts = (0..TEXTS + 2)
            .filter(|_| copies.text().capacity() > 0)
            .count();
        assert_eq!(texts, TEXTS);
    }

    #[test]
    fn the_list_that_fits_best_is_lent() {
        let mut copies = Copies::new();
        for n in [5, 2, 9] {
            copies.salvage(request(n));
        }
        // Capacities as collected from the iterators: at least the length.
        let caps: Vec<usize> = copies.header_lists.iter().map(Vec::capacity).collect();
        assert!(caps[0] >= 5 && caps[1] >= 2 && caps[2] >= 9, "{caps:?}");
        assert_eq!(copies.header_list(4).capacity(), caps[0]);
        assert_eq!(copies.header_list(1).capacity(), caps[1]);
        let grown = copies.header_list(30);
        assert!(grown.capacity() >= 30);
        assert_eq!(copies.header_list(1).capacity(), 1, "nothing left to lend");
    }

    #[test]
    fn a_reused_list_grows_to_the_room_asked_for() {
        let mut copies = Copies::new();
        copies.salvage(request(1));
        assert!(copies.header_list(40).capacity() >= 40);
    }
}
