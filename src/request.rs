//! What one tracker request becomes before any byte of its body moves: its scrubbed query,
//! the body pipeline to run, the headers the proxy sets, and the vendor-shaped answer for
//! when nothing is left to send. Sans-IO, so the proxy and the offline `scrub` command share
//! it; the caller supplies the client address.

mod header_shapes;

use std::net::IpAddr;

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::pipeline::{self, BodyPipeline, BodySpec, PipelineError, Scrubbed};
use crate::rules::{Route, RuleSet};
use crate::scrub::{
    Anonymized, ConsentAction, ConsentGate, FieldAction, GeoLookup, Privacy, Report, ScrubEnv,
};
use crate::vendor::{BodyFormat, ClientIpHeader, Endpoint, QueryNames, SyntheticReply, VendorSpec};

/// A request ready to forward.
pub struct Prepared {
    /// The query to send upstream.
    pub query: String,
    /// What the rules did to the query.
    pub query_report: Report,
    /// How the body goes through the core.
    pub spec: BodySpec,
    /// Headers the proxy sets: the client address where a vendor takes it from a header,
    /// identifiers carried in headers (after the identifier rule), "drop the IP" flags.
    /// `None` removes the header (a user agent the rules drop).
    pub extra_headers: Vec<(HeaderName, Option<HeaderValue>)>,
    /// The vendor's success, for a request whose events the rules all removed.
    pub dropped_reply: SyntheticReply,
    /// The query held the only event and the rules removed it: nothing to send.
    nothing_left: bool,
    /// An event rule (not consent or an opt-out, which speak for every event of the
    /// request) removed the query's event of an endpoint whose body may hold more events.
    query_event_removed_by_rule: bool,
    /// How the geo lookup went.
    pub geo_lookup: GeoLookup,
}

impl Prepared {
    /// Whether the body should be scrubbed whole and sent with a Content-Length (small or
    /// query-carried payloads) rather than streamed.
    pub fn buffer_body(&self, declared_len: Option<u64>, buffer_below: u64) -> bool {
        let whole_by_nature = matches!(
            self.spec.format,
            BodyFormat::DataQuery
                | BodyFormat::Passthrough
                | BodyFormat::QueryEvent
                | BodyFormat::QueryEventBody
        );
        whole_by_nature || declared_len.is_some_and(|n| n < buffer_below)
    }

    /// Whether the request may end here, with the vendor's own success and nothing sent:
    /// only when the rules removed the request's every event. A gtag or Matomo POST whose
    /// query event an event rule removed may still carry other events in its body; answering
    /// success for them unsent would lose them silently, so such a request is refused.
    pub fn ends_here(&self, body_present: bool) -> Result<bool, PipelineError> {
        match (
            self.nothing_left,
            self.query_event_removed_by_rule && body_present,
        ) {
            (true, true) => Err(PipelineError::QueryEventRemovedWithBody),
            (nothing_left, _) => Ok(nothing_left),
        }
    }
}

