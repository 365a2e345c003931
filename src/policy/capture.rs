//! Captures: "record the next 50 requests to `/checkout` from tenant 42 for five
//! minutes", started at run time (by the admin service, usually) and ended by
//! themselves.
//!
//! A capture is an investigation window with limits: it matches requests like a
//! window, and stops at whichever of its count, bytes or time runs out first. Each
//! recording it claims carries its id ([`RecordReason::Capture`]), so the capture's
//! recordings can be listed afterwards. Captures live in memory: a restart ends them.
//!
//! On the request path a capture costs an atomic load while none is active; while some
//! are, a read lock and a match per active capture, and one atomic increment to claim
//! a slot (so a capture of 50 never records 51). Bytes are counted when a recording
//! ends, so a capture can pass its byte limit by the recordings in flight when it was
//! reached.
//!
//! [`RecordReason::Capture`]: crate::event::RecordReason::Capture

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use http::{HeaderName, HeaderValue, Method};
use parking_lot::RwLock;

use super::RequestView;
use super::sampler::ratio_sampled;
use crate::id::{CaptureId, TraceId};

/// Which paths a capture matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathMatch {
    /// Every path.
    Any,
    /// Exactly this path.
    Exact(String),
    /// Paths under this one, by whole segments: `/checkout` matches `/checkout` and
    /// `/checkout/42`, not `/checkouts`; `/api/` matches only below `/api`.
    Prefix(String),
    /// A pattern over `/`-separated segments: `*` is one segment, `**` any number of
    /// them (none included): `/tenants/*/orders/**`.
    Glob(String),
}

impl PathMatch {
    /// Whether `path` matches.
    pub fn matches(&self, path: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Exact(p) => path == p,
            Self::Prefix(p) => {
                path.starts_with(p.as_str())
                    && (p.ends_with('/')
                        || path.len() == p.len()
                        || path.as_bytes()[p.len()] == b'/')
            }
            Self::Glob(g) => glob(g, path),
        }
    }
}

/// The segment of `text` starting at byte `at`, and where the next one starts (`None`
/// after the last).
fn segment_at(text: &str, at: usize) -> (&str, Option<usize>) {
    let rest = &text[at..];
    match rest.find('/') {
        Some(i) => (&rest[..i], Some(at + i + 1)),
        None => (rest, None),
    }
}

/// Matches a glob's segments against a path's, in time proportional to their product
/// at worst and without allocating (it runs on the request path, on paths anyone
/// chooses): a `**` is a point to come back to, consuming one more segment each time
/// what follows it fails, as wildcard matching does with `*`.
fn glob(pattern: &str, path: &str) -> bool {
    let (mut p, mut s) = (Some(0), Some(0));
    // After the last `**`: where the pattern goes on, and where the path would resume
    // if `**` took one more segment.
    let mut retry: Option<(Option<usize>, Option<usize>)> = None;
    loop {
        if let Some(pi) = p {
            let (want, p_next) = segment_at(pattern, pi);
            if want == "**" {
                retry = Some((p_next, s));
                p = p_next;
                continue;
            }
            if let Some(si) = s {
                let (have, s_next) = segment_at(path, si);
                if want == "*" || want == have {
                    p = p_next;
                    s = s_next;
                    continue;
                }
            }
        } else if s.is_none() {
            return true;
        }
        match retry {
            Some((after, Some(si))) => {
                let s_next = segment_at(path, si).1;
                retry = Some((after, s_next));
                p = after;
                s = s_next;
            }
            _ => return false,
        }
    }
}

