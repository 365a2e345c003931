//! Test support: a recording root in a temporary directory, realistic recordings made
//! through the core recorder (the same path a server layer takes), hand-crafted segments
//! with chosen start times (for retention), and a runner for the real `retrace` binary.
//!
//! Recordings are described by [`Spec`]s, so when the server layer lands these tests can
//! make the same recordings by sending real requests instead.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use retrace::event::Chunk;
use retrace::metadata::{METADATA_FILE, SessionMetadata};
use retrace::segment::{
    IndexEntry, SEGMENT_EXT, SegmentHeader, SegmentIndex, encode_frame, encode_payload,
};
use retrace::{
    Begin, BodyChunk, BodyEnd, CallOutcome, Config, End, Event, Header, OutboundCall,
    OutboundResult, Outcome, RecordReason, Recorder, RecordingId, RequestHead, ResponseHead,
    StartOptions, Summary, TraceId, WholeBody,
};

/// A recording root in a temporary directory.
pub struct Root {
    dir: tempfile::TempDir,
}

/// What running the binary produced.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub raw_stdout: Vec<u8>,
}

impl Run {
    /// The stdout lines.
    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }
}

/// Runs the binary with these arguments and no recording path in the environment.
pub fn retrace_raw(args: &[&str]) -> Run {
    retrace_env(args, &[])
}

/// Runs the binary with these arguments and these environment variables, and no
/// recording path in the environment.
pub fn retrace_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_retrace"))
        .args(args)
        .env_remove("RETRACE_RECORDING_PATH")
        .env("NO_COLOR", "1")
        .envs(env.iter().copied())
        .output()
        .expect("the binary runs");
    Run {
        code: out.status.code().expect("exited"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        raw_stdout: out.stdout,
    }
}

impl Root {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The root as text, as it appears in paths the binary prints.
    pub fn text(&self) -> String {
        self.path().display().to_string()
    }

    /// Runs `retrace ARGS --path ROOT`.
    pub fn retrace(&self, args: &[&str]) -> Run {
        self.retrace_env(args, &[])
    }

    /// Runs `retrace ARGS --path ROOT` with these environment variables.
    pub fn retrace_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut all: Vec<&str> = args.to_vec();
        let root = self.text();
        all.extend(["--path", &root]);
        retrace_env(&all, env)
    }

    /// Records `specs` as one session of `service`, in order, a few milliseconds apart
    /// so their ids sort in the same order. With `flush_each`, every recording is
    /// written as a frame of its own. Returns the ids.
    pub fn record(&self, service: &str, specs: &[Spec]) -> Vec<String> {
        self.record_with(service, specs, false)
    }

    pub fn record_with(&self, service: &str, specs: &[Spec], flush_each: bool) -> Vec<String> {
        self.record_configured(service, specs, flush_each, |c| c)
    }

    /// [`Root::record_with`] with more configuration (encryption, say).
    pub fn record_configured(
        &self,
        service: &str,
        specs: &[Spec],
        flush_each: bool,
        configure: impl FnOnce(retrace::ConfigBuilder) -> retrace::ConfigBuilder,
    ) -> Vec<String> {
        let config = configure(
            Config::builder()
                .enabled(true)
                .recording_path(self.path())
                .service(service),
        )
        .build()
        .expect("config");
        let (recorder, guard) = Recorder::new(config).expect("recorder");
        let mut ids = Vec::new();
        for spec in specs {
            std::thread::sleep(Duration::from_millis(3));
            let handle = recorder
                .start(StartOptions::new(spec.reason).trace_id(spec.trace_id))
                .expect("recording on");
            for event in spec.events() {
                handle.record(event);
            }
            handle.finish(spec.status, spec.outcome.clone());
            ids.push(handle.id().to_string());
            if flush_each {
                recorder.flush(Duration::from_secs(5)).expect("flush");
            }
        }
        guard.shutdown().expect("shutdown");
        ids
    }

    /// The session directories, by name.
    pub fn sessions(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = fs::read_dir(self.path())
            .expect("root")
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        dirs.sort();
        dirs
    }

    /// The segment files of every session.
    pub fn segments(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = self
            .sessions()
            .iter()
            .flat_map(|d| {
                fs::read_dir(d)
                    .expect("session")
                    .flatten()
                    .map(|e| e.path())
            })
            .filter(|p| p.extension().is_some_and(|e| e == SEGMENT_EXT))
            .collect();
        files.sort();
        files
    }
}

