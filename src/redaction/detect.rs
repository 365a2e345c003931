//! Value detectors: secrets recognised by their shape, whatever name they travel under.
//!
//! A detector finds byte ranges in a text (a header value, a decoded query or form
//! value, a JSON string, a text body). The built-in ones are [`DetectorKind`]s: most have
//! a fixed anchor (`eyJ` for a JWT, `AKIA` for an AWS access key id, `sk_live_` for a
//! Stripe key) that the scanner (`scan`) finds in one pass with an Aho-Corasick
//! automaton, and are then checked at that place only; card numbers and AWS secret keys
//! have no anchor and are found by one pass over runs of digits and base64 characters.
//! Custom detectors ([`Detector::regex`], [`Detector::function`]) run after them.

use std::fmt;
use std::ops::Range;

use std::sync::Arc;
use wide::{CmpEq, CmpLt, i8x16};

use super::builder::RedactionError;

/// A built-in detector. All are on by default; each can be turned off with
/// [`RedactionBuilder::without_detector`](super::RedactionBuilder::without_detector).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DetectorKind {
    /// JSON Web Tokens: `eyJ…` header, payload and signature in base64url, joined by dots.
    Jwt,
    /// The credential after an HTTP authentication scheme in text: `Bearer …`,
    /// `Token …` (eight characters or more with a digit, or twenty or more), and
    /// `Basic …` when it decodes to `user:password`. The scheme word is kept.
    AuthScheme,
    /// PEM private keys, `-----BEGIN … PRIVATE KEY-----` to the matching `END` line (to
    /// the end of the text when the end line is missing).
    PemPrivateKey,
    /// AWS access key ids: `AKIA` or `ASIA` and 16 upper-case letters or digits.
    AwsAccessKeyId,
    /// AWS secret access keys: exactly 40 base64 characters with an upper-case letter,
    /// a lower-case letter and a digit, standing alone.
    AwsSecretKey,
    /// Provider keys by their published prefixes: Stripe (`sk_live_`, `sk_test_`,
    /// `rk_live_`, `whsec_`), GitHub (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`,
    /// `github_pat_`), Slack (`xoxb-`, `xoxp-`, `xoxa-`, `xoxr-`, `xoxs-`, `xapp-`),
    /// GitLab (`glpat-`), Google (`AIza`), OpenAI (`sk-proj-`), Anthropic (`sk-ant-`),
    /// npm (`npm_`), PyPI (`pypi-`).
    ProviderKey,
    /// Payment card numbers: 13 to 19 digits (spaces or dashes between groups allowed)
    /// with a card network's prefix that pass the Luhn check.
    CardNumber,
    /// The password in a URL's user information: `postgres://user:password@host`.
    UrlPassword,
}

impl DetectorKind {
    /// Every built-in detector.
    pub const ALL: &'static [DetectorKind] = &[
        DetectorKind::Jwt,
        DetectorKind::AuthScheme,
        DetectorKind::PemPrivateKey,
        DetectorKind::AwsAccessKeyId,
        DetectorKind::AwsSecretKey,
        DetectorKind::ProviderKey,
        DetectorKind::CardNumber,
        DetectorKind::UrlPassword,
    ];
}

/// A custom detector: a name (for `Debug` and error messages) and a function from a text
/// to the byte ranges that are secret.
#[derive(Clone)]
pub struct Detector {
    name: String,
    find: Arc<FindFn>,
}

/// A custom detector's function: the secret byte ranges of a text.
type FindFn = dyn Fn(&str) -> Vec<Range<usize>> + Send + Sync;

