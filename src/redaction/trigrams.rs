//! A quick "cannot match" test for short texts, ahead of the automaton.
//!
//! Most short texts a recording scans (header values, URIs, the string values of a
//! query's rows) hold no candidate at all, and for them the automaton costs more in
//! set-up and per byte than the text is long: about a thousand instructions for a
//! 30-byte value. Every match of a pattern begins with that pattern's first three
//! bytes, so a text none of whose three-byte windows (lower-cased, as the automaton
//! reads it) begins a pattern cannot hold one. The windows are hashed into a bit set
//! of 65,536 bits: a window that begins a pattern always finds its bit set, so the test
//! never rules out a text that holds a pattern; a text that holds none passes it only
//! when one of its windows shares a bit with a pattern's (a fraction of a percent a
//! window), and is then searched as before.

/// Bits in the set: 8 KiB, two pages shared by every text a redaction scans.
const BITS: usize = 1 << 16;

/// The first three bytes of every pattern, hashed into a bit set.
#[derive(Debug)]
pub(super) struct Trigrams {
    bits: Box<[u64]>,
}

impl Trigrams {
    /// The set for `patterns` (lower case, as the automaton has them), or `None` when
    /// one is shorter than three bytes: it could match where no window is in the set.
    pub(super) fn new<'p>(patterns: impl IntoIterator<Item = &'p [u8]>) -> Option<Self> {
        let mut bits = vec![0u64; BITS / 64].into_boxed_slice();
        for pattern in patterns {
            let &[a, b, c, ..] = pattern else {
                return None;
            };
            let at = slot(window(a, b, c));
            bits[at / 64] |= 1 << (at % 64);
        }
        Some(Self { bits })
    }

    /// Whether `text` may hold a pattern: false only when none of its three-byte
    /// windows, lower-cased, begins one.
    pub(super) fn may_match(&self, text: &[u8]) -> bool {
        let [a, b, rest @ ..] = text else {
            return false;
        };
        let mut w = window(0, *a, *b);
        rest.iter().any(|&c| {
            w = (w << 8 | u32::from(c.to_ascii_lowercase())) & 0x00ff_ffff;
            let at = slot(w);
            self.bits[at / 64] & (1 << (at % 64)) != 0
        })
    }
}

/// Three bytes, lower-cased, as one number.
fn window(a: u8, b: u8, c: u8) -> u32 {
    u32::from_be_bytes([
        0,
        a.to_ascii_lowercase(),
        b.to_ascii_lowercase(),
        c.to_ascii_lowercase(),
    ])
}

/// A window's bit: the top 16 bits of a multiplicative hash.
fn slot(window: u32) -> usize {
    (window.wrapping_mul(0x9e37_79b1) >> 16) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(patterns: &[&str]) -> Trigrams {
        Trigrams::new(patterns.iter().map(|p| p.as_bytes())).expect("patterns of 3 or more")
    }

    #[test]
    fn texts_holding_a_pattern_start_in_any_case_may_match_and_no_others() {
        let t = set(&["token", "eyj", "://"]);
        for (text, may) in [
            ("token", true),
            ("x-auth-TOKEN", true),
            ("Bearer eyJhbGci", true),
            ("https://a", true),
            ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaatok", true),
            ("", false),
            ("to", false),
            ("application/json", false),
            ("2026-12-07T10:00:00Z", false),
            ("ada lovelace", false),
        ] {
            assert_eq!(t.may_match(text.as_bytes()), may, "{text}");
        }
    }

    #[test]
    fn a_pattern_shorter_than_three_bytes_turns_the_test_off() {
        assert!(Trigrams::new([b"ab".as_slice(), b"token"]).is_none());
    }

    #[test]
    fn every_window_of_a_pattern_start_finds_its_bit() {
        // Patterns over a spread of first, second and third bytes, one at a time, in a
        // text that writes them in upper case: none is ever ruled out.
        for a in [b'a', b'z', b'0', b'-', b':', b'_', 0x80, 0xff] {
            for b in 0..=255u8 {
                for c in [b'a', b'k', b'/', b' ', 0x00, 0xc3] {
                    let pattern = [a, b, c].map(|x| x.to_ascii_lowercase());
                    let t = Trigrams::new([pattern.as_slice()]).expect("3 bytes");
                    let mut text = b"..".to_vec();
                    text.extend([a, b, c].map(|x| x.to_ascii_uppercase()));
                    assert!(t.may_match(&text), "{pattern:?}");
                }
            }
        }
    }
}