/// What a capture matches and how much it may record. Every condition set must hold.
///
/// ```
/// use std::time::Duration;
/// use retrace::policy::{CaptureSpec, PathMatch, Policy};
///
/// let policy = Policy::builder().build()?;
/// let capture = policy.start_capture(
///     CaptureSpec::new(Duration::from_secs(300))
///         .path(PathMatch::Prefix("/checkout".into()))
///         .header("x-tenant".parse()?, "42".parse()?)
///         .max_recordings(50),
/// )?;
/// assert_eq!(policy.capture(capture.id).unwrap().recorded, 0);
/// assert!(policy.stop_capture(capture.id));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct CaptureSpec {
    /// Only requests with this method.
    pub method: Option<Method>,
    /// Only requests whose path matches.
    pub path: PathMatch,
    /// Only requests carrying this header with this value.
    pub header: Option<(HeaderName, HeaderValue)>,
    /// Only requests of this correlation id: their trace id (32 hex digits), or their
    /// `x-request-id` or `x-correlation-id` header.
    pub correlation_id: Option<String>,
    /// Share of matching requests recorded, 0 to 1.
    pub rate: f64,
    /// The capture ends after this many recordings.
    pub max_recordings: u64,
    /// The capture ends once its recordings hold this many bytes.
    pub max_bytes: u64,
    /// The capture ends after this long.
    pub duration: Duration,
    /// Who started it (an API key's id), for listing and audit.
    pub owner: String,
    /// A note for whoever lists captures (an incident number, say).
    pub label: String,
}

impl CaptureSpec {
    /// A capture of every request for `duration`, of at most 100 recordings and 16 MiB.
    pub fn new(duration: Duration) -> Self {
        Self {
            method: None,
            path: PathMatch::Any,
            header: None,
            correlation_id: None,
            rate: 1.0,
            max_recordings: 100,
            max_bytes: 16 << 20,
            duration,
            owner: String::new(),
            label: String::new(),
        }
    }

    /// Matches only this method.
    pub fn method(mut self, method: Method) -> Self {
        self.method = Some(method);
        self
    }

    /// Matches only these paths.
    pub fn path(mut self, path: PathMatch) -> Self {
        self.path = path;
        self
    }

    /// Matches only requests carrying this header with this value.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.header = Some((name, value));
        self
    }

    /// Matches only this correlation id (trace id, `x-request-id` or
    /// `x-correlation-id`).
    pub fn correlation_id(mut self, id: impl Into<String>) -> Self {
        self.correlation_id = Some(id.into());
        self
    }

    /// Records this share of the matching requests.
    pub fn rate(mut self, rate: f64) -> Self {
        self.rate = rate;
        self
    }

    /// Ends after this many recordings.
    pub fn max_recordings(mut self, n: u64) -> Self {
        self.max_recordings = n;
        self
    }

    /// Ends once its recordings hold this many bytes.
    pub fn max_bytes(mut self, n: u64) -> Self {
        self.max_bytes = n;
        self
    }

    /// Who started it.
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = owner.into();
        self
    }

    /// A label shown when listing.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    fn matches(&self, req: &RequestView<'_>, trace_id: TraceId) -> bool {
        self.method.as_ref().is_none_or(|m| m == req.method)
            && self.path.matches(req.uri.path())
            && self
                .header
                .as_ref()
                .is_none_or(|(name, value)| req.headers.get_all(name).iter().any(|v| v == value))
            && self.correlation_id.as_deref().is_none_or(|id| {
                trace_id.eq_hex(id)
                    || ["x-request-id", "x-correlation-id"]
                        .iter()
                        .any(|h| req.headers.get(*h).is_some_and(|v| v == id))
            })
    }
}

/// Why a capture stopped matching.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CaptureEnd {
    /// It recorded its `max_recordings`.
    Recordings,
    /// Its recordings reached `max_bytes`.
    Bytes,
    /// Its duration passed.
    Time,
    /// It was stopped ([`Policy::stop_capture`](super::Policy::stop_capture)).
    Stopped,
}

impl CaptureEnd {
    /// A short lower-case name: `recordings`, `bytes`, `time`, `stopped`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Recordings => "recordings",
            Self::Bytes => "bytes",
            Self::Time => "time",
            Self::Stopped => "stopped",
        }
    }

    fn code(self) -> u8 {
        match self {
            Self::Recordings => 1,
            Self::Bytes => 2,
            Self::Time => 3,
            Self::Stopped => 4,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(Self::Recordings),
            2 => Some(Self::Bytes),
            3 => Some(Self::Time),
            4 => Some(Self::Stopped),
            _ => None,
        }
    }
}