impl Detector {
    /// A detector that redacts every match of `pattern` (the `regex` crate's syntax).
    /// With a capture group named `secret`, only that group is redacted.
    ///
    /// ```
    /// let employee = retrace::redaction::Detector::regex("employee id", r"EMP-\d{6}")?;
    /// let redaction = retrace::Redaction::builder().detector(employee).build()?;
    /// let body = redaction.body(Some(b"text/plain"), b"badge EMP-123456 ok").expect("found");
    /// assert_eq!(&body[..], b"badge [redacted] ok");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn regex(name: &str, pattern: &str) -> Result<Self, RedactionError> {
        let regex = regex::Regex::new(pattern).map_err(|e| RedactionError::InvalidDetector {
            name: name.to_owned(),
            reason: e.to_string(),
        })?;
        let group = regex.capture_names().flatten().any(|n| n == "secret");
        Ok(Self::function(name, move |text| {
            if group {
                regex
                    .captures_iter(text)
                    .filter_map(|c| c.name("secret").map(|m| m.range()))
                    .collect()
            } else {
                regex.find_iter(text).map(|m| m.range()).collect()
            }
        }))
    }

    /// A detector from a function returning the secret byte ranges of a text. Ranges
    /// out of bounds or not on character boundaries are widened to the text's
    /// characters; overlapping ranges are merged.
    pub fn function(
        name: &str,
        find: impl Fn(&str) -> Vec<Range<usize>> + Send + Sync + 'static,
    ) -> Self {
        Self {
            name: name.to_owned(),
            find: Arc::new(find),
        }
    }

    /// The detector's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(super) fn find(&self, text: &[u8], out: &mut Vec<Range<usize>>) {
        // A custom detector sees text; bytes that are not UTF-8 are searched in the
        // longest valid prefix of each piece between invalid sequences.
        let mut offset = 0;
        for chunk in text.utf8_chunks() {
            let valid = chunk.valid();
            for range in (self.find)(valid) {
                let mut start = range.start.min(valid.len());
                let mut end = range.end.min(valid.len());
                while !valid.is_char_boundary(start) {
                    start -= 1;
                }
                while !valid.is_char_boundary(end) {
                    end += 1;
                }
                if start < end {
                    out.push(offset + start..offset + end);
                }
            }
            offset += valid.len() + chunk.invalid().len();
        }
    }
}

impl fmt::Debug for Detector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Detector")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// An anchor the scanner looks for, and what a hit on it starts.
#[derive(Clone, Copy, Debug)]
pub(super) struct Anchor {
    pub(super) text: &'static str,
    pub(super) kind: DetectorKind,
}

const fn anchor(text: &'static str, kind: DetectorKind) -> Anchor {
    Anchor { text, kind }
}

/// The anchors of the anchored detectors (matched ignoring ASCII case, then checked
/// exactly by [`check`]).
pub(super) const ANCHORS: &[Anchor] = &[
    anchor("eyJ", DetectorKind::Jwt),
    anchor("bearer ", DetectorKind::AuthScheme),
    anchor("token ", DetectorKind::AuthScheme),
    anchor("basic ", DetectorKind::AuthScheme),
    anchor("-----BEGIN ", DetectorKind::PemPrivateKey),
    anchor("AKIA", DetectorKind::AwsAccessKeyId),
    anchor("ASIA", DetectorKind::AwsAccessKeyId),
    anchor("sk_live_", DetectorKind::ProviderKey),
    anchor("sk_test_", DetectorKind::ProviderKey),
    anchor("rk_live_", DetectorKind::ProviderKey),
    anchor("whsec_", DetectorKind::ProviderKey),
    anchor("ghp_", DetectorKind::ProviderKey),
    anchor("gho_", DetectorKind::ProviderKey),
    anchor("ghu_", DetectorKind::ProviderKey),
    anchor("ghs_", DetectorKind::ProviderKey),
    anchor("ghr_", DetectorKind::ProviderKey),
    anchor("github_pat_", DetectorKind::ProviderKey),
    anchor("xoxb-", DetectorKind::ProviderKey),
    anchor("xoxp-", DetectorKind::ProviderKey),
    anchor("xoxa-", DetectorKind::ProviderKey),
    anchor("xoxr-", DetectorKind::ProviderKey),
    anchor("xoxs-", DetectorKind::ProviderKey),
    anchor("xapp-", DetectorKind::ProviderKey),
    anchor("glpat-", DetectorKind::ProviderKey),
    anchor("AIza", DetectorKind::ProviderKey),
    anchor("sk-proj-", DetectorKind::ProviderKey),
    anchor("sk-ant-", DetectorKind::ProviderKey),
    anchor("npm_", DetectorKind::ProviderKey),
    anchor("pypi-", DetectorKind::ProviderKey),
    anchor("://", DetectorKind::UrlPassword),
];

fn is_b64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

