//! What every request shares: the current rules snapshot, the metrics and the upstream
//! clients (one per worker thread).

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
    current: RwLock<Current>,
    /// One permit per request in flight (`limits.max_concurrent_requests`).
    pub permits: Arc<tokio::sync::Semaphore>,
    pub metrics: Metrics,
}

/// The rules in force and the upstream clients built for them, swapped together. The
/// clients are rebuilt only when the upstream settings change, so a reload keeps warm
/// connections.
struct Current {
    rules: Arc<RuleSet>,
    /// One per worker (their number is fixed at start): a pooled connection's task runs on
    /// the worker that opened it, so a shared pool would wake another thread for every
    /// request.
    clients: Arc<[UpstreamClient]>,
}

/// What one request uses from start to end: the rules and its worker's client.
#[derive(Clone)]
pub struct Snapshot {
    pub rules: Arc<RuleSet>,
    pub client: UpstreamClient,
}

impl AppState {
    /// The state on `rules`, read from `rules_path` with content `fingerprint`. Built by
    /// `reload::start`, which installs the rules as every reload does.
    pub fn new(
        rules: RuleSet,
        metrics: Metrics,
        rules_path: Option<std::path::PathBuf>,
        fingerprint: Option<u64>,
    ) -> Self {
        AppState {
            rules_fingerprint: Mutex::new(fingerprint),
            reload_lock: Mutex::new(()),
            rules_path,
            permits: Arc::new(tokio::sync::Semaphore::new(
                rules.limits.max_concurrent_requests,
            )),
            current: RwLock::new(Current {
                clients: clients(&rules, rules.workers),
                rules: Arc::new(rules),
            }),
            metrics,
        }
    }

    /// The rules in force and the client of `worker`.
    pub fn snapshot(&self, worker: usize) -> Snapshot {
        self.read(|current| Snapshot {
            rules: current.rules.clone(),
            client: current.clients[worker % current.clients.len()].clone(),
        })
    }

    /// The worker threads the clients were built for.
    pub fn workers(&self) -> usize {
        self.read(|current| current.clients.len())
    }

    /// The rules in force.
    pub fn rules(&self) -> Arc<RuleSet> {
        self.read(|current| current.rules.clone())
    }

    fn read<T>(&self, f: impl FnOnce(&Current) -> T) -> T {
        match self.current.read() {
            Ok(guard) => f(&guard),
            Err(poisoned) => f(&poisoned.into_inner()),
        }
    }

    /// Swaps in new rules (and new clients if they need them) at once; requests in flight
    /// finish on the snapshot they started with.
    pub fn replace_rules(&self, rules: RuleSet) {
        let (old_rules, old_clients) =
            self.read(|current| (current.rules.clone(), current.clients.clone()));
        let clients = if rules.upstream == old_rules.upstream {
            old_clients
        } else {
            clients(&rules, old_clients.len())
        };
        let new = Current {
            rules: Arc::new(rules),
            clients,
        };
        match self.current.write() {
            Ok(mut guard) => *guard = new,
            Err(poisoned) => *poisoned.into_inner() = new,
        }
    }
}

fn clients(rules: &RuleSet, workers: usize) -> Arc<[UpstreamClient]> {
    (0..workers.max(1))
        .map(|_| crate::forward::client(&rules.upstream))
        .collect()
}