fn headers(pairs: &[(&str, &str)]) -> Vec<Header> {
    pairs
        .iter()
        .map(|(n, v)| Header::new(n.to_string(), Bytes::from(v.to_string())))
        .collect()
}

fn body_end(at_us: u64, data: &[u8]) -> BodyEnd {
    BodyEnd {
        at_us,
        total_len: data.len() as u64,
        captured_len: data.len() as u64,
        digest: None,
        trailers: Vec::new(),
        finished: true,
    }
}

/// An outgoing call.
#[derive(Clone, Debug)]
pub struct CallSpec {
    pub target: String,
    pub method: String,
    pub uri: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub at_us: u64,
    pub duration_us: u64,
    /// The answer's status, or the error text.
    pub answer: Result<u16, String>,
    pub response_headers: Vec<(String, String)>,
    pub response_body: Vec<u8>,
}

impl CallSpec {
    pub fn new(target: &str, method: &str, uri: &str, at_us: u64, duration_us: u64) -> Self {
        Self {
            target: target.into(),
            method: method.into(),
            uri: uri.into(),
            headers: Vec::new(),
            body: Vec::new(),
            at_us,
            duration_us,
            answer: Ok(200),
            response_headers: vec![("content-type".into(), "application/json".into())],
            response_body: br#"{"ok":true}"#.to_vec(),
        }
    }

    pub fn status(mut self, status: u16) -> Self {
        self.answer = Ok(status);
        self
    }

    pub fn error(mut self, text: &str) -> Self {
        self.answer = Err(text.into());
        self
    }

    pub fn body(mut self, content_type: &str, body: &[u8]) -> Self {
        self.headers
            .push(("content-type".into(), content_type.into()));
        self.body = body.to_vec();
        self
    }

    fn events(&self, call_id: u32) -> [Event; 2] {
        let h: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let rh: Vec<(&str, &str)> = self
            .response_headers
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let outcome = match &self.answer {
            Ok(status) => CallOutcome::Response {
                head: ResponseHead {
                    status: *status,
                    version: "HTTP/1.1".into(),
                    headers: headers(&rh),
                },
                body: WholeBody {
                    data: Bytes::from(self.response_body.clone()),
                    end: body_end(self.at_us + self.duration_us, &self.response_body),
                },
            },
            Err(e) => CallOutcome::Error(e.clone()),
        };
        [
            Event::Call(Box::new(OutboundCall {
                call_id,
                target: self.target.clone(),
                at_us: self.at_us,
                head: RequestHead {
                    method: self.method.clone().into(),
                    uri: self.uri.clone(),
                    version: "HTTP/1.1".into(),
                    headers: headers(&h),
                },
                body: WholeBody {
                    data: Bytes::from(self.body.clone()),
                    end: body_end(self.at_us, &self.body),
                },
            })),
            Event::CallResult(Box::new(OutboundResult {
                call_id,
                duration_us: self.duration_us,
                outcome,
            })),
        ]
    }
}

/// An incoming request, what the service did, and its response.
#[derive(Clone, Debug)]
pub struct Spec {
    pub method: String,
    pub uri: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub calls: Vec<CallSpec>,
    pub status: Option<u16>,
    pub response_headers: Vec<(String, String)>,
    pub response_body: Vec<u8>,
    pub reason: RecordReason,
    pub trace_id: Option<TraceId>,
    pub outcome: Outcome,
    /// Bytes of the response body that passed through but were not kept.
    pub response_cut: u64,
}

