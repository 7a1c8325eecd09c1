//! Faults on both sides of the proxy: vendors that cut a response short or answer slowly,
//! and a soak of the real binary through every fault at once, which must leave its file
//! descriptors and memory where they were. Single faults (reset, hang, refused, 5xx, 429,
//! broken and stalled uploads, bombs) have their own tests in `no_silent_loss.rs` and
//! `fail_closed.rs`.

use std::net::SocketAddr;
use std::process::{Child, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::support::{self, start_proxy, Behavior, FakeVendor};

const EVENT: &[u8] = br#"{"type":"track","event":"Signup","userId":"u1"}"#;

/// A vendor that reads each request whole, then sends a 200 whose body stops halfway and
/// closes the connection.
async fn cut_mid_response_vendor() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut sock = BufReader::new(sock);
                let mut content_length = 0usize;
                loop {
                    let mut line = String::new();
                    if sock.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    if line == "\r\n" {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':') {
                        if name.eq_ignore_ascii_case("content-length") {
                            content_length = value.trim().parse().unwrap_or(0);
                        }
                    }
                }
                let mut body = vec![0; content_length];
                if sock.read_exact(&mut body).await.is_err() {
                    return;
                }
                let _ = sock
                    .get_mut()
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 64\r\n\r\n{\"success\":")
                    .await;
                // Dropped here: the vendor vanishes mid-body.
            });
        }
    });
    format!("http://{addr}")
}

/// The one-event Segment request every case here sends, to `/{prefix}/v1/t`.
async fn post_event(addr: SocketAddr, prefix: &str) -> Result<support::Response, String> {
    support::try_send_raw(
        addr,
        "POST",
        &format!("/{prefix}/v1/t"),
        &[("content-type", "text/plain")],
        EVENT.to_vec(),
    )
    .await
}

#[tokio::test]
async fn a_vendor_answer_cut_short_is_never_a_success() {
    let vendor = cut_mid_response_vendor().await;
    let proxy = start_proxy(&vendor, |_| {}).await;
    for _ in 0..3 {
        match post_event(proxy.addr(), "segment").await {
            // The tracker may see the status before the body breaks; then reading fails.
            Err(_) => {}
            Ok(resp) => assert!(
                !(200..300).contains(&resp.status),
                "a cut answer reached the tracker as {} {:?}",
                resp.status,
                resp.text()
            ),
        }
    }
}

