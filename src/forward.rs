//! The only place bytes leave for a vendor: a pooled hyper client over rustls (webpki roots)
//! that takes `Scrubbed` bodies only, with header hygiene applied to every request.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use http_body::{Body, Frame, SizeHint};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::sync::mpsc;

use crate::pipeline::Scrubbed;
use crate::rules::{Upstream, UpstreamSettings};

/// Headers that identify the client or its hops: never sent to a vendor, whatever the rules.
pub const NEVER_FORWARDED: &[&str] = &[
    "cookie",
    "x-forwarded-for",
    "forwarded",
    "x-real-ip",
    "cf-connecting-ip",
    "true-client-ip",
    "x-client-ip",
    "x-cluster-client-ip",
    "fastly-client-ip",
];

/// Scrubbed chunks in flight to the vendor at once, per request: backpressure, not a queue.
const STREAM_CHANNEL_CHUNKS: usize = 4;

pub type UpstreamClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, UpstreamBody>;

/// Why an upstream call failed; `kind` is a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ForwardError {
    #[error("could not connect to the vendor")]
    Connect,
    #[error("the vendor did not answer in time")]
    Timeout,
    #[error("the connection to the vendor failed")]
    Io,
    #[error("the vendor answered with a server error")]
    Status5xx,
    #[error("the vendor answered with a redirect, which is not followed")]
    Redirect,
    #[error("the vendor answered before the whole body was sent")]
    AnsweredEarly,
}

impl ForwardError {
    pub fn kind(self) -> &'static str {
        match self {
            ForwardError::Connect => "connect",
            ForwardError::Timeout => "timeout",
            ForwardError::Io => "io",
            ForwardError::Status5xx => "status_5xx",
            ForwardError::Redirect => "redirect",
            ForwardError::AnsweredEarly => "answered_early",
        }
    }

    /// The status the tracker gets: always one every SDK retries.
    pub fn status(self) -> u16 {
        match self {
            ForwardError::Timeout => 504,
            _ => 502,
        }
    }

    pub fn classify(err: &hyper_util::client::legacy::Error) -> Self {
        if err.is_connect() {
            ForwardError::Connect
        } else {
            ForwardError::Io
        }
    }
}

/// The request body sent upstream: scrubbed bytes whole, or a stream of scrubbed chunks that
/// can be aborted so the vendor sees a broken request, never a truncated valid one.
pub struct UpstreamBody {
    inner: BodyInner,
}

enum BodyInner {
    Full(Option<Bytes>),
    Stream {
        rx: mpsc::Receiver<Result<Bytes, StreamAborted>>,
        /// Set by `StreamSender::finish`. A sender dropped without it (its task cancelled, as
        /// at the shutdown deadline) must break the body: a clean end would hand the vendor a
        /// truncated request that can still parse (a prefix of line-delimited events).
        finished: Arc<AtomicBool>,
        /// Set when the clean end was handed to the connection: a vendor cannot have read
        /// the whole body before that.
        delivered: Arc<AtomicBool>,
        ended: bool,
    },
}

/// The error that aborts an upstream body mid-stream.
#[derive(Debug, thiserror::Error)]
#[error("request body aborted by the proxy: {kind}")]
pub struct StreamAborted {
    pub kind: &'static str,
}

