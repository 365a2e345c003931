//! Request and response bodies the benches share.

/// An order as JSON words (customer, product name, address, stock in `cities` cities,
/// up to eight), as the e2e bench's realistic service answers: about 450 bytes and 90
/// more a city, different for each `seed`, without a secret.
pub fn order_json(seed: u8, cities: usize) -> String {
    let mut s = format!(
        "{{\"order_id\":\"ord-{seed}77812\",\"customer\":\"cust-0042\",\"sku\":1234,\
         \"name\":\"Stainless steel water bottle, 750 ml, model 01234\",\"quantity\":2,\
         \"currency\":\"EUR\",\"total_cents\":2598,\"ship_to\":{{\"street\":\
         \"12 rue de la Republique\",\"city\":\"Lyon\",\"postcode\":\"69002\",\
         \"country\":\"FR\"}},\"options\":{{\"gift_wrap\":false,\"express\":true}},\
         \"stock\":["
    );
    for city in [
        "Lyon", "Porto", "Gdansk", "Leipzig", "Turin", "Ghent", "Malmo", "Cork",
    ]
    .iter()
    .take(cities)
    {
        s.push_str(&format!(
            "{{\"warehouse\":\"WH-{seed:03}-{}\",\"city\":\"{city}\",\"available\":41,\
             \"reserved\":3,\"eta_days\":7}},",
            &city[..2]
        ));
    }
    s.push_str("{}]}");
    s
}
