//! Prometheus metrics. Label values come only from fixed sets (vendor names, endpoint names,
//! rule kinds, error kinds, status classes), never from requests, so no payload or header
//! value can reach a label and cardinality stays bounded.

use std::sync::OnceLock;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::scrub::{FieldOutcome, GeoLookup, Report, RuleKind};
use crate::vendor::VendorKind;

/// The `vendor` label of every metric: a route's vendor, or `none` when no route matched. A
/// type, so a label value can only come from this fixed set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VendorLabel {
    Vendor(VendorKind),
    NoRoute,
}

impl VendorLabel {
    pub fn as_str(self) -> &'static str {
        match self {
            VendorLabel::Vendor(vendor) => vendor.as_str(),
            VendorLabel::NoRoute => "none",
        }
    }

    /// Its index among the cached children: every vendor in the table's order, then `none`.
    fn slot(self) -> usize {
        match self {
            VendorLabel::Vendor(vendor) => vendor as usize,
            VendorLabel::NoRoute => VendorKind::ALL.len(),
        }
    }
}

impl From<VendorKind> for VendorLabel {
    fn from(vendor: VendorKind) -> Self {
        VendorLabel::Vendor(vendor)
    }
}

/// Values of the `vendor` label: every vendor, then `none`.
const VENDOR_LABELS: usize = VendorKind::ALL.len() + 1;

/// The children of one metric vector for label values from fixed sets, looked up once:
/// `with_label_values` hashes the label strings and takes a lock on every call, which a
/// request would pay a dozen times. A child is created on first use, so series that never
/// happen are never exported.
struct Children<T> {
    slots: Vec<OnceLock<T>>,
}

/// The child of a one-label (`vendor`) vector.
fn by_vendor<'a, T: prometheus::core::Metric + Clone>(
    cache: &'a Children<T>,
    vector: &prometheus::core::MetricVec<impl prometheus::core::MetricVecBuilder<M = T>>,
    vendor: VendorLabel,
) -> &'a T {
    cache.child(vendor.slot(), || {
        vector.with_label_values(&[vendor.as_str()])
    })
}

impl<T> Children<T> {
    fn new(len: usize) -> Self {
        Children {
            slots: (0..len).map(|_| OnceLock::new()).collect(),
        }
    }

    /// The child in `slot`, made on first use.
    fn child(&self, slot: usize, make: impl FnOnce() -> T) -> &T {
        self.slots[slot].get_or_init(make)
    }
}

/// Every metric the proxy exports.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    pub events: IntCounterVec,
    pub fields_scrubbed: IntCounterVec,
    pub bytes_in: IntCounterVec,
    pub bytes_out: IntCounterVec,
    pub request_duration: HistogramVec,
    pub upstream_duration: HistogramVec,
    upstream_errors: IntCounterVec,
    rejected: IntCounterVec,
    pub in_flight: IntGauge,
    /// Bytes requests hold right now, against `limits.memory_budget_bytes`.
    pub held_bytes: IntGauge,
    /// Open trackers' connections of each worker thread: the acceptor's balance.
    pub worker_connections: IntGaugeVec,
    pub rules_reloads: IntCounterVec,
    /// Geo lookups by result, and the database in force.
    geo_lookups: Vec<IntCounter>,
    geo_build_epoch: IntGauge,
    pub rules_loaded_at: IntGauge,
    rules_refused_at: IntGauge,
    /// Routes in shadow mode, and what the rules would have done on them.
    shadow_routes: IntGauge,
    shadow_events: IntCounterVec,
    shadow_fields: IntCounterVec,
    shadow_refusals: IntCounterVec,
    fields_by_slot: Children<IntCounter>,
    events_by_slot: Children<IntCounter>,
    bytes_in_by_slot: Children<IntCounter>,
    bytes_out_by_slot: Children<IntCounter>,
    request_duration_by_slot: Children<Histogram>,
    upstream_duration_by_slot: Children<Histogram>,
}

