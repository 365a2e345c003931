//! The waterfall: each outgoing call as a bar on the incoming request's timeline, so a
//! slow dependency or calls made one after another instead of together show at a glance.

use retrace::{CallOutcome, Recording};

use crate::format::duration_us;
use crate::format::table::{Column, Table};

/// Characters between the bars' borders.
pub(crate) const WIDTH: usize = 40;

/// The span of the timeline in microseconds: the request's duration, or the end of the
/// last call if one outlived it.
pub(crate) fn span_us(rec: &Recording) -> u64 {
    let calls_end = rec
        .calls()
        .iter()
        .map(|c| c.call.at_us + c.result.map_or(0, |r| r.duration_us))
        .max()
        .unwrap_or(0);
    rec.summary.duration_us.unwrap_or(0).max(calls_end)
}

/// A bar from `start` lasting `len` (unknown: `None`) on a timeline of `span`, all in
/// microseconds: `=` where the call was in flight, `?` where it started if it never
/// answered.
pub(crate) fn bar(start: u64, len: Option<u64>, span: u64) -> String {
    let col = |t: u64, round_up: bool| -> usize {
        usize::try_from(scale(t, span, WIDTH as u64, round_up)).unwrap_or(WIDTH)
    };
    let from = col(start, false).min(WIDTH - 1);
    let mut cells = vec![' '; WIDTH];
    match len {
        Some(len) => {
            let to = col(start.saturating_add(len), true).max(from + 1);
            cells[from..to].fill('=');
        }
        None => cells[from] = '?',
    }
    format!("|{}|", cells.into_iter().collect::<String>())
}

/// Where `t` falls on a timeline of `span` microseconds drawn `width` units wide,
/// rounded down or up, at most `width`. Computed in 128 bits: no time overflows it.
pub(crate) fn scale(t: u64, span: u64, width: u64, round_up: bool) -> u64 {
    let span = u128::from(span.max(1));
    let scaled = u128::from(t) * u128::from(width);
    let units = if round_up {
        scaled.div_ceil(span)
    } else {
        scaled / span
    };
    u64::try_from(units).unwrap_or(width).min(width)
}

/// The label of a call: method and absolute URI (the target joined with the URI when
/// the client recorded a relative one).
pub(crate) fn call_label(target: &str, method: &str, uri: &str) -> String {
    if uri.contains("://") {
        format!("{method} {uri}")
    } else {
        format!("{method} {target}{uri}")
    }
}

/// The waterfall table: the request itself first, then each call in the order started.
pub(crate) fn table(rec: &Recording) -> Table {
    let span = span_us(rec);
    let s = &rec.summary;
    let mut table = Table::new(vec![
        Column::left("#"),
        Column::left("CALL").max_width(48),
        Column::right("STATUS"),
        Column::right("START"),
        Column::right("TOOK"),
        Column::left("TIMELINE"),
    ]);
    table.row(vec![
        "-".to_owned(),
        format!("{} {} (this request)", s.method, s.uri),
        s.status.map_or_else(|| "-".to_owned(), |c| c.to_string()),
        "+0µs".to_owned(),
        s.duration_us.map_or_else(|| "-".to_owned(), duration_us),
        bar(0, Some(s.duration_us.unwrap_or(span)), span),
    ]);
    for c in rec.calls() {
        let took = c.result.map(|r| r.duration_us);
        let status = match c.result.map(|r| &r.outcome) {
            Some(CallOutcome::Response { head, .. }) => head.status.to_string(),
            Some(CallOutcome::Error(_)) => "error".to_owned(),
            None => "-".to_owned(),
        };
        table.row(vec![
            c.call.call_id.to_string(),
            call_label(&c.call.target, &c.call.head.method, &c.call.head.uri),
            status,
            format!("+{}", duration_us(c.call.at_us)),
            took.map_or_else(|| "-".to_owned(), duration_us),
            bar(c.call.at_us, took, span),
        ]);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_sit_on_the_timeline() {
        let line = |s: &str| format!("|{s:<40}|");
        assert_eq!(bar(0, Some(1000), 1000), line(&"=".repeat(40)));
        assert_eq!(
            bar(250, Some(500), 1000),
            line(&format!("{}{}", " ".repeat(10), "=".repeat(20)))
        );
        assert_eq!(
            bar(999, Some(0), 1000),
            line(&format!("{}=", " ".repeat(39)))
        );
        assert_eq!(bar(500, None, 1000), line(&format!("{}?", " ".repeat(20))));
        assert_eq!(bar(0, Some(0), 0), line("="));
    }
}