/// Prepares a request for `route`'s `endpoint` from `client`, with its raw `query` and headers.
pub fn prepare(
    rules: &RuleSet,
    route: &Route,
    endpoint: Endpoint,
    client: IpAddr,
    raw_query: &str,
    headers: &HeaderMap,
) -> Result<Prepared, PipelineError> {
    let vendor = route.vendor.spec();
    let (mut env, geo_lookup) = scrub_env(rules, client);
    let gate = consent_gate(rules, route, endpoint, headers, raw_query, &env);
    let stance = Stance::of(rules, gate.as_ref());
    env.privacy.consent = gate;
    let query_env = stance.query_env(&env);
    let plan = route.plans[endpoint.plan].clone();
    let user_agent = plan.event.values.user_agent;
    let event_params = credential_params(route, endpoint, query_env, stance, &env.privacy.place);
    let inputs = QueryInputs {
        raw_query,
        endpoint,
        plan: &plan,
        env: &env,
        query_env,
        rules,
        event_params: &event_params,
        names: vendor.query_names,
    };
    let scrubbed = scrub_query(&inputs)?;
    if endpoint.format == BodyFormat::DataQuery && !scrubbed.had_payload {
        return Err(PipelineError::MissingData);
    }
    // The vendor must not geolocate the address it sees: there is none worth it, or the
    // proxy wrote the place itself.
    let no_geolocation = stance.ip_removed || env.vendor_must_not_geolocate();
    let (query, lz64) = vendor_query(vendor, endpoint, scrubbed.query, no_geolocation);
    // The credential goes once a request in a body of events, beside them.
    let (envelope_params, event_params) = event_params
        .into_iter()
        .partition(|(name, _)| Some(*name) == vendor.credential_param);
    let anonymous_key = stance.anonymous.then(|| query_env.pseudonym_key.clone());
    let spec = BodySpec {
        format: endpoint.format,
        plan,
        env,
        limits: route.core_limits,
        request_limits: route.request_limits,
        max_decoded_bytes: rules.limits.max_decoded_bytes,
        content_encoding: content_encoding(headers),
        lz64,
        event_params,
        envelope_params,
    };
    let beside = Beside {
        client,
        user_agent,
        ip_removed: stance.ip_removed,
        anonymous_key,
    };
    Ok(Prepared {
        nothing_left: scrubbed.report.nothing_left(),
        query_event_removed_by_rule: endpoint.format == BodyFormat::QueryEventBody
            && scrubbed.report.events_dropped > 0,
        query,
        query_report: scrubbed.report,
        spec,
        extra_headers: extra_headers(rules, route, headers, beside),
        dropped_reply: vendor.protocol.dropped_reply(&endpoint, raw_query),
        geo_lookup,
    })
}

/// The scrubbing environment of a request from `client`, before consent is read, and how
/// its geo lookup went.
fn scrub_env(rules: &RuleSet, client: IpAddr) -> (ScrubEnv, GeoLookup) {
    let place = rules.geo.locate(client, rules.truncation);
    let geo_lookup = GeoLookup::of(rules.geo.precision, &place);
    let privacy = Privacy {
        place,
        geo_precision: rules.geo.precision,
        consent: None,
        opt_out: rules.opt_out.clone(),
    };
    let env = ScrubEnv {
        truncation: rules.truncation,
        client_ip: rules.truncation.map(|t| t.apply(client).to_string()),
        pseudonym_key: rules.pseudonym_key.clone(),
        max_depth: rules.limits.core.max_depth,
        max_string_bytes: rules.limits.core.max_string_bytes,
        privacy,
    };
    (env, geo_lookup)
}

/// What the request alone says (events may say more): it decides what travels beside the
/// events (query flags, headers, the credential's visitor address).
#[derive(Clone, Copy)]
struct Stance {
    /// The request's own consent anonymizes it.
    anonymous: bool,
    /// The vendor gets no address: IPs are removed, or the request is anonymized.
    ip_removed: bool,
}

impl Stance {
    fn of(rules: &RuleSet, gate: Option<&ConsentGate>) -> Self {
        let anonymous = gate.is_some_and(|g| g.request_action() != ConsentAction::Forward);
        Stance {
            anonymous,
            ip_removed: rules.truncation.is_none() || anonymous,
        }
    }

    /// The environment of what travels beside the events: the anonymized one when the
    /// request is.
    fn query_env(self, env: &ScrubEnv) -> &ScrubEnv {
        match &env.privacy.consent {
            Some(g) if self.anonymous => &g.anonymized.env,
            _ => env,
        }
    }
}

/// The address a credential's visitor parameters carry when the vendor gets none.
const NO_ADDRESS: &str = "0.0.0.0";

