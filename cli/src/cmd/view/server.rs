//! The viewer's HTTP side: its state (the store, a listing refreshed now and then, the
//! replay report, who may look), its routes, and the guard every request passes.
//!
//! Reading the store is blocking file work, so handlers run it on tokio's blocking pool.
//! Nothing here serves a file by name: recordings are found by id in the listing and
//! assets are compiled in, so no request can reach a file outside the recording
//! directory, whatever its path says.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State as AxumState};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use maud::Markup;
use parking_lot::Mutex;
use retrace::replay::ReplayReportFile;
use retrace::{Listing, Recording, RecordingId, RecordingInfo, Store};
use retrace_tower::admin::KeySource;

use super::access::{Access, Viewer};
use super::{list, overview, page, recording, replay};
use crate::root::RootArgs;

/// How long a listing serves before the directory is read again: new recordings show
/// up within this, and a burst of page views lists once.
const LISTING_FRESH_FOR: Duration = Duration::from_secs(5);
/// The same for an object-store root, where listing means asking the store.
const REMOTE_LISTING_FRESH_FOR: Duration = Duration::from_secs(60);

const CSS: &str = include_str!("assets/view.css");
const JS: &str = include_str!("assets/view.js");

/// A store and what it listed, taken together so a recording is loaded through the
/// store that listed it.
pub(super) struct Snapshot {
    /// The store.
    pub(super) store: Store,
    /// Its recordings, newest first.
    pub(super) listing: Listing,
    /// Where each recording is in the listing, by id: a deep link names a whole id,
    /// and finding it must not cost a pass over every id.
    by_id: HashMap<RecordingId, usize>,
}

impl Snapshot {
    fn new(store: Store) -> Self {
        let listing = store.list();
        let by_id = (listing.recordings.iter().enumerate())
            .map(|(i, r)| (r.summary.id, i))
            .collect();
        Self {
            store,
            listing,
            by_id,
        }
    }

    /// The recording named by a whole id or a unique prefix of one.
    pub(super) fn find(&self, id: &str) -> Result<&RecordingInfo, retrace::StoreError> {
        if let Ok(whole) = id.parse::<RecordingId>()
            && let Some(&i) = self.by_id.get(&whole)
        {
            return Ok(&self.listing.recordings[i]);
        }
        retrace::store::IdFinder::new(&self.listing).find(id)
    }
}

struct Inner {
    root: RootArgs,
    snapshot: Mutex<(Instant, Arc<Snapshot>)>,
    /// Whether a request is listing the root again (the others serve the last listing).
    refreshing: AtomicBool,
    report: Option<ReplayReportFile>,
    access: Access,
}

/// Held by the thread listing the root again: clears [`Inner::refreshing`] when the
/// listing ends, however it ends (a panic included), and when the thread could not
/// be started.
struct Refreshing(State);

impl Drop for Refreshing {
    fn drop(&mut self) {
        self.0.0.refreshing.store(false, Ordering::Release);
    }
}

/// Everything a handler needs; cheap to clone.
#[derive(Clone)]
pub(super) struct State(Arc<Inner>);

impl State {
    /// The state of a viewer of `root` (whose `store` is open already).
    pub(super) fn new(
        root: RootArgs,
        store: Store,
        report: Option<ReplayReportFile>,
        keys: Option<KeySource>,
        listening: SocketAddr,
    ) -> Self {
        let snapshot = Snapshot::new(store);
        crate::root::warn_problems(&snapshot.listing.problems);
        Self(Arc::new(Inner {
            root,
            snapshot: Mutex::new((Instant::now(), Arc::new(snapshot))),
            refreshing: AtomicBool::new(false),
            report,
            access: Access::new(keys, listening),
        }))
    }

    /// The recording root as given (a directory or a URL).
    pub(super) fn root_text(&self) -> String {
        self.0.root.path.display().to_string()
    }

    /// Who may look.
    pub(super) fn access(&self) -> &Access {
        &self.0.access
    }

    /// The root's options, for the audit trail.
    pub(super) fn root(&self) -> &RootArgs {
        &self.0.root
    }

    /// The replay report, when one was given.
    pub(super) fn report(&self) -> Option<&ReplayReportFile> {
        self.0.report.as_ref()
    }

