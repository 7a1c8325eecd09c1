//! Client helpers: replay fixtures (or hand-made requests) against a proxy over HTTP/1.1 with
//! the hyper-util legacy client. Every call uses a fresh client, hence a fresh connection.

use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Body, Frame};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::sync::mpsc;

use super::fixture::Fixture;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type ReqBody = UnsyncBoxBody<Bytes, BoxError>;

/// Safety net so a broken proxy fails a test instead of hanging it. Wrap calls in a shorter
/// `tokio::time::timeout` when a test expects a hang.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// Headers never copied from a fixture: hyper derives them itself.
const SKIPPED_FIXTURE_HEADERS: [&str; 4] =
    ["host", "content-length", "connection", "transfer-encoding"];

/// A fully read response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// Lower-case names, values lossily UTF-8, in hyper's map order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// First value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Body as (lossy) UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Replay a fixture against `addr`: same method, raw target and body, the fixture's headers
/// (minus Host, Content-Length, Connection, Transfer-Encoding) followed by `extra_headers`.
/// Panics on a transport error (use [`try_send`] to observe one).
pub async fn send(addr: SocketAddr, f: &Fixture, extra_headers: &[(&str, &str)]) -> Response {
    try_send(addr, f, extra_headers)
        .await
        .unwrap_or_else(|e| panic!("send {} to {addr}: {e}", f.name))
}

/// [`send`], returning transport errors (connection closed, reset, timeout) as `Err`.
pub async fn try_send(
    addr: SocketAddr,
    f: &Fixture,
    extra_headers: &[(&str, &str)],
) -> Result<Response, String> {
    let headers = fixture_headers(f, extra_headers);
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, *v)).collect();
    try_send_raw(addr, &f.method, &f.raw_target, &headers, f.body.clone()).await
}

/// The headers [`send`] would send for a fixture.
pub fn fixture_headers<'a>(
    f: &'a Fixture,
    extra_headers: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    f.headers
        .iter()
        .filter(|(n, _)| {
            !SKIPPED_FIXTURE_HEADERS
                .iter()
                .any(|s| n.eq_ignore_ascii_case(s))
        })
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .chain(extra_headers.iter().copied())
        .collect()
}

/// Send one request with a fixed body. Headers are sent as given (hyper adds Host and
/// Content-Length when absent). `target` is `path?query`. Panics on a transport error.
pub async fn send_raw(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Response {
    try_send_raw(addr, method, target, headers, body)
        .await
        .unwrap_or_else(|e| panic!("{method} {target} to {addr}: {e}"))
}

/// [`send_raw`], returning transport errors as `Err`.
pub async fn try_send_raw(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Result<Response, String> {
    let body: ReqBody = Full::new(Bytes::from(body))
        .map_err(|never| match never {})
        .boxed_unsync();
    execute(addr, method, target, headers, body).await
}

/// Stream the body in the given chunks (chunked transfer encoding unless the caller passes a
/// Content-Length), with a short pause between chunks. With `then_fail`, the body stream ends
/// with an error after the last chunk instead of finishing: hyper then aborts the request, as a
/// client breaking mid-body would. `Err` carries the transport error.
pub async fn send_chunks(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    chunks: Vec<Vec<u8>>,
    then_fail: bool,
) -> Result<Response, String> {
    let (tx, rx) = mpsc::channel::<Result<Bytes, BoxError>>(1);
    tokio::spawn(async move {
        for chunk in chunks {
            if tx.send(Ok(Bytes::from(chunk))).await.is_err() {
                return;
            }
            // The behaviour asked for: a client whose body arrives in separate pieces.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if then_fail {
            let _ = tx
                .send(Err("simulated client failure mid-body".into()))
                .await;
        }
        // Dropping `tx` ends the body.
    });
    let body: ReqBody = ChannelBody { rx }.boxed_unsync();
    execute(addr, method, target, headers, body).await
}

/// [`send_chunks`] in two parts without pauses: `first`, then `rest` once `gate` completes
/// (a fake vendor's answer, say), so what the other side sees before the gate is decided
/// by the test, not by timing.
pub async fn send_chunks_gated(
    addr: SocketAddr,
    target: &str,
    headers: &[(&str, &str)],
    first: Vec<Vec<u8>>,
    gate: impl std::future::Future<Output = ()> + Send + 'static,
    rest: Vec<Vec<u8>>,
) -> Result<Response, String> {
    let (tx, rx) = mpsc::channel::<Result<Bytes, BoxError>>(1);
    tokio::spawn(async move {
        for chunk in first {
            if tx.send(Ok(Bytes::from(chunk))).await.is_err() {
                return;
            }
        }
        gate.await;
        for chunk in rest {
            if tx.send(Ok(Bytes::from(chunk))).await.is_err() {
                return;
            }
        }
    });
    let body: ReqBody = ChannelBody { rx }.boxed_unsync();
    execute(addr, "POST", target, headers, body).await
}

/// A request body fed by a channel; an `Err` item ends the stream with that error.
struct ChannelBody {
    rx: mpsc::Receiver<Result<Bytes, BoxError>>,
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.rx
            .poll_recv(cx)
            .map(|item| item.map(|res| res.map(Frame::data)))
    }
}

async fn execute(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: ReqBody,
) -> Result<Response, String> {
    let method = http::Method::from_bytes(method.as_bytes())
        .map_err(|e| format!("bad method {method:?}: {e}"))?;
    let uri: http::Uri = format!("http://{addr}{target}")
        .parse()
        .map_err(|e| format!("bad target {target:?}: {e}"))?;
    let mut req = http::Request::new(body);
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    for (n, v) in headers {
        let name = http::HeaderName::from_bytes(n.as_bytes())
            .map_err(|e| format!("bad header name {n:?}: {e}"))?;
        let value = http::HeaderValue::from_bytes(v.as_bytes())
            .map_err(|e| format!("bad header value for {n}: {v:?}: {e}"))?;
        req.headers_mut().append(name, value);
    }

    let client: Client<_, ReqBody> = Client::builder(TokioExecutor::new()).build_http();
    let exchange = async {
        let resp = client
            .request(req)
            .await
            .map_err(|e| format!("request failed: {}", error_chain(&e)))?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| {
                format!(
                    "response body failed after status {status}: {}",
                    error_chain(&e)
                )
            })?
            .to_bytes()
            .to_vec();
        Ok(Response {
            status,
            headers,
            body,
        })
    };
    tokio::time::timeout(CLIENT_TIMEOUT, exchange)
        .await
        .map_err(|_| format!("no complete response within {CLIENT_TIMEOUT:?}"))?
}

/// `e: cause: cause ...` (hyper's top-level errors say little on their own).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Writes `head` (a request head, perhaps with the start of a body) on a new connection and
/// stops sending: an announced body that never comes, or one too large to take. Returns the
/// proxy's answer up to the end of its head (empty if none came within 5 s).
pub async fn send_head_only(addr: SocketAddr, head: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(head).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        let mut buf = [0u8; 1024];
        loop {
            let n = stream.read(&mut buf).await.unwrap_or(0);
            answer.extend_from_slice(&buf[..n]);
            if n == 0 || answer.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
    })
    .await;
    String::from_utf8_lossy(&answer).into_owned()
}
