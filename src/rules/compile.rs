//! `RulesFile` → `RuleSet`: parses addresses, CIDRs, URLs and modes, loads the HMAC key and
//! builds every vendor plan. Collects all errors instead of stopping at the first.

use std::net::SocketAddr;
use std::time::Duration;

use ipnet::IpNet;

use super::file::{IdentifiersFile, RulesFile};
use super::limits::{MAX_READ_BUFFER_BYTES, MIN_READ_BUFFER_BYTES};
use super::{
    CorsPolicy, ForwardedHeader, KeySource, Limits, RequestLimits, Route, RuleError, RuleSet,
    Upstream,
};
use crate::scrub::{
    CoreLimits, FieldAction, PropertyMode, PropertyRules, PseudonymKey, RuleKind, Truncation,
};
use crate::vendor::PlanInputs;

mod operate;
mod privacy;
mod tls;
mod values;

pub use operate::{weak_secret, AdminToken, LogFormat, ADMIN_TOKEN_ENV};

use tls::{server_tls, upstream_settings, watched_files};
use values::{route_values, value_rules_factory, ValueContext};

/// Headers browsers' SDKs send that preflights must allow (RudderStack adds `Rsa-*` retry
/// headers, which preflights allow by prefix).
const SDK_REQUEST_HEADERS: &str =
    "Content-Type, Authorization, X-Retry-Count, AnonymousId, SentAt, SP-Anonymous, traceparent";

/// Smallest HMAC key accepted: shorter keys make pseudonyms guessable.
const MIN_KEY_BYTES: usize = 16;

#[derive(Default)]
struct Errors(Vec<RuleError>);

impl Errors {
    fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(RuleError {
            path: path.into(),
            message: message.into(),
        });
    }
}

pub fn compile(file: RulesFile) -> Result<RuleSet, Vec<RuleError>> {
    compile_with(file, &super::ProcessEnv)
}

/// `compile`, reading the secrets the rules name by environment variable (the HMAC key,
/// route and admin tokens) from `env`: tests give their own instead of changing the
/// process's.
pub fn compile_with(
    file: RulesFile,
    env: &dyn super::Environment,
) -> Result<RuleSet, Vec<RuleError>> {
    let mut errors = Errors::default();
    #[allow(clippy::disallowed_methods)] // rules loading: the settings file as a document
    let mut effective = serde_json::to_value(&file).unwrap_or_default();
    if let Some(map) = effective.as_object_mut() {
        map.remove("test");
    }
    let listen = socket_addr(&file.listen.address, "listen.address", &mut errors);
    let tls = server_tls(&file, &mut errors);
    let upstream = upstream_settings(&file, &mut errors);
    let admin = socket_addr(&file.listen.admin, "listen.admin", &mut errors);
    let workers = workers(file.listen.workers, &mut errors);
    let limits = limits(&file, &mut errors);
    let trusted_proxies = trusted_proxies(&file.client_ip.trusted_proxies, &mut errors);
    let forwarded_header = match file.client_ip.header.as_deref() {
        None | Some("x-forwarded-for") => ForwardedHeader::XForwardedFor,
        Some("forwarded") => ForwardedHeader::Forwarded,
        Some(_) => {
            errors.push(
                "client_ip.header",
                "must be \"x-forwarded-for\" or \"forwarded\"",
            );
            ForwardedHeader::XForwardedFor
        }
    };
    let truncation = ip_truncation(&file, &mut errors);
    let ip_header_pseudonym = match file.ip.header.as_str() {
        "truncate" => false,
        "pseudonym" => true,
        _ => {
            errors.push("ip.header", "must be \"truncate\" or \"pseudonym\"");
            false
        }
    };
    let (pseudonym_key, key_source) = pseudonym_key(&file.identifiers, env, &mut errors);
    let identifier_action = match file.identifiers.action.as_str() {
        "hash" => FieldAction::Hash,
        "drop" => FieldAction::Drop(RuleKind::Identifier),
        "keep" => FieldAction::Keep,
        _ => {
            errors.push(
                "identifiers.action",
                "must be \"keep\", \"drop\" or \"hash\"",
            );
            FieldAction::Hash
        }
    };
    let properties = property_rules(&file, &mut errors);
    let ip_values = if file.ip.scan_values {
        truncation
    } else {
        None
    };
    let geo = privacy::geo(&file.geo, &mut errors);
    let coordinate_decimals = privacy::coordinate_decimals(&file.geo, &mut errors);
    let context = ValueContext {
        ip_values,
        key: &pseudonym_key,
        coordinate_decimals,
    };
    let values = value_rules_factory(&file.values, "values", &context, &mut errors);
    let inputs = PlanInputs {
        properties: &properties,
        identifier_action,
        values: &values,
    };
    let routes = routes(&file, &inputs, &context, &limits, env, &mut errors);
    let forward_headers = forward_headers(&file, &mut errors);
    let cors = cors(&file);
    let consent_signals = privacy::signals(&file.consent);
    let hashing = identifier_action == FieldAction::Hash;
    let opt_out = privacy::opt_out(&file.consent, &pseudonym_key, hashing, &mut errors);
    let admin_token = operate::admin_token(&file.admin, env, &mut errors);
    let log_format = operate::log_format(&file.log, &mut errors);
    if !errors.0.is_empty() {
        return Err(errors.0);
    }
    Ok(RuleSet {
        listen,
        admin,
        workers,
        tls,
        upstream,
        watched_files: watched_files(&file),
        limits,
        trusted_proxies,
        forwarded_header,
        truncation,
        anonymous_keys: crate::scrub::DailyKeys::new(pseudonym_key.clone()),
        pseudonym_key,
        key_source,
        ip_header_pseudonym,
        identifier_action,
        routes,
        forward_headers,
        cors,
        geo,
        consent_signals,
        opt_out,
        admin_token,
        log_format,
        effective,
    })
}