    /// The current store and listing. Once they are older than [`LISTING_FRESH_FOR`]
    /// the root is listed again on a thread of its own while requests are still served
    /// the last listing, so no page view waits for a listing (100,000 recordings take
    /// about a tenth of a second).
    pub(super) fn snapshot(&self) -> Arc<Snapshot> {
        let fresh_for = if self.0.root.url().is_some() {
            REMOTE_LISTING_FRESH_FOR
        } else {
            LISTING_FRESH_FOR
        };
        let (stale, current) = {
            let guard = self.0.snapshot.lock();
            (guard.0.elapsed() >= fresh_for, Arc::clone(&guard.1))
        };
        if stale && !self.0.refreshing.swap(true, Ordering::Acquire) {
            let refreshing = Refreshing(self.clone());
            let spawned = std::thread::Builder::new()
                .name("retrace-view-list".to_owned())
                .spawn(move || refreshing.0.refresh());
            if let Err(e) = spawned {
                eprintln!("warning: listing the recordings again: {e}");
            }
        }
        current
    }

    /// Lists the root again and makes that the current snapshot; a root that cannot be
    /// read keeps serving what it listed last (tried again when that is stale again).
    /// Problems not seen in the last listing are printed, as at start.
    fn refresh(&self) {
        let fresh = match self.0.root.open() {
            Ok(store) => Some(Arc::new(Snapshot::new(store))),
            Err(e) => {
                eprintln!("warning: listing the recordings again: {e}");
                None
            }
        };
        let mut guard = self.0.snapshot.lock();
        let old = match fresh {
            Some(fresh) => std::mem::replace(&mut *guard, (Instant::now(), fresh)),
            None => {
                guard.0 = Instant::now();
                (guard.0, Arc::clone(&guard.1))
            }
        };
        let current = Arc::clone(&guard.1);
        drop(guard);
        let new: Vec<_> = (current.listing.problems.iter())
            .filter(|p| !old.1.listing.problems.contains(p))
            .cloned()
            .collect();
        crate::root::warn_problems(&new);
        // The old listing is freed after the lock: 100,000 entries take a while.
        drop(old);
    }

    /// Runs blocking store work off the async threads; a panic in it is a 500.
    pub(super) async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(State) -> T + Send + 'static,
    ) -> Result<T, Response> {
        let state = self.clone();
        tokio::task::spawn_blocking(move || work(state))
            .await
            .map_err(|e| {
                page::error(
                    self,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &format!("the page failed: {e}"),
                )
            })
    }
}

/// The viewer's routes behind the guard.
pub(super) fn router(state: State) -> Router {
    Router::new()
        .route("/", get(list::page))
        .route("/r/{id}", get(recording::page))
        .route("/replay", get(replay::list_page))
        .route("/replay/{id}", get(replay::diff_page))
        .route("/overview", get(overview::page))
        .route("/login", get(login_form).post(login))
        .route(
            "/assets/view.css",
            get(|| asset(CSS, "text/css; charset=utf-8")),
        )
        .route(
            "/assets/view.js",
            get(|| asset(JS, "text/javascript; charset=utf-8")),
        )
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

async fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        body,
    )
        .into_response()
}

async fn not_found(AxumState(state): AxumState<State>) -> Response {
    page::error(&state, StatusCode::NOT_FOUND, "no such page")
}

/// Every request: the Host check (loopback), the token or key, then the response
/// headers that keep pages from being framed, sniffed or leaking referrers (on every
/// answer, refusals included). A `?token=` in the address signs the browser in and
/// is dropped from the address.
async fn guard(AxumState(state): AxumState<State>, request: Request, next: Next) -> Response {
    let mut response = admit(&state, request, next).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// The request's answer if it may have one, else its refusal.
async fn admit(state: &State, mut request: Request, next: Next) -> Response {
    let access = &state.0.access;
    if let Err(misdirected) = access.check_host(request.headers()) {
        return (StatusCode::MISDIRECTED_REQUEST, misdirected).into_response();
    }
    if access.token().is_some()
        && let Some((token, rest)) = token_in(request.uri())
    {
        return match access.login(&token) {
            Ok(cookie) => signed_in(rest, cookie),
            Err(reason) => (StatusCode::UNAUTHORIZED, reason).into_response(),
        };
    }
    let path = request.uri().path();
    let open = path == "/login" || path.starts_with("/assets/");
    match access.viewer(request.headers()) {
        Ok(viewer) => {
            request.extensions_mut().insert(viewer);
        }
        Err(_) if open => {}
        Err(denied) => return denied.into_response(),
    }
    next.run(request).await
}

/// A browser just signed in: its session cookie, and on to `location`.
fn signed_in(location: String, cookie: String) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, location), (header::SET_COOKIE, cookie)],
    )
        .into_response()
}

