//! `retrace replay --target` on an authenticated, stateful flow: a real axum API behind
//! compression and CORS layers, recorded with pseudonymised secrets, replayed by the
//! real binary against a fresh instance. What it shows:
//! - answers compressed by the target (gzip, br) compare with plain recordings;
//! - a redacted password is given back at replay with `--set-json ...=@env:VAR`;
//! - a token from log-in, a slug and an id made by POSTs are chained into later
//!   requests (headers, paths) and into the expected answers;
//! - timestamps from the recorded clock are learned as noise, and the summary lists
//!   every noise and chain rule with its source;
//! - with `--concurrency 8`, each user's requests reach the target in recorded order;
//! - chain rules save to a file, load back, and a vetoed rule is not applied.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use retrace::{Config, Recorder, Redaction, RedactionMode};
use serde_json::{Value, json};
use support::{Root, Run, runtime};
use tokio::runtime::Runtime;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::SizeAbove;
use tower_http::cors::{AllowOrigin, CorsLayer};

const PASSWORD: &str = "correct horse battery staple";

#[derive(Default)]
struct Db {
    /// email -> (password, current token)
    users: HashMap<String, (String, String)>,
    /// slug -> (id, title, author, created_at)
    articles: HashMap<String, (u64, String, String, u64)>,
    /// (slug, comment id) -> author
    comments: HashMap<(String, u64), String>,
    next_id: u64,
    /// `email step` in the order the requests arrived.
    log: Vec<String>,
}

type Shared = Arc<Mutex<Db>>;

