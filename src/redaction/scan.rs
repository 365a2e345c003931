//! The one search over a text that finds every candidate: secret names (by a stem of
//! each) and the anchors of the value detectors, built once per
//! [`Redaction`](super::Redaction) (Teddy in two parts for long texts, an Aho-Corasick
//! automaton for short ones); then the unanchored detectors' pass over runs of digits
//! and base64 characters, and the custom detectors.
//!
//! A text with no candidate costs these passes and nothing else: no parse, no copy.

use std::ops::Range;

use std::cell::RefCell;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind, packed};

use super::detect::{self, ANCHORS, Anchor, Detector, DetectorKind};
use super::names::{self, Place, SecretNames};
use super::trigrams::Trigrams;
use super::verdicts::Verdicts;

/// What a pattern of the automaton stands for.
#[derive(Clone, Copy, Debug)]
enum Pattern {
    /// A stem of a secret name: the word around it is checked against the names.
    NameStem,
    /// An anchor of a value detector.
    Anchor(Anchor),
}

/// Texts shorter than this are searched without the automaton's prefilter.
const SHORT_TEXT: usize = 256;

/// A search for every pattern, leftmost-longest, in a lower-cased text.
#[derive(Debug)]
enum Search {
    /// Teddy, the `aho-corasick` crate's SIMD searcher: see [`SplitTeddy`].
    Teddy(SplitTeddy),
    /// The automaton, where Teddy is not available (no SIMD it uses, too many
    /// patterns) and for short texts.
    Automaton(AhoCorasick),
}

/// Teddy, used on its own rather than as the automaton's prefilter (which adds its own
/// set-up to every search), in two parts.
///
/// Teddy finds candidates by a fingerprint of each pattern's first bytes (as many as
/// the shortest pattern has, four at most), matched a nibble at a time, then compares
/// the patterns of each bucket that matched; on ordinary text that comparing is most of
/// its work. The three-byte stems (`key`, `pin`, `sig`...) and anchors (`eyj`, `://`)
/// held the fingerprint to three bytes, and since lower-case letters share their high
/// nibbles, ordinary words hit a bucket every few bytes. So the patterns of four bytes
/// or more are searched on four bytes by fat Teddy (16 buckets, AVX2), and the few
/// short ones by slim Teddy, each nearly alone in its bucket: over 3 KiB of JSON words
/// with no candidate, 3.9 µs became 0.43 + 0.23 µs (`benches/README.md`, issue 16,
/// step 14). [`SplitTeddy::each_match`] merges the two into exactly the matches one
/// search over every pattern gives.
#[derive(Debug)]
struct SplitTeddy {
    parts: Vec<TeddyPart>,
}

/// One of [`SplitTeddy`]'s searchers, and the scanner's index of each of its patterns.
#[derive(Debug)]
struct TeddyPart {
    searcher: packed::Searcher,
    patterns: Vec<usize>,
}

impl SplitTeddy {
    /// Patterns shorter than this are searched apart.
    const LONG: usize = 4;

    /// `None` when Teddy is not available for one of the parts.
    fn new(texts: &[String]) -> Option<Self> {
        let part = |long: bool| {
            let patterns: Vec<usize> = (0..texts.len())
                .filter(|&i| (texts[i].len() >= Self::LONG) == long)
                .collect();
            if patterns.is_empty() {
                return Some(None);
            }
            let teddy = |fat: bool| {
                packed::Config::new()
                    .match_kind(packed::MatchKind::LeftmostLongest)
                    .only_teddy(true)
                    .only_teddy_fat(Some(fat))
                    .heuristic_pattern_limits(false)
                    .builder()
                    .extend(patterns.iter().map(|&i| &texts[i]))
                    .build()
            };
            // Fat (16 buckets, AVX2 only) for the many long patterns, slim for the few
            // short ones; slim for both where there is no AVX2.
            let searcher = if long {
                teddy(true).or_else(|| teddy(false))
            } else {
                teddy(false)
            };
            searcher.map(|searcher| Some(TeddyPart { searcher, patterns }))
        };
        let parts: Vec<TeddyPart> = [part(true)?, part(false)?].into_iter().flatten().collect();
        (!parts.is_empty()).then_some(Self { parts })
    }

