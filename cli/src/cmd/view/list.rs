//! The recordings page (`/`): the listing filtered, sorted and cut into pages.
//!
//! The filters are `retrace ls`'s own: the query string is parsed by the same clap
//! definition ([`FilterArgs`]), so `?status=5xx&since=1h` selects what `retrace ls
//! --status 5xx --since 1h` lists, and a bad value gets the same message.

use axum::extract::{RawQuery, State as AxumState};
use axum::http::StatusCode;
use axum::response::Response;
use clap::Parser;
use maud::{Markup, html};
use retrace::RecordingInfo;

use super::page::{self, Section, status_badge};
use super::server::{State, page_response};
use crate::filter::FilterArgs;
use crate::format::summary::{duration, reason};
use crate::format::{bytes, short_id};
use crate::time::rfc3339_seconds;

/// Recordings on one page.
const PAGE_SIZE: usize = 50;

/// The query string's filters, parsed as `retrace ls` parses its options.
#[derive(Debug, Parser)]
#[command(no_binary_name = true, disable_help_flag = true)]
struct QueryFilter {
    #[command(flatten)]
    filter: FilterArgs,
}

/// What the page was asked for.
#[derive(Debug, Default)]
struct Query {
    /// The filter fields as given, for the form and the links.
    fields: Vec<(String, String)>,
    page: usize,
    sort: SortKey,
    ascending: bool,
}

/// The columns a listing sorts by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum SortKey {
    #[default]
    Started,
    Duration,
    Status,
    Size,
    Calls,
    Path,
}

impl SortKey {
    const ALL: [(Self, &'static str); 6] = [
        (Self::Started, "started"),
        (Self::Duration, "duration"),
        (Self::Status, "status"),
        (Self::Size, "size"),
        (Self::Calls, "calls"),
        (Self::Path, "path"),
    ];

    fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(k, _)| *k == self)
            .map_or("started", |(_, n)| n)
    }

    fn parse(text: &str) -> Result<Self, String> {
        Self::ALL
            .iter()
            .find(|(_, n)| *n == text)
            .map(|(k, _)| *k)
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().map(|(_, n)| *n).collect();
                format!(
                    "sort: unknown column {text:?}; expected one of {}",
                    names.join(", ")
                )
            })
    }

    fn compare(self, a: &RecordingInfo, b: &RecordingInfo) -> std::cmp::Ordering {
        let (a, b) = (&a.summary, &b.summary);
        match self {
            Self::Started => a.started_unix_us.cmp(&b.started_unix_us),
            Self::Duration => a.duration_us.cmp(&b.duration_us),
            Self::Status => a.status.cmp(&b.status),
            Self::Size => a.raw_bytes.cmp(&b.raw_bytes),
            Self::Calls => a.outbound_calls.cmp(&b.outbound_calls),
            Self::Path => a.uri.cmp(&b.uri),
        }
    }
}

/// The filter names the form offers, as `retrace ls` options without their dashes.
const FILTER_FIELDS: [&str; 16] = [
    "search",
    "method",
    "status",
    "path-prefix",
    "reason",
    "capture",
    "since",
    "until",
    "min-duration",
    "max-duration",
    "service",
    "trace-id",
    "pod",
    "node",
    "namespace",
    "commit",
];

fn parse_query(raw: Option<&str>) -> Result<(Query, FilterArgs), String> {
    let mut query = Query::default();
    let mut argv: Vec<String> = Vec::new();
    for (key, value) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        let value = value.trim();
        match &*key {
            "page" => {
                query.page = value
                    .parse::<usize>()
                    .ok()
                    .and_then(|p| p.checked_sub(1))
                    .ok_or_else(|| format!("page: expected a page number from 1, got {value:?}"))?;
            }
            "sort" => query.sort = SortKey::parse(value)?,
            "order" => query.ascending = value == "asc",
            "incomplete" if !value.is_empty() => {
                argv.push("--incomplete".to_owned());
                query
                    .fields
                    .push(("incomplete".to_owned(), "on".to_owned()));
            }
            name if FILTER_FIELDS.contains(&name) => {
                if !value.is_empty() {
                    argv.push(format!("--{name}={value}"));
                    query.fields.push((name.to_owned(), value.to_owned()));
                }
            }
            "token" => {
                return Err(
                    "token: this viewer takes API keys (--keys), which are not put in an \
                     address; sign in on /login"
                        .to_owned(),
                );
            }
            other => return Err(format!("unknown filter {other:?}")),
        }
    }
    let parsed = QueryFilter::try_parse_from(&argv).map_err(|e| {
        // clap's message, first line, without its `error: ` prefix.
        let text = e.to_string();
        let first = text.lines().next().unwrap_or("").trim();
        first.strip_prefix("error: ").unwrap_or(first).to_owned()
    })?;
    Ok((query, parsed.filter))
}