fn random_text(n: usize) -> String {
    let mut out = String::new();
    while out.len() < n {
        out.push_str(&format!("{:x}", rand::random::<u64>()));
    }
    out.truncate(n);
    out
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// The user a `Token` header names.
fn signed_in(db: &Db, headers: &HeaderMap) -> Option<String> {
    let token = headers
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Token ")?;
    db.users
        .iter()
        .find(|(_, (_, t))| t == token)
        .map(|(email, _)| email.clone())
}

async fn sign_up(State(db): State<Shared>, Json(body): Json<Value>) -> Response {
    let email = body["user"]["email"].as_str().unwrap_or("").to_owned();
    let password = body["user"]["password"].as_str().unwrap_or("").to_owned();
    let mut db = db.lock().unwrap();
    db.log.push(format!("{email} sign-up"));
    if db.users.contains_key(&email) {
        return error(StatusCode::CONFLICT, "email taken");
    }
    db.users.insert(email.clone(), (password, String::new()));
    (
        StatusCode::CREATED,
        Json(json!({ "user": { "email": email } })),
    )
        .into_response()
}

async fn log_in(State(db): State<Shared>, Json(body): Json<Value>) -> Response {
    let email = body["user"]["email"].as_str().unwrap_or("").to_owned();
    let password = body["user"]["password"].as_str().unwrap_or("");
    let mut db = db.lock().unwrap();
    db.log.push(format!("{email} log-in"));
    let token = format!("tok.{}", random_text(24));
    match db.users.get_mut(&email) {
        Some((p, t)) if p == password => *t = token.clone(),
        _ => return error(StatusCode::UNAUTHORIZED, "wrong email or password"),
    }
    Json(json!({ "user": { "email": email, "token": token } })).into_response()
}

fn now_secs() -> u64 {
    retrace::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

async fn create_article(
    State(db): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let mut db = db.lock().unwrap();
    let Some(author) = signed_in(&db, &headers) else {
        return error(StatusCode::UNAUTHORIZED, "sign in");
    };
    db.log.push(format!("{author} create"));
    let title = body["article"]["title"].as_str().unwrap_or("").to_owned();
    let slug = format!(
        "{}-{}",
        title.to_lowercase().replace(' ', "-"),
        random_text(6)
    );
    db.next_id += 1;
    let id = db.next_id;
    let created_at = now_secs();
    db.articles.insert(
        slug.clone(),
        (id, title.clone(), author.clone(), created_at),
    );
    let article =
        json!({"slug": slug, "id": id, "title": title, "author": author, "created_at": created_at});
    (StatusCode::CREATED, Json(json!({ "article": article }))).into_response()
}

async fn article(
    State(db): State<Shared>,
    headers: HeaderMap,
    Path(slug): Path<String>,
) -> Response {
    let mut db = db.lock().unwrap();
    let Some(reader) = signed_in(&db, &headers) else {
        return error(StatusCode::UNAUTHORIZED, "sign in");
    };
    db.log.push(format!("{reader} read"));
    match db.articles.get(&slug) {
        // `load` differs on every read: noise that two live answers reveal.
        Some((id, title, author, created_at)) => Json(json!({"article": {
            "slug": slug, "id": id, "title": title, "author": author, "created_at": created_at
        }, "load": rand::random::<u32>()}))
        .into_response(),
        None => error(StatusCode::NOT_FOUND, "no such article"),
    }
}

async fn comment(
    State(db): State<Shared>,
    headers: HeaderMap,
    Path(slug): Path<String>,
) -> Response {
    let mut db = db.lock().unwrap();
    let Some(author) = signed_in(&db, &headers) else {
        return error(StatusCode::UNAUTHORIZED, "sign in");
    };
    db.log.push(format!("{author} comment"));
    if !db.articles.contains_key(&slug) {
        return error(StatusCode::NOT_FOUND, "no such article");
    }
    db.next_id += 1;
    let id = db.next_id;
    db.comments.insert((slug, id), author);
    (
        StatusCode::CREATED,
        Json(json!({ "comment": { "id": id } })),
    )
        .into_response()
}

async fn uncomment(
    State(db): State<Shared>,
    headers: HeaderMap,
    Path((slug, id)): Path<(String, u64)>,
) -> Response {
    let mut db = db.lock().unwrap();
    let Some(author) = signed_in(&db, &headers) else {
        return error(StatusCode::UNAUTHORIZED, "sign in");
    };
    db.log.push(format!("{author} uncomment"));
    match db.comments.remove(&(slug, id)) {
        Some(_) => StatusCode::NO_CONTENT.into_response(),
        None => error(StatusCode::NOT_FOUND, "no such comment"),
    }
}

/// The API with the layers a real service has: compression (every size, so every
/// answer here is compressed when asked) and CORS outside the record layer.
fn api(db: Shared, record: Option<retrace_tower::RecordLayer>) -> Router {
    let routes = Router::new()
        .route("/users", post(sign_up))
        .route("/users/login", post(log_in))
        .route("/articles", post(create_article))
        .route("/articles/{slug}", get(article))
        .route("/articles/{slug}/comments", post(comment))
        .route("/articles/{slug}/comments/{id}", delete(uncomment))
        .with_state(db);
    let routes = match record {
        Some(layer) => routes.layer(layer),
        None => routes,
    };
    routes
        .layer(CompressionLayer::new().compress_when(SizeAbove::new(0)))
        .layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::mirror_request())
                .allow_credentials(true),
        )
}

/// A target: a server and the state behind it.
struct Server {
    server: support::Server,
    db: Shared,
}

impl Server {
    fn start(rt: &Runtime, record: Option<retrace_tower::RecordLayer>) -> Self {
        Self::start_with(rt, record, Db::default())
    }

    /// A target whose users exist already, as in a staging environment.
    fn seeded(rt: &Runtime, record: Option<retrace_tower::RecordLayer>) -> Self {
        let mut db = Db::default();
        for (email, _) in USERS {
            db.users
                .insert(email.to_owned(), (PASSWORD.to_owned(), String::new()));
        }
        Self::start_with(rt, record, db)
    }

