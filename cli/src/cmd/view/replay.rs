//! The replay report (`--report FILE`): `/replay` lists each recording's verdict,
//! `/replay/{id}` puts the recorded response and the replayed answer side by side, with
//! the changes (JSON paths, headers, status) listed above them, the noise greyed out,
//! and the calls that matched nothing or were never made.
//!
//! The report holds the new answer; the recorded one comes from the recording
//! directory, decoded as the comparison decoded it.

use axum::Extension;
use axum::extract::{Path, State as AxumState};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use retrace::diff::Change;
use retrace::replay::{ReplayedAnswer, ReportEntry};
use retrace::{Header, Recording};

use super::access::Viewer;
use super::body;
use super::page::{self, Section, status_badge};
use super::server::{State, page_response, recording_page, viewer_of};
use crate::time::rfc3339_seconds;

fn no_report(state: &State) -> Response {
    page::error(
        state,
        StatusCode::NOT_FOUND,
        "no replay report: start the viewer with --report FILE (written by `retrace replay \
         --report FILE`, or by an in-process replay)",
    )
}

/// The first change of an entry, or its error, in a line.
fn first_difference(entry: &ReportEntry) -> String {
    if !entry.diff.changes.is_empty() {
        return crate::cmd::replay::report::first_change(&entry.diff);
    }
    if let Some(e) = &entry.error {
        return e.clone();
    }
    let gaps = entry.unmatched_calls.len() + entry.unused_calls.len() + entry.missing_values.len();
    if gaps > 0 {
        format!("{gaps} call(s) or value(s) did not line up")
    } else {
        String::new()
    }
}

/// `/replay`: every recording of the report and its verdict.
pub(super) async fn list_page(AxumState(state): AxumState<State>) -> Response {
    let Some(report) = state.report() else {
        return no_report(&state);
    };
    let [identical, different, errors, skipped] = report.counts();
    let body = html! {
        h1 { "Replay" }
        p.summary #replay-summary {
            (report.kind.as_str()) " replay"
            @if let Some(t) = &report.target { " to " code { (t) } }
            " on " (rfc3339_seconds(report.created_unix_us)) ": "
            span.verdict.identical { (identical) " identical" } ", "
            span.verdict.different { (different) " different" } ", "
            span.verdict.error { (errors) " failed" }
            @if skipped > 0 { ", " span.verdict.skipped { (skipped) " skipped" } }
        }
        table.recordings #replay {
            thead { tr { th { "Verdict" } th { "Recording" } th { "Route" } th { "First difference" } } }
            tbody {
                @for e in &report.recordings {
                    tr.row data-href={ "/replay/" (e.id) } {
                        td { span class={ "verdict " (e.verdict.as_str()) } { (e.verdict.as_str()) } }
                        td { a.open href={ "/replay/" (e.id) } { code { (e.id) } } }
                        td { (e.route) }
                        td { (first_difference(e)) }
                    }
                }
            }
        }
    };
    page_response(page::layout(&state, Section::Replay, "Replay", body))
}

/// `/replay/{id}`: the recording and the replay side by side.
pub(super) async fn diff_page(
    AxumState(state): AxumState<State>,
    Path(id): Path<String>,
    viewer: Option<Extension<Viewer>>,
) -> Response {
    if state.report().is_none() {
        return no_report(&state);
    }
    recording_page(
        &state,
        id,
        viewer_of(viewer),
        |state, info, rec| match state.report().and_then(|r| r.entry(info.summary.id)) {
            Some(entry) => page_response(render(state, entry, rec)),
            None => page::error(
                state,
                StatusCode::NOT_FOUND,
                &format!("recording {} is not in the replay report", info.summary.id),
            ),
        },
    )
    .await
}

fn json_text(value: Option<&serde_json::Value>) -> String {
    value.map_or_else(|| "(missing)".to_owned(), |v| v.to_string())
}