fn is_token68(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
}

fn run(text: &[u8], from: usize, class: impl Fn(u8) -> bool) -> usize {
    text[from..]
        .iter()
        .position(|&b| !class(b))
        .map_or(text.len(), |n| from + n)
}

/// Checks the anchored detector `anchor` hit at `at..at + anchor.len()`; returns the
/// secret range, if the text there is one.
pub(super) fn check(anchor: &Anchor, text: &[u8], at: usize) -> Option<Range<usize>> {
    let end = at + anchor.text.len();
    let exact = &text[at..end] == anchor.text.as_bytes();
    match anchor.kind {
        DetectorKind::Jwt => exact.then(|| jwt(text, at)).flatten(),
        DetectorKind::AuthScheme => auth_scheme(text, at, end),
        DetectorKind::PemPrivateKey => exact.then(|| pem(text, at, end)).flatten(),
        DetectorKind::AwsAccessKeyId => {
            let stop = run(text, end, |b| b.is_ascii_uppercase() || b.is_ascii_digit());
            let standalone = at == 0 || !text[at - 1].is_ascii_alphanumeric();
            let after_ok = text.get(stop).is_none_or(|b| !b.is_ascii_alphanumeric());
            (exact && standalone && after_ok && stop - end == 16).then_some(at..stop)
        }
        DetectorKind::ProviderKey => {
            let standalone = at == 0 || !is_b64url(text[at - 1]);
            let stop = run(text, end, is_b64url);
            (exact && standalone && stop - end >= 10).then_some(at..stop)
        }
        DetectorKind::UrlPassword => url_password(text, end),
        DetectorKind::AwsSecretKey | DetectorKind::CardNumber => None,
    }
}

fn jwt(text: &[u8], at: usize) -> Option<Range<usize>> {
    if at > 0 && is_b64url(text[at - 1]) {
        return None;
    }
    let header_end = run(text, at, is_b64url);
    if header_end - at < 10 || text.get(header_end) != Some(&b'.') {
        return None;
    }
    // The payload is JSON too, so it starts `eyJ` as the header does.
    let payload = &text[header_end + 1..];
    let payload_end = run(text, header_end + 1, is_b64url);
    if !payload.starts_with(b"eyJ")
        || payload_end - header_end - 1 < 10
        || text.get(payload_end) != Some(&b'.')
    {
        return None;
    }
    Some(at..run(text, payload_end + 1, is_b64url))
}

fn auth_scheme(text: &[u8], at: usize, end: usize) -> Option<Range<usize>> {
    if at > 0 && text[at - 1].is_ascii_alphanumeric() {
        return None;
    }
    let start = run(text, end, |b| b == b' ');
    let stop = run(text, start, is_token68);
    let stop = run(text, stop, |b| b == b'=');
    let credential = &text[start..stop];
    let long_enough = if text[at..end].eq_ignore_ascii_case(b"basic ") {
        decodes_to_user_password(credential)
    } else {
        credential.len() >= 20
            || (credential.len() >= 8 && credential.iter().any(u8::is_ascii_digit))
    };
    long_enough.then_some(start..stop)
}