/// What a vendor credential the route holds adds to each query-string event: the client's
/// address and place (`Vendor::credential_params`), then the credential itself.
fn credential_params(
    route: &Route,
    endpoint: Endpoint,
    query_env: &ScrubEnv,
    stance: Stance,
    place: &crate::scrub::Place,
) -> Vec<(&'static str, String)> {
    let vendor = route.vendor.spec();
    let (Some(token), Some(param)) = (&route.token, vendor.credential_param) else {
        return Vec::new();
    };
    if !endpoint.format.is_query_event() {
        return Vec::new();
    }
    let client = match &query_env.client_ip {
        Some(ip) if !stance.ip_removed => ip.as_str(),
        _ => NO_ADDRESS,
    };
    let mut params = vendor.protocol.credential_params(client, place);
    params.push((param, token.0.clone()));
    params
}

/// What scrubbing a request's query needs.
struct QueryInputs<'a> {
    raw_query: &'a str,
    endpoint: Endpoint,
    plan: &'a std::sync::Arc<crate::scrub::BodyPlan>,
    /// The events' environment.
    env: &'a ScrubEnv,
    /// The environment of parameters beside the events.
    query_env: &'a ScrubEnv,
    rules: &'a RuleSet,
    event_params: &'a [(&'static str, String)],
    names: QueryNames,
}

/// The query as the rules leave it, by what it carries: an event (its events' environment),
/// the payload in `data` (the same), or parameters beside a body.
fn scrub_query(q: &QueryInputs<'_>) -> Result<pipeline::ScrubbedQuery, PipelineError> {
    let core = q.rules.limits.core;
    match q.endpoint.format {
        BodyFormat::QueryEvent | BodyFormat::QueryEventBody => scrub_query_event(q),
        BodyFormat::DataQuery | BodyFormat::DataForm { .. } => {
            pipeline::scrub_query(q.raw_query, q.plan, q.env, core, true)
        }
        BodyFormat::Json | BodyFormat::Passthrough => {
            pipeline::scrub_query(q.raw_query, q.plan, q.query_env, core, false)
        }
    }
}

/// The scrubbed query as the vendor gets it, and whether it says the payload is lz-string:
/// with the vendor's "do not geolocate" flag when `no_geolocation`, then the vendor's own
/// filter.
fn vendor_query(
    vendor: &VendorSpec,
    endpoint: Endpoint,
    query: String,
    no_geolocation: bool,
) -> (String, bool) {
    let query = match vendor.no_ip_query_flag {
        Some(flag) if no_geolocation => pipeline::set_query_param(&query, flag.name, flag.value),
        _ => query,
    };
    let lz64 = vendor.lz64_query.iter().any(|flag| flag.is_in(&query));
    (vendor.protocol.upstream_query(&endpoint, &query), lz64)
}

/// The body's `Content-Encoding`, trimmed and in lower case.
fn content_encoding(headers: &HeaderMap) -> Option<String> {
    headers
        .get(http::header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase())
}

/// The consent gate of a request: `None` when its route forwards every event anyway.
fn consent_gate(
    rules: &RuleSet,
    route: &Route,
    endpoint: Endpoint,
    headers: &HeaderMap,
    raw_query: &str,
    env: &ScrubEnv,
) -> Option<ConsentGate> {
    let vendor = route.vendor.spec();
    let protocol = vendor.protocol;
    let policy = route.consent;
    let anonymous_requested = vendor
        .anonymous_header
        .is_some_and(|name| headers.contains_key(name));
    let forwards_all =
        policy.denied == ConsentAction::Forward && policy.unknown == ConsentAction::Forward;
    if forwards_all && !anonymous_requested {
        return None;
    }
    let request = crate::consent::from_request(&rules.consent_signals, headers, raw_query)
        .and(protocol.query_consent(raw_query));
    let consented = policy.action(request) == ConsentAction::Forward && !anonymous_requested;
    if consented && protocol.event_consent().is_none() {
        // Granted, and no event can say otherwise: every event is forwarded as it is.
        return None;
    }
    let anonymized = Anonymized {
        plan: Some(route.anonymized_plans[endpoint.plan].clone()),
        env: ScrubEnv {
            truncation: None,
            client_ip: None,
            pseudonym_key: rules.anonymous_keys.for_day(days_since_epoch()),
            privacy: Privacy {
                consent: None,
                ..env.privacy.clone()
            },
            ..env.clone()
        },
    };
    Some(ConsentGate {
        policy,
        request,
        event_reader: protocol.event_consent(),
        categories: rules.consent_signals.categories.clone(),
        anonymous_requested,
        anonymized: std::sync::Arc::new(anonymized),
    })
}

