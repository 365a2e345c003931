//! [`Copies`]: where a recording's capture points put what they copy out of the
//! messages it sees, and the allocations reused for it.
//!
//! Bytes go into the recording's [`ByteArena`]. The lists of headers and the URI texts
//! of its heads are `Vec`s and `String`s (public event types); a new recording takes
//! them from the events of one written before, which the request path frees anyway
//! when it takes their buffer back from the pool ([`crate::hand_off`]): emptied and
//! refilled, instead of freed and allocated again. The written recording's copy buffer
//! comes back with its events too; once they are gone it serves the new recording
//! from its start ([`ByteArena::reclaimed`]).
//!
//! Only written recordings are reused: handing a discarded tentative one to the pool
//! cost tail keep more instructions (about 500 a request) than the three allocations
//! it saved.

use crate::arena::ByteArena;
use crate::event::{CallOutcome, Event, Header};

/// Lists of headers a recording keeps for reuse: a recorded request's two heads and
/// one outgoing call's two.
const HEADER_LISTS: usize = 4;
/// URI texts a recording keeps for reuse: the request's and one call's.
const URI_TEXTS: usize = 2;

/// A recording's copies: its arena, and allocations reused from a recording before.
#[derive(Debug)]
pub(crate) struct Copies {
    pub(crate) bytes: ByteArena,
    header_lists: [Vec<Header>; HEADER_LISTS],
    uri_texts: [String; URI_TEXTS],
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
            uri_texts: Default::default(),
        }
    }

    /// Frees `event`, keeping its heads' allocations for reuse while there is room.
    pub(crate) fn salvage(&mut self, event: Event) {
        match event {
            Event::Request(head) => {
                self.keep_headers(head.headers);
                self.keep_uri(head.uri);
            }
            Event::Response(head) => self.keep_headers(head.headers),
            Event::Call(call) => {
                let call = *call;
                self.keep_headers(call.head.headers);
                self.keep_uri(call.head.uri);
            }
            Event::CallResult(result) => {
                if let CallOutcome::Response { head, .. } = result.outcome {
                    self.keep_headers(head.headers);
                }
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

    fn keep_uri(&mut self, mut text: String) {
        if let Some(slot) = self.uri_texts.iter_mut().find(|s| s.capacity() == 0) {
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

    /// An empty text for a URI.
    pub(crate) fn uri_text(&mut self) -> String {
        self.uri_texts
            .iter_mut()
            .find(|s| s.capacity() > 0)
            .map(std::mem::take)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{RequestHead, ResponseHead};

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
        let text = copies.uri_text();
        assert!(text.is_empty());
        assert_eq!(text.as_ptr(), text_at);
        // Nothing left to reuse: new ones.
        assert_eq!(copies.header_list(1).capacity(), 1);
        assert_eq!(copies.uri_text().capacity(), 0);
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
        let texts = (0..URI_TEXTS + 2)
            .filter(|_| copies.uri_text().capacity() > 0)
            .count();
        assert_eq!(texts, URI_TEXTS);
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
