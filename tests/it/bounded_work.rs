//! Bounded work per request: no request of at most `max_body_bytes` makes the proxy hold
//! more than its limits or send the vendor more than a set multiple of what it was sent,
//! whatever its compression or envelope. Each input is refused with a 4xx and nothing of it
//! reaches the vendor, and the proxy serves normally afterwards.

use std::io::Write;

use crate::faults::Binary;
use crate::support::{self, start_consented_proxy, start_proxy, Behavior, FakeVendor};

fn deflate(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// `{"<key>":[<item>,<item>,...]}`, `count` items.
fn storm(key: &str, item: &str, count: usize) -> Vec<u8> {
    let mut body = format!(r#"{{"{key}":["#).into_bytes();
    for i in 0..count {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(item.as_bytes());
    }
    body.extend_from_slice(b"]}");
    body
}

/// A Matomo bulk body of `count` hits.
fn matomo_bulk(hit: &str, count: usize) -> Vec<u8> {
    storm("requests", &format!("\"{hit}\""), count)
}

fn lz64_bomb() -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/bounded/posthog-lz64-bomb.txt");
    let lz = std::fs::read_to_string(path).unwrap();
    format!(
        "data={}",
        lz.trim()
            .replace('+', "%2B")
            .replace('/', "%2F")
            .replace('=', "%3D")
    )
    .into_bytes()
}

/// (what, target, headers, body, status, kind)
type Case = (
    &'static str,
    &'static str,
    Vec<(&'static str, &'static str)>,
    Vec<u8>,
    u16,
    &'static str,
);

const GZIP: (&str, &str) = ("content-encoding", "gzip");
const JSON: (&str, &str) = ("content-type", "application/json");
const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

/// Inputs that cost little to send and much to serve.
fn amplifiers() -> Vec<Case> {
    // 60 MiB of `{}` in 60 KB of gzip: the issue's 800 MB, 650 MB upstream request.
    let empty_events = gzip(&storm("batch", "{}", 20 << 20));
    let typed_events = storm(
        "batch",
        r#"{"type":"track","event":"e","properties":{"plan":"enterprise-annual-2026"}}"#,
        8_000,
    );
    vec![
        (
            "a gzip of empty events",
            "/segment/v1/batch",
            vec![GZIP, JSON],
            empty_events.clone(),
            400,
            "invalid_event",
        ),
        (
            "a gzip of empty events, unannounced as gzip",
            "/segment/v1/batch",
            vec![JSON],
            empty_events,
            400,
            "invalid_event",
        ),
        (
            "a plain storm of empty events",
            "/segment/v1/batch",
            vec![JSON],
            storm("batch", "{}", 200_000),
            400,
            "invalid_event",
        ),
        (
            "a plain storm of empty Amplitude events",
            "/amplitude/2/httpapi",
            vec![JSON],
            storm("events", "{}", 200_000),
            400,
            "invalid_event",
        ),
        (
            "a plain storm of empty Snowplow events",
            "/snowplow/com.snowplowanalytics.snowplow/tp2",
            vec![JSON],
            storm("data", "{}", 200_000),
            400,
            "invalid_event",
        ),
        (
            "a deflate storm of empty PostHog events",
            "/posthog/batch/",
            vec![("content-encoding", "deflate"), JSON],
            deflate(&storm("batch", "{}", 2 << 20)),
            400,
            "invalid_event",
        ),
        (
            "a deflate storm of tiny valid RudderStack events past the global event limit",
            "/rudderstack/v1/batch",
            vec![("content-encoding", "deflate"), JSON],
            deflate(&storm("batch", r#"{"type":"track"}"#, 20_000)),
            413,
            "too_many_events",
        ),
        (
            "a Segment batch over the vendor's 500 KB",
            "/segment/v1/batch",
            vec![JSON],
            typed_events.clone(),
            413,
            "batch_too_large",
        ),
        (
            "the same batch gzipped",
            "/segment/v1/batch",
            vec![GZIP, JSON],
            gzip(&typed_events),
            413,
            "batch_too_large",
        ),
        (
            "a Segment event over the vendor's 32 KB",
            "/segment/v1/t",
            vec![JSON],
            format!(
                r#"{{"type":"track","event":"e","properties":{{"note":"{}"}}}}"#,
                "x".repeat(40_000)
            )
            .into_bytes(),
            413,
            "event_too_large",
        ),
        (
            "more Amplitude events than the vendor takes",
            "/amplitude/2/httpapi",
            vec![GZIP, JSON],
            gzip(&storm(
                "events",
                r#"{"event_type":"e","device_id":"d1"}"#,
                2001,
            )),
            413,
            "too_many_events",
        ),
        (
            "a Matomo bulk of tiny hits",
            "/matomo/matomo.php",
            vec![JSON],
            matomo_bulk("?idsite=1&rec=1", 20_000),
            413,
            "too_many_events",
        ),
        (
            "a Matomo bulk held whole past max_held_bytes",
            "/matomo/matomo.php",
            vec![GZIP, JSON],
            gzip(&matomo_bulk(
                "?idsite=1&rec=1&action_name=aaaaaaaaaaaaaaaaaaaa",
                150_000,
            )),
            413,
            "decoded_too_large",
        ),
        (
            "an lz-string PostHog batch that decodes past max_held_bytes",
            "/posthog/e/?compression=lz64",
            vec![FORM],
            lz64_bomb(),
            413,
            "decoded_too_large",
        ),
    ]
}

async fn post(addr: std::net::SocketAddr, case: &Case) -> support::Response {
    let (_, target, headers, body, _, _) = case;
    support::send_raw(addr, "POST", target, headers, body.clone()).await
}

#[tokio::test]
async fn amplifying_inputs_are_refused_and_nothing_of_them_reaches_the_vendor() {
    let vendor = FakeVendor::start(Behavior::ok("{}")).await;
    let proxy = start_proxy(&vendor.base_url(), |_| {}).await;
    for case in amplifiers() {
        let resp = post(proxy.addr(), &case).await;
        let (what, _, _, body, status, kind) = &case;
        assert_eq!(
            (resp.status, resp.header("scrubproxy-error")),
            (*status, Some(*kind)),
            "{what} ({} bytes sent)",
            body.len()
        );
    }
    // Streamed requests that were cut start no upstream call worth the name: the vendor has
    // no complete request of any of them.
    let complete: Vec<_> = vendor.requests();
    assert!(
        complete.is_empty(),
        "the vendor accepted {} refused request(s): {:?}",
        complete.len(),
        complete.iter().map(|r| &r.target).collect::<Vec<_>>()
    );
    let metrics = proxy.metrics().await;
    for kind in ["invalid_event", "batch_too_large", "too_many_events"] {
        assert!(
            metrics.contains(&format!("reason=\"{kind}\"")),
            "no rejection counted as {kind}"
        );
    }
    assert!(
        metrics.contains("scrubproxy_held_bytes 0"),
        "held bytes returned"
    );
    // And the proxy serves normally afterwards.
    let ok = support::send_raw(
        proxy.addr(),
        "POST",
        "/segment/v1/batch",
        &[JSON],
        br#"{"batch":[{"type":"track","event":"Signup","userId":"u1"}]}"#.to_vec(),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(vendor.requests().len(), 1);
}

/// The output bound itself, past what the vendors' own members add: pseudonyms longer than
/// the ids they replace, many times over in one event, with the ratio set to 1.
#[tokio::test]
async fn output_out_of_proportion_to_the_input_is_refused() {
    let vendor = FakeVendor::start(Behavior::ok("{}")).await;
    let proxy =
        start_consented_proxy(&vendor.base_url(), |f| f.limits.max_output_ratio = 1.0).await;
    // Duplicate members are each scrubbed: 2,000 one-letter ids become 2,000 pseudonyms.
    let resp = post_with_ids(proxy.addr(), 2000).await;
    assert_eq!(
        (resp.status, resp.header("scrubproxy-error")),
        (413, Some("output_too_large"))
    );
    assert!(vendor.requests().is_empty());
    // The same ids, few enough to stay within the allowance, go on.
    let resp = post_with_ids(proxy.addr(), 20).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
}

/// A Segment event with `count` one-letter `userId` members.
async fn post_with_ids(addr: std::net::SocketAddr, count: usize) -> support::Response {
    let ids: String = (0..count).map(|_| r#","userId":"u""#).collect();
    let event = format!(r#"{{"type":"track","event":"e"{ids}}}"#);
    support::send_raw(addr, "POST", "/segment/v1/t", &[JSON], event.into_bytes()).await
}

/// A body announced small whose output outgrows `buffer_below_bytes` as it decodes is
/// streamed, not built whole: legitimate compressed batches still arrive complete.
#[tokio::test]
async fn a_small_compressed_body_that_grows_large_streams_and_arrives_whole() {
    let vendor = FakeVendor::start(Behavior::ok("{}")).await;
    let proxy = start_consented_proxy(&vendor.base_url(), |f| {
        f.limits.buffer_below_bytes = 64 << 10;
        for route in &mut f.routes {
            route.limits = Some(scrubproxy::rules::file::RouteLimitsFile {
                max_batch_bytes: Some(16 << 20),
                ..Default::default()
            });
        }
    })
    .await;
    let events = 5000;
    let body = storm(
        "batch",
        r#"{"type":"track","event":"Viewed","userId":"u1","properties":{"plan":"pro"}}"#,
        events,
    );
    let compressed = gzip(&body);
    assert!(
        compressed.len() < 64 << 10,
        "announced below the buffer size"
    );
    let resp = support::send_raw(
        proxy.addr(),
        "POST",
        "/segment/v1/batch",
        &[GZIP, JSON],
        compressed,
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let got = vendor.requests();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].header("content-length"),
        None,
        "streamed, not buffered"
    );
    let sent: serde_json::Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(sent["batch"].as_array().unwrap().len(), events);
}

/// Past `limits.memory_budget_bytes` new requests get 503 with Retry-After, and the budget
/// comes back when the requests holding it end.
#[tokio::test]
async fn requests_past_the_memory_budget_get_503_and_the_budget_comes_back() {
    let vendor = FakeVendor::start(Behavior::ok("{}")).await;
    let proxy = start_consented_proxy(&vendor.base_url(), |f| {
        f.limits.memory_budget_bytes = 1 << 10;
    })
    .await;
    // A body held whole (a Matomo bulk) larger than the whole budget.
    let resp = support::send_raw(
        proxy.addr(),
        "POST",
        "/matomo/matomo.php",
        &[JSON],
        matomo_bulk("?idsite=1&rec=1", 200),
    )
    .await;
    assert_eq!(
        (resp.status, resp.header("scrubproxy-error")),
        (503, Some("memory_budget"))
    );
    assert_eq!(resp.header("retry-after"), Some("1"));
    assert!(vendor.requests().is_empty());
    // Small requests fit, once the large one let go of what it held.
    let ok = support::send_raw(
        proxy.addr(),
        "POST",
        "/segment/v1/t",
        &[JSON],
        br#"{"type":"track","event":"e","userId":"u1"}"#.to_vec(),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert!(proxy.metrics().await.contains("reason=\"memory_budget\""));
}

/// Fifty amplifying bodies at once hold the proxy's peak memory under a stated bound (the
/// real binary, measured from /proc: README's limits section states the same bound).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_amplifying_bodies_at_once_keep_peak_memory_bounded() {
    const PEAK_BOUND_KIB: u64 = 128 << 10;
    let vendor = FakeVendor::start(Behavior::ok("{}")).await;
    let rules = std::fs::read_to_string(support::proxy::shipped_rules_path())
        .unwrap()
        .replace("0.0.0.0:8080", "127.0.0.1:0")
        .replace("127.0.0.1:9090", "127.0.0.1:0")
        .lines()
        .map(|line| match line.strip_prefix("upstream = ") {
            Some(_) => format!("upstream = \"{}\"", vendor.base_url()),
            None => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    let binary = Binary::start(&rules);
    let cases = amplifiers();
    let sends = (0..50).map(|i| {
        let case = &cases[i % cases.len()];
        post(binary.addr, case)
    });
    let answers = futures_util::future::join_all(sends).await;
    for resp in &answers {
        assert!(
            (400..500).contains(&resp.status) || resp.status == 503,
            "{} {}",
            resp.status,
            resp.text()
        );
    }
    assert!(vendor.requests().is_empty());
    let peak = binary.peak_rss_kib();
    eprintln!("peak RSS for 50 amplifying bodies at once: {peak} KiB");
    assert!(
        peak < PEAK_BOUND_KIB,
        "peak RSS {peak} KiB for 50 amplifying bodies at once"
    );
}
