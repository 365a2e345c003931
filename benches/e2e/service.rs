//! The services.

use super::*;

#[derive(Serialize, Deserialize)]
pub(super) struct Order {
    pub(super) order_id: String,
    pub(super) customer: String,
    pub(super) quantity: u32,
    pub(super) note: String,
    pub(super) address: Address,
}

#[derive(Clone, Serialize, Deserialize)]
pub(super) struct Address {
    pub(super) street: String,
    pub(super) city: String,
    pub(super) postcode: String,
}

#[derive(Serialize, Deserialize)]
pub(super) struct Inventory {
    pub(super) sku: u32,
    pub(super) name: String,
    pub(super) currency: String,
    pub(super) unit_price_cents: u64,
    pub(super) stock: Vec<Stock>,
}

#[derive(Clone, Serialize, Deserialize)]
pub(super) struct Stock {
    pub(super) warehouse: String,
    pub(super) city: String,
    pub(super) available: u32,
    pub(super) reserved: u32,
    pub(super) eta_days: u32,
}

#[derive(Serialize)]
pub(super) struct Quote {
    pub(super) order_id: String,
    pub(super) customer: String,
    pub(super) sku: u32,
    pub(super) name: String,
    pub(super) quantity: u32,
    pub(super) currency: String,
    pub(super) total_cents: u64,
    pub(super) ship_to: Address,
    pub(super) options: Vec<ShipOption>,
}

#[derive(Serialize)]
pub(super) struct ShipOption {
    #[serde(flatten)]
    pub(super) stock: Stock,
    pub(super) can_fulfil: bool,
}

/// The upstream client, boxed so recorded and bare arms share the handler.
pub(super) type UpstreamClient =
    BoxCloneSyncService<http::Request<Full<Bytes>>, http::Response<Body>, BoxError>;

#[derive(Clone)]
pub(super) struct Front {
    pub(super) upstream: UpstreamClient,
    pub(super) base: Arc<str>,
}

pub(super) fn connector() -> HttpConnector {
    let mut c = HttpConnector::new();
    c.set_nodelay(true);
    c
}

pub(super) fn upstream_client(recorded: bool) -> UpstreamClient {
    let client = HttpClient::builder(TokioExecutor::new()).build(connector());
    if recorded {
        boxed(
            ServiceBuilder::new()
                .layer(ClientLayer::new())
                .service(client),
        )
    } else {
        boxed(client)
    }
}

pub(super) fn boxed<S, B>(client: S) -> UpstreamClient
where
    S: tower::Service<http::Request<Full<Bytes>>, Response = http::Response<B>>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    BoxCloneSyncService::new(
        client
            .map_response(|r| r.map(Body::new))
            .map_err(Into::into),
    )
}

pub(super) async fn order(
    State(front): State<Front>,
    UrlPath(sku): UrlPath<u32>,
    Json(order): Json<Order>,
) -> Result<Json<Quote>, StatusCode> {
    let call = http::Request::get(format!("{}/inventory/{sku}", front.base))
        .body(Full::new(Bytes::new()))
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    let answer = front
        .upstream
        .oneshot(call)
        .await
        .map_err(|_| StatusCode::BAD_GATEWAY)?;
    if !answer.status().is_success() {
        return Err(StatusCode::BAD_GATEWAY);
    }
    let body = answer
        .into_body()
        .collect()
        .await
        .map_err(|_| StatusCode::BAD_GATEWAY)?
        .to_bytes();
    let inventory: Inventory =
        serde_json::from_slice(&body).map_err(|_| StatusCode::BAD_GATEWAY)?;
    let options: Vec<ShipOption> = inventory
        .stock
        .into_iter()
        .map(|stock| ShipOption {
            can_fulfil: stock.available >= order.quantity,
            stock,
        })
        .collect();
    Ok(Json(Quote {
        order_id: order.order_id,
        customer: order.customer,
        sku,
        name: inventory.name,
        quantity: order.quantity,
        currency: inventory.currency,
        total_cents: inventory.unit_price_cents * u64::from(order.quantity),
        ship_to: order.address,
        options,
    }))
}

/// The upstream: ~1 KiB of inventory, different for every call.
pub(super) async fn inventory(
    State(calls): State<Arc<AtomicU64>>,
    UrlPath(sku): UrlPath<u32>,
) -> Response {
    let n = calls.fetch_add(1, Ordering::Relaxed);
    let cities = [
        "Lyon", "Porto", "Gdansk", "Leipzig", "Turin", "Ghent", "Malmo", "Cork",
    ];
    let mix = |k: u64| (n ^ (u64::from(sku) * 2_654_435_761)).wrapping_mul(k + 1) % 997;
    let inventory = Inventory {
        sku,
        name: format!("Stainless steel water bottle, 750 ml, model {sku:05}"),
        currency: "EUR".to_owned(),
        unit_price_cents: 1_000 + mix(1) * 7,
        stock: cities
            .iter()
            .enumerate()
            .map(|(i, city)| Stock {
                warehouse: format!("WH-{:03}-{}", (sku as usize * 7 + i) % 1000, &city[..2]),
                city: (*city).to_owned(),
                available: (mix(i as u64 + 2) % 60) as u32,
                reserved: (mix(i as u64 + 11) % 9) as u32,
                eta_days: (mix(i as u64 + 21) % 12) as u32,
            })
            .collect(),
    };
    Json(inventory).into_response()
}

pub(super) fn upstream_app() -> Router {
    Router::new()
        .route("/inventory/{sku}", get(inventory))
        .with_state(Arc::new(AtomicU64::new(0)))
}

pub(super) fn front_app(
    service: Service,
    upstream: Option<(UpstreamClient, SocketAddr)>,
) -> Router {
    match (service, upstream) {
        (Service::Realistic, Some((client, addr))) => Router::new()
            .route("/orders/{sku}", post(order))
            .with_state(Front {
                upstream: client,
                base: format!("http://{addr}").into(),
            }),
        _ => Router::new().route("/", get(|| async { "Hello, World!" })),
    }
}
