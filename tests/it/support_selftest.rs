//! The test helpers themselves: fixtures load, the fake vendor records, planted values are found
//! in every encoding (so the PII assertions elsewhere can fail).

use std::time::{Duration, Instant};

use crate::support::{fixture, planted, Behavior, FakeVendor};

const WAIT: Duration = Duration::from_secs(5);

#[test]
fn fixture_counts_and_shape() {
    let mixpanel = crate::support::load("mixpanel");
    let segment = crate::support::load("segment");
    assert_eq!(mixpanel.len(), 69);
    assert_eq!(segment.len(), 175);
    for f in mixpanel.iter().chain(&segment) {
        assert!(f.raw_target.starts_with(&f.path), "{}", f.name);
        if f.query_string.is_empty() {
            assert_eq!(f.raw_target, f.path, "{}", f.name);
        } else {
            assert_eq!(
                f.raw_target,
                format!("{}?{}", f.path, f.query_string),
                "{}",
                f.name
            );
        }
        assert!(
            ["GET", "POST", "OPTIONS"].contains(&f.method.as_str()),
            "{}",
            f.name
        );
        if let Some(len) = f.header("content-length") {
            assert_eq!(len.parse::<usize>().unwrap(), f.body.len(), "{}", f.name);
        }
    }
    let names: Vec<&str> = segment.iter().map(|f| f.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert!(names
        .contains(&"segment/browser-analytics-next/007-standard-03-identify-pii__POST_v1-i.json"));
}

#[tokio::test]
async fn reply_records_complete_request() {
    let vendor = FakeVendor::start(Behavior::ok("1")).await;
    let resp = crate::support::send_raw(
        vendor.addr,
        "POST",
        "/track/?verbose=1&ip=1",
        &[("content-type", "application/x-www-form-urlencoded")],
        b"data=eyJ9".to_vec(),
    )
    .await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "1");
    assert_eq!(resp.header("content-type"), Some("text/plain"));
    let reqs = vendor.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.target, "/track/?verbose=1&ip=1");
    assert_eq!(r.body, b"data=eyJ9");
    assert!(r.body_complete);
    assert_eq!(
        r.header("Content-Type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(r.header("content-length"), Some("9"));
    assert!(vendor.base_url().starts_with("http://127.0.0.1:"));

    vendor.set_behavior(Behavior::status(503));
    let resp = crate::support::send_raw(vendor.addr, "GET", "/", &[], Vec::new()).await;
    assert_eq!(resp.status, 503);
    assert!(resp.body.is_empty());
    assert_eq!(vendor.requests().len(), 2);
}

#[tokio::test]
async fn every_fixture_replays_byte_exact() {
    let vendor = FakeVendor::start(Behavior::json(r#"{"success":true}"#)).await;
    let fixtures: Vec<_> = crate::support::load("segment")
        .into_iter()
        .chain(crate::support::load("mixpanel"))
        .collect();
    for f in &fixtures {
        let resp = crate::support::send(vendor.addr, f, &[("x-test", "1")]).await;
        assert_eq!(resp.status, 200, "{}", f.name);
    }
    let reqs = vendor.requests();
    assert_eq!(reqs.len(), fixtures.len());
    for (f, r) in fixtures.iter().zip(&reqs) {
        assert_eq!(r.method, f.method, "{}", f.name);
        assert_eq!(r.target, f.raw_target, "{}", f.name);
        assert_eq!(r.body, f.body, "{}", f.name);
        assert_eq!(r.header("x-test"), Some("1"));
        for (n, v) in &f.headers {
            if ["host", "content-length", "connection", "transfer-encoding"]
                .contains(&n.to_ascii_lowercase().as_str())
            {
                continue;
            }
            assert!(
                r.headers
                    .iter()
                    .any(|(rn, rv)| rn.eq_ignore_ascii_case(n) && rv == v),
                "{}: header {n} not replayed",
                f.name
            );
        }
    }
}

#[tokio::test]
async fn reset_drops_connection_without_response() {
    let vendor = FakeVendor::start(Behavior::Reset).await;
    let err = crate::support::try_send_raw(vendor.addr, "POST", "/v1/t", &[], b"{}".to_vec())
        .await
        .expect_err("a reset must not produce a response");
    assert!(!err.is_empty());
    eprintln!("reset error: {err}");
    let reqs = vendor.wait_for_requests(1, WAIT).await;
    assert_eq!(reqs.len(), 1);
    assert!(reqs[0].body_complete, "the request itself arrived whole");
}

#[tokio::test]
async fn hang_never_answers() {
    let vendor = FakeVendor::start(Behavior::Hang).await;
    let started = Instant::now();
    let res = tokio::time::timeout(
        Duration::from_millis(300),
        crate::support::try_send_raw(vendor.addr, "POST", "/v1/t", &[], b"{}".to_vec()),
    )
    .await;
    assert!(res.is_err(), "hang answered: {res:?}");
    assert!(started.elapsed() >= Duration::from_millis(300));
    let reqs = vendor.wait_for_requests(1, WAIT).await;
    assert!(reqs[0].body_complete);
}

#[tokio::test]
async fn delay_then_reply() {
    let vendor = FakeVendor::start(Behavior::ok("1").after_ms(200)).await;
    let started = Instant::now();
    let resp = crate::support::send_raw(vendor.addr, "GET", "/track?data=x", &[], Vec::new()).await;
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(resp.text(), "1");
}

#[tokio::test]
async fn chunked_upload_is_recorded_whole() {
    let vendor = FakeVendor::start(Behavior::ok("1")).await;
    let chunks = vec![b"data=".to_vec(), b"abc".to_vec(), b"def".to_vec()];
    let resp = crate::support::send_chunks(vendor.addr, "POST", "/track", &[], chunks, false)
        .await
        .expect("chunked upload");
    assert_eq!(resp.status, 200);
    let reqs = vendor.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].body, b"data=abcdef");
    assert_eq!(reqs[0].header("transfer-encoding"), Some("chunked"));
    assert!(reqs[0].body_complete);
}

#[tokio::test]
async fn aborted_upload_is_recorded_incomplete() {
    let vendor = FakeVendor::start(Behavior::ok("1")).await;
    let chunks = vec![b"{\"batch\":[".to_vec(), b"{\"a\":1},".to_vec()];
    let res =
        crate::support::send_chunks(vendor.addr, "POST", "/v1/batch", &[], chunks, true).await;
    assert!(res.is_err(), "aborted upload got a response: {res:?}");
    eprintln!("abort error: {}", res.unwrap_err());
    let all = vendor.wait_for_requests(1, WAIT).await;
    assert_eq!(all.len(), 1);
    assert!(!all[0].body_complete);
    assert_eq!(all[0].body, b"{\"batch\":[{\"a\":1},");
    assert!(
        vendor.requests().is_empty(),
        "incomplete requests are not in requests()"
    );

    // Same with a declared Content-Length that is never reached.
    vendor.clear();
    let res = crate::support::send_chunks(
        vendor.addr,
        "POST",
        "/v1/batch",
        &[("content-length", "100")],
        vec![b"{\"batch\":".to_vec()],
        true,
    )
    .await;
    assert!(res.is_err());
    let all = vendor.wait_for_requests(1, WAIT).await;
    assert_eq!(all.len(), 1);
    assert!(!all[0].body_complete);
    assert_eq!(all[0].body, b"{\"batch\":");
}

#[test]
fn planted_detected_in_real_fixtures() {
    let identify = fixture::load_one(
        "segment/browser-analytics-next/007-standard-03-identify-pii__POST_v1-i.json",
    );
    let found = crate::support::planted_in(&identify.body);
    for name in [
        "email",
        "phone",
        "name",
        "first_name",
        "last_name",
        "street",
        "city",
        "region",
        "postal_code",
        "credit_card",
        "user_id",
    ] {
        assert!(found.iter().any(|f| f == name), "{name} not in {found:?}");
    }
    assert!(!found.iter().any(|f| f == "country"));
    // The Basic auth header carries the write key, not PII.
    assert!(planted::planted_in(identify.header("authorization").unwrap().as_bytes()).is_empty());

    // mixpanel node single calls: everything is in ?data=<base64 JSON>, the body is empty.
    let mixpanel = crate::support::load("mixpanel");
    let get = mixpanel
        .iter()
        .find(|f| {
            f.name
                .contains("node-mixpanel/002-track-pii-props__GET_track")
        })
        .expect("node GET fixture");
    assert!(get.body.is_empty());
    assert!(!get.raw_target.contains("user-jane-doe-42"));
    let found = crate::support::planted_in(get.raw_target.as_bytes());
    assert!(found.iter().any(|f| f == "user_id"), "{found:?}");
    assert!(found.iter().any(|f| f == "email"), "{found:?}");
}

#[test]
fn planted_sweep_over_fixtures() {
    for vendor in ["segment", "mixpanel"] {
        for f in crate::support::load(vendor) {
            let mut found = crate::support::planted_in(f.raw_target.as_bytes());
            found.extend(crate::support::planted_in(&f.body));
            if f.method == "OPTIONS" && f.query_string.is_empty() {
                assert!(found.is_empty(), "{}: {found:?}", f.name);
            }
            if f.name.contains("-pii") && f.method != "OPTIONS" {
                assert!(!found.is_empty(), "{}: nothing planted found", f.name);
            }
        }
    }
}