    /// Calls `hit` with the scanner's index and range of each match, left to right, as
    /// one leftmost-longest search over every pattern would: the leftmost of the parts'
    /// next matches (the longer where two start together, which the longer part holds),
    /// then each part's next match from where that one ends.
    fn each_match(&self, haystack: &[u8], mut hit: impl FnMut(usize, Range<usize>)) {
        let find = |part: &TeddyPart, from: usize| {
            part.searcher
                .find_in(haystack, aho_corasick::Span::from(from..haystack.len()))
        };
        // At most two parts: no allocation on the request path.
        let mut next: [Option<aho_corasick::Match>; 2] = [None, None];
        for (part, candidate) in self.parts.iter().zip(&mut next) {
            *candidate = find(part, 0);
        }
        loop {
            let Some((k, m)) = next
                .iter()
                .enumerate()
                .filter_map(|(k, m)| m.as_ref().map(|m| (k, m)))
                .min_by_key(|(_, m)| (m.start(), std::cmp::Reverse(m.len())))
            else {
                return;
            };
            let (pattern, range) = (
                self.parts[k].patterns[m.pattern().as_usize()],
                m.start()..m.end(),
            );
            hit(pattern, range.clone());
            for (part, candidate) in self.parts.iter().zip(&mut next) {
                if candidate.as_ref().is_some_and(|m| m.start() < range.end) {
                    *candidate = find(part, range.end);
                }
            }
        }
    }
}

impl Search {
    /// Calls `hit` with the index and range of each match, left to right.
    fn each_match(&self, haystack: &[u8], mut hit: impl FnMut(usize, Range<usize>)) {
        match self {
            Self::Teddy(teddy) => teddy.each_match(haystack, hit),
            Self::Automaton(automaton) => {
                for m in automaton.find_iter(haystack) {
                    hit(m.pattern().as_usize(), m.range());
                }
            }
        }
    }

    #[cfg(test)]
    fn memory_usage(&self) -> usize {
        match self {
            Self::Teddy(teddy) => teddy.parts.iter().map(|p| p.searcher.memory_usage()).sum(),
            Self::Automaton(automaton) => automaton.memory_usage(),
        }
    }
}

/// The compiled scanner of one redaction.
#[derive(Debug)]
pub(super) struct Scanner {
    search: Option<Search>,
    /// The automaton without a prefilter, for short texts (a header value, a URI),
    /// where setting a prefilter up costs more than it saves.
    short_search: Option<Search>,
    /// Rules most short texts out before the short automaton runs.
    short_filter: Option<Trigrams>,
    patterns: Vec<Pattern>,
    cards: bool,
    aws_secrets: bool,
    custom: Vec<Detector>,
}

/// What a scan found.
#[derive(Debug, Default)]
pub(super) struct Findings {
    /// A secret name appears as a word of the text.
    pub(super) secret_name: bool,
    /// Ranges a value detector recognised, sorted and merged.
    pub(super) values: Vec<Range<usize>>,
    /// Ranges of values assigned to a secret name in text (`password=…`,
    /// `"token": "…"`, `name="pin"` in a multipart part), sorted and merged with
    /// `values` by [`Findings::secrets`].
    pub(super) assigned: Vec<Range<usize>>,
}

impl Findings {
    pub(super) fn is_empty(&self) -> bool {
        !self.secret_name && self.values.is_empty()
    }

    /// Every secret range (values and assignments), sorted, overlaps merged.
    pub(super) fn secrets(mut self) -> Vec<Range<usize>> {
        self.values.append(&mut self.assigned);
        merge(self.values)
    }
}

