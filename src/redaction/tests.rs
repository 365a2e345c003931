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
            ("authorization", &b"[redacted]"[..]),
            ("accept", b"application/json"),
            ("cookie", b"[redacted]"),
            ("cookie", b"[redacted]"),
            ("x-request-id", b"r-1"),
            ("x-request-id", b"r-2"),
            ("proxy-authorization", b"[redacted]"),
            ("set-cookie", b"[redacted]"),
            ("x-api-key", b"[redacted]"),
            ("x-retrace-record", b"[redacted]"),
            ("content-type", b"text/plain"),
        ]
    );
}

#[test]
fn header_names_are_case_insensitive() {
    let redaction = Redaction::builder()
        .header("X-Session-Secret")
        .build()
        .expect("valid settings");
    let mut map = HeaderMap::new();
    map.insert("X-SESSION-SECRET", HeaderValue::from_static("s"));
    map.insert("Authorization", HeaderValue::from_static("t"));
    assert_eq!(
        pairs(&redaction.headers(&map)),
        vec![
            ("x-session-secret", &b"[redacted]"[..]),
            ("authorization", b"[redacted]"),
        ]
    );
    assert!(redaction.redacts_header("AUTHORIZATION"));
    assert!(redaction.redacts_header("x-session-secret"));
    assert!(!redaction.redacts_header("accept"));
    assert!(!redaction.redacts_header("not a header"));
}

