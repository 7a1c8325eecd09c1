//! The request handler: route, scrub, forward, reply, in that order, on one rules snapshot.
//! Small bodies are scrubbed whole and sent with a Content-Length; large ones stream to the
//! vendor chunk by chunk and are aborted upstream if anything goes wrong mid-body.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use http::header::{HeaderMap, CONTENT_LENGTH, ORIGIN};
use http::{Method, Request, Response};
use http_body_util::BodyExt;
use hyper::body::{Body as _, Incoming};

use crate::client_ip::client_ip;
use crate::forward::{self, ForwardError, UpstreamBody};
use crate::metrics::VendorLabel;
use crate::pipeline::{BodyPipeline, PipelineError, Scrubbed};
use crate::refusal::Refusal;
use crate::reply::{self, ResponseBody};
use crate::request;
use crate::rules::{Route, RuleSet};
use crate::scrub::Report;
use crate::state::{AppState, Snapshot};
use crate::vendor::Endpoint;

mod answer;
mod budget;
mod route;
mod shadow;
mod tally;

use budget::Held;
use route::{route, Routed};
use tally::Tally;

/// Label for requests that matched no route.
const NO_VENDOR: VendorLabel = VendorLabel::NoRoute;

/// Handles one tracker request, on `worker`'s upstream client.
pub async fn handle(
    state: Arc<AppState>,
    worker: usize,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Response<ResponseBody> {
    let started = Instant::now();
    let Ok(_permit) = state.permits.clone().try_acquire_owned() else {
        // Full: an answer every SDK retries later, instead of a queue without bound.
        return refused(&state, NO_VENDOR, &Refusal::Overloaded);
    };
    let mut tally = Tally::start(&state, started);
    let snapshot = state.snapshot(worker);
    let rules: &RuleSet = &snapshot.rules;
    if !budget::has_room(&state.metrics.held_bytes, rules.limits.memory_budget_bytes) {
        let resp = refused(&state, NO_VENDOR, &Refusal::MemoryBudget);
        tally.status = Some(resp.status().as_u16());
        return resp;
    }
    // Only the Origin is needed after the request is consumed: no copy of every header.
    let origin = req.headers().get(ORIGIN).cloned();
    let (vendor, endpoint, mut resp) = match route(rules, &req) {
        // Counted under its vendor, with `preflight` as the endpoint.
        Routed::Preflight(vendor) => (
            vendor,
            "preflight",
            reply::preflight(&rules.cors, req.headers()),
        ),
        Routed::Forbidden(vendor) => (vendor, "none", reply::refusal(&Refusal::OriginNotAllowed)),
        Routed::NotFound(vendor) => (vendor, "none", reply::refusal(&Refusal::UnknownRoute)),
        Routed::BadPath => (
            NO_VENDOR,
            "none",
            refused(&state, NO_VENDOR, &Refusal::BadPath),
        ),
        Routed::Ingest(route, endpoint, rest) => {
            let vendor = VendorLabel::from(route.vendor);
            tally.labels = (vendor, endpoint.name);
            let resp = ingest(&state, &snapshot, route, endpoint, rest, peer, req).await;
            (vendor, endpoint.name, resp)
        }
    };
    reply::add_cors(resp.headers_mut(), &rules.cors, origin);
    tally.labels = (vendor, endpoint);
    tally.status = Some(resp.status().as_u16());
    resp
}

/// A refusal before anything complete reached the vendor: counted under its kind, logged
/// (kind and vendor only) and answered.
fn refused(state: &AppState, vendor: VendorLabel, refusal: &Refusal) -> Response<ResponseBody> {
    let reason = refusal.kind();
    state.metrics.count_rejected(vendor, reason);
    tracing::info!(
        vendor = vendor.as_str(),
        reason,
        "request refused, nothing complete forwarded"
    );
    reply::refusal(refusal)
}

async fn ingest(
    state: &AppState,
    snapshot: &Snapshot,
    route: &Route,
    endpoint: Endpoint,
    rest: String,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Response<ResponseBody> {
    let vendor = VendorLabel::from(route.vendor);
    let rules: &RuleSet = &snapshot.rules;
    let (parts, body) = req.into_parts();
    let client = client_ip(
        peer.ip(),
        &rules.trusted_proxies,
        rules.forwarded_header,
        forwarded_values(&parts.headers, rules),
    );
    let raw_query = parts.uri.query().unwrap_or("");
    let prepared = request::prepare(rules, route, endpoint, client, raw_query, &parts.headers);
    if route.shadow {
        let call = (route, endpoint, rest.as_str());
        return ingest_shadow(state, snapshot, call, parts, body, prepared).await;
    }
    let prepared = match prepared {
        Ok(prepared) => prepared,
        Err(e) => return refused(state, vendor, &e.into()),
    };
    state.metrics.record_geo_lookup(prepared.geo_lookup);
    match prepared.ends_here(!body.is_end_stream()) {
        // The query was the only event and the rules removed it: nothing to send.
        Ok(true) => {
            state.metrics.record_report(vendor, &prepared.query_report);
            return synthetic(prepared.dropped_reply);
        }
        Ok(false) => {}
        Err(e) => return refused(state, vendor, &e.into()),
    }
    let declared_len = match declared_length(&parts.headers, rules) {
        Ok(len) => len,
        Err(too_large) => return refused(state, vendor, &too_large),
    };
    let buffered = prepared.buffer_body(declared_len, rules.limits.buffer_below_bytes);
    let request::Prepared {
        query,
        query_report,
        spec,
        extra_headers,
        dropped_reply,
        ..
    } = prepared;
    let pipeline = match BodyPipeline::new(spec) {
        Ok(p) => p,
        Err(e) => return refused(state, vendor, &e.into()),
    };
    let uri = match forward::upstream_uri(&route.upstream, &rest, Some(&query)) {
        Ok(uri) => uri,
        Err(_) => return reply::refusal(&Refusal::BadTarget),
    };
    let call = UpstreamCall {
        state,
        rules,
        client: snapshot.client.clone(),
        vendor,
        uri,
        method: parts.method.clone(),
        headers: parts.headers,
        needed_headers: route.vendor.spec().needed_headers,
        extra_headers,
        dropped_reply,
    };
    let result = call.forward_body(pipeline, body, !buffered).await;
    match result {
        Ok((resp, report)) => {
            state.metrics.record_report(vendor, &report);
            state.metrics.record_report(vendor, &query_report);
            resp
        }
        Err(failure) => call.respond(failure),
    }
}

/// The Content-Length a request announces, refused at once when it is over the limit.
fn declared_length(headers: &HeaderMap, rules: &RuleSet) -> Result<Option<u64>, Refusal> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    match declared {
        Some(n) if n > rules.limits.max_body_bytes => Err(Refusal::BodyTooLarge),
        _ => Ok(declared),
    }
}

/// A shadow route's request: forwarded as it came, the rules only counted (`shadow.rs`).
async fn ingest_shadow(
    state: &AppState,
    snapshot: &Snapshot,
    (route, endpoint, rest): (&Route, Endpoint, &str),
    parts: http::request::Parts,
    body: Incoming,
    prepared: Result<request::Prepared, PipelineError>,
) -> Response<ResponseBody> {
    let vendor = VendorLabel::from(route.vendor);
    let rules: &RuleSet = &snapshot.rules;
    let declared_len = match declared_length(&parts.headers, rules) {
        Ok(len) => len,
        Err(too_large) => return refused(state, vendor, &too_large),
    };
    let uri = match forward::upstream_uri(&route.upstream, rest, parts.uri.query()) {
        Ok(uri) => uri,
        Err(_) => return reply::refusal(&Refusal::BadTarget),
    };
    let buffered = match &prepared {
        Ok(p) => p.buffer_body(declared_len, rules.limits.buffer_below_bytes),
        Err(_) => declared_len.is_some_and(|n| n < rules.limits.buffer_below_bytes),
    };
    let extra_headers = prepared
        .as_ref()
        .map(|p| p.extra_headers.clone())
        .unwrap_or_default();
    let call = UpstreamCall {
        state,
        rules,
        client: snapshot.client.clone(),
        vendor,
        uri,
        method: parts.method,
        headers: parts.headers,
        needed_headers: route.vendor.spec().needed_headers,
        extra_headers,
        dropped_reply: route.vendor.protocol().dropped_reply(&endpoint, ""),
    };
    let dry_run = shadow::DryRun::new(&call, prepared);
    match call.shadow(route, dry_run, body, buffered).await {
        Ok(resp) => resp,
        Err(failure) => call.respond(failure),
    }
}

/// A vendor-shaped answer the proxy gives itself.
fn synthetic(reply: crate::vendor::SyntheticReply) -> Response<ResponseBody> {
    let mut resp = Response::new(reply::full(reply.body));
    *resp.status_mut() = http::StatusCode::from_u16(reply.status).unwrap_or(http::StatusCode::OK);
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(reply.content_type),
    );
    resp
}

