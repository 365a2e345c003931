//! Who may look. A viewer shows recordings to whoever holds its secret, never to
//! whoever can reach its port: on a shared machine every local user can connect to
//! 127.0.0.1, and the recording directory's permissions are what keep them out of
//! the recordings themselves.
//!
//! - Without a keys file the viewer makes a random token at start and prints it in its
//!   URL (`http://127.0.0.1:PORT/?token=…`, as Jupyter does). Opening that URL trades
//!   the token for a session cookie and drops it from the address bar; a script sends
//!   `Authorization: Bearer TOKEN`; `/login` takes the token too.
//! - With a keys file every request needs an API key with at least the `read` scope:
//!   on `/login` for a browser (never in the address, where long-lived keys would
//!   reach the history), as a bearer key for a script.
//!
//! A browser's cookie names a random session, never the key or token itself; it is
//! named for the port (browsers send a host's cookies to all its ports, so two viewers
//! would share one name) and ends after 12 hours or when the viewer stops. On
//! loopback the `Host` header is checked too, so a web page elsewhere cannot reach the
//! viewer through DNS rebinding.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use parking_lot::Mutex;
use retrace_tower::admin::{Caller, KeySource};

/// The session cookie's name, before the port: browsers send a host's cookies to
/// every port of it, so two viewers on one machine must not share a name.
const COOKIE: &str = "retrace_view_";
/// The most browsers signed in at once; past it the oldest session ends.
const MAX_SESSIONS: usize = 256;
/// How long a browser stays signed in: a working day, then the token or key again.
const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);

/// Who is looking at a page, as the audit log names them.
#[derive(Clone, Debug)]
pub(crate) struct Viewer {
    /// `cli:USER` with the viewer's own token, `key:ID` with a key.
    pub(crate) who: String,
}

impl Viewer {
    /// The local user running the viewer.
    pub(crate) fn local() -> Self {
        Self {
            who: crate::audit_trail::who(),
        }
    }
}

/// A request without a valid token, key or session: a browser is sent to `/login`, a
/// script gets 401 and the reason.
#[derive(Debug)]
pub(crate) struct Denied {
    browser: bool,
    reason: String,
}

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        if self.browser {
            return Redirect::to("/login").into_response();
        }
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            self.reason,
        )
            .into_response()
    }
}

/// A signed-in browser.
struct Session {
    /// When it signed in.
    since: Instant,
    /// The key or token it signed in with, checked again on each request: a key
    /// revoked in the keys file ends the sessions made with it.
    secret: Arc<str>,
}

/// What a request must show: the viewer's own token, or a key from a keys file.
enum Secret {
    Token(String),
    Keys(KeySource),
}

/// The viewer's access rules and its signed-in browsers.
pub(crate) struct Access {
    secret: Secret,
    /// The address listened on, when it is a loopback one (the `Host` check).
    loopback: Option<IpAddr>,
    /// The session cookie's name: [`COOKIE`] and the port.
    cookie: String,
    /// Signed-in browsers by session.
    sessions: Mutex<HashMap<String, Session>>,
}

impl Access {
    /// Rules for a viewer listening on `listening`: with `keys`, a key from them;
    /// without, a fresh random token (see [`Access::token`]).
    pub(crate) fn new(keys: Option<KeySource>, listening: SocketAddr) -> Self {
        let ip = listening.ip();
        Self {
            secret: keys.map_or_else(|| Secret::Token(random_hex()), Secret::Keys),
            loopback: ip.is_loopback().then_some(ip),
            cookie: format!("{COOKIE}{}", listening.port()),
            sessions: Mutex::new(HashMap::new()),
        }
    }

    /// The token to print in the viewer's URL, when it has one (no keys file).
    pub(crate) fn token(&self) -> Option<&str> {
        match &self.secret {
            Secret::Token(token) => Some(token),
            Secret::Keys(_) => None,
        }
    }

    /// Whether the viewer asks for a key from a keys file (else for its token).
    pub(crate) fn uses_keys(&self) -> bool {
        matches!(self.secret, Secret::Keys(_))
    }