/// Whether `credential` is standard base64 of `user:password` (printable, with a colon).
fn decodes_to_user_password(credential: &[u8]) -> bool {
    fn sextet(b: u8) -> Option<u32> {
        Some(match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let digits: &[u8] = {
        let mut end = credential.len();
        while end > 0 && credential[end - 1] == b'=' {
            end -= 1;
        }
        &credential[..end]
    };
    if digits.len() < 4 {
        return false;
    }
    let mut decoded = Vec::with_capacity(digits.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for &b in digits {
        let Some(v) = sextet(b) else { return false };
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            decoded.push((acc >> bits) as u8);
        }
    }
    decoded.contains(&b':') && decoded.iter().all(|b| (0x20..0x7f).contains(b))
}

fn pem(text: &[u8], at: usize, end: usize) -> Option<Range<usize>> {
    let line_end = text[end..]
        .iter()
        .position(|&b| b == b'\n' || b == b'\\')
        .map_or(text.len(), |n| end + n);
    let label = &text[end..line_end];
    let private = memchr::memmem::find(label, b"PRIVATE KEY").is_some();
    if !private {
        return None;
    }
    let stop = memchr::memmem::find(&text[line_end..], b"-----END ")
        .map(|n| line_end + n + "-----END ".len())
        .and_then(|from| {
            memchr::memmem::find(&text[from..], b"-----").map(|n| from + n + "-----".len())
        })
        .unwrap_or(text.len());
    Some(at..stop)
}

/// After `scheme://`: `user:password@` ends the user information before the first `/`.
fn url_password(text: &[u8], after_scheme: usize) -> Option<Range<usize>> {
    let authority_end = text[after_scheme..]
        .iter()
        .position(|&b| {
            matches!(
                b,
                b'/' | b'?' | b'#' | b' ' | b'"' | b'\'' | b'\n' | b'<' | b'>'
            )
        })
        .map_or(text.len(), |n| after_scheme + n);
    let authority = &text[after_scheme..authority_end];
    let at_sign = memchr::memrchr(b'@', authority)?;
    let colon = memchr::memchr(b':', &authority[..at_sign])?;
    let range = after_scheme + colon + 1..after_scheme + at_sign;
    (!range.is_empty()).then_some(range)
}

/// Byte classes for the unanchored detectors' passes.
const DIGIT: u8 = 1;
/// Letters, digits, `+` and `/`: the characters of an AWS secret key.
const B64: u8 = 2;
/// Characters that continue a base64 or base64url token (`=`, `_`, `-` besides [`B64`]).
const MARK: u8 = 4;

static CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        let mut class = 0;
        if c.is_ascii_digit() {
            class |= DIGIT;
        }
        if c.is_ascii_alphanumeric() || c == b'+' || c == b'/' {
            class |= B64 | MARK;
        }
        if c == b'=' || c == b'_' || c == b'-' {
            class |= MARK;
        }
        table[b] = class;
        b += 1;
    }
    table
};

fn class(b: u8) -> u8 {
    CLASS[usize::from(b)]
}

/// The unanchored detectors: card numbers (over the runs of digits) and AWS secret
/// keys (over the runs of base64 characters).
///
/// Most texts hold neither, and an exact pass over every run costs a branch
/// misprediction per run (JSON has a run every few bytes). So a first, branch-free
/// pass turns each 64-byte block into bit masks ([`block_masks`], SIMD compares) and
/// looks across each pair of adjacent blocks for what every card and key
/// needs: 13 bytes in a row of digits, spaces and dashes (a card has 13 to 19 digits
/// and single separators between groups; a timestamp's `T` and `:` break the row), and
/// 32 base64 characters in a row (a key has 40). The exact passes then run only over
/// those blocks, with a margin that holds any card or key crossing their edges.
pub(super) fn find_runs(text: &[u8], cards: bool, aws: bool, out: &mut Vec<Range<usize>>) {
    if (!cards && !aws) || text.len() < 13 {
        return;
    }
    // A short text (a header value) is cheaper to scan whole than to prefilter, once
    // counted: a card has 13 digits, a key is 40 bytes.
    if text.len() <= 64 {
        if cards && text.iter().filter(|b| b.is_ascii_digit()).count() >= 13 {
            find_cards(text, 0..text.len(), out);
        }
        if aws && text.len() >= 40 {
            find_aws_secrets(text, 0..text.len(), out);
        }
        return;
    }
    let (card_windows, key_windows) = candidate_windows(text);
    if cards {
        for window in card_windows {
            find_cards(text, window, out);
        }
    }
    if aws {
        for window in key_windows {
            find_aws_secrets(text, window, out);
        }
    }
}

/// How far around a candidate pair of blocks the exact pass looks: more than any card
/// (23 bytes with separators) or key (40 bytes) spans.
const MARGIN: usize = 48;

/// The byte ranges of `text` that may hold a card number, and an AWS secret key.
fn candidate_windows(text: &[u8]) -> (Vec<Range<usize>>, Vec<Range<usize>>) {
    let mut windows = Windows {
        text_len: text.len(),
        cards: Vec::new(),
        keys: Vec::new(),
        card_tail: 0,
        b64_tail: 0,
    };
    let (blocks, rest) = text.as_chunks::<64>();
    for (index, block) in blocks.iter().enumerate() {
        windows.visit(index, block);
    }
    if !rest.is_empty() {
        let mut padded = [0u8; 64];
        padded[..rest.len()].copy_from_slice(rest);
        windows.visit(blocks.len(), &padded);
    }
    (windows.cards, windows.keys)
}

