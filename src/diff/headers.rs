//! Header comparison: by name (any case), each name's values as a multiset, so neither
//! the order of headers nor the order of a repeated header's values counts.

use std::cmp::Ordering;

use crate::event::Header;

use super::change::{Change, Collector};
use super::noise::{NoiseRules, cmp_ignore_ascii_case};

/// Which list is compared: headers, or trailers (the same comparison, reported apart).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Field {
    Header,
    Trailer,
}

/// Compares two header (or trailer) lists and records one change per name whose values
/// differ.
pub(crate) fn diff_headers(
    expected: &[Header],
    actual: &[Header],
    rules: &NoiseRules,
    collector: &mut Collector,
    field: Field,
) {
    if expected == actual {
        return;
    }
    let expected = sorted(expected);
    let actual = sorted(actual);
    let (mut left, mut right) = (expected.as_slice(), actual.as_slice());
    while !left.is_empty() || !right.is_empty() {
        let order = match (left.first(), right.first()) {
            (Some(a), Some(b)) => cmp_ignore_ascii_case(&a.name, &b.name),
            (Some(_), None) => Ordering::Less,
            _ => Ordering::Greater,
        };
        // The side whose next name sorts first has a group the other side lacks.
        let ours = if order == Ordering::Greater {
            &[]
        } else {
            take_group(&mut left)
        };
        let theirs = if order == Ordering::Less {
            &[]
        } else {
            take_group(&mut right)
        };
        let same =
            ours.len() == theirs.len() && ours.iter().zip(theirs).all(|(a, b)| a.value == b.value);
        if !same {
            let name = ours.first().or(theirs.first()).map_or("", |h| &h.name);
            let (name, expected, actual) =
                (name.to_ascii_lowercase(), values(ours), values(theirs));
            collector.record(rules.ignores_header(&name), || match field {
                Field::Header => Change::Header {
                    name,
                    expected,
                    actual,
                },
                Field::Trailer => Change::Trailer {
                    name,
                    expected,
                    actual,
                },
            });
        }
    }
}

/// The headers sorted by name (any case), then value.
fn sorted(headers: &[Header]) -> Vec<&Header> {
    let mut sorted: Vec<&Header> = headers.iter().collect();
    sorted.sort_unstable_by(|a, b| {
        cmp_ignore_ascii_case(&a.name, &b.name).then_with(|| a.value.cmp(&b.value))
    });
    sorted
}

/// Takes the leading run of headers sharing the first one's name off `headers`.
fn take_group<'h, 'a>(headers: &mut &'h [&'a Header]) -> &'h [&'a Header] {
    let len = match headers.first() {
        Some(first) => headers
            .iter()
            .position(|h| !h.name.eq_ignore_ascii_case(&first.name))
            .unwrap_or(headers.len()),
        None => 0,
    };
    let (group, rest) = headers.split_at(len);
    *headers = rest;
    group
}

fn values(group: &[&Header]) -> Vec<String> {
    group
        .iter()
        .map(|h| String::from_utf8_lossy(&h.value).into_owned())
        .collect()
}
