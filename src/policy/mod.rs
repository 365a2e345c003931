//! The per-request decision: record, skip, or record tentatively.
//!
//! Sources are asked in order and the first definite answer wins:
//! 1. the master switch (off: skip, at the cost of one atomic load);
//! 2. the parent: an upstream service recorded this trace ([`PARENT_HEADER`]);
//! 3. the trigger header, with its token when one is set;
//! 4. the [`FlagSource`], returning a rate;
//! 5. open investigation [windows](WindowSpec);
//! 6. ratio sampling at the runtime sample rate;
//! 7. tail keep: when configured, everything else is recorded [tentatively](Decision::Tentative)
//!    and kept only if the outcome asks for it. A record layer discards a tentative
//!    recording as soon as its answer's status shows that nothing can keep it
//!    ([`Policy::may_keep_answer`]), so a request kept by nothing pays for its own head
//!    and body only, not its answer's.
//!
//! Every rate is applied [deterministically on the trace id](ratio_sampled), so all
//! services of one flow agree. Deciding "skip" allocates nothing. A panicking flag
//! source is treated as having no opinion; it never reaches the request.
//!
//! [`Policy`] is also the runtime handle: clone it, keep it, and switch recording on and
//! off, change the sample rate or open windows while the service runs.

mod cached_flags;
mod capture;
mod file;
mod flags;
mod routes;
mod sampler;
mod tail;
mod trigger;
mod window;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use parking_lot::Mutex;

use http::{HeaderMap, HeaderName, Method, Uri};

pub use flags::FlagSource;
pub use sampler::ratio_sampled;
pub use tail::{StatusSetError, TailKeep, parse_status_set};
pub use trigger::TRIGGER_HEADER;

/// The longest a window may stay open unless [`PolicyBuilder::max_window`] says
/// otherwise.
pub const DEFAULT_MAX_WINDOW: Duration = Duration::from_secs(3600);
pub use cached_flags::CachedFlags;
pub use capture::{
    CaptureEnd, CaptureInfo, CaptureSpec, DEFAULT_MAX_ACTIVE_CAPTURES, DEFAULT_MAX_CAPTURE_RATE,
    PathMatch,
};
pub(crate) use file::Applied;
pub use file::{PolicyFile, PolicyFileError};
pub use routes::{RouteAction, RouteRule, RouteTable};
#[doc(hidden)]
pub use trigger::{PARENT_HEADER, parent_header_value};
pub use window::{WindowId, WindowInfo, WindowSpec};

use self::capture::Captures;
use self::trigger::{trigger_fires, verify_parent};
use self::window::Windows;
use crate::event::RecordReason;
use crate::id::{CaptureId, TraceId};

/// What to do with one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Do not record.
    Skip,
    /// Record, for this reason.
    Record(RecordReason),
    /// Record speculatively; keep only if the outcome asks for it.
    Tentative,
}

/// The parts of a request the decision may look at.
#[derive(Clone, Copy, Debug)]
pub struct RequestView<'a> {
    /// The method.
    pub method: &'a Method,
    /// The target.
    pub uri: &'a Uri,
    /// The headers.
    pub headers: &'a HeaderMap,
}

impl<'a> RequestView<'a> {
    /// A view of an `http` request.
    pub fn of<B>(request: &'a http::Request<B>) -> Self {
        Self {
            method: request.method(),
            uri: request.uri(),
            headers: request.headers(),
        }
    }
}

