//! Large batches stream: the vendor gets the first scrubbed events while the tracker is still
//! sending, and what arrives in the end is the whole batch, scrubbed.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::support::{start_proxy, Behavior, FakeVendor};

fn event(i: usize) -> String {
    format!(
        r#"{{"type":"track","event":"e{i}","userId":"user-jane-doe-42","properties":{{"email":"jane.doe@example.com","n":{i}}}}}"#
    )
}

#[tokio::test]
async fn first_scrubbed_bytes_reach_the_vendor_before_the_tracker_finishes() {
    let vendor = FakeVendor::start(Behavior::ok("1")).await;
    let proxy = start_proxy(&vendor.base_url(), |f| f.limits.buffer_below_bytes = 1024).await;

    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, Infallible>>(4);
    let body = StreamBody::new(tokio_stream_from(rx)).boxed();
    let request = http::Request::post(format!("http://{}/segment/v1/batch", proxy.addr()))
        .body(body)
        .unwrap();
    let client: Client<_, _> = Client::builder(TokioExecutor::new()).build_http();
    let call = tokio::spawn(async move { client.request(request).await });

    let first_half: String = (0..100).map(|i| event(i) + ",").collect();
    tx.send(Ok(Frame::data(Bytes::from(format!(
        r#"{{"batch":[{first_half}"#
    )))))
    .await
    .unwrap();
    // The tracker holds the rest back until the vendor has seen the start of the request.
    let arrived = vendor.wait_for_arrivals(1, Duration::from_secs(5)).await;
    assert!(!arrived[0].body_complete, "the vendor is still receiving");
    let second_half: Vec<String> = (100..200).map(event).collect();
    tx.send(Ok(Frame::data(Bytes::from(format!(
        "{}]}}",
        second_half.join(",")
    )))))
    .await
    .unwrap();
    drop(tx);

    let resp = call.await.unwrap().unwrap();
    assert_eq!(resp.status(), 200);
    let got = vendor.wait_for_requests(1, Duration::from_secs(5)).await;
    assert!(
        got[0].header("content-length").is_none(),
        "streamed, not buffered"
    );
    let v: Value = serde_json::from_slice(&got[0].body).unwrap();
    let batch = v["batch"].as_array().unwrap();
    assert_eq!(batch.len(), 200);
    assert!(got[0].planted().is_empty());
    assert_eq!(batch[199]["properties"]["n"], 199);
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// `limits.read_buffer_bytes` caps what a connection reads ahead: a batch far larger than it
/// still streams through whole and scrubbed, a request head larger than it gets 431 with
/// nothing forwarded, and a cap too small for any head is refused with its path.
#[tokio::test]
async fn a_small_read_buffer_still_streams_large_batches_and_refuses_oversized_heads() {
    use crate::support::client::{send_head_only, send_raw};
    let vendor = FakeVendor::start(Behavior::ok("1")).await;
    let proxy = start_proxy(&vendor.base_url(), |f| {
        f.limits.buffer_below_bytes = 1024;
        f.limits.read_buffer_bytes = 16 << 10;
    })
    .await;

    let events: Vec<String> = (0..2000).map(event).collect();
    let body = format!(r#"{{"batch":[{}]}}"#, events.join(","));
    assert!(body.len() > 200 << 10, "many times the read buffer");
    let resp = send_raw(
        proxy.addr(),
        "POST",
        "/segment/v1/batch",
        &[],
        body.into_bytes(),
    )
    .await;
    assert_eq!(resp.status, 200);
    let got = vendor.wait_for_requests(1, Duration::from_secs(5)).await;
    let v: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(v["batch"].as_array().unwrap().len(), 2000);
    assert!(got[0].planted().is_empty());

    let cookie = "c".repeat(20 << 10);
    let head = format!(
        "POST /segment/v1/batch HTTP/1.1\r\nhost: x\r\ncookie: {cookie}\r\ncontent-length: 2\r\n\r\n{{}}"
    );
    let answer = send_head_only(proxy.addr(), head.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    assert_eq!(vendor.requests().len(), 1, "nothing more forwarded");

    for refused in [4096, 1 << 30] {
        let mut file = scrubproxy::rules::RulesFile::default();
        file.limits.read_buffer_bytes = refused;
        let errors = scrubproxy::rules::compile(file).expect_err("refused");
        assert!(
            errors.iter().any(|e| e.path == "limits.read_buffer_bytes"),
            "{refused}: {errors:?}"
        );
    }
}
