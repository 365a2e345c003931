//! The load generator.

use super::*;

pub(super) type LoadClient = HttpClient<HttpConnector, Full<Bytes>>;

/// The requests sent to one service: a small rotation so bodies and paths vary.
pub(super) struct Target {
    pub(super) method: Method,
    pub(super) requests: Vec<(Uri, Bytes)>,
    pub(super) json: bool,
}

impl Target {
    pub(super) fn new(service: Service, addr: SocketAddr) -> Self {
        match service {
            Service::Realistic => Self {
                method: Method::POST,
                json: true,
                requests: (0..256u32)
                    .map(|i| {
                        let sku = (i * 37) % 1000;
                        let order = Order {
                            order_id: format!("ord-{:08}", i * 7919),
                            customer: format!("customer-{:05}", i * 131 % 50_000),
                            quantity: 1 + i % 4,
                            note: "leave with the neighbour if nobody answers".to_owned(),
                            address: Address {
                                street: format!("{} rue des Tanneurs", 1 + i % 90),
                                city: "Lyon".to_owned(),
                                postcode: format!("690{:02}", i % 10),
                            },
                        };
                        let body = serde_json::to_vec(&order).expect("an order serialises");
                        let uri = format!("http://{addr}/orders/{sku}")
                            .parse()
                            .expect("a valid uri");
                        (uri, Bytes::from(body))
                    })
                    .collect(),
            },
            Service::Hello => Self {
                method: Method::GET,
                json: false,
                requests: vec![(
                    format!("http://{addr}/").parse().expect("a valid uri"),
                    Bytes::new(),
                )],
            },
        }
    }

    pub(super) fn request(&self, i: usize) -> http::Request<Full<Bytes>> {
        let (uri, body) = &self.requests[i % self.requests.len()];
        let mut req = http::Request::builder()
            .method(self.method.clone())
            .uri(uri.clone());
        if self.json {
            req = req.header(header::CONTENT_TYPE, "application/json");
        }
        req.body(Full::new(body.clone())).expect("a valid request")
    }
}

/// What one load phase measured.
pub(super) struct Load {
    pub(super) latencies_ns: Vec<u64>,
    pub(super) failures: u64,
    pub(super) elapsed: Duration,
    pub(super) response_bytes: usize,
}

/// Sends `count` requests from `concurrency` loops, each waiting for its answer.
pub(super) async fn drive(
    client: &LoadClient,
    target: &Arc<Target>,
    count: usize,
    concurrency: usize,
) -> Load {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut loops = JoinSet::new();
    for _ in 0..concurrency {
        let (client, target, next) = (client.clone(), Arc::clone(target), Arc::clone(&next));
        loops.spawn(async move {
            let mut latencies = Vec::with_capacity(count / concurrency + 1);
            let (mut failures, mut response_bytes) = (0u64, 0usize);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let sent = Instant::now();
                let ok = match client.request(target.request(i)).await {
                    Ok(resp) if resp.status().is_success() => {
                        match resp.into_body().collect().await {
                            Ok(body) => {
                                response_bytes = body.to_bytes().len();
                                true
                            }
                            Err(_) => false,
                        }
                    }
                    _ => false,
                };
                latencies.push(sent.elapsed().as_nanos() as u64);
                failures += u64::from(!ok);
            }
            (latencies, failures, response_bytes)
        });
    }
    let mut load = Load {
        latencies_ns: Vec::with_capacity(count),
        failures: 0,
        elapsed: Duration::ZERO,
        response_bytes: 0,
    };
    while let Some(done) = loops.join_next().await {
        let (latencies, failures, response_bytes) = done.expect("a load loop");
        load.latencies_ns.extend(latencies);
        load.failures += failures;
        load.response_bytes = load.response_bytes.max(response_bytes);
    }
    load.elapsed = started.elapsed();
    load
}
