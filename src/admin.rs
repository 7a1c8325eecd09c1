//! The admin listener (loopback by default), separate from the trackers' port:
//! - `GET /metrics`: Prometheus text format
//! - `GET /healthz`: the process is alive
//! - `GET /readyz`: rules and the geo database are loaded and the public listener is
//!   accepting; the body names the database type and build time
//! - `POST /admin/reload`: reload the rules file now (the errors, with TOML paths, if refused)
//! - `GET /admin/rules`: the settings in force (defaults and environment overrides applied)

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Method, Request, Response};
use hyper::body::Incoming;

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

pub async fn handle(
    state: Arc<AppState>,
    ready: Arc<Readiness>,
    req: Request<Incoming>,
) -> Response<ResponseBody> {
    if req.uri().path() == "/admin/reload" {
        if req.method() != Method::POST {
            return reply::error(405, "method_not_allowed", "reload with POST");
        }
        return reload(state).await;
    }
    if req.method() != Method::GET {
        return reply::error(405, "method_not_allowed", "admin endpoints answer GET only");
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
        "/readyz" => reply::error(503, "not_ready", "the proxy is starting or stopping"),
        _ => reply::error(
            404,
            "unknown_admin_path",
            "admin paths: /metrics, /healthz, /readyz, /admin/rules, /admin/reload",
        ),
    }
}
