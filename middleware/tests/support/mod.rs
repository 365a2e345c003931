//! Real servers and clients for the layer tests: axum on 127.0.0.1, hyper-util's
//! client, a recorder on a temporary directory, and readers of what reached disk.
#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use retrace::{Config, ConfigBuilder, Recorder, RecorderGuard, Store};
use tokio::sync::{mpsc, oneshot};

pub fn config(dir: &Path) -> ConfigBuilder {
    Config::builder()
        .enabled(true)
        .service("layer-test")
        .recording_path(dir)
}

pub fn recorder(builder: ConfigBuilder) -> (Recorder, RecorderGuard) {
    Recorder::new(builder.build().expect("valid config")).expect("recorder starts")
}

/// A running server; stops when dropped.
pub struct Server {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub async fn serve(app: axum::Router) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    Server {
        addr,
        stop: Some(stop),
    }
}

pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

pub struct Answer {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

pub async fn send(client: &HttpClient, req: Request<Full<Bytes>>) -> Answer {
    let resp = client.request(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    Answer {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

pub fn get_req(url: &str) -> http::request::Builder {
    Request::builder().method("GET").uri(url)
}

pub fn empty() -> Full<Bytes> {
    Full::new(Bytes::new())
}

/// Every byte the store holds, decompressed: what a secret must never be found in.
pub fn decompressed_store(root: &Path) -> Vec<u8> {
    Store::open(root).unwrap().plain_bytes().unwrap()
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A response body fed from a channel, one frame per message: lets a test control
/// exactly when each frame is produced.
pub struct ChannelBody(pub mpsc::Receiver<Bytes>);

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|m| m.map(|b| Ok(http_body::Frame::data(b))))
    }
}

pub fn streaming(rx: mpsc::Receiver<Bytes>) -> Response<axum::body::Body> {
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(axum::body::Body::new(ChannelBody(rx)))
        .unwrap()
}

/// One GET through `app` behind a record layer recording everything: the store's
/// directory (kept while the value lives), the answer, and the one recording made.
pub struct RecordedGet {
    pub dir: tempfile::TempDir,
    pub answer: Answer,
    pub recording: retrace::Recording,
}

pub async fn record_get(app: axum::Router, path: &str) -> RecordedGet {
    let dir = tempfile::tempdir().unwrap();
    let (rec, guard) = recorder(config(dir.path()).sample_rate(1.0));
    let server = serve(app.layer(retrace_tower::RecordLayer::new(rec))).await;
    let answer = send(&client(), get_req(&server.url(path)).body(empty()).unwrap()).await;
    drop(server);
    guard.shutdown().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut recordings = store.recordings();
    let recording = recordings.next().expect("a recording").unwrap();
    assert!(recordings.next().is_none(), "one recording");
    drop(recordings);
    RecordedGet {
        dir,
        answer,
        recording,
    }
}

/// Waits, without holding up the runtime's other tasks, until every recording `rec`
/// started has ended and reached the writer: a server just dropped may still be
/// finishing a response.
pub async fn settled(rec: &Recorder) -> retrace::Stats {
    let rec = rec.clone();
    tokio::task::spawn_blocking(move || rec.wait_settled(std::time::Duration::from_secs(10)))
        .await
        .expect("the wait ran")
        .expect("every recording ended")
}
