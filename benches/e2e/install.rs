//! The arms' recorders, installed for one run.

use super::*;

/// A recorder of one arm, running for one run.
pub(super) enum Installed {
    Nothing,
    Retrace {
        layer: RecordLayer,
        guard: RecorderGuard,
        pause: Option<WriterPauseGuard>,
    },
    TraceLogs {
        dispatch: Dispatch,
        guard: WorkerGuard,
        errors: ErrorCounter,
    },
    Naive(Arc<NaiveRecorder>),
}

/// What an arm left behind.
pub(super) struct Drained {
    pub(super) disk_bytes: u64,
    /// Records kept and lost, where the arm can tell.
    pub(super) kept: Option<u64>,
    pub(super) lost: Option<u64>,
}

impl Installed {
    pub(super) fn install(capture: Capture, dir: &Path) -> Self {
        match capture {
            Capture::Nothing => Self::Nothing,
            Capture::Retrace(mode) => install_retrace(mode, dir),
            Capture::TraceLogs => install_trace_logs(dir),
            Capture::Naive => Self::Naive(Arc::new(NaiveRecorder::create(dir))),
        }
    }

    /// Whether the service's upstream client goes through [`ClientLayer`].
    pub(super) fn records_calls(&self) -> bool {
        matches!(self, Self::Retrace { .. })
    }

    /// The service with this arm's layers.
    pub(super) fn wrap(&self, app: Router) -> Router {
        match self {
            Self::Nothing => app,
            Self::Retrace { layer, .. } => app.layer(layer.clone()),
            Self::TraceLogs { .. } => app.layer(middleware::from_fn(log_request_body)).layer(
                TraceLayer::new_for_http()
                    .make_span_with(
                        DefaultMakeSpan::new()
                            .level(Level::INFO)
                            .include_headers(true),
                    )
                    .on_request(DefaultOnRequest::new().level(Level::INFO))
                    .on_response(
                        DefaultOnResponse::new()
                            .level(Level::INFO)
                            .include_headers(true),
                    )
                    .on_body_chunk(log_response_chunk),
            ),
            Self::Naive(recorder) => app.layer(middleware::from_fn_with_state(
                Arc::clone(recorder),
                naive_record,
            )),
        }
    }

    /// The subscriber the service's connections run under.
    pub(super) fn dispatch(&self) -> Option<Dispatch> {
        match self {
            Self::TraceLogs { dispatch, .. } => Some(dispatch.clone()),
            _ => None,
        }
    }

    /// Flushes and closes what the arm writes; blocks until it is on disk.
    pub(super) fn drain(self, dir: &Path) -> Drained {
        let (kept, lost) = match self {
            Self::Nothing => (None, None),
            Self::Retrace {
                layer,
                guard,
                pause,
            } => {
                drop(layer);
                drop(pause);
                let stats = guard.shutdown().expect("the recorder shuts down cleanly");
                (Some(stats.written), Some(stats.dropped_total()))
            }
            Self::TraceLogs {
                dispatch,
                guard,
                errors,
            } => {
                drop(dispatch);
                drop(guard);
                (None, Some(errors.dropped_lines() as u64))
            }
            Self::Naive(recorder) => {
                let mut out = recorder.out.lock().expect("naive recorder lock");
                out.flush().expect("flushing the naive recorder");
                (Some(recorder.entries.load(Ordering::Relaxed)), None)
            }
        };
        Drained {
            disk_bytes: dir_size(dir),
            kept,
            lost,
        }
    }
}

pub(super) fn install_retrace(mode: RetraceMode, dir: &Path) -> Installed {
    let mut config = Config::builder()
        .enabled(mode != RetraceMode::Off)
        .service("e2e")
        .recording_path(dir);
    config = match mode {
        RetraceMode::Off | RetraceMode::Tentative => config,
        RetraceMode::Sampled(rate) => config.sample_rate(rate),
        RetraceMode::Stalled => config
            .sample_rate(1.0)
            .channel_capacity(65_536)
            .max_in_flight_bytes(FLOOD_BUDGET),
    };
    let (recorder, guard) =
        Recorder::new(config.build().expect("valid config")).expect("the recorder starts");
    let layer = match mode {
        RetraceMode::Tentative => RecordLayer::builder(recorder.clone())
            .policy(
                Policy::builder()
                    .sample_rate(0.0)
                    .tail(Some(TailKeep::default()))
                    .build()
                    .expect("valid policy"),
            )
            .build()
            .expect("the record layer builds"),
        _ => RecordLayer::new(recorder.clone()),
    };
    let pause = if mode == RetraceMode::Stalled {
        recorder.pause_writer()
    } else {
        None
    };
    Installed::Retrace {
        layer,
        guard,
        pause,
    }
}

