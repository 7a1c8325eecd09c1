//! The vendor's answer: read whole within the upstream timeout, then relayed, except what
//! must not reach a tracker as it came (server errors, redirects, a success given before
//! the whole body arrived).

use std::time::Instant;

use bytes::Bytes;
use http::header::HeaderMap;
use http::Response;
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::{InFlight, UpstreamCall};
use crate::forward::{self, ForwardError, UpstreamBody};
use crate::reply::{self, ResponseBody};

impl UpstreamCall<'_> {
    /// The vendor's whole answer to a streamed request whose body has ended. A success
    /// given before the body's end went out (a piece could not be sent, or every piece was
    /// queued but the vendor answered first) would tell the tracker its unsent events
    /// arrived; a refusal is relayed as it is.
    pub(super) async fn answer(
        &self,
        in_flight: InFlight,
        delivery: forward::Delivery,
    ) -> Result<Response<Bytes>, ForwardError> {
        let answer = async {
            let head = in_flight
                .await
                .map_err(|_join| ForwardError::Io)?
                .map_err(|e| ForwardError::classify(&e))?;
            let early = head.status().is_success() || head.status().is_informational();
            if early && !delivery.complete() {
                return Err(ForwardError::AnsweredEarly);
            }
            read_answer(head).await
        };
        tokio::time::timeout(self.rules.limits.upstream_timeout, answer)
            .await
            .map_err(|_| ForwardError::Timeout)?
    }

    pub(super) async fn send(
        &self,
        headers: HeaderMap,
        body: UpstreamBody,
    ) -> Result<Response<ResponseBody>, ForwardError> {
        let request = self.request(headers, body);
        let started = Instant::now();
        let answer = async {
            let head = self
                .client
                .request(request)
                .await
                .map_err(|e| ForwardError::classify(&e))?;
            read_answer(head).await
        };
        let result = tokio::time::timeout(self.rules.limits.upstream_timeout, answer)
            .await
            .map_err(|_| ForwardError::Timeout)
            .and_then(|r| r);
        self.relay(result, started)
    }

    /// The vendor's answer goes back unchanged, except a server error, which becomes our 502
    /// so that every SDK retries (Segment drops 501, 505 and 511 otherwise).
    pub(super) fn relay(
        &self,
        result: Result<Response<Bytes>, ForwardError>,
        started: Instant,
    ) -> Result<Response<ResponseBody>, ForwardError> {
        self.state
            .metrics
            .observe_upstream(self.vendor, started.elapsed().as_secs_f64());
        let upstream = match result {
            Ok(resp) if resp.status().is_server_error() => Err(ForwardError::Status5xx),
            // A browser would follow a redirect and send the unscrubbed body to its target.
            Ok(resp) if resp.status().is_redirection() => Err(ForwardError::Redirect),
            other => other,
        };
        let (mut parts, body) = upstream?.into_parts();
        for name in forward::HOP_BY_HOP {
            parts.headers.remove(*name);
        }
        Ok(Response::from_parts(parts, reply::full(body)))
    }
}

/// The largest vendor answer relayed. Vendors answer ingestion with a few bytes; PostHog's
/// pass-through scripts are a few hundred KB.
const MAX_ANSWER_BYTES: usize = 8 << 20;

/// Reads the vendor's answer whole, inside the caller's deadline, before any of it goes to
/// the tracker: a vendor that stalls or cuts its body then costs the tracker a retryable
/// 504 or 502, never a success status followed by a body that does not end.
async fn read_answer(head: Response<Incoming>) -> Result<Response<Bytes>, ForwardError> {
    let (parts, body) = head.into_parts();
    let body = http_body_util::Limited::new(body, MAX_ANSWER_BYTES)
        .collect()
        .await
        .map_err(|_| ForwardError::Io)?
        .to_bytes();
    Ok(Response::from_parts(parts, body))
}