/// `/`: the recordings.
pub(super) async fn page(AxumState(state): AxumState<State>, RawQuery(raw): RawQuery) -> Response {
    let (query, filter) = match parse_query(raw.as_deref()) {
        Ok(parsed) => parsed,
        Err(message) => return page::error(&state, StatusCode::BAD_REQUEST, &message),
    };
    state
        .blocking(move |state| page_response(render(&state, &query, &filter)))
        .await
        .unwrap_or_else(|e| e)
}

fn render(state: &State, query: &Query, filter: &FilterArgs) -> Markup {
    let snapshot = state.snapshot();
    let recordings = &snapshot.listing.recordings;
    let filter = filter.resolve();
    let mut shown: Vec<usize> = (0..recordings.len())
        .filter(|&i| filter.matches(&recordings[i]))
        .collect();
    // The listing is newest first: a stable sort keeps that order among equals.
    if query.sort != SortKey::Started || query.ascending {
        shown.sort_by(|&a, &b| {
            let order = query.sort.compare(&recordings[a], &recordings[b]);
            if query.ascending {
                order
            } else {
                order.reverse()
            }
        });
    }
    let total = shown.len();
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let page_no = query.page.min(pages - 1);
    let on_page = &shown[(page_no * PAGE_SIZE).min(total)..((page_no + 1) * PAGE_SIZE).min(total)];
    let id_len = short_id::unique_len(recordings, on_page);
    let report = state.report();

    let link = |page: usize, sort: SortKey, ascending: bool| {
        let mut out = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &query.fields {
            out.append_pair(k, v);
        }
        if sort != SortKey::Started {
            out.append_pair("sort", sort.name());
        }
        if ascending {
            out.append_pair("order", "asc");
        }
        if page > 0 {
            out.append_pair("page", &(page + 1).to_string());
        }
        let q = out.finish();
        if q.is_empty() {
            "/".to_owned()
        } else {
            format!("/?{q}")
        }
    };
    let header = |label: &str, key: SortKey| {
        let active = query.sort == key;
        let next_ascending = active && !query.ascending;
        let arrow = match (active, query.ascending) {
            (true, true) => " ▲",
            (true, false) => " ▼",
            _ => "",
        };
        html! {
            th aria-sort=[active.then_some(if query.ascending { "ascending" } else { "descending" })] {
                a href=(link(0, key, next_ascending)) { (label) (arrow) }
            }
        }
    };
    let value = |name: &str| {
        query
            .fields
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    };
    let body = html! {
        h1 { "Recordings" }
        form.filters method="get" action="/" {
            input #search type="search" name="search" value=(value("search"))
                placeholder="Search targets (/ to focus)" aria-label="Search targets";
            input name="method" value=(value("method")) placeholder="Method" aria-label="Method" size="6";
            input name="status" value=(value("status")) placeholder="Status: 5xx, 404" aria-label="Status" size="10";
            input name="path-prefix" value=(value("path-prefix")) placeholder="Route prefix" aria-label="Route prefix";
            input name="reason" value=(value("reason")) placeholder="Reason: kept, sampled" aria-label="Reason kept" size="14";
            input name="capture" value=(value("capture")) placeholder="Capture id" aria-label="Capture id" size="10";
            input name="since" value=(value("since")) placeholder="Since: 1h, 2024-05-01" aria-label="Since" size="14";
            input name="until" value=(value("until")) placeholder="Until" aria-label="Until" size="10";
            input name="min-duration" value=(value("min-duration")) placeholder="Took ≥ 250ms" aria-label="Minimum duration" size="10";
            input name="max-duration" value=(value("max-duration")) placeholder="Took ≤ 2s" aria-label="Maximum duration" size="10";
            button type="submit" { "Filter" }
            @if !query.fields.is_empty() { a.clear href="/" { "Clear" } }
        }
        p #count data-total=(total) {
            @if total == 0 {
                @if recordings.is_empty() { "No recordings in this directory yet." }
                @else { "No recording matches these filters." }
            } @else {
                "Showing " (page_no * PAGE_SIZE + 1) "–" (page_no * PAGE_SIZE + on_page.len())
                " of " (total) " recording" @if total != 1 { "s" }
                @if total != recordings.len() { " (" (recordings.len()) " in all)" }
            }
        }
        @if !on_page.is_empty() {
            table.recordings #recordings {
                thead { tr {
                    th { "ID" }
                    (header("Started (UTC)", SortKey::Started))
                    th { "Service" }
                    th { "Method" }
                    (header("Target", SortKey::Path))
                    (header("Status", SortKey::Status))
                    (header("Took", SortKey::Duration))
                    (header("Calls", SortKey::Calls))
                    (header("Size", SortKey::Size))
                    th { "Reason" }
                    th { "Flags" }
                    @if report.is_some() { th { "Replay" } }
                } }
                tbody {
                    @for &i in on_page {
                        @let info = &recordings[i];
                        @let s = &info.summary;
                        @let id = s.id.to_string();
                        tr.row data-href=(page::recording_href(&s.id)) {
                            td { a.open href=(page::recording_href(&s.id)) title=(id) { code { (&id[..id_len.min(id.len())]) } } }
                            td { (rfc3339_seconds(s.started_unix_us)) }
                            td { (info.session.service()) }
                            td { (s.method) }
                            td.target title=(s.uri) { (s.uri) }
                            td { (status_badge(s.status)) }
                            td.num { (duration(s)) }
                            td.num { (s.outbound_calls) }
                            td.num { (bytes(s.raw_bytes)) }
                            td { (reason(s)) }
                            td { (page::flags(s)) }
                            @if let Some(report) = report {
                                td { @if let Some(e) = report.entry(s.id) {
                                    a href={ "/replay/" (s.id) } class={ "verdict " (e.verdict.as_str()) } { (e.verdict.as_str()) }
                                } }
                            }
                        }
                    }
                }
            }
            nav.pages aria-label="Pages" {
                @if page_no > 0 { a rel="prev" href=(link(page_no - 1, query.sort, query.ascending)) { "← Newer" } }
                span { "Page " (page_no + 1) " of " (pages) }
                @if page_no + 1 < pages { a rel="next" href=(link(page_no + 1, query.sort, query.ascending)) { "Older →" } }
            }
        }
    };
    page::layout(state, Section::Recordings, "Recordings", body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_string_is_parsed_as_ls_options_with_their_messages() {
        let (query, filter) = parse_query(Some(
            "status=5xx&since=1h&search=%2Forders&sort=duration&order=asc&page=2&method=",
        ))
        .expect("valid");
        assert_eq!(query.page, 1);
        assert_eq!(query.sort, SortKey::Duration);
        assert!(query.ascending);
        assert_eq!(filter.search.as_deref(), Some("/orders"));
        assert_eq!(filter.status.len(), 1);
        assert!(filter.method.is_empty(), "an empty field filters nothing");
        let err = parse_query(Some("status=6xx")).expect_err("bad status");
        assert!(
            err.contains("expected a status code (404), a class (5xx) or `none`"),
            "{err}"
        );
        let err = parse_query(Some("min-duration=soon")).expect_err("bad duration");
        assert!(err.contains("expected a duration such as `30m`"), "{err}");
        assert_eq!(
            parse_query(Some("token=rtk_1")).expect_err("a key in the address"),
            "token: this viewer takes API keys (--keys), which are not put in an address; \
             sign in on /login"
        );
        assert_eq!(
            parse_query(Some("colour=red")).expect_err("unknown"),
            "unknown filter \"colour\""
        );
        assert!(parse_query(Some("sort=size&page=0")).is_err());
    }
}