pub(super) fn install_trace_logs(dir: &Path) -> Installed {
    let file = File::create(dir.join("requests.log")).expect("creating the log file");
    let (writer, guard) = tracing_appender::non_blocking(file);
    let errors = writer.error_counter();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_max_level(Level::INFO)
        .with_writer(writer)
        .finish();
    Installed::TraceLogs {
        dispatch: Dispatch::new(subscriber),
        guard,
        errors,
    }
}

/// Arm 7: logs the request body (`TraceLayer` only sees the response's).
pub(super) async fn log_request_body(req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    tracing::info!(body = %String::from_utf8_lossy(&bytes), "request body");
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// Arm 7: logs each response body chunk.
pub(super) fn log_response_chunk(chunk: &Bytes, _latency: Duration, _span: &Span) {
    tracing::info!(body = %String::from_utf8_lossy(chunk), "response body chunk");
}

/// Arm 8: what one writes first: a mutex around a buffered file, a JSON line per request.
pub(super) struct NaiveRecorder {
    pub(super) out: Mutex<BufWriter<File>>,
    pub(super) entries: AtomicU64,
}

#[derive(Serialize)]
pub(super) struct NaiveEntry<'a> {
    pub(super) duration_us: u64,
    pub(super) method: &'a str,
    pub(super) uri: String,
    pub(super) request_headers: Vec<(&'a str, Cow<'a, str>)>,
    pub(super) request_body: Cow<'a, str>,
    pub(super) status: u16,
    pub(super) response_headers: Vec<(&'a str, Cow<'a, str>)>,
    pub(super) response_body: Cow<'a, str>,
}

impl NaiveRecorder {
    pub(super) fn create(dir: &Path) -> Self {
        let file = File::create(dir.join("recordings.jsonl")).expect("creating the naive file");
        Self {
            out: Mutex::new(BufWriter::new(file)),
            entries: AtomicU64::new(0),
        }
    }

    pub(super) fn write(&self, entry: &NaiveEntry<'_>) {
        let Ok(mut out) = self.out.lock() else {
            return;
        };
        if serde_json::to_writer(&mut *out, entry).is_ok() && out.write_all(b"\n").is_ok() {
            self.entries.fetch_add(1, Ordering::Relaxed);
        }
    }
}

pub(super) fn header_list(headers: &http::HeaderMap) -> Vec<(&str, Cow<'_, str>)> {
    headers
        .iter()
        .map(|(n, v)| (n.as_str(), String::from_utf8_lossy(v.as_bytes())))
        .collect()
}

pub(super) async fn naive_record(
    State(recorder): State<Arc<NaiveRecorder>>,
    req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let Ok(request_body) = axum::body::to_bytes(body, 1 << 20).await else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let method = parts.method.clone();
    let uri = parts.uri.to_string();
    let request_headers = parts.headers.clone();
    let response = next
        .run(Request::from_parts(parts, Body::from(request_body.clone())))
        .await;
    let (parts, body) = response.into_parts();
    let Ok(response_body) = axum::body::to_bytes(body, 1 << 20).await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    recorder.write(&NaiveEntry {
        duration_us: started.elapsed().as_micros() as u64,
        method: method.as_str(),
        uri,
        request_headers: header_list(&request_headers),
        request_body: String::from_utf8_lossy(&request_body),
        status: parts.status.as_u16(),
        response_headers: header_list(&parts.headers),
        response_body: String::from_utf8_lossy(&response_body),
    });
    Response::from_parts(parts, Body::from(response_body))
}