fn socket_addr(text: &str, path: &str, errors: &mut Errors) -> SocketAddr {
    text.parse().unwrap_or_else(|_| {
        errors.push(
            path,
            "must be an address and port such as \"127.0.0.1:8080\"",
        );
        SocketAddr::from(([127, 0, 0, 1], 0))
    })
}

/// The most worker threads a file may ask for: far beyond any machine's cores, low enough
/// that a typo cannot exhaust the process's threads.
const MAX_WORKERS: usize = 256;

fn workers(asked: usize, errors: &mut Errors) -> usize {
    match asked {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        n if n > MAX_WORKERS => {
            errors.push(
                "listen.workers",
                format!("must be at most {MAX_WORKERS} (0: one per CPU)"),
            );
            1
        }
        n => n,
    }
}

fn seconds(value: f64, path: &str, errors: &mut Errors) -> Duration {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero())
        .unwrap_or_else(|| {
            errors.push(path, "must be a positive number of seconds");
            Duration::from_secs(1)
        })
}

fn limits(file: &RulesFile, errors: &mut Errors) -> Limits {
    let l = &file.limits;
    for (value, path) in [
        (l.max_body_bytes, "limits.max_body_bytes"),
        (l.max_decoded_bytes, "limits.max_decoded_bytes"),
        (l.max_event_bytes as u64, "limits.max_event_bytes"),
        (l.max_depth as u64, "limits.max_depth"),
        (l.max_string_bytes as u64, "limits.max_string_bytes"),
        (
            l.max_concurrent_requests as u64,
            "limits.max_concurrent_requests",
        ),
        (l.max_events_per_request, "limits.max_events_per_request"),
        (l.max_held_bytes, "limits.max_held_bytes"),
        (l.memory_budget_bytes, "limits.memory_budget_bytes"),
    ] {
        if value == 0 {
            errors.push(path, "must be greater than zero");
        }
    }
    if !(l.max_output_ratio.is_finite() && l.max_output_ratio >= 1.0) {
        errors.push(
            "limits.max_output_ratio",
            "must be a number of at least 1 (the output may always be as large as the input)",
        );
    }
    if !(MIN_READ_BUFFER_BYTES..=MAX_READ_BUFFER_BYTES).contains(&l.read_buffer_bytes) {
        errors.push(
            "limits.read_buffer_bytes",
            format!(
                "must be between {MIN_READ_BUFFER_BYTES} (request headers must fit) \
                 and {MAX_READ_BUFFER_BYTES}"
            ),
        );
    }
    Limits {
        max_body_bytes: l.max_body_bytes,
        max_decoded_bytes: l.max_decoded_bytes,
        core: CoreLimits {
            max_event_bytes: l.max_event_bytes,
            max_depth: l.max_depth,
            max_string_bytes: l.max_string_bytes,
        },
        buffer_below_bytes: l.buffer_below_bytes,
        read_buffer_bytes: l.read_buffer_bytes,
        upstream_timeout: seconds(
            l.upstream_timeout_seconds,
            "limits.upstream_timeout_seconds",
            errors,
        ),
        max_concurrent_requests: l.max_concurrent_requests,
        max_output_ratio: l.max_output_ratio,
        max_events_per_request: l.max_events_per_request,
        max_held_bytes: l.max_held_bytes,
        memory_budget_bytes: l.memory_budget_bytes,
        body_read_timeout: seconds(
            l.body_read_timeout_seconds,
            "limits.body_read_timeout_seconds",
            errors,
        ),
        header_read_timeout: seconds(
            l.header_read_timeout_seconds,
            "limits.header_read_timeout_seconds",
            errors,
        ),
        shutdown_drain: seconds(
            l.shutdown_drain_seconds,
            "limits.shutdown_drain_seconds",
            errors,
        ),
    }
}

