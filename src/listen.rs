//! The listeners: the trackers' port (HTTP/1.1 and HTTP/2, over TLS when the rules name a
//! certificate, cleartext otherwise) and the admin port (cleartext).
//! A thin accept loop per listener; all decisions live in `proxy` and `admin`.
//! Shutdown stops accepting, then lets in-flight requests finish up to a deadline.
//!
//! Trackers' connections are served by worker threads, each a single-threaded runtime with
//! its own vendor connections, as nginx's worker processes are: a request never wakes
//! another thread on its way to the vendor and back. The acceptor hands each new
//! connection to the worker with the fewest open ones.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::admin::{self, Readiness};
use crate::metrics::Metrics;
use crate::rules::RuleSet;
use crate::state::AppState;

/// How long a client may take over its TLS handshake.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A running proxy: its bound addresses and the handle to stop it.
pub struct Running {
    pub addr: SocketAddr,
    pub admin_addr: SocketAddr,
    pub state: Arc<AppState>,
    ready: Arc<Readiness>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    /// The admin port stops last, on its own signal.
    admin_stop: watch::Sender<bool>,
    admin_task: JoinHandle<()>,
}

impl Running {
    /// Stops accepting, drains in-flight requests (up to `limits.shutdown_drain_seconds` of
    /// the rules in force), and returns. The admin port keeps answering through the drain,
    /// as load balancers and Prometheus expect: `/readyz` says 503 `not_ready` (so the
    /// endpoint is taken out of rotation instead of probed into a connection error) and
    /// `/metrics` shows the drain until the end.
    pub async fn shutdown(self) {
        self.ready.set_ready(false);
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        let _ = self.admin_stop.send(true);
        let _ = self.admin_task.await;
    }
}

/// Binds both listeners and starts serving with `rules`, read from `rules_path` (`None`: the
/// embedded default); a file is watched and reloaded when it changes.
pub async fn start(
    rules: RuleSet,
    rules_path: Option<std::path::PathBuf>,
) -> std::io::Result<Running> {
    // Several crates may link rustls; choose ring explicitly so no build tools are needed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let metrics = Metrics::new().map_err(std::io::Error::other)?;
    let public = TcpListener::bind(rules.listen).await?;
    let admin_listener = TcpListener::bind(rules.admin).await?;
    let addr = public.local_addr()?;
    let admin_addr = admin_listener.local_addr()?;
    let state = Arc::new(crate::reload::start(rules, metrics, rules_path.clone()));
    let ready = Arc::new(Readiness::default());
    let (stop, stopped) = watch::channel(false);

    let (workers, mut tasks): (Vec<_>, Vec<_>) = (0..state.workers())
        .map(|index| Worker::start(index, state.clone(), stopped.clone()))
        .collect::<std::io::Result<Vec<_>>>()?
        .into_iter()
        .unzip();
    let worker_count = workers.len();
    tasks.push(tokio::spawn(hand_out(
        public,
        workers,
        ready.clone(),
        stopped.clone(),
    )));
    let (admin_state, admin_ready) = (state.clone(), ready.clone());
    let admin_settings = state.clone();
    let (admin_stop, admin_stopped) = watch::channel(false);
    let admin_task = tokio::spawn(serve(
        Connections::Listener(admin_listener, admin_stopped),
        move || ConnSettings {
            tls: None,
            ..ConnSettings::from_rules(&admin_settings.rules())
        },
        move |peer, req| admin::handle(admin_state.clone(), admin_ready.clone(), peer, req),
    ));
    if let Some(path) = rules_path {
        tasks.push(tokio::spawn(crate::reload::watch_file(
            state.clone(),
            path,
            stop.subscribe(),
        )));
    }
    ready.set_ready(true);
    tracing::info!(%addr, %admin_addr, workers = worker_count, "listening");
    Ok(Running {
        addr,
        admin_addr,
        state,
        ready,
        stop,
        tasks,
        admin_stop,
        admin_task,
    })
}

/// What a new connection is served with, read from the rules in force when it is accepted.
struct ConnSettings {
    tls: Option<TlsAcceptor>,
    header_read_timeout: Duration,
    read_buffer_bytes: usize,
    drain_deadline: Duration,
}

impl ConnSettings {
    fn from_rules(rules: &RuleSet) -> Self {
        ConnSettings {
            tls: rules.tls.clone().map(TlsAcceptor::from),
            header_read_timeout: rules.limits.header_read_timeout,
            read_buffer_bytes: rules.limits.read_buffer_bytes,
            drain_deadline: rules.limits.shutdown_drain,
        }
    }

    fn builder(&self) -> auto::Builder<TokioExecutor> {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        // The timer makes hyper enforce the header timeout, which also closes keep-alive
        // connections left idle that long: a client cannot hold a connection for free.
        builder
            .http1()
            .timer(TokioTimer::new())
            .max_buf_size(self.read_buffer_bytes)
            .header_read_timeout(self.header_read_timeout);
        builder
            .http2()
            .timer(TokioTimer::new())
            .keep_alive_interval(HTTP2_PING_INTERVAL);
        builder
    }
}

/// HTTP/2 connections are pinged this often, and closed when a ping goes unanswered.
const HTTP2_PING_INTERVAL: Duration = Duration::from_secs(30);

/// The trackers' port: TLS stays on or off as it was at start (a listener cannot change
/// protocol under its clients), but each connection takes the current certificate, so a
/// renewed one is served after the reload that reads it.
fn public_settings(state: Arc<AppState>) -> impl Fn() -> ConnSettings + Send + 'static {
    let started_with = state.rules().tls.clone();
    move || {
        let rules = state.rules();
        let mut settings = ConnSettings::from_rules(&rules);
        settings.tls = match (&started_with, &rules.tls) {
            (None, _) => None,
            (Some(_), Some(current)) => Some(TlsAcceptor::from(current.clone())),
            (Some(first), None) => Some(TlsAcceptor::from(first.clone())),
        };
        settings
    }
}

/// The next connection, with Nagle's algorithm off (answers are written whole).
async fn accept(listener: &TcpListener) -> (TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                return (stream, peer);
            }
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e.kind(), "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

mod serve;
mod workers;

use serve::{serve, Connections};
use workers::{hand_out, Worker};