/// The stem searched for a secret name: its longest part between separators and
/// lower-to-upper case changes, as written (`x-session` gives `session`,
/// `cardHolder` gives `holder`). A built-in rule's name is already one word.
pub(super) fn stem(name: &str) -> String {
    let mut best = "";
    let mut start = 0;
    let bytes = name.as_bytes();
    for i in 0..=bytes.len() {
        let boundary = i == bytes.len()
            || !bytes[i].is_ascii_alphanumeric()
            || (i > start && bytes[i].is_ascii_uppercase() && bytes[i - 1].is_ascii_lowercase());
        if boundary {
            if i - start > best.len() {
                best = &name[start..i];
            }
            start = if i < bytes.len() && bytes[i].is_ascii_alphanumeric() {
                i
            } else {
                i + 1
            };
        }
    }
    best.to_ascii_lowercase()
}

/// The stem searched for a built-in rule: a part written without a separator in every
/// usual spelling of the names it matches, shared between rules where one serves
/// several (the whole word around a hit is checked against the rules, so a stem only
/// has to be present, never to be the name).
fn builtin_stem(name: &str) -> &str {
    match name {
        "apikey" | "key" | "privatekey" | "secretkey" | "accesskey" | "signingkey"
        | "encryptionkey" | "masterkey" | "sessionkey" => "key",
        "password" | "passwd" | "passphrase" => "pass",
        "session" | "sessionid" => "session",
        "signature" | "sig" => "sig",
        "credential" | "credentials" => "credential",
        "otp" | "otpcode" => "otp",
        "mfacode" => "mfa",
        "pin" | "pincode" => "pin",
        "socialsecuritynumber" => "social",
        "cardnumber" => "card",
        "ccnumber" => "number",
        "cvv" | "cvv2" => "cvv",
        "cvc" | "cvc2" => "cvc",
        "securitycode" => "security",
        "xretracerecord" => "retrace",
        other => other,
    }
}

impl Scanner {
    pub(super) fn new(
        names: &SecretNames,
        added_stems: &[String],
        detectors: &[DetectorKind],
        custom: Vec<Detector>,
    ) -> Self {
        let mut texts: Vec<String> = Vec::new();
        let mut patterns = Vec::new();
        let mut push = |text: String, pattern: Pattern| {
            if !text.is_empty() && !texts.contains(&text) {
                texts.push(text);
                patterns.push(pattern);
            }
        };
        for name in names.rule_names() {
            push(builtin_stem(name).to_owned(), Pattern::NameStem);
        }
        for stem in added_stems {
            push(stem.clone(), Pattern::NameStem);
        }
        for anchor in ANCHORS.iter().filter(|a| detectors.contains(&a.kind)) {
            push(anchor.text.to_ascii_lowercase(), Pattern::Anchor(*anchor));
        }
        // Case-sensitive over lower-case patterns, searched in a lower-cased copy of the
        // text: the automaton's SIMD prefilter only works without ASCII case folding,
        // and folding a copy costs far less than losing it (0.17 against 1.8 µs per KiB
        // of JSON). Leftmost-longest so that the anchor `token ` wins over the stem
        // `token` where both start.
        let build = |prefilter: bool| {
            (!texts.is_empty())
                .then(|| {
                    AhoCorasickBuilder::new()
                        .match_kind(MatchKind::LeftmostLongest)
                        .kind((!prefilter).then_some(AhoCorasickKind::DFA))
                        .prefilter(prefilter)
                        .build(&texts)
                        .ok()
                })
                .flatten()
        };
        let search = match SplitTeddy::new(&texts) {
            Some(teddy) => Some(Search::Teddy(teddy)),
            None => build(true).map(Search::Automaton),
        };
        Self {
            search,
            short_search: build(false).map(Search::Automaton),
            short_filter: Trigrams::new(texts.iter().map(String::as_bytes)),
            patterns,
            cards: detectors.contains(&DetectorKind::CardNumber),
            aws_secrets: detectors.contains(&DetectorKind::AwsSecretKey),
            custom,
        }
    }

    /// Whether the scanner can find anything at all.
    pub(super) fn is_active(&self) -> bool {
        self.search.is_some() || self.cards || self.aws_secrets || !self.custom.is_empty()
    }