fn forwarded_values<'a>(headers: &'a HeaderMap, rules: &RuleSet) -> impl Iterator<Item = &'a str> {
    let name = match rules.forwarded_header {
        crate::rules::ForwardedHeader::XForwardedFor => "x-forwarded-for",
        crate::rules::ForwardedHeader::Forwarded => "forwarded",
    };
    headers.get_all(name).iter().filter_map(|v| v.to_str().ok())
}

/// Everything needed to call the vendor for one request.
struct UpstreamCall<'a> {
    state: &'a AppState,
    rules: &'a RuleSet,
    client: forward::UpstreamClient,
    vendor: VendorLabel,
    uri: http::Uri,
    method: Method,
    headers: HeaderMap,
    /// Headers the vendor needs beyond the operator's forward list.
    needed_headers: &'static [&'static str],
    /// Headers the proxy sets itself: the client address where a vendor takes it from a
    /// header, identifiers carried in headers (after the identifier rule).
    extra_headers: Vec<(http::HeaderName, Option<http::HeaderValue>)>,
    /// The vendor's success, for a request whose events the rules all removed.
    dropped_reply: crate::vendor::SyntheticReply,
}

type InFlight =
    tokio::task::JoinHandle<Result<Response<Incoming>, hyper_util::client::legacy::Error>>;

