//! Counting each request once, however it ends.

use std::time::Instant;

use super::NO_VENDOR;
use crate::metrics::VendorLabel;
use crate::state::AppState;

/// Counts one request and holds its place in the in-flight gauge until it ends, also when
/// hyper drops the handler because the tracker went away (an SDK's own timeout, a closed
/// tab): such a request is counted with the status `client_gone`.
pub(super) struct Tally<'a> {
    state: &'a AppState,
    started: Instant,
    /// Vendor and endpoint, once routed.
    pub(super) labels: (VendorLabel, &'static str),
    /// The answer's status, once there is one.
    pub(super) status: Option<u16>,
}

impl<'a> Tally<'a> {
    pub(super) fn start(state: &'a AppState, started: Instant) -> Self {
        state.metrics.in_flight.inc();
        Tally {
            state,
            started,
            labels: (NO_VENDOR, "none"),
            status: None,
        }
    }
}

impl Drop for Tally<'_> {
    fn drop(&mut self) {
        let metrics = &self.state.metrics;
        let (vendor, endpoint) = self.labels;
        let status = self
            .status
            .map_or("client_gone", crate::metrics::status_class);
        metrics.count_request(vendor, endpoint, status);
        metrics.observe_request(vendor, self.started.elapsed().as_secs_f64());
        metrics.in_flight.dec();
    }
}