impl Spec {
    pub fn new(method: &str, uri: &str, status: u16) -> Self {
        Self {
            method: method.into(),
            uri: uri.into(),
            headers: vec![("host".into(), "shop.example".into())],
            body: Vec::new(),
            calls: Vec::new(),
            status: Some(status),
            response_headers: vec![("content-type".into(), "application/json".into())],
            response_body: format!(r#"{{"status":{status}}}"#).into_bytes(),
            reason: RecordReason::Sampled,
            trace_id: None,
            outcome: Outcome::Completed,
            response_cut: 0,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn body(mut self, content_type: &str, body: &[u8]) -> Self {
        self.headers
            .push(("content-type".into(), content_type.into()));
        self.body = body.to_vec();
        self
    }

    pub fn response(mut self, content_type: &str, body: &[u8]) -> Self {
        self.response_headers = vec![("content-type".into(), content_type.into())];
        self.response_body = body.to_vec();
        self
    }

    pub fn call(mut self, call: CallSpec) -> Self {
        self.calls.push(call);
        self
    }

    pub fn reason(mut self, reason: RecordReason) -> Self {
        self.reason = reason;
        self
    }

    pub fn trace(mut self, hex: &str) -> Self {
        self.trace_id = Some(hex.parse().expect("trace id"));
        self
    }

    /// The service returned an error instead of a response.
    pub fn failed(mut self, error: &str) -> Self {
        self.status = None;
        self.outcome = Outcome::Failed(error.into());
        self
    }

    /// The response body passed its cap: `cut` more bytes went by unkept.
    pub fn cut_response(mut self, cut: u64) -> Self {
        self.response_cut = cut;
        self
    }

    fn events(&self) -> Vec<Event> {
        let h: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let mut events = vec![Event::Request(RequestHead {
            method: self.method.clone().into(),
            uri: self.uri.clone(),
            version: "HTTP/1.1".into(),
            headers: headers(&h),
        })];
        if !self.body.is_empty() {
            events.push(Event::RequestBody(BodyChunk {
                at_us: 50,
                data: Bytes::from(self.body.clone()),
            }));
        }
        events.push(Event::RequestEnd(body_end(60, &self.body)));
        for (i, call) in self.calls.iter().enumerate() {
            events.extend(call.events(i as u32));
        }
        if let Some(status) = self.status {
            let rh: Vec<(&str, &str)> = self
                .response_headers
                .iter()
                .map(|(a, b)| (a.as_str(), b.as_str()))
                .collect();
            events.push(Event::Response(ResponseHead {
                status,
                version: "HTTP/1.1".into(),
                headers: headers(&rh),
            }));
            events.push(Event::ResponseBody(BodyChunk {
                at_us: 900,
                data: Bytes::from(self.response_body.clone()),
            }));
            let mut end = body_end(950, &self.response_body);
            end.total_len += self.response_cut;
            events.push(Event::ResponseEnd(end));
        }
        events
    }
}

/// A recording in a hand-crafted segment, with a chosen start.
#[derive(Clone, Debug)]
pub struct Crafted {
    pub started_unix_us: u64,
    pub status: u16,
    pub reason: RecordReason,
    pub uri: String,
    /// Whether the recording ended (false: its last chunk never reached disk).
    pub ended: bool,
}

impl Crafted {
    pub fn new(started_unix_us: u64, status: u16) -> Self {
        Self {
            started_unix_us,
            status,
            reason: RecordReason::Sampled,
            uri: "/crafted".into(),
            ended: true,
        }
    }

    pub fn reason(mut self, reason: RecordReason) -> Self {
        self.reason = reason;
        self
    }

    pub fn uri(mut self, uri: &str) -> Self {
        self.uri = uri.into();
        self
    }

    pub fn unfinished(mut self) -> Self {
        self.ended = false;
        self
    }

    fn chunk(&self) -> Chunk {
        let id =
            RecordingId::from_parts(self.started_unix_us / 1000, rand_bits(self.started_unix_us));
        let mut chunk = Chunk {
            id,
            seq: 0,
            last: true,
            events: vec![
                Event::Begin(Begin {
                    started_unix_us: self.started_unix_us,
                    trace_id: None,
                    tentative: false,
                }),
                Event::Request(RequestHead {
                    method: "GET".into(),
                    uri: self.uri.clone(),
                    version: "HTTP/1.1".into(),
                    headers: Vec::new(),
                }),
                Event::Response(ResponseHead {
                    status: self.status,
                    version: "HTTP/1.1".into(),
                    headers: Vec::new(),
                }),
                Event::End(End {
                    status: Some(self.status),
                    duration_us: 1_000,
                    outcome: Outcome::Completed,
                    reason: self.reason,
                    losses: Vec::new(),
                }),
            ],
        };
        if !self.ended {
            chunk.last = false;
            chunk.events.truncate(3);
        }
        chunk
    }
}

fn rand_bits(seed: u64) -> u128 {
    // Distinct, deterministic low bits per start time.
    u128::from(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1
}

/// Writes a session directory by hand: `segments` of crafted recordings, each closed
/// (with an index) or not. Returns the session directory and the segment paths.
pub fn craft_session(
    root: &Path,
    name: &str,
    closed_cleanly: bool,
    segments: &[(&[Crafted], bool)],
) -> (PathBuf, Vec<PathBuf>) {
    let dir = root.join(name);
    fs::create_dir_all(&dir).expect("session dir");
    let meta = SessionMetadata {
        session: name.into(),
        service: name.split('_').next().unwrap_or(name).into(),
        closed_cleanly,
        ..SessionMetadata::default()
    };
    fs::write(
        dir.join(METADATA_FILE),
        serde_json::to_vec_pretty(&meta).expect("json"),
    )
    .expect("metadata");
    let mut paths = Vec::new();
    for (n, (recordings, closed)) in segments.iter().enumerate() {
        let chunks: Vec<Chunk> = recordings.iter().map(Crafted::chunk).collect();
        let mut data = SegmentHeader::CURRENT.encode().to_vec();
        let offset = data.len() as u64;
        encode_frame(&encode_payload(&chunks).expect("encode"), &mut data);
        let path = dir.join(format!("seg-{n:06}.{SEGMENT_EXT}"));
        fs::write(&path, &data).expect("segment");
        if *closed {
            let entries = chunks
                .iter()
                .map(|c| {
                    let mut summary = Summary::new(c.id);
                    summary.absorb(c);
                    IndexEntry {
                        id: c.id,
                        frames: vec![offset],
                        summary,
                    }
                })
                .collect();
            let index = SegmentIndex {
                segment_len: data.len() as u64,
                entries,
            };
            fs::write(path.with_extension("rtidx"), index.encode().expect("index"))
                .expect("index file");
        }
        paths.push(path);
    }
    (dir, paths)
}

/// Now, in microseconds since the Unix epoch.
pub fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_micros() as u64
}

pub const HOUR_US: u64 = 3_600_000_000;
pub const DAY_US: u64 = 24 * HOUR_US;

/// A server on 127.0.0.1 that stops when dropped: the target of a replay.
pub struct Server {
    pub addr: std::net::SocketAddr,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Server {
    /// Serves `app` on a free port, on `rt`.
    pub fn start(rt: &tokio::runtime::Runtime, app: axum::Router) -> Self {
        rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            tokio::spawn(async move {
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
            });
            Self { addr, _stop: stop }
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// A two-worker runtime for the servers a test starts.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The `retrace` command reading a bucket URL: the S3 test server's environment, and a
/// mirror cache of its own (`RETRACE_CACHE_DIR`), so each test starts cold.
pub struct BucketReader {
    url: String,
    env: Vec<(&'static str, String)>,
    cache: tempfile::TempDir,
}

impl BucketReader {
    pub fn new(url: &str) -> Self {
        let cache = tempfile::tempdir().expect("cache");
        let mut env = retrace_test_services::s3::env();
        env.push(("RETRACE_CACHE_DIR", cache.path().display().to_string()));
        Self {
            url: url.to_owned(),
            env,
            cache,
        }
    }

    /// Runs `retrace ARGS --path URL`.
    pub fn run(&self, args: &[&str]) -> Run {
        let mut all = args.to_vec();
        all.extend(["--path", &self.url]);
        let env: Vec<(&str, &str)> = self.env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        retrace_env(&all, &env)
    }

    /// The mirror cache.
    pub fn cache(&self) -> &Path {
        self.cache.path()
    }
}