    fn start_with(rt: &Runtime, record: Option<retrace_tower::RecordLayer>, db: Db) -> Self {
        let db = Arc::new(Mutex::new(db));
        let server = support::Server::start(rt, api(Arc::clone(&db), record));
        Self { server, db }
    }

    fn url(&self) -> String {
        self.server.url()
    }

    /// Each user's steps, in the order the target saw them.
    fn steps_of(&self, email: &str) -> Vec<String> {
        let db = self.db.lock().unwrap();
        db.log
            .iter()
            .filter_map(|l| l.strip_prefix(&format!("{email} ")))
            .map(str::to_owned)
            .collect()
    }
}

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

/// Sends one request as a browser would (compression asked for, an origin), and
/// returns the status and the decoded JSON answer.
async fn call(
    client: &HttpClient,
    base: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    encoding: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = http::Request::builder()
        .method(method)
        .uri(format!("{base}{path}"))
        .header("accept-encoding", encoding)
        .header("origin", "https://blog.example");
    if let Some(token) = token {
        request = request.header("authorization", format!("Token {token}"));
    }
    let body = match body {
        Some(b) => {
            request = request.header("content-type", "application/json");
            Bytes::from(b.to_string())
        }
        None => Bytes::new(),
    };
    let response = client
        .request(request.body(Full::new(body)).unwrap())
        .await
        .unwrap();
    let status = response.status().as_u16();
    let encoding = response
        .headers()
        .get("content-encoding")
        .map(|v| v.as_bytes().to_vec());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let plain = retrace::content_coding::decode(encoding.as_deref(), &bytes, 1 << 20)
        .unwrap_or_else(|e| {
            panic!(
                "{method} {path} ({status}, {} bytes {:?}): {e}",
                bytes.len(),
                &bytes[..bytes.len().min(40)]
            )
        })
        .map_or(bytes.to_vec(), |d| d);
    (
        status,
        serde_json::from_slice(&plain).unwrap_or(Value::Null),
    )
}

/// One user's flow: sign up (unless the user exists), log in, write an article, read
/// it, comment, delete the comment: 6 requests (5 without the sign-up), every later one
/// depending on an earlier answer.
async fn user_flow(client: &HttpClient, base: &str, email: &str, encoding: &str, sign_up: bool) {
    let user = json!({"user": {"email": email, "password": PASSWORD}});
    if sign_up {
        let (status, _) = call(
            client,
            base,
            "POST",
            "/users",
            None,
            encoding,
            Some(user.clone()),
        )
        .await;
        assert_eq!(status, 201);
    }
    let (status, answer) = call(
        client,
        base,
        "POST",
        "/users/login",
        None,
        encoding,
        Some(user),
    )
    .await;
    assert_eq!(status, 200);
    let token = answer["user"]["token"].as_str().unwrap().to_owned();
    let title = format!("Notes of {}", &email[..email.find('@').unwrap()]);
    let (status, answer) = call(
        client,
        base,
        "POST",
        "/articles",
        Some(&token),
        encoding,
        Some(json!({"article": {"title": title}})),
    )
    .await;
    assert_eq!(status, 201);
    let slug = answer["article"]["slug"].as_str().unwrap().to_owned();
    let (status, _) = call(
        client,
        base,
        "GET",
        &format!("/articles/{slug}"),
        Some(&token),
        encoding,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, answer) = call(
        client,
        base,
        "POST",
        &format!("/articles/{slug}/comments"),
        Some(&token),
        encoding,
        Some(json!({"comment": {"body": "first!"}})),
    )
    .await;
    assert_eq!(status, 201);
    let id = answer["comment"]["id"].as_u64().unwrap();
    let (status, _) = call(
        client,
        base,
        "DELETE",
        &format!("/articles/{slug}/comments/{id}"),
        Some(&token),
        encoding,
        None,
    )
    .await;
    assert_eq!(status, 204);
}

