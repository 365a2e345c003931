//! Who may look. On loopback (the default) the viewer trusts the machine's users, as
//! the recording directory's permissions do, but checks the `Host` header, so a web
//! page elsewhere cannot reach it through DNS rebinding. With a keys file every
//! request needs an API key with at least the `read` scope: a browser signs in once on
//! `/login` (the key is exchanged for a random session cookie, so the key itself is not
//! sent again), a script sends `Authorization: Bearer KEY`.

use std::collections::HashMap;

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use parking_lot::Mutex;
use retrace_tower::admin::{ApiKeys, Caller};

/// The session cookie's name.
const COOKIE: &str = "retrace_view";

/// Who is looking at a page, as the audit log names them.
#[derive(Clone, Debug)]
pub(crate) struct Viewer {
    /// `cli:USER` on loopback without keys, `key:ID` with a key.
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

/// Why a request was refused.
#[derive(Debug)]
pub(crate) enum Denied {
    /// No key, or a key that is not valid: a browser goes to `/login`.
    SignIn { browser: bool, reason: String },
}

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        match self {
            Self::SignIn { browser: true, .. } => Redirect::to("/login").into_response(),
            Self::SignIn { reason, .. } => (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                reason,
            )
                .into_response(),
        }
    }
}

/// The viewer's access rules and its signed-in browsers.
pub(crate) struct Access {
    keys: Option<ApiKeys>,
    loopback: bool,
    sessions: Mutex<HashMap<String, Viewer>>,
}

impl Access {
    /// Rules for a viewer listening on loopback or not, with or without keys.
    pub(crate) fn new(keys: Option<ApiKeys>, loopback: bool) -> Self {
        Self {
            keys,
            loopback,
            sessions: Mutex::new(HashMap::new()),
        }
    }

    /// On loopback, the `Host` must name this machine (`127.0.0.1`, `localhost`,
    /// `[::1]`, any port): a request for another name came through a rebound DNS name.
    pub(crate) fn check_host(&self, headers: &HeaderMap) -> Result<(), String> {
        if !self.loopback {
            return Ok(());
        }
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        let name = match host.strip_prefix('[') {
            Some(rest) => rest.split(']').next().unwrap_or(""),
            None => host.split(':').next().unwrap_or(""),
        };
        if matches!(name, "127.0.0.1" | "localhost" | "::1") {
            Ok(())
        } else {
            Err(format!(
                "this viewer listens on loopback and answers only for 127.0.0.1 or \
                 localhost, not Host {host:?}"
            ))
        }
    }

    /// Who sends these headers: the local user when no keys are set, else the holder
    /// of the session cookie or bearer key.
    pub(crate) fn viewer(&self, headers: &HeaderMap) -> Result<Viewer, Denied> {
        let Some(keys) = &self.keys else {
            return Ok(Viewer::local());
        };
        let browser = headers
            .get(header::ACCEPT)
            .and_then(|a| a.to_str().ok())
            .is_some_and(|a| a.contains("text/html"));
        let denied = |reason: &str| Denied::SignIn {
            browser,
            reason: reason.to_owned(),
        };
        if let Some(token) = cookie(headers)
            && let Some(viewer) = self.sessions.lock().get(token)
        {
            return Ok(viewer.clone());
        }
        let Some(key) = headers
            .get(header::AUTHORIZATION)
            .and_then(|a| a.to_str().ok())
            .and_then(|a| a.strip_prefix("Bearer "))
        else {
            return Err(denied("an API key is needed: Authorization: Bearer KEY"));
        };
        identify(keys, key.trim()).map_err(|reason| denied(&reason))
    }

    /// Signs a browser in with `key`: the `Set-Cookie` value of its new session, or why
    /// the key was refused.
    pub(crate) fn login(&self, key: &str) -> Result<String, String> {
        let Some(keys) = &self.keys else {
            return Err("this viewer asks for no key".to_owned());
        };
        let viewer = identify(keys, key.trim())?;
        let token = {
            use rand::RngCore;
            let mut bytes = [0u8; 32];
            rand::rng().fill_bytes(&mut bytes);
            bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
        };
        self.sessions.lock().insert(token.clone(), viewer);
        Ok(format!(
            "{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/"
        ))
    }
}

fn identify(keys: &ApiKeys, key: &str) -> Result<Viewer, String> {
    match keys.identify(key) {
        Caller::Key { id, .. } => Ok(Viewer {
            who: format!("key:{id}"),
        }),
        Caller::Revoked(id) => Err(format!("key {id} was revoked")),
        Caller::Unknown => Err("not a key in this viewer's keys file".to_owned()),
    }
}

/// The session token in the request's cookies.
fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='))
}

#[cfg(test)]
mod tests {
    use super::*;
    use retrace_tower::admin::Scope;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(name, value.parse().expect("header value"));
        }
        map
    }

    #[test]
    fn on_loopback_only_hosts_naming_this_machine_are_served() {
        let access = Access::new(None, true);
        for host in ["127.0.0.1:8080", "localhost", "[::1]:9", "localhost:1"] {
            assert!(
                access.check_host(&headers(&[(header::HOST, host)])).is_ok(),
                "{host}"
            );
        }
        for host in ["evil.example:8080", "127.0.0.1.evil.example", ""] {
            let err = access
                .check_host(&headers(&[(header::HOST, host)]))
                .expect_err(host);
            assert!(
                err.contains("answers only for 127.0.0.1 or localhost"),
                "{err}"
            );
        }
        assert!(
            Access::new(None, false)
                .check_host(&HeaderMap::new())
                .is_ok()
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
        let access = Access::new(Some(keys), false);
        match access.viewer(&HeaderMap::new()) {
            Err(Denied::SignIn { browser, reason }) => {
                assert!(!browser);
                assert!(reason.contains("Authorization: Bearer"), "{reason}");
            }
            Ok(v) => panic!("let in without a key: {v:?}"),
        }
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
        assert!(set_cookie.ends_with("; HttpOnly; SameSite=Strict; Path=/"));
        assert!(!set_cookie.contains(&key), "the cookie is not the key");
        let pair = set_cookie.split(';').next().expect("pair");
        let from_cookie = access
            .viewer(&headers(&[(header::COOKIE, &format!("other=1; {pair}"))]))
            .expect("a session");
        assert_eq!(from_cookie.who, "key:oncall");
        assert!(
            access
                .viewer(&headers(&[(header::COOKIE, "retrace_view=forged")]))
                .is_err()
        );
    }
}
