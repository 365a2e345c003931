use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Uri};
use serde_json::{Value, json};

use super::*;

fn header_map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for &(name, value) in pairs {
        map.append(name, HeaderValue::from_static(value));
    }
    map
}

fn pairs(headers: &[Header]) -> Vec<(&str, &[u8])> {
    headers
        .iter()
        .map(|h| (h.name.as_ref(), h.value.as_ref()))
        .collect()
}

fn uri(text: &str) -> Uri {
    text.parse().expect("valid test URI")
}

fn json_of(bytes: &Bytes) -> Value {
    serde_json::from_slice(bytes).expect("redacted body is JSON")
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn pseudonymiser(key: [u8; 32]) -> Redaction {
    Redaction::builder()
        .mode(RedactionMode::Pseudonymise)
        .key(key)
        .build()
        .expect("valid settings")
}

// ---- headers ----

#[test]
fn default_headers_are_redacted_others_untouched_order_and_duplicates_kept() {
    let map = header_map(&[
        ("authorization", "Bearer abc.def"),
        ("accept", "application/json"),
        ("cookie", "session=1"),
        ("cookie", "theme=dark"),
        ("x-request-id", "r-1"),
        ("x-request-id", "r-2"),
        ("proxy-authorization", "Basic Zm9vOmJhcg=="),
        ("set-cookie", "id=2; HttpOnly"),
        ("x-api-key", "k-123"),
        ("x-retrace-record", "trigger-token"),
        ("content-type", "text/plain"),
    ]);
    let recorded = Redaction::default().headers(&map);
    assert_eq!(
        pairs(&recorded),
        vec![
            ("authorization", &b"Bearer [redacted]"[..]),
            ("accept", b"application/json"),
            ("cookie", b"session=[redacted]"),
            ("cookie", b"theme=[redacted]"),
            ("x-request-id", b"r-1"),
            ("x-request-id", b"r-2"),
            ("proxy-authorization", b"Basic [redacted]"),
            ("set-cookie", b"id=[redacted]; HttpOnly"),
            ("x-api-key", b"[redacted]"),
            ("x-retrace-record", b"[redacted]"),
            ("content-type", b"text/plain"),
        ]
    );
}

#[test]
fn a_credential_keeps_its_scheme_as_sent() {
    // The scheme's spelling and the spaces after it are kept whichever way they are
    // sent (`REDACTED_CREDENTIALS` holds the common spelling with one space).
    let cases = [
        ("Bearer abc.def", "Bearer [redacted]"),
        ("bearer abc.def", "bearer [redacted]"),
        ("BASIC  Zm9vOmJhcg==", "BASIC  [redacted]"),
        (
            "AWS4-HMAC-SHA256 Credential=AKID/x",
            "AWS4-HMAC-SHA256 [redacted]",
        ),
        ("Unknown abc", "[redacted]"),
        ("Bearer ", "[redacted]"),
    ];
    for (sent, recorded) in cases {
        let map = header_map(&[("authorization", sent)]);
        let headers = Redaction::default().headers(&map);
        assert_eq!(
            pairs(&headers),
            vec![("authorization", recorded.as_bytes())],
            "{sent:?}"
        );
    }
    for (scheme, replaced) in AUTH_SCHEMES.iter().zip(REDACTED_CREDENTIALS) {
        assert_eq!(*replaced, format!("{scheme} {REDACTED}"));
    }
    // The usual spelling is replaced by the static value itself, with no allocation.
    let map = header_map(&[("authorization", "Bearer abc.def")]);
    let headers = Redaction::default().headers(&map);
    assert_eq!(headers[0].value.as_ptr(), REDACTED_CREDENTIALS[0].as_ptr());
}

#[test]
fn a_header_whose_verdict_is_taken_when_the_rules_are_built_follows_the_rules() {
    // Protocol headers skip the name test, and common credential headers take its
    // verdict once, only as the rules say: a protocol header a team lists is redacted,
    // a credential header it allows (or every one, without the default names) is kept.
    const PROTOCOL: &[(&str, &str)] = &[("etag", "\"v-2024-abc\""), ("content-type", "text/plain")];
    const CREDENTIAL: &[(&str, &str)] = &[("authorization", "Bearer abc"), ("cookie", "sid=1")];
    /// What a case is: its name, the rules, a head, the head as recorded.
    type Case = (
        &'static str,
        Redaction,
        &'static [(&'static str, &'static str)],
        [(&'static str, &'static [u8]); 2],
    );
    let build = |builder: RedactionBuilder| builder.build().expect("valid settings");
    let cases: [Case; 4] = [
        (
            "a listed protocol header",
            build(Redaction::builder().name("etag")),
            PROTOCOL,
            [
                ("etag", REDACTED.as_bytes()),
                ("content-type", b"text/plain"),
            ],
        ),
        (
            "a protocol header added to the defaults",
            Redaction::default().with_secret_name("content-type"),
            PROTOCOL,
            [
                ("etag", b"\"v-2024-abc\""),
                ("content-type", REDACTED.as_bytes()),
            ],
        ),
        (
            "an allowed credential header",
            build(Redaction::builder().allow_name("authorization")),
            CREDENTIAL,
            [
                ("authorization", b"Bearer abc"),
                ("cookie", b"sid=[redacted]"),
            ],
        ),
        (
            "no default names",
            build(Redaction::builder().without_default_names()),
            CREDENTIAL,
            [("authorization", b"Bearer abc"), ("cookie", b"sid=1")],
        ),
    ];
    for (case, rules, headers, expected) in cases {
        assert_eq!(
            pairs(&rules.headers(&header_map(headers))),
            expected,
            "{case}"
        );
    }
}

#[test]
fn header_names_are_case_insensitive() {
    let redaction = Redaction::builder()
        .name("X-Session-Id2")
        .build()
        .expect("valid settings");
    let mut map = HeaderMap::new();
    map.insert("X-SESSION-ID2", HeaderValue::from_static("s"));
    map.insert("Authorization", HeaderValue::from_static("t"));
    assert_eq!(
        pairs(&redaction.headers(&map)),
        vec![
            ("x-session-id2", &b"[redacted]"[..]),
            ("authorization", b"[redacted]"),
        ]
    );
    assert!(redaction.is_secret_name("AUTHORIZATION"));
    assert!(redaction.is_secret_name("x_session_id2"));
    assert!(redaction.is_secret_name("xSessionId2"));
    assert!(!redaction.is_secret_name("accept"));
}

#[test]
fn without_default_names_keeps_only_added_ones() {
    let redaction = Redaction::builder()
        .without_default_names()
        .name("x-mine")
        .build()
        .expect("valid settings");
    let map = header_map(&[("authorization", "visible"), ("x-mine", "hidden")]);
    assert_eq!(
        pairs(&redaction.headers(&map)),
        vec![
            ("authorization", &b"visible"[..]),
            ("x-mine", b"[redacted]")
        ]
    );
}

#[test]
fn empty_header_values_stay_empty() {
    let map = header_map(&[("authorization", "")]);
    assert_eq!(
        pairs(&Redaction::default().headers(&map)),
        vec![("authorization", &b""[..])]
    );
}

#[test]
fn disabled_redacts_nothing() {
    let redaction = Redaction::disabled();
    let map = header_map(&[("authorization", "Bearer t"), ("cookie", "c=1")]);
    assert_eq!(
        pairs(&redaction.headers(&map)),
        vec![("authorization", &b"Bearer t"[..]), ("cookie", b"c=1")]
    );
    assert_eq!(redaction.uri(&uri("/a?token=t")), "/a?token=t");
    assert!(!redaction.inspects_bodies());
    assert_eq!(redaction.body(None, br#"{"password":"p"}"#), None);
}

#[test]
fn a_name_without_letters_is_an_error_naming_it() {
    let err = Redaction::builder()
        .name("--")
        .build()
        .expect_err("nothing to compare");
    assert!(matches!(&err, RedactionError::InvalidName { name } if name == "--"));
    assert!(err.to_string().contains("\"--\""), "{err}");
}

// ---- query parameters ----

#[test]
fn query_values_are_redacted_and_the_rest_is_byte_identical() {
    let redaction = Redaction::default();
    let cases = [
        (
            "/search?q=caf%C3%A9+au+lait&token=abc123&flag&empty=&Access_Token=xyz&x=1%262",
            "/search?q=caf%C3%A9+au+lait&token=%5Bredacted%5D&flag&empty=&Access_Token=%5Bredacted%5D&x=1%262",
        ),
        (
            "https://api.example.com:8443/v1/items?page=2&api_key=k%2Fy%3D&sort=-name",
            "https://api.example.com:8443/v1/items?page=2&api_key=%5Bredacted%5D&sort=-name",
        ),
        // A parameter without a value, an empty value, a repeated one, `;` as separator and
        // a percent-encoded name.
        (
            "/p?token&token=&token=1;secret=2&access%5Ftoken=3&sig=a=b",
            // `;secret=2` is part of the redacted value: most servers read `1;secret=2`
            // as the value of `token`.
            "/p?token&token=&token=%5Bredacted%5D&access%5Ftoken=%5Bredacted%5D&sig=%5Bredacted%5D",
        ),
        ("/fragment?token=t#top", "/fragment?token=%5Bredacted%5D"),
        ("/no/query", "/no/query"),
        ("/nothing/listed?a=1&b=%20&c", "/nothing/listed?a=1&b=%20&c"),
        ("/trailing?a=1&", "/trailing?a=1&"),
        ("/empty?", "/empty?"),
        ("*", "*"),
    ];
    for (input, expected) in cases {
        let redacted = redaction.uri(&uri(input));
        assert_eq!(redacted, expected, "{input}");
        // The recorded target is still a valid URI.
        redacted.parse::<Uri>().expect("redacted URI parses");
    }
}

#[test]
fn query_names_are_configurable_and_exceptions_kept() {
    let redaction = Redaction::builder()
        .without_default_names()
        .name("Mine")
        .build()
        .expect("valid settings");
    assert_eq!(
        redaction.uri(&uri("/maps?MINE=x1&token=t")),
        "/maps?MINE=%5Bredacted%5D&token=t"
    );
    // `key` is a secret as a parameter, not as a JSON member; a page token is a cursor.
    let r = Redaction::default();
    assert_eq!(
        r.uri(&uri("/maps?key=abc&pageToken=p2")),
        "/maps?key=%5Bredacted%5D&pageToken=p2"
    );
    assert_eq!(
        r.body(None, br#"{"key":"color","nextPageToken":"p2"}"#),
        None
    );
}

// ---- JSON bodies ----

#[test]
fn json_top_level_password_is_redacted_by_default() {
    let redaction = Redaction::default();
    assert!(redaction.inspects_bodies());
    let body = redaction
        .body(
            Some(b"application/json"),
            br#"{"user": "ann", "password": "hunter2"}"#,
        )
        .expect("matched");
    assert_eq!(
        json_of(&body),
        json!({"user": "ann", "password": "[redacted]"})
    );
    assert!(!contains(&body, b"hunter2"));
}

#[test]
fn every_element_of_an_array_is_judged_by_its_member_names() {
    // The walk remembers each name's verdict: the same name is secret in every element,
    // a name equal to a secret name's value is not, and names past the ones remembered
    // are still tested.
    let mut members: Vec<String> = (0..40).map(|i| format!(r#""k{i}": "v{i}""#)).collect();
    members.push(r#""password": "late-secret""#.to_owned());
    let body = format!(
        r#"[{{"token": "first-secret", "id": "token"}}, {{"token": "second-secret", "id": "token"}}, {{{}}}]"#,
        members.join(", ")
    );
    let redacted = Redaction::default()
        .body(Some(b"application/json"), body.as_bytes())
        .expect("secrets found");
    let document = json_of(&redacted);
    assert_eq!(document[0], json!({"token": "[redacted]", "id": "token"}));
    assert_eq!(document[1], json!({"token": "[redacted]", "id": "token"}));
    assert_eq!(document[2]["password"], json!("[redacted]"));
    assert_eq!(document[2]["k39"], json!("v39"));
    for secret in ["first-secret", "second-secret", "late-secret"] {
        assert!(!contains(&redacted, secret.as_bytes()), "{secret}");
    }
}

#[test]
fn json_descendant_path_matches_at_every_depth_whatever_the_value() {
    let redaction = Redaction::builder()
        .without_default_names()
        .json_path("$..token")
        .build()
        .expect("valid settings");
    let body = br#"{
        "token": "t0",
        "a": {"b": [{"token": "t1"}, {"c": {"token": {"nested": "t2"}}}, {"token": 42}]},
        "token_type": "bearer",
        "tokens": ["t3"]
    }"#;
    let redacted = redaction.body(None, body).expect("matched");
    assert_eq!(
        json_of(&redacted),
        json!({
            "token": "[redacted]",
            "a": {"b": [{"token": "[redacted]"}, {"c": {"token": "[redacted]"}}, {"token": "[redacted]"}]},
            "token_type": "bearer",
            "tokens": ["t3"]
        })
    );
    for secret in [&b"t0"[..], b"t1", b"t2", b"42"] {
        assert!(!contains(&redacted, secret));
    }
}

#[test]
fn json_array_wildcard() {
    let redaction = Redaction::builder()
        .json_path("$.users[*].nick")
        .build()
        .expect("valid settings");
    let body = br#"{"users":[{"name":"a","nick":"ada"},{"name":"b"},{"name":"c","nick":null}],"nick":"top"}"#;
    let redacted = redaction.body(None, body).expect("matched");
    assert_eq!(
        json_of(&redacted),
        json!({
            "users": [
                {"name": "a", "nick": "[redacted]"},
                {"name": "b"},
                {"name": "c", "nick": "[redacted]"}
            ],
            "nick": "top"
        })
    );
}

#[test]
fn json_root_path_replaces_the_whole_body() {
    let redaction = Redaction::builder()
        .json_path("$")
        .build()
        .expect("valid settings");
    assert_eq!(
        redaction.body(None, br#"[1, 2]"#),
        Some(Bytes::from_static(b"\"[redacted]\""))
    );
}

#[test]
fn bodies_without_secrets_give_none() {
    let redaction = Redaction::default();
    for body in [
        &b""[..],
        b"\xff\xfe binary",
        b"<p>reset your password from the settings page</p>",
        br#"{"user":"ann","total_tokens":3,"token_type":"bearer"}"#,
        br#""password""#,
        b"42",
        b"page=2&sort=name",
        br#"{"created_ms":1733456789123,"id":"4111111111111112"}"#,
    ] {
        assert_eq!(redaction.body(None, body), None, "{body:?}");
    }
}

#[test]
fn bad_json_path_is_an_error_naming_it() {
    let err = Redaction::builder()
        .json_path("$.users[")
        .build()
        .expect_err("unterminated bracket");
    assert!(
        matches!(&err, RedactionError::InvalidJsonPath { pattern, .. } if pattern == "$.users["),
        "{err:?}"
    );
    assert!(err.to_string().contains("\"$.users[\""), "{err}");
}

#[test]
fn every_default_is_valid() {
    let redaction = Redaction::default();
    for rule in DEFAULT_SECRET_NAMES {
        assert_eq!(
            names::normalise(rule.name),
            rule.name,
            "rules are normalised"
        );
        assert!(redaction.is_secret_name(rule.name), "{}", rule.name);
    }
    for (name, _) in NAME_EXCEPTIONS {
        assert!(!redaction.is_secret_name(name), "{name}");
    }
    assert_eq!(redaction.mode(), RedactionMode::Remove);
    assert_eq!(redaction.key_source(), None);
    // The builder's defaults are the same rules.
    let built = Redaction::builder().build().expect("defaults are valid");
    assert_eq!(format!("{built:?}"), format!("{redaction:?}"));
}

// ---- pseudonymisation ----

#[test]
fn pseudonyms_are_stable_keyed_and_opaque() {
    let a = pseudonymiser([1; 32]);
    let b = pseudonymiser([2; 32]);
    let secret = b"Bearer eyJhbGciOi.secret-value";

    let first = a.replace(secret);
    assert_eq!(first, a.replace(secret), "equal secrets give equal output");
    assert_eq!(
        first,
        pseudonymiser([1; 32]).replace(secret),
        "same key, same output"
    );
    assert_ne!(
        first,
        b.replace(secret),
        "different keys give different output"
    );
    assert_ne!(first, a.replace(b"Bearer eyJhbGciOi.secret-valuf"));

    let text = std::str::from_utf8(&first).expect("ASCII");
    let hex = text.strip_prefix(PSEUDONYM_PREFIX).expect("prefix");
    assert_eq!(hex.len(), 32);
    assert!(hex.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')));
    assert!(!contains(&first, b"secret"));
    assert_eq!(Redaction::default().replace(secret), REDACTED);
}

#[test]
fn pseudonymise_never_writes_the_secret_and_agrees_across_places() {
    let redaction = pseudonymiser([9; 32]);
    let secret = "s3cr3t-t0ken";

    let mut map = HeaderMap::new();
    map.insert("x-api-key", HeaderValue::from_static("s3cr3t-t0ken"));
    let headers = redaction.headers(&map);
    let uri = redaction.uri(&uri("/x?api_key=s3cr3t%2Dt0ken"));
    let body = redaction
        .body(
            None,
            br#"{"api_key":"s3cr3t-t0ken","n":{"password":12345}}"#,
        )
        .expect("matched");

    let expected = redaction.replace(secret.as_bytes());
    assert_eq!(headers[0].value, expected);
    assert_eq!(
        uri,
        format!(
            "/x?api_key={}",
            std::str::from_utf8(&expected).expect("ASCII")
        )
    );
    let document = json_of(&body);
    assert_eq!(
        document["api_key"],
        std::str::from_utf8(&expected).expect("ASCII")
    );
    assert_eq!(
        document["n"]["password"],
        std::str::from_utf8(&redaction.replace(b"12345")).expect("ASCII")
    );
    for recorded in [&headers[0].value[..], uri.as_bytes(), &body] {
        assert!(!contains(recorded, secret.as_bytes()));
        assert!(!contains(recorded, b"12345"));
    }
}

#[test]
fn key_comes_from_builder_then_environment_then_process() {
    let hex = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";
    let mut key = [0u8; 32];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = (i % 16) as u8 * 0x11;
    }

    let from_env = Redaction::builder()
        .mode(RedactionMode::Pseudonymise)
        .with_env_vars([(KEY_ENV, format!("  {hex}\n"))])
        .build()
        .expect("valid key");
    assert_eq!(from_env.key_source(), Some(KeySource::Environment));
    assert_eq!(from_env.replace(b"x"), pseudonymiser(key).replace(b"x"));

    let from_builder = Redaction::builder()
        .mode(RedactionMode::Pseudonymise)
        .key([3; 32])
        .with_env_vars([(KEY_ENV, "not even hex")])
        .build()
        .expect("the builder's key wins; the environment is not read");
    assert_eq!(from_builder.key_source(), Some(KeySource::Builder));
    assert_eq!(
        from_builder.replace(b"x"),
        pseudonymiser([3; 32]).replace(b"x")
    );

    let no_env: [(&str, &str); 0] = [];
    let per_process = || {
        Redaction::builder()
            .mode(RedactionMode::Pseudonymise)
            .with_env_vars(no_env)
            .build()
            .expect("valid settings")
    };
    let (p1, p2) = (per_process(), per_process());
    assert_eq!(p1.key_source(), Some(KeySource::PerProcess));
    assert_eq!(p1.replace(b"x"), p2.replace(b"x"), "one key per process");
    assert_ne!(p1.replace(b"x"), from_env.replace(b"x"));
}

#[test]
fn bad_environment_key_is_an_error_naming_the_variable_but_hiding_the_value() {
    for value in ["", "abc", &"g".repeat(64), &"a".repeat(66)] {
        let err = Redaction::builder()
            .mode(RedactionMode::Pseudonymise)
            .with_env_vars([(KEY_ENV, value)])
            .build()
            .expect_err("bad key");
        match &err {
            RedactionError::InvalidEnv {
                var, value: got, ..
            } => {
                assert_eq!(*var, "RETRACE_REDACTION_KEY");
                assert_eq!(
                    got,
                    &format!("<{} characters, hidden>", value.chars().count())
                );
            }
            other => panic!("{other:?}"),
        }
        let message = err.to_string();
        assert!(message.contains("RETRACE_REDACTION_KEY"), "{message}");
        assert!(
            value.is_empty() || !message.contains(value),
            "the key leaked: {message}"
        );
    }
    // Remove mode never needs a key, so it never reads the variable.
    Redaction::builder()
        .with_env_vars([(KEY_ENV, "abc")])
        .build()
        .expect("remove mode ignores the key");
}

#[test]
fn debug_never_shows_the_key() {
    let builder = Redaction::builder()
        .mode(RedactionMode::Pseudonymise)
        .key([0xab; 32]);
    let shown = format!("{builder:?}");
    assert!(!shown.contains("171"), "{shown}");
    let redaction = builder.build().expect("valid settings");
    let shown = format!("{redaction:?}");
    assert!(!shown.contains("171") && !shown.contains("abab"), "{shown}");
    assert!(shown.contains("Pseudonymise"), "{shown}");
}

#[test]
fn redaction_is_cheap_to_share() {
    fn assert_send_sync_clone<T: Send + Sync + Clone + 'static>() {}
    assert_send_sync_clone::<Redaction>();
    let a = Redaction::default();
    let b = a.clone();
    assert!(std::sync::Arc::ptr_eq(&a.inner, &b.inner));
}

#[test]
fn escaped_names_cannot_slip_past_the_prefilter() {
    let r = Redaction::default();
    // "pass\u0077ord" is "password" spelled with an escape.
    let body = br#"{"user":"ada","pass\u0077ord":"hunter2"}"#;
    let out = r.body(None, body).expect("redacted");
    assert!(!out.windows(7).any(|w| w == b"hunter2"), "{out:?}");
}

#[test]
fn uris_are_printed_as_http_prints_them() {
    for text in [
        "/",
        "/orders/7?expand=items&x=1",
        "http://inventory.local:8080/stock/9?sku=1",
        "https://example.com",
        "example.com:443",
        "*",
        "/a%20b?q=%22quoted%22",
    ] {
        let uri: http::Uri = text.parse().expect("a valid uri");
        assert_eq!(
            super::printed_uri(&uri, String::new()),
            uri.to_string(),
            "{text}"
        );
    }
}

#[test]
fn a_body_naming_a_secret_that_does_not_parse_is_withheld_whole() {
    let redaction = Redaction::default();
    // Cut at the body cap in the middle of the secret: nothing of it may be kept.
    let cut = br#"{"user":"ann","password":"hunt"#;
    assert_eq!(
        redaction.body(Some(b"application/json"), cut).as_deref(),
        Some(&b"[redacted]"[..])
    );
    let pseudonymised = Redaction::builder()
        .mode(RedactionMode::Pseudonymise)
        .key([7; 32])
        .build()
        .expect("valid redaction");
    let once = pseudonymised
        .body(Some(b"application/json"), cut)
        .expect("withheld");
    assert!(!contains(&once, b"hunt"));
    assert_eq!(
        pseudonymised.body(Some(b"application/json"), cut),
        Some(once),
        "same body, same pseudonym"
    );
}

// ---- names as people write them ----

#[test]
fn names_match_whatever_their_case_and_separators() {
    let r = Redaction::default();
    for name in [
        "token",
        "accessToken",
        "access-token",
        "ACCESS_TOKEN",
        "refresh-token",
        "id_token",
        "x-auth-token",
        "csrfToken",
        "Password",
        "new_password_confirm",
        "passwd",
        "pwd",
        "apiKey",
        "API-KEY",
        "x-goog-api-key",
        "privateKey",
        "private_key_pem",
        "aws_secret_access_key",
        "SecretAccessKey",
        "client_secret",
        "webhookSecret",
        "sessionId",
        "JSESSIONID",
        "PHPSESSID",
        "session",
        "Stripe-Signature",
        "X-Hub-Signature-256",
        "x-shopify-hmac-sha256",
        "otp",
        "totp",
        "pin",
        "ssn",
        "cardNumber",
        "credit_card_number",
        "pan",
        "cvv",
        "cvc",
        "set-cookie",
        "cookie",
        "proxy-authorization",
        "credentials",
        "sig",
    ] {
        assert!(r.is_secret_name(name), "{name} should be a secret's name");
    }
    for name in [
        "user",
        "total_tokens",
        "token_type",
        "nextPageToken",
        "continuationToken",
        "keyword",
        "public_key",
        "pinned",
        "spinner",
        "sessions_count",
        "signal",
        "company",
        "content-type",
        "access-control-allow-credentials",
        "idempotency-key",
        "sec-websocket-key",
    ] {
        assert!(
            !r.is_secret_name(name),
            "{name} should not be a secret's name"
        );
    }
}

#[test]
fn a_named_json_member_loses_its_whole_value_at_any_depth() {
    let r = Redaction::default();
    let body =
        br#"{"data":{"Credentials":{"user":"u","pass":"p-1"},"list":[{"refresh-token":"rt-1"}],
        "apiKey":"ak-1","sessionId":42,"ok":true,"empty_token":""}}"#;
    let out = json_of(&r.body(None, body).expect("redacted"));
    assert_eq!(
        out,
        json!({"data":{"Credentials":"[redacted]","list":[{"refresh-token":"[redacted]"}],
            "apiKey":"[redacted]","sessionId":"[redacted]","ok":true,"empty_token":""}})
    );
}

// ---- values, whatever their name ----

const JWT: &str =
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";

#[test]
fn a_text_that_repeats_its_words_has_every_assignment_judged() {
    // A scan remembers the name test's verdict on each word it met: a word repeated
    // keeps its verdict (`span` is no name, `password` is one, each time), and words
    // past the ones remembered are still tested.
    let mut text = String::from("<span>a</span> password=first1 <span>b</span> password=second2");
    for i in 0..20 {
        text.push_str(&format!(" key{i}x=v"));
    }
    text.push_str(" pin=4321 <span>c</span>");
    let redacted = Redaction::default()
        .body(Some(b"text/html"), text.as_bytes())
        .expect("secrets found");
    let redacted = std::str::from_utf8(&redacted).expect("text");
    assert!(
        redacted.starts_with(
            "<span>a</span> password=[redacted] <span>b</span> password=[redacted] key0x=v"
        ),
        "{redacted}"
    );
    assert!(
        redacted.ends_with(" pin=[redacted] <span>c</span>"),
        "{redacted}"
    );
}

#[test]
fn detectors_find_secrets_in_free_text_and_keep_the_rest() {
    let r = Redaction::default();
    let cases: &[(&str, &str)] = &[
        (&format!("token is {JWT}."), "token is [redacted]."),
        (
            "Authorization: Bearer abc123def456",
            "Authorization: Bearer [redacted]",
        ),
        (
            "auth Basic dXNlcjpwYXNzd29yZA== end",
            "auth Basic [redacted] end",
        ),
        ("key AKIAIOSFODNN7EXAMPLE here", "key [redacted] here"),
        (
            "s wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY e",
            "s [redacted] e",
        ),
        (
            "stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc ok",
            "stripe [redacted] ok",
        ),
        (
            "hook whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLSkb",
            "hook [redacted]",
        ),
        (
            "gh ghp_16C7e42F292c6912E7710c838347Ae178B4a ok",
            "gh [redacted] ok",
        ),
        ("slack xoxb-2615-0000-abcdefghijk ok", "slack [redacted] ok"),
        (
            "card 4111-1111-1111-1111, amex 378282246310005.",
            "card [redacted], amex [redacted].",
        ),
        (
            "db postgres://app:hunter2@db:5432/x",
            "db postgres://app:[redacted]@db:5432/x",
        ),
        (
            "k -----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY----- done",
            "k [redacted] done",
        ),
        (
            "password: hunter2\nuser: ada",
            "password: [redacted]\nuser: ada",
        ),
    ];
    for (text, expected) in cases {
        let out = r
            .body(Some(b"text/plain"), text.as_bytes())
            .unwrap_or_else(|| panic!("{text}"));
        assert_eq!(std::str::from_utf8(&out).unwrap(), *expected, "{text}");
    }
    // Things that look a little like secrets and are not.
    for text in [
        "Basic authentication is disabled",
        "a token expired; bearer tokens rotate",
        "sha 3f786850e387550fdab836ed7e6dc881de23001b",
        "order 1733456789123 at 2024-01-05",
        "https://example.com/path?q=1",
        "4111111111111112 fails Luhn",
    ] {
        assert_eq!(r.body(Some(b"text/plain"), text.as_bytes()), None, "{text}");
    }
}

#[test]
fn header_values_and_uris_are_scanned_whatever_the_name() {
    let r = Redaction::default();
    let map = header_map(&[
        ("x-forwarded-jwt", JWT),
        ("x-debug", "user=ada password=hunter2"),
        ("accept", "application/json"),
    ]);
    assert_eq!(
        pairs(&r.headers(&map)),
        vec![
            ("x-forwarded-jwt", &b"[redacted]"[..]),
            ("x-debug", b"user=ada password=[redacted]"),
            ("accept", b"application/json"),
        ]
    );
    let target = format!("/reset/{JWT}?next=%2Fhome&q=sk_live_4eC39HqLyjWDarjtT1zdp7dc");
    assert_eq!(
        r.uri(&uri(&target)),
        "/reset/%5Bredacted%5D?next=%2Fhome&q=%5Bredacted%5D"
    ); // Absolute: the path is read past the host; a password before it is found.
    assert_eq!(
        r.uri(&uri(&format!("https://api.example.com:8443{target}"))),
        "https://api.example.com:8443/reset/%5Bredacted%5D?next=%2Fhome&q=%5Bredacted%5D"
    );
    assert_eq!(
        r.uri(&uri(&format!("http://app:hunter2@db.local/{JWT}"))),
        "http://app:%5Bredacted%5D@db.local/%5Bredacted%5D"
    );
}

#[test]
fn each_detector_can_be_turned_off_and_custom_ones_added() {
    let text = b"card 4111111111111111 key AKIAIOSFODNN7EXAMPLE emp EMP-123456";
    let r = Redaction::builder()
        .without_detector(DetectorKind::CardNumber)
        .detector(Detector::regex("employee", r"EMP-(?P<secret>\d{6})").unwrap())
        .detector(Detector::function("aws-free", |t: &str| {
            t.find("EMP").map(|_| Vec::new()).unwrap_or_default()
        }))
        .build()
        .unwrap();
    let out = r.body(Some(b"text/plain"), text).expect("found");
    assert_eq!(
        &out[..],
        b"card 4111111111111111 key [redacted] emp EMP-[redacted]"
    );
    let err = Detector::regex("broken", "(").expect_err("bad pattern");
    assert!(err.to_string().contains("broken"), "{err}");
}

// ---- bodies by what they are ----

#[test]
fn bodies_are_redacted_by_what_they_are_not_what_they_claim() {
    let r = Redaction::default();
    let form = Some(&b"application/x-www-form-urlencoded"[..]);
    let text = Some(&b"text/plain"[..]);
    // JSON sent with a form content type (curl -d).
    let out = r
        .body(form, br#"{"user":"ada","Password":"pw-1"}"#)
        .unwrap();
    assert_eq!(json_of(&out), json!({"user":"ada","Password":"[redacted]"}));
    // A form body, declared or not; names and values.
    for ct in [form, text, None] {
        let out = r
            .body(
                ct,
                b"grant_type=refresh_token&refresh_token=rt-1&client_secret=cs%2B1&scope=a+b",
            )
            .unwrap();
        assert_eq!(
            &out[..],
            &b"grant_type=refresh_token&refresh_token=%5Bredacted%5D&client_secret=%5Bredacted%5D&scope=a+b"[..]
        );
    }
    // JSON in a JSON string, and a GraphQL query with a literal argument.
    let nested = br#"{"payload":"{\"password\":\"pw-2\",\"n\":1}","query":"mutation { login(user: \"ada\", password: \"pw-3\") }"}"#;
    let out = r.body(None, nested).unwrap();
    assert!(
        !contains(&out, b"pw-2") && !contains(&out, b"pw-3"),
        "{out:?}"
    );
    assert!(contains(&out, b"ada"));
    // A multipart part named like a secret.
    let multipart = b"--b\r\nContent-Disposition: form-data; name=\"pin\"\r\n\r\n4321\r\n--b\r\nContent-Disposition: form-data; name=\"city\"\r\n\r\nOslo\r\n--b--\r\n";
    let out = r
        .body(Some(b"multipart/form-data; boundary=b"), multipart)
        .unwrap();
    assert!(!contains(&out, b"4321") && contains(&out, b"Oslo"));
    // Binary with a secret inside is replaced whole; without one it is kept.
    let mut binary = vec![0xff, 0x00, 0x12];
    binary.extend_from_slice(JWT.as_bytes());
    assert_eq!(
        r.body(Some(b"application/grpc"), &binary).as_deref(),
        Some(&b"[redacted]"[..])
    );
    assert_eq!(r.body(Some(b"application/grpc"), &[0xff, 0, 1, 2]), None);
}

#[test]
fn the_same_secret_gets_the_same_pseudonym_in_every_place() {
    let r = pseudonymiser([5; 32]);
    let secret = "tok-0123456789abcdef";
    let expected = String::from_utf8(r.replace(secret.as_bytes()).to_vec()).unwrap();
    let map = header_map(&[("authorization", "Bearer tok-0123456789abcdef")]);
    assert_eq!(
        pairs(&r.headers(&map))[0].1,
        format!("Bearer {expected}").as_bytes()
    );
    let body = r
        .body(None, br#"{"access_token":"tok-0123456789abcdef"}"#)
        .unwrap();
    assert_eq!(json_of(&body)["access_token"], expected.as_str());
    let text = r
        .body(Some(b"text/plain"), b"use Bearer tok-0123456789abcdef")
        .unwrap();
    assert_eq!(text, format!("use Bearer {expected}"));
    assert_eq!(
        r.uri(&uri("/x?token=tok-0123456789abcdef")),
        format!("/x?token={expected}")
    );
}

// ---- property: random documents never leak ----

mod property {
    use super::*;
    use proptest::prelude::*;

    /// A secret name in a random spelling.
    fn secret_name() -> impl Strategy<Value = String> {
        let words = prop::sample::select(vec![
            vec!["password"],
            vec!["access", "token"],
            vec!["refresh", "token"],
            vec!["api", "key"],
            vec!["client", "secret"],
            vec!["session", "id"],
            vec!["private", "key"],
            vec!["card", "number"],
            vec!["x", "auth", "token"],
            vec!["secret", "access", "key"],
        ]);
        let style = 0..5usize;
        (words, style).prop_map(|(words, style)| match style {
            0 => words.join("_"),
            1 => words.join("-"),
            2 => words.join("_").to_uppercase(),
            3 => words
                .iter()
                .enumerate()
                .map(|(i, w)| {
                    if i == 0 {
                        w.to_string()
                    } else {
                        w[..1].to_uppercase() + &w[1..]
                    }
                })
                .collect(),
            _ => words
                .iter()
                .map(|w| w[..1].to_uppercase() + &w[1..])
                .collect(),
        })
    }

    fn plain_name() -> impl Strategy<Value = String> {
        prop::sample::select(vec![
            "user", "items", "meta", "count", "city", "list", "data",
        ])
        .prop_map(str::to_owned)
    }

    /// A document with `secret` planted under a secret name at a random depth.
    fn document() -> impl Strategy<Value = (Value, String)> {
        let path = prop::collection::vec((plain_name(), any::<bool>()), 0..6);
        (
            path,
            secret_name(),
            "[A-Za-z0-9]{12,24}",
            plain_name(),
            "[a-z]{3,8}",
        )
            .prop_map(|(path, name, secret, filler_name, filler)| {
                let secret = format!("S3cr3t{secret}");
                let mut value = json!({ name: secret.clone(), filler_name: filler });
                for (key, in_array) in path.into_iter().rev() {
                    value = if in_array {
                        json!({ key: [1, value, "x"] })
                    } else {
                        json!({ key: value })
                    };
                }
                (value, secret)
            })
    }

    proptest! {
        #[test]
        fn planted_secrets_never_survive((document, secret) in document(), compact in any::<bool>()) {
            let text = if compact {
                serde_json::to_vec(&document).unwrap()
            } else {
                serde_json::to_vec_pretty(&document).unwrap()
            };
            for r in [Redaction::default(), pseudonymiser([3; 32])] {
                let out = r.body(None, &text).expect("a secret was planted");
                prop_assert!(!contains(&out, secret.as_bytes()), "{}", String::from_utf8_lossy(&out));
                let parsed: Value = serde_json::from_slice(&out).expect("still JSON");
                prop_assert_eq!(shape(&parsed), shape(&document));
            }
        }
    }

    /// The document's keys and nesting, without leaf values.
    fn shape(value: &Value) -> Value {
        match value {
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            if v.is_object() || v.is_array() {
                                shape(v)
                            } else {
                                Value::Null
                            },
                        )
                    })
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.iter().map(shape).collect()),
            _ => Value::Null,
        }
    }
}

// ---- the README's table is the list ----

/// The README's table of secret names, as the lists make it.
fn names_table() -> String {
    let mut out =
        String::from("| name (normalised) | matches | where | why |\n|---|---|---|---|\n");
    for rule in DEFAULT_SECRET_NAMES {
        let matches = match rule.matches {
            NameMatch::Exact => "the whole name",
            NameMatch::Suffix => "the end of the name",
            NameMatch::Contains => "anywhere in the name",
        };
        let place = match rule.scope {
            NameScope::Everywhere => "everywhere",
            NameScope::Parameters => "query and form parameters",
        };
        out.push_str(&format!(
            "| `{}` | {matches} | {place} | {} |\n",
            rule.name, rule.reason
        ));
    }
    for (name, reason) in NAME_EXCEPTIONS {
        out.push_str(&format!(
            "| `{name}` | kept (exception) | everywhere | {reason} |\n"
        ));
    }
    out
}

#[test]
fn the_readme_table_of_names_is_the_default_list() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md at the workspace root");
    let table = names_table();
    assert!(
        readme.contains(&table),
        "README.md's table of secret names differs from DEFAULT_SECRET_NAMES and NAME_EXCEPTIONS; \
         replace it with:\n{table}"
    );
}

// ---- cases a review found ----

#[test]
fn reviewed_cases_are_redacted() {
    let r = Redaction::default();
    let text = Some(&b"text/plain"[..]);
    for (input, secret) in [
        ("GITHUB_TOKEN = abcdefabcdef", "abcdefabcdef"),
        ("api_token : s3cr3t-value", "s3cr3t-value"),
        ("user[password]=hunter2 ok", "hunter2"),
    ] {
        let out = r
            .body(text, input.as_bytes())
            .unwrap_or_else(|| panic!("{input}"));
        assert!(!contains(&out, secret.as_bytes()), "{input}: {out:?}");
    }
    // A multipart form with a binary file part, and a bracketed field name.
    let mut multipart = b"--b\r\nContent-Disposition: form-data; name=\"pin\"\r\n\r\n4321\r\n--b\r\nContent-Disposition: form-data; name=\"user[password]\"\r\n\r\nhunter2\r\n--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.png\"\r\n\r\n".to_vec();
    multipart.extend_from_slice(&[0x89, b'P', b'N', b'G', 0xff, 0xc3]);
    multipart.extend_from_slice(b"\r\n--b--\r\n");
    let out = r
        .body(Some(b"multipart/form-data; boundary=b"), &multipart)
        .expect("redacted");
    assert!(
        !contains(&out, b"4321") && !contains(&out, b"hunter2"),
        "{out:?}"
    );
    // A JSON body cut at the cap whose only candidate is an escaped name.
    let cut = br#"{"p\u0061ssword":"hunter2","n":"xx"#;
    let out = r
        .body(Some(b"application/json"), cut)
        .expect("replaced whole");
    assert!(!contains(&out, b"hunter2"));
    // `;` inside a secret query value.
    let target = r.uri(&uri("/a?token=abc;def&page=2"));
    assert_eq!(target, "/a?token=%5Bredacted%5D&page=2");
    assert_eq!(
        r.uri(&uri("/a?x=1;token=abc&y=2")),
        "/a?x=1;token=%5Bredacted%5D&y=2"
    );
}

#[test]
fn custom_names_are_found_in_any_spelling() {
    let r = Redaction::builder().name("employeeid").build().unwrap();
    for body in [
        &br#"{"employee_id":"E-1234"}"#[..],
        br#"{"Employee-Id":"E-1234"}"#,
        br#"{"employeeId":"E-1234"}"#,
    ] {
        let out = r.body(None, body).unwrap_or_else(|| panic!("{body:?}"));
        assert!(!contains(&out, b"E-1234"), "{out:?}");
    }
    let out = r
        .body(Some(b"text/plain"), b"employee-id: E-1234")
        .expect("text");
    assert!(!contains(&out, b"E-1234"));
}
