//! `stop_and_wait` really takes the server away. In a test binary of its own,
//! since it ends this process's cluster for every other test in it.

use std::net::TcpStream;

#[test]
fn stop_and_wait_leaves_nothing_listening() {
    let url = retrace_test_services::url();
    let port: u16 = url
        .rsplit_once(':')
        .and_then(|(_, rest)| rest.split_once('/'))
        .and_then(|(port, _)| port.parse().ok())
        .unwrap_or_else(|| panic!("no port in {url}"));
    TcpStream::connect(("127.0.0.1", port)).expect("the cluster answers before the stop");

    retrace_test_services::stop_and_wait();

    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "port {port} still answers after stop_and_wait"
    );
    let dir = std::env::temp_dir().join(format!("retrace-pg-{}", std::process::id()));
    assert!(!dir.exists(), "{} is left", dir.display());
    assert_eq!(retrace_test_services::url(), url, "the URL stays, dead");
    retrace_test_services::stop_and_wait(); // a second stop is a no-op
}