const RULES: usize = RuleKind::ALL.len();
/// Values of `scrubproxy_events_total`'s `action` label, in `record_report`'s order.
const EVENT_ACTIONS: [&str; 5] = [
    "forwarded",
    "anonymized",
    "dropped_rule",
    "dropped_consent",
    "dropped_opt_out",
];
const OUTCOMES: usize = FieldOutcome::ALL.len();

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

type MetricResult<T> = Result<T, prometheus::Error>;

fn counter(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> MetricResult<IntCounterVec> {
    let c = IntCounterVec::new(Opts::new(name, help), labels)?;
    registry.register(Box::new(c.clone()))?;
    Ok(c)
}

fn gauge(registry: &Registry, name: &str, help: &str) -> MetricResult<IntGauge> {
    let g = IntGauge::new(name, help)?;
    registry.register(Box::new(g.clone()))?;
    Ok(g)
}

fn histogram(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> MetricResult<HistogramVec> {
    let opts = HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec());
    let h = HistogramVec::new(opts, labels)?;
    registry.register(Box::new(h.clone()))?;
    Ok(h)
}

impl Metrics {
    /// Registers every metric (fails only if two definitions collide).
    pub fn new() -> MetricResult<Self> {
        let registry = Registry::new();
        let in_flight = gauge(
            &registry,
            "scrubproxy_in_flight_requests",
            "Requests being handled right now.",
        )?;
        let held_bytes = gauge(
            &registry,
            "scrubproxy_held_bytes",
            "Bytes requests hold right now (buffered bodies, bodies held whole, events cut \
             across chunks), against limits.memory_budget_bytes.",
        )?;
        let rules_loaded_at = gauge(
            &registry,
            "scrubproxy_rules_last_success_timestamp_seconds",
            "When the rules in force were loaded (Unix time).",
        )?;
        let rules_refused_at = gauge(
            &registry,
            "scrubproxy_rules_last_failure_timestamp_seconds",
            "When a rules reload was last refused (Unix time; 0: never).",
        )?;
        let shadow_routes = gauge(
            &registry,
            "scrubproxy_shadow_routes",
            "Routes in shadow mode: forwarding unscrubbed, counting only.",
        )?;
        let build_info = IntGaugeVec::new(
            Opts::new("scrubproxy_build_info", "The running version (always 1)."),
            &["version"],
        )?;
        registry.register(Box::new(build_info.clone()))?;
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        let worker_connections = IntGaugeVec::new(
            Opts::new(
                "scrubproxy_worker_connections",
                "Open trackers' connections, by worker thread.",
            ),
            &["worker"],
        )?;
        registry.register(Box::new(worker_connections.clone()))?;
        let rules_reloads = counter(
            &registry,
            "scrubproxy_rules_reloads_total",
            "Rules reloads, by result (success or failure).",
            &["result"],
        )?;
        // Both series from the start, so `increase()` sees a pod's first refused reload.
        for result in ["success", "failure"] {
            rules_reloads.with_label_values(&[result]);
        }
        let geo_lookups = counter(
            &registry,
            "scrubproxy_geo_lookups_total",
            "Client address lookups, by result (found_country, found_region, found_city, not_found, off).",
            &["result"],
        )?;
        // Every result from the start: they are few, and a rate needs the zero.
        let geo_lookups = GeoLookup::ALL
            .iter()
            .map(|result| geo_lookups.with_label_values(&[result.as_str()]))
            .collect();
        let geo_build_epoch = gauge(
            &registry,
            "scrubproxy_geo_database_build_epoch_seconds",
            "When the geo database in force was built (Unix time, from its metadata).",
        )?;
        Ok(Metrics {
            geo_lookups,
            geo_build_epoch,
            shadow_routes,
            shadow_events: counter(
                &registry,
                "scrubproxy_shadow_events_total",
                "Events on shadow routes, by vendor and what the rules would have done.",
                &["vendor", "action"],
            )?,
            shadow_fields: counter(
                &registry,
                "scrubproxy_shadow_fields_scrubbed_total",
                "Fields the rules would have changed on shadow routes, by rule and action.",
                &["vendor", "rule", "action"],
            )?,
            shadow_refusals: counter(
                &registry,
                "scrubproxy_shadow_refusals_total",
                "Shadow requests the rules would have refused (forwarded anyway), by reason.",
                &["vendor", "reason"],
            )?,
            requests: counter(
                &registry,
                "scrubproxy_requests_total",
                "Requests, by vendor, endpoint and status class (client_gone: the tracker left before its answer).",
                &["vendor", "endpoint", "status_class"],
            )?,
            events: counter(
                &registry,
                "scrubproxy_events_total",
                "Events seen, by vendor and what happened to them.",
                &["vendor", "action"],
            )?,
            fields_scrubbed: counter(
                &registry,
                "scrubproxy_fields_scrubbed_total",
                "Fields changed by the rules, by rule and action.",
                &["vendor", "rule", "action"],
            )?,
            bytes_in: counter(
                &registry,
                "scrubproxy_request_bytes_in_total",
                "Request body bytes received from trackers.",
                &["vendor"],
            )?,
            bytes_out: counter(
                &registry,
                "scrubproxy_request_bytes_out_total",
                "Scrubbed body bytes sent to vendors.",
                &["vendor"],
            )?,
            request_duration: histogram(
                &registry,
                "scrubproxy_request_duration_seconds",
                "Time from request to response, by vendor.",
                &["vendor"],
            )?,
            upstream_duration: histogram(
                &registry,
                "scrubproxy_upstream_duration_seconds",
                "Time the vendor took to answer, by vendor.",
                &["vendor"],
            )?,
            upstream_errors: counter(
                &registry,
                "scrubproxy_upstream_errors_total",
                "Vendor calls that failed, by vendor and kind.",
                &["vendor", "kind"],
            )?,
            rejected: counter(
                &registry,
                "scrubproxy_rejected_requests_total",
                "Requests refused before anything was forwarded, by vendor and reason.",
                &["vendor", "reason"],
            )?,
            rules_reloads,
            in_flight,
            held_bytes,
            worker_connections,
            rules_loaded_at,
            rules_refused_at,
            registry,
            fields_by_slot: Children::new(VENDOR_LABELS * RULES * OUTCOMES),
            events_by_slot: Children::new(VENDOR_LABELS * EVENT_ACTIONS.len()),
            bytes_in_by_slot: Children::new(VENDOR_LABELS),
            bytes_out_by_slot: Children::new(VENDOR_LABELS),
            request_duration_by_slot: Children::new(VENDOR_LABELS),
            upstream_duration_by_slot: Children::new(VENDOR_LABELS),
        })
    }

    /// How many routes of `rules` run in shadow mode (an alert can ask for zero).
    pub fn set_shadow_routes(&self, rules: &crate::rules::RuleSet) {
        let n = rules.routes.iter().filter(|r| r.shadow).count();
        self.shadow_routes.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// Records one geo lookup's result.
    pub fn record_geo_lookup(&self, result: GeoLookup) {
        self.geo_lookups[result as usize].inc();
    }

    /// Records the geo database of the rules now in force.
    pub fn set_geo_database(&self, rules: &crate::rules::RuleSet) {
        let epoch = rules.geo.db.build_epoch();
        self.geo_build_epoch
            .set(i64::try_from(epoch).unwrap_or(i64::MAX));
    }

    /// Records that the rules in force were loaded now.
    pub fn mark_rules_loaded(&self) {
        self.rules_loaded_at.set(unix_now());
    }

    /// Records that a reload was refused now.
    pub fn mark_rules_refused(&self) {
        self.rules_refused_at.set(unix_now());
    }

    /// Adds one request's scrub report.
    pub fn record_report(&self, vendor: VendorLabel, report: &Report) {
        let v = vendor.slot();
        let counts = [
            report.events - report.events_anonymized,
            report.events_anonymized,
            report.events_dropped,
            report.events_dropped_consent,
            report.events_dropped_opt_out,
        ];
        for (k, (action, n)) in EVENT_ACTIONS.into_iter().zip(counts).enumerate() {
            if n > 0 {
                let make = || self.events.with_label_values(&[vendor.as_str(), action]);
                self.events_by_slot
                    .child(v * EVENT_ACTIONS.len() + k, make)
                    .inc_by(n);
            }
        }
        for (rule, outcome, n) in report.nonzero() {
            let slot = (v * RULES + rule as usize) * OUTCOMES + outcome as usize;
            let make = || {
                self.fields_scrubbed.with_label_values(&[
                    vendor.as_str(),
                    rule.as_str(),
                    outcome.as_str(),
                ])
            };
            self.fields_by_slot.child(slot, make).inc_by(u64::from(n));
        }
    }

    /// Adds what the rules would have done to one request on a shadow route.
    pub fn record_shadow_report(&self, vendor: VendorLabel, report: &Report) {
        let vendor = vendor.as_str();
        for (action, n) in [
            ("would_forward", report.events),
            ("would_drop", report.events_removed()),
        ] {
            if n > 0 {
                self.shadow_events
                    .with_label_values(&[vendor, action])
                    .inc_by(n);
            }
        }
        for (rule, outcome, n) in report.nonzero() {
            self.shadow_fields
                .with_label_values(&[vendor, rule.as_str(), outcome.as_str()])
                .inc_by(u64::from(n));
        }
    }

    /// Request body bytes received for `vendor`.
    pub fn add_bytes_in(&self, vendor: VendorLabel, n: u64) {
        by_vendor(&self.bytes_in_by_slot, &self.bytes_in, vendor).inc_by(n);
    }

    /// Scrubbed body bytes sent for `vendor`.
    pub fn add_bytes_out(&self, vendor: VendorLabel, n: u64) {
        by_vendor(&self.bytes_out_by_slot, &self.bytes_out, vendor).inc_by(n);
    }

    pub fn observe_request(&self, vendor: VendorLabel, seconds: f64) {
        by_vendor(
            &self.request_duration_by_slot,
            &self.request_duration,
            vendor,
        )
        .observe(seconds);
    }

    pub fn observe_upstream(&self, vendor: VendorLabel, seconds: f64) {
        by_vendor(
            &self.upstream_duration_by_slot,
            &self.upstream_duration,
            vendor,
        )
        .observe(seconds);
    }

    /// A request refused before anything complete was forwarded, by its refusal kind.
    pub fn count_rejected(&self, vendor: VendorLabel, reason: &'static str) {
        self.rejected
            .with_label_values(&[vendor.as_str(), reason])
            .inc();
    }

    /// A vendor call that failed, by its kind.
    pub fn count_upstream_error(&self, vendor: VendorLabel, kind: &'static str) {
        self.upstream_errors
            .with_label_values(&[vendor.as_str(), kind])
            .inc();
    }

    /// A shadow request the rules would have refused, by its refusal kind.
    pub fn count_shadow_refusal(&self, vendor: VendorLabel, reason: &'static str) {
        self.shadow_refusals
            .with_label_values(&[vendor.as_str(), reason])
            .inc();
    }

    /// One answered request (or one whose tracker left), by endpoint and status class.
    pub fn count_request(&self, vendor: VendorLabel, endpoint: &'static str, status: &'static str) {
        self.requests
            .with_label_values(&[vendor.as_str(), endpoint, status])
            .inc();
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

fn unix_now() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    i64::try_from(now).unwrap_or(i64::MAX)
}

/// `2xx`, `4xx`, ... for a status code.
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_labels_are_the_vendor_names_and_none_each_in_its_own_slot() {
        let labels: Vec<VendorLabel> = VendorKind::ALL
            .iter()
            .map(|&v| VendorLabel::from(v))
            .chain([VendorLabel::NoRoute])
            .collect();
        assert_eq!(labels.len(), VENDOR_LABELS);
        for (slot, label) in labels.iter().enumerate() {
            assert_eq!(label.slot(), slot, "{label:?}");
        }
        let names: Vec<&str> = labels.iter().map(|l| l.as_str()).collect();
        let mut expected: Vec<&str> = VendorKind::NAMES.to_vec();
        expected.push("none");
        assert_eq!(names, expected);
    }
}
