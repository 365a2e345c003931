//! The driver starts, and a session with [`browser::capabilities`] gets a headless
//! Chromium that loads a page, reports its title, and goes away again.
//!
//! The WebDriver requests are written by hand over a `TcpStream`, so that nothing
//! between the test and the driver hides what is on the wire, and so that the
//! capabilities are shown to work as a client would send them.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use retrace_test_services::browser;
use serde_json::{Value, json};

#[test]
fn a_session_loads_a_page_in_headless_chromium() {
    let url = browser::webdriver_url();
    assert!(
        url.starts_with("http://127.0.0.1:"),
        "{url} is not on loopback"
    );
    let capabilities = browser::capabilities();
    assert_eq!(
        capabilities["goog:chromeOptions"]["binary"],
        browser::chromium_binary()
    );

    let (status, body) = exchange(
        url,
        "POST",
        "/session",
        Some(&json!({ "capabilities": { "alwaysMatch": capabilities } })),
    );
    assert_eq!(status, 200, "new session: {body}");
    let session = body["value"]["sessionId"]
        .as_str()
        .unwrap_or_else(|| panic!("no session id in {body}"))
        .to_owned();
    assert!(!session.is_empty(), "an empty session id in {body}");
    let granted = &body["value"]["capabilities"];
    assert_eq!(granted["browserName"], "chrome", "{body}");

    let (status, body) = exchange(
        url,
        "POST",
        &format!("/session/{session}/url"),
        Some(&json!({ "url": "data:text/html,<title>ok</title>" })),
    );
    assert_eq!(status, 200, "navigate: {body}");

    let (status, body) = exchange(url, "GET", &format!("/session/{session}/title"), None);
    assert_eq!(status, 200, "title: {body}");
    assert_eq!(body["value"], "ok", "{body}");

    // The headless window has the size the capabilities ask for.
    let (status, body) = exchange(url, "GET", &format!("/session/{session}/window/rect"), None);
    assert_eq!(status, 200, "window rect: {body}");
    assert_eq!(
        (&body["value"]["width"], &body["value"]["height"]),
        (&json!(1280), &json!(900)),
        "{body}"
    );

    let (status, body) = exchange(url, "DELETE", &format!("/session/{session}"), None);
    assert_eq!(status, 200, "delete session: {body}");

    // The session is gone: the driver no longer knows it.
    let (status, body) = exchange(url, "GET", &format!("/session/{session}/title"), None);
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["value"]["error"], "invalid session id", "{body}");
}

/// One HTTP/1.1 exchange on a connection of its own: the status and the JSON body.
fn exchange(url: &str, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let authority = url
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("{url} is not an http:// URL"));
    let mut stream = TcpStream::connect(authority)
        .unwrap_or_else(|error| panic!("connect to {authority}: {error}"));
    // Starting a browser takes a few seconds; loading a page in it, less.
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("a read timeout");
    let body = body.map(Value::to_string).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\n\
         Host: {authority}\r\n\
         Content-Type: application/json; charset=utf-8\r\n\
         Content-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("send the head");
    stream.write_all(body.as_bytes()).expect("send the body");

    // Read the head, then exactly Content-Length bytes: the answer is complete
    // whether or not the driver closes the connection after it.
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        let read = reader
            .read_line(&mut line)
            .unwrap_or_else(|error| panic!("read the answer to {method} {path}: {error}"));
        assert!(read > 0, "the connection closed in the head: {head:?}");
        if line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
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
    let mut body = vec![0; length];
    reader
        .read_exact(&mut body)
        .unwrap_or_else(|error| panic!("read the body of the answer to {method} {path}: {error}"));
    let body = serde_json::from_slice(&body).unwrap_or_else(|error| {
        panic!(
            "the answer to {method} {path} is not JSON ({error}): {:?}",
            String::from_utf8_lossy(&body)
        )
    });
    (status, body)
}
