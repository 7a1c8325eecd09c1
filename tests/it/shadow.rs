//! Shadow routes: a dry run on live traffic. The body and query reach the vendor exactly as
//! the tracker sent them, the rules' work shows only in the `scrubproxy_shadow_*` metrics,
//! other routes keep scrubbing, and header hygiene still applies.

use std::io::Write;

use crate::support::{self, start_proxy, Behavior, FakeVendor};

const EVENT: &[u8] = br#"{"type":"track","event":"Signup","userId":"user-jane-doe-42","properties":{"email":"jane.doe@example.com","plan":"pro"}}"#;

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// The value of one series line in a Prometheus text exposition (0 when absent).
fn series(metrics: &str, prefix: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

async fn shadow_segment(vendor: &FakeVendor) -> support::proxy::TestProxy {
    start_proxy(&vendor.base_url(), |f| {
        for route in &mut f.routes {
            route.shadow = route.prefix == "/segment";
        }
    })
    .await
}

#[tokio::test]
async fn a_shadow_route_forwards_unchanged_and_counts_what_the_rules_would_do() {
    let vendor = FakeVendor::start(Behavior::ok("1")).await;
    let proxy = shadow_segment(&vendor).await;
    let headers = [
        ("content-type", "text/plain"),
        ("cookie", "session=jane"),
        ("x-forwarded-for", "203.0.113.42"),
    ];
    let resp = support::send_raw(
        proxy.addr(),
        "POST",
        "/segment/v1/t?utm_source=news&email=jane.doe%40example.com",
        &headers,
        EVENT.to_vec(),
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let got = vendor.requests();
    assert_eq!(got[0].body, EVENT, "the body goes on byte for byte");
    assert_eq!(
        got[0].query(),
        "utm_source=news&email=jane.doe%40example.com"
    );
    assert_eq!(got[0].header("content-type"), Some("text/plain"));
    assert_eq!(
        got[0].header("cookie"),
        None,
        "header hygiene still applies"
    );
    assert_eq!(got[0].header("x-forwarded-for"), None);

    let metrics = proxy.metrics().await;
    assert_eq!(series(&metrics, "scrubproxy_shadow_routes "), 1);
    assert!(
        series(&metrics, "scrubproxy_shadow_fields_scrubbed_total{") >= 2,
        "the id and the e-mail would have been scrubbed:\n{metrics}"
    );
    assert_eq!(
        series(
            &metrics,
            "scrubproxy_shadow_events_total{action=\"would_forward\",vendor=\"segment\"}"
        ),
        1
    );
    assert_eq!(
        series(&metrics, "scrubproxy_fields_scrubbed_total{"),
        0,
        "nothing was scrubbed for real"
    );
    assert!(support::logs::captured().contains("SHADOW MODE"));

    // The other routes still scrub.
    vendor.clear();
    let body = br#"[{"event":"Signup","properties":{"distinct_id":"user-jane-doe-42","$email":"jane.doe@example.com","token":"t"}}]"#;
    let resp = support::send_raw(
        proxy.addr(),
        "POST",
        "/mixpanel/track/",
        &[("content-type", "application/json")],
        body.to_vec(),
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let sent = String::from_utf8_lossy(&vendor.requests()[0].body).into_owned();
    assert!(!sent.contains("jane.doe@example.com"), "{sent}");
}

#[tokio::test]
async fn what_the_rules_would_refuse_is_counted_and_still_forwarded() {
    let vendor = FakeVendor::start(Behavior::ok("1")).await;
    let proxy = shadow_segment(&vendor).await;
    let truncated = &EVENT[..EVENT.len() - 10];
    let resp = support::send_raw(
        proxy.addr(),
        "POST",
        "/segment/v1/t",
        &[],
        truncated.to_vec(),
    )
    .await;
    assert_eq!(resp.status, 200);
    assert_eq!(vendor.requests()[0].body, truncated);

    // Compressed bodies go on compressed, labelled as they came.
    let packed = gzip(EVENT);
    let resp = support::send_raw(
        proxy.addr(),
        "POST",
        "/segment/v1/t",
        &[("content-encoding", "gzip")],
        packed.clone(),
    )
    .await;
    assert_eq!(resp.status, 200);
    assert_eq!(vendor.requests()[1].body, packed);
    assert_eq!(
        vendor.requests()[1].header("content-encoding"),
        Some("gzip")
    );

    let metrics = proxy.metrics().await;
    assert_eq!(
        series(&metrics, "scrubproxy_shadow_refusals_total{"),
        1,
        "{metrics}"
    );
    assert!(series(&metrics, "scrubproxy_shadow_fields_scrubbed_total{") >= 2);
    assert_eq!(series(&metrics, "scrubproxy_rejected_requests_total{"), 0);
}

#[tokio::test]
async fn a_large_shadow_body_streams_through_unchanged() {
    let vendor = FakeVendor::start(Behavior::ok("1")).await;
    let proxy = shadow_segment(&vendor).await;
    let mut batch = br#"{"batch":["#.to_vec();
    for i in 0..4000 {
        if i > 0 {
            batch.push(b',');
        }
        batch.extend_from_slice(EVENT);
    }
    batch.extend_from_slice(b"]}");
    assert!(batch.len() > 256 * 1024, "above the buffering limit");
    let chunks: Vec<Vec<u8>> = batch.chunks(64 * 1024).map(<[u8]>::to_vec).collect();
    let resp = support::send_chunks(
        proxy.addr(),
        "POST",
        "/segment/v1/batch",
        &[],
        chunks,
        false,
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 200, "{}", resp.text());
    let got = vendor.requests();
    assert!(got[0].body_complete);
    assert!(got[0].body == batch, "the streamed body arrived unchanged");
    let metrics = proxy.metrics().await;
    assert_eq!(
        series(
            &metrics,
            "scrubproxy_shadow_events_total{action=\"would_forward\",vendor=\"segment\"}"
        ),
        4000
    );
}