/// The prefilter's state across the blocks of one text.
struct Windows {
    text_len: usize,
    cards: Vec<Range<usize>>,
    keys: Vec<Range<usize>>,
    /// Set bits that ended the previous block: a run may go on into this one.
    card_tail: u32,
    b64_tail: u32,
}

impl Windows {
    /// Classifies block `index` and notes it where a card or a key may cross it.
    fn visit(&mut self, index: usize, block: &[u8; 64]) {
        let (card, b64) = block_masks(block);
        let (card_hit, key_hit) = (
            has_run(card, self.card_tail, 13),
            has_run(b64, self.b64_tail, 32),
        );
        // One branch for both, nearly never taken.
        if card_hit | key_hit {
            if card_hit {
                self.add(index, true);
            }
            if key_hit {
                self.add(index, false);
            }
        }
        (self.card_tail, self.b64_tail) = (card.leading_ones(), b64.leading_ones());
    }

    /// Adds block `index` and the one before it, with a margin, to the windows of cards
    /// or of keys, merged with the last window when they overlap.
    #[cold]
    fn add(&mut self, index: usize, card: bool) {
        let start = index.saturating_sub(1) * 64;
        let window = start.saturating_sub(MARGIN)..((index + 1) * 64 + MARGIN).min(self.text_len);
        let windows = if card {
            &mut self.cards
        } else {
            &mut self.keys
        };
        match windows.last_mut() {
            Some(last) if window.start <= last.end => last.end = last.end.max(window.end),
            _ => windows.push(window),
        }
    }
}

/// Whether `mask` (bit i: byte i of a block) holds a run of `len` (1 to 64) set bits,
/// counting the `before` set bits that ended the previous block.
fn has_run(mask: u64, before: u32, len: u32) -> bool {
    let (mut runs, mut have) = (mask, 1);
    while have < len {
        let step = have.min(len - have);
        runs &= runs >> step;
        have += step;
    }
    (before + mask.trailing_ones() >= len) | (runs != 0)
}

/// Bit masks of 64 bytes: bit i set where byte i may belong to a card number (digits,
/// space and `-`, and also `.` and `/`), and where it may belong to an AWS secret key
/// (letters, digits, `+` and `/`, and also `,`, `-` and `.`). The extra characters
/// cost an exact pass now and then; they make each class one range test or two.
///
/// Sixteen bytes at a time with SIMD compares (SSE2 on x86-64): under one instruction
/// per byte, where the word-at-a-time version this replaced took about eight. A range
/// test is exact for every byte value, so non-ASCII bytes fall outside every range.
fn block_masks(block: &[u8; 64]) -> (u64, u64) {
    // `lo..=hi` moved to the bottom of the signed range: one add and one compare.
    let in_range = |x: i8x16, lo: u8, hi: u8| {
        (x + i8x16::splat(0x80u8.wrapping_sub(lo).cast_signed()))
            .cmp_lt(i8x16::splat((0x80 + hi - lo + 1).cast_signed()))
    };
    let lanes: [i8x16; 4] = bytemuck::cast(*block);
    let (mut card, mut b64) = (0u64, 0u64);
    for (k, x) in lanes.into_iter().enumerate() {
        let dash_to_nine = in_range(x, b'-', b'9');
        let space = x.cmp_eq(i8x16::splat(b' '.cast_signed()));
        let plus_to_nine = in_range(x, b'+', b'9');
        let letter = in_range(x | i8x16::splat(0x20), b'a', b'z');
        let mask = |m: i8x16| u64::from(m.move_mask().cast_unsigned() & 0xffff) << (16 * k);
        card |= mask(dash_to_nine | space);
        b64 |= mask(plus_to_nine | letter);
    }
    (card, b64)
}

