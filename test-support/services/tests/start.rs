//! The cluster starts, answers on its port, and hands out separate databases.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

const PREFIX: &str = "postgres://postgres@127.0.0.1:";

#[test]
fn starts_answers_and_hands_out_fresh_databases() {
    let url = retrace_test_services::url();
    let (port, database) = port_and_database(url);
    assert_eq!(database, "retrace");
    TcpStream::connect(("127.0.0.1", port)).expect("connect to the cluster's port");
    open_session(port, "retrace").expect("a session on the retrace database");

    let a = retrace_test_services::fresh_database("start test");
    let b = retrace_test_services::fresh_database("start test");
    assert_ne!(a, b);
    for fresh in [&a, &b] {
        let (fresh_port, name) = port_and_database(fresh);
        assert_eq!(fresh_port, port, "{fresh} is on another cluster than {url}");
        open_session(port, name).unwrap_or_else(|error| panic!("a session on {fresh}: {error}"));
    }

    // The session check tells databases apart: a name never created is refused.
    let refused = open_session(port, "no_such_database").expect_err("no such database");
    assert!(refused.contains("does not exist"), "{refused}");
}

fn port_and_database(url: &str) -> (u16, &str) {
    let rest = url
        .strip_prefix(PREFIX)
        .unwrap_or_else(|| panic!("{url} does not start with {PREFIX}"));
    let (port, database) = rest.split_once('/').expect("a database in the URL");
    (port.parse().expect("a numeric port"), database)
}

/// Opens a session over the PostgreSQL wire protocol (version 3.0) as user
/// `postgres` and closes it again: `Ok` once the server is ready for queries (trust
/// authentication, database exists), `Err` with the server's error fields when it
/// refuses.
fn open_session(port: u16, database: &str) -> Result<(), String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;

    let mut body = 196_608_u32.to_be_bytes().to_vec(); // protocol 3.0
    for (key, value) in [("user", "postgres"), ("database", database)] {
        body.extend_from_slice(key.as_bytes());
        body.push(0);
        body.extend_from_slice(value.as_bytes());
        body.push(0);
    }
    body.push(0);
    let length = u32::try_from(body.len() + 4).expect("a short startup message");
    let mut message = length.to_be_bytes().to_vec();
    message.extend_from_slice(&body);
    stream.write_all(&message).map_err(|e| e.to_string())?;

    // Authentication comes before the database is looked up, so read on to
    // ReadyForQuery ('Z') or an ErrorResponse ('E').
    loop {
        let mut header = [0_u8; 5];
        stream.read_exact(&mut header).map_err(|e| e.to_string())?;
        let length = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
        let mut payload = vec![0_u8; length.saturating_sub(4)];
        stream.read_exact(&mut payload).map_err(|e| e.to_string())?;
        match header[0] {
            b'R' if !payload.starts_with(&[0, 0, 0, 0]) => {
                return Err(format!(
                    "asked for authentication {payload:?}; expected trust"
                ));
            }
            b'E' => return Err(String::from_utf8_lossy(&payload).replace('\0', " ")),
            b'Z' => {
                // Ready for a query; say goodbye (Terminate).
                stream
                    .write_all(&[b'X', 0, 0, 0, 4])
                    .map_err(|e| e.to_string())?;
                return Ok(());
            }
            _ => {} // AuthenticationOk, ParameterStatus, BackendKeyData, notices
        }
    }
}