type Outcome = Result<(Response<ResponseBody>, Report), Failure>;

/// Why a request could not be completed.
enum Failure {
    Body(BodyFailure),
    Upstream(ForwardError),
}

/// Why reading the tracker's body stopped.
enum BodyFailure {
    Pipeline(PipelineError),
    TooLarge,
    ReadTimeout,
    ClientGone,
    /// The vendor stopped reading the streamed body.
    UpstreamStalled,
    /// The vendor ended the call before the streamed body did.
    UpstreamEnded,
    /// The request would hold more than the memory budget has left.
    OverBudget,
}

impl BodyFailure {
    fn refusal(self) -> Refusal {
        match self {
            BodyFailure::Pipeline(e) => Refusal::Body(e),
            BodyFailure::TooLarge => Refusal::BodyTooLarge,
            BodyFailure::ReadTimeout => Refusal::BodyReadTimeout,
            BodyFailure::ClientGone => Refusal::ClientBodyError,
            BodyFailure::OverBudget => Refusal::MemoryBudget,
            // The vendor stopped reading: an upstream timeout like any other. (It cannot end
            // a call early before a stream started, the only way `UpstreamEnded` gets here.)
            BodyFailure::UpstreamStalled | BodyFailure::UpstreamEnded => {
                Refusal::Upstream(ForwardError::Timeout)
            }
        }
    }
}

/// Where a request's scrubbed output goes: held back until the request is known to go on,
/// then streamed or sent whole.
struct Way {
    held_back: Vec<Scrubbed>,
    held_back_len: usize,
    upstream: Option<(forward::StreamSender, InFlight)>,
    /// Stream from the first kept event (a body announced large or of unknown length).
    stream_early: bool,
}

enum Flow {
    Continue,
    UpstreamEnded,
}

