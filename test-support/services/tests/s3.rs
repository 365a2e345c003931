//! The S3 server starts, hands out separate buckets, and keeps an object byte for
//! byte.
//!
//! The requests are written by hand over a `TcpStream`, so that nothing between the
//! test and the server hides what is on the wire. moto checks no signature, but a
//! request without an `Authorization` header counts as anonymous and may not read
//! a private object; the requests carry a well-formed SigV4 header whose signature
//! is a placeholder (its credential scope also tells moto the service is S3).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use retrace_test_services::s3;

const AUTHORIZATION: &str = "AWS4-HMAC-SHA256 \
    Credential=test/20260101/us-east-1/s3/aws4_request, \
    SignedHeaders=host, \
    Signature=0000000000000000000000000000000000000000000000000000000000000000";

#[test]
fn starts_hands_out_fresh_buckets_and_keeps_objects() {
    let endpoint = s3::endpoint();
    assert!(
        endpoint.starts_with("http://127.0.0.1:"),
        "{endpoint} is not on loopback"
    );
    let env = s3::env();
    assert!(
        env.contains(&("AWS_ENDPOINT_URL", endpoint.to_owned())),
        "{env:?}"
    );

    let a = bucket(&s3::fresh_bucket("s3 test"));
    let b = bucket(&s3::fresh_bucket("s3 test"));
    assert_ne!(a, b);

    // Every byte value, and line ends, which a text-minded client would mangle.
    let object: Vec<u8> = (0..=255_u8)
        .chain(*b"\r\n\n\r")
        .cycle()
        .take(70_000)
        .collect();
    let (status, body) = exchange(endpoint, "PUT", &format!("/{a}/dir/object.bin"), &object);
    assert_eq!(status, 200, "PUT: {}", String::from_utf8_lossy(&body));

    let (status, body) = exchange(endpoint, "GET", &format!("/{a}/dir/object.bin"), b"");
    assert_eq!(status, 200, "GET: {}", String::from_utf8_lossy(&body));
    assert!(body == object, "the object came back changed");

    // The other bucket is empty: the buckets are separate.
    let (status, body) = exchange(endpoint, "GET", &format!("/{b}/dir/object.bin"), b"");
    let text = String::from_utf8_lossy(&body);
    assert_eq!(status, 404, "{text}");
    assert!(text.contains("<Code>NoSuchKey</Code>"), "{text}");

    // A bucket never created is refused by name.
    let (status, body) = exchange(endpoint, "GET", "/never-created-bucket/dir/object.bin", b"");
    let text = String::from_utf8_lossy(&body);
    assert_eq!(status, 404, "{text}");
    assert!(text.contains("<Code>NoSuchBucket</Code>"), "{text}");
}

/// The bucket's name in an `s3://NAME` URL.
fn bucket(url: &str) -> String {
    url.strip_prefix("s3://")
        .unwrap_or_else(|| panic!("{url} does not start with s3://"))
        .to_owned()
}

/// One HTTP/1.1 exchange on a connection of its own: the status and the body.
fn exchange(endpoint: &str, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let authority = endpoint
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("{endpoint} is not an http:// URL"));
    let mut stream = TcpStream::connect(authority)
        .unwrap_or_else(|error| panic!("connect to {authority}: {error}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("a read timeout");
    let head = format!(
        "{method} {path} HTTP/1.1\r\n\
         Host: {authority}\r\n\
         Authorization: {AUTHORIZATION}\r\n\
         Content-Type: application/octet-stream\r\n\
         Content-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("send the head");
    stream.write_all(body).expect("send the body");

    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .unwrap_or_else(|error| panic!("read the answer to {method} {path}: {error}"));
    let end = response
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of head in {:?}", String::from_utf8_lossy(&response)));
    let head = String::from_utf8_lossy(&response[..end]).into_owned();
    let body = response[end + 4..].to_vec();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    let length = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or_else(|| panic!("no Content-Length in {head:?}"));
    assert_eq!(body.len(), length, "the body's length, for {head:?}");
    (status, body)
}