/// The maximal runs of bytes of `class` (a [`CLASS`] bit) that start in `window`.
fn class_runs(
    text: &[u8],
    window: Range<usize>,
    bit: u8,
) -> impl Iterator<Item = Range<usize>> + '_ {
    let mut i = window.start;
    std::iter::from_fn(move || {
        while i < window.end && class(text[i]) & bit == 0 {
            i += 1;
        }
        if i >= window.end {
            return None;
        }
        let start = i;
        while i < text.len() && class(text[i]) & bit != 0 {
            i += 1;
        }
        Some(start..i)
    })
}

/// Card numbers starting in `window`: digits not preceded by a letter or digit. (A
/// card of several groups may be found again from a later group; the caller merges
/// overlapping ranges.)
fn find_cards(text: &[u8], window: Range<usize>, out: &mut Vec<Range<usize>>) {
    for run in class_runs(text, window, DIGIT) {
        // A card is 13 digits or more in one run, or groups of a few joined by single
        // spaces or dashes.
        let grouped = run.len() <= 6
            && matches!(text.get(run.end), Some(b' ' | b'-'))
            && text.get(run.end + 1).is_some_and(u8::is_ascii_digit);
        let standalone = run.start == 0 || !text[run.start - 1].is_ascii_alphanumeric();
        if standalone
            && (run.len() >= 13 || grouped)
            && let Some(end) = card_at(text, run.start)
        {
            out.push(run.start..end);
        }
    }
}

/// AWS secret keys starting in `window`: runs of exactly 40 base64 characters, not
/// part of a longer token, with an upper-case letter, a lower-case one and a digit.
fn find_aws_secrets(text: &[u8], window: Range<usize>, out: &mut Vec<Range<usize>>) {
    for run in class_runs(text, window, B64) {
        let alone = (run.start == 0 || class(text[run.start - 1]) & MARK == 0)
            && text.get(run.end).is_none_or(|&b| class(b) & MARK == 0);
        let key = &text[run.clone()];
        if run.len() == 40
            && alone
            && key.iter().any(u8::is_ascii_uppercase)
            && key.iter().any(u8::is_ascii_lowercase)
            && key.iter().any(u8::is_ascii_digit)
        {
            out.push(run);
        }
    }
}

/// A card number starting at `start` (a digit not preceded by a letter or digit): the
/// end of its range when the digits, with single spaces or dashes between groups, are
/// 13 to 19 long, carry a card network's prefix, pass Luhn and are not followed by a
/// letter or digit.
fn card_at(text: &[u8], start: usize) -> Option<usize> {
    let mut digits = [0u8; 19];
    let mut count = 0;
    // Where each group of digits ends, and how many digits precede that end: a card
    // may be followed by another number (`4111 1111 1111 1111 2`), so every group
    // boundary is a possible end, the longest tried first.
    let mut ends: [(usize, usize); 19] = [(0, 0); 19];
    let mut groups = 0;
    let mut j = start;
    loop {
        while j < text.len() && text[j].is_ascii_digit() {
            if count == 19 {
                break;
            }
            digits[count] = text[j] - b'0';
            count += 1;
            j += 1;
        }
        if text.get(j).is_some_and(u8::is_ascii_digit) {
            // More than 19 digits in one group: no card ends inside it.
            break;
        }
        ends[groups] = (j, count);
        groups += 1;
        match (text.get(j), text.get(j + 1)) {
            (Some(b' ' | b'-'), Some(next)) if next.is_ascii_digit() && groups < 19 => j += 1,
            _ => break,
        }
    }
    ends[..groups].iter().rev().find_map(|&(end, count)| {
        let digits = &digits[..count];
        let standalone = !text.get(end).is_some_and(u8::is_ascii_alphanumeric);
        (standalone && (13..=19).contains(&count) && card_prefix(digits) && luhn(digits))
            .then_some(end)
    })
}

/// Whether the digits start like a card of a major network, at a length it issues.
fn card_prefix(d: &[u8]) -> bool {
    let n = d.len();
    let lead = |k: usize| d[..k].iter().fold(0u32, |acc, &x| acc * 10 + u32::from(x));
    match d[0] {
        4 => matches!(n, 13 | 16 | 19),                   // Visa
        5 => (1..=5).contains(&d[1]) && n == 16,          // Mastercard
        2 => (2221..=2720).contains(&lead(4)) && n == 16, // Mastercard 2-series
        3 => match d[1] {
            4 | 7 => n == 15,                                                // Amex
            5 => (3528..=3589).contains(&lead(4)) && (16..=19).contains(&n), // JCB
            0 | 6 | 8 | 9 => (14..=19).contains(&n),                         // Diners
            _ => false,
        },
        6 => {
            (16..=19).contains(&n)
                && (lead(4) == 6011 || d[1] == 5 || (644..=649).contains(&lead(3)) || d[1] == 2)
        } // Discover, UnionPay
        _ => false,
    }
}

