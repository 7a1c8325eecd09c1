//! A fake analytics vendor: a real hyper 1.x HTTP/1.1 server on 127.0.0.1:0 that records every
//! request it receives (including requests whose body never finished) and answers according to
//! a switchable [`Behavior`].

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};

/// One request as the vendor received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub method: String,
    /// Request target as received: path + `?query`.
    pub target: String,
    /// Header names are lower-case (hyper normalises them); values lossily UTF-8.
    pub headers: Vec<(String, String)>,
    /// Whatever body bytes arrived (all of them when `body_complete`).
    pub body: Vec<u8>,
    /// `false` while the body is still arriving, or when the body stream errored / the sender
    /// aborted before its end. An aborted upstream request must never look complete.
    pub body_complete: bool,
}

impl Recorded {
    /// First value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Path part of the target (before `?`).
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// Query part of the target (after `?`, empty when none).
    pub fn query(&self) -> &str {
        self.target.split_once('?').map(|(_, q)| q).unwrap_or("")
    }

    /// Names of planted values found in the target or the body (see [`super::planted`]).
    pub fn planted(&self) -> Vec<String> {
        let mut found = super::planted::planted_in(self.target.as_bytes());
        for name in super::planted::planted_in(&self.body) {
            if !found.contains(&name) {
                found.push(name);
            }
        }
        found
    }

    /// Names of planted values found in any header value.
    pub fn planted_in_headers(&self) -> Vec<String> {
        let mut found = Vec::new();
        for (_, v) in &self.headers {
            for name in super::planted::planted_in(v.as_bytes()) {
                if !found.contains(&name) {
                    found.push(name);
                }
            }
        }
        found
    }
}

/// How the fake vendor answers. Evaluated per request, when the request head arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Behavior {
    /// Read the whole request body, then answer with this response.
    Reply {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Read the whole request body, then never answer (the connection stays open).
    Hang,
    /// Read the whole request body, then drop the connection without any response.
    Reset,
    /// Read the whole request body, wait `ms`, then behave as `then`.
    Delay { ms: u64, then: Box<Behavior> },
}

