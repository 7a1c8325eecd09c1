//! A fast fake vendor for load and streaming measurements: reads every request body, counts
//! it, answers `200 1`, and prints per request the bytes, and when the first and last body
//! bytes arrived (ms since the request began).
//!
//!     cargo run --release --example sink_vendor -- 127.0.0.1:9999

use std::convert::Infallible;
use std::time::Instant;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

async fn sink(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let started = Instant::now();
    let mut body = req.into_body();
    let (mut bytes, mut first) = (0usize, None);
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            println!("aborted after {bytes} bytes");
            break;
        };
        if let Ok(data) = frame.into_data() {
            first.get_or_insert_with(|| started.elapsed());
            bytes += data.len();
        }
    }
    if bytes > 1 << 20 {
        println!(
            "{bytes} bytes, first at {:.1} ms, last at {:.1} ms",
            first.unwrap_or_default().as_secs_f64() * 1e3,
            started.elapsed().as_secs_f64() * 1e3
        );
    }
    Ok(Response::new(Full::new(Bytes::from_static(b"1"))))
}

#[tokio::main]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9999".into());
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service_fn(sink))
                .await;
        });
    }
}