const USERS: [(&str, &str); 3] = [
    ("alice@blog.example", "gzip"),
    ("bob@blog.example", "br"),
    ("carol@blog.example", "gzip, br"),
];

/// Records the three users' flows, interleaved in time, through the recorded API with
/// secrets pseudonymised; without `sign_up`, against a target whose users exist.
fn record(rt: &Runtime, root: &Root, sign_up: bool) {
    let redaction = Redaction::builder()
        .mode(RedactionMode::Pseudonymise)
        .key([7; 32])
        .build()
        .unwrap();
    let config = Config::builder()
        .enabled(true)
        .service("blog")
        .recording_path(root.path())
        .sample_rate(1.0)
        .redaction(redaction)
        .build()
        .unwrap();
    let (recorder, guard) = Recorder::new(config).unwrap();
    let layer = retrace_tower::RecordLayer::new(recorder);
    let server = if sign_up {
        Server::start(rt, Some(layer))
    } else {
        Server::seeded(rt, Some(layer))
    };
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    rt.block_on(async {
        let flows = USERS.iter().map(|(email, encoding)| {
            let (client, base) = (client.clone(), server.url());
            async move { user_flow(&client, &base, email, encoding, sign_up).await }
        });
        futures_util::future::join_all(flows).await;
        // Ids and timestamps made apart, so the recorded clock readings differ.
        tokio::time::sleep(Duration::from_millis(5)).await;
    });
    drop(server);
    guard.shutdown().unwrap();
}

fn replay(root: &Root, target: &str, extra: &[&str]) -> Run {
    let mut args = vec!["replay", "--target", target, "--asap", "--concurrency", "8"];
    args.extend_from_slice(extra);
    root.retrace_env(&args, &[("REPLAY_PASSWORD", PASSWORD)])
}

const PASSWORD_FLAG: &str = "POST /users/** $.user.password=@env:REPLAY_PASSWORD";