fn trusted_proxies(list: &[String], errors: &mut Errors) -> Vec<IpNet> {
    let mut nets = Vec::new();
    for (i, text) in list.iter().enumerate() {
        let parsed = text
            .parse::<IpNet>()
            .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from));
        match parsed {
            Ok(net) => nets.push(net),
            Err(_) => errors.push(
                format!("client_ip.trusted_proxies[{i}]"),
                "must be a CIDR such as \"10.0.0.0/8\" or an address",
            ),
        }
    }
    nets
}

fn ip_truncation(file: &RulesFile, errors: &mut Errors) -> Option<Truncation> {
    if file.ip.ipv4_prefix > 32 {
        errors.push("ip.ipv4_prefix", "must be between 0 and 32");
    }
    if file.ip.ipv6_prefix > 128 {
        errors.push("ip.ipv6_prefix", "must be between 0 and 128");
    }
    match file.ip.mode.as_str() {
        "truncate" => Some(Truncation {
            ipv4_prefix: file.ip.ipv4_prefix,
            ipv6_prefix: file.ip.ipv6_prefix,
        }),
        "none" => None,
        _ => {
            errors.push("ip.mode", "must be \"truncate\" or \"none\"");
            None
        }
    }
}

/// A key anyone could guess makes every pseudonym reversible by trying identifiers: too
/// short, or a placeholder or pattern (`weak_secret`), it is refused like a syntax error.
fn refuse_weak_key(key: &[u8], at: &str, errors: &mut Errors) {
    if key.len() < MIN_KEY_BYTES {
        errors.push(at, format!("key must be at least {MIN_KEY_BYTES} bytes"));
    } else if let Some(weakness) = weak_secret(key) {
        errors.push(at, format!("the key {weakness}"));
    }
}

