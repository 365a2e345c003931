//! `#[retrace::record]` against the real recorder: outside a recording the body just
//! runs; recording stores the arguments (as a map from name to value, redacted by
//! name) and the return value; replay answers from the recording without running the
//! body, and a strict replay with other arguments unwinds with `SealedReplay`.

mod common;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{record, replay, sealed};
use retrace::context::{FutureExt, RetraceContext};
use retrace::{
    NamedValue, Outcome, RecordReason, RecordedError, Recorder, RecorderGuard, Recording,
    StartOptions, Store, ValueKind,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

// Each test counts the calls of its own functions.

static ADD_CALLS: AtomicUsize = AtomicUsize::new(0);

#[retrace::record]
fn add(a: u32, b: u32) -> u32 {
    ADD_CALLS.fetch_add(1, Ordering::SeqCst);
    a + b
}

static VERIFY_CALLS: AtomicUsize = AtomicUsize::new(0);

/// A password check: the password must never reach the disk.
#[retrace::record(name = "auth.verify")]
fn verify(password: &str, hash: &str) -> bool {
    VERIFY_CALLS.fetch_add(1, Ordering::SeqCst);
    hash.ends_with(&password.len().to_string())
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct User {
    id: u64,
    email: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
enum DbError {
    NotFound(String),
    Timeout,
}

/// Not serialisable, and refuses to be used in replay.
struct Pool {
    live: bool,
    queries: AtomicUsize,
}

impl Pool {
    fn new(live: bool) -> Self {
        Self {
            live,
            queries: AtomicUsize::new(0),
        }
    }

    async fn query(&self, email: &str) -> Result<u64, String> {
        assert!(self.live, "the database was touched in replay");
        self.queries.fetch_add(1, Ordering::SeqCst);
        tokio::task::yield_now().await;
        match email {
            "" => Err("empty email".to_owned()),
            "slow@example.com" => Err("timeout".to_owned()),
            _ => Ok(email.len() as u64),
        }
    }
}

impl From<String> for DbError {
    fn from(e: String) -> Self {
        if e == "timeout" {
            Self::Timeout
        } else {
            Self::NotFound(e)
        }
    }
}

#[retrace::record(name = "users.by_email", skip(pool))]
async fn by_email(pool: &Pool, email: &str) -> Result<User, DbError> {
    if email.contains("nobody") {
        return Err(DbError::NotFound(email.to_owned()));
    }
    // `?` converts the pool's error with `From`, as in the function as written.
    let id = pool.query(email).await?;
    Ok(User {
        id,
        email: email.to_owned(),
    })
}

/// Formats a value; the error is recorded as its text.
#[derive(Debug, PartialEq)]
enum ParseError {
    Invalid(std::num::ParseIntError),
    Replayed(RecordedError),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid(e) => write!(f, "invalid number: {e}"),
            Self::Replayed(e) => write!(f, "{e} (replayed)"),
        }
    }
}

impl From<RecordedError> for ParseError {
    fn from(e: RecordedError) -> Self {
        Self::Replayed(e)
    }
}

static PARSE_CALLS: AtomicUsize = AtomicUsize::new(0);

#[retrace::record(err = display)]
fn parse(text: &str) -> Result<u32, ParseError> {
    PARSE_CALLS.fetch_add(1, Ordering::SeqCst);
    text.trim().parse().map_err(ParseError::Invalid)
}

#[derive(Serialize)]
struct Account {
    region: String,
    #[serde(skip)]
    calls: AtomicUsize,
}

impl Account {
    /// `self` is recorded under the name `self`.
    #[retrace::record]
    fn balance(&self, currency: &str) -> i64 {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if currency == "EUR" { 100 } else { 110 }
    }

    #[retrace::record(name = "account.rename", skip(self))]
    fn rename(&mut self, mut region: String) -> String {
        self.calls.fetch_add(1, Ordering::SeqCst);
        region.make_ascii_uppercase();
        std::mem::replace(&mut self.region, region)
    }

    #[retrace::record(skip_all)]
    async fn close(self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

fn recorder(dir: &Path) -> (Recorder, RecorderGuard) {
    common::recorder(common::config(dir).redaction(retrace::Redaction::default()))
}

fn boundary_values<'r>(recording: &'r Recording, name: &str) -> Vec<&'r NamedValue> {
    recording
        .values()
        .filter(|v| v.kind == ValueKind::Boundary && v.name == name)
        .collect()
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> T {
    postcard::from_bytes(bytes).expect("decodes")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn outside_a_recording_the_body_runs_and_nothing_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let (recorder, _guard) = recorder(dir.path());
    // A recording is open, but not current: the call is not part of it.
    let (sum, recording) = record(&recorder, dir.path(), || {
        std::thread::scope(|s| s.spawn(|| add(20, 22)).join().unwrap())
    });
    assert_eq!(sum, 42);
    assert!(ADD_CALLS.load(Ordering::SeqCst) >= 1);
    assert_eq!(recording.values().count(), 0, "nothing recorded");
    assert_eq!(parse(" 7 "), Ok(7));
}

#[test]
fn a_recorded_call_is_replayed_without_running_the_body() {
    let dir = tempfile::tempdir().unwrap();
    let (recorder, _guard) = recorder(dir.path());
    let before = ADD_CALLS.load(Ordering::SeqCst);
    let (sum, recording) = record(&recorder, dir.path(), || add(2, 3));
    assert_eq!(sum, 5);
    assert_eq!(ADD_CALLS.load(Ordering::SeqCst), before + 1);

    let values = boundary_values(&recording, "add");
    assert_eq!(values.len(), 1);
    let input: BTreeMap<String, u32> = decode(values[0].input.as_deref().expect("a key"));
    assert_eq!(
        input,
        BTreeMap::from([("a".to_owned(), 2), ("b".to_owned(), 3)]),
        "the arguments, by name"
    );
    assert_eq!(decode::<u32>(&values[0].value), 5);

    let calls = ADD_CALLS.load(Ordering::SeqCst);
    assert_eq!(replay(&recorder, &recording, || add(2, 3)), 5);
    assert_eq!(
        ADD_CALLS.load(Ordering::SeqCst),
        calls,
        "the body did not run"
    );

    let miss = replay(&recorder, &recording, || sealed(|| add(2, 4)));
    assert_eq!(miss.kind, ValueKind::Boundary);
    assert_eq!(miss.name, "add");
    assert!(miss.to_string().contains("\"add\""), "{miss}");
    assert_eq!(ADD_CALLS.load(Ordering::SeqCst), calls, "not run on a miss");
}

#[test]
fn a_password_argument_never_reaches_the_disk() {
    const PASSWORD: &str = "correct-horse-battery-staple";
    let dir = tempfile::tempdir().unwrap();
    let (recorder, _guard) = recorder(dir.path());
    let (ok, recording) = record(&recorder, dir.path(), || verify(PASSWORD, "argon-28"));
    assert!(ok);

    let values = boundary_values(&recording, "auth.verify");
    assert_eq!(values.len(), 1);
    let input: BTreeMap<String, String> = decode(values[0].input.as_deref().unwrap());
    assert_eq!(input["hash"], "argon-28");
    assert_ne!(input["password"], PASSWORD);
    assert!(!input["password"].contains("horse"), "{input:?}");

    let mut files = 0;
    for entry in walk(dir.path()) {
        let bytes = std::fs::read(&entry).unwrap();
        files += 1;
        assert!(
            !bytes
                .windows(PASSWORD.len())
                .any(|w| w == PASSWORD.as_bytes()),
            "the password is in {}",
            entry.display()
        );
    }
    assert!(files > 0, "segments were written");

    // Replay encodes the live arguments with the same redaction, so they match.
    let calls = VERIFY_CALLS.load(Ordering::SeqCst);
    assert!(replay(&recorder, &recording, || verify(
        PASSWORD, "argon-28"
    )));
    assert_eq!(VERIFY_CALLS.load(Ordering::SeqCst), calls);
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn async_functions_record_both_arms_and_replay_without_the_pool() {
    let dir = tempfile::tempdir().unwrap();
    let (recorder, _guard) = recorder(dir.path());
    let rt = runtime();
    let pool = Pool::new(true);

    let handle = recorder
        .start(StartOptions::new(RecordReason::Sampled))
        .unwrap();
    let context = RetraceContext::Recording(handle.clone());
    // Created outside the recording, polled inside it: the call belongs to it.
    let calls = async {
        (
            by_email(&pool, "ada@example.com").await,
            by_email(&pool, "slow@example.com").await,
            by_email(&pool, "nobody@example.com").await,
        )
    };
    assert_send(&calls);
    let (found, timeout, missing) = rt.block_on(calls.with_context(context));
    handle.finish(Some(200), Outcome::Completed);
    recorder.flush(Duration::from_secs(10)).unwrap();
    let recording = Store::open(dir.path())
        .unwrap()
        .get(&handle.id().to_string())
        .unwrap();

    let ada = User {
        id: 15,
        email: "ada@example.com".to_owned(),
    };
    assert_eq!(found, Ok(ada.clone()));
    assert_eq!(timeout, Err(DbError::Timeout), "`?` converted with From");
    assert_eq!(
        missing,
        Err(DbError::NotFound("nobody@example.com".to_owned()))
    );
    assert_eq!(pool.queries.load(Ordering::SeqCst), 2);

    let values = boundary_values(&recording, "users.by_email");
    assert_eq!(values.len(), 3);
    let input: BTreeMap<String, String> = decode(values[0].input.as_deref().unwrap());
    assert_eq!(
        input,
        BTreeMap::from([("email".to_owned(), "ada@example.com".to_owned())]),
        "the skipped pool is not in the key"
    );
    assert_eq!(
        decode::<Result<User, DbError>>(&values[1].value),
        Err(DbError::Timeout)
    );

    // Replay: a pool that panics if touched.
    let offline = Pool::new(false);
    let replayed = replay(&recorder, &recording, || {
        let session = RetraceContext::current();
        rt.block_on(
            async {
                (
                    by_email(&offline, "nobody@example.com").await,
                    by_email(&offline, "ada@example.com").await,
                    by_email(&offline, "slow@example.com").await,
                )
            }
            .with_context(session.unwrap()),
        )
    });
    assert_eq!(
        replayed,
        (
            Err(DbError::NotFound("nobody@example.com".to_owned())),
            Ok(ada),
            Err(DbError::Timeout)
        )
    );

    let miss = replay(&recorder, &recording, || {
        let session = RetraceContext::current().unwrap();
        sealed(|| rt.block_on(by_email(&offline, "eve@example.com").with_context(session)))
    });
    assert_eq!(miss.name, "users.by_email");
    assert_eq!(offline.queries.load(Ordering::SeqCst), 0);
}

fn assert_send<T: Send>(_: &T) {}

#[test]
fn err_display_records_the_text_and_replays_a_recorded_error() {
    let dir = tempfile::tempdir().unwrap();
    let (recorder, _guard) = recorder(dir.path());
    let ((good, bad), recording) = record(&recorder, dir.path(), || (parse("12"), parse("twelve")));
    assert_eq!(good, Ok(12));
    let bad = bad.unwrap_err();
    assert!(matches!(bad, ParseError::Invalid(_)));

    let values = boundary_values(&recording, "parse");
    assert_eq!(decode::<Result<u32, String>>(&values[0].value), Ok(12));
    assert_eq!(
        decode::<Result<u32, String>>(&values[1].value),
        Err(bad.to_string()),
        "the error's Display text"
    );

    let calls = PARSE_CALLS.load(Ordering::SeqCst);
    let (good, bad) = replay(&recorder, &recording, || (parse("12"), parse("twelve")));
    assert_eq!(good, Ok(12));
    assert_eq!(
        bad,
        Err(ParseError::Replayed(RecordedError::new(
            "invalid number: invalid digit found in string"
        )))
    );
    assert_eq!(PARSE_CALLS.load(Ordering::SeqCst), calls);
}

#[test]
fn methods_record_self_by_name_unless_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let (recorder, _guard) = recorder(dir.path());
    let mut account = Account {
        region: "eu".to_owned(),
        calls: AtomicUsize::new(0),
    };
    let ((eur, old), recording) = record(&recorder, dir.path(), || {
        (account.balance("EUR"), account.rename("us".to_owned()))
    });
    assert_eq!((eur, old.as_str()), (100, "eu"));
    assert_eq!(
        account.region, "US",
        "`mut` argument and `&mut self` as written"
    );

    #[derive(Debug, PartialEq, Deserialize)]
    struct AccountKey {
        region: String,
    }
    // A map of two entries, decoded here through a tuple of (name, value) pairs.
    let balance = boundary_values(&recording, "balance");
    let (len, (k1, v1), (k2, v2)): (u8, (String, AccountKey), (String, String)) =
        decode(balance[0].input.as_deref().unwrap());
    assert_eq!((len, k1.as_str(), k2.as_str()), (2, "self", "currency"));
    assert_eq!(v1.region, "eu");
    assert_eq!(v2, "EUR");

    let rename = boundary_values(&recording, "account.rename");
    let input: BTreeMap<String, String> = decode(rename[0].input.as_deref().unwrap());
    assert_eq!(
        input,
        BTreeMap::from([("region".to_owned(), "us".to_owned())])
    );

    let calls = account.calls.load(Ordering::SeqCst);
    let mut fresh = Account {
        region: "eu".to_owned(),
        calls: AtomicUsize::new(0),
    };
    let (eur, old) = replay(&recorder, &recording, || {
        (fresh.balance("EUR"), fresh.rename("us".to_owned()))
    });
    assert_eq!((eur, old.as_str()), (100, "eu"));
    assert_eq!(fresh.region, "eu", "the replayed body did not run");
    assert_eq!(fresh.calls.load(Ordering::SeqCst), 0);

    let closed = runtime().block_on(account.close());
    assert_eq!(closed, calls);
}

/// Signatures the attribute must leave working as written.
mod signatures {
    use std::borrow::Cow;
    use std::fmt::Display;

    use serde::Serialize;
    use serde::de::DeserializeOwned;

    #[retrace::record]
    pub(crate) fn early_return(r#type: &str) {
        if r#type.is_empty() {
            return;
        }
        let _ = r#type.len();
    }

    #[retrace::record]
    pub(crate) fn generic<T, U>(value: T, label: impl AsRef<str> + Serialize) -> Vec<U>
    where
        T: Serialize + Display,
        U: Serialize + DeserializeOwned + From<String>,
    {
        vec![U::from(format!("{}={value}", label.as_ref()))]
    }

    #[retrace::record]
    pub(crate) fn borrowed<'a>(text: &'a str, n: &usize) -> Cow<'a, str> {
        text.get(..*n)
            .map(Cow::Borrowed)
            .unwrap_or(Cow::Borrowed(text))
    }

    /// `?` with a `From` conversion, in a sync function.
    #[retrace::record(err = display)]
    #[inline]
    pub(crate) fn parse_all(items: &[&str]) -> anyhow::Result<Vec<u8>> {
        let mut out = Vec::new();
        for i in items {
            out.push(i.parse::<u8>()?);
        }
        Ok(out)
    }

    #[derive(Debug, Serialize, serde::Deserialize, PartialEq)]
    pub(crate) struct Counter {
        pub(crate) n: u32,
    }

    impl Counter {
        #[retrace::record]
        pub(crate) fn new(n: u32) -> Self {
            Self { n }
        }

        #[retrace::record(name = "counter.add")]
        pub(crate) fn add(mut self, by: u32) -> Self {
            self.n += by;
            self
        }
    }

    pub(crate) trait Store {
        async fn get(&self, key: &str) -> Option<String>;
    }

    impl Store for Counter {
        #[retrace::record(skip(self))]
        async fn get(&self, key: &str) -> Option<String> {
            (key == "n").then(|| self.n.to_string())
        }
    }
}

