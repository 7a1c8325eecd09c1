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