/// The key comes from a file or the environment, never from rules.toml. Without one, a
/// random key keeps identifiers unreadable (but pseudonyms change at every restart).
fn pseudonym_key(
    ids: &IdentifiersFile,
    env: &dyn super::Environment,
    errors: &mut Errors,
) -> (PseudonymKey, KeySource) {
    if let Some(path) = &ids.key_file {
        match std::fs::read(path) {
            Ok(bytes) => {
                let key = trim_ascii_whitespace(&bytes);
                refuse_weak_key(key, "identifiers.key_file", errors);
                return (PseudonymKey::new(key), KeySource::File(path.clone()));
            }
            Err(e) => errors.push(
                "identifiers.key_file",
                format!("cannot read the key file: {}", e.kind()),
            ),
        }
    }
    if let Some(name) = &ids.key_env {
        if let Some(value) = env.var(name) {
            refuse_weak_key(value.trim().as_bytes(), "identifiers.key_env", errors);
            return (
                PseudonymKey::new(value.trim().as_bytes()),
                KeySource::Env(name.clone()),
            );
        }
    }
    let mut secret = [0u8; 32];
    if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut secret).is_err() {
        errors.push(
            "identifiers",
            "no key configured and no system randomness for an ephemeral one",
        );
    }
    (PseudonymKey::new(&secret), KeySource::Ephemeral)
}

fn trim_ascii_whitespace(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &bytes[start..end]
}

/// Entries with a dot are paths from the event root; a word rule never is one (it was
/// refused above if it had a dot).
fn is_path_rule(entry: &str) -> bool {
    entry.contains('.') && !entry.starts_with(crate::scrub::keys::WORD_RULE_PREFIX)
}

/// `word:` and then words that normalize to something, with no glob or path syntax.
fn valid_word_rule(words: &str) -> bool {
    !words.contains(['*', '?', '.']) && !crate::scrub::keys::normalize(words).is_empty()
}

fn property_rules(file: &RulesFile, errors: &mut Errors) -> PropertyRules {
    let p = &file.properties;
    let mode = match p.mode.as_str() {
        "deny" => PropertyMode::Deny,
        "allow" => PropertyMode::Allow,
        _ => {
            errors.push("properties.mode", "must be \"deny\" or \"allow\"");
            PropertyMode::Deny
        }
    };
    for (list, name) in [(&p.deny, "deny"), (&p.allow, "allow")] {
        for (i, entry) in list.iter().enumerate() {
            if let Some(words) = entry.strip_prefix(crate::scrub::keys::WORD_RULE_PREFIX) {
                if !valid_word_rule(words) {
                    errors.push(
                        format!("properties.{name}[{i}]"),
                        "a word rule names one or more words (\"word:first_name\"), without \
                         globs or dots",
                    );
                }
            } else if entry.trim().is_empty() || entry.split('.').any(str::is_empty) {
                errors.push(
                    format!("properties.{name}[{i}]"),
                    "must be a key, a glob, a word rule or a dotted path",
                );
            }
        }
    }
    let (deny_paths, deny_keys) = p
        .deny
        .iter()
        .cloned()
        .partition(|e: &String| is_path_rule(e));
    let (allow_paths, allow_keys) = p
        .allow
        .iter()
        .cloned()
        .partition(|e: &String| is_path_rule(e));
    PropertyRules {
        drop_events: file.events.drop.clone(),
        mode,
        deny_keys,
        deny_paths,
        allow_keys,
        allow_paths,
    }
}

