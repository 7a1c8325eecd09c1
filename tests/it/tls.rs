//! Real TLS on both sides: trackers reach the proxy over HTTPS (HTTP/2 by ALPN), and the proxy
//! reaches an HTTPS vendor only if it can verify its certificate.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

use crate::support::{self, start_proxy, Behavior, FakeVendor};

struct TestCert {
    cert_path: std::path::PathBuf,
    key_path: std::path::PathBuf,
    der: rustls::pki_types::CertificateDer<'static>,
}

fn test_cert(tag: &str) -> TestCert {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let dir = std::env::temp_dir().join(format!("scrubproxy-tls-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    std::fs::write(&cert_path, certified.cert.pem()).unwrap();
    std::fs::write(&key_path, certified.key_pair.serialize_pem()).unwrap();
    TestCert {
        cert_path,
        key_path,
        der: certified.cert.der().clone(),
    }
}

/// A proxy serving HTTPS with `cert` in front of `vendor`.
async fn start_https_proxy(cert: &TestCert, vendor: &FakeVendor) -> support::TestProxy {
    let (c, k) = (
        cert.cert_path.to_string_lossy().into_owned(),
        cert.key_path.to_string_lossy().into_owned(),
    );
    start_proxy(&vendor.base_url(), |f| {
        f.listen.tls_cert = Some(c);
        f.listen.tls_key = Some(k);
    })
    .await
}

/// Trackers' connections the workers hold, from the admin `/metrics`.
async fn open_connections(proxy: &support::TestProxy) -> i64 {
    proxy
        .metrics()
        .await
        .lines()
        .filter(|line| line.starts_with("scrubproxy_worker_connections{"))
        .filter_map(|line| line.rsplit_once(' ')?.1.trim().parse::<i64>().ok())
        .sum()
}

fn tls_client_config(root: &rustls::pki_types::CertificateDer<'static>) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root.clone()).unwrap();
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth()
}

#[tokio::test]
async fn trackers_reach_the_proxy_over_https_with_http2() {
    let cert = test_cert("listen");
    let vendor = FakeVendor::start(Behavior::ok("1")).await;
    let proxy = start_https_proxy(&cert, &vendor).await;
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls_client_config(&cert.der))
        .https_only()
        .enable_http1()
        .enable_http2()
        .build();
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(connector);
    let uri = format!("https://localhost:{}/segment/v1/t", proxy.addr().port());
    let req = http::Request::post(uri)
        .body(Full::new(Bytes::from_static(
            br#"{"type":"track","event":"e","properties":{"email":"jane.doe@example.com"}}"#,
        )))
        .unwrap();
    let resp = client.request(req).await.expect("HTTPS to the proxy");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.version(), http::Version::HTTP_2, "ALPN chose HTTP/2");
    assert!(vendor.requests()[0].planted().is_empty());

    // Plain HTTP on the TLS port gets no answer.
    let plain =
        support::try_send_raw(proxy.addr(), "POST", "/segment/v1/t", &[], b"{}".to_vec()).await;
    assert!(plain.is_err());
}

/// A minimal HTTPS vendor that records bodies.
async fn tls_vendor(cert: &TestCert) -> (u16, Arc<Mutex<Vec<Vec<u8>>>>) {
    use rustls::pki_types::pem::PemObject;
    let key = rustls::pki_types::PrivateKeyDer::from_pem_file(&cert.key_path).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert.der.clone()], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let recorded = bodies.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (acceptor, recorded) = (acceptor.clone(), recorded.clone());
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(stream).await else {
                    return;
                };
                let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let recorded = recorded.clone();
                    async move {
                        let body = req.into_body().collect().await.unwrap().to_bytes().to_vec();
                        recorded.lock().unwrap().push(body);
                        Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(
                            Bytes::from_static(b"1"),
                        )))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (port, bodies)
}

/// A client that trusts `root` only, on a fresh connection each call.
async fn https_status(port: u16, root: &rustls::pki_types::CertificateDer<'static>) -> Option<u16> {
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls_client_config(root))
        .https_only()
        .enable_http1()
        .build();
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(connector);
    let req = http::Request::post(format!("https://localhost:{port}/segment/v1/t"))
        .body(Full::new(Bytes::from_static(
            br#"{"type":"track","event":"e"}"#,
        )))
        .unwrap();
    client.request(req).await.ok().map(|r| r.status().as_u16())
}