/// A bad policy setting.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// A rate outside 0 to 1.
    #[error("invalid {what} {value}: a rate is a number from 0 to 1")]
    Rate {
        /// Which rate.
        what: &'static str,
        /// Its value.
        value: f64,
    },
    /// A header name that is not valid HTTP.
    #[error("invalid header name {0:?}")]
    HeaderName(String),
    /// A bad keep-status set.
    #[error(transparent)]
    Status(#[from] StatusSetError),
    /// A window or capture asked to stay open longer than the policy allows.
    #[error(
        "a duration of {} is longer than the longest window or capture allowed, {} (RETRACE_MAX_WINDOW)",
        humantime::format_duration(*.asked),
        humantime::format_duration(*.max)
    )]
    WindowTooLong {
        /// The duration asked for.
        asked: Duration,
        /// The policy's longest window.
        max: Duration,
    },
    /// A window or capture of no time at all.
    #[error("a window or capture must stay open for some time; its duration is 0")]
    EmptyWindow,
    /// As many captures as allowed are active.
    #[error("{max} captures are active, the most allowed at once")]
    TooManyCaptures {
        /// The most allowed.
        max: usize,
    },
    /// A capture limit of zero.
    #[error("a capture's {0} must be at least 1")]
    ZeroCaptureLimit(&'static str),
}

struct Inner {
    enabled: AtomicBool,
    sample_rate: AtomicU64,
    trigger_header: Option<HeaderName>,
    accept_parent: bool,
    parent_header: HeaderName,
    flags: Option<Box<dyn FlagSource>>,
    windows: Windows,
    max_window: Duration,
    captures: Captures,
    /// What a policy file may change while requests are decided: swapped whole, read
    /// without a lock.
    rules: ArcSwap<Rules>,
    /// Whether the rules alone may record a request (tail keep, a route's rate): what
    /// [`Policy::could_record`] needs of them, without loading them.
    rules_may_record: AtomicBool,
    file: Mutex<Option<PolicyFileStatus>>,
}

impl Rules {
    fn may_record(&self) -> bool {
        self.tail.is_some() || self.routes.may_record()
    }
}

/// The rules a policy file may change: the trigger token, tail keep, route rules.
#[derive(Clone, Default)]
pub(crate) struct Rules {
    pub(crate) trigger_token: Option<Arc<str>>,
    pub(crate) tail: Option<TailKeep>,
    pub(crate) routes: RouteTable,
}

impl std::fmt::Debug for Rules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rules")
            .field(
                "trigger_token",
                &self.trigger_token.as_ref().map(|_| "[redacted]"),
            )
            .field("tail", &self.tail)
            .field("routes", &self.routes)
            .finish()
    }
}

/// How the policy file has fared: for `/health` and the metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PolicyFileStatus {
    /// The file.
    pub path: std::path::PathBuf,
    /// Versions of it put in force (the first read included).
    pub applied: u64,
    /// Versions refused.
    pub rejected: u64,
    /// Why the latest version was refused, while it is the latest.
    pub last_error: Option<String>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("enabled", &self.enabled.load(Ordering::Relaxed))
            .field(
                "sample_rate",
                &f64::from_bits(self.sample_rate.load(Ordering::Relaxed)),
            )
            .field("trigger", &self.trigger_header)
            .field("flags", &self.flags.is_some())
            .field("tail", &self.rules.load().tail)
            .finish_non_exhaustive()
    }
}

/// The decision policy and its runtime handle. Cheap to clone; clones share state.
#[derive(Clone, Debug)]
pub struct Policy {
    inner: Arc<Inner>,
}

impl Policy {
    /// A builder starting from: on, sample rate 0, trigger header `x-retrace-record`
    /// without a token, parents honoured, no flags, no tail keep.
    pub fn builder() -> PolicyBuilder {
        PolicyBuilder::default()
    }

    /// A policy that records nothing: the master switch off, no trigger, no tail keep.
    /// It can be switched on at run time ([`set_enabled`](Self::set_enabled)); the
    /// sample rate and windows then decide.
    pub fn off() -> Policy {
        Policy {
            inner: Arc::new(Inner {
                enabled: AtomicBool::new(false),
                sample_rate: AtomicU64::new(0f64.to_bits()),
                trigger_header: None,
                accept_parent: false,
                parent_header: HeaderName::from_static(PARENT_HEADER),
                flags: None,
                windows: Windows::default(),
                max_window: DEFAULT_MAX_WINDOW,
                captures: Captures::default(),
                rules: ArcSwap::from_pointee(Rules::default()),
                rules_may_record: AtomicBool::new(false),
                file: Mutex::new(None),
            }),
        }
    }