impl UpstreamBody {
    pub fn full(body: Scrubbed) -> Self {
        UpstreamBody {
            inner: BodyInner::Full(Some(body.into_bytes())),
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = StreamAborted;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, StreamAborted>>> {
        match &mut self.inner {
            BodyInner::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            BodyInner::Stream {
                rx,
                finished,
                delivered,
                ended,
            } => {
                if *ended {
                    return Poll::Ready(None);
                }
                match rx.poll_recv(cx) {
                    Poll::Ready(None) => {
                        *ended = true;
                        if finished.load(Ordering::Acquire) {
                            delivered.store(true, Ordering::Release);
                            Poll::Ready(None)
                        } else {
                            Poll::Ready(Some(Err(StreamAborted { kind: "cancelled" })))
                        }
                    }
                    other => other.map(|item| item.map(|r| r.map(Frame::data))),
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(&self.inner, BodyInner::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            BodyInner::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            BodyInner::Full(None) => SizeHint::with_exact(0),
            BodyInner::Stream { .. } => SizeHint::default(),
        }
    }
}

/// The sending side of a streamed upstream body.
pub struct StreamSender {
    tx: mpsc::Sender<Result<Bytes, StreamAborted>>,
    finished: Arc<AtomicBool>,
    delivered: Arc<AtomicBool>,
}

/// Whether a finished stream's end reached the upstream connection.
pub struct Delivery(Arc<AtomicBool>);

impl Delivery {
    /// True once the connection took the body's clean end. A vendor that answered before
    /// that answered without having the whole body, even if every piece was queued.
    pub fn complete(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

impl StreamSender {
    /// Sends a chunk; `false` when the upstream request is gone (its error tells why).
    pub async fn send(&self, chunk: Scrubbed) -> bool {
        if chunk.is_empty() {
            return true;
        }
        self.tx.send(Ok(chunk.into_bytes())).await.is_ok()
    }

    /// Ends the upstream body cleanly: the only way it ends without an error.
    pub fn finish(self) -> Delivery {
        self.finished.store(true, Ordering::Release);
        Delivery(self.delivered)
    }

    /// Breaks the upstream body so the vendor cannot mistake what arrived for a whole request.
    pub async fn abort(self, kind: &'static str) {
        let _ = self.tx.send(Err(StreamAborted { kind })).await;
    }
}

/// A streamed upstream body and its sender.
pub fn stream() -> (StreamSender, UpstreamBody) {
    let (tx, rx) = mpsc::channel(STREAM_CHANNEL_CHUNKS);
    let finished = Arc::new(AtomicBool::new(false));
    let delivered = Arc::new(AtomicBool::new(false));
    (
        StreamSender {
            tx,
            finished: finished.clone(),
            delivered: delivered.clone(),
        },
        UpstreamBody {
            inner: BodyInner::Stream {
                rx,
                finished,
                delivered,
                ended: false,
            },
        },
    )
}

/// The pooled client for every upstream, HTTP/1.1 or HTTP/2 by ALPN, certificates verified
/// against the webpki roots plus `upstream.ca_file` (unless `upstream.tls_verify` is off).
pub fn client(settings: &UpstreamSettings) -> UpstreamClient {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap_or_else(|_| rustls::ClientConfig::builder());
    let tls = if settings.verify {
        builder
            .with_root_certificates(roots(&settings.extra_roots))
            .with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth()
    };
    let mut tcp = HttpConnector::new();
    tcp.enforce_http(false);
    // Streamed bodies go out in small writes; with Nagle's algorithm each waits for the
    // vendor's delayed ACK (40 ms).
    tcp.set_nodelay(true);
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(tcp);
    Client::builder(TokioExecutor::new())
        .timer(hyper_util::rt::TokioTimer::new())
        .pool_timer(hyper_util::rt::TokioTimer::new())
        .pool_max_idle_per_host(settings.pool_max_idle_per_host)
        .pool_idle_timeout(settings.pool_idle_timeout)
        .build(connector)
}

fn roots(extra: &[rustls::pki_types::CertificateDer<'static>]) -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for root in extra {
        // A root that does not parse was already refused when the rules were compiled.
        let _ = roots.add(root.clone());
    }
    roots
}

/// `upstream.tls_verify = false`: any certificate names the vendor. The handshake's
/// signatures are still checked, so the session is at least bound to the key shown.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The vendor URL for the path left after the route prefix and the (scrubbed) query.
pub fn upstream_uri(
    upstream: &Upstream,
    rest: &str,
    query: Option<&str>,
) -> Result<http::Uri, http::Error> {
    let mut path_and_query = String::with_capacity(upstream.base_path.len() + rest.len() + 1);
    path_and_query.push_str(&upstream.base_path);
    if !rest.starts_with('/') {
        path_and_query.push('/');
    }
    path_and_query.push_str(rest);
    if let Some(q) = query.filter(|q| !q.is_empty()) {
        path_and_query.push('?');
        path_and_query.push_str(q);
    }
    http::Uri::builder()
        .scheme(upstream.scheme.clone())
        .authority(upstream.authority.clone())
        .path_and_query(path_and_query)
        .build()
}

/// The headers sent upstream: the allow-listed ones from the tracker (minus anything that
/// names the client), our Content-Type, and a Content-Length only for whole bodies.
pub fn upstream_headers(
    incoming: &HeaderMap,
    allow: &[HeaderName],
    vendor_needs: &[&'static str],
    content_type: Option<&'static str>,
    content_length: Option<usize>,
) -> HeaderMap {
    let mut out = HeaderMap::new();
    let needed = vendor_needs.iter().map(|n| HeaderName::from_static(n));
    for name in allow.iter().cloned().chain(needed) {
        if NEVER_FORWARDED.contains(&name.as_str()) || out.contains_key(&name) {
            continue;
        }
        for value in incoming.get_all(&name) {
            out.append(name.clone(), value.clone());
        }
    }
    if let Some(ct) = content_type {
        out.insert(CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    if let Some(len) = content_length {
        out.insert(CONTENT_LENGTH, HeaderValue::from(len));
    }
    out
}

/// Response headers that describe our hop, not the vendor's answer.
pub const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "te",
    "trailer",
];

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::stream;

    #[tokio::test]
    async fn a_streamed_body_ends_cleanly_only_when_finished() {
        let (tx, body) = stream();
        tx.finish();
        assert!(body.collect().await.is_ok());

        // A sender dropped mid-request (its task cancelled) breaks the body instead.
        let (tx, body) = stream();
        drop(tx);
        let err = body
            .collect()
            .await
            .expect_err("an unfinished stream must not end cleanly");
        assert_eq!(err.kind, "cancelled");
    }

    #[tokio::test]
    async fn delivery_is_complete_only_once_the_connection_took_the_end() {
        let (tx, mut body) = stream();
        let piece = crate::pipeline::Scrubbed::concat(Vec::new());
        assert!(tx.send(piece).await, "an empty piece always goes");
        let delivery = tx.finish();
        assert!(!delivery.complete(), "finished, but nothing read yet");
        assert!(body.frame().await.is_none(), "the clean end");
        assert!(delivery.complete());

        // A connection that stops reading before the end leaves the delivery incomplete.
        let (tx, body) = stream();
        let delivery = tx.finish();
        drop(body);
        assert!(!delivery.complete());
    }
}
