//! Promise 1, fail closed: malformed, unknown or over-limit input gets a clear 4xx with a
//! `scrubproxy-error` header, and the vendor receives no complete request. A body that breaks
//! mid-stream is aborted upstream.

use std::io::Write;
use std::time::Duration;

use crate::support::{self, start_proxy, Behavior, FakeVendor};

const JSON: &[(&str, &str)] = &[("content-type", "text/plain")];
const FORM: &[(&str, &str)] = &[("content-type", "application/x-www-form-urlencoded")];

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn nested(depth: usize) -> String {
    format!(
        r#"{{"type":"track","properties":{}1{}}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    )
}

/// A PostHog event with an e-mail, base64 in `data=`, sent to a pass-through prefix whose
/// `..` leads to the capture endpoint: a vendor that resolves dot segments would take it
/// as an event.
const POSTHOG_CAPTURE_VIA_STATIC: &str = "/posthog/static/../e/?data=eyJldmVudCI6IiRwYWdldmlldyIsInByb3BlcnRpZXMiOnsiZGlzdGluY3RfaWQiOiJ1c2VyLTQyIiwiJGVtYWlsIjoiamFuZS5kb2VAZXhhbXBsZS5jb20iLCJ0b2tlbiI6InBoY194In19";

/// (name, method, target, headers, body, expected status, expected error kind)
type Case = (
    &'static str,
    &'static str,
    &'static str,
    Vec<(&'static str, &'static str)>,
    Vec<u8>,
    u16,
    &'static str,
);

fn cases() -> Vec<Case> {
    let email = r#"{"type":"track","properties":{"email":"jane.doe@example.com""#;
    let utf16: Vec<u8> =
        r#"{"type":"track"}"#.encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
    let huge = format!(
        r#"{{"type":"track","properties":{{"note":"{}"}}}}"#,
        "x".repeat(1_100_000)
    );
    let long_string = format!(
        r#"{{"type":"track","properties":{{"note":"{}"}}}}"#,
        "x".repeat(300_000)
    );
    vec![
        (
            "a dot segment out of a pass-through into capture",
            "GET",
            POSTHOG_CAPTURE_VIA_STATIC,
            Vec::new(),
            Vec::new(),
            400,
            "bad_path",
        ),
        (
            "an encoded dot segment",
            "GET",
            "/posthog/static/%2e%2E/e/?data=e30",
            Vec::new(),
            Vec::new(),
            400,
            "bad_path",
        ),
        (
            "an encoded slash",
            "GET",
            "/posthog/static/..%2Fe/?data=e30",
            Vec::new(),
            Vec::new(),
            400,
            "bad_path",
        ),
        (
            "a single-dot segment",
            "POST",
            "/segment/./v1/t",
            JSON.to_vec(),
            br#"{"type":"track","userId":"u1"}"#.to_vec(),
            400,
            "bad_path",
        ),
        (
            "a form field beside data that is not utf-8",
            "POST",
            "/mixpanel/track/",
            FORM.to_vec(),
            b"x=jane.doe%40example.com.%DF%DF&data=e30%3D".to_vec(),
            400,
            "invalid_utf8",
        ),
        (
            "string over max_string_bytes",
            "POST",
            "/segment/v1/t",
            JSON.to_vec(),
            long_string.into_bytes(),
            413,
            "string_too_long",
        ),
        (
            "truncated json",
            "POST",
            "/segment/v1/t",
            JSON.to_vec(),
            email.into(),
            400,
            "truncated_body",
        ),
        (
            "not json",
            "POST",
            "/segment/v1/t",
            JSON.to_vec(),
            b"email=jane.doe@example.com".to_vec(),
            400,
            "unexpected_shape",
        ),
        (
            "trailing comma",
            "POST",
            "/segment/v1/t",
            JSON.to_vec(),
            br#"{"a":1,}"#.to_vec(),
            400,
            "malformed_json",
        ),
        (
            "array where an event belongs",
            "POST",
            "/segment/v1/t",
            JSON.to_vec(),
            b"[{}]".to_vec(),
            400,
            "unexpected_shape",
        ),
        (
            "batch without batch",
            "POST",
            "/segment/v1/batch",
            JSON.to_vec(),
            br#"{"events":[]}"#.to_vec(),
            400,
            "unexpected_shape",
        ),
        (
            "utf-16",
            "POST",
            "/segment/v1/t",
            JSON.to_vec(),
            utf16.clone(),
            400,
            "malformed_json",
        ),
        (
            "utf-16 with bom",
            "POST",
            "/segment/v1/t",
            JSON.to_vec(),
            [&[0xff, 0xfe][..], &utf16].concat(),
            400,
            "unexpected_shape",
        ),
        (
            "invalid utf-8",
            "POST",
            "/segment/v1/t",
            JSON.to_vec(),
            b"{\"a\":\"\xc3\x28\"}".to_vec(),
            400,
            "invalid_utf8",
        ),
        (
            "empty body",
            "POST",
            "/segment/v1/t",
            JSON.to_vec(),
            Vec::new(),
            400,
            "empty_body",
        ),
        (
            "deep nesting",
            "POST",
            "/segment/v1/t",
            JSON.to_vec(),
            nested(40).into_bytes(),
            400,
            "too_deep",
        ),
        (
            "event over max_event_bytes",
            "POST",
            "/segment/v1/t",
            JSON.to_vec(),
            huge.into_bytes(),
            413,
            "event_too_large",
        ),
        (
            "bad gzip",
            "POST",
            "/segment/v1/batch",
            vec![("content-encoding", "gzip")],
            b"\x1f\x8b\x08garbage".to_vec(),
            415,
            "bad_gzip",
        ),
        (
            "truncated gzip",
            "POST",
            "/segment/v1/batch",
            vec![("content-encoding", "gzip")],
            gzip(br#"{"batch":[]}"#)[..12].to_vec(),
            415,
            "truncated_compression",
        ),
        (
            "bad deflate",
            "POST",
            "/segment/v1/batch",
            vec![("content-encoding", "deflate")],
            b"not deflate at all".to_vec(),
            415,
            "bad_deflate",
        ),
        (
            "a percent escape cut off at the end",
            "POST",
            "/mixpanel/track/",
            FORM.to_vec(),
            b"data=e30%3".to_vec(),
            415,
            "truncated_percent_escape",
        ),
        (
            "lz-string that is not",
            "POST",
            "/posthog/e/?compression=lz64",
            FORM.to_vec(),
            b"data=%%%%".to_vec(),
            415,
            "bad_percent_escape",
        ),
        (
            "lz-string garbage",
            "POST",
            "/posthog/e/?compression=lz64",
            FORM.to_vec(),
            b"data=!!!!".to_vec(),
            415,
            "bad_lz_string",
        ),
        (
            "a form field beside data over 4 KiB",
            "POST",
            "/mixpanel/track/",
            FORM.to_vec(),
            format!("x={}&data=e30%3D", "a".repeat(5000)).into_bytes(),
            413,
            "form_field_too_large",
        ),
        (
            "a body where the payload belongs in the query",
            "GET",
            "/snowplow/i?e=pv",
            Vec::new(),
            b"e=pv&url=x".to_vec(),
            400,
            "unexpected_body",
        ),
        (
            "unknown encoding",
            "POST",
            "/segment/v1/t",
            vec![("content-encoding", "br")],
            b"{}".to_vec(),
            415,
            "unsupported_encoding",
        ),
        (
            "mixpanel bad base64",
            "POST",
            "/mixpanel/track/",
            FORM.to_vec(),
            b"data=%%%".to_vec(),
            415,
            "bad_percent_escape",
        ),
        (
            "mixpanel base64 garbage",
            "POST",
            "/mixpanel/track/",
            FORM.to_vec(),
            b"data=e30*".to_vec(),
            415,
            "bad_base64",
        ),
        (
            "mixpanel form without data",
            "POST",
            "/mixpanel/track",
            FORM.to_vec(),
            b"verbose=1&ip=1".to_vec(),
            400,
            "missing_data",
        ),
        (
            "mixpanel GET without data",
            "GET",
            "/mixpanel/track?ip=1",
            vec![],
            Vec::new(),
            400,
            "missing_data",
        ),
        (
            "mixpanel GET bad data",
            "GET",
            "/mixpanel/engage?data=!!!",
            vec![],
            Vec::new(),
            415,
            "bad_base64",
        ),
        (
            "unknown vendor path",
            "POST",
            "/segment/v2/track",
            JSON.to_vec(),
            b"{}".to_vec(),
            404,
            "unknown_route",
        ),
        (
            "unrouted prefix",
            "POST",
            "/collect",
            JSON.to_vec(),
            b"{}".to_vec(),
            404,
            "unknown_route",
        ),
        (
            "session replay is not routed",
            "POST",
            "/mixpanel/record/?format=gzip",
            vec![],
            gzip(b"[]"),
            404,
            "unknown_route",
        ),
        (
            "wrong method",
            "GET",
            "/segment/v1/t",
            vec![],
            Vec::new(),
            404,
            "unknown_route",
        ),
    ]
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_and_nothing_is_forwarded() {
    let vendor = FakeVendor::start(Behavior::ok("1")).await;
    // The global limits here; the vendors' own ones are `bounded_work.rs`'s.
    let proxy = start_proxy(&vendor.base_url(), support::without_vendor_limits).await;
    for (name, method, target, headers, body, status, kind) in cases() {
        let resp = support::send_raw(proxy.addr(), method, target, &headers, body).await;
        assert_eq!(
            (resp.status, resp.header("scrubproxy-error")),
            (status, Some(kind)),
            "{name}: {}",
            resp.text()
        );
        let error: serde_json::Value =
            serde_json::from_slice(&resp.body).expect("error body is JSON");
        assert_eq!(error["error"], kind, "{name}");
    }
    let arrived = forward_sentinel(&proxy, &vendor).await;
    let targets: Vec<&str> = arrived.iter().map(|r| r.path()).collect();
    assert_eq!(
        arrived.len(),
        1,
        "nothing but the sentinel reaches the vendor: {targets:?}"
    );
}

/// The event name of [`forward_sentinel`]'s request.
const SENTINEL: &str = "sentinel-after-the-cases";

fn is_sentinel(r: &support::Recorded) -> bool {
    r.body_complete && String::from_utf8_lossy(&r.body).contains(SENTINEL)
}

/// A valid event sent after the ones under test, waited for at the vendor: once it has
/// arrived and every request the vendor saw has ended, whatever the proxy forwarded before it
/// is there to be checked. Returns everything the vendor received.
async fn forward_sentinel(
    proxy: &support::TestProxy,
    vendor: &FakeVendor,
) -> Vec<support::Recorded> {
    let sentinel = format!(r#"{{"type":"track","event":"{SENTINEL}"}}"#);
    let resp =
        support::send_raw(proxy.addr(), "POST", "/segment/v1/t", JSON, sentinel.into()).await;
    assert_eq!(
        resp.status,
        200,
        "the sentinel is forwarded: {}",
        resp.text()
    );
    vendor
        .wait_until_settled("the sentinel", Duration::from_secs(10), |recs| {
            recs.iter().any(is_sentinel)
        })
        .await
}

#[tokio::test]
async fn announced_oversize_body_is_refused_before_reading() {
    let vendor = FakeVendor::start(Behavior::ok("1")).await;
    let proxy = start_proxy(&vendor.base_url(), |f| f.limits.max_body_bytes = 1000).await;
    let resp = support::send_raw(
        proxy.addr(),
        "POST",
        "/segment/v1/batch",
        JSON,
        vec![b' '; 5000],
    )
    .await;
    assert_eq!(
        (resp.status, resp.header("scrubproxy-error")),
        (413, Some("body_too_large"))
    );
    assert!(vendor.all_requests().is_empty());
}

#[tokio::test]
async fn gzip_bomb_is_stopped_at_the_decoded_limit() {
    let vendor = FakeVendor::start(Behavior::ok("1")).await;
    let proxy = start_proxy(&vendor.base_url(), |f| {
        support::without_vendor_limits(f);
        f.limits.max_decoded_bytes = 1 << 20;
    })
    .await;
    let mut bomb = br#"{"batch":[{"properties":{"note":""#.to_vec();
    bomb.extend(std::iter::repeat_n(b'a', 20 << 20));
    bomb.extend_from_slice(br#""}}]}"#);
    let resp = support::send_raw(
        proxy.addr(),
        "POST",
        "/segment/v1/batch",
        &[("content-encoding", "gzip")],
        gzip(&bomb),
    )
    .await;
    assert_eq!(
        (resp.status, resp.header("scrubproxy-error")),
        (413, Some("decoded_too_large"))
    );
    assert!(vendor.requests().is_empty());
}

/// A batch large enough to stream whose end is malformed: scrubbed events already went
/// upstream, so the upstream request must be aborted, never completed.
#[tokio::test]
async fn stream_broken_mid_body_is_aborted_upstream() {
    let vendor = FakeVendor::start(Behavior::ok("1")).await;
    let proxy = start_proxy(&vendor.base_url(), |f| f.limits.buffer_below_bytes = 1024).await;
    let event = r#"{"type":"track","event":"e","properties":{"plan":"pro"}}"#;
    let mut chunks = vec![b"{\"batch\":[".to_vec()];
    for _ in 0..200 {
        chunks.push(format!("{event},").into_bytes());
    }
    chunks.push(b"{\"broken\": }]}".to_vec());
    let resp = support::send_chunks(
        proxy.addr(),
        "POST",
        "/segment/v1/batch",
        JSON,
        chunks,
        false,
    )
    .await
    .unwrap();
    assert_eq!(
        (resp.status, resp.header("scrubproxy-error")),
        (400, Some("malformed_json"))
    );
    // The vendor notices the abort asynchronously: wait until the request has ended.
    let all = vendor.wait_for_requests(1, Duration::from_secs(10)).await;
    assert!(
        !all.is_empty(),
        "the streamed part reached the vendor before the error"
    );
    assert!(
        all.iter().all(|r| !r.body_complete),
        "the vendor never sees a complete request"
    );
    assert!(vendor.requests().is_empty());
}

#[tokio::test]
async fn client_that_breaks_mid_body_forwards_nothing_complete() {
    let vendor = FakeVendor::start(Behavior::ok("1")).await;
    let proxy = start_proxy(&vendor.base_url(), |f| f.limits.buffer_below_bytes = 1024).await;
    let event = r#"{"type":"track","event":"e"},"#;
    let mut chunks = vec![b"{\"batch\":[".to_vec()];
    chunks.extend((0..100).map(|_| event.as_bytes().to_vec()));
    let result = support::send_chunks(
        proxy.addr(),
        "POST",
        "/segment/v1/batch",
        JSON,
        chunks,
        true,
    )
    .await;
    assert!(result.is_err() || result.unwrap().status >= 400);
    let arrived = forward_sentinel(&proxy, &vendor).await;
    assert!(
        arrived.iter().all(|r| !r.body_complete || is_sentinel(r)),
        "no complete request upstream but the sentinel"
    );
}

/// A tracker that sends half its body and stalls gets 408 once the read timeout passes.
#[tokio::test]
async fn slow_client_times_out_and_nothing_is_forwarded() {
    let vendor = FakeVendor::start(Behavior::ok("1")).await;
    let proxy = start_proxy(&vendor.base_url(), |f| {
        f.limits.body_read_timeout_seconds = 0.3
    })
    .await;
    let text = support::send_head_only(
        proxy.addr(),
        b"POST /segment/v1/t HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{\"type\":",
    )
    .await;
    assert!(!text.is_empty(), "the proxy answers a stalled client");
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("scrubproxy-error: body_read_timeout"));
    assert!(vendor.all_requests().is_empty());
}
