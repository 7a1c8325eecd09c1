//! One reload path for the rules: SIGHUP, `POST /admin/reload` and the file watcher all call
//! `reload`, which reads and compiles the file (and the keys it names) and swaps the result in
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

/// Reloads from `path` (the embedded rules when `None`).
pub fn reload(state: &AppState, path: Option<&std::path::Path>) -> Result<(), Vec<RuleError>> {
    let tried = path.and_then(fingerprint);
    let result = rules::load(path);
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
            state.replace_rules(new);
            state.metrics.mark_rules_loaded();
            tracing::info!("rules reloaded");
            Ok(())
        }
        Err(errors) => {
            tracing::warn!(
                errors = errors.len(),
                "rules reload refused; the rules in force stay"
            );
            Err(errors)
        }
    }
}

/// Settings bound at start cannot change live; say so instead of pretending.
fn warn_about_fixed_settings(old: &RuleSet, new: &RuleSet) {
    if old.listen != new.listen || old.admin != new.admin {
        tracing::warn!("listen addresses changed in the rules; they apply at the next restart");
    }
    if old.limits.max_concurrent_requests != new.limits.max_concurrent_requests {
        tracing::warn!("limits.max_concurrent_requests changed; it applies at the next restart");
    }
}

/// A fingerprint of the file's content (`None` when it cannot be read).
pub fn fingerprint(path: &std::path::Path) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let bytes = std::fs::read(path).ok()?;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut hasher);
    Some(hasher.finish())
}

/// Watches `path` until `stopped` fires, reloading when its content changes.
pub async fn watch_file(state: Arc<AppState>, path: PathBuf, mut stopped: watch::Receiver<bool>) {
    let mut seen = fingerprint(&path);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(WATCH_INTERVAL) => {}
            _ = stopped.changed() => return,
        }
        let now = fingerprint(&path);
        let settled = now == seen;
        seen = now;
        let tried = state.rules_fingerprint.lock().map(|t| *t).unwrap_or(None);
        if settled && now.is_some() && now != tried {
            // A refused file is tried once; the next edit tries again.
            let _ = reload(&state, Some(&path));
        }
    }
}