/// A capture as listed: what it matches and how far it got.
#[derive(Clone, Debug)]
pub struct CaptureInfo {
    /// Its id.
    pub id: CaptureId,
    /// What it matches and its limits.
    pub spec: CaptureSpec,
    /// When it started (wall clock).
    pub started_at: SystemTime,
    /// Recordings it claimed.
    pub recorded: u64,
    /// Bytes its ended recordings hold (their size in memory before encoding).
    pub bytes: u64,
    /// Time left; zero once ended.
    pub remaining: Duration,
    /// Why it ended; `None` while it is active.
    pub ended: Option<CaptureEnd>,
}

impl CaptureInfo {
    /// Whether it still records.
    pub fn is_active(&self) -> bool {
        self.ended.is_none()
    }
}

#[derive(Debug)]
struct Capture {
    id: CaptureId,
    spec: CaptureSpec,
    started_at: SystemTime,
    expires: Instant,
    recorded: AtomicU64,
    bytes: AtomicU64,
    /// 0 while active, else a [`CaptureEnd`] code; set once.
    ended: AtomicU8,
    /// When it ended, for how long it stays listed.
    ended_at: parking_lot::Mutex<Option<Instant>>,
}

impl Capture {
    fn end(&self, why: CaptureEnd) {
        if self
            .ended
            .compare_exchange(0, why.code(), Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            *self.ended_at.lock() = Some(Instant::now());
        }
    }

    fn ended(&self) -> Option<CaptureEnd> {
        CaptureEnd::from_code(self.ended.load(Ordering::Acquire))
    }

    /// Ends it if its time or bytes ran out; whether it is still active.
    fn still_active(&self, now: Instant) -> bool {
        if self.ended.load(Ordering::Acquire) != 0 {
            return false;
        }
        if now >= self.expires {
            self.end(CaptureEnd::Time);
            return false;
        }
        if self.bytes.load(Ordering::Relaxed) >= self.spec.max_bytes {
            self.end(CaptureEnd::Bytes);
            return false;
        }
        true
    }

    /// Takes one of its recording slots; false when none is left.
    fn claim(&self) -> bool {
        let taken = self
            .recorded
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.spec.max_recordings).then_some(n + 1)
            });
        match taken {
            Ok(n) => {
                if n + 1 >= self.spec.max_recordings {
                    self.end(CaptureEnd::Recordings);
                }
                true
            }
            Err(_) => {
                self.end(CaptureEnd::Recordings);
                false
            }
        }
    }

    fn info(&self, now: Instant) -> CaptureInfo {
        let ended = self.ended();
        CaptureInfo {
            id: self.id,
            spec: self.spec.clone(),
            started_at: self.started_at,
            recorded: self.recorded.load(Ordering::Acquire),
            bytes: self.bytes.load(Ordering::Relaxed),
            remaining: if ended.is_some() {
                Duration::ZERO
            } else {
                self.expires.saturating_duration_since(now)
            },
            ended,
        }
    }
}

/// How long an ended capture stays listed, for its progress to be read.
/// An hour: as long as a key's hourly allowance looks back, so the admin service can
/// always tell what an ended capture took.
const LISTED_AFTER_END: Duration = Duration::from_secs(3600);

/// The captures of one policy, and the limits all of them share.
#[derive(Debug)]
pub(crate) struct Captures {
    /// Whether any capture may be active: the request path's only cost otherwise.
    any: AtomicBool,
    list: RwLock<Vec<Arc<Capture>>>,
    max_active: usize,
    /// Recordings per second all captures together may claim.
    max_rate: u64,
    /// The current second (since `epoch`) and the claims made in it, packed.
    rate_window: AtomicU64,
    epoch: Instant,
}

impl Default for Captures {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_ACTIVE_CAPTURES, DEFAULT_MAX_CAPTURE_RATE)
    }
}

/// Captures active at once unless [`PolicyBuilder::max_active_captures`] says
/// otherwise.
///
/// [`PolicyBuilder::max_active_captures`]: super::PolicyBuilder::max_active_captures
pub const DEFAULT_MAX_ACTIVE_CAPTURES: usize = 10;

/// Recordings per second all captures together may claim unless
/// [`PolicyBuilder::max_capture_rate`] says otherwise.
///
/// [`PolicyBuilder::max_capture_rate`]: super::PolicyBuilder::max_capture_rate
pub const DEFAULT_MAX_CAPTURE_RATE: u64 = 100;

