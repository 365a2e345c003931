//! Investigation windows: time-limited rules opened at run time ("for the next ten
//! minutes, record half of the POSTs to /checkout"), listed and closed through the
//! [`Policy`](super::Policy) handle. An expired window stops matching at once and is
//! dropped from the list the next time it is read.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http::{HeaderName, HeaderValue, Method};
use parking_lot::RwLock;

use super::RequestView;
use super::capture::PathMatch;

/// What a window matches and for how long. Every condition set must hold.
///
/// ```
/// use std::time::Duration;
/// use http::Method;
/// use retrace::policy::{Policy, WindowSpec};
///
/// let policy = Policy::builder().build()?;
/// // For the next ten minutes, record half of the POSTs to /checkout.
/// let id = policy.open_window(
///     WindowSpec::new(Duration::from_secs(600))
///         .method(Method::POST)
///         .path_prefix("/checkout")
///         .rate(0.5)
///         .label("INC-1234"),
/// )?;
/// assert_eq!(policy.windows()[0].spec.label, "INC-1234");
/// assert!(policy.close_window(id));
/// # Ok::<(), retrace::policy::PolicyError>(())
/// ```
#[derive(Clone, Debug)]
pub struct WindowSpec {
    /// How long the window stays open.
    pub duration: Duration,
    /// Share of matching requests recorded, 0 to 1.
    pub rate: f64,
    /// Only requests with this method.
    pub method: Option<Method>,
    /// Only requests whose path matches.
    pub path: PathMatch,
    /// Only requests carrying this header (with this value, when given).
    pub header: Option<(HeaderName, Option<HeaderValue>)>,
    /// A note for whoever lists the windows (an incident number, say).
    pub label: String,
}

impl WindowSpec {
    /// A window open for `duration` recording every request.
    pub fn new(duration: Duration) -> Self {
        Self {
            duration,
            rate: 1.0,
            method: None,
            path: PathMatch::Any,
            header: None,
            label: String::new(),
        }
    }

    /// Records this share of matching requests.
    pub fn rate(mut self, rate: f64) -> Self {
        self.rate = rate;
        self
    }

    /// Matches only this method.
    pub fn method(mut self, method: Method) -> Self {
        self.method = Some(method);
        self
    }

    /// Matches only paths under `prefix` (whole segments: `/checkout` matches
    /// `/checkout/42`, not `/checkouts`).
    pub fn path_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.path = PathMatch::Prefix(prefix.into());
        self
    }

    /// Matches only these paths.
    pub fn path(mut self, path: PathMatch) -> Self {
        self.path = path;
        self
    }

    /// Matches only requests with this header, and this value when given.
    pub fn header(mut self, name: HeaderName, value: Option<HeaderValue>) -> Self {
        self.header = Some((name, value));
        self
    }

    /// A label shown when listing.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    fn matches(&self, req: &RequestView<'_>) -> bool {
        self.method.as_ref().is_none_or(|m| m == req.method)
            && self.path.matches(req.uri.path())
            && self.header.as_ref().is_none_or(|(name, value)| {
                req.headers
                    .get_all(name)
                    .iter()
                    .any(|v| value.as_ref().is_none_or(|want| want == v))
            })
    }
}

/// Identifies an open window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WindowId(pub u64);

/// An open window as listed.
#[derive(Clone, Debug)]
pub struct WindowInfo {
    /// Its id.
    pub id: WindowId,
    /// What it matches.
    pub spec: WindowSpec,
    /// Time left.
    pub remaining: Duration,
}

#[derive(Debug)]
struct Window {
    id: WindowId,
    spec: WindowSpec,
    expires: Instant,
}

/// The open windows. Reading them when none is open is one atomic load.
#[derive(Debug, Default)]
pub(crate) struct Windows {
    any: AtomicBool,
    list: RwLock<Vec<Window>>,
    next_id: AtomicU64,
}

impl Windows {
    pub(crate) fn open(&self, spec: WindowSpec) -> WindowId {
        let id = WindowId(self.next_id.fetch_add(1, Ordering::Relaxed) + 1);
        let expires = Instant::now() + spec.duration;
        let mut list = self.list.write();
        list.push(Window { id, spec, expires });
        self.any.store(true, Ordering::Release);
        id
    }

    pub(crate) fn close(&self, id: WindowId) -> bool {
        let mut list = self.list.write();
        let before = list.len();
        list.retain(|w| w.id != id);
        self.any.store(!list.is_empty(), Ordering::Release);
        list.len() != before
    }

    pub(crate) fn list(&self) -> Vec<WindowInfo> {
        let now = Instant::now();
        let mut list = self.list.write();
        list.retain(|w| w.expires > now);
        self.any.store(!list.is_empty(), Ordering::Release);
        list.iter()
            .map(|w| WindowInfo {
                id: w.id,
                spec: w.spec.clone(),
                remaining: w.expires - now,
            })
            .collect()
    }

    /// Whether any window is open (expired ones may still count until next read).
    pub(crate) fn any_open(&self) -> bool {
        self.any.load(Ordering::Acquire)
    }

    /// The highest rate among open windows matching the request.
    pub(crate) fn rate_for(&self, req: &RequestView<'_>) -> Option<f64> {
        if !self.any.load(Ordering::Acquire) {
            return None;
        }
        let now = Instant::now();
        let list = self.list.read();
        let mut expired = false;
        let mut best: Option<f64> = None;
        for w in list.iter() {
            if w.expires <= now {
                expired = true;
            } else if w.spec.matches(req) {
                best = Some(best.map_or(w.spec.rate, |b| b.max(w.spec.rate)));
            }
        }
        drop(list);
        if expired {
            self.list();
        }
        best
    }
}
