//! The policy file (`RETRACE_POLICY_FILE`): the decision policy as TOML, read again
//! when it changes, so a team changes what is recorded without a restart or a deploy.
//!
//! ```toml
//! sample_rate = 0.01
//! trigger_token = "a-long-random-token"
//! keep = "5xx,429"          # tail keep, or "off"
//! keep_latency = "2s"
//!
//! [[route]]                 # tried in order, the first that matches decides
//! path = "/health"          # exact; with `*` a glob (`/tenants/*/orders/**`)
//! never = true
//!
//! [[route]]
//! method = "POST"
//! prefix = "/checkout"      # whole segments: /checkout, /checkout/42
//! rate = 0.5
//!
//! [[window]]                # an investigation window, open until a time
//! name = "INC-1234"
//! prefix = "/search"
//! rate = 0.2
//! until = "2026-12-07T18:00:00Z"
//!
//! [[capture]]               # a capture, as the admin service starts them
//! name = "tenant-42-checkout"
//! method = "POST"
//! prefix = "/checkout"
//! header = { name = "x-tenant", value = "42" }
//! max_recordings = 50
//! until = "2026-12-07T12:30:00Z"
//! ```
//!
//! Every setting is optional; one left out keeps the configuration's value. Windows
//! and captures are named: a reload keeps those still declared (a capture's count
//! carries on), opens those new, and ends those gone. Their `until` must lie within
//! `RETRACE_MAX_WINDOW` of the moment the file is read.
//!
//! **One edit, every pod.** The file is the same in every pod that mounts it (a
//! Kubernetes ConfigMap), so a window or capture declared in it applies to the whole
//! service at once, and ends at the same time everywhere; the admin service, by
//! contrast, talks to one process.
//!
//! A file that does not parse or validate is refused as a whole: the policy in force
//! stays, the error is logged and kept for the admin service's `/health` and
//! `retrace_policy_reloads_total{outcome="rejected"}`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use http::{HeaderName, HeaderValue, Method};
use serde::Deserialize;

use super::capture::{CaptureSpec, PathMatch};
use super::routes::{RouteAction, RouteRule, RouteTable};
use super::tail::TailKeep;
use super::window::{WindowId, WindowSpec};
use super::{Policy, PolicyError, Rules};
use crate::id::CaptureId;

/// A policy file that cannot be used; the policy in force stays.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyFileError {
    /// The file could not be read.
    #[error("cannot read the policy file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The TOML does not parse, or holds an unknown setting.
    #[error("the policy file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the TOML parser said, with the line.
        message: String,
    },
    /// The policy refused what the file asks (as many captures active as allowed).
    #[error("the policy file {path}: {source}")]
    Policy {
        /// The file.
        path: PathBuf,
        /// What the policy said.
        #[source]
        source: PolicyError,
    },
    /// The thread that watches the file could not start.
    #[error("could not start the policy file's watcher thread: {0}")]
    Watcher(#[source] std::io::Error),
    /// A setting is out of range.
    #[error("the policy file {path}: {what}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Which setting (`route 3`, `capture "tenant-42"`).
        what: String,
        /// What is wrong.
        reason: String,
    },
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    sample_rate: Option<f64>,
    trigger_token: Option<String>,
    keep: Option<String>,
    keep_latency: Option<String>,
    #[serde(default, rename = "route")]
    routes: Vec<RouteSpec>,
    #[serde(default, rename = "window")]
    windows: Vec<WindowSpecFile>,
    #[serde(default, rename = "capture")]
    captures: Vec<CaptureSpecFile>,
}

/// What a route, window or capture matches.
#[derive(Debug, Default, Deserialize, PartialEq, Clone)]
#[serde(deny_unknown_fields)]
struct MatchSpec {
    method: Option<String>,
    path: Option<String>,
    prefix: Option<String>,
    header: Option<HeaderSpec>,
}

