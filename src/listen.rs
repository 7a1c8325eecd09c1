//! The listeners: the trackers' port (HTTP/1.1 and HTTP/2 cleartext) and the admin port.
//! A thin accept loop per listener; all decisions live in `proxy` and `admin`.
//! Shutdown stops accepting, then lets in-flight requests finish up to a deadline.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::admin::{self, Readiness};
use crate::metrics::Metrics;
use crate::reply::ResponseBody;
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
}

impl Running {
    /// Stops accepting, drains in-flight requests (up to `limits.shutdown_drain_seconds` of
    /// the rules in force), and returns.
    pub async fn shutdown(self) {
        self.ready.set_ready(false);
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
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
    let state = Arc::new(AppState::new(rules, metrics, rules_path.clone()));
    let ready = Arc::new(Readiness::default());
    let (stop, stopped) = watch::channel(false);

    let proxy_state = state.clone();
    let public_task = tokio::spawn(serve(
        public,
        public_settings(state.clone()),
        stopped.clone(),
        move |peer, req| crate::proxy::handle(proxy_state.clone(), peer, req),
    ));
    let (admin_state, admin_ready) = (state.clone(), ready.clone());
    let admin_settings = state.clone();
    let admin_task = tokio::spawn(serve(
        admin_listener,
        move || ConnSettings {
            tls: None,
            ..ConnSettings::from_rules(&admin_settings.rules())
        },
        stopped,
        move |_, req| admin::handle(admin_state.clone(), admin_ready.clone(), req),
    ));
    let mut tasks = vec![public_task, admin_task];
    if let Some(path) = rules_path {
        tasks.push(tokio::spawn(crate::reload::watch_file(
            state.clone(),
            path,
            stop.subscribe(),
        )));
    }
    ready.set_ready(true);
    tracing::info!(%addr, %admin_addr, "listening");
    Ok(Running {
        addr,
        admin_addr,
        state,
        ready,
        stop,
        tasks,
    })
}

/// What a new connection is served with, read from the rules in force when it is accepted.
struct ConnSettings {
    tls: Option<TlsAcceptor>,
    header_read_timeout: Duration,
    drain_deadline: Duration,
}

impl ConnSettings {
    fn from_rules(rules: &RuleSet) -> Self {
        ConnSettings {
            tls: rules.tls.clone().map(TlsAcceptor::from),
            header_read_timeout: rules.limits.header_read_timeout,
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

async fn serve<H, F>(
    listener: TcpListener,
    settings: impl Fn() -> ConnSettings + Send + 'static,
    mut stopped: watch::Receiver<bool>,
    handler: H,
) where
    H: Fn(SocketAddr, Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<ResponseBody>> + Send + 'static,
{
    let graceful = GracefulShutdown::new();
    // Held here so that what is still running at the drain deadline can be cut.
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e.kind(), "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let handler = handler.clone();
                let service = service_fn(move |req| {
                    let handler = handler.clone();
                    async move { Ok::<_, Infallible>(handler(peer, req).await) }
                });
                let settings = settings();
                let (builder, watcher, tls) = (settings.builder(), graceful.watcher(), settings.tls);
                connections.spawn(async move {
                    match tls {
                        None => {
                            let conn = builder.serve_connection(TokioIo::new(stream), service);
                            let _ = watcher.watch(conn.into_owned()).await;
                        }
                        Some(acceptor) => {
                            // A client that never finishes its handshake must not hold a task.
                            let handshake = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream));
                            let Ok(Ok(stream)) = handshake.await else {
                                tracing::debug!("TLS handshake failed or timed out");
                                return;
                            };
                            let conn = builder.serve_connection(TokioIo::new(stream), service);
                            let _ = watcher.watch(conn.into_owned()).await;
                        }
                    }
                });
            }
            _ = stopped.changed() => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(settings().drain_deadline, graceful.shutdown())
        .await
        .is_err()
    {
        // Cut connections end with no answer, which trackers retry; a streamed upstream
        // request is aborted with its sender, so the vendor never sees it complete.
        tracing::warn!(
            connections = connections.len(),
            "drain deadline passed: cutting the requests still in flight"
        );
        connections.abort_all();
    }
}