    /// Starts a capture; its id is in the answer. Refused when its rate or a limit is
    /// out of range, its duration is 0 or longer than [`max_window`](Self::max_window),
    /// or as many captures as allowed are active.
    pub fn start_capture(&self, spec: CaptureSpec) -> Result<CaptureInfo, PolicyError> {
        check_rate("capture rate", spec.rate)?;
        self.check_duration(spec.duration)?;
        if spec.max_recordings == 0 {
            return Err(PolicyError::ZeroCaptureLimit("max_recordings"));
        }
        if spec.max_bytes == 0 {
            return Err(PolicyError::ZeroCaptureLimit("max_bytes"));
        }
        self.inner
            .captures
            .start(spec)
            .map_err(|max| PolicyError::TooManyCaptures { max })
    }

    /// Stops a capture; false when it was not active.
    pub fn stop_capture(&self, id: CaptureId) -> bool {
        self.inner.captures.stop(id)
    }

    /// One capture's progress, while it is listed (active, or ended in the last hour).
    pub fn capture(&self, id: CaptureId) -> Option<CaptureInfo> {
        self.inner.captures.get(id)
    }

    /// The captures listed: active ones first, then those ended in the last hour,
    /// newest first.
    pub fn captures(&self) -> Vec<CaptureInfo> {
        self.inner.captures.list()
    }

    /// How many captures are active.
    pub fn active_captures(&self) -> usize {
        self.inner.captures.active_count()
    }

    /// The most captures active at once.
    pub fn max_active_captures(&self) -> usize {
        self.inner.captures.max_active()
    }

    /// Gives back the slot a decision claimed from a capture when the request was then
    /// not recorded (a layer's in-flight limit declined it, say).
    #[doc(hidden)]
    pub fn release_capture(&self, id: CaptureId) {
        self.inner.captures.release(id);
    }

    /// Adds an ended recording's size to the capture that claimed it.
    pub(crate) fn add_capture_bytes(&self, id: CaptureId, bytes: u64) {
        self.inner.captures.add_bytes(id, bytes);
    }

    fn check_duration(&self, duration: Duration) -> Result<(), PolicyError> {
        if duration.is_zero() {
            return Err(PolicyError::EmptyWindow);
        }
        if duration > self.inner.max_window {
            return Err(PolicyError::WindowTooLong {
                asked: duration,
                max: self.inner.max_window,
            });
        }
        Ok(())
    }

    /// The longest a window may stay open.
    pub fn max_window(&self) -> Duration {
        self.inner.max_window
    }

    /// Decides for one request, whose trace id the caller read from `traceparent` or
    /// made up.
    pub fn decide(
        &self,
        req: &RequestView<'_>,
        trace_id: TraceId,
        from_traceparent: bool,
    ) -> Decision {
        let p = &*self.inner;
        if !p.enabled.load(Ordering::Relaxed) {
            return Decision::Skip;
        }
        let rules = p.rules.load();
        let route = rules.routes.lookup(req.method, req.uri.path());
        if route == Some(RouteAction::Never) {
            return Decision::Skip;
        }
        let token = rules.trigger_token.as_deref();
        if p.accept_parent
            && from_traceparent
            && let Some(v) = req.headers.get(&p.parent_header)
            && verify_parent(v.as_bytes(), token, trace_id).is_some()
        {
            return Decision::Record(RecordReason::Parent);
        }
        if p.trigger_header
            .as_ref()
            .is_some_and(|h| trigger_fires(h, token, req.headers))
        {
            return Decision::Record(RecordReason::Header);
        }
        if let Some(id) = p.captures.claim(req, trace_id) {
            return Decision::Record(RecordReason::Capture(id));
        }
        if let Some(flags) = &p.flags {
            let rate = catch_unwind(AssertUnwindSafe(|| flags.rate(req)))
                .ok()
                .flatten();
            if rate.is_some_and(|r| ratio_sampled(trace_id, r)) {
                return Decision::Record(RecordReason::Flag);
            }
        }
        if p.windows
            .rate_for(req)
            .is_some_and(|r| ratio_sampled(trace_id, r))
        {
            return Decision::Record(RecordReason::Window);
        }
        let rate = match route {
            Some(RouteAction::Rate(r)) => r,
            _ => self.sample_rate(),
        };
        if ratio_sampled(trace_id, rate) {
            return Decision::Record(RecordReason::Sampled);
        }
        if rules.tail.is_some() {
            return Decision::Tentative;
        }
        Decision::Skip
    }

