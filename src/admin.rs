//! The admin listener (loopback by default), separate from the trackers' port:
//! - `GET /metrics`: Prometheus text format
//! - `GET /healthz`: the process is alive
//! - `GET /readyz`: rules and the geo database are loaded and the public listener is
//!   accepting; the body names the database type and build time. 503 `not_ready` while
//!   starting and through the drain (the port keeps answering until the process exits).
//! - `POST /admin/reload`: reload the rules file now (the errors, with TOML paths, if refused)
//! - `GET /admin/rules`: the settings in force (defaults and environment overrides applied)
//!
//! Everything under `/admin/` reveals or changes what is done to the data, so it asks for
//! `Authorization: Bearer <token>` when a token is configured (`[admin] token_file`,
//! `SCRUBPROXY_ADMIN_TOKEN`), and answers loopback peers only when none is. The probes and
//! `/metrics` stay open: the kubelet and Prometheus hold no token.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use std::net::SocketAddr;

use http::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, Method, Request, Response};
use hyper::body::Incoming;

use crate::refusal::Refusal;
use crate::reply::{self, ResponseBody};
use crate::state::AppState;

/// Flipped once the public listener is bound and serving.
#[derive(Default)]
pub struct Readiness(AtomicBool);

impl Readiness {
    pub fn set_ready(&self, ready: bool) {
        self.0.store(ready, Ordering::SeqCst);
    }

    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

// The admin's answer: a small document built here, once per reload.
#[allow(clippy::disallowed_types, clippy::disallowed_methods)]
async fn reload(state: Arc<AppState>) -> Response<ResponseBody> {
    let (status, body) = match crate::reload::reload(state).await {
        Ok(()) => (200, serde_json::json!({ "result": "reloaded" })),
        Err(errors) => (
            422,
            serde_json::json!({
                "result": "refused, the rules in force stay",
                "errors": errors
                    .iter()
                    .map(|e| serde_json::json!({ "path": e.path, "message": e.message }))
                    .collect::<Vec<_>>(),
            }),
        ),
    };
    let mut resp = Response::new(reply::full(body.to_string()));
    *resp.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// The paths that need the token (or a loopback peer): all under `/admin/`, the unknown
/// ones too, so a probe cannot even learn which exist.
const PROTECTED_PREFIX: &str = "/admin/";

/// Whether a request may use the protected paths.
fn authorize(
    token: Option<&crate::rules::AdminToken>,
    peer: SocketAddr,
    headers: &HeaderMap,
) -> Result<(), Refusal> {
    let Some(token) = token else {
        return if is_loopback(peer) {
            Ok(())
        } else {
            Err(Refusal::AdminTokenRequired)
        };
    };
    let presented = headers
        .get(AUTHORIZATION)
        .and_then(|v| bearer(v.as_bytes()));
    match presented {
        Some(given) if token.matches(given) => Ok(()),
        _ => Err(Refusal::Unauthorized),
    }
}

/// The credentials of `Bearer <credentials>` (the scheme is case-insensitive).
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = value.split_at_checked(7)?;
    scheme
        .eq_ignore_ascii_case(b"bearer ")
        .then(|| rest.trim_ascii())
}

/// 127.0.0.0/8, ::1, and IPv4 loopback mapped into IPv6 (a dual-stack admin listener).
fn is_loopback(peer: SocketAddr) -> bool {
    match peer.ip() {
        std::net::IpAddr::V4(v4) => v4.is_loopback(),
        std::net::IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

pub async fn handle(
    state: Arc<AppState>,
    ready: Arc<Readiness>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Response<ResponseBody> {
    if req.uri().path().starts_with(PROTECTED_PREFIX) {
        if let Err(refused) = authorize(state.rules().admin_token.as_ref(), peer, req.headers()) {
            return reply::refusal(&refused);
        }
    }
    if req.uri().path() == "/admin/reload" {
        if req.method() != Method::POST {
            return reply::refusal(&Refusal::MethodNotAllowed { allowed: "POST" });
        }
        return reload(state).await;
    }
    if req.method() != Method::GET {
        return reply::refusal(&Refusal::MethodNotAllowed { allowed: "GET" });
    }
    match req.uri().path() {
        "/metrics" => {
            let mut resp = Response::new(reply::full(state.metrics.render()));
            resp.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            resp
        }
        "/healthz" => Response::new(reply::full("ok\n")),
        "/admin/rules" => {
            let body = serde_json::to_string_pretty(&state.rules().effective).unwrap_or_default();
            let mut resp = Response::new(reply::full(body));
            resp.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            resp
        }
        "/readyz" if ready.is_ready() => {
            // Rules never load without their geo database, so ready means geo is there too.
            let rules = state.rules();
            let db = &rules.geo.db;
            let source = rules.geo.source.as_deref().map_or("embedded", |_| "file");
            Response::new(reply::full(format!(
                "ready\ngeo: {} ({source}, built {})\n",
                db.database_type(),
                db.build_epoch()
            )))
        }
        "/readyz" => reply::refusal(&Refusal::NotReady),
        _ => reply::refusal(&Refusal::UnknownAdminPath),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    fn with_auth(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    /// Without a token, only the pod's own loopback (kubectl port-forward, an exec'd curl)
    /// may reach `/admin/*`; a peer on the pod network may not, whatever it sends.
    #[test]
    fn without_a_token_only_loopback_peers_pass() {
        let none = HeaderMap::new();
        for ok in [
            "127.0.0.1:5000",
            "127.8.9.10:1",
            "[::1]:5000",
            "[::ffff:127.0.0.1]:5000",
        ] {
            assert!(authorize(None, peer(ok), &none).is_ok(), "{ok}");
        }
        for refused in [
            "10.1.2.3:5000",
            "192.168.0.9:1",
            "[fd00::1]:5000",
            "[::ffff:10.0.0.1]:1",
        ] {
            let refusal = authorize(None, peer(refused), &with_auth("Bearer anything-at-all"));
            assert_eq!(refusal, Err(Refusal::AdminTokenRequired), "{refused}");
        }
    }

    /// With a token, the peer's address counts for nothing: loopback needs it too.
    #[test]
    fn with_a_token_every_peer_needs_it() {
        let mut file = crate::rules::file::RulesFile::default();
        let dir =
            std::env::temp_dir().join(format!("scrubproxy-admin-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("token");
        std::fs::write(&path, "Zq8-unit-admin-token-4Hx").unwrap();
        file.admin.token_file = Some(path.display().to_string());
        file.routes = crate::rules::read(None).unwrap().routes;
        let token = crate::rules::compile(file).unwrap().admin_token.unwrap();
        for at in ["127.0.0.1:1", "10.0.0.1:1"] {
            assert!(authorize(Some(&token), peer(at), &HeaderMap::new()).is_err());
            let good = with_auth("Bearer Zq8-unit-admin-token-4Hx");
            assert!(authorize(Some(&token), peer(at), &good).is_ok());
            let padded = with_auth("BEARER   Zq8-unit-admin-token-4Hx ");
            assert!(authorize(Some(&token), peer(at), &padded).is_ok());
            let wrong = with_auth("Bearer Zq8-unit-admin-token-4Hy");
            assert_eq!(
                authorize(Some(&token), peer(at), &wrong),
                Err(Refusal::Unauthorized)
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