fn routes(
    file: &RulesFile,
    inputs: &PlanInputs<'_>,
    context: &ValueContext<'_>,
    limits: &Limits,
    env: &dyn super::Environment,
    errors: &mut Errors,
) -> Vec<Route> {
    if file.routes.is_empty() {
        errors.push("route", "at least one [[route]] is needed");
    }
    let mut routes: Vec<Route> = Vec::new();
    for (i, r) in file.routes.iter().enumerate() {
        let prefix = r.prefix.trim_end_matches('/').to_string();
        if !r.prefix.starts_with('/') {
            errors.push(format!("route[{i}].prefix"), "must start with \"/\"");
        }
        if routes.iter().any(|other| other.prefix == prefix) {
            errors.push(
                format!("route[{i}].prefix"),
                "is already used by another route",
            );
        }
        let Some(upstream) = upstream(&r.upstream, &format!("route[{i}].upstream"), errors) else {
            continue;
        };
        let token = route_token(r, i, env, errors);
        for (alias, target) in &r.aliases {
            let known = [http::Method::GET, http::Method::POST]
                .iter()
                .any(|m| r.vendor.protocol().endpoint(m, target).is_some());
            if !alias.starts_with('/') || !known {
                errors.push(
                    format!("route[{i}].aliases.{alias}"),
                    "must map a path starting with / to an ingest path of the route's vendor",
                );
            }
        }
        let at = format!("route[{i}].values");
        let own = match &r.values {
            None => None,
            Some(over) => match route_values(&file.values, over, &at, errors) {
                Some(own) => Some(own),
                None => continue,
            },
        };
        let values_file = own.as_ref().unwrap_or(&file.values);
        let values = value_rules_factory(values_file, &at, context, errors);
        let plans = r.vendor.protocol().compile(&PlanInputs {
            properties: inputs.properties,
            identifier_action: inputs.identifier_action,
            values: &values,
        });
        let anonymized_plans = anonymized_plans(r, values_file, inputs, context);
        let (request_limits, core_limits) = route_limits(file, r, limits, i, errors);
        let at = format!("route[{i}].consent");
        routes.push(Route {
            prefix,
            vendor: r.vendor,
            upstream,
            plans,
            token,
            aliases: r.aliases.clone(),
            shadow: r.shadow,
            consent: privacy::policy(&file.consent, r.consent.as_ref(), &at, errors),
            anonymized_plans,
            request_limits,
            core_limits,
        });
    }
    routes
}

/// A route's request limits: its own `limits`, else its vendor's published ones, else the
/// `[limits]` defaults; none above the global limits they refine.
fn route_limits(
    file: &RulesFile,
    route: &super::file::RouteFile,
    limits: &Limits,
    i: usize,
    errors: &mut Errors,
) -> (RequestLimits, CoreLimits) {
    let published = route.vendor.spec().limits;
    let own = route.limits.as_ref();
    let max_events = own
        .and_then(|l| l.max_events)
        .or(published.max_events)
        .unwrap_or(file.limits.max_events_per_request);
    let max_batch_bytes = own
        .and_then(|l| l.max_batch_bytes)
        .or(published.max_batch_bytes)
        .unwrap_or(limits.max_decoded_bytes)
        .min(limits.max_decoded_bytes);
    let max_event_bytes = own
        .and_then(|l| l.max_event_bytes)
        .or(published.max_event_bytes)
        .unwrap_or(limits.core.max_event_bytes)
        .min(limits.core.max_event_bytes);
    for (value, name) in [
        (max_events, "max_events"),
        (max_batch_bytes, "max_batch_bytes"),
        (max_event_bytes as u64, "max_event_bytes"),
    ] {
        if value == 0 {
            errors.push(
                format!("route[{i}].limits.{name}"),
                "must be greater than zero",
            );
        }
    }
    let request = RequestLimits {
        max_events,
        max_batch_bytes,
        max_output_ratio: limits.max_output_ratio,
        max_held_bytes: limits.max_held_bytes,
    };
    let core = CoreLimits {
        max_event_bytes,
        ..limits.core
    };
    (request, core)
}