fn luhn(d: &[u8]) -> bool {
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &x)| {
            let x = u32::from(x);
            if i % 2 == 1 {
                let doubled = x * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                x
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_and_prefixes() {
        let digits = |s: &str| s.bytes().map(|b| b - b'0').collect::<Vec<_>>();
        assert!(luhn(&digits("4111111111111111")));
        assert!(!luhn(&digits("4111111111111112")));
        assert!(card_prefix(&digits("4111111111111111")));
        assert!(card_prefix(&digits("378282246310005")));
        // A millisecond timestamp is 13 digits starting with 1: never a card.
        assert!(!card_prefix(&digits("1733456789123")));
    }

    proptest::proptest! {
        /// The block prefilter never hides a card or a secret key, wherever it sits
        /// relative to the 16-byte blocks.
        #[test]
        fn the_prefilter_never_hides_a_planted_value(
            before in "[a-z\":{},0-9 ]{0,80}",
            after in "[a-z\":{},0-9 ]{0,80}",
            grouped in proptest::bool::ANY,
        ) {
            let card = if grouped { "4111 1111 1111 1111" } else { "4111111111111111" };
            let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
            for planted in [card, secret] {
                let text = format!("{before} {planted} {after}");
                let mut found = Vec::new();
                find_runs(text.as_bytes(), true, true, &mut found);
                found.sort_by_key(|r| r.start);
                found.dedup();
                let at = before.len() + 1;
                // Covered: a card followed by another number may be taken with it.
                proptest::prop_assert!(
                    found.iter().any(|r| r.start == at && r.end >= at + planted.len()),
                    "{planted} not found in {text:?}: {found:?}"
                );
            }
        }
    }

    #[test]
    fn block_masks_classify_every_byte_value() {
        let all: Vec<u8> = (0..=255).collect();
        for block in all.chunks_exact(64) {
            let (card, b64) = block_masks(block.try_into().unwrap());
            for (i, &b) in block.iter().enumerate() {
                let is_card = b.is_ascii_digit() || b" -./".contains(&b);
                let is_b64 = b.is_ascii_alphanumeric() || b"+,-./".contains(&b);
                assert_eq!(card >> i & 1 == 1, is_card, "card bit for byte {b:#04x}");
                assert_eq!(b64 >> i & 1 == 1, is_b64, "b64 bit for byte {b:#04x}");
            }
        }
    }

    #[test]
    fn block_masks_mark_each_byte_in_place() {
        let text = b"ab 12-x/+Z\"9 - end of a longer block of text, 0123456789 AAAA+/zz";
        let (card, b64) = block_masks(text[..64].try_into().unwrap());
        for (i, &b) in text[..64].iter().enumerate() {
            let is_card = b.is_ascii_digit() || b" -./".contains(&b);
            let is_b64 = b.is_ascii_alphanumeric() || b"+,-./".contains(&b);
            assert_eq!(
                card >> i & 1 == 1,
                is_card,
                "card bit {i} ({:?})",
                b as char
            );
            assert_eq!(b64 >> i & 1 == 1, is_b64, "b64 bit {i} ({:?})", b as char);
        }
        assert!(has_run(0b1111_0111, 0, 4));
        assert!(!has_run(0b0111_0111, 0, 4));
        assert!(has_run(0b0111, 1, 4), "continues the previous block");
        assert!(has_run(u64::MAX >> 36, 0, 28));
        assert!(!has_run(u64::MAX >> 37, 0, 28));
    }

    #[test]
    fn basic_credentials_decode() {
        assert!(decodes_to_user_password(b"dXNlcjpwYXNz")); // user:pass
        assert!(!decodes_to_user_password(b"Authentication"));
    }
}
