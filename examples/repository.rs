//! A repository whose calls are recorded and replayed, whatever client it wraps.
//!
//! Retrace records HTTP and gRPC calls through its tower layers. For any other client
//! (diesel, sea-orm, redis, mongodb, a generated gRPC stub, another team's SDK) the
//! general answer is a repository struct that wraps the client, with
//! `#[retrace::record(skip(self))]` on its methods: the calls are recorded with their
//! arguments and answers, and replayed without the client. Here `KvClient`, a small
//! redis-like key-value store kept in memory, stands in for that client.
//!
//! 1. Records one sign-in: the repository's calls reach the client and are recorded.
//!    The password argument is recorded as `[redacted]`, by its name.
//! 2. Replays the recording with a client that panics if touched: every answer comes
//!    from the recording, and the sign-in answers as it did.
//!
//! Run: `cargo run --example repository`

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use retrace::context::{FutureExt, RetraceContext};
use retrace::replay::{ReplayOptions, ReplaySession};
use retrace::{Config, Outcome, RecordReason, RecordedError, Recorder, StartOptions, Store};
use serde::{Deserialize, Serialize};

/// Stands in for any client: a redis-like store of string keys and values.
/// `KvClient::unreachable()` is the client of a machine where there is no store.
struct KvClient {
    data: Option<HashMap<String, String>>,
    calls: AtomicUsize,
}

/// The client's error: not serialisable, as client errors often are.
#[derive(Debug)]
struct KvError(String);

impl fmt::Display for KvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "kv: {}", self.0)
    }
}

impl KvClient {
    fn with(pairs: &[(&str, &str)]) -> Self {
        let data = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Self {
            data: Some(data),
            calls: AtomicUsize::new(0),
        }
    }

    fn unreachable() -> Self {
        Self {
            data: None,
            calls: AtomicUsize::new(0),
        }
    }

    async fn get(&self, key: &str) -> Result<Option<String>, KvError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let data = self.data.as_ref().expect("the store was touched in replay");
        tokio::task::yield_now().await; // a round trip
        if key.is_empty() {
            return Err(KvError("empty key".to_owned()));
        }
        Ok(data.get(key).cloned())
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct User {
    id: u64,
    email: String,
    name: String,
}

/// The repository's error. With `err = display` an error is recorded as its text and
/// replayed through `From<RecordedError>`.
#[derive(Debug)]
enum RepoError {
    Client(KvError),
    Corrupt(serde_json::Error),
    Replayed(RecordedError),
}

impl fmt::Display for RepoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Client(e) => e.fmt(f),
            Self::Corrupt(e) => write!(f, "corrupt user record: {e}"),
            Self::Replayed(e) => write!(f, "{e} (replayed)"),
        }
    }
}

impl From<KvError> for RepoError {
    fn from(e: KvError) -> Self {
        Self::Client(e)
    }
}

impl From<RecordedError> for RepoError {
    fn from(e: RecordedError) -> Self {
        Self::Replayed(e)
    }
}

/// The repository: the only code that talks to the client.
struct UserRepo {
    client: KvClient,
}

impl UserRepo {
    #[retrace::record(name = "users.by_email", skip(self), err = display)]
    async fn by_email(&self, email: &str) -> Result<Option<User>, RepoError> {
        let Some(json) = self.client.get(&format!("user:{email}")).await? else {
            return Ok(None);
        };
        serde_json::from_str(&json)
            .map(Some)
            .map_err(RepoError::Corrupt)
    }

    #[retrace::record(name = "users.check_password", skip(self), err = display)]
    async fn check_password(&self, email: &str, password: &str) -> Result<bool, RepoError> {
        let stored = self.client.get(&format!("password:{email}")).await?;
        Ok(stored.is_some_and(|hash| hash == digest(password)))
    }
}

fn digest(text: &str) -> String {
    let h = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    format!("{h:016x}")
}

/// The code under test: a sign-in handler using the repository.
async fn sign_in(repo: &UserRepo, email: &str, password: &str) -> String {
    match repo.check_password(email, password).await {
        Ok(true) => {}
        Ok(false) => return "401 wrong password".to_owned(),
        Err(e) => return format!("503 {e}"),
    }
    match repo.by_email(email).await {
        Ok(Some(user)) => format!("200 welcome back, {} (user {})", user.name, user.id),
        Ok(None) => "404 no such user".to_owned(),
        Err(e) => format!("503 {e}"),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = Config::builder()
        .enabled(true)
        .service("accounts")
        .recording_path(dir.path())
        .build()?;
    let (recorder, guard) = Recorder::new(config)?;

    // 1. Record one sign-in against the real client.
    let user = User {
        id: 7,
        email: "ada@example.com".to_owned(),
        name: "Ada".to_owned(),
    };
    let live = UserRepo {
        client: KvClient::with(&[
            ("user:ada@example.com", &serde_json::to_string(&user)?),
            ("password:ada@example.com", &digest("correct horse")),
        ]),
    };
    let handle = recorder
        .start(StartOptions::new(RecordReason::Header))
        .expect("recording is on");
    let recorded = sign_in(&live, "ada@example.com", "correct horse")
        .with_context(RetraceContext::Recording(handle.clone()))
        .await;
    handle.finish(Some(200), Outcome::Completed);
    recorder.flush(Duration::from_secs(5))?;
    println!(
        "recorded: {recorded} ({} client calls)",
        live.client.calls.load(Ordering::Relaxed)
    );

    let recording = Store::open(dir.path())?.get(&handle.id().to_string())?;
    for value in recording.values() {
        let key: BTreeMap<String, String> =
            postcard::from_bytes(value.input.as_deref().unwrap_or_default())?;
        println!("  {} {key:?}", value.name);
    }

    // 2. Replay it where there is no store: the client panics if touched.
    let offline = UserRepo {
        client: KvClient::unreachable(),
    };
    let redaction = recorder.redaction().expect("recording is on").clone();
    let session = ReplaySession::new(&recording, ReplayOptions::default(), redaction);
    let replayed = sign_in(&offline, "ada@example.com", "correct horse")
        .with_context(RetraceContext::Replay(session))
        .await;
    println!(
        "replayed: {replayed} ({} client calls)",
        offline.client.calls.load(Ordering::Relaxed)
    );
    assert_eq!(replayed, recorded);

    guard.shutdown()?;
    Ok(())
}
