//! The frame every page shares (title, navigation, the root being shown) and the small
//! pieces several pages use: status badges, times, error and sign-in pages. Markup is
//! maud's: every value put in a page is escaped.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};
use retrace::Summary;

use super::server::State;
use crate::format::summary;

/// The sections in the navigation bar.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Section {
    Recordings,
    Replay,
    Overview,
    /// A page of no section (errors, sign-in).
    Other,
}

/// A whole page: `title` in the tab, `body` under the navigation.
pub(super) fn layout(state: &State, section: Section, title: &str, body: Markup) -> Markup {
    let tab = |s: Section, href: &str, label: &str| {
        html! {
            a href=(href) aria-current=[(s == section).then_some("page")] { (label) }
        }
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · retrace view" }
                link rel="stylesheet" href="/assets/view.css";
                script src="/assets/view.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/" { "retrace" }
                    nav {
                        (tab(Section::Recordings, "/", "Recordings"))
                        @if state.report().is_some() {
                            (tab(Section::Replay, "/replay", "Replay"))
                        }
                        (tab(Section::Overview, "/overview", "Overview"))
                    }
                    span.root title="the recording directory" { (state.root_text()) }
                }
                main { (body) }
                footer {
                    "Keys: " kbd { "j" } "/" kbd { "k" } " move, " kbd { "Enter" } " open, "
                    kbd { "/" } " search, " kbd { "g" } " back to the list"
                }
            }
        }
    }
}

/// A page saying what went wrong, with its status.
pub(super) fn error(state: &State, status: StatusCode, message: &str) -> Response {
    let body = html! {
        h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("")) }
        p.error { (message) }
        p { a href="/" { "Back to the recordings" } }
    };
    (
        status,
        super::server::page_response(layout(state, Section::Other, "Error", body)),
    )
        .into_response()
}

/// The sign-in page, with why the last key was refused.
pub(super) fn login(state: &State, refused: Option<&str>) -> Markup {
    let body = html! {
        h1 { "Sign in" }
        @if state.access().uses_keys() {
            p { "This viewer asks for an API key with the " code { "read" } " scope or more ("
                code { "retrace admin-key new NAME --scope read" } ")." }
        } @else {
            p { "Open the address " code { "retrace view" } " printed (it carries a token), "
                "or paste that token here." }
        }
        @if let Some(reason) = refused { p.error role="alert" { (reason) } }
        form method="post" action="/login" {
            label for="key" { @if state.access().uses_keys() { "API key" } @else { "Token" } }
            input #key type="password" name="key" autocomplete="off" autofocus;
            button type="submit" { "Sign in" }
        }
    };
    layout(state, Section::Other, "Sign in", body)
}

/// A status as a coloured badge; `-` for none.
pub(super) fn status_badge(status: Option<u16>) -> Markup {
    let class = match status {
        Some(200..=299) => "badge ok",
        Some(300..=399) => "badge redirect",
        Some(400..=499) => "badge client-error",
        Some(_) => "badge server-error",
        None => "badge none",
    };
    html! { span class=(class) { (status.map_or_else(|| "-".to_owned(), |s| s.to_string())) } }
}

/// The flags of a summary as small labels.
pub(super) fn flags(s: &Summary) -> Markup {
    html! {
        @for flag in summary::flags(s) { span class={ "flag " (flag) } { (flag) } " " }
    }
}

/// The link to a recording.
pub(super) fn recording_href(id: &retrace::RecordingId) -> String {
    format!("/r/{id}")
}