#[test]
fn without_default_headers_keeps_only_added_ones() {
    let redaction = Redaction::builder()
        .without_default_headers()
        .header("x-mine")
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
    assert_eq!(redaction.header_names().collect::<Vec<_>>(), ["x-mine"]);
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
    assert!(!redaction.redacts_json());
    assert_eq!(redaction.json_body(br#"{"password":"p"}"#), None);
}

#[test]
fn bad_header_name_is_an_error_naming_it() {
    let err = Redaction::builder()
        .header("bad name")
        .build()
        .expect_err("space is not allowed");
    assert!(matches!(&err, RedactionError::InvalidHeaderName { name } if name == "bad name"));
    assert!(err.to_string().contains("\"bad name\""), "{err}");
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
            "/p?token&token=&token=%5Bredacted%5D;secret=%5Bredacted%5D&access%5Ftoken=%5Bredacted%5D&sig=%5Bredacted%5D",
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
fn query_param_names_are_configurable() {
    let redaction = Redaction::builder()
        .without_default_query_params()
        .query_param("Key")
        .build()
        .expect("valid settings");
    assert_eq!(
        redaction.uri(&uri("/maps?KEY=AIza&token=t")),
        "/maps?KEY=%5Bredacted%5D&token=t"
    );
    assert!(redaction.redacts_query_param("key"));
    assert!(!redaction.redacts_query_param("token"));

    let err = Redaction::builder()
        .query_param("")
        .build()
        .expect_err("empty name");
    assert!(matches!(err, RedactionError::InvalidQueryParam { .. }));
}

// ---- JSON bodies ----

#[test]
fn json_top_level_password_is_redacted_by_default() {
    let redaction = Redaction::default();
    assert!(redaction.redacts_json());
    let body = redaction
        .json_body(br#"{"user": "ann", "password": "hunter2"}"#)
        .expect("matched");
    assert_eq!(
        json_of(&body),
        json!({"user": "ann", "password": "[redacted]"})
    );
    assert!(!contains(&body, b"hunter2"));
}

#[test]
fn json_descendant_path_matches_at_every_depth_whatever_the_value() {
    let redaction = Redaction::builder()
        .without_default_json_paths()
        .json_path("$..token")
        .build()
        .expect("valid settings");
    let body = br#"{
        "token": "t0",
        "a": {"b": [{"token": "t1"}, {"c": {"token": {"nested": "t2"}}}, {"token": 42}]},
        "token_type": "bearer",
        "tokens": ["t3"]
    }"#;
    let redacted = redaction.json_body(body).expect("matched");
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
        .json_path("$.users[*].ssn")
        .build()
        .expect("valid settings");
    let body = br#"{"users":[{"name":"a","ssn":"111-22-3333"},{"name":"b"},{"name":"c","ssn":null}],"ssn":"top"}"#;
    let redacted = redaction.json_body(body).expect("matched");
    assert_eq!(
        json_of(&redacted),
        json!({
            "users": [
                {"name": "a", "ssn": "[redacted]"},
                {"name": "b"},
                {"name": "c", "ssn": "[redacted]"}
            ],
            "ssn": "top"
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
        redaction.json_body(br#"[1, 2]"#),
        Some(Bytes::from_static(b"\"[redacted]\""))
    );
}

#[test]
fn non_json_and_unmatched_bodies_give_none() {
    let redaction = Redaction::default();
    for body in [
        &b"password=hunter2"[..],
        b"",
        b"\xff\xfe binary",
        b"<password>x</password>",
    ] {
        assert_eq!(redaction.json_body(body), None, "{body:?}");
    }
    for body in [
        &br#"{"user":"ann","passwords_changed":3}"#[..],
        br#"[{"Password":"case matters"}]"#,
        br#""password""#,
        b"42",
    ] {
        assert_eq!(redaction.json_body(body), None, "{body:?}");
    }
}

#[test]
fn without_json_paths_bodies_are_never_parsed() {
    let redaction = Redaction::builder()
        .without_default_json_paths()
        .build()
        .expect("valid settings");
    assert!(!redaction.redacts_json());
    assert_eq!(redaction.json_body(br#"{"password":"p"}"#), None);
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
    assert_eq!(builder::default_headers().len(), DEFAULT_HEADERS.len());
    assert_eq!(
        builder::default_json_paths().len(),
        DEFAULT_JSON_PATHS.len()
    );
    let redaction = Redaction::default();
    assert_eq!(redaction.json_paths().len(), DEFAULT_JSON_PATHS.len());
    assert_eq!(
        redaction.query_param_names().collect::<Vec<_>>(),
        DEFAULT_QUERY_PARAMS
    );
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
        .json_body(br#"{"api_key":"s3cr3t-t0ken","n":{"password":12345}}"#)
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
    let out = r.json_body(body).expect("redacted");
    assert!(!out.windows(7).any(|w| w == b"hunter2"), "{out:?}");
    // No secret name anywhere: left alone without being parsed.
    assert_eq!(r.json_body(br#"{"user":"ada","passwords_reset":3}"#), None);
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
        assert_eq!(super::printed_uri(&uri), uri.to_string(), "{text}");
    }
}

#[test]
fn a_body_naming_a_secret_that_does_not_parse_is_withheld_whole() {
    let redaction = Redaction::default();
    // Cut at the body cap in the middle of the secret: nothing of it may be kept.
    let cut = br#"{"user":"ann","password":"hunt"#;
    assert_eq!(
        redaction.json_body(cut).as_deref(),
        Some(&b"[redacted]"[..])
    );
    let pseudonymised = Redaction::builder()
        .mode(RedactionMode::Pseudonymise)
        .key([7; 32])
        .build()
        .expect("valid redaction");
    let once = pseudonymised.json_body(cut).expect("withheld");
    assert!(!contains(&once, b"hunt"));
    assert_eq!(
        pseudonymised.json_body(cut),
        Some(once),
        "same body, same pseudonym"
    );
}

#[test]
fn a_body_not_declared_json_is_redacted_only_if_it_parses() {
    let redaction = Redaction::default();
    let out = redaction
        .json_body_if_parses(br#"{"access_token":"tok-1","n":2}"#)
        .expect("parses and matches");
    assert!(!contains(&out, b"tok-1"));
    assert_eq!(
        redaction.json_body_if_parses(br#"{"access_token":"tok"#),
        None
    );
    assert_eq!(
        redaction.json_body_if_parses(b"password: \"password\""),
        None
    );
}