impl UpstreamCall<'_> {
    fn respond(&self, failure: Failure) -> Response<ResponseBody> {
        let refusal = match failure {
            Failure::Body(f) => f.refusal(),
            Failure::Upstream(e) => Refusal::Upstream(e),
        };
        let Refusal::Upstream(e) = refusal else {
            return refused(self.state, self.vendor, &refusal);
        };
        self.state
            .metrics
            .count_upstream_error(self.vendor, e.kind());
        tracing::warn!(
            vendor = self.vendor.as_str(),
            kind = e.kind(),
            "upstream call failed"
        );
        reply::refusal(&refusal)
    }

    /// Reads the next body chunk within the read timeout, counting toward the size limit.
    async fn next_chunk(
        &self,
        body: &mut Incoming,
        received: &mut u64,
    ) -> Result<Option<bytes::Bytes>, BodyFailure> {
        loop {
            let frame = tokio::time::timeout(self.rules.limits.body_read_timeout, body.frame())
                .await
                .map_err(|_| BodyFailure::ReadTimeout)?;
            let Some(frame) = frame else { return Ok(None) };
            let frame = frame.map_err(|_| BodyFailure::ClientGone)?;
            if let Ok(data) = frame.into_data() {
                *received += data.len() as u64;
                if *received > self.rules.limits.max_body_bytes {
                    return Err(BodyFailure::TooLarge);
                }
                self.state
                    .metrics
                    .add_bytes_in(self.vendor, data.len() as u64);
                return Ok(Some(data));
            }
        }
    }

    /// Reads, scrubs and forwards the body. Scrubbed output is held back until the request
    /// is known to go on: at the body's end it is sent whole with a Content-Length (or, with
    /// every event removed, the tracker gets the vendor's own success and nothing is sent).
    /// A body announced large (`stream_early`), or one whose output outgrows
    /// `buffer_below_bytes` as it decodes, streams from its first kept event instead, so
    /// what a request holds stays bounded whatever its compression.
    async fn forward_body(
        &self,
        mut pipeline: BodyPipeline,
        mut body: Incoming,
        stream_early: bool,
    ) -> Outcome {
        let limit = self.rules.limits.memory_budget_bytes;
        let mut held = Held::new(&self.state.metrics.held_bytes, limit);
        let mut way = Way {
            held_back: Vec::new(),
            held_back_len: 0,
            upstream: None,
            stream_early,
        };
        let started = Instant::now();
        let mut received = 0;
        let failure = loop {
            let chunk = match self.next_chunk(&mut body, &mut received).await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break None,
                Err(f) => break Some(f),
            };
            match self
                .take_chunk(&mut pipeline, &chunk, &mut way, &mut held)
                .await
            {
                Ok(Flow::Continue) => {}
                Ok(Flow::UpstreamEnded) => break Some(BodyFailure::UpstreamEnded),
                Err(f) => break Some(f),
            }
        };
        let failure = match failure {
            None => match pipeline.finish() {
                Ok(last) if way.upstream.is_none() => {
                    way.held_back.push(last);
                    let (report, content_type) =
                        (pipeline.report(), pipeline.output_content_type());
                    return self.send_whole(report, content_type, way.held_back).await;
                }
                Ok(last) => self.stream_out(&way, last, true).await.err(),
                Err(e) => Some(BodyFailure::Pipeline(e)),
            },
            // The vendor answered before the body's end: its answer says why.
            Some(BodyFailure::UpstreamEnded) => None,
            failure => failure,
        };
        let Some((tx, mut in_flight)) = way.upstream else {
            return Err(Failure::Body(failure.unwrap_or(BodyFailure::ClientGone)));
        };
        if let Some(failure) = failure {
            let abort = tx.abort("scrub_failed");
            let _ = tokio::time::timeout(std::time::Duration::from_millis(50), abort).await;
            // Let the connection write the abort, then stop waiting for the vendor.
            let _ =
                tokio::time::timeout(std::time::Duration::from_millis(50), &mut in_flight).await;
            in_flight.abort();
            return Err(Failure::Body(failure));
        }
        let delivery = tx.finish();
        let resp = self
            .relay(self.answer(in_flight, delivery).await, started)
            .map_err(Failure::Upstream)?;
        Ok((resp, pipeline.report()))
    }

    /// Scrubs one chunk of the tracker's body, compressed ones in small steps, and holds
    /// back or streams what each step makes.
    async fn take_chunk(
        &self,
        pipeline: &mut BodyPipeline,
        chunk: &[u8],
        way: &mut Way,
        held: &mut Held<'_>,
    ) -> Result<Flow, BodyFailure> {
        for step in chunk.chunks(pipeline.input_step()) {
            let out = pipeline.push(step).map_err(BodyFailure::Pipeline)?;
            if way.upstream.is_some() {
                held.set(pipeline.held_bytes() as u64)
                    .map_err(|_| BodyFailure::OverBudget)?;
                if !self.stream_out(way, out, false).await? {
                    return Ok(Flow::UpstreamEnded);
                }
                continue;
            }
            way.held_back_len += out.len();
            way.held_back.push(out);
            held.set((way.held_back_len + pipeline.held_bytes()) as u64)
                .map_err(|_| BodyFailure::OverBudget)?;
            let outgrown = way.held_back_len as u64 >= self.rules.limits.buffer_below_bytes;
            if pipeline.events_forwarded() > 0 && (way.stream_early || outgrown) {
                way.upstream = Some(self.start_stream(pipeline));
                let first = Scrubbed::concat(std::mem::take(&mut way.held_back));
                way.held_back_len = 0;
                if !self.stream_out(way, first, false).await? {
                    return Ok(Flow::UpstreamEnded);
                }
            }
        }
        Ok(Flow::Continue)
    }

    /// Sends scrubbed bytes on the started stream; `false` when the upstream call has
    /// already ended (its result says why).
    async fn stream_out(&self, way: &Way, out: Scrubbed, last: bool) -> Result<bool, BodyFailure> {
        let Some((tx, _)) = &way.upstream else {
            return Ok(true);
        };
        self.state
            .metrics
            .add_bytes_out(self.vendor, out.len() as u64);
        // A vendor that stops reading must not hold the tracker forever.
        let sent = tokio::time::timeout(self.rules.limits.upstream_timeout, tx.send(out));
        match sent.await {
            Ok(open) => Ok(open || last),
            Err(_) => Err(BodyFailure::UpstreamStalled),
        }
    }

    /// Sends a body scrubbed whole with a Content-Length, or, when the rules removed every
    /// event, answers with the vendor's own success and sends nothing.
    async fn send_whole(
        &self,
        report: Report,
        content_type: &'static str,
        parts: Vec<Scrubbed>,
    ) -> Outcome {
        if report.nothing_left() {
            return Ok((synthetic(self.dropped_reply.clone()), report));
        }
        let body = Scrubbed::concat(parts);
        let has_body = self.method != Method::GET || !body.is_empty();
        let headers = self.upstream_headers(
            has_body.then_some(content_type),
            has_body.then_some(body.len()),
        );
        self.state
            .metrics
            .add_bytes_out(self.vendor, body.len() as u64);
        let resp = self
            .send(headers, UpstreamBody::full(body))
            .await
            .map_err(Failure::Upstream)?;
        Ok((resp, report))
    }

    fn start_stream(&self, pipeline: &BodyPipeline) -> (forward::StreamSender, InFlight) {
        let (tx, upstream_body) = forward::stream();
        let headers = self.upstream_headers(Some(pipeline.output_content_type()), None);
        let request = self.request(headers, upstream_body);
        let client = self.client.clone();
        (
            tx,
            tokio::spawn(async move { client.request(request).await }),
        )
    }

    fn upstream_headers(
        &self,
        content_type: Option<&'static str>,
        len: Option<usize>,
    ) -> HeaderMap {
        let mut headers = forward::upstream_headers(
            &self.headers,
            &self.rules.forward_headers,
            self.needed_headers,
            content_type,
            len,
        );
        for (name, value) in &self.extra_headers {
            match value {
                Some(value) => headers.insert(name.clone(), value.clone()),
                None => headers.remove(name),
            };
        }
        headers
    }

    fn request(&self, headers: HeaderMap, body: UpstreamBody) -> Request<UpstreamBody> {
        let mut request = Request::new(body);
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = headers;
        request
    }
}
