//! Shadow routes (`shadow = true`): a dry run of the rules on live traffic. The tracker's
//! body and query go to the vendor unchanged (header hygiene still applies); the rules run
//! beside them and what they would have done is counted, never applied. Refusals the rules
//! would have made are counted too, and the request goes on: a dry run changes nothing.

use std::time::Instant;

use bytes::Bytes;
use http::header::{HeaderMap, CONTENT_ENCODING, CONTENT_TYPE};
use hyper::body::Incoming;

use super::{BodyFailure, Failure, UpstreamCall};
use crate::forward::{self, UpstreamBody};
use crate::metrics::VendorLabel;
use crate::pipeline::{BodyPipeline, PipelineError, Scrubbed};
use crate::reply::ResponseBody;
use crate::rules::Route;
use crate::scrub::Report;

/// The rules running beside a shadow request: what they would have done to it.
pub(super) struct DryRun {
    pipeline: Option<BodyPipeline>,
    report: Report,
    vendor: VendorLabel,
}

impl DryRun {
    pub(super) fn new(
        call: &UpstreamCall<'_>,
        prepared: Result<crate::request::Prepared, PipelineError>,
    ) -> Self {
        let mut run = DryRun {
            pipeline: None,
            report: Report::default(),
            vendor: call.vendor,
        };
        match prepared.and_then(|p| {
            run.report = p.query_report.clone();
            BodyPipeline::new(p.spec)
        }) {
            Ok(pipeline) => run.pipeline = Some(pipeline),
            Err(e) => run.would_refuse(call, &e),
        }
        run
    }

    fn would_refuse(&mut self, call: &UpstreamCall<'_>, err: &PipelineError) {
        call.state
            .metrics
            .count_shadow_refusal(self.vendor, err.kind());
        self.pipeline = None;
    }

    fn push(&mut self, call: &UpstreamCall<'_>, chunk: &[u8]) {
        let Some(pipeline) = &mut self.pipeline else {
            return;
        };
        // In the steps a bounded caller takes: a compressed chunk's output is dropped step
        // by step instead of built whole.
        for step in chunk.chunks(pipeline.input_step()) {
            if let Err(e) = pipeline.push(step) {
                self.would_refuse(call, &e);
                return;
            }
        }
    }

    fn finish(mut self, call: &UpstreamCall<'_>) {
        if let Some(mut pipeline) = self.pipeline.take() {
            match pipeline.finish() {
                Ok(_) => self.report.merge(&pipeline.report()),
                Err(e) => self.would_refuse(call, &e),
            }
        }
        call.state
            .metrics
            .record_shadow_report(self.vendor, &self.report);
    }
}

impl UpstreamCall<'_> {
    /// Forwards a shadow request's body unchanged (whole when `buffered`, else as it
    /// arrives) while `dry_run` counts what the rules would have done.
    pub(super) async fn shadow(
        &self,
        route: &Route,
        mut dry_run: DryRun,
        mut body: Incoming,
        buffered: bool,
    ) -> Result<hyper::Response<ResponseBody>, Failure> {
        let mut received = 0;
        if buffered {
            let mut whole = Vec::new();
            while let Some(chunk) = self
                .next_chunk(&mut body, &mut received)
                .await
                .map_err(Failure::Body)?
            {
                dry_run.push(self, &chunk);
                whole.extend_from_slice(&chunk);
            }
            dry_run.finish(self);
            let sent = passthrough(route, whole.into())?;
            let headers = self.shadow_headers(Some(sent.len()));
            self.state
                .metrics
                .add_bytes_out(self.vendor, sent.len() as u64);
            return self
                .send(headers, UpstreamBody::full(sent))
                .await
                .map_err(Failure::Upstream);
        }
        let (tx, upstream_body) = forward::stream();
        let request = self.request(self.shadow_headers(None), upstream_body);
        let client = self.client.clone();
        let in_flight = tokio::spawn(async move { client.request(request).await });
        let started = Instant::now();
        let failure = loop {
            let chunk = match self.next_chunk(&mut body, &mut received).await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break None,
                Err(f) => break Some(f),
            };
            dry_run.push(self, &chunk);
            self.state
                .metrics
                .add_bytes_out(self.vendor, chunk.len() as u64);
            let sent = tokio::time::timeout(
                self.rules.limits.upstream_timeout,
                tx.send(passthrough(route, chunk)?),
            );
            match sent.await {
                Ok(true) => {}
                Ok(false) => break None,
                Err(_) => break Some(BodyFailure::UpstreamStalled),
            }
        };
        if let Some(failure) = failure {
            // A broken tracker body stays broken upstream, shadow or not.
            let _ = tokio::time::timeout(
                std::time::Duration::from_millis(50),
                tx.abort("client_body_error"),
            )
            .await;
            in_flight.abort();
            return Err(Failure::Body(failure));
        }
        dry_run.finish(self);
        let delivery = tx.finish();
        self.relay(self.answer(in_flight, delivery).await, started)
            .map_err(Failure::Upstream)
    }

    /// The usual header hygiene, with the tracker's own Content-Type and Content-Encoding,
    /// since the body goes on as it came.
    fn shadow_headers(&self, len: Option<usize>) -> HeaderMap {
        let mut headers = self.upstream_headers(None, len);
        for name in [CONTENT_TYPE, CONTENT_ENCODING] {
            if let Some(value) = self.headers.get(&name) {
                headers.insert(name, value.clone());
            }
        }
        headers
    }
}

fn passthrough(route: &Route, bytes: Bytes) -> Result<Scrubbed, Failure> {
    // Only shadow routes get here; a route that is not one must never pass bytes unscrubbed.
    Scrubbed::shadow_passthrough(route, bytes).ok_or(Failure::Body(BodyFailure::Pipeline(
        PipelineError::UnexpectedBody,
    )))
}
