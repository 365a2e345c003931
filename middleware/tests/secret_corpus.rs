//! The secret corpus: realistic exchanges, incoming and outgoing, each carrying one
//! planted secret and a harmless control value next to it, recorded with the default
//! configuration by a real axum service on 127.0.0.1 that calls a real upstream through
//! `ClientLayer`. Over the decompressed files: no secret may be found, and every control
//! value must be (so a case that recorded nothing cannot pass).

mod support;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::any;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use retrace::{Redaction, RedactionMode};
use retrace_tower::{ClientLayer, RecordLayer};
use support::*;
use tower::{Service, ServiceBuilder, ServiceExt};

/// One side of an exchange: a request or an answer.
#[derive(Clone, Debug, Default)]
struct Message {
    /// Request: method and target (`/path?query`); answer: ignored.
    method: &'static str,
    target: String,
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl Message {
    fn request(method: &'static str, target: impl Into<String>) -> Self {
        Self {
            method,
            target: target.into(),
            status: 200,
            ..Self::default()
        }
    }

    fn answer() -> Self {
        Self {
            status: 200,
            ..Self::default()
        }
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    fn body(mut self, content_type: &'static str, body: impl Into<Vec<u8>>) -> Self {
        if !content_type.is_empty() {
            self.headers.push(("content-type", content_type.to_owned()));
        }
        self.body = body.into();
        self
    }

    fn json(self, body: impl Into<Vec<u8>>) -> Self {
        self.body("application/json", body)
    }
}

#[derive(Clone, Debug)]
struct Case {
    name: &'static str,
    incoming: Message,
    response: Message,
    /// An outgoing call to the upstream and the upstream's answer.
    call: Option<(Message, Message)>,
    secret: String,
    control: String,
    /// Whether the secret is replaced as a whole value (so its pseudonym is recorded).
    whole: bool,
}

fn case(name: &'static str, secret: impl Into<String>, control: impl Into<String>) -> Case {
    Case {
        name,
        incoming: Message::request("GET", "/r"),
        response: Message::answer().body("text/plain", "ok"),
        call: None,
        secret: secret.into(),
        control: control.into(),
        whole: true,
    }
}

impl Case {
    fn incoming(mut self, m: Message) -> Self {
        self.incoming = m;
        self
    }
    fn response(mut self, m: Message) -> Self {
        self.response = m;
        self
    }
    fn call(mut self, request: Message, answer: Message) -> Self {
        self.call = Some((request, answer));
        self
    }
    fn part_of_a_value(mut self) -> Self {
        self.whole = false;
        self
    }
}

fn b64url(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n =
            chunk.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

fn jwt(subject: &str) -> String {
    format!(
        "{}.{}.{}",
        b64url(br#"{"alg":"HS256","typ":"JWT"}"#),
        b64url(format!(r#"{{"sub":"{subject}","iat":1733456789}}"#).as_bytes()),
        b64url(format!("signature-of-{subject}-k9Xq").as_bytes())
    )
}

/// A card number of `prefix` (digits) completed to 16 digits with a valid Luhn digit.
fn card(prefix: &str) -> String {
    let mut digits: Vec<u32> = prefix.chars().filter_map(|c| c.to_digit(10)).collect();
    while digits.len() < 15 {
        digits.push((digits.len() as u32 * 7 + 3) % 10);
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    digits.push((10 - sum % 10) % 10);
    digits
        .iter()
        .map(|d| char::from_digit(*d, 10).unwrap_or('0'))
        .collect()
}

const PEM_BODY: &str = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKjPemKey";

/// The corpus: every case plants a secret that must not reach disk.
fn corpus() -> Vec<Case> {
    let jwt_text = jwt("case-jwt-text");
    let jwt_field = jwt("case-jwt-field");
    let jwt_response = jwt("case-login-answer");
    let card_field = card("4000001234");
    let card_text = card("5500009876");
    let card_form = card("4000005555");
    vec![
        // ---- incoming requests ----
        case("login JSON", "hunter2-Login-01", "ctl-01@example.com").incoming(
            Message::request("POST", "/login")
                .json(r#"{"email":"ctl-01@example.com","password":"hunter2-Login-01"}"#),
        ),
        case("sign-up, capitalised Password", "Sup3r-Signup-02", "ctl-02-name").incoming(
            Message::request("POST", "/users").json(
                r#"{"user":{"name":"ctl-02-name","Password":"Sup3r-Signup-02","PasswordConfirmation":"Sup3r-Signup-02"}}"#,
            ),
        ),
        case("JSON sent as a form (curl -d)", "curl-d-Secret-03", "ctl-03-user").incoming(
            Message::request("POST", "/login").body(
                "application/x-www-form-urlencoded",
                r#"{"username":"ctl-03-user","password":"curl-d-Secret-03"}"#,
            ),
        ),
        case("form login", "form-Pass-04", "ctl-04-user").incoming(
            Message::request("POST", "/session")
                .body("application/x-www-form-urlencoded", "username=ctl-04-user&password=form-Pass-04&remember=1"),
        ),
        case("camelCase accessToken", "at-Camel-05-xyz", "ctl-05").incoming(
            Message::request("POST", "/link").json(r#"{"accessToken":"at-Camel-05-xyz","account":"ctl-05"}"#),
        ),
        case("kebab refresh-token", "rt-Kebab-06-xyz", "ctl-06").incoming(
            Message::request("POST", "/renew").json(r#"{"refresh-token":"rt-Kebab-06-xyz","device":"ctl-06"}"#),
        ),
        case("bare token", "tok-Bare-07-xyz", "ctl-07").incoming(
            Message::request("POST", "/verify").json(r#"{"token":"tok-Bare-07-xyz","kind":"ctl-07"}"#),
        ),
        case("sessionId", "sess-08-a1b2c3d4", "ctl-08").incoming(
            Message::request("POST", "/resume").json(r#"{"sessionId":"sess-08-a1b2c3d4","page":"ctl-08"}"#),
        ),
        case("apiKey", "ak-09-Z9y8X7w6", "ctl-09").incoming(
            Message::request("PUT", "/integrations/1").json(r#"{"apiKey":"ak-09-Z9y8X7w6","vendor":"ctl-09"}"#),
        ),
        case("privateKey with a PEM key", PEM_BODY, "ctl-10").part_of_a_value().incoming(
            Message::request("POST", "/certs").json(format!(
                r#"{{"name":"ctl-10","privateKey":"-----BEGIN PRIVATE KEY-----\n{PEM_BODY}\n-----END PRIVATE KEY-----\n"}}"#
            )),
        ),
        case("a PEM key in an unrelated field", "MIIEpAIBAAKCAQEAx4Unrelated11Key", "ctl-11").part_of_a_value().incoming(
            Message::request("POST", "/notes").json(
                r#"{"title":"ctl-11","text":"-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAx4Unrelated11Key\n-----END RSA PRIVATE KEY-----"}"#,
            ),
        ),
        case("a JWT in a text body", jwt_text.clone(), "ctl-12").part_of_a_value().incoming(
            Message::request("POST", "/debug").body("text/plain", format!("ctl-12 session jwt is {jwt_text} (expires soon)")),
        ),
        case("a JWT in an unrelated JSON field", jwt_field.clone(), "ctl-13").part_of_a_value().incoming(
            Message::request("POST", "/notes").json(format!(r#"{{"note":"use {jwt_field} to log in","id":"ctl-13"}}"#)),
        ),
        case("Stripe-Signature webhook header", "5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd", "ctl-14").incoming(
            Message::request("POST", "/webhooks/stripe")
                .header("stripe-signature", "t=1492774577,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd")
                .json(r#"{"type":"charge.succeeded","id":"ctl-14"}"#),
        ).part_of_a_value(),
        case("X-Hub-Signature-256 webhook header", "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", "ctl-15").incoming(
            Message::request("POST", "/webhooks/github")
                .header("x-hub-signature-256", "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
                .json(r#"{"action":"opened","repo":"ctl-15"}"#),
        ),
        case("?key= API key", "AIzaSyD-16-k3yQuery0123456789abcdEFG", "ctl-16").incoming(
            Message::request("GET", "/maps?key=AIzaSyD-16-k3yQuery0123456789abcdEFG&q=ctl-16"),
        ),
        case("AWS access key id in JSON", "AKIAJ7Q17EXAMPLE17XY", "ctl-17").incoming(
            Message::request("POST", "/import").json(r#"{"AccessKeyId":"AKIAJ7Q17EXAMPLE17XY","bucket":"ctl-17"}"#),
        ),
        case("AWS secret key, unnamed", "wJalrXUtnFEMI/K7MDENG/bPxRfiCY18EXAMPLEK", "ctl-18").incoming(
            Message::request("POST", "/import").json(r#"{"values":["ctl-18","wJalrXUtnFEMI/K7MDENG/bPxRfiCY18EXAMPLEK"]}"#),
        ),
        case("cardNumber field", card_field.clone(), "ctl-19").incoming(
            Message::request("POST", "/pay").json(format!(r#"{{"cardNumber":"{card_field}","holder":"ctl-19"}}"#)),
        ),
        case("card number in free text", card_text.clone(), "ctl-20").part_of_a_value().incoming(
            Message::request("POST", "/support").body("text/plain", format!("ctl-20: please charge {card_text} again")),
        ),
        case("payment form", card_form.clone(), "ctl-21").incoming(
            Message::request("POST", "/checkout")
                .body("application/x-www-form-urlencoded", format!("name=ctl-21&card_number={card_form}&cvc=123&exp=12%2F29")),
        ),
        case("GraphQL variables", "gql-Pass-22", "ctl-22").incoming(
            Message::request("POST", "/graphql").json(
                r#"{"query":"mutation Login($email: String!, $password: String!) { login(email: $email, password: $password) { id } }","variables":{"email":"ctl-22","password":"gql-Pass-22"}}"#,
            ),
        ),
        case("GraphQL literal argument", "gql-Literal-23", "ctl-23").incoming(
            Message::request("POST", "/graphql")
                .json(r#"{"query":"mutation { login(email: \"ctl-23\", password: \"gql-Literal-23\") { id } }"}"#),
        ),
        case("Authorization bearer", "bearer-24-0a9b8c7d6e", "ctl-24").incoming(
            Message::request("GET", "/me?view=ctl-24").header("authorization", "Bearer bearer-24-0a9b8c7d6e"),
        ),
        case("Basic credentials", "dXNlcjI1OnBhc3MtMjUtc2VjcmV0", "ctl-25").incoming(
            Message::request("GET", "/admin?view=ctl-25").header("authorization", "Basic dXNlcjI1OnBhc3MtMjUtc2VjcmV0"),
        ),
        case("session cookie", "cookie-26-q8w7e6", "ctl-26").incoming(
            Message::request("GET", "/cart?view=ctl-26").header("cookie", "sid=cookie-26-q8w7e6; theme=dark"),
        ),
        case("multipart part named pin", "pin-2790", "ctl-27").incoming(
            Message::request("POST", "/pin").body(
                "multipart/form-data; boundary=XyZ",
                "--XyZ\r\nContent-Disposition: form-data; name=\"user\"\r\n\r\nctl-27\r\n--XyZ\r\nContent-Disposition: form-data; name=\"pin\"\r\n\r\npin-2790\r\n--XyZ--\r\n",
            ),
        ),
        case("Slack token in config", "xoxb-28-1234567890-AbCdEfGhIjKl", "ctl-28").part_of_a_value().incoming(
            Message::request("PUT", "/config").json(r#"{"notify":{"bot":"xoxb-28-1234567890-AbCdEfGhIjKl","channel":"ctl-28"}}"#),
        ),
        case("GitHub token in text", "ghp_29AbCdEfGhIjKlMnOpQrStUvWxYz012345", "ctl-29").part_of_a_value().incoming(
            Message::request("POST", "/ci").body("text/plain", "ctl-29 clone with ghp_29AbCdEfGhIjKlMnOpQrStUvWxYz012345 please"),
        ),
        case("one-time password", "otp-304412", "ctl-30").incoming(
            Message::request("POST", "/mfa").json(r#"{"otp":"otp-304412","method":"ctl-30"}"#),
        ),
        case("broker URL with a password", "dbPass-31-zz", "ctl-31").incoming(
            Message::request("POST", "/datasources").json(r#"{"dsn":"amqp://app:dbPass-31-zz@broker.internal:5672/ctl-31"}"#),
        ).part_of_a_value(),
        case("SSN", "078-05-1132", "ctl-32").incoming(
            Message::request("POST", "/kyc").json(r#"{"ssn":"078-05-1132","country":"ctl-32"}"#),
        ),
        // ---- responses ----
        case("login answer with a JWT", jwt_response.clone(), "ctl-33").response(
            Message::answer().json(format!(r#"{{"token":"{jwt_response}","user":"ctl-33"}}"#)),
        ),
        case("Set-Cookie session", "sc-34-9f8e7d", "ctl-34").response(
            Message::answer()
                .header("set-cookie", "session=sc-34-9f8e7d; HttpOnly; Secure")
                .body("text/plain", "ctl-34"),
        ),
        case("new API key shown once", "sk_test_35AbCdEfGhIjKlMnOpQrSt", "ctl-35").part_of_a_value().response(
            Message::answer().body("text/html", "<p>ctl-35: your key is <code>sk_test_35AbCdEfGhIjKlMnOpQrSt</code></p>"),
        ),
        // ---- outgoing calls ----
        case("OAuth code exchange", "cs-36-client-secret", "ctl-36").call(
            Message::request("POST", "/oauth/token").body(
                "application/x-www-form-urlencoded",
                "grant_type=authorization_code&code=abc&client_id=ctl-36&client_secret=cs-36-client-secret",
            ),
            Message::answer().json(r#"{"ok":true}"#),
        ),
        case("OAuth refresh", "rt-37-refresh-me", "ctl-37").call(
            Message::request("POST", "/oauth/token").body(
                "application/x-www-form-urlencoded",
                "grant_type=refresh_token&refresh_token=rt-37-refresh-me&client_id=ctl-37",
            ),
            Message::answer().json(r#"{"ok":true}"#),
        ),
        case("OAuth token answer", "at-38-issued-by-idp", "ctl-38").call(
            Message::request("POST", "/oauth/token").body("application/x-www-form-urlencoded", "grant_type=client_credentials"),
            Message::answer().json(r#"{"access_token":"at-38-issued-by-idp","token_type":"bearer","expires_in":3600,"scope":"ctl-38"}"#),
        ),
        case("upstream JSON secret field", "up-39-Secret", "ctl-39").call(
            Message::request("GET", "/vault/item"),
            Message::answer().json(r#"{"name":"ctl-39","secret":"up-39-Secret"}"#),
        ),
        case("STS credentials answer", "sts40SessionTokenFwoGZXIvYXdzEXAMPLE", "ctl-40").part_of_a_value().call(
            Message::request("POST", "/sts"),
            Message::answer().json(
                r#"{"Credentials":{"AccessKeyId":"ASIAQ40EXAMPLE40ABC","SecretAccessKey":"sts40SecretAccessKeyZZZ","SessionToken":"sts40SessionTokenFwoGZXIvYXdzEXAMPLE"},"user":"ctl-40"}"#,
            ),
        ),
        case("STS secret access key", "sts40SecretAccessKeyZZZ", "ctl-40").part_of_a_value().call(
            Message::request("POST", "/sts"),
            Message::answer().json(
                r#"{"Credentials":{"AccessKeyId":"ASIAQ40EXAMPLE40ABC","SecretAccessKey":"sts40SecretAccessKeyZZZ","SessionToken":"sts40SessionTokenFwoGZXIvYXdzEXAMPLE"},"user":"ctl-40"}"#,
            ),
        ),
        case("outgoing bearer", "out-42-bearer-123abc", "ctl-42").call(
            Message::request("GET", "/profile?who=ctl-42").header("authorization", "Bearer out-42-bearer-123abc"),
            Message::answer().json(r#"{"ok":true}"#),
        ),
        case("trigger token forwarded on an outgoing call", "trigger-T0KEN-43", "ctl-43").call(
            Message::request("GET", "/downstream?x=ctl-43").header("x-debug-record", "trigger-T0KEN-43"),
            Message::answer().json(r#"{"ok":true}"#),
        ),
        case("upstream answers JSON as text/plain", "up-44-pw", "ctl-44").call(
            Message::request("GET", "/legacy"),
            Message::answer().body("text/plain", r#"{"user":"ctl-44","password":"up-44-pw"}"#),
        ),
        case("upstream answers a PEM key", "MIIBOgIBAAJBAKj34GkxFhD45Upstream", "ctl-45").part_of_a_value().call(
            Message::request("GET", "/keys/1"),
            Message::answer().body(
                "application/x-pem-file",
                "# ctl-45\n-----BEGIN EC PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD45Upstream\n-----END EC PRIVATE KEY-----\n",
            ),
        ),
        case("outgoing x-api-key and ?api_key", "k-46-9z8y7x", "ctl-46").call(
            Message::request("GET", "/geo?api_key=k-46-9z8y7x&city=ctl-46").header("x-api-key", "k-46-9z8y7x"),
            Message::answer().json(r#"{"ok":true}"#),
        ),
    ]
}

#[derive(Clone)]
struct AppState {
    cases: Arc<Vec<Case>>,
    upstream: String,
}

fn answer_of(m: &Message) -> Response<axum::body::Body> {
    let mut response = Response::builder().status(StatusCode::from_u16(m.status).unwrap());
    for (name, value) in &m.headers {
        response = response.header(*name, value);
    }
    response
        .body(axum::body::Body::from(m.body.clone()))
        .unwrap()
}

fn request_of(m: &Message, base: &str) -> Request<Full<Bytes>> {
    let mut request = Request::builder()
        .method(Method::from_bytes(m.method.as_bytes()).unwrap())
        .uri(format!("{base}{}", m.target));
    for (name, value) in &m.headers {
        request = request.header(*name, value);
    }
    request
        .body(Full::new(Bytes::from(m.body.clone())))
        .unwrap()
}

async fn handle(
    State(state): State<AppState>,
    Path(index): Path<usize>,
    _headers: HeaderMap,
    _body: Bytes,
) -> Response<axum::body::Body> {
    let case = &state.cases[index];
    if let Some((request, _)) = &case.call {
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let mut client = ServiceBuilder::new()
            .layer(ClientLayer::new())
            .service(client);
        let base = format!("{}/up/{index}", state.upstream);
        let response = client
            .ready()
            .await
            .unwrap()
            .call(request_of(request, &base))
            .await
            .unwrap();
        response.into_body().collect().await.unwrap();
    }
    answer_of(&case.response)
}

async fn upstream(
    State(cases): State<Arc<Vec<Case>>>,
    Path((index, _rest)): Path<(usize, String)>,
) -> Response<axum::body::Body> {
    match &cases[index].call {
        Some((_, answer)) => answer_of(answer),
        None => answer_of(&Message::answer()),
    }
}

async fn upstream_root(
    State(cases): State<Arc<Vec<Case>>>,
    Path(index): Path<usize>,
) -> Response<axum::body::Body> {
    upstream(State(cases), Path((index, String::new()))).await
}

/// Records the whole corpus with `redaction` and returns every decompressed byte.
async fn record_corpus(cases: &Arc<Vec<Case>>, redaction: Redaction) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let (rec, guard) = recorder(
        config(dir.path())
            .sample_rate(1.0)
            .trigger_header("x-debug-record")
            .trigger_token(Some("trigger-T0KEN-43".to_owned()))
            .redaction(redaction),
    );
    let up = serve(
        Router::new()
            .route("/up/{index}", any(upstream_root))
            .route("/up/{index}/{*rest}", any(upstream))
            .with_state(Arc::clone(cases)),
    )
    .await;
    let app = Router::new()
        .route("/case/{index}", any(handle))
        .route("/case/{index}/{*rest}", any(handle_rest))
        .with_state(AppState {
            cases: Arc::clone(cases),
            upstream: format!("http://{}", up.addr),
        })
        .layer(RecordLayer::new(rec));
    let server = serve(app).await;
    let client = client();
    for (index, case) in cases.iter().enumerate() {
        let base = format!("http://{}/case/{index}", server.addr);
        let answer = send(&client, request_of(&case.incoming, &base)).await;
        assert_eq!(answer.status, case.response.status, "{}", case.name);
        // The application saw the real values: only the recording is redacted.
        assert_eq!(&answer.body[..], &case.response.body[..], "{}", case.name);
    }
    drop(server);
    let stats = guard.shutdown().unwrap();
    assert_eq!(
        stats.written,
        cases.len() as u64,
        "every exchange was recorded"
    );
    decompressed_store(dir.path())
}

async fn handle_rest(
    State(state): State<AppState>,
    Path((index, _rest)): Path<(usize, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response<axum::body::Body> {
    handle(State(state), Path(index), headers, body).await
}

fn assert_no_secret_and_every_control(cases: &[Case], everything: &[u8]) {
    let leaked: Vec<&str> = cases
        .iter()
        .filter(|c| contains(everything, c.secret.as_bytes()))
        .map(|c| c.name)
        .collect();
    assert!(leaked.is_empty(), "secrets reached disk in: {leaked:?}");
    let missing: Vec<&str> = cases
        .iter()
        .filter(|c| !contains(everything, c.control.as_bytes()))
        .map(|c| c.name)
        .collect();
    assert!(
        missing.is_empty(),
        "control values missing (nothing recorded?) in: {missing:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_planted_secret_reaches_disk_with_the_default_configuration() {
    let cases = Arc::new(corpus());
    assert!(cases.len() >= 40, "the corpus has {} cases", cases.len());
    let everything = record_corpus(&cases, Redaction::default()).await;
    assert_no_secret_and_every_control(&cases, &everything);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pseudonymised_corpus_keeps_equal_secrets_equal() {
    let cases = Arc::new(corpus());
    let redaction = Redaction::builder()
        .mode(RedactionMode::Pseudonymise)
        .key([42; 32])
        .build()
        .unwrap();
    let everything = record_corpus(&cases, redaction.clone()).await;
    assert_no_secret_and_every_control(&cases, &everything);
    // Where a secret is replaced as a whole value, its pseudonym is what was recorded:
    // the same secret anywhere gives the same pseudonym.
    for case in cases.iter().filter(|c| c.whole) {
        let pseudonym = redaction.replace(case.secret.as_bytes());
        assert!(
            contains(&everything, &pseudonym),
            "{}: the pseudonym of its secret is missing",
            case.name
        );
    }
    // Case "sign-up" carries its password twice (and its confirmation): one pseudonym.
    let signup = redaction.replace(b"Sup3r-Signup-02");
    let count = everything
        .windows(signup.len())
        .filter(|w| *w == &signup[..])
        .count();
    assert!(
        count >= 2,
        "the repeated password gave {count} equal pseudonyms"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redaction_every_planted_secret_is_recorded() {
    // The control for the whole corpus: each secret sits where a recording sees it, so
    // the tests above pass because of redaction, not because nothing was captured.
    let cases = Arc::new(corpus());
    let everything = record_corpus(&cases, Redaction::disabled()).await;
    let absent: Vec<&str> = cases
        .iter()
        .filter(|c| !contains(&everything, c.secret.as_bytes()))
        .map(|c| c.name)
        .collect();
    // The trigger header's value is the one secret a recorder always redacts, even with
    // redaction disabled: it is the token that lets anyone force recording.
    assert_eq!(absent, ["trigger token forwarded on an outgoing call"]);
}