#[tokio::test]
async fn a_renewed_certificate_is_served_without_a_restart() {
    support::logs::init();
    let vendor = FakeVendor::start(Behavior::ok("1")).await;
    let (old, new) = (test_cert("rotate-old"), test_cert("rotate-new"));
    let dir = std::env::temp_dir().join(format!("scrubproxy-rotate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::copy(&old.cert_path, &cert_path).unwrap();
    std::fs::copy(&old.key_path, &key_path).unwrap();
    let rules = crate::reload::rules_text(&vendor.base_url(), r#""*email*""#).replace(
        "# tls_cert = \"/etc/scrubproxy/tls/cert.pem\"\n# tls_key = \"/etc/scrubproxy/tls/key.pem\"",
        &format!("tls_cert = {:?}\ntls_key = {:?}", cert_path, key_path),
    );
    let rules_path = dir.join("rules.toml");
    std::fs::write(&rules_path, rules).unwrap();
    let set = scrubproxy::rules::load(Some(&rules_path)).unwrap();
    assert!(set.tls.is_some(), "the test rules turn TLS on");
    let running = scrubproxy::listen::start(set, Some(rules_path))
        .await
        .unwrap();
    let port = running.addr.port();
    assert_eq!(https_status(port, &old.der).await, Some(200));
    assert_eq!(https_status(port, &new.der).await, None, "not renewed yet");

    // Renew as cert-manager does: new files in place, the rules file untouched.
    std::fs::copy(&new.key_path, &key_path).unwrap();
    std::fs::copy(&new.cert_path, &cert_path).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while https_status(port, &new.der).await != Some(200) {
        assert!(
            std::time::Instant::now() < deadline,
            "the watcher did not load the renewed certificate"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert_eq!(
        https_status(port, &old.der).await,
        None,
        "the old one is gone"
    );
    running.shutdown().await;
}

#[tokio::test]
async fn upstream_verification_can_be_switched_off_for_a_test_collector() {
    let cert = test_cert("noverify");
    let (port, bodies) = tls_vendor(&cert).await;
    let proxy = start_proxy(&format!("https://localhost:{port}"), |f| {
        f.upstream.tls_verify = false;
    })
    .await;
    let event = br#"{"type":"track","event":"e"}"#.to_vec();
    let resp = support::send_raw(proxy.addr(), "POST", "/segment/v1/t", &[], event).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(bodies.lock().unwrap().len(), 1);
    assert!(support::logs::captured().contains("vendor certificates are NOT verified"));
}

#[tokio::test]
async fn vendors_are_verified_and_a_private_ca_can_be_trusted() {
    let cert = test_cert("upstream");
    let (port, bodies) = tls_vendor(&cert).await;
    let upstream = format!("https://localhost:{port}");
    let event = br#"{"type":"track","event":"e"}"#.to_vec();

    let strict = start_proxy(&upstream, |_| {}).await;
    let resp = support::send_raw(strict.addr(), "POST", "/segment/v1/t", &[], event.clone()).await;
    assert_eq!(resp.status, 502, "an unknown certificate is refused");
    assert!(bodies.lock().unwrap().is_empty());

    let ca = cert.cert_path.to_string_lossy().into_owned();
    let trusting = start_proxy(&upstream, |f| f.upstream.ca_file = Some(ca)).await;
    let resp = support::send_raw(trusting.addr(), "POST", "/segment/v1/t", &[], event).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(bodies.lock().unwrap().len(), 1);
}

/// A tracker whose TLS handshake ends after shutdown began still gets its request answered
/// (once, then the connection closes): the drain would otherwise close the new connection
/// before reading the request, and a beacon sent at page unload is never retried.
#[tokio::test]
async fn a_handshake_that_ends_during_the_drain_is_still_answered() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let cert = test_cert("drain");
    let vendor = FakeVendor::start(Behavior::ok("1")).await;
    let (c, k) = (
        cert.cert_path.to_string_lossy().into_owned(),
        cert.key_path.to_string_lossy().into_owned(),
    );
    // One worker: the connection it closes when its drain begins says so for every one.
    let proxy = start_proxy(&vendor.base_url(), |f| {
        f.listen.tls_cert = Some(c);
        f.listen.tls_key = Some(k);
        f.listen.workers = 1;
    })
    .await;
    let addr = proxy.addr();
    let event = br#"{"type":"track","event":"e","properties":{"email":"jane.doe@example.com"}}"#;
    // A kept-alive connection, answered once and idle: the drain closes it as it begins.
    let (kept, kept_closed) = kept_alive_connection(addr, &cert).await;
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    // Wait until both are handed to the worker, which then waits for the second's handshake.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while open_connections(&proxy).await != 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the connection was not handed to a worker"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let shutdown = tokio::spawn(proxy.running.shutdown());
    // The kept connection closing is the worker's drain beginning: the handshake below
    // ends after it, every time.
    tokio::time::timeout(std::time::Duration::from_secs(10), kept_closed)
        .await
        .expect("the drain closes an idle kept-alive connection")
        .unwrap()
        .expect("the connection ends cleanly");
    drop(kept);

    let mut config = tls_client_config(&cert.der);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.expect("handshake");
    let head = format!(
        "POST /segment/v1/t HTTP/1.1\r\nhost: localhost\r\ncontent-length: {}\r\n\r\n",
        event.len()
    );
    tls.write_all(head.as_bytes()).await.unwrap();
    tls.write_all(event).await.unwrap();
    let mut answer = Vec::new();
    let _ = tls.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    let requests = vendor.requests();
    assert_eq!(
        requests.len(),
        2,
        "the kept connection's request and this one"
    );
    assert!(requests.iter().all(|r| r.planted().is_empty()));
    shutdown.await.unwrap();
}

/// An HTTPS connection to the proxy that has carried one request and is kept open, and a
/// task that ends when the proxy closes it. The sender keeps the connection: dropped, the
/// client would close it itself.
async fn kept_alive_connection(
    addr: std::net::SocketAddr,
    cert: &TestCert,
) -> (
    hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    tokio::task::JoinHandle<hyper::Result<()>>,
) {
    let mut config = tls_client_config(&cert.der);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let tls = connector.connect(name, tcp).await.expect("handshake");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    let closed = tokio::spawn(conn);
    let request = hyper::Request::post("/segment/v1/t")
        .header("host", "localhost")
        .body(Full::new(Bytes::from_static(
            br#"{"type":"track","event":"kept"}"#,
        )))
        .unwrap();
    let resp = sender.send_request(request).await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.into_body().collect().await.unwrap();
    (sender, closed)
}
