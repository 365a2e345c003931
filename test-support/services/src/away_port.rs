//! A port where a service is away, for replays that must not reach the real thing.
//!
//! Why: a replay answers every recorded call itself; the proof is a test that
//! points the code at an address where nothing would answer and then counts that
//! nothing even tried to connect. A closed port cannot count: it shows that a
//! connection would fail, not whether one was tried.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A loopback port where a service is away: it accepts each connection, counts it,
/// and closes it. Point a pool or a client at it in a replay to prove that nothing
/// tried to reach the real thing ([`attempts`](Self::attempts) stays 0).
///
/// The accepting thread lives as long as the test process.
#[derive(Debug, Clone)]
pub struct AwayPort {
    port: u16,
    attempts: Arc<AtomicUsize>,
}

impl AwayPort {
    /// Binds a free port on 127.0.0.1 and starts counting.
    ///
    /// # Panics
    /// When no port can be bound.
    pub fn bind() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding a loopback port");
        let port = listener.local_addr().expect("the bound address").port();
        let attempts = Arc::new(AtomicUsize::new(0));
        let counted = attempts.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                counted.fetch_add(1, Ordering::SeqCst);
                drop(stream);
            }
        });
        Self { port, attempts }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A PostgreSQL URL that leads here.
    pub fn postgres_url(&self) -> String {
        format!("postgres://app:secret@127.0.0.1:{}/app", self.port)
    }

    /// An HTTP base URL that leads here.
    pub fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// How many connections were attempted.
    pub fn attempts(&self) -> usize {
        self.attempts.load(Ordering::SeqCst)
    }
}