    /// The value detectors' ranges in `text`, sorted and merged (names are not looked
    /// at: the caller knows the name of the value).
    pub(super) fn values(&self, names: &SecretNames, text: &[u8]) -> Vec<Range<usize>> {
        self.scan(names, text, false).values
    }

    /// Everything in `text`: secret names (and, when `assignments`, the values assigned
    /// to them) and the value detectors' ranges.
    pub(super) fn scan(&self, names: &SecretNames, text: &[u8], assignments: bool) -> Findings {
        let mut found = Findings::default();
        let search = if text.len() >= SHORT_TEXT {
            self.search.as_ref()
        } else if self.short_filter.as_ref().is_none_or(|f| f.may_match(text)) {
            self.short_search.as_ref()
        } else {
            None
        };
        if let Some(search) = search {
            let mut skip_to = 0;
            let mut verdicts = WordVerdicts::default();
            with_lower_case(text, |folded| {
                search.each_match(folded, |pattern, hit| match self.patterns[pattern] {
                    Pattern::NameStem => {
                        if hit.start >= skip_to {
                            skip_to =
                                name_at(names, &mut verdicts, text, hit, assignments, &mut found);
                        }
                    }
                    Pattern::Anchor(anchor) => {
                        if let Some(range) = detect::check(&anchor, text, hit.start) {
                            found.values.push(range);
                        } else if anchor.kind == DetectorKind::AuthScheme && hit.start >= skip_to {
                            // `token ` won the match over the stem `token`: it may be a
                            // name (`api_token = x`) rather than a scheme.
                            let word = hit.start..hit.end - 1;
                            skip_to =
                                name_at(names, &mut verdicts, text, word, assignments, &mut found);
                        }
                    }
                });
            });
        }
        if self.cards || self.aws_secrets {
            detect::find_runs(text, self.cards, self.aws_secrets, &mut found.values);
        }
        for detector in &self.custom {
            detector.find(text, &mut found.values);
        }
        found.values = merge(std::mem::take(&mut found.values));
        found
    }
}

/// Checks the word around a name stem hit at `stem`: when it is a secret's name, notes
/// it (and, when `assignments`, the value assigned to it). Returns where the word ends.
fn name_at(
    names: &SecretNames,
    verdicts: &mut WordVerdicts,
    text: &[u8],
    stem: Range<usize>,
    assignments: bool,
    found: &mut Findings,
) -> usize {
    let word = names::word_around(text, stem);
    let end = word.end;
    let bytes = &text[word.clone()];
    let secret = verdicts.get_or_test(
        |known| text[known.clone()] == *bytes,
        || word.clone(),
        || names.is_secret(bytes, Place::Parameter),
    );
    if secret {
        found.secret_name = true;
        if let Some(value) = assignments.then(|| assigned_value(text, word)).flatten() {
            found.assigned.push(value);
        }
    }
    end
}

/// Words a scan remembers the name test's verdicts on.
const WORD_VERDICTS: usize = 16;

/// The name test's verdicts on the words a scan met last, as ranges of its text.
type WordVerdicts = Verdicts<Range<usize>, WORD_VERDICTS>;

/// Runs `f` on `text` with ASCII letters lower-cased (same length, same offsets), in a
/// buffer kept per thread so the request path does not allocate for it.
fn with_lower_case<R>(text: &[u8], f: impl FnOnce(&[u8]) -> R) -> R {
    thread_local! {
        static FOLDED: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }
    let fold = |buf: &mut Vec<u8>| {
        buf.clear();
        buf.extend(text.iter().map(u8::to_ascii_lowercase));
    };
    FOLDED.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            fold(&mut buf);
            let result = f(&buf);
            // A body at the cap must not pin its size for the thread's lifetime.
            if buf.capacity() > 256 * 1024 {
                *buf = Vec::new();
            }
            result
        }
        Err(_) => {
            let mut buf = Vec::with_capacity(text.len());
            fold(&mut buf);
            f(&buf)
        }
    })
}