#[tokio::test]
async fn a_slow_vendor_within_the_timeout_is_waited_for() {
    let vendor = FakeVendor::start(Behavior::json(r#"{"success":true}"#).after_ms(400)).await;
    let proxy = start_proxy(&vendor.base_url(), |f| {
        f.limits.upstream_timeout_seconds = 3.0
    })
    .await;
    let resp = post_event(proxy.addr(), "segment").await.unwrap();
    assert_eq!(
        (resp.status, resp.text()),
        (200, r#"{"success":true}"#.to_string())
    );
}

/// The release or debug binary, serving `rules`; its tracker address is read from its log.
pub(crate) struct Binary {
    child: Child,
    pub(crate) addr: SocketAddr,
}

impl Binary {
    pub(crate) fn start(rules: &str) -> Binary {
        static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let nth = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "scrubproxy-faults-{}-{nth}.toml",
            std::process::id()
        ));
        std::fs::write(&path, rules).unwrap();
        let mut child = crate::support::proxy::binary()
            .args(["run", "--config"])
            .arg(&path)
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let logs = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(logs).lines().map_while(Result::ok) {
                if let Some(addr) = listening_addr(&line) {
                    let _ = tx.send(addr);
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the binary logs where it listens");
        Binary { child, addr }
    }

    /// The most resident memory the process has had (KiB), from /proc.
    pub(crate) fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    /// Open file descriptors and resident memory (KiB), from /proc.
    fn footprint(&self) -> (usize, u64) {
        let pid = self.child.id();
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .count();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let rss = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap();
        (fds, rss)
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `addr=127.0.0.1:PORT` from the "listening" log line (escape codes or not).
fn listening_addr(line: &str) -> Option<SocketAddr> {
    if !line.contains("listening") {
        return None;
    }
    let at = line.find(" addr=")? + " addr=".len();
    let rest = &line[at..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ':'))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// Every fault once, concurrently; panics on any wrong answer.
async fn one_round_of_faults(addr: SocketAddr, bomb: &[u8]) {
    let post = |prefix: &'static str| post_event(addr, prefix);
    let status = |r: Result<support::Response, String>| r.map(|r| r.status).unwrap_or(0);
    let broken_upload = async {
        let mut chunks = vec![b"{\"batch\":[".to_vec()];
        chunks.extend((0..50).map(|_| br#"{"type":"track","event":"e"},"#.to_vec()));
        support::send_chunks(addr, "POST", "/ok/v1/batch", &[], chunks, true).await
    };
    let bomb_upload = support::try_send_raw(
        addr,
        "POST",
        "/ok/v1/batch",
        &[("content-encoding", "gzip")],
        bomb.to_vec(),
    );
    let (ok, e503, hang, reset, refused, cut, broken, bombed, stalled, huge) = tokio::join!(
        post("ok"),
        post("e503"),
        post("hang"),
        post("reset"),
        post("refused"),
        post("cut"),
        broken_upload,
        bomb_upload,
        support::send_head_only(
            addr,
            b"POST /ok/v1/t HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{\"type\":"
        ),
        support::send_head_only(
            addr,
            b"POST /ok/v1/batch HTTP/1.1\r\nhost: x\r\ncontent-length: 10737418240\r\n\r\n"
        ),
    );
    assert_eq!(status(ok), 200);
    assert_eq!(status(e503), 502);
    assert_eq!(status(hang), 504);
    assert_eq!(status(reset), 502);
    assert_eq!(status(refused), 502);
    assert!(!(200..300).contains(&status(cut)));
    assert!(broken.map(|r| r.status >= 400).unwrap_or(true));
    assert_eq!(status(bombed), 413);
    assert!(stalled.starts_with("HTTP/1.1 408"), "{stalled}");
    assert!(huge.starts_with("HTTP/1.1 413"), "{huge}");
}

/// The real binary through rounds of every fault at once: after a warm-up its descriptors
/// and memory stay where they were (nothing leaks per failed request).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_leaks_no_descriptors_or_memory_through_faults() {
    let ok = FakeVendor::start(Behavior::json(r#"{"success":true}"#)).await;
    let e503 = FakeVendor::start(Behavior::status(503)).await;
    let hang = FakeVendor::start(Behavior::Hang).await;
    let reset = FakeVendor::start(Behavior::Reset).await;
    let cut = cut_mid_response_vendor().await;
    let refused = tokio::net::TcpSocket::new_v4().unwrap();
    refused.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let refused = format!("http://{}", refused.local_addr().unwrap());
    let mut rules = String::from(
        "[listen]\naddress = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\n\n[limits]\n\
         upstream_timeout_seconds = 0.3\nbody_read_timeout_seconds = 0.3\n\
         max_decoded_bytes = 1048576\nbuffer_below_bytes = 512\n",
    );
    for (prefix, upstream) in [
        ("ok", ok.base_url()),
        ("e503", e503.base_url()),
        ("hang", hang.base_url()),
        ("reset", reset.base_url()),
        ("cut", cut.clone()),
        ("refused", refused.clone()),
    ] {
        rules.push_str(&format!(
            "\n[[route]]\nprefix = \"/{prefix}\"\nvendor = \"segment\"\nupstream = \"{upstream}\"\n"
        ));
    }
    let binary = Binary::start(&rules);
    let bomb = {
        use std::io::Write;
        let mut body = br#"{"batch":[{"properties":{"note":""#.to_vec();
        body.extend(std::iter::repeat_n(b'a', 4 << 20));
        body.extend_from_slice(br#""}}]}"#);
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&body).unwrap();
        enc.finish().unwrap()
    };
    for _ in 0..8 {
        one_round_of_faults(binary.addr, &bomb).await;
    }
    // Taken at once: sockets of the warm-up still closing only loosen the bound below.
    let (fds_before, rss_before) = binary.footprint();
    for _ in 0..32 {
        one_round_of_faults(binary.addr, &bomb).await;
    }
    // Closing is asynchronous: wait for the footprint to come back, not for a set time.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (fds_after, rss_after) = binary.footprint();
        let fds_ok = fds_after <= fds_before + 4;
        let rss_ok = rss_after <= rss_before + 8 * 1024;
        if fds_ok && rss_ok {
            eprintln!(
                "faults soak: fds {fds_before} -> {fds_after}, RSS {rss_before} -> {rss_after} KiB"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "descriptors {fds_before} -> {fds_after}, RSS {rss_before} -> {rss_after} KiB"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Reads until the proxy closes the connection; the bytes it sent before closing.
async fn read_until_closed(stream: &mut tokio::net::TcpStream, within: Duration) -> Vec<u8> {
    let mut got = Vec::new();
    let read = tokio::time::timeout(within, stream.read_to_end(&mut got)).await;
    assert!(
        read.is_ok(),
        "the connection was still open after {within:?}"
    );
    got
}

#[tokio::test]
async fn slow_headers_and_idle_connections_are_closed_by_the_header_timeout() {
    let vendor = FakeVendor::start(Behavior::ok("1")).await;
    let proxy = start_proxy(&vendor.base_url(), |f| {
        f.limits.header_read_timeout_seconds = 1.0;
    })
    .await;

    // Slow loris: headers that never end.
    let mut stream = tokio::net::TcpStream::connect(proxy.addr()).await.unwrap();
    stream
        .write_all(b"POST /segment/v1/t HTTP/1.1\r\nHost: proxy\r\nX-Slow: ")
        .await
        .unwrap();
    read_until_closed(&mut stream, Duration::from_secs(5)).await;

    // A keep-alive connection left idle after its request is closed too.
    let mut stream = tokio::net::TcpStream::connect(proxy.addr()).await.unwrap();
    let body = br#"{"type":"track","event":"e"}"#;
    let head = format!(
        "POST /segment/v1/t HTTP/1.1\r\nHost: proxy\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let answer = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "the request itself was answered: {}",
        String::from_utf8_lossy(&answer)
    );
    assert_eq!(vendor.requests().len(), 1);
}