fn change_row(change: &Change, noise: bool) -> Markup {
    let (recorded, replayed) = match change {
        Change::Status { expected, actual } => (expected.to_string(), actual.to_string()),
        Change::Header {
            expected, actual, ..
        }
        | Change::Trailer {
            expected, actual, ..
        } => {
            let values = |v: &[String]| {
                if v.is_empty() {
                    "(absent)".to_owned()
                } else {
                    v.join(", ")
                }
            };
            (values(expected), values(actual))
        }
        Change::Json {
            expected, actual, ..
        } => (json_text(expected.as_ref()), json_text(actual.as_ref())),
        Change::Text {
            expected, actual, ..
        } => {
            let line =
                |l: &Option<String>| l.clone().unwrap_or_else(|| "(no such line)".to_owned());
            (line(expected), line(actual))
        }
        Change::Binary {
            offset,
            expected_len,
            actual_len,
        } => (
            format!("{expected_len} bytes"),
            format!("{actual_len} bytes, first difference at byte {offset}"),
        ),
        other => (other.to_string(), String::new()),
    };
    let path = match change {
        Change::Json { path, .. } => Some(path.as_str()),
        _ => None,
    };
    html! {
        tr class=(if noise { "change noise" } else { "change" }) data-path=[path] {
            td { code { (change.location()) } @if noise { " " span.muted { "(noise)" } } }
            td.recorded { (body::marked(&recorded)) }
            td.replayed { (body::marked(&replayed)) }
        }
    }
}

/// Header names a diff says changed.
fn changed_headers(changes: &[Change]) -> Vec<&str> {
    changes
        .iter()
        .filter_map(|c| match c {
            Change::Header { name, .. } => Some(name.as_str()),
            _ => None,
        })
        .collect()
}

fn answer_side(answer: &ReplayedAnswer, changed: &[&str]) -> Markup {
    let headers: Vec<Header> = answer
        .headers
        .iter()
        .map(|h| Header::new(h.name.clone(), h.value.clone()))
        .collect();
    html! {
        p { (status_badge(Some(answer.status))) }
        (body::headers(&headers, changed))
        @match answer.body() {
            Ok(data) => { (body::recorded(data.into(), &headers, None)) }
            Err(e) => { p.error { (e) } }
        }
    }
}

fn recorded_side(rec: &Recording, changed: &[&str]) -> Markup {
    let Some(head) = rec.response() else {
        return html! { p.muted { "No response was recorded." } };
    };
    html! {
        p { (status_badge(Some(head.status))) }
        (body::headers(&head.headers, changed))
        (body::recorded(rec.response_body(), &head.headers, rec.response_end()))
    }
}

fn list(title: &str, id: &str, items: &[String]) -> Markup {
    html! {
        @if !items.is_empty() {
            section id=(id) {
                h3 { (title) " (" (items.len()) ")" }
                ul { @for item in items { li { code { (item) } } } }
            }
        }
    }
}

fn render(state: &State, entry: &ReportEntry, rec: &Recording) -> Markup {
    let diff = &entry.diff;
    let changed = changed_headers(&diff.changes);
    let body = html! {
        h1 {
            "Replay of " (entry.route) " "
            span class={ "verdict " (entry.verdict.as_str()) } { (entry.verdict.as_str()) }
        }
        p { "Recording " a href=(page::recording_href(&entry.id)) { code { (entry.id) } }
            @if entry.sent > 1 { " — sent " (entry.sent) " times; the first answer that differed is shown" } }
        @if let Some(e) = &entry.error { p.error role="alert" { (e) } }
        section #changes {
            h2 { "Changes " span.muted { (diff.change_count()) " that matter, " (diff.noise_count()) " noise" } }
            @if diff.changes.is_empty() && diff.noise.is_empty() {
                p.muted { "The answers are the same." }
            } @else {
                table.changes {
                    thead { tr { th { "Where" } th { "Recorded" } th { "Replayed" } } }
                    tbody {
                        @for c in &diff.changes { (change_row(c, false)) }
                        @for c in &diff.noise { (change_row(c, true)) }
                    }
                }
                @if diff.omitted_changes > 0 { p.muted { "… and " (diff.omitted_changes) " more changes" } }
                @if diff.omitted_noise > 0 { p.muted { "… and " (diff.omitted_noise) " more noise" } }
            }
        }
        (list("Calls that matched no recorded call", "unmatched", &entry.unmatched_calls))
        (list("Recorded calls never made", "unused", &entry.unused_calls))
        (list("Values the recording lacked", "missing", &entry.missing_values))
        div.side-by-side {
            section #recorded { h2 { "Recorded" } (recorded_side(rec, &changed)) }
            section #replayed {
                h2 { "Replayed" }
                @match &entry.answer {
                    Some(answer) => { (answer_side(answer, &changed)) }
                    None => { p.muted { "No answer." } }
                }
            }
        }
    };
    page::layout(
        state,
        Section::Replay,
        &format!("Replay of {}", entry.route),
        body,
    )
}
