//! Promise 2, nothing lost silently: the tracker hears "ok" only when the vendor accepted the
//! data. Vendor errors, resets, hangs and refused connections come back as statuses every
//! SDK retries (502/504 with Retry-After); rate limits are relayed as they are.

use std::sync::{Arc, Mutex};

use std::time::Duration;
use tokio::sync::Notify;

use crate::support::{self, start_proxy, Behavior, FakeVendor, TestProxy};

const EVENT: &[u8] = br#"{"type":"track","event":"Signup","userId":"u1"}"#;

async fn post(proxy: &TestProxy) -> support::Response {
    support::send_raw(
        proxy.addr(),
        "POST",
        "/segment/v1/t",
        &[("content-type", "text/plain")],
        EVENT.to_vec(),
    )
    .await
}

async fn proxy_for(vendor: &FakeVendor) -> TestProxy {
    start_proxy(&vendor.base_url(), |f| {
        f.limits.upstream_timeout_seconds = 0.5
    })
    .await
}

#[tokio::test]
async fn vendor_server_errors_become_retryable_502() {
    for code in [500, 501, 503, 505, 511] {
        let vendor = FakeVendor::start(Behavior::status(code)).await;
        let resp = post(&proxy_for(&vendor).await).await;
        assert_eq!(resp.status, 502, "vendor {code}");
        assert_eq!(resp.header("scrubproxy-error"), Some("status_5xx"));
        assert!(resp.header("retry-after").is_some());
    }
}

#[tokio::test]
async fn vendor_reset_becomes_502() {
    let vendor = FakeVendor::start(Behavior::Reset).await;
    let resp = post(&proxy_for(&vendor).await).await;
    assert_eq!(resp.status, 502);
    assert_eq!(resp.header("scrubproxy-error"), Some("io"));
}

#[tokio::test]
async fn vendor_that_hangs_becomes_504() {
    let vendor = FakeVendor::start(Behavior::Hang).await;
    let proxy = proxy_for(&vendor).await;
    let started = std::time::Instant::now();
    let resp = post(&proxy).await;
    assert_eq!(resp.status, 504);
    assert_eq!(resp.header("scrubproxy-error"), Some("timeout"));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn refused_connection_becomes_502() {
    // Bound but never listening: connections are refused, and while the socket lives no
    // other test's server can take the port (a freed port can be, and was).
    let closed = tokio::net::TcpSocket::new_v4().unwrap();
    closed.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    let proxy = start_proxy(&url, |_| {}).await;
    let resp = post(&proxy).await;
    assert_eq!(
        (resp.status, resp.header("scrubproxy-error")),
        (502, Some("connect"))
    );
}

#[tokio::test]
async fn rate_limits_are_relayed_with_their_retry_after() {
    let vendor = FakeVendor::start(Behavior::Reply {
        status: 429,
        headers: vec![("retry-after".into(), "7".into())],
        body: b"rate limited".to_vec(),
    })
    .await;
    let resp = post(&proxy_for(&vendor).await).await;
    assert_eq!((resp.status, resp.header("retry-after")), (429, Some("7")));
    assert_eq!(resp.text(), "rate limited");
}

#[tokio::test]
async fn streamed_batches_hear_vendor_failures_too() {
    let vendor = FakeVendor::start(Behavior::status(500)).await;
    let proxy = start_proxy(&vendor.base_url(), |f| f.limits.buffer_below_bytes = 64).await;
    let body = format!(
        r#"{{"batch":[{}]}}"#,
        vec![r#"{"type":"track","event":"e"}"#; 50].join(",")
    );
    let resp = support::send_chunks(
        proxy.addr(),
        "POST",
        "/segment/v1/batch",
        &[],
        body.into_bytes().chunks(100).map(<[u8]>::to_vec).collect(),
        false,
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 502);
}

#[tokio::test]
async fn redirects_are_not_relayed_for_browsers_to_follow() {
    let vendor = FakeVendor::start(Behavior::Reply {
        status: 307,
        headers: vec![("location".into(), "https://elsewhere.example/v1/t".into())],
        body: Vec::new(),
    })
    .await;
    let resp = post(&proxy_for(&vendor).await).await;
    assert_eq!(
        (resp.status, resp.header("scrubproxy-error")),
        (502, Some("redirect"))
    );
    assert!(resp.header("location").is_none());
}

/// A vendor that accepts the connection and never reads: once the socket buffers are full the
/// proxy cannot send, and the tracker still gets an answer it retries within the upstream
/// timeout instead of waiting forever.
#[tokio::test]
async fn vendor_that_stops_reading_a_stream_becomes_504() {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut sockets = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            sockets.push(socket);
        }
    });
    let proxy = start_proxy(&url, |f| {
        support::without_vendor_limits(f);
        f.limits.upstream_timeout_seconds = 0.5;
        f.limits.buffer_below_bytes = 1024;
        f.limits.max_body_bytes = 64 << 20;
    })
    .await;
    let event = format!(
        r#"{{"type":"track","event":"e","properties":{{"note":"{}"}}}},"#,
        "x".repeat(900)
    );
    let body = format!(
        r#"{{"batch":[{}{{"type":"track"}}]}}"#,
        event.repeat(30_000)
    );
    let result = tokio::time::timeout(
        Duration::from_secs(20),
        support::try_send_raw(
            proxy.addr(),
            "POST",
            "/segment/v1/batch",
            &[],
            body.into_bytes(),
        ),
    )
    .await
    .expect("the proxy answers a stalled upload");
    let resp = result.expect("an answer, not a broken connection");
    assert_eq!(resp.status, 504, "{}", resp.text());
    held.abort();
}