    /// On loopback, the `Host` must name this machine (`127.0.0.1`, `localhost`,
    /// `[::1]` or the address listened on, any port): a request for another name came
    /// through a rebound DNS name.
    pub(crate) fn check_host(&self, headers: &HeaderMap) -> Result<(), String> {
        let Some(bound) = self.loopback else {
            return Ok(());
        };
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        let name = match host.strip_prefix('[') {
            Some(rest) => rest.split(']').next().unwrap_or(""),
            None => host.split(':').next().unwrap_or(""),
        };
        let named = name == "localhost"
            || matches!(name, "127.0.0.1" | "::1")
            || name.parse::<IpAddr>().is_ok_and(|ip| ip == bound);
        if named {
            Ok(())
        } else {
            Err(format!(
                "this viewer listens on loopback and answers only for 127.0.0.1, {bound} or \
                 localhost, not Host {host:?}"
            ))
        }
    }

    /// Who sends these headers: the holder of a session cookie, of the token or of a
    /// key sent as `Authorization: Bearer`.
    pub(crate) fn viewer(&self, headers: &HeaderMap) -> Result<Viewer, Denied> {
        let browser = headers
            .get(header::ACCEPT)
            .and_then(|a| a.to_str().ok())
            .is_some_and(|a| a.contains("text/html"));
        // The lock is held only to look the session up: checking its key may read the
        // keys file again.
        let session = cookie(headers, &self.cookie).and_then(|name| {
            let sessions = self.sessions.lock();
            let s = sessions.get(name)?;
            Some((name, s.since, Arc::clone(&s.secret)))
        });
        if let Some((name, since, secret)) = session {
            let checked = if since.elapsed() < SESSION_LIFETIME {
                self.identify(&secret)
            } else {
                Err("the session ended; sign in again".to_owned())
            };
            return checked.map_err(|reason| {
                self.sessions.lock().remove(name);
                Denied { browser, reason }
            });
        }
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|a| a.to_str().ok())
            .and_then(|a| a.strip_prefix("Bearer "));
        let reason = match bearer {
            Some(secret) => match self.identify(secret.trim()) {
                Ok(viewer) => return Ok(viewer),
                Err(reason) => reason,
            },
            None if self.uses_keys() => {
                "an API key is needed: Authorization: Bearer KEY".to_owned()
            }
            None => "the token `retrace view` printed is needed: open the URL it printed, \
                     or send Authorization: Bearer TOKEN"
                .to_owned(),
        };
        Err(Denied { browser, reason })
    }

    /// Signs a browser in with `secret` (a key, or the viewer's token): the
    /// `Set-Cookie` value of its new session, or why the secret was refused.
    pub(crate) fn login(&self, secret: &str) -> Result<String, String> {
        let secret = secret.trim();
        self.identify(secret)?;
        let session = random_hex();
        let mut sessions = self.sessions.lock();
        sessions.retain(|_, s| s.since.elapsed() < SESSION_LIFETIME);
        if sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = (sessions.iter())
                .min_by_key(|(_, s)| s.since)
                .map(|(k, _)| k.clone())
        {
            sessions.remove(&oldest);
        }
        sessions.insert(
            session.clone(),
            Session {
                since: Instant::now(),
                secret: Arc::from(secret),
            },
        );
        Ok(format!(
            "{}={session}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
            self.cookie,
            SESSION_LIFETIME.as_secs()
        ))
    }

    fn identify(&self, secret: &str) -> Result<Viewer, String> {
        match &self.secret {
            Secret::Token(token) if same(token.as_bytes(), secret.as_bytes()) => {
                Ok(Viewer::local())
            }
            Secret::Token(_) => Err("not this viewer's token".to_owned()),
            Secret::Keys(keys) => match keys.identify(secret) {
                Caller::Key { id, .. } => Ok(Viewer {
                    who: format!("key:{id}"),
                }),
                Caller::Revoked(id) => Err(format!("key {id} was revoked")),
                Caller::Unknown => Err("not a key in this viewer's keys file".to_owned()),
            },
        }
    }
}

