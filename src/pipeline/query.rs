//! Events carried as query strings: request queries (Snowplow and Matomo hits, `data=`
//! parameters) and bodies made of them (a form holding one event, Matomo's bulk JSON).
//! The query <-> JSON codec is `decode::query`; here it meets the scrubber.

use std::sync::Arc;

use crate::decode::query::{self as codec, percent_decoded, QueryError};
use crate::decode::{Base64Decoder, Base64Encoder};
use crate::scrub::{BodyPlan, CoreLimits, JsonScrubber, Report, ScrubEnv, ScrubError};
use crate::vendor::QueryNames;

use super::*;

/// A body of query-string events: a form (one event) or Matomo's bulk JSON.
pub(super) struct QueryBody {
    pub(super) body: Vec<u8>,
    pub(super) limit: u64,
    pub(super) plan: Arc<BodyPlan>,
    pub(super) env: ScrubEnv,
    pub(super) limits: CoreLimits,
    pub(super) event_params: Vec<(&'static str, String)>,
    pub(super) envelope_params: Vec<(&'static str, String)>,
    pub(super) report: Report,
    /// The output is a form (not JSON).
    pub(super) form: bool,
}

impl QueryBody {
    pub(super) fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), PipelineError> {
        let body = std::mem::take(&mut self.body);
        let text = std::str::from_utf8(trim_trailing_whitespace(&body))
            .map_err(|_| ScrubError::InvalidUtf8)?;
        if text.trim_start().is_empty() {
            return Ok(());
        }
        if !text.trim_start().starts_with('{') {
            // One hit per line: a form is one line; gtag batches several.
            self.form = true;
            let mut wrote = false;
            for line in text.split('\n').filter(|l| !l.trim().is_empty()) {
                if let Some(event) = self.event(line.trim_end_matches('\r'))? {
                    if wrote {
                        out.push(b'\n');
                    }
                    out.extend_from_slice(event.as_bytes());
                    wrote = true;
                }
            }
            return Ok(());
        }
        self.bulk(text, out)
    }

    /// Matomo's bulk JSON: `{"requests": ["?query", ...]}` with each query scrubbed.
    // Held whole anyway (the format cannot be cut before it is decoded), within
    // `max_held_bytes`, and small by nature (a page of hits): parsed as a tree.
    #[allow(clippy::disallowed_types)]
    fn bulk(&mut self, text: &str, out: &mut Vec<u8>) -> Result<(), PipelineError> {
        let mut bulk: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(text).map_err(|_| ScrubError::MalformedJson)?;
        let requests = bulk
            .get("requests")
            .and_then(serde_json::Value::as_array)
            .ok_or(ScrubError::UnexpectedShape)?
            .clone();
        let mut scrubbed = Vec::with_capacity(requests.len());
        for request in requests {
            let query = request.as_str().ok_or(ScrubError::UnexpectedShape)?;
            if let Some(event) = self.event(query.strip_prefix('?').unwrap_or(query))? {
                scrubbed.push(serde_json::Value::String(format!("?{event}")));
            }
        }
        bulk.insert("requests".into(), serde_json::Value::Array(scrubbed));
        // Only the proxy's own credential may authorize a bulk; never the sender's.
        bulk.retain(|k, _| k == "requests");
        for (name, value) in &self.envelope_params {
            bulk.insert((*name).into(), serde_json::Value::String(value.clone()));
        }
        serde_json::to_writer(&mut *out, &bulk).map_err(|_| ScrubError::MalformedJson)?;
        Ok(())
    }

    /// One event: scrubbed, plus the proxy's own parameters; `None` when the rules removed it.
    fn event(&mut self, query: &str) -> Result<Option<String>, PipelineError> {
        let (mut event, report) =
            scrub_query_event(query, &self.plan, &self.env, self.limits, QueryNames::Flat)?;
        self.report.merge(&report);
        if report.events_removed() > 0 {
            return Ok(None);
        }
        for (name, value) in &self.event_params {
            event.push('&');
            event.push_str(name);
            event.push('=');
            event.push_str(&percent_encoded(value.as_bytes())?);
        }
        Ok(Some(event))
    }
}

/// A scrubbed query string and what the rules did to it.
pub struct ScrubbedQuery {
    pub query: String,
    pub report: Report,
    /// Whether a `data` payload parameter was found (and scrubbed).
    pub had_payload: bool,
}

/// Scrubs a query string. With `data_is_payload` (Mixpanel, PostHog), a `data` parameter is
/// an event payload (base64 or JSON), scrubbed like a body and re-encoded as base64; the other
/// parameters, and all of them otherwise, get the parameter rules. Names are compared
/// decoded, so `d%61ta` is `data` too.
pub fn scrub_query(
    query: &str,
    plan: &Arc<BodyPlan>,
    env: &ScrubEnv,
    limits: CoreLimits,
    data_is_payload: bool,
) -> Result<ScrubbedQuery, PipelineError> {
    let mut out = String::with_capacity(query.len());
    let mut report = Report::default();
    let mut had_payload = false;
    let mut replaced = Vec::new();
    for param in query.split('&').filter(|p| !p.is_empty()) {
        let (raw_name, raw_value) = param.split_once('=').unwrap_or((param, ""));
        let name = percent_decoded(raw_name)?;
        let value = percent_decoded(raw_value)?;
        let text = if data_is_payload && name == b"data" {
            if had_payload {
                return Err(ScrubError::UnexpectedShape.into());
            }
            had_payload = true;
            let (encoded, payload_report) = scrub_data_value(value, plan, env, limits)?;
            report = payload_report;
            format!("data={encoded}")
        } else {
            require_text(&name, &value)?;
            match plan
                .event
                .scrub_param(&name, &value, &mut replaced, &mut report)
            {
                crate::scrub::ParamOutcome::Drop => continue,
                crate::scrub::ParamOutcome::Keep => param.to_owned(),
                crate::scrub::ParamOutcome::Replace => {
                    format!("{raw_name}={}", percent_encoded(&replaced)?)
                }
            }
        };
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(&text);
    }
    Ok(ScrubbedQuery {
        query: out,
        report,
        had_payload,
    })
}

/// `bytes` percent-encoded as a form value.
pub(crate) fn percent_encoded(bytes: &[u8]) -> Result<String, PipelineError> {
    Ok(codec::percent_encoded(bytes)?)
}

/// A `data` payload value (decoded from the query): JSON or base64 JSON in, scrubbed base64
/// (percent-encoded for the query) out.
fn scrub_data_value(
    mut decoded: Vec<u8>,
    plan: &Arc<BodyPlan>,
    env: &ScrubEnv,
    limits: CoreLimits,
) -> Result<(String, Report), PipelineError> {
    let is_json = matches!(
        decoded.iter().find(|c| !c.is_ascii_whitespace()),
        Some(b'{' | b'[')
    );
    let json = if is_json {
        decoded
    } else {
        for c in decoded.iter_mut() {
            if *c == b' ' {
                *c = b'+';
            }
        }
        crate::decode::transform_all(&mut Base64Decoder::new(), &decoded)?
    };
    let mut scrubber = JsonScrubber::new(plan.clone(), env.clone(), limits);
    let mut scrubbed = Vec::new();
    scrubber.push(&json, &mut scrubbed)?;
    scrubber.finish(&mut scrubbed)?;
    let b64 = crate::decode::transform_all(&mut Base64Encoder::standard(), &scrubbed)?;
    Ok((percent_encoded(&b64)?, scrubber.report().clone()))
}

/// Scrubs a query string that is itself one event (Snowplow `GET /i`, Matomo hits): the
/// parameters become a flat JSON object, the vendor's event plan scrubs it like any event,
/// and the result is written back as a query string (members the plan adds at the end).
pub fn scrub_query_event(
    query: &str,
    plan: &Arc<BodyPlan>,
    env: &ScrubEnv,
    limits: CoreLimits,
    names: QueryNames,
) -> Result<(String, Report), PipelineError> {
    let params = codec::params(query)?;
    let object = match names {
        QueryNames::Flat => codec::flat_object(params),
        QueryNames::Dotted => {
            // A name that holds personal data stays whole, where the key rules see it.
            let values = &plan.event.values;
            let holds_personal_data =
                |name: &[u8]| crate::scrub::name_holds_personal_data(values, name);
            codec::nested_object(params, holds_personal_data, limits.max_depth)?
        }
    };
    let mut scrubber = JsonScrubber::new(plan.clone(), env.clone(), limits);
    let mut scrubbed = Vec::new();
    scrubber.push(&object, &mut scrubbed)?;
    scrubber.finish(&mut scrubbed)?;
    if scrubber.report().events_removed() > 0 {
        // The rules removed the event: no query at all (the report says why).
        return Ok((String::new(), scrubber.report().clone()));
    }
    let pairs = match names {
        QueryNames::Flat => codec::flat_pairs(&scrubbed)?,
        QueryNames::Dotted => codec::dotted_pairs(&scrubbed)?,
    };
    Ok((codec::query_string(&pairs)?, scrubber.report().clone()))
}

/// A parameter's name and value must be UTF-8 once decoded: the value rules read text, and
/// an address beside bytes that are not (`jane.doe@example.com.\xdf`) is no address to them
/// though a vendor may read it as one. No SDK sends such bytes.
pub(crate) fn require_text(name: &[u8], value: &[u8]) -> Result<(), PipelineError> {
    match std::str::from_utf8(name).and(std::str::from_utf8(value)) {
        Ok(_) => Ok(()),
        Err(_) => Err(ScrubError::InvalidUtf8.into()),
    }
}

/// Sets query parameter `name` to `value` (replacing every occurrence, or appending it).
pub fn set_query_param(query: &str, name: &str, value: &str) -> String {
    let mut out: Vec<String> = query
        .split('&')
        .filter(|p| !p.is_empty() && p.split('=').next() != Some(name))
        .map(str::to_owned)
        .collect();
    out.push(format!("{name}={value}"));
    out.join("&")
}

/// A query the codec could not read is refused as the scrubber refuses such JSON.
impl From<QueryError> for PipelineError {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::Escape(e) => PipelineError::Decode(e),
            QueryError::NotText => ScrubError::InvalidUtf8.into(),
            QueryError::TooDeep { limit } => ScrubError::TooDeep { limit }.into(),
            QueryError::ValueAndParent => ScrubError::UnexpectedShape.into(),
            QueryError::NotAnObject => ScrubError::MalformedJson.into(),
        }
    }
}