    /// Whether any source could choose this request, judged from what costs nothing:
    /// atomics and two header lookups. When false, [`decide`](Self::decide) would say
    /// [`Decision::Skip`], so a layer can pass the request through without reading its
    /// trace context at all.
    pub fn could_record(&self, headers: &HeaderMap) -> bool {
        let p = &*self.inner;
        if !p.enabled.load(Ordering::Relaxed) {
            return false;
        }
        p.rules_may_record.load(Ordering::Relaxed)
            || p.flags.is_some()
            || self.sample_rate() > 0.0
            || p.windows.any_open()
            || p.captures.any_active()
            || (p.accept_parent && headers.contains_key(&p.parent_header))
            || p.trigger_header
                .as_ref()
                .is_some_and(|h| headers.contains_key(h))
    }

    /// Whether recording is on.
    pub fn is_enabled(&self) -> bool {
        self.inner.enabled.load(Ordering::Relaxed)
    }

    /// Turns recording on or off at run time.
    pub fn set_enabled(&self, on: bool) {
        self.inner.enabled.store(on, Ordering::Relaxed);
    }

    /// The ratio sampling rate.
    pub fn sample_rate(&self) -> f64 {
        f64::from_bits(self.inner.sample_rate.load(Ordering::Relaxed))
    }

    /// Changes the ratio sampling rate at run time.
    pub fn set_sample_rate(&self, rate: f64) -> Result<(), PolicyError> {
        check_rate("sample rate", rate)?;
        self.inner
            .sample_rate
            .store(rate.to_bits(), Ordering::Relaxed);
        Ok(())
    }

    /// Opens an investigation window.
    pub fn open_window(&self, spec: WindowSpec) -> Result<WindowId, PolicyError> {
        check_rate("window rate", spec.rate)?;
        self.check_duration(spec.duration)?;
        Ok(self.inner.windows.open(spec))
    }

    /// Closes a window; false when it was not open (or had expired).
    pub fn close_window(&self, id: WindowId) -> bool {
        self.inner.windows.close(id)
    }

    /// The open windows; expired ones are gone.
    pub fn windows(&self) -> Vec<WindowInfo> {
        self.inner.windows.list()
    }

    /// The tail-keep rule in force, when tail keep is on.
    pub fn tail(&self) -> Option<TailKeep> {
        self.inner.rules.load().tail.clone()
    }

    /// Why the tail-keep rule in force keeps a tentative recording that ended so, if
    /// it does.
    pub fn keep_cause(
        &self,
        status: Option<u16>,
        failed: bool,
        elapsed: Duration,
    ) -> Option<crate::event::KeepCause> {
        self.inner
            .rules
            .load()
            .tail
            .as_ref()
            .and_then(|t| t.keep(status, failed, elapsed))
    }

    /// Whether the tail-keep rule in force may still keep a tentative recording whose
    /// answer has `status` ([`TailKeep::may_keep_answer`]); false without a rule.
    pub fn may_keep_answer(&self, status: u16) -> bool {
        self.inner
            .rules
            .load()
            .tail
            .as_ref()
            .is_some_and(|t| t.may_keep_answer(status))
    }