/// The value assigned to the name at `word` in text, if it is written as an
/// assignment: `name=value`, `name: value`, `"name": "value"`, `name = 'value'`, or a
/// multipart part `name="name"` followed by a blank line and the value.
fn assigned_value(text: &[u8], word: Range<usize>) -> Option<Range<usize>> {
    let mut i = word.end;
    let quote_before = word.start > 0 && matches!(text[word.start - 1], b'"' | b'\'');
    if quote_before && text.get(i) == Some(&text[word.start - 1]) {
        i += 1;
    }
    let multipart = quote_before && text[..word.start - 1].ends_with(b"name=");
    if multipart {
        let blank = memchr::memmem::find(&text[i..], b"\r\n\r\n")
            .map(|n| (i + n + 4, b"\r\n".as_slice()))
            .or_else(|| {
                memchr::memmem::find(&text[i..], b"\n\n").map(|n| (i + n + 2, b"\n".as_slice()))
            })?;
        let (start, eol) = blank;
        let end = memchr::memmem::find(&text[start..], eol).map_or(text.len(), |n| start + n);
        return (start < end).then_some(start..end);
    }
    while text.get(i).is_some_and(|b| *b == b' ' || *b == b'\t') {
        i += 1;
    }
    if !matches!(text.get(i), Some(b':' | b'=')) {
        return None;
    }
    i += 1;
    while text.get(i).is_some_and(|b| b.is_ascii_whitespace()) {
        i += 1;
    }
    // `Authorization: Bearer X`: the credential is X, the scheme stays readable.
    if let Some(scheme) = super::AUTH_SCHEMES.iter().find(|s| {
        text.get(i..i + s.len() + 1)
            .is_some_and(|w| w[..s.len()].eq_ignore_ascii_case(s.as_bytes()) && w[s.len()] == b' ')
    }) {
        i += scheme.len();
        while text.get(i) == Some(&b' ') {
            i += 1;
        }
    }
    let (start, end) = match text.get(i) {
        Some(&q @ (b'"' | b'\'')) => {
            let start = i + 1;
            let mut j = start;
            while j < text.len() && text[j] != q && text[j] != b'\n' {
                j += if text[j] == b'\\' { 2 } else { 1 };
            }
            (start, j.min(text.len()))
        }
        Some(_) => {
            let end = text[i..]
                .iter()
                .position(|b| {
                    b.is_ascii_whitespace()
                        || matches!(
                            b,
                            b'&' | b';' | b',' | b')' | b'}' | b']' | b'"' | b'\'' | b'<'
                        )
                })
                .map_or(text.len(), |n| i + n);
            (i, end)
        }
        None => return None,
    };
    (start < end).then_some(start..end)
}