async fn login_form(AxumState(state): AxumState<State>) -> Html<String> {
    Html(page::login(&state, None).into_string())
}

async fn login(AxumState(state): AxumState<State>, body: String) -> Response {
    let key = form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == "key")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    match state.0.access.login(&key) {
        Ok(cookie) => signed_in("/".to_owned(), cookie),
        Err(message) => (
            StatusCode::UNAUTHORIZED,
            Html(page::login(&state, Some(&message)).into_string()),
        )
            .into_response(),
    }
}

/// The `token` query parameter, and the address without it.
fn token_in(uri: &Uri) -> Option<(String, String)> {
    let query = uri.query()?;
    let mut token = None;
    let rest: Vec<_> = form_urlencoded::parse(query.as_bytes())
        .filter(|(k, v)| {
            let is_token = k == "token";
            if is_token {
                token = Some(v.clone().into_owned());
            }
            !is_token
        })
        .collect();
    let token = token?;
    // One leading slash: `//host/...` (or `/\\host`, which browsers read the same) in
    // a Location header would leave this viewer.
    let mut location = format!("/{}", uri.path().trim_start_matches(['/', '\\']));
    if !rest.is_empty() {
        location.push('?');
        location.push_str(
            &form_urlencoded::Serializer::new(String::new())
                .extend_pairs(rest)
                .finish(),
        );
    }
    Some((token, location))
}

/// A page about one recording, named by `id` or a unique prefix of it: found in the
/// listing and loaded off the async threads, its view appended to the audit log as
/// `viewer`'s, then rendered. An unknown or ambiguous id is a 404 saying so.
pub(super) async fn recording_page<F>(
    state: &State,
    id: String,
    viewer: Viewer,
    render: F,
) -> Response
where
    F: FnOnce(&State, &RecordingInfo, &Recording) -> Response + Send + 'static,
{
    let work = move |state: State| {
        let snapshot = state.snapshot();
        let info = match snapshot.find(&id) {
            Ok(info) => info,
            Err(e) => return page::error(&state, StatusCode::NOT_FOUND, &e.to_string()),
        };
        crate::audit_trail::record_read_by(state.root(), &viewer.who, "view", &[info]);
        match snapshot.store.load(info) {
            Ok(rec) => render(&state, info, &rec),
            Err(e) => page::error(&state, StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        }
    };
    state.blocking(work).await.unwrap_or_else(|e| e)
}

/// A rendered page as a response.
pub(super) fn page_response(markup: Markup) -> Response {
    Html(markup.into_string()).into_response()
}

/// Who is looking, as the guard found them.
pub(super) fn viewer_of(request_viewer: Option<axum::Extension<Viewer>>) -> Viewer {
    request_viewer.map_or_else(Viewer::local, |axum::Extension(v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_leaves_the_address_and_the_redirect_stays_on_this_viewer() {
        let uri = |s: &str| s.parse::<Uri>().expect("uri");
        assert_eq!(
            token_in(&uri("/r/01ABC?token=t0k&sort=size")),
            Some(("t0k".to_owned(), "/r/01ABC?sort=size".to_owned()))
        );
        assert_eq!(
            token_in(&uri("/?token=t0k")),
            Some(("t0k".to_owned(), "/".to_owned()))
        );
        assert_eq!(
            token_in(&uri("//evil.example/x?token=t0k")),
            Some(("t0k".to_owned(), "/evil.example/x".to_owned()))
        );
        assert_eq!(
            token_in(&uri("/%5Cevil.example?token=t0k")).map(|(_, l)| l),
            Some("/%5Cevil.example".to_owned()),
            "an escaped backslash stays a path"
        );
        assert_eq!(token_in(&uri("/?status=5xx")), None);
    }
}