#[derive(Debug, Deserialize, PartialEq, Clone)]
#[serde(deny_unknown_fields)]
struct HeaderSpec {
    name: String,
    value: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteSpec {
    #[serde(flatten)]
    matcher: MatchSpec,
    rate: Option<f64>,
    #[serde(default)]
    never: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WindowSpecFile {
    name: String,
    #[serde(flatten)]
    matcher: MatchSpec,
    rate: Option<f64>,
    until: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaptureSpecFile {
    name: String,
    #[serde(flatten)]
    matcher: MatchSpec,
    correlation_id: Option<String>,
    rate: Option<f64>,
    max_recordings: Option<u64>,
    max_bytes: Option<u64>,
    until: String,
}

/// A window or capture of the file: its name, what it says as written (a change to
/// any of it restarts it), and the spec built from that.
#[derive(Debug)]
struct Named<T> {
    name: String,
    declared: String,
    spec: T,
}

/// What a policy file asks for, checked and ready to apply. Its `Debug` leaves the
/// trigger token out.
pub struct PolicyFile {
    sample_rate: Option<f64>,
    trigger_token: Option<Option<String>>,
    tail: Option<Option<TailKeep>>,
    routes: RouteTable,
    windows: Vec<Named<WindowSpec>>,
    captures: Vec<Named<CaptureSpec>>,
}

impl std::fmt::Debug for PolicyFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyFile")
            .field("sample_rate", &self.sample_rate)
            .field(
                "trigger_token",
                &self
                    .trigger_token
                    .as_ref()
                    .map(|t| t.as_ref().map(|_| "[redacted]")),
            )
            .field("tail", &self.tail)
            .field("routes", &self.routes)
            .field("windows", &self.windows)
            .field("captures", &self.captures)
            .finish()
    }
}

impl PolicyFile {
    /// Reads and checks the file at `path`; `max_window` bounds windows and captures.
    pub fn load(path: &Path, max_window: Duration) -> Result<Self, PolicyFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyFileError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(path, &text, max_window)
    }