/// A query that is an event, with the credential's parameters after it.
fn scrub_query_event(q: &QueryInputs<'_>) -> Result<pipeline::ScrubbedQuery, PipelineError> {
    if q.raw_query.is_empty() {
        return Ok(pipeline::ScrubbedQuery {
            query: String::new(),
            report: Report::default(),
            had_payload: false,
        });
    }
    let core = q.rules.limits.core;
    let (mut query, report) =
        pipeline::scrub_query_event(q.raw_query, q.plan, q.env, core, q.names)?;
    if !query.is_empty() {
        for (name, value) in q.event_params {
            query.push('&');
            query.push_str(name);
            query.push('=');
            query.push_str(&pipeline::percent_encoded(value.as_bytes())?);
        }
    }
    Ok(pipeline::ScrubbedQuery {
        query,
        report,
        had_payload: true,
    })
}

/// What the headers the proxy sets depend on besides the rules.
struct Beside {
    client: IpAddr,
    user_agent: crate::scrub::UserAgentMode,
    /// The vendor gets no address: IPs are removed, or the request is anonymized.
    ip_removed: bool,
    /// The day's key, when the request is anonymized: identifiers in headers take it too.
    anonymous_key: Option<crate::scrub::PseudonymKey>,
}

fn extra_headers(
    rules: &RuleSet,
    route: &Route,
    headers: &HeaderMap,
    beside: Beside,
) -> Vec<(HeaderName, Option<HeaderValue>)> {
    let Beside {
        client,
        user_agent,
        ip_removed,
        anonymous_key,
    } = beside;
    let vendor = route.vendor.spec();
    // First, so that a header the proxy writes below is set after any removal.
    let mut extra = misshapen_headers(rules, route, headers);
    let forwards_ua = vendor.needed_headers.contains(&"user-agent")
        || rules.forward_headers.contains(&http::header::USER_AGENT);
    if let Some(ua) = headers
        .get(http::header::USER_AGENT)
        .filter(|_| forwards_ua)
    {
        // The header a vendor reads the browser from (Plausible) follows the payload's rule.
        // The same per-thread memo the payloads' user agents use.
        let coarse = || {
            crate::scrub::user_agent::with_coarse(ua.as_bytes(), |coarse| {
                HeaderValue::from_bytes(coarse?).ok()
            })
        };
        match user_agent {
            crate::scrub::UserAgentMode::Keep => {}
            crate::scrub::UserAgentMode::Coarse => extra.push((http::header::USER_AGENT, coarse())),
            crate::scrub::UserAgentMode::Drop => extra.push((http::header::USER_AGENT, None)),
        }
    }
    if let Some(ClientIpHeader { name, placeholder }) = vendor.client_ip_header {
        let value = match rules.truncation {
            // A day's pseudonym address links nobody beyond the day: fit for anonymized
            // requests too.
            _ if rules.ip_header_pseudonym => rules
                .pseudonym_key
                .pseudonym_address(client, days_since_epoch())
                .to_string(),
            Some(t) if !ip_removed => t.apply(client).to_string(),
            _ => placeholder.to_owned(),
        };
        if let Ok(value) = HeaderValue::from_str(&value) {
            extra.push((HeaderName::from_static(name), Some(value)));
        }
    }
    if ip_removed {
        for (name, value) in vendor.no_ip_headers {
            extra.push((
                HeaderName::from_static(name),
                Some(HeaderValue::from_static(value)),
            ));
        }
    }
    for name in vendor.identifier_headers {
        let incoming = headers.get(*name).map(|v| v.as_bytes());
        let header = |v| identifier_header(rules, anonymous_key.as_ref(), v);
        if let Some(value) = incoming.and_then(header) {
            extra.push((HeaderName::from_static(name), Some(value)));
        }
    }
    extra
}