impl Behavior {
    /// 200 with a `text/plain` body, e.g. Mixpanel's `Behavior::ok("1")`.
    pub fn ok(body: &str) -> Behavior {
        Behavior::Reply {
            status: 200,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    /// 200 with an `application/json` body, e.g. Segment's `{"success":true}`.
    pub fn json(body: &str) -> Behavior {
        Behavior::Reply {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    /// A bare status with an empty body.
    pub fn status(code: u16) -> Behavior {
        Behavior::Reply {
            status: code,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// `Delay { ms, then: Box::new(self) }`.
    pub fn after_ms(self, ms: u64) -> Behavior {
        Behavior::Delay {
            ms,
            then: Box::new(self),
        }
    }
}

struct Entry {
    rec: Recorded,
    /// The body stream has ended, successfully or not.
    ended: bool,
}

type EntryRef = Arc<Mutex<Entry>>;

struct Shared {
    behavior: Mutex<Behavior>,
    /// Each request owns its entry, so `clear()` never disturbs a request in progress.
    entries: Mutex<Vec<EntryRef>>,
    changed: Notify,
    connections: AtomicUsize,
}

impl Shared {
    fn push(&self, rec: Recorded) -> EntryRef {
        let entry = Arc::new(Mutex::new(Entry { rec, ended: false }));
        self.entries.lock().unwrap().push(entry.clone());
        self.changed.notify_waiters();
        entry
    }

    fn append(&self, entry: &EntryRef, data: &[u8]) {
        entry.lock().unwrap().rec.body.extend_from_slice(data);
        self.changed.notify_waiters();
    }

    fn finish(&self, entry: &EntryRef, complete: bool) {
        {
            let mut e = entry.lock().unwrap();
            e.rec.body_complete = complete;
            e.ended = true;
        }
        self.changed.notify_waiters();
    }

    /// Snapshot: (records, how many have not ended yet).
    fn snapshot(&self) -> (Vec<Recorded>, usize) {
        let entries = self.entries.lock().unwrap();
        let mut pending = 0;
        let recs = entries
            .iter()
            .map(|e| {
                let e = e.lock().unwrap();
                if !e.ended {
                    pending += 1;
                }
                e.rec.clone()
            })
            .collect();
        (recs, pending)
    }
}

/// The running fake vendor. Dropping it stops the listener and closes every connection.
pub struct FakeVendor {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    _shutdown: watch::Sender<bool>,
}

impl FakeVendor {
    /// Bind 127.0.0.1:0 and serve HTTP/1.1 in a background tokio task.
    pub async fn start(behavior: Behavior) -> FakeVendor {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("fake vendor: bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("fake vendor: local_addr");
        let shared = Arc::new(Shared {
            behavior: Mutex::new(behavior),
            entries: Mutex::new(Vec::new()),
            changed: Notify::new(),
            connections: AtomicUsize::new(0),
        });
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        tokio::spawn(accept_loop(listener, shared.clone(), shutdown_rx));
        FakeVendor {
            addr,
            shared,
            _shutdown: shutdown_tx,
        }
    }

    /// `http://127.0.0.1:<port>`
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Requests whose body arrived completely, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.all_requests()
            .into_iter()
            .filter(|r| r.body_complete)
            .collect()
    }

    /// Every request whose head arrived, in arrival order, including incomplete ones (body still
    /// arriving, or aborted).
    pub fn all_requests(&self) -> Vec<Recorded> {
        self.shared.snapshot().0
    }

    /// Change how later requests are answered (requests already received keep theirs).
    pub fn set_behavior(&self, b: Behavior) {
        *self.shared.behavior.lock().unwrap() = b;
    }

    /// Number of TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Wait until at least `n` requests have arrived and every request received so far has
    /// *ended* its body (complete or aborted), then return `all_requests()`. Use this after an
    /// abort: the server notices a broken body asynchronously. Panics after `timeout`.
    pub async fn wait_for_requests(&self, n: usize, timeout: Duration) -> Vec<Recorded> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.changed.notified();
            let (recs, pending) = self.shared.snapshot();
            if recs.len() >= n && pending == 0 {
                return recs;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                let (recs, pending) = self.shared.snapshot();
                panic!(
                    "fake vendor: expected {n} ended request(s) within {timeout:?}, have {} \
                     ({pending} still in progress)",
                    recs.len()
                );
            }
        }
    }

    /// Wait until at least `n` requests have their head received (bodies may still be arriving).
    pub async fn wait_for_arrivals(&self, n: usize, timeout: Duration) -> Vec<Recorded> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.changed.notified();
            if self.shared.entries.lock().unwrap().len() >= n {
                return self.all_requests();
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "fake vendor: expected {n} request(s) within {timeout:?}, have {}",
                    self.shared.entries.lock().unwrap().len()
                );
            }
        }
    }

    /// Wait until `done` holds for the requests received so far *and* every one of them has
    /// ended its body (complete or aborted), then return them. The way to show that nothing
    /// else arrived: send a sentinel request after the ones that must not reach the vendor and
    /// wait for it here. Panics after `timeout`, naming `what`.
    pub async fn wait_until_settled(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&[Recorded]) -> bool,
    ) -> Vec<Recorded> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.changed.notified();
            let (recs, pending) = self.shared.snapshot();
            if pending == 0 && done(&recs) {
                return recs;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "fake vendor: {what} not seen within {timeout:?}: {} request(s), {pending} \
                     still in progress",
                    recs.len()
                );
            }
        }
    }

    /// Forget every recorded request.
    pub fn clear(&self) {
        self.shared.entries.lock().unwrap().clear();
    }
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => {
                    // e.g. EMFILE; back off briefly rather than spin (a pause, not a wait for
                    // anything a test checks).
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        shared.connections.fetch_add(1, Ordering::SeqCst);
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let mut shutdown = shutdown.clone();
        tokio::spawn(async move {
            // Notified by a `Reset` request: dropping the connection future closes the socket
            // without writing any response.
            let kill = Arc::new(Notify::new());
            let svc_kill = kill.clone();
            let svc = service_fn(move |req| handle(shared.clone(), svc_kill.clone(), req));
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc);
            tokio::select! {
                _ = conn => {}
                _ = kill.notified() => {}
                _ = shutdown.changed() => {}
            }
        });
    }
}

async fn handle(
    shared: Arc<Shared>,
    kill: Arc<Notify>,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let behavior = shared.behavior.lock().unwrap().clone();
    let (parts, mut body) = req.into_parts();
    let headers = parts
        .headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let entry = shared.push(Recorded {
        method: parts.method.as_str().to_string(),
        target: parts.uri.to_string(),
        headers,
        body: Vec::new(),
        body_complete: false,
    });

    let complete = loop {
        match body.frame().await {
            None => break true,
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    shared.append(&entry, data);
                }
            }
            Some(Err(_)) => break false,
        }
    };
    shared.finish(&entry, complete);

    let mut behavior = behavior;
    loop {
        match behavior {
            Behavior::Delay { ms, then } => {
                // The behaviour asked for: a vendor that answers late on purpose.
                tokio::time::sleep(Duration::from_millis(ms)).await;
                behavior = *then;
            }
            Behavior::Hang => std::future::pending::<()>().await,
            Behavior::Reset => {
                kill.notify_one();
                std::future::pending::<()>().await;
            }
            Behavior::Reply {
                status,
                headers,
                body,
            } => {
                let mut resp = hyper::Response::new(Full::new(Bytes::from(body)));
                *resp.status_mut() = http::StatusCode::from_u16(status)
                    .unwrap_or_else(|_| panic!("fake vendor: invalid status {status}"));
                for (n, v) in headers {
                    resp.headers_mut().append(
                        http::HeaderName::from_bytes(n.as_bytes())
                            .unwrap_or_else(|_| panic!("fake vendor: bad header name {n:?}")),
                        http::HeaderValue::from_bytes(v.as_bytes())
                            .unwrap_or_else(|_| panic!("fake vendor: bad header value {v:?}")),
                    );
                }
                return Ok(resp);
            }
        }
    }
}
