//! Criterion benchmarks of redaction alone: what a recorded body or head costs to pass
//! through the default [`Redaction`] before it is buffered. Throughput is in bytes, so
//! criterion's report gives the cost per KiB directly.
//!
//! - `json_1kib_clean`, `json_16kib_clean`: JSON without any secret (the common case:
//!   one scan, no parse, no copy);
//! - `json_1kib_secret`: the same with a `password` member (scan, parse, re-serialise);
//! - `json_order_3kib_clean`: an API answer of words rather than numbers (an order, its
//!   address, eight warehouses' stock, as the e2e bench's realistic service answers),
//!   where ordinary words begin like the three-letter stems (`key`, `pin`, `sig`);
//! - `text_1kib_clean`: a 1 KiB log-like text body;
//! - `html_16kib_clean`: 16 KiB of HTML, whose every `<span>` holds the stem `pan`;
//! - `headers_12`: a typical request head of twelve headers, `authorization` among them;
//! - `rows_20`: 20 rows of five columns (two numbers, three short strings), as a
//!   recorded query's answer or a `#[retrace::record]` value is encoded
//!   (`Redaction::encode_value`: every field name tested, every string scanned).
//!
//! Run: `cargo bench --bench redaction`.

#[path = "support/bodies.rs"]
mod bodies;

use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http::HeaderMap;
use retrace::Redaction;

/// About `size` bytes of JSON, as the layer benchmarks use.
fn json(size: usize, secret: bool) -> Bytes {
    let mut s = String::from("{");
    if secret {
        s.push_str("\"password\":\"hunter2-hunter2\",");
    }
    s.push_str("\"items\":[");
    let mut i = 0;
    while s.len() < size - 4 {
        s.push_str(&format!("{{\"id\":{i},\"qty\":{}}},", i % 7));
        i += 1;
    }
    s.push_str("{}]}");
    Bytes::from(s)
}

/// About 3 KiB of JSON words: three orders with their stock, no secret.
fn order_json() -> Bytes {
    let orders: Vec<String> = (0..3).map(|seed| bodies::order_json(seed, 8)).collect();
    Bytes::from(format!("[{}]", orders.join(",")))
}

fn text(size: usize) -> Bytes {
    let mut s = String::new();
    let mut i = 0;
    while s.len() < size {
        s.push_str(&format!(
            "2026-12-06T03:20:{:02}Z INFO order {i} shipped to warehouse {}\n",
            i % 60,
            i % 9
        ));
        i += 1;
    }
    Bytes::from(s)
}

fn html(size: usize) -> Bytes {
    let mut s = String::new();
    let mut i = 0;
    while s.len() < size {
        s.push_str(&format!(
            "<div class=\"item\"><a href=\"/articles/notes-{i}\">Notes on replay, part \
             {i}</a><span class=\"meta\">by ann, {} comments</span></div>\n",
            i % 9
        ));
        i += 1;
    }
    Bytes::from(s)
}

fn headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in [
        ("host", "svc.local:8080"),
        (
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36",
        ),
        ("accept", "application/json, text/plain, */*"),
        ("accept-encoding", "gzip, deflate, br"),
        ("accept-language", "en-GB,en;q=0.9"),
        ("content-type", "application/json"),
        ("content-length", "1024"),
        (
            "authorization",
            "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
        ),
        ("x-request-id", "01JEXAMPLE0REQUEST0ID0000"),
        (
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ),
        ("origin", "https://app.example.com"),
        ("referer", "https://app.example.com/orders/42"),
    ] {
        h.insert(name, value.parse().expect("a header value"));
    }
    h
}

/// A row as a recorded query returns it.
#[derive(serde::Serialize)]
struct Article {
    id: i64,
    slug: String,
    title: String,
    author: String,
    favourites: i64,
}

fn rows() -> Vec<Article> {
    (0..20)
        .map(|n| Article {
            id: n,
            slug: format!("article-{n}"),
            title: format!("Notes on replay, part {n}"),
            author: format!("writer{}", n % 7),
            favourites: n * 3,
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let redaction = Redaction::default();
    let json_ct = Some(&b"application/json"[..]);
    let mut group = c.benchmark_group("redaction");
    group.measurement_time(Duration::from_secs(3));
    for (name, body, ct) in [
        ("json_1kib_clean", json(1024, false), json_ct),
        ("json_16kib_clean", json(16 * 1024, false), json_ct),
        ("json_1kib_secret", json(1024, true), json_ct),
        ("json_order_3kib_clean", order_json(), json_ct),
        ("text_1kib_clean", text(1024), Some(&b"text/plain"[..])),
        ("html_16kib_clean", html(16 * 1024), Some(&b"text/html"[..])),
    ] {
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| redaction.body(ct, std::hint::black_box(&body)))
        });
    }
    let head = headers();
    group.throughput(Throughput::Bytes(
        head.iter()
            .map(|(n, v)| n.as_str().len() + v.len())
            .sum::<usize>() as u64,
    ));
    group.bench_function("headers_12", |b| {
        b.iter(|| redaction.headers(std::hint::black_box(&head)))
    });
    let rows = rows();
    group.throughput(Throughput::Elements(rows.len() as u64));
    group.bench_function("rows_20", |b| {
        b.iter(|| redaction.encode_value(std::hint::black_box(&rows)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