/// At its request limit the proxy answers 503 with Retry-After (which SDKs retry) instead of
/// queueing without bound.
#[tokio::test]
async fn beyond_the_request_limit_trackers_are_told_to_retry() {
    let vendor = FakeVendor::start(Behavior::ok("1").after_ms(500)).await;
    let proxy = start_proxy(&vendor.base_url(), |f| f.limits.max_concurrent_requests = 2).await;
    let calls: Vec<_> = (0..4)
        .map(|_| {
            let addr = proxy.addr();
            tokio::spawn(async move {
                support::send_raw(addr, "POST", "/segment/v1/t", &[], EVENT.to_vec()).await
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for call in calls {
        let resp = call.await.unwrap();
        if resp.status == 503 {
            assert_eq!(resp.header("retry-after"), Some("1"));
            assert_eq!(resp.header("scrubproxy-error"), Some("overloaded"));
        }
        statuses.push(resp.status);
    }
    statuses.sort();
    assert_eq!(statuses, vec![200, 200, 503, 503]);
}

/// When the rules remove every event of a request, nothing goes upstream and the tracker gets
/// exactly what its vendor's SDK takes as success (so it neither retries nor reports an error);
/// when they remove some, the rest goes on.
#[tokio::test]
async fn requests_whose_events_are_all_dropped_get_the_vendors_own_success() {
    let vendor = FakeVendor::start(Behavior::status(500)).await;
    let proxy = start_proxy(&vendor.base_url(), |f| {
        f.events.drop = vec!["noise".into(), "pp".into()];
    })
    .await;
    let form = |json: &str| {
        format!(
            "data={}",
            json.replace('"', "%22")
                .replace('{', "%7B")
                .replace('}', "%7D")
                .replace('[', "%5B")
                .replace(']', "%5D")
                .replace(':', "%3A")
                .replace(',', "%2C")
        )
    };
    let cases: Vec<(&str, String, u16, &str, &str)> = vec![
        (
            "/segment/v1/t",
            r#"{"type":"track","event":"noise"}"#.into(),
            200,
            "application/json",
            r#"{"success":true}"#,
        ),
        (
            "/segment/v1/batch",
            r#"{"batch":[{"type":"track","event":"noise"}]}"#.into(),
            200,
            "application/json",
            r#"{"success":true}"#,
        ),
        (
            "/mixpanel/track/?verbose=1&ip=1",
            form(r#"[{"event":"noise","properties":{}}]"#),
            200,
            "application/json",
            r#"{"status":1,"error":null}"#,
        ),
        (
            "/mixpanel/track?ip=0&verbose=0",
            form(r#"[{"event":"noise","properties":{}}]"#),
            200,
            "text/plain",
            "1",
        ),
        (
            "/posthog/e/",
            r#"{"api_key":"k","batch":[{"event":"noise","properties":{}}]}"#.into(),
            200,
            "application/json",
            r#"{"status":1}"#,
        ),
        (
            "/plausible/api/event",
            r#"{"n":"noise","u":"https://a.example/","d":"a.example"}"#.into(),
            202,
            "text/plain",
            "ok",
        ),
        (
            "/rudderstack/v1/track",
            r#"{"type":"track","event":"noise"}"#.into(),
            200,
            "text/plain",
            "OK",
        ),
        (
            "/snowplow/com.snowplowanalytics.snowplow/tp2",
            r#"{"schema":"s","data":[{"e":"pp"}]}"#.into(),
            200,
            "text/plain",
            "ok",
        ),
    ];
    for (target, body, status, content_type, want) in cases {
        let resp = support::send_raw(proxy.addr(), "POST", target, &[], body.into_bytes()).await;
        assert_eq!(
            (resp.status, resp.header("content-type")),
            (status, Some(content_type)),
            "{target}"
        );
        assert_eq!(resp.text(), want, "{target}");
    }
    let amplitude = support::send_raw(
        proxy.addr(),
        "POST",
        "/amplitude/2/httpapi",
        &[],
        br#"{"api_key":"k","events":[{"event_type":"noise"}]}"#.to_vec(),
    )
    .await;
    let code: serde_json::Value = serde_json::from_slice(&amplitude.body).unwrap();
    assert_eq!((amplitude.status, code["code"].as_i64()), (200, Some(200)));
    let pixel = support::send_raw(
        proxy.addr(),
        "GET",
        "/snowplow/i?e=pp&eid=1",
        &[],
        Vec::new(),
    )
    .await;
    assert_eq!(
        (pixel.status, pixel.header("content-type")),
        (200, Some("image/gif"))
    );
    let gtag = support::send_raw(
        proxy.addr(),
        "GET",
        "/ga4/g/collect?v=2&tid=G-1&en=noise",
        &[],
        Vec::new(),
    )
    .await;
    assert_eq!(gtag.status, 204);
    assert!(vendor.all_requests().is_empty(), "nothing went upstream");

    // Some dropped, some kept: the rest goes on, and the vendor's answer counts again.
    vendor.set_behavior(Behavior::json(r#"{"success":true}"#));
    let mixed = r#"{"batch":[{"type":"track","event":"noise"},{"type":"track","event":"Signup"}]}"#;
    let resp = support::send_raw(
        proxy.addr(),
        "POST",
        "/segment/v1/batch",
        &[],
        mixed.as_bytes().to_vec(),
    )
    .await;
    assert_eq!(resp.status, 200);
    let v: serde_json::Value = serde_json::from_slice(&vendor.requests()[0].body).unwrap();
    assert_eq!(v["batch"].as_array().unwrap().len(), 1);
    assert_eq!(v["batch"][0]["event"], "Signup");
}

/// For every vendor, a failing upstream reaches the tracker as a status its SDK retries.
#[tokio::test]
async fn every_vendor_hears_upstream_failures_as_retryable_errors() {
    let vendor = FakeVendor::start(Behavior::status(503)).await;
    let proxy = start_proxy(&vendor.base_url(), |_| {}).await;
    let requests: &[(&str, &str, &[u8])] = &[
        ("POST", "/segment/v1/t", br#"{"type":"track","event":"e"}"#),
        (
            "POST",
            "/mixpanel/track",
            b"data=%5B%7B%22event%22%3A%22e%22%7D%5D",
        ),
        (
            "POST",
            "/amplitude/2/httpapi",
            br#"{"api_key":"k","events":[{"event_type":"e"}]}"#,
        ),
        (
            "POST",
            "/posthog/e/",
            br#"{"api_key":"k","batch":[{"event":"e","properties":{}}]}"#,
        ),
        (
            "POST",
            "/ga4/mp/collect",
            br#"{"client_id":"1.2","events":[{"name":"e"}]}"#,
        ),
        ("GET", "/ga4/g/collect?v=2&tid=G-1&en=e", b""),
        ("GET", "/matomo/matomo.php?idsite=1&rec=1", b""),
        ("GET", "/snowplow/i?e=pv", b""),
        (
            "POST",
            "/plausible/api/event",
            br#"{"n":"pageview","u":"https://a.example/","d":"a.example"}"#,
        ),
        (
            "POST",
            "/rudderstack/v1/track",
            br#"{"type":"track","event":"e"}"#,
        ),
    ];
    for (method, target, body) in requests {
        let resp = support::send_raw(proxy.addr(), method, target, &[], body.to_vec()).await;
        assert_eq!(
            (resp.status, resp.header("scrubproxy-error")),
            (502, Some("status_5xx")),
            "{target}"
        );
        assert!(resp.header("retry-after").is_some(), "{target}");
    }
    assert_eq!(
        vendor.requests().len(),
        requests.len(),
        "each reached the vendor once"
    );
}

/// Shutdown stops accepting but lets a request in flight finish with the vendor's answer.
#[tokio::test]
async fn shutdown_drains_requests_in_flight() {
    let vendor = FakeVendor::start(Behavior::ok("1").after_ms(400)).await;
    let proxy = start_proxy(&vendor.base_url(), |_| {}).await;
    let addr = proxy.addr();
    let in_flight = tokio::spawn(async move {
        support::send_raw(addr, "POST", "/segment/v1/t", &[], EVENT.to_vec()).await
    });
    vendor.wait_for_arrivals(1, Duration::from_secs(5)).await;
    proxy.running.shutdown().await;
    let resp = in_flight.await.unwrap();
    assert_eq!(resp.status, 200, "the request in flight finished");
    let late = support::try_send_raw(addr, "POST", "/segment/v1/t", &[], EVENT.to_vec()).await;
    assert!(late.is_err(), "no new connections after shutdown");
}

#[tokio::test]
async fn shutdown_stops_waiting_at_the_drain_deadline_and_never_reports_success() {
    let vendor = FakeVendor::start(Behavior::Hang).await;
    let proxy = start_proxy(&vendor.base_url(), |f| {
        f.limits.upstream_timeout_seconds = 30.0;
        f.limits.shutdown_drain_seconds = 0.5;
    })
    .await;
    let addr = proxy.addr();
    let in_flight = tokio::spawn(async move {
        support::try_send_raw(addr, "POST", "/segment/v1/t", &[], EVENT.to_vec()).await
    });
    vendor.wait_for_arrivals(1, Duration::from_secs(5)).await;
    let started = std::time::Instant::now();
    proxy.running.shutdown().await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "shutdown waited {:?}",
        started.elapsed()
    );
    // The tracker sees its connection cut (and retries), never a 2xx.
    let outcome = tokio::time::timeout(Duration::from_secs(5), in_flight)
        .await
        .expect("the cut request ends")
        .unwrap();
    assert!(
        outcome
            .as_ref()
            .map_or(true, |r| !(200..300).contains(&r.status)),
        "{:?}",
        outcome.map(|r| r.status)
    );
}

/// A streamed body (chunked, no Content-Length) is held back until its first kept event, so
/// one whose events are all dropped gets the vendor's own success just like a small one,
/// not an empty batch the vendor might refuse.
#[tokio::test]
async fn streamed_requests_whose_events_are_all_dropped_send_nothing() {
    let vendor = FakeVendor::start(Behavior::status(500)).await;
    let proxy = start_proxy(&vendor.base_url(), |f| {
        f.events.drop = vec!["noise".into()];
    })
    .await;
    let noise = |n: usize| -> Vec<Vec<u8>> {
        let mut chunks = vec![b"{\"batch\":[".to_vec()];
        for i in 0..n {
            let sep = if i == 0 { "" } else { "," };
            chunks.push(
                format!(r#"{sep}{{"type":"track","event":"noise","messageId":"m{i}"}}"#)
                    .into_bytes(),
            );
        }
        chunks
    };
    let mut all_dropped = noise(5);
    all_dropped.push(b"]}".to_vec());
    let resp = support::send_chunks(
        proxy.addr(),
        "POST",
        "/segment/v1/batch",
        &[],
        all_dropped,
        false,
    )
    .await
    .expect("answered");
    assert_eq!(
        (resp.status, resp.text().as_str()),
        (200, r#"{"success":true}"#)
    );
    assert!(vendor.all_requests().is_empty(), "nothing went upstream");

    vendor.set_behavior(Behavior::json(r#"{"success":true}"#));
    let mut mixed = noise(5);
    mixed.push(br#",{"type":"track","event":"Signup"}]}"#.to_vec());
    let resp = support::send_chunks(proxy.addr(), "POST", "/segment/v1/batch", &[], mixed, false)
        .await
        .expect("answered");
    assert_eq!(resp.status, 200);
    let sent = vendor
        .wait_for_requests(1, std::time::Duration::from_secs(5))
        .await;
    let v: serde_json::Value = serde_json::from_slice(&sent[0].body).expect("valid batch");
    assert_eq!(v["batch"].as_array().map(Vec::len), Some(1));
    assert_eq!(v["batch"][0]["event"], "Signup");
}

/// A raw vendor: reads a request, writes `answer` and keeps the connection open (`hold`) or
/// closes it. Stands for vendors and the edges in front of them that misbehave in ways the
/// fake vendor does not.
/// A vendor that answers `answer` after its first read (then holds or closes the
/// connection): its URL, what it read, and a signal sent once it has answered.
async fn raw_vendor(
    answer: &'static [u8],
    hold: bool,
) -> (String, Arc<Mutex<Vec<u8>>>, Arc<Notify>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let received = Arc::new(Mutex::new(Vec::new()));
    let seen = received.clone();
    let answered = Arc::new(Notify::new());
    let told = answered.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = vec![0u8; 65536];
            let read = tokio::time::timeout(Duration::from_millis(200), socket.read(&mut buf));
            if let Ok(Ok(n)) = read.await {
                seen.lock().unwrap().extend_from_slice(&buf[..n]);
            }
            let _ = socket.write_all(answer).await;
            if hold {
                held.push(socket);
            } else {
                let _ = socket.shutdown().await;
            }
            told.notify_one();
        }
    });
    (url, received, answered)
}

/// A proxy that streams every body, before a raw vendor that answers `answer` after its
/// first read and closes; and what that vendor received.
async fn streaming_proxy_before(
    answer: &'static [u8],
) -> (TestProxy, Arc<Mutex<Vec<u8>>>, Arc<Notify>) {
    let (url, received, answered) = raw_vendor(answer, false).await;
    let proxy = start_proxy(&url, |f| {
        f.limits.buffer_below_bytes = 64;
        f.limits.upstream_timeout_seconds = 2.0;
    })
    .await;
    (proxy, received, answered)
}

#[tokio::test]
async fn vendor_that_stalls_its_answers_body_becomes_504() {
    let (url, _, _) = raw_vendor(
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 16\r\n\r\n{\"succ",
        true,
    )
    .await;
    let proxy = start_proxy(&url, |f| f.limits.upstream_timeout_seconds = 0.5).await;
    let started = std::time::Instant::now();
    let resp = tokio::time::timeout(Duration::from_secs(5), post(&proxy))
        .await
        .expect("the tracker gets a whole answer within the upstream timeout");
    assert_eq!(
        (resp.status, resp.header("scrubproxy-error")),
        (504, Some("timeout"))
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn vendor_that_cuts_its_answers_body_becomes_502() {
    let (url, _, _) = raw_vendor(
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 16\r\n\r\n{\"succ",
        false,
    )
    .await;
    let proxy = start_proxy(&url, |_| {}).await;
    let resp = post(&proxy).await;
    assert_eq!(
        (resp.status, resp.header("scrubproxy-error")),
        (502, Some("io"))
    );
}

/// An edge that answers 200 and closes after the first bytes of a streamed batch: the rest
/// of the batch was never sent, so the tracker must not hear success.
#[tokio::test]
async fn a_vendors_early_success_on_a_streamed_batch_is_not_relayed() {
    let (proxy, received, answered) = streaming_proxy_before(
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 16\r\nconnection: close\r\n\r\n{\"success\":true}",
    )
    .await;
    let events: Vec<String> = (0..200)
        .map(|i| format!(r#"{{"type":"track","event":"e{i}","userId":"u1"}}"#))
        .collect();
    let body = format!(r#"{{"batch":[{}]}}"#, events.join(","));
    let mut chunks: Vec<Vec<u8>> = body.into_bytes().chunks(400).map(<[u8]>::to_vec).collect();
    let rest = chunks.split_off(3);
    // The rest of the batch leaves the tracker only once the vendor has answered.
    let gate = async move { answered.notified().await };
    let resp = support::client::send_chunks_gated(
        proxy.addr(),
        "/segment/v1/batch",
        &[],
        chunks,
        gate,
        rest,
    )
    .await
    .unwrap();
    let got = String::from_utf8_lossy(&received.lock().unwrap()).into_owned();
    assert!(
        !got.contains(r#""event":"e199""#),
        "the whole batch was sent"
    );
    assert_eq!(
        (resp.status, resp.header("scrubproxy-error")),
        (502, Some("answered_early"))
    );
}

/// A tracker that gives up while the vendor is slow (an SDK's own timeout, a closed tab):
/// hyper drops the handler, and the request must still leave the in-flight gauge and be
/// counted.
#[tokio::test]
async fn trackers_that_give_up_leave_the_in_flight_gauge() {
    // A vendor that never answers: whatever ends these requests, it is not the vendor.
    let vendor = FakeVendor::start(Behavior::Hang).await;
    let proxy = start_proxy(&vendor.base_url(), |f| {
        f.limits.upstream_timeout_seconds = 30.0
    })
    .await;
    let proxy = Arc::new(proxy);
    for n in 1..=3 {
        let tracker = tokio::spawn({
            let proxy = proxy.clone();
            async move { post(&proxy).await }
        });
        // The tracker gives up once its request is with the vendor.
        vendor.wait_for_requests(n, Duration::from_secs(10)).await;
        tracker.abort();
    }
    let metrics_line = |metrics: &str, name: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with(name))
            .map(str::to_owned)
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = proxy.metrics().await;
        let in_flight = metrics_line(&metrics, "scrubproxy_in_flight_requests ");
        let gone = metrics_line(
            &metrics,
            "scrubproxy_requests_total{endpoint=\"track\",status_class=\"client_gone\"",
        );
        let settled = in_flight.as_deref() == Some("scrubproxy_in_flight_requests 0")
            && gone.as_deref().is_some_and(|g| g.ends_with(" 3"));
        if settled {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the requests that were given up leave the gauge and are counted: {in_flight:?} \
             {gone:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The vendor answers 200 and closes while the tracker is still sending, and the last
/// event leaves the pipeline only at its end (an unpadded base64 tail): the failed send is
/// the last one, and the tracker must still not hear success.
#[tokio::test]
async fn an_early_success_is_not_relayed_when_the_last_piece_could_not_be_sent() {
    use base64::Engine as _;
    let (proxy, received, answered) = streaming_proxy_before(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 1\r\nconnection: close\r\n\r\n1",
    )
    .await;
    let mut first = br#"[{"event":"e0","properties":{"token":"t"}},"#.to_vec();
    while first.len() % 3 != 0 {
        first.push(b' ');
    }
    let mut rest = br#"{"event":"e1","properties":{"token":"t","x":""#.to_vec();
    rest.extend(std::iter::repeat_n(b'a', 3000));
    rest.extend_from_slice(br#""}"#);
    while (rest.len() + 2) % 3 != 2 {
        rest.insert(rest.len() - 2, b'a');
    }
    rest.extend_from_slice(b"}]");
    let b64 = base64::engine::general_purpose::STANDARD_NO_PAD;
    let first = vec![b64.encode(&first).into_bytes()];
    let rest = b64
        .encode(&rest)
        .into_bytes()
        .chunks(40)
        .map(<[u8]>::to_vec)
        .collect();
    // The rest leaves the tracker only once the vendor has answered.
    let gate = async move { answered.notified().await };
    let resp = support::client::send_chunks_gated(
        proxy.addr(),
        "/mixpanel/track",
        &[("content-type", "text/plain")],
        first,
        gate,
        rest,
    )
    .await
    .unwrap();
    let got = String::from_utf8_lossy(&received.lock().unwrap()).into_owned();
    assert!(!got.contains("e1"), "the whole body was sent");
    assert_eq!(
        (resp.status, resp.header("scrubproxy-error")),
        (502, Some("answered_early"))
    );
}