#[test]
fn an_authenticated_flow_replays_against_a_fresh_instance() {
    let rt = runtime();
    let root = Root::new();
    record(&rt, &root, true);
    let bytes = retrace::Store::open(root.path())
        .unwrap()
        .plain_bytes()
        .unwrap();
    let stored = String::from_utf8_lossy(&bytes);
    assert!(stored.contains("pseudo:"), "secrets are pseudonymised");
    assert!(
        !stored.contains("horse battery"),
        "the password reached the disk"
    );
    assert!(!stored.contains("tok."), "a token reached the disk");

    let fresh = Server::start(&rt, None);
    let run = replay(&root, &fresh.url(), &["--set-json", PASSWORD_FLAG]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.starts_with("18 matched, 0 mismatched, 0 errors"),
        "{}",
        run.stdout
    );
    // Each user's requests reached the target in recorded order, flows side by side.
    for (email, _) in USERS {
        assert_eq!(
            fresh.steps_of(email),
            [
                "sign-up",
                "log-in",
                "create",
                "read",
                "read",
                "comment",
                "uncomment"
            ],
            "{email}"
        );
    }
    let out = &run.stdout;
    for expected in [
        "flows: 3 (each in recorded order); chained values put in: 24",
        "body $.user.token of ",
        "(POST /users/login) -> 4 uses: header authorization (4)",
        "(POST /articles) -> 3 uses: path segment 1 (3)",
        "body $.comment.id of ",
        "-> 1 use: path segment 3",
        "body $.article.created_at  [learned: a time read from the recorded clock (6 answers)]",
        "body $.load  [learned: two live answers of GET /articles/notes-of-",
        "headers vary, access-control-allow-origin",
        "[default: added by compression and CORS layers outside the record layer]",
        "header content-encoding  [default: bodies are compared decoded (gzip, deflate, br, zstd)]",
        "POST /users/** $.user.password=@env:REPLAY_PASSWORD  (6 requests)",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    assert!(!out.contains(PASSWORD) && !run.stderr.contains(PASSWORD));
}

#[test]
fn without_the_password_log_in_fails_and_everything_after_it_is_named() {
    // Replaying against an environment whose accounts exist (staging): log-in needs
    // the real password, which the recording holds only as a pseudonym.
    let rt = runtime();
    let root = Root::new();
    record(&rt, &root, false);
    let staging = Server::seeded(&rt, None);
    let run = replay(&root, &staging.url(), &["--json", "--no-learn-noise"]);
    assert_eq!(run.code, 7, "{}", run.stderr);
    let summary: Value = serde_json::from_str(&run.stdout).unwrap();
    let recordings = summary["recordings"].as_array().unwrap();
    let logins: Vec<&Value> = recordings
        .iter()
        .filter(|r| r["route"] == "POST /users/login")
        .collect();
    assert_eq!(logins.len(), 3);
    for login in logins {
        assert_eq!(
            login["first_mismatch"]["changes"][0],
            json!({"part": "status", "expected": 200, "actual": 401})
        );
    }
    assert_eq!(
        summary["matched"], 0,
        "every request after log-in fails too"
    );
    // Every chained value later requests needed was missing (tokens, then the slugs
    // and ids of what was never created): the recorded values went.
    assert_eq!(summary["chain_missing"], 24, "{summary}");
    assert_eq!(summary["flows"], 3);
    let sources: Vec<&str> = summary["noise_rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["source"].as_str().unwrap())
        .collect();
    assert!(sources.contains(&"default"), "{sources:?}");

    // The one flag that gives the replay password, and everything matches.
    let staging = Server::seeded(&rt, None);
    let run = replay(&root, &staging.url(), &["--set-json", PASSWORD_FLAG]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stdout.starts_with("15 matched, 0 mismatched"),
        "{}",
        run.stdout
    );
}

#[test]
fn chain_rules_save_load_and_a_vetoed_rule_is_not_applied() {
    let rt = runtime();
    let root = Root::new();
    record(&rt, &root, true);
    let file = root.path().join("chains.json");
    let fresh = Server::start(&rt, None);
    let run = replay(
        &root,
        &fresh.url(),
        &[
            "--set-json",
            PASSWORD_FLAG,
            "--save-chains",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stdout);
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let chains = saved["chains"].as_array().unwrap();
    assert_eq!(
        chains.len(),
        9,
        "a token, a slug and a comment id per user: {saved}"
    );
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        !text.contains("tok.") && !text.contains("pseudo:"),
        "values are not saved: {text}"
    );

    // Loaded back, the same rules replay the flow again on another fresh instance.
    let path = file.to_str().unwrap();
    let with_chains = |target: &Server| {
        replay(
            &root,
            &target.url(),
            &["--set-json", PASSWORD_FLAG, "--chains", path],
        )
    };
    let run = with_chains(&Server::start(&rt, None));
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stdout.contains("chain rules (9, from --chains):"),
        "{}",
        run.stdout
    );

    // With the slug rules vetoed, the recorded slugs are sent, which a fresh instance
    // never made: the article's later requests find nothing.
    let vetoed: Vec<Value> = chains
        .iter()
        .filter(|c| c["from"]["path"] != "$.article.slug")
        .cloned()
        .collect();
    std::fs::write(&file, json!({ "chains": vetoed }).to_string()).unwrap();
    let third = Server::start(&rt, None);
    let run = with_chains(&third);
    assert_eq!(run.code, 7, "{}", run.stdout);
    assert!(run.stdout.contains("status: 200 -> 404"), "{}", run.stdout);

    std::fs::write(
        &file,
        r#"{"chains":[{"from":{"recording":"nope","in":"header","name":"x"},"to":[]}]}"#,
    )
    .unwrap();
    let run = replay(&root, &third.url(), &["--chains", path]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("chain rule from header x: recording nope is not among those replayed"),
        "{}",
        run.stderr
    );
}
