//! What every request shares: the current rules snapshot, the metrics and the upstream client.

use std::sync::{Arc, Mutex, RwLock};

use crate::forward::UpstreamClient;
use crate::metrics::Metrics;
use crate::rules::RuleSet;

pub struct AppState {
    /// Where the rules come from (`None`: the embedded default), for reloads.
    pub rules_path: Option<std::path::PathBuf>,
    /// Fingerprint of the rules file content last tried (loaded or refused), so the watcher
    /// acts on changes only, whichever path did the last reload.
    pub rules_fingerprint: Mutex<Option<u64>>,
    /// Held through a whole reload: SIGHUP, the admin call and the watcher never interleave.
    pub reload_lock: Mutex<()>,
    current: RwLock<Snapshot>,
    /// One permit per request in flight (`limits.max_concurrent_requests`).
    pub permits: Arc<tokio::sync::Semaphore>,
    pub metrics: Metrics,
}

/// The rules in force and the upstream client built for them, swapped together. The client
/// is rebuilt only when the upstream settings change, so a reload keeps warm connections.
#[derive(Clone)]
pub struct Snapshot {
    pub rules: Arc<RuleSet>,
    pub client: UpstreamClient,
}

impl AppState {
    pub fn new(rules: RuleSet, metrics: Metrics, rules_path: Option<std::path::PathBuf>) -> Self {
        metrics.mark_rules_loaded();
        let fingerprint = rules_path
            .as_deref()
            .and_then(|p| crate::reload::fingerprint(p, &rules.watched_files));
        crate::reload::announce(&rules);
        metrics.set_shadow_routes(&rules);
        metrics.set_geo_database(&rules);
        let client = crate::forward::client(&rules.upstream);
        AppState {
            rules_fingerprint: Mutex::new(fingerprint),
            reload_lock: Mutex::new(()),
            rules_path,
            permits: Arc::new(tokio::sync::Semaphore::new(
                rules.limits.max_concurrent_requests,
            )),
            current: RwLock::new(Snapshot {
                rules: Arc::new(rules),
                client,
            }),
            metrics,
        }
    }

    /// The rules and client a request uses from start to end.
    pub fn snapshot(&self) -> Snapshot {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The rules in force.
    pub fn rules(&self) -> Arc<RuleSet> {
        self.snapshot().rules
    }

    /// Swaps in new rules (and a new client if they need one) at once; requests in flight
    /// finish on the snapshot they started with.
    pub fn replace_rules(&self, rules: RuleSet) {
        let old = self.snapshot();
        let client = if rules.upstream == old.rules.upstream {
            old.client
        } else {
            crate::forward::client(&rules.upstream)
        };
        let new = Snapshot {
            rules: Arc::new(rules),
            client,
        };
        match self.current.write() {
            Ok(mut guard) => *guard = new,
            Err(poisoned) => *poisoned.into_inner() = new,
        }
    }
}
