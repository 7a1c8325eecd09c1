//! One reload path for the rules: SIGHUP, `POST /admin/reload` and the file watcher all call
//! `reload`, which reads and compiles the file (and the certificates and keys it names) and swaps the result in
//! atomically, or keeps the rules in force and reports every error. Requests in flight finish
//! on the snapshot they started with.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::rules::{self, RuleError, RuleSet};
use crate::state::AppState;

/// How often the watcher looks at the rules file. Kubernetes swaps ConfigMap files through a
/// symlink, which a fresh read of the path sees; a change must look the same on two
/// consecutive looks before it is loaded, so a half-written file is never taken.
pub const WATCH_INTERVAL: Duration = Duration::from_secs(2);

/// The shared state on the rules loaded at start, installed the way every reload installs
/// its rules (`installed`).
pub fn start(rules: RuleSet, metrics: crate::metrics::Metrics, path: Option<PathBuf>) -> AppState {
    let fingerprint = path
        .as_deref()
        .and_then(|p| fingerprint(p, &rules.watched_files));
    installed(&metrics, &rules);
    AppState::new(rules, metrics, path, fingerprint)
}

/// What taking `rules` into force says: the warnings an operator must see, and the metrics
/// that describe the rules in force. At start and at every reload alike.
fn installed(metrics: &crate::metrics::Metrics, rules: &RuleSet) {
    announce(rules);
    metrics.set_shadow_routes(rules);
    metrics.set_geo_database(rules);
    metrics.mark_rules_loaded();
}

/// Reloads the rules from `state.rules_path` (the embedded rules when `None`), on tokio's
/// blocking pool: compiling them and reading a geo database must not hold up the thread
/// that accepts trackers' connections and answers probes.
pub async fn reload(state: Arc<AppState>) -> Result<(), Vec<RuleError>> {
    tokio::task::spawn_blocking(move || reload_now(&state))
        .await
        .unwrap_or_else(|_| {
            Err(vec![RuleError {
                path: String::new(),
                message: "the reload stopped before it finished; the rules in force stay".into(),
            }])
        })
}

fn reload_now(state: &AppState) -> Result<(), Vec<RuleError>> {
    let path = state.rules_path.as_deref();
    let _one_at_a_time = state.reload_lock.lock();
    // Taken before the files are read: a change made while they load is seen as new by
    // the watcher, never recorded as tried.
    let watched = state.rules().watched_files.clone();
    let before = path.and_then(|p| fingerprint(p, &watched));
    let result = rules::load(path);
    let tried = match &result {
        // New rules that name other files: their state is unknown here; the watcher takes
        // one more look (a reload of the same content at most).
        Ok(new) if new.watched_files != watched => None,
        _ => before,
    };
    if let Ok(mut last) = state.rules_fingerprint.lock() {
        *last = tried;
    }
    let outcome = if result.is_ok() { "success" } else { "failure" };
    state
        .metrics
        .rules_reloads
        .with_label_values(&[outcome])
        .inc();
    match result {
        Ok(new) => {
            warn_about_fixed_settings(&state.rules(), &new);
            installed(&state.metrics, &new);
            state.replace_rules(new);
            tracing::info!("rules reloaded");
            Ok(())
        }
        Err(errors) => {
            state.metrics.mark_rules_refused();
            tracing::warn!(
                errors = errors.len(),
                "rules reload refused; the rules in force stay"
            );
            // Whichever path reloaded (the watcher, SIGHUP), the operator reads why in the
            // log: each error's TOML path and reason (reasons never quote a value).
            for error in &errors {
                tracing::warn!(
                    path = %error.path,
                    reason = %error.message,
                    "rules reload refused: error"
                );
            }
            Err(errors)
        }
    }
}

/// Settings bound at start cannot change live; say so instead of pretending.
fn warn_about_fixed_settings(old: &RuleSet, new: &RuleSet) {
    if old.listen != new.listen || old.admin != new.admin {
        tracing::warn!("listen addresses changed in the rules; they apply at the next restart");
    }
    if old.workers != new.workers {
        tracing::warn!("listen.workers changed in the rules; it applies at the next restart");
    }
    if old.tls.is_some() != new.tls.is_some() {
        tracing::warn!("TLS was switched on or off in the rules; it applies at the next restart");
    }
    if old.limits.max_concurrent_requests != new.limits.max_concurrent_requests {
        tracing::warn!("limits.max_concurrent_requests changed; it applies at the next restart");
    }
}

/// Says at every load what an operator must not miss: settings that let data or trust
/// through on purpose.
pub fn announce(rules: &RuleSet) {
    for route in rules.routes.iter().filter(|r| r.shadow) {
        tracing::warn!(
            route = %route.prefix,
            vendor = route.vendor.as_str(),
            "SHADOW MODE: this route forwards events UNSCRUBBED and only counts what the rules would do"
        );
    }
    if !rules.upstream.verify {
        tracing::warn!(
            "upstream.tls_verify = false: vendor certificates are NOT verified (test collectors only)"
        );
    }
    if let Some(warning) = rules.geo.precision_warning() {
        tracing::warn!("{warning}");
    }
}

/// A fingerprint of the rules file's content and of the files it names (`None` when the
/// rules file cannot be read; a named file that cannot be read counts as its own state).
pub fn fingerprint(path: &std::path::Path, named: &[PathBuf]) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    std::fs::read(path).ok()?.hash(&mut hasher);
    for file in named {
        match std::fs::metadata(file) {
            // A geo database is tens of megabytes: its size and time stand for its content.
            Ok(meta) if meta.len() > LARGE_FILE_BYTES => {
                (meta.len(), meta.modified().ok()).hash(&mut hasher);
            }
            _ => std::fs::read(file).ok().hash(&mut hasher),
        }
    }
    Some(hasher.finish())
}

/// Named files above this size are fingerprinted by size and modification time.
const LARGE_FILE_BYTES: u64 = 1 << 20;

/// Watches `path` and the files it names until `stopped` fires, reloading when one changes
/// (a renewed certificate, a rotated key).
pub async fn watch_file(state: Arc<AppState>, path: PathBuf, mut stopped: watch::Receiver<bool>) {
    let mut seen = fingerprint(&path, &state.rules().watched_files);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(WATCH_INTERVAL) => {}
            _ = stopped.changed() => return,
        }
        let now = fingerprint(&path, &state.rules().watched_files);
        let settled = now == seen;
        seen = now;
        let tried = state.rules_fingerprint.lock().map(|t| *t).unwrap_or(None);
        if settled && now.is_some() && now != tried {
            // A refused file is tried once; the next edit tries again.
            let _ = reload(state.clone()).await;
        }
    }
}
