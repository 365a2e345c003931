//! Fills a recording directory with many realistic recordings through the real recorder
//! and writer, to measure how fast `retrace ls` lists them.
//!
//! ```text
//! cargo run --release -p retrace-cli --example generate_recordings -- /tmp/rt-100k 100000
//! cargo build --release -p retrace-cli
//! time target/release/retrace ls --path /tmp/rt-100k > /dev/null
//! ```

use std::time::{Duration, Instant};

use bytes::Bytes;
use retrace::{
    BodyChunk, BodyEnd, CallOutcome, Config, Event, Header, OutboundCall, OutboundResult, Outcome,
    RecordReason, Recorder, RequestHead, ResponseHead, StartOptions, WholeBody,
};

fn end(len: usize) -> BodyEnd {
    BodyEnd {
        total_len: len as u64,
        captured_len: len as u64,
        finished: true,
        ..BodyEnd::default()
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .ok_or("usage: generate_recordings DIR [COUNT]")?;
    let count: usize = args.next().map_or(Ok(100_000), |c| c.parse())?;
    let config = Config::builder()
        .enabled(true)
        .recording_path(&dir)
        .service("bench")
        .build()?;
    let (recorder, guard) = Recorder::new(config)?;
    let started = Instant::now();
    for i in 0..count {
        let Some(rec) = recorder.start(StartOptions::new(RecordReason::Sampled)) else {
            return Err("recording is off".into());
        };
        let status = if i % 50 == 0 { 503 } else { 200 };
        let body = Bytes::from(format!(r#"{{"order":{i},"items":["book","pen"]}}"#));
        rec.record(Event::Request(RequestHead {
            method: "POST".into(),
            uri: format!("/api/orders/{i}?expand=items"),
            version: "HTTP/1.1".into(),
            headers: vec![
                Header::new("host", "shop.example"),
                Header::new("content-type", "application/json"),
                Header::new("user-agent", "load-generator/1.0"),
            ],
        }));
        rec.record(Event::RequestBody(BodyChunk {
            at_us: 20,
            data: body.clone(),
        }));
        rec.record(Event::RequestEnd(end(body.len())));
        rec.record(Event::Call(Box::new(OutboundCall {
            call_id: 0,
            target: "payments:443".into(),
            at_us: 100,
            head: RequestHead {
                method: "POST".into(),
                uri: "https://payments:443/charge".into(),
                version: "HTTP/1.1".into(),
                headers: vec![Header::new("content-type", "application/json")],
            },
            body: WholeBody {
                data: Bytes::from_static(br#"{"amount":1200}"#),
                end: end(15),
            },
        })));
        rec.record(Event::CallResult(Box::new(OutboundResult {
            call_id: 0,
            duration_us: 1_500,
            outcome: CallOutcome::Response {
                head: ResponseHead {
                    status: 200,
                    version: "HTTP/1.1".into(),
                    headers: Vec::new(),
                },
                body: WholeBody {
                    data: Bytes::from_static(br#"{"ok":true}"#),
                    end: end(11),
                },
            },
        })));
        rec.record(Event::Response(ResponseHead {
            status,
            version: "HTTP/1.1".into(),
            headers: vec![Header::new("content-type", "application/json")],
        }));
        rec.record(Event::ResponseBody(BodyChunk {
            at_us: 1_800,
            data: body.clone(),
        }));
        rec.record(Event::ResponseEnd(end(body.len())));
        rec.finish(Some(status), Outcome::Completed);
        // The hand-off is lossy by design; pace the generator so nothing is dropped.
        if i % 256 == 255 {
            recorder.flush(Duration::from_secs(30))?;
        }
    }
    let stats = guard.shutdown()?;
    println!(
        "wrote {} of {} recordings to {dir} in {:.1?} ({} dropped)",
        stats.written,
        stats.started,
        started.elapsed(),
        stats.dropped_total()
    );
    Ok(())
}