    /// The route rules in force.
    pub fn routes(&self) -> RouteTable {
        self.inner.rules.load().routes.clone()
    }

    /// The trigger header, whose value is always redacted.
    pub fn trigger_header(&self) -> Option<&HeaderName> {
        self.inner.trigger_header.as_ref()
    }

    /// The shared token parent headers are signed with, when set (the trigger token in
    /// force).
    pub fn propagation_token(&self) -> Option<Arc<str>> {
        self.inner.rules.load().trigger_token.clone()
    }

    /// The reloadable rules in force.
    pub(crate) fn rules_now(&self) -> Rules {
        Rules::clone(&self.inner.rules.load())
    }

    /// Changes the reloadable rules: what a policy file does.
    pub(crate) fn update_rules(&self, change: impl FnOnce(&mut Rules)) {
        let mut rules = Rules::clone(&self.inner.rules.load());
        change(&mut rules);
        let may_record = rules.may_record();
        self.inner.rules.store(Arc::new(rules));
        self.inner
            .rules_may_record
            .store(may_record, Ordering::Relaxed);
    }

    /// How the policy file has fared, when there is one.
    pub fn file_status(&self) -> Option<PolicyFileStatus> {
        self.inner.file.lock().clone()
    }

    /// Reads the policy file at `path` and puts it in force; what it did is then in
    /// [`file_status`](Self::file_status). A file that cannot be used changes nothing.
    pub(crate) fn apply_file(
        &self,
        path: &std::path::Path,
        applied: &mut file::Applied,
    ) -> Result<(), PolicyFileError> {
        let result = PolicyFile::load(path, self.inner.max_window).and_then(|f| {
            applied
                .apply(self, f)
                .map_err(|source| PolicyFileError::Policy {
                    path: path.to_owned(),
                    source,
                })
        });
        let mut status = self.inner.file.lock();
        let status = status.get_or_insert_with(|| PolicyFileStatus {
            path: path.to_owned(),
            ..PolicyFileStatus::default()
        });
        match &result {
            Ok(()) => {
                status.applied += 1;
                status.last_error = None;
            }
            Err(e) => {
                status.rejected += 1;
                status.last_error = Some(e.to_string());
            }
        }
        result
    }
}

fn check_rate(what: &'static str, value: f64) -> Result<(), PolicyError> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(PolicyError::Rate { what, value })
    }
}

/// Builds a [`Policy`].
///
/// ```
/// use retrace::policy::{Policy, TailKeep, RequestView};
/// let policy = Policy::builder()
///     .sample_rate(0.01)
///     .trigger_token(Some("let-me-in".to_owned()))
///     .flags(|req: &RequestView<'_>| req.uri.path().starts_with("/beta").then_some(1.0))
///     .tail(Some(TailKeep::default()))
///     .build()
///     .unwrap();
/// assert_eq!(policy.sample_rate(), 0.01);
/// ```
pub struct PolicyBuilder {
    enabled: bool,
    sample_rate: f64,
    trigger_header: Option<String>,
    trigger_token: Option<String>,
    accept_parent: bool,
    flags: Option<Box<dyn FlagSource>>,
    tail: Option<TailKeep>,
    routes: Vec<RouteRule>,
    max_window: Duration,
    max_active_captures: usize,
    max_capture_rate: u64,
}

impl std::fmt::Debug for PolicyBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyBuilder").finish_non_exhaustive()
    }
}

impl Default for PolicyBuilder {
    fn default() -> Self {
        Self {
            enabled: true,
            sample_rate: 0.0,
            trigger_header: Some(TRIGGER_HEADER.to_owned()),
            trigger_token: None,
            accept_parent: true,
            flags: None,
            tail: None,
            routes: Vec::new(),
            max_window: DEFAULT_MAX_WINDOW,
            max_active_captures: DEFAULT_MAX_ACTIVE_CAPTURES,
            max_capture_rate: DEFAULT_MAX_CAPTURE_RATE,
        }
    }
}