    /// Checks a policy file's text (`path` names it in errors).
    pub fn parse(path: &Path, text: &str, max_window: Duration) -> Result<Self, PolicyFileError> {
        // The parser's own rendering quotes the offending line, which may hold the
        // trigger token: only its position and message are kept.
        let spec: FileSpec = toml::from_str(text).map_err(|e| {
            let at = e.span().map_or(String::new(), |span| {
                let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
                format!("line {line}: ")
            });
            PolicyFileError::Parse {
                path: path.to_owned(),
                message: format!("{at}{}", e.message().trim_end().replace('\n', " ")),
            }
        })?;
        let invalid = |what: String, reason: String| PolicyFileError::Invalid {
            path: path.to_owned(),
            what,
            reason,
        };
        let rate = |what: &str, r: f64| {
            if (0.0..=1.0).contains(&r) {
                Ok(r)
            } else {
                Err(invalid(
                    what.to_owned(),
                    format!("{r} is not a rate from 0 to 1"),
                ))
            }
        };
        if let Some(r) = spec.sample_rate {
            rate("sample_rate", r)?;
        }
        let tail = match (spec.keep.as_deref(), &spec.keep_latency) {
            (None, None) => None,
            (Some("off"), None) => Some(None),
            (Some("off") | None, Some(_)) => {
                return Err(invalid(
                    "keep_latency".to_owned(),
                    "is a tail keep rule, and tail keep is off: set keep too, such as \"5xx\""
                        .to_owned(),
                ));
            }
            (Some(set), latency) => {
                let latency = latency
                    .as_deref()
                    .map(humantime::parse_duration)
                    .transpose()
                    .map_err(|e| invalid("keep_latency".to_owned(), e.to_string()))?;
                let keep = TailKeep::default()
                    .statuses(set)
                    .map_err(|e| invalid("keep".to_owned(), e.to_string()))?
                    .latency(latency);
                Some(Some(keep))
            }
        };
        let trigger_token = match spec.trigger_token {
            None => None,
            Some(t) if t.is_empty() => {
                return Err(invalid(
                    "trigger_token".to_owned(),
                    "is empty; leave it out for any value".to_owned(),
                ));
            }
            Some(t) => Some(Some(t)),
        };
        let mut routes = Vec::with_capacity(spec.routes.len());
        for (i, r) in spec.routes.into_iter().enumerate() {
            let what = format!("route {}", i + 1);
            let (method, path, header) =
                r.matcher.compile().map_err(|e| invalid(what.clone(), e))?;
            if header.is_some() {
                return Err(invalid(
                    what,
                    "a route rule matches method and path only".to_owned(),
                ));
            }
            let action = match (r.never, r.rate) {
                (true, None) => RouteAction::Never,
                (false, Some(x)) => RouteAction::Rate(rate(&what, x)?),
                _ => {
                    return Err(invalid(
                        what,
                        "give exactly one of `never = true` and `rate`".to_owned(),
                    ));
                }
            };
            routes.push(RouteRule {
                method,
                path,
                action,
            });
        }
        let now = SystemTime::now();
        let until = |what: &str, text: &str| -> Result<Duration, PolicyFileError> {
            let at = humantime::parse_rfc3339_weak(text).map_err(|e| {
                invalid(
                    what.to_owned(),
                    format!("until {text:?}: {e} (expected 2026-12-07T12:30:00Z)"),
                )
            })?;
            let left = at.duration_since(now).unwrap_or(Duration::ZERO);
            if left > max_window {
                return Err(invalid(
                    what.to_owned(),
                    format!(
                        "until {text} is more than {} from now (RETRACE_MAX_WINDOW)",
                        humantime::format_duration(max_window)
                    ),
                ));
            }
            Ok(left)
        };
        let mut names = HashMap::new();
        let mut unique = |kind: &str, name: &str| {
            if names.insert(format!("{kind} {name}"), ()).is_some() {
                Err(invalid(
                    format!("{kind} {name:?}"),
                    "declared twice".to_owned(),
                ))
            } else {
                Ok(())
            }
        };
        let mut windows = Vec::new();
        for w in spec.windows {
            let declared = format!("{w:?}");
            let what = format!("window {:?}", w.name);
            unique("window", &w.name)?;
            let left = until(&what, &w.until)?;
            let (method, path, header) =
                w.matcher.compile().map_err(|e| invalid(what.clone(), e))?;
            let mut window = WindowSpec::new(left)
                .rate(rate(&what, w.rate.unwrap_or(1.0))?)
                .label(&w.name);
            window.method = method;
            window.path = path;
            window.header = header.map(|(n, v)| (n, Some(v)));
            if !left.is_zero() {
                windows.push(Named {
                    name: w.name,
                    declared,
                    spec: window,
                });
            }
        }
        let mut captures = Vec::new();
        for c in spec.captures {
            let declared = format!("{c:?}");
            let what = format!("capture {:?}", c.name);
            unique("capture", &c.name)?;
            let left = until(&what, &c.until)?;
            let (method, path, header) =
                c.matcher.compile().map_err(|e| invalid(what.clone(), e))?;
            let mut capture = CaptureSpec::new(left)
                .rate(rate(&what, c.rate.unwrap_or(1.0))?)
                .path(path)
                .owner("policy-file")
                .label(&c.name);
            capture.method = method;
            capture.header = header;
            capture.correlation_id = c.correlation_id;
            if let Some(n) = c.max_recordings {
                capture = capture.max_recordings(n);
            }
            if let Some(n) = c.max_bytes {
                capture = capture.max_bytes(n);
            }
            if capture.max_recordings == 0 || capture.max_bytes == 0 {
                return Err(invalid(
                    what,
                    "max_recordings and max_bytes must be at least 1".to_owned(),
                ));
            }
            if !left.is_zero() {
                captures.push(Named {
                    name: c.name,
                    declared,
                    spec: capture,
                });
            }
        }
        Ok(Self {
            sample_rate: spec.sample_rate,
            trigger_token,
            tail,
            routes: RouteTable::new(routes),
            windows,
            captures,
        })
    }
}

/// A compiled [`MatchSpec`]: method, path, header.
type Matcher = (Option<Method>, PathMatch, Option<(HeaderName, HeaderValue)>);