impl Captures {
    pub(crate) fn new(max_active: usize, max_rate: u64) -> Self {
        Self {
            any: AtomicBool::new(false),
            list: RwLock::new(Vec::new()),
            max_active,
            max_rate,
            rate_window: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    pub(crate) fn max_active(&self) -> usize {
        self.max_active
    }

    pub(crate) fn start(&self, spec: CaptureSpec) -> Result<CaptureInfo, usize> {
        let now = Instant::now();
        let mut list = self.list.write();
        Self::prune(&mut list, now);
        let active = list.iter().filter(|c| c.still_active(now)).count();
        if active >= self.max_active {
            return Err(self.max_active);
        }
        let capture = Arc::new(Capture {
            id: CaptureId::random(),
            expires: now + spec.duration,
            spec,
            started_at: SystemTime::now(),
            recorded: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            ended: AtomicU8::new(0),
            ended_at: parking_lot::Mutex::new(None),
        });
        let info = capture.info(now);
        list.push(capture);
        self.any.store(true, Ordering::Release);
        Ok(info)
    }

    fn prune(list: &mut Vec<Arc<Capture>>, now: Instant) {
        list.retain(|c| {
            c.still_active(now)
                || c.ended_at
                    .lock()
                    .is_none_or(|at| now.duration_since(at) < LISTED_AFTER_END)
        });
    }

    pub(crate) fn stop(&self, id: CaptureId) -> bool {
        let list = self.list.read();
        let Some(c) = list.iter().find(|c| c.id == id) else {
            return false;
        };
        let was_active = c.ended.load(Ordering::Acquire) == 0;
        c.end(CaptureEnd::Stopped);
        drop(list);
        self.refresh_any();
        was_active
    }

    pub(crate) fn get(&self, id: CaptureId) -> Option<CaptureInfo> {
        let now = Instant::now();
        let list = self.list.read();
        list.iter().find(|c| c.id == id).map(|c| {
            c.still_active(now);
            c.info(now)
        })
    }

    /// Every capture still listed, active ones first, then newest first.
    pub(crate) fn list(&self) -> Vec<CaptureInfo> {
        let now = Instant::now();
        let mut list = self.list.write();
        Self::prune(&mut list, now);
        let mut infos: Vec<CaptureInfo> = list
            .iter()
            .map(|c| {
                c.still_active(now);
                c.info(now)
            })
            .collect();
        drop(list);
        self.refresh_any();
        infos.sort_by_key(|i| (i.ended.is_some(), std::cmp::Reverse(i.started_at)));
        infos
    }

    pub(crate) fn active_count(&self) -> usize {
        if !self.any.load(Ordering::Acquire) {
            return 0;
        }
        let now = Instant::now();
        self.list
            .read()
            .iter()
            .filter(|c| c.still_active(now))
            .count()
    }

    fn refresh_any(&self) {
        let now = Instant::now();
        // Stored under the lock: `start` (which takes it for writing) cannot set the
        // flag between this reading the list and storing what it read.
        let list = self.list.read();
        let any = list.iter().any(|c| c.still_active(now));
        self.any.store(any, Ordering::Release);
    }

    /// Whether any capture may be active.
    pub(crate) fn any_active(&self) -> bool {
        self.any.load(Ordering::Acquire)
    }

    /// The first active capture that matches and has a slot left, its slot taken.
    pub(crate) fn claim(&self, req: &RequestView<'_>, trace_id: TraceId) -> Option<CaptureId> {
        if !self.any.load(Ordering::Acquire) {
            return None;
        }
        let list = self.list.read();
        let mut ended_one = false;
        let mut claimed = None;
        // The clock is read only for a capture that matches: most requests match none.
        let mut now = None;
        for c in list.iter() {
            if c.ended.load(Ordering::Acquire) != 0 {
                // Ended (by count, bytes or a stop) since `any` was last worked out.
                ended_one = true;
                continue;
            }
            if !c.spec.matches(req, trace_id) {
                continue;
            }
            let now = *now.get_or_insert_with(Instant::now);
            if !c.still_active(now) {
                ended_one = true;
                continue;
            }
            if ratio_sampled(trace_id, c.spec.rate) && self.within_rate(now) && c.claim() {
                claimed = Some(c.id);
                break;
            }
        }
        drop(list);
        if ended_one {
            self.refresh_any();
        }
        claimed
    }

    /// Counts one claim against the shared per-second rate; false when the second's
    /// allowance is spent.
    fn within_rate(&self, now: Instant) -> bool {
        let second = now.duration_since(self.epoch).as_secs();
        self.rate_window
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |packed| {
                let (s, n) = (packed >> 32, packed & 0xffff_ffff);
                if s != second {
                    Some((second << 32) | 1)
                } else if n < self.max_rate {
                    Some(packed + 1)
                } else {
                    None
                }
            })
            .is_ok()
    }

    /// Gives back a slot claimed for a request that was then not recorded (declined
    /// by a limit); a capture that ended on that slot records again.
    pub(crate) fn release(&self, id: CaptureId) {
        let list = self.list.read();
        if let Some(c) = list.iter().find(|c| c.id == id) {
            let _ = c
                .recorded
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
            if c.ended
                .compare_exchange(
                    CaptureEnd::Recordings.code(),
                    0,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
            {
                *c.ended_at.lock() = None;
                self.any.store(true, Ordering::Release);
            }
        }
    }

    /// Adds an ended recording's size to its capture.
    pub(crate) fn add_bytes(&self, id: CaptureId, bytes: u64) {
        let list = self.list.read();
        if let Some(c) = list.iter().find(|c| c.id == id) {
            let total = c.bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
            if total >= c.spec.max_bytes {
                c.end(CaptureEnd::Bytes);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(req: &http::Request<()>) -> RequestView<'_> {
        RequestView::of(req)
    }

    #[test]
    fn an_ended_capture_stops_costing_requests_and_a_declined_slot_comes_back() {
        let captures = Captures::default();
        let info = captures
            .start(CaptureSpec::new(Duration::from_secs(60)).max_recordings(1))
            .unwrap();
        let req = http::Request::get("/a").body(()).unwrap();
        let trace = TraceId::random();
        assert_eq!(captures.claim(&view(&req), trace), Some(info.id));
        assert_eq!(
            captures.get(info.id).unwrap().ended,
            Some(CaptureEnd::Recordings)
        );
        // The request that finds it ended clears the flag: the next ones skip it all.
        assert_eq!(captures.claim(&view(&req), trace), None);
        assert!(!captures.any_active());
        // The slot given back (the request was declined): it records again.
        captures.release(info.id);
        let back = captures.get(info.id).unwrap();
        assert_eq!((back.recorded, back.ended), (0, None));
        assert!(captures.any_active());
        assert_eq!(captures.claim(&view(&req), trace), Some(info.id));
    }

    #[test]
    fn globs_match_whole_segments() {
        let g = |p: &str| PathMatch::Glob(p.to_owned());
        assert!(g("/tenants/*/orders").matches("/tenants/42/orders"));
        assert!(!g("/tenants/*/orders").matches("/tenants/42/7/orders"));
        assert!(g("/tenants/**").matches("/tenants/42/orders/9"));
        assert!(g("/tenants/**").matches("/tenants"));
        assert!(g("/**/refund").matches("/orders/9/refund"));
        assert!(!g("/**/refund").matches("/orders/9/refunds"));
        assert!(!g("/tenants/*").matches("/tenant/42"));
        assert!(g("/**/b/**/d").matches("/a/b/c/d"));
        assert!(g("/**/b/**/d").matches("/b/d"));
        assert!(!g("/**/b/**/d").matches("/a/b/c/e"));
        assert!(g("/a/**/**/z").matches("/a/z"));
        assert!(g("**").matches("/anything/at/all"));
        // Many `**` against a long path: one pass per `**` retry, not one per split.
        let long = "/x".repeat(200);
        assert!(!g("/**/**/**/**/**/**/y").matches(&long));
        assert!(PathMatch::Exact("/a".into()).matches("/a"));
        assert!(!PathMatch::Exact("/a".into()).matches("/a/b"));
        assert!(PathMatch::Prefix("/a".into()).matches("/a/b"));
        assert!(PathMatch::Prefix("/a".into()).matches("/a"));
        assert!(!PathMatch::Prefix("/a".into()).matches("/ab"));
        assert!(!PathMatch::Prefix("/a/".into()).matches("/a"));
        assert!(PathMatch::Prefix("/".into()).matches("/anything"));
    }
}