impl PolicyBuilder {
    /// The longest a window may stay open ([`Policy::open_window`] refuses a longer
    /// one); one hour unless set.
    pub fn max_window(mut self, max: Duration) -> Self {
        self.max_window = max;
        self
    }

    /// Route rules, tried in order: never record a route, or sample it at a rate of its
    /// own.
    pub fn routes(mut self, rules: Vec<RouteRule>) -> Self {
        self.routes = rules;
        self
    }

    /// The most captures active at once ([`Policy::start_capture`] refuses more).
    pub fn max_active_captures(mut self, n: usize) -> Self {
        self.max_active_captures = n;
        self
    }

    /// The most recordings per second all captures together may claim.
    pub fn max_capture_rate(mut self, per_second: u64) -> Self {
        self.max_capture_rate = per_second;
        self
    }

    /// The master switch.
    pub fn enabled(mut self, on: bool) -> Self {
        self.enabled = on;
        self
    }

    /// The ratio sampling rate.
    pub fn sample_rate(mut self, rate: f64) -> Self {
        self.sample_rate = rate;
        self
    }

    /// The trigger header's name.
    pub fn trigger_header(mut self, name: &str) -> Self {
        self.trigger_header = Some(name.to_owned());
        self
    }

    /// No trigger header at all.
    pub fn without_trigger(mut self) -> Self {
        self.trigger_header = None;
        self
    }

    /// The shared token the trigger header must carry; it also signs parent headers.
    pub fn trigger_token(mut self, token: Option<String>) -> Self {
        self.trigger_token = token;
        self
    }

    /// Whether to honour upstream recording decisions (default: yes).
    pub fn accept_parent(mut self, accept: bool) -> Self {
        self.accept_parent = accept;
        self
    }

    /// The feature-flag source.
    pub fn flags(mut self, source: impl FlagSource) -> Self {
        self.flags = Some(Box::new(source));
        self
    }

    /// Tail keep: record everything else tentatively under this rule (`None`: off).
    pub fn tail(mut self, tail: Option<TailKeep>) -> Self {
        self.tail = tail;
        self
    }