impl MatchSpec {
    fn compile(self) -> Result<Matcher, String> {
        let method = self
            .method
            .map(|m| {
                Method::from_bytes(m.to_ascii_uppercase().as_bytes())
                    .map_err(|_| format!("method {m:?}"))
            })
            .transpose()?;
        let path = match (self.path, self.prefix) {
            (Some(_), Some(_)) => return Err("give `path` or `prefix`, not both".to_owned()),
            (Some(p), None) if p.contains('*') => PathMatch::Glob(p),
            (Some(p), None) => PathMatch::Exact(p),
            (None, Some(p)) => PathMatch::Prefix(p),
            (None, None) => PathMatch::Any,
        };
        let header = self
            .header
            .map(|h| {
                let name = HeaderName::from_bytes(h.name.as_bytes())
                    .map_err(|_| format!("header name {:?}", h.name))?;
                let value = HeaderValue::from_str(&h.value)
                    .map_err(|_| format!("header value {:?}", h.value))?;
                Ok::<_, String>((name, value))
            })
            .transpose()?;
        Ok((method, path, header))
    }
}

/// What a policy file put in force: its windows and captures by name (with what they
/// said, to see an edit), and the policy's own settings from before the first file,
/// which a setting left out of a later version goes back to.
#[derive(Debug, Default)]
pub(crate) struct Applied {
    windows: HashMap<String, (String, WindowId)>,
    captures: HashMap<String, (String, CaptureId)>,
    baseline: Option<(f64, Rules)>,
}

impl Applied {
    /// Puts `file` in force on `policy`, all of it or, when a capture cannot start (as
    /// many are active as allowed), nothing.
    pub(crate) fn apply(&mut self, policy: &Policy, file: PolicyFile) -> Result<(), PolicyError> {
        let (base_rate, base_rules) = self
            .baseline
            .get_or_insert_with(|| (policy.sample_rate(), policy.rules_now()))
            .clone();
        // Captures first: the one step that can fail once the file is valid.
        let mut captures = HashMap::new();
        let mut started = Vec::new();
        for Named {
            name,
            declared,
            spec,
        } in file.captures
        {
            let id = match self.captures.get(&name) {
                // Unchanged: it carries on, or stays ended.
                Some((was, id)) if *was == declared => *id,
                _ => match policy.start_capture(spec) {
                    Ok(info) => {
                        started.push(info.id);
                        info.id
                    }
                    Err(e) => {
                        for id in started {
                            policy.stop_capture(id);
                        }
                        return Err(e);
                    }
                },
            };
            captures.insert(name, (declared, id));
        }
        for (name, (_, id)) in &self.captures {
            if captures.get(name).is_none_or(|(_, now)| now != id) {
                policy.stop_capture(*id);
            }
        }
        self.captures = captures;

        let mut windows = HashMap::new();
        for Named {
            name,
            declared,
            spec,
        } in file.windows
        {
            let id = match self.windows.get(&name) {
                Some((was, id)) if *was == declared => *id,
                _ => policy.open_window(spec)?,
            };
            windows.insert(name, (declared, id));
        }
        for (name, (_, id)) in &self.windows {
            if windows.get(name).is_none_or(|(_, now)| now != id) {
                policy.close_window(*id);
            }
        }
        self.windows = windows;

        policy.set_sample_rate(file.sample_rate.unwrap_or(base_rate))?;
        policy.update_rules(|rules| {
            rules.trigger_token = match file.trigger_token {
                Some(token) => token.map(std::sync::Arc::from),
                None => base_rules.trigger_token.clone(),
            };
            rules.tail = file.tail.unwrap_or_else(|| base_rules.tail.clone());
            rules.routes = file.routes;
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parse_error_names_the_line_and_never_quotes_it() {
        for text in [
            "trigger_token = \"s3cret-token\nsample_rate = 1.0\n",
            "\ntrigger_tokn = \"s3cret-token\"\n",
            "trigger_token = s3cret-token\n",
        ] {
            let err = PolicyFile::parse(Path::new("policy.toml"), text, Duration::from_secs(60))
                .unwrap_err()
                .to_string();
            assert!(!err.contains("s3cret"), "{err}");
            assert!(
                err.starts_with("the policy file policy.toml: line "),
                "{err}"
            );
        }
        let file = PolicyFile::parse(
            Path::new("policy.toml"),
            "trigger_token = \"s3cret-token\"\n",
            Duration::from_secs(60),
        )
        .unwrap();
        assert!(!format!("{file:?}").contains("s3cret"));
    }
}
