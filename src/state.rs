//! What every request shares: the current rules snapshot, the metrics and the upstream client.

use std::sync::{Arc, RwLock};

use crate::forward::UpstreamClient;
use crate::metrics::Metrics;
use crate::rules::RuleSet;

pub struct AppState {
    /// Where the rules come from (`None`: the embedded default), for reloads.
    pub rules_path: Option<std::path::PathBuf>,
    /// Fingerprint of the rules file content last tried (loaded or refused), so the watcher
    /// acts on changes only, whichever path did the last reload.
    pub rules_fingerprint: std::sync::Mutex<Option<u64>>,
    rules: RwLock<Arc<RuleSet>>,
    /// One permit per request in flight (`limits.max_concurrent_requests`).
    pub permits: Arc<tokio::sync::Semaphore>,
    pub metrics: Metrics,
    /// Rebuilt only when the upstream settings change, so a reload keeps warm connections.
    client: RwLock<UpstreamClient>,
}

impl AppState {
    pub fn new(rules: RuleSet, metrics: Metrics, rules_path: Option<std::path::PathBuf>) -> Self {
        metrics.mark_rules_loaded();
        let fingerprint = rules_path
            .as_deref()
            .and_then(|p| crate::reload::fingerprint(p, &rules.watched_files));
        crate::reload::announce(&rules);
        metrics.set_shadow_routes(&rules);
        let client = crate::forward::client(&rules.upstream);
        AppState {
            client: RwLock::new(client),
            rules_fingerprint: std::sync::Mutex::new(fingerprint),
            rules_path,
            permits: Arc::new(tokio::sync::Semaphore::new(
                rules.limits.max_concurrent_requests,
            )),
            rules: RwLock::new(Arc::new(rules)),
            metrics,
        }
    }

    /// The rules snapshot a request uses from start to end.
    pub fn rules(&self) -> Arc<RuleSet> {
        match self.rules.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The upstream client for the rules in force.
    pub fn client(&self) -> UpstreamClient {
        match self.client.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Swaps in new rules; requests in flight finish on the snapshot (and client) they
    /// started with.
    pub fn replace_rules(&self, rules: RuleSet) {
        if rules.upstream != self.rules().upstream {
            let client = crate::forward::client(&rules.upstream);
            match self.client.write() {
                Ok(mut guard) => *guard = client,
                Err(poisoned) => *poisoned.into_inner() = client,
            }
        }
        let new = Arc::new(rules);
        match self.rules.write() {
            Ok(mut guard) => *guard = new,
            Err(poisoned) => *poisoned.into_inner() = new,
        }
    }
}