/// Removals of the forwarded headers whose values do not take the shape their header
/// carries (`header_shapes`); the headers the proxy writes itself (user agent, client
/// address, identifiers) are judged by their own rules.
fn misshapen_headers(
    rules: &RuleSet,
    route: &Route,
    headers: &HeaderMap,
) -> Vec<(HeaderName, Option<HeaderValue>)> {
    let vendor = route.vendor.spec();
    let written_by_proxy = |name: &HeaderName| {
        *name == http::header::USER_AGENT
            || vendor.identifier_headers.contains(&name.as_str())
            || vendor
                .client_ip_header
                .is_some_and(|header| header.name == name.as_str())
    };
    let needed = vendor
        .needed_headers
        .iter()
        .map(|n| HeaderName::from_static(n));
    rules
        .forward_headers
        .iter()
        .cloned()
        .chain(needed)
        .filter(|name| !written_by_proxy(name))
        .filter(|name| {
            headers
                .get_all(name)
                .iter()
                .any(|v| !header_shapes::fits(route.vendor, name.as_str(), v.as_bytes()))
        })
        .map(|name| (name, None))
        .collect()
}

/// Today, in days since the Unix epoch (UTC): the period of daily pseudonyms.
fn days_since_epoch() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400)
}

/// An identifier sent as base64 in a header, after the identifier rule: the pseudonym in
/// base64, nothing (dropped, or not base64 and so not checkable), or the id itself (kept).
/// In an anonymized request (`anonymous_key`, the day's) it is never kept.
fn identifier_header(
    rules: &RuleSet,
    anonymous_key: Option<&crate::scrub::PseudonymKey>,
    value: &[u8],
) -> Option<HeaderValue> {
    let id = crate::decode::transform_all(&mut crate::decode::Base64Decoder::new(), value).ok()?;
    let (action, key) = match (rules.identifier_action, anonymous_key) {
        (FieldAction::Keep, Some(day)) => (FieldAction::Hash, day),
        (action, day) => (action, day.unwrap_or(&rules.pseudonym_key)),
    };
    match action {
        FieldAction::Keep => HeaderValue::from_bytes(value).ok(),
        FieldAction::Hash => {
            let mut pseudonym = Vec::new();
            key.pseudonym_into(&id, &mut pseudonym);
            let encoded = crate::decode::transform_all(
                &mut crate::decode::Base64Encoder::standard(),
                &pseudonym,
            )
            .ok()?;
            HeaderValue::from_bytes(&encoded).ok()
        }
        _ => None,
    }
}

/// The offline run of one request (the `scrub` command): the query and body as they would
/// be sent, and what the rules did; `None` as body when nothing would be sent at all.
pub struct Offline {
    pub query: String,
    pub body: Option<Vec<u8>>,
    pub report: Report,
}

/// Runs `body` through the pipeline of `route`'s `endpoint`, as the proxy would.
pub fn scrub_offline(
    rules: &RuleSet,
    route: &Route,
    endpoint: Endpoint,
    client: IpAddr,
    raw_query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Offline, PipelineError> {
    let prepared = prepare(rules, route, endpoint, client, raw_query, headers)?;
    let mut report = prepared.query_report.clone();
    if prepared.ends_here(!body.is_empty())? {
        return Ok(Offline {
            query: String::new(),
            body: None,
            report,
        });
    }
    let mut pipeline = BodyPipeline::new(prepared.spec)?;
    let parts = vec![pipeline.push(body)?, pipeline.finish()?];
    let body_report = pipeline.report();
    report.merge(&body_report);
    let nothing_left = body_report.nothing_left();
    Ok(Offline {
        query: prepared.query,
        body: (!nothing_left).then(|| Scrubbed::concat(parts).as_bytes().to_vec()),
        report,
    })
}