/// The plans of a route's anonymized events: identifiers never kept (the day's pseudonyms
/// instead), addresses inside text cut to nothing (`0.0.0.0`) whatever `ip` says,
/// coordinates dropped, and detectors that would hash redact instead (their pseudonyms come
/// from the lasting key, which would link a person across days).
fn anonymized_plans(
    route: &super::file::RouteFile,
    values_file: &super::file::ValuesFile,
    inputs: &PlanInputs<'_>,
    context: &ValueContext<'_>,
) -> Vec<std::sync::Arc<crate::scrub::BodyPlan>> {
    let context = ValueContext {
        ip_values: Some(Truncation {
            ipv4_prefix: 0,
            ipv6_prefix: 0,
        }),
        key: context.key,
        coordinate_decimals: None,
    };
    let mut values_file = values_file.clone();
    let v = &mut values_file;
    let actions = [
        &mut v.email,
        &mut v.street_address,
        &mut v.phone,
        &mut v.card,
        &mut v.iban,
        &mut v.ssn,
        &mut v.token,
        &mut v.coordinates,
    ];
    for action in actions
        .into_iter()
        .chain(v.custom.iter_mut().map(|c| &mut c.action))
    {
        if action == "hash" {
            *action = "redact".into();
        }
    }
    // The same settings compiled once already: their errors are reported there.
    let values = value_rules_factory(&values_file, "", &context, &mut Errors::default());
    let identifier_action = match inputs.identifier_action {
        FieldAction::Keep => FieldAction::Hash,
        other => other,
    };
    route.vendor.protocol().compile(&PlanInputs {
        properties: inputs.properties,
        identifier_action,
        values: &values,
    })
}

fn route_token(
    r: &super::file::RouteFile,
    i: usize,
    env: &dyn super::Environment,
    errors: &mut Errors,
) -> Option<super::Secret> {
    if let Some(path) = &r.token_file {
        return match std::fs::read_to_string(path) {
            Ok(text) => Some(super::Secret(text.trim().to_owned())),
            Err(e) => {
                errors.push(
                    format!("route[{i}].token_file"),
                    format!("cannot read: {}", e.kind()),
                );
                None
            }
        };
    }
    let name = r.token_env.as_ref()?;
    match env.var(name) {
        Some(value) if !value.trim().is_empty() => Some(super::Secret(value.trim().to_owned())),
        _ => {
            errors.push(
                format!("route[{i}].token_env"),
                "names an environment variable that is not set",
            );
            None
        }
    }
}

fn upstream(text: &str, path: &str, errors: &mut Errors) -> Option<Upstream> {
    let uri: http::Uri = match text.parse() {
        Ok(u) => u,
        Err(_) => {
            errors.push(path, "must be an http:// or https:// URL");
            return None;
        }
    };
    let scheme = uri.scheme().cloned();
    let valid_scheme = matches!(scheme.as_ref().map(|s| s.as_str()), Some("http" | "https"));
    if !valid_scheme || uri.authority().is_none() || uri.query().is_some() {
        errors.push(
            path,
            "must be an http:// or https:// URL with a host and no query",
        );
        return None;
    }
    Some(Upstream {
        scheme: scheme?,
        authority: uri.authority()?.clone(),
        base_path: uri.path().trim_end_matches('/').to_string(),
    })
}

fn forward_headers(file: &RulesFile, errors: &mut Errors) -> Vec<http::HeaderName> {
    let mut names = Vec::new();
    for (i, name) in file.headers.forward.iter().enumerate() {
        match http::HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()) {
            Ok(h) if crate::forward::NEVER_FORWARDED.contains(&h.as_str()) => errors.push(
                format!("headers.forward[{i}]"),
                "this header identifies the client and is never forwarded",
            ),
            Ok(h) => names.push(h),
            Err(_) => errors.push(
                format!("headers.forward[{i}]"),
                "is not a valid header name",
            ),
        }
    }
    names
}

fn cors(file: &RulesFile) -> CorsPolicy {
    let c = &file.cors;
    let any = c.allowed_origins.iter().any(|o| o == "*");
    let mut allowed_headers = SDK_REQUEST_HEADERS.to_string();
    for h in &c.extra_allowed_headers {
        allowed_headers.push_str(", ");
        allowed_headers.push_str(h);
    }
    CorsPolicy {
        allowed_origins: (!any).then(|| c.allowed_origins.clone()),
        allowed_headers,
        max_age_seconds: c.max_age_seconds,
    }
}