#[test]
fn signatures_work_as_written() {
    use signatures::*;
    early_return("");
    early_return("x");
    assert_eq!(generic::<u8, String>(7, "n"), vec!["n=7".to_owned()]);
    assert_eq!(borrowed("hello", &2), "he");
    assert_eq!(parse_all(&["1", "2"]).unwrap(), vec![1, 2]);
    assert!(parse_all(&["x"]).is_err());
    let counter = Counter::new(1).add(2);
    assert_eq!(counter, Counter { n: 3 });
    assert_eq!(
        runtime().block_on(Store::get(&counter, "n")),
        Some("3".to_owned())
    );
}

/// Reads the clock inside its body: that read belongs to the recorded call.
#[retrace::record]
fn stamped(label: &str) -> String {
    format!("{label}@{:?}", retrace::now())
}

#[retrace::record]
async fn stamped_async(label: &str) -> String {
    tokio::task::yield_now().await;
    format!("{label}@{:?}", retrace::now())
}

#[test]
fn what_a_recorded_body_crosses_is_not_recorded_apart_from_it() {
    let dir = tempfile::tempdir().unwrap();
    let (recorder, _guard) = recorder(dir.path());
    let rt = runtime();
    let ((first, second, after), recording) = record(&recorder, dir.path(), || {
        let session = RetraceContext::current().unwrap();
        let first = stamped("a");
        let second = rt.block_on(stamped_async("b").with_context(session));
        std::thread::sleep(Duration::from_millis(2));
        (first, second, retrace::now())
    });
    let clocks = recording
        .values()
        .filter(|v| v.kind == ValueKind::Clock)
        .count();
    assert_eq!(clocks, 1, "only the read outside the recorded calls");

    // In replay the bodies do not run: the read after them gets its own value.
    let replayed = replay(&recorder, &recording, || {
        let session = RetraceContext::current().unwrap();
        let first = stamped("a");
        let second = rt.block_on(stamped_async("b").with_context(session));
        (first, second, retrace::now())
    });
    assert_eq!(replayed, (first, second, after));
}