    /// Validates and builds.
    pub fn build(self) -> Result<Policy, PolicyError> {
        check_rate("sample rate", self.sample_rate)?;
        for rule in &self.routes {
            if let RouteAction::Rate(r) = rule.action {
                check_rate("route rate", r)?;
            }
        }
        let trigger_header = self
            .trigger_header
            .map(|name| {
                HeaderName::from_bytes(name.as_bytes()).map_err(|_| PolicyError::HeaderName(name))
            })
            .transpose()?;
        let rules = Rules {
            trigger_token: self.trigger_token.map(Arc::from),
            tail: self.tail,
            routes: RouteTable::new(self.routes),
        };
        Ok(Policy {
            inner: Arc::new(Inner {
                enabled: AtomicBool::new(self.enabled),
                sample_rate: AtomicU64::new(self.sample_rate.to_bits()),
                trigger_header,
                accept_parent: self.accept_parent,
                parent_header: HeaderName::from_static(PARENT_HEADER),
                flags: self.flags,
                windows: Windows::default(),
                max_window: self.max_window,
                captures: Captures::new(self.max_active_captures, self.max_capture_rate),
                rules_may_record: AtomicBool::new(rules.may_record()),
                rules: ArcSwap::from_pointee(rules),
                file: Mutex::new(None),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn req(method: Method, uri: &str, headers: &[(&str, &str)]) -> http::Request<()> {
        let mut b = http::Request::builder().method(method).uri(uri);
        for (n, v) in headers {
            b = b.header(*n, *v);
        }
        b.body(()).unwrap()
    }

    #[test]
    fn first_definite_answer_wins() {
        let policy = Policy::builder()
            .trigger_token(Some("tok".into()))
            .flags(|r: &RequestView<'_>| (r.uri.path() == "/flagged").then_some(1.0))
            .tail(Some(TailKeep::default()))
            .build()
            .unwrap();
        let t = TraceId::random();
        let d = |r: &http::Request<()>| policy.decide(&RequestView::of(r), t, false);
        assert_eq!(
            d(&req(Method::GET, "/", &[("x-retrace-record", "tok")])),
            Decision::Record(RecordReason::Header)
        );
        assert_eq!(
            d(&req(Method::GET, "/", &[("x-retrace-record", "wrong")])),
            Decision::Tentative
        );
        assert_eq!(
            d(&req(Method::GET, "/flagged", &[])),
            Decision::Record(RecordReason::Flag)
        );
        let w = policy
            .open_window(
                WindowSpec::new(Duration::from_secs(60))
                    .method(Method::POST)
                    .path_prefix("/checkout"),
            )
            .unwrap();
        assert_eq!(
            d(&req(Method::POST, "/checkout/1", &[])),
            Decision::Record(RecordReason::Window)
        );
        assert_eq!(
            d(&req(Method::GET, "/checkout/1", &[])),
            Decision::Tentative
        );
        assert_eq!(policy.windows().len(), 1);
        assert!(policy.close_window(w));
        assert_eq!(
            d(&req(Method::POST, "/checkout/1", &[])),
            Decision::Tentative
        );
        policy.set_enabled(false);
        assert_eq!(
            d(&req(Method::GET, "/", &[("x-retrace-record", "tok")])),
            Decision::Skip
        );
    }

    #[test]
    fn expired_windows_vanish() {
        let policy = Policy::builder().build().unwrap();
        policy
            .open_window(WindowSpec::new(Duration::from_millis(1)))
            .unwrap();
        std::thread::sleep(Duration::from_millis(5));
        let r = req(Method::GET, "/", &[]);
        assert_eq!(
            policy.decide(&RequestView::of(&r), TraceId::random(), false),
            Decision::Skip
        );
        assert!(policy.windows().is_empty());
    }

    #[test]
    fn a_window_longer_than_the_cap_is_refused_by_name() {
        let policy = Policy::builder()
            .max_window(Duration::from_secs(600))
            .build()
            .unwrap();
        assert_eq!(
            policy
                .open_window(WindowSpec::new(Duration::from_secs(3600)))
                .unwrap_err()
                .to_string(),
            "a duration of 1h is longer than the longest window or capture allowed, 10m (RETRACE_MAX_WINDOW)"
        );
        assert_eq!(
            policy.open_window(WindowSpec::new(Duration::ZERO)),
            Err(PolicyError::EmptyWindow)
        );
        assert!(policy.windows().is_empty());
        policy
            .open_window(WindowSpec::new(Duration::from_secs(600)))
            .unwrap();
        assert_eq!(policy.windows().len(), 1);
    }

    #[test]
    fn a_panicking_flag_source_has_no_opinion() {
        let policy = Policy::builder()
            .flags(|_: &RequestView<'_>| -> Option<f64> { panic!("flag service down") })
            .build()
            .unwrap();
        let r = req(Method::GET, "/", &[]);
        assert_eq!(
            policy.decide(&RequestView::of(&r), TraceId::random(), false),
            Decision::Skip
        );
    }

    #[test]
    fn rates_are_validated() {
        let policy = Policy::builder().build().unwrap();
        assert_eq!(
            policy.set_sample_rate(2.0).unwrap_err().to_string(),
            "invalid sample rate 2: a rate is a number from 0 to 1"
        );
        assert!(
            policy
                .open_window(WindowSpec::new(Duration::from_secs(1)).rate(-1.0))
                .is_err()
        );
    }
}