/// 32 random bytes as hex.
fn random_hex() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares two secrets in time that depends only on their lengths.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The session token in the request's cookie called `name`.
fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(name)?.strip_prefix('='))
}

#[cfg(test)]
mod tests {
    use super::*;
    use retrace_tower::admin::{ApiKeys, Scope};

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(name, value.parse().expect("header value"));
        }
        map
    }

    const LOOPBACK: SocketAddr = SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8088);

    fn at(addr: &str) -> SocketAddr {
        addr.parse().expect("address")
    }

    #[test]
    fn on_loopback_only_hosts_naming_this_machine_are_served() {
        let access = Access::new(None, at("127.0.0.2:8088"));
        for host in [
            "127.0.0.1:8080",
            "localhost",
            "[::1]:9",
            "localhost:1",
            "127.0.0.2:7",
        ] {
            assert!(
                access.check_host(&headers(&[(header::HOST, host)])).is_ok(),
                "{host}"
            );
        }
        for host in [
            "evil.example:8080",
            "127.0.0.1.evil.example",
            "127.0.0.3",
            "",
        ] {
            let err = access
                .check_host(&headers(&[(header::HOST, host)]))
                .expect_err(host);
            assert!(
                err.contains("answers only for 127.0.0.1, 127.0.0.2 or localhost"),
                "{err}"
            );
        }
        assert!(
            Access::new(None, at("0.0.0.0:8088"))
                .check_host(&HeaderMap::new())
                .is_ok()
        );
    }

    #[test]
    fn without_keys_a_request_needs_the_printed_token_or_a_session_made_with_it() {
        let access = Access::new(None, LOOPBACK);
        let token = access.token().expect("a token").to_owned();
        assert_eq!(token.len(), 64);
        assert_ne!(Access::new(None, LOOPBACK).token(), Some(token.as_str()));
        let denied = access
            .viewer(&headers(&[(header::ACCEPT, "text/plain")]))
            .expect_err("no token");
        assert!(!denied.browser);
        assert!(
            denied.reason.contains("open the URL it printed"),
            "{}",
            denied.reason
        );
        let browser = access
            .viewer(&headers(&[(header::ACCEPT, "text/html,*/*")]))
            .expect_err("no token");
        assert!(browser.browser);
        let bearer = format!("Bearer {token}");
        let viewer = access
            .viewer(&headers(&[(header::AUTHORIZATION, &bearer)]))
            .expect("the token");
        assert_eq!(viewer.who, Viewer::local().who);
        assert_eq!(
            access.login(&token[1..]).expect_err("wrong"),
            "not this viewer's token"
        );
        let set_cookie = access.login(&token).expect("signed in");
        assert!(!set_cookie.contains(&token), "the cookie is not the token");
        let pair = set_cookie.split(';').next().expect("pair");
        assert!(access.viewer(&headers(&[(header::COOKIE, pair)])).is_ok());

        // A session older than its lifetime is gone.
        assert!(pair.starts_with("retrace_view_8088="), "{pair}");
        let other_viewer = pair.replace("retrace_view_8088=", "retrace_view_9099=");
        assert!(
            access
                .viewer(&headers(&[(header::COOKIE, &other_viewer)]))
                .is_err(),
            "another port's viewer has a cookie of its own"
        );
        let session = pair.trim_start_matches("retrace_view_8088=").to_owned();
        if let Some(long_ago) = Instant::now().checked_sub(SESSION_LIFETIME) {
            access
                .sessions
                .lock()
                .get_mut(&session)
                .expect("session")
                .since = long_ago;
            assert!(access.viewer(&headers(&[(header::COOKIE, pair)])).is_err());
            assert!(access.sessions.lock().is_empty());
        }
    }

    #[test]
    fn sessions_are_capped_and_the_oldest_goes_first() {
        let access = Access::new(None, LOOPBACK);
        let token = access.token().expect("token").to_owned();
        let first = access.login(&token).expect("signed in");
        let pair = first.split(';').next().expect("pair");
        let session = pair.split('=').nth(1).expect("session").to_owned();
        if let Some(earlier) = Instant::now().checked_sub(Duration::from_secs(1)) {
            access
                .sessions
                .lock()
                .get_mut(&session)
                .expect("session")
                .since = earlier;
        }
        for _ in 0..MAX_SESSIONS {
            access.login(&token).expect("signed in");
        }
        assert_eq!(access.sessions.lock().len(), MAX_SESSIONS);
        assert!(
            access.viewer(&headers(&[(header::COOKIE, pair)])).is_err(),
            "the oldest session ended"
        );
    }

    #[test]
    fn with_keys_a_request_needs_a_valid_key_or_a_session_made_with_one() {
        let key = ApiKeys::generate();
        let revoked = ApiKeys::generate();
        let keys = ApiKeys::default()
            .with_key("oncall", Scope::Read, &key)
            .and_then(|k| k.with_revoked("laptop", &revoked))
            .expect("keys");
        let access = Access::new(Some(KeySource::fixed(keys)), at("0.0.0.0:8088"));
        assert_eq!(access.token(), None);
        let denied = access.viewer(&HeaderMap::new()).expect_err("no key");
        assert!(!denied.browser);
        assert!(
            denied.reason.contains("Authorization: Bearer"),
            "{}",
            denied.reason
        );
        let bearer = format!("Bearer {key}");
        let viewer = access
            .viewer(&headers(&[(header::AUTHORIZATION, &bearer)]))
            .expect("a valid key");
        assert_eq!(viewer.who, "key:oncall");
        assert_eq!(
            access.login(&revoked).expect_err("revoked"),
            "key laptop was revoked"
        );
        let set_cookie = access.login(&key).expect("signed in");
        assert!(
            set_cookie.ends_with("; HttpOnly; SameSite=Strict; Path=/; Max-Age=43200"),
            "{set_cookie}"
        );
        assert!(!set_cookie.contains(&key), "the cookie is not the key");
        let pair = set_cookie.split(';').next().expect("pair");
        let from_cookie = access
            .viewer(&headers(&[(header::COOKIE, &format!("other=1; {pair}"))]))
            .expect("a session");
        assert_eq!(from_cookie.who, "key:oncall");
        assert!(
            access
                .viewer(&headers(&[(header::COOKIE, "retrace_view_8088=forged")]))
                .is_err()
        );
    }

    #[test]
    fn a_key_revoked_in_the_keys_file_ends_its_sessions_without_a_restart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keys");
        let key = ApiKeys::generate();
        std::fs::write(&path, ApiKeys::file_line("oncall", Scope::Read, &key)).expect("keys");
        let access = Access::new(
            Some(KeySource::file(path.clone()).expect("keys file")),
            LOOPBACK,
        );
        let set_cookie = access.login(&key).expect("signed in");
        let pair = set_cookie.split(';').next().expect("pair");
        let session = headers(&[(header::COOKIE, pair), (header::ACCEPT, "text/html")]);
        assert!(access.viewer(&session).is_ok());

        // The key's line becomes a revocation; the file's time moves on.
        let revoked = format!(
            "oncall revoked blake3:{}\n",
            blake3::hash(key.as_bytes()).to_hex()
        );
        std::fs::write(&path, revoked).expect("revoked");
        let file = std::fs::File::options()
            .write(true)
            .open(&path)
            .expect("open");
        file.set_modified(std::time::SystemTime::now() + Duration::from_secs(60))
            .expect("mtime");

        let denied = access.viewer(&session).expect_err("revoked");
        assert_eq!(denied.reason, "key oncall was revoked");
        assert!(denied.browser, "a browser is sent to sign in again");
        assert!(access.sessions.lock().is_empty(), "the session is gone");
        let bearer = format!("Bearer {key}");
        assert!(
            access
                .viewer(&headers(&[(header::AUTHORIZATION, &bearer)]))
                .is_err()
        );
    }
}
