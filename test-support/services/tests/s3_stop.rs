//! `s3::stop_and_wait` really takes the server away. In a test binary of its own,
//! since it ends this process's server for every other test in it.

use std::net::TcpStream;

use retrace_test_services::s3;

#[test]
fn stop_and_wait_leaves_nothing_listening() {
    let endpoint = s3::endpoint();
    let port: u16 = endpoint
        .rsplit_once(':')
        .and_then(|(_, port)| port.parse().ok())
        .unwrap_or_else(|| panic!("no port in {endpoint}"));
    TcpStream::connect(("127.0.0.1", port)).expect("the server answers before the stop");

    s3::stop_and_wait();

    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "port {port} still answers after stop_and_wait"
    );
    let dir = std::env::temp_dir().join(format!("retrace-s3-{}", std::process::id()));
    assert!(!dir.exists(), "{} is left", dir.display());
    assert_eq!(s3::endpoint(), endpoint, "the endpoint stays, dead");
    s3::stop_and_wait(); // a second stop is a no-op

    let late = std::panic::catch_unwind(|| s3::fresh_bucket("too late"));
    assert!(late.is_err(), "fresh_bucket after stop_and_wait must panic");
}