/// Sorted, with overlapping or touching ranges merged.
pub(super) fn merge(mut ranges: Vec<Range<usize>>) -> Vec<Range<usize>> {
    if ranges.len() < 2 {
        return ranges;
    }
    ranges.sort_by_key(|r| r.start);
    let mut out: Vec<Range<usize>> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match out.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_short_automaton_stays_small() {
        let redaction = crate::redaction::Redaction::default();
        let scanner = &redaction.inner.scanner;
        let short = scanner.short_search.as_ref().expect("built").memory_usage();
        let long = scanner.search.as_ref().expect("built").memory_usage();
        eprintln!("automaton memory: short {short} B, long {long} B");
        assert!(short < 512 * 1024, "{short}");
    }

    use super::*;

    /// Every match of each search over `text`, as (pattern, range).
    fn matches(search: &Search, text: &[u8]) -> Vec<(usize, Range<usize>)> {
        let mut all = Vec::new();
        search.each_match(text, |p, r| all.push((p, r)));
        all
    }

    #[test]
    fn a_short_text_the_filter_rules_out_still_meets_the_detectors() {
        let redaction = crate::redaction::Redaction::default();
        let scanner = &redaction.inner.scanner;
        let filter = scanner
            .short_filter
            .as_ref()
            .expect("the default rules have one");
        // No name or anchor can begin in it, so the automaton is skipped...
        let text = b"ref 4111 1111 1111 1111";
        assert!(!filter.may_match(text));
        assert!(!filter.may_match(b"/orders/7"));
        // ...but the card number is still found, by the detectors' own pass.
        let found = scanner.scan(&redaction.inner.names, text, true);
        assert_eq!(found.values, vec![4..text.len()]);
        // A name in a short text is still found through the automaton.
        let named = scanner.scan(&redaction.inner.names, b"password=x", true);
        assert!(named.secret_name);
    }

    #[test]
    fn teddy_finds_what_the_automaton_finds() {
        let redaction = crate::redaction::Redaction::default();
        let scanner = &redaction.inner.scanner;
        let teddy = scanner.search.as_ref().expect("built");
        #[cfg(target_arch = "x86_64")]
        assert!(matches!(teddy, Search::Teddy(_)), "Teddy on x86-64");
        let automaton = scanner.short_search.as_ref().expect("built");
        let mut text = String::new();
        for (i, word) in [
            "token ",
            "passwd",
            "x-api-key",
            "bearer ",
            "eyJ0",
            "AKIAX",
            "://",
            "sk_live_",
            "ghp_",
            "-----begin ",
            "sessionid",
            "cvv2",
            "plain",
            "words",
            "pin",
            "tok",
        ]
        .iter()
        .cycle()
        .take(400)
        .enumerate()
        {
            text.push_str(if i % 3 == 0 { word } else { "lorem ipsum " });
            text.push_str(&"x".repeat(i % 7));
        }
        let folded = text.to_ascii_lowercase();
        let found = matches(teddy, folded.as_bytes());
        assert!(found.len() > 100, "{}", found.len());
        assert_eq!(found, matches(automaton, folded.as_bytes()));
    }

    proptest::proptest! {
        /// The two Teddy searchers together give exactly the matches of one
        /// leftmost-longest search over every pattern, where patterns overlap, nest
        /// and share starts (`tokeyj`, `passsn`, `pinpad` against `pin`).
        #[test]
        fn split_teddy_matches_one_search_over_every_pattern(
            parts in proptest::collection::vec(
                proptest::sample::select(vec![
                    "token ", "tok", "key", "keyring", "eyj", "pass", "ss", "n", "e", "y",
                    "j", "k", "p", "://", ":/", "sk_live_", "pin", "pinpad", "sig",
                    "session", "ssn", "-----begin ", " ", "\"", "ghp_", "cvv2",
                ]),
                0..80,
            ),
        ) {
            // Two names whose stems start with a three-letter one: matches of both
            // parts at the same place.
            let redaction = crate::redaction::Redaction::builder()
                .name("pinpad")
                .name("keyring")
                .build()
                .expect("valid rules");
            let scanner = &redaction.inner.scanner;
            let teddy = scanner.search.as_ref().expect("built");
            let automaton = scanner.short_search.as_ref().expect("built");
            #[cfg(target_arch = "x86_64")]
            proptest::prop_assert!(
                matches!(teddy, Search::Teddy(split) if split.parts.len() == 2),
                "two Teddy searchers on x86-64"
            );
            let text = parts.concat();
            proptest::prop_assert_eq!(
                matches(teddy, text.as_bytes()),
                matches(automaton, text.as_bytes())
            );
        }
    }

    #[test]
    fn stems_are_the_longest_word_as_written() {
        assert_eq!(stem("x-session"), "session");
        assert_eq!(stem("cardHolder"), "holder");
        assert_eq!(stem("ssn"), "ssn");
    }

    #[test]
    fn assignments_in_text() {
        let text = b"user=ada&password=hunter2&x=1";
        let word = 9..17;
        assert_eq!(assigned_value(text, word), Some(18..25));
        let text = br#"{"token" : "abc def"}"#;
        assert_eq!(&text[assigned_value(text, 2..7).unwrap()], b"abc def");
        let text = b"Content-Disposition: form-data; name=\"pin\"\r\n\r\n1234\r\n--b";
        let at = memchr::memmem::find(text, b"pin").unwrap();
        assert_eq!(&text[assigned_value(text, at..at + 3).unwrap()], b"1234");
    }
}
