//! Worker threads: the acceptor spreads connections over them, each worker reaches the
//! vendor on its own, and the count of a worker's connections follows them as they close.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{start_proxy, Behavior, FakeVendor, TestProxy};

/// `scrubproxy_worker_connections` by worker, in worker order.
async fn open_by_worker(proxy: &TestProxy) -> Vec<i64> {
    let metrics = proxy.metrics().await;
    let mut open: Vec<(usize, i64)> = metrics
        .lines()
        .filter_map(|line| line.strip_prefix("scrubproxy_worker_connections{worker=\""))
        .filter_map(|rest| {
            let (worker, value) = rest.split_once("\"} ")?;
            Some((worker.parse().ok()?, value.trim().parse().ok()?))
        })
        .collect();
    open.sort();
    open.into_iter().map(|(_, count)| count).collect()
}

/// Sends one Segment event on `conn` and reads the whole answer, keeping the connection.
async fn track(conn: &mut TcpStream, n: usize) -> String {
    let body = format!(r#"{{"type":"track","event":"Signed Up","userId":"user-{n}"}}"#);
    let head = format!(
        "POST /segment/v1/track HTTP/1.1\r\nHost: proxy\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(body.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = conn.read(&mut buf).await.unwrap();
        assert!(n > 0, "the proxy closed a keep-alive connection");
        answer.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&answer);
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            continue;
        };
        let length = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length: ")?
                    .parse()
                    .ok()
            })
            .unwrap_or(0usize);
        if body.len() >= length {
            return head.lines().next().unwrap_or_default().to_owned();
        }
    }
}

#[tokio::test]
async fn connections_spread_evenly_over_the_workers_and_each_reaches_the_vendor() {
    let vendor = FakeVendor::start(Behavior::ok("{\"success\":true}")).await;
    let proxy = start_proxy(&vendor.base_url(), |f| f.listen.workers = 3).await;
    let mut conns = Vec::new();
    for n in 0..6 {
        let mut conn = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(track(&mut conn, n).await, "HTTP/1.1 200 OK");
        conns.push(conn);
    }
    assert_eq!(open_by_worker(&proxy).await, vec![2, 2, 2]);
    // A second round on the same connections: each worker's own client.
    for (n, conn) in conns.iter_mut().enumerate() {
        assert_eq!(track(conn, n).await, "HTTP/1.1 200 OK");
    }
    let arrived = vendor.wait_for_requests(12, Duration::from_secs(5)).await;
    assert_eq!(arrived.len(), 12);
    assert!(
        vendor.connections() >= 3,
        "each worker opens its own vendor connection: {} seen",
        vendor.connections()
    );

    drop(conns);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while open_by_worker(&proxy).await != vec![0, 0, 0] {
        assert!(
            tokio::time::Instant::now() < deadline,
            "closed connections still counted: {:?}",
            open_by_worker(&proxy).await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn a_worker_count_beyond_reason_is_refused_with_its_path() {
    let mut file = scrubproxy::rules::RulesFile::default();
    file.listen.workers = 100_000;
    let errors = scrubproxy::rules::compile(file).expect_err("refused");
    assert!(
        errors.iter().any(|e| e.path == "listen.workers"),
        "{errors:?}"
    );
}
