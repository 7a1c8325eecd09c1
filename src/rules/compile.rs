//! `RulesFile` → `RuleSet`: parses addresses, CIDRs, URLs and modes, loads the HMAC key and
//! builds every vendor plan. Collects all errors instead of stopping at the first.

use std::net::SocketAddr;
use std::time::Duration;

use ipnet::IpNet;

use super::file::{IdentifiersFile, RulesFile, ValuesFile};
use super::{
    CorsPolicy, ForwardedHeader, KeySource, Limits, Route, RuleError, RuleSet, Upstream,
    UpstreamSettings,
};
use crate::scrub::keys::KeySet;
use crate::scrub::{
    CoreLimits, CustomDetector, FieldAction, PropertyMode, PropertyRules, PseudonymKey,
    Replacement, RuleKind, Truncation, ValueRules,
};
use crate::vendor::PlanInputs;

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
    let mut errors = Errors::default();
    let mut effective = serde_json::to_value(&file).unwrap_or_default();
    if let Some(map) = effective.as_object_mut() {
        map.remove("test");
    }
    let listen = socket_addr(&file.listen.address, "listen.address", &mut errors);
    let tls = server_tls(&file, &mut errors);
    let upstream = upstream_settings(&file, &mut errors);
    let admin = socket_addr(&file.listen.admin, "listen.admin", &mut errors);
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
    let (pseudonym_key, key_source) = pseudonym_key(&file.identifiers, &mut errors);
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
    let values = value_rules_factory(
        &file.values,
        "values",
        ip_values,
        &pseudonym_key,
        &mut errors,
    );
    let inputs = PlanInputs {
        properties: &properties,
        identifier_action,
        values: &values,
    };
    let context = ValueContext {
        ip_values,
        key: &pseudonym_key,
    };
    let routes = routes(&file, &inputs, &context, &mut errors);
    let forward_headers = forward_headers(&file, &mut errors);
    let cors = cors(&file);
    if !errors.0.is_empty() {
        return Err(errors.0);
    }
    Ok(RuleSet {
        listen,
        admin,
        tls,
        upstream,
        watched_files: watched_files(&file),
        limits,
        trusted_proxies,
        forwarded_header,
        truncation,
        pseudonym_key,
        key_source,
        ip_header_pseudonym,
        identifier_action,
        routes,
        forward_headers,
        cors,
        effective,
    })
}

fn upstream_settings(file: &RulesFile, errors: &mut Errors) -> UpstreamSettings {
    let u = &file.upstream;
    UpstreamSettings {
        extra_roots: match &u.ca_file {
            Some(path) => pem_certificates(path, "upstream.ca_file", errors),
            None => Vec::new(),
        },
        verify: u.tls_verify,
        pool_max_idle_per_host: u.pool_max_idle_per_host,
        pool_idle_timeout: seconds(
            u.pool_idle_timeout_seconds,
            "upstream.pool_idle_timeout_seconds",
            errors,
        ),
    }
}

/// Every file the rules read besides themselves.
fn watched_files(file: &RulesFile) -> Vec<std::path::PathBuf> {
    let named = [
        &file.listen.tls_cert,
        &file.listen.tls_key,
        &file.upstream.ca_file,
        &file.identifiers.key_file,
    ];
    named
        .into_iter()
        .flatten()
        .chain(file.routes.iter().filter_map(|r| r.token_file.as_ref()))
        .map(std::path::PathBuf::from)
        .collect()
}

fn pem_certificates(
    path: &str,
    at: &str,
    errors: &mut Errors,
) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    let certs: Result<Vec<_>, _> =
        rustls::pki_types::CertificateDer::pem_file_iter(path).and_then(|iter| iter.collect());
    match certs {
        Ok(certs) if !certs.is_empty() => certs,
        _ => {
            errors.push(at, "cannot read PEM certificates from this file");
            Vec::new()
        }
    }
}

/// The trackers' port's TLS: a certificate chain and key, HTTP/2 and HTTP/1.1 by ALPN.
fn server_tls(
    file: &RulesFile,
    errors: &mut Errors,
) -> Option<std::sync::Arc<rustls::ServerConfig>> {
    use rustls::pki_types::pem::PemObject;
    let (cert, key) = match (&file.listen.tls_cert, &file.listen.tls_key) {
        (None, None) => return None,
        (Some(cert), Some(key)) => (cert, key),
        _ => {
            errors.push("listen.tls_cert", "tls_cert and tls_key go together");
            return None;
        }
    };
    let chain = pem_certificates(cert, "listen.tls_cert", errors);
    let Ok(key) = rustls::pki_types::PrivateKeyDer::from_pem_file(key) else {
        errors.push(
            "listen.tls_key",
            "cannot read a PEM private key from this file",
        );
        return None;
    };
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|_| errors.push("listen", "no TLS protocol version available"))
    .ok()?
    .with_no_client_auth()
    .with_single_cert(chain, key);
    match config {
        Ok(mut config) => {
            config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
            Some(std::sync::Arc::new(config))
        }
        Err(_) => {
            errors.push("listen.tls_key", "the key does not match the certificate");
            None
        }
    }
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
    ] {
        if value == 0 {
            errors.push(path, "must be greater than zero");
        }
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
        upstream_timeout: seconds(
            l.upstream_timeout_seconds,
            "limits.upstream_timeout_seconds",
            errors,
        ),
        max_concurrent_requests: l.max_concurrent_requests,
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

/// The key comes from a file or the environment, never from rules.toml. Without one, a
/// random key keeps identifiers unreadable (but pseudonyms change at every restart).
fn pseudonym_key(ids: &IdentifiersFile, errors: &mut Errors) -> (PseudonymKey, KeySource) {
    if let Some(path) = &ids.key_file {
        match std::fs::read(path) {
            Ok(bytes) => {
                let key = trim_ascii_whitespace(&bytes);
                if key.len() < MIN_KEY_BYTES {
                    errors.push(
                        "identifiers.key_file",
                        format!("key must be at least {MIN_KEY_BYTES} bytes"),
                    );
                }
                return (PseudonymKey::new(key), KeySource::File(path.clone()));
            }
            Err(e) => errors.push(
                "identifiers.key_file",
                format!("cannot read the key file: {}", e.kind()),
            ),
        }
    }
    if let Some(name) = &ids.key_env {
        if let Ok(value) = std::env::var(name) {
            if value.trim().len() < MIN_KEY_BYTES {
                errors.push(
                    "identifiers.key_env",
                    format!("key must be at least {MIN_KEY_BYTES} bytes"),
                );
            }
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
            if entry.trim().is_empty() || entry.split('.').any(str::is_empty) {
                errors.push(
                    format!("properties.{name}[{i}]"),
                    "must be a key, a glob or a dotted path",
                );
            }
        }
    }
    let (deny_paths, deny_keys) = p
        .deny
        .iter()
        .cloned()
        .partition(|e: &String| e.contains('.'));
    let (allow_paths, allow_keys) = p
        .allow
        .iter()
        .cloned()
        .partition(|e: &String| e.contains('.'));
    PropertyRules {
        drop_events: file.events.drop.clone(),
        mode,
        deny_keys,
        deny_paths,
        allow_keys,
        allow_paths,
    }
}

/// The value rules of `v` (the `[values]` table, or a route's override of it, at `at`).
fn value_rules_factory(
    v: &ValuesFile,
    at: &str,
    ip_values: Option<Truncation>,
    key: &PseudonymKey,
    errors: &mut Errors,
) -> impl Fn() -> ValueRules {
    let path = |name: &str| format!("{at}.{name}");
    let mut replacement = |setting: &str, at: String, marker: &str| match setting {
        "redact" => Some(Replacement::Marker(marker.as_bytes().to_vec())),
        "hash" => Some(Replacement::Hash(key.clone())),
        "mask" => Some(Replacement::Mask {
            keep_last: v.mask_keep_last,
        }),
        "drop" => Some(Replacement::Drop),
        "keep" => None,
        _ => {
            errors.push(
                at,
                "must be \"redact\", \"hash\", \"mask\", \"drop\" or \"keep\"",
            );
            None
        }
    };
    let email_marker = replacement(&v.email, path("email"), &v.email_marker);
    let street_marker = replacement(
        &v.street_address,
        path("street_address"),
        &v.street_address_marker,
    );
    let phone_marker = replacement(&v.phone, path("phone"), &v.phone_marker);
    let card_marker = replacement(&v.card, path("card"), &v.card_marker);
    let iban_marker = replacement(&v.iban, path("iban"), &v.iban_marker);
    let ssn_marker = replacement(&v.ssn, path("ssn"), &v.ssn_marker);
    let token_marker = replacement(&v.token, path("token"), &v.token_marker);
    let location_marker = replacement(&v.coordinates, path("coordinates"), &v.coordinates_marker);
    let phone_national = v.phone_national;
    let (mut custom, mut refused) = (Vec::new(), Vec::new());
    for (i, c) in v.custom.iter().enumerate() {
        let at = path(&format!("custom[{i}]"));
        let marker = c.marker.clone().unwrap_or_else(|| format!("[{}]", c.name));
        let Some(replace) = replacement(&c.action, format!("{at}.action"), &marker) else {
            continue;
        };
        match CustomDetector::new(&c.name, c.pattern.as_deref(), &c.literals, replace) {
            Ok(detector) => custom.push(detector),
            Err(e) => refused.push((at, e.to_string())),
        }
    }
    for (at, why) in refused {
        errors.push(at, why);
    }
    let url_drop_fragments = match v.url_fragments.as_str() {
        "parameters" => false,
        "drop" => true,
        _ => {
            errors.push(path("url_fragments"), "must be \"parameters\" or \"drop\"");
            false
        }
    };
    let referrer_origin = match v.referrer.as_str() {
        "origin" => true,
        "full" => false,
        _ => {
            errors.push(path("referrer"), "must be \"origin\" or \"full\"");
            true
        }
    };
    let user_agent = match v.user_agent.as_str() {
        "coarse" => crate::scrub::UserAgentMode::Coarse,
        "drop" => crate::scrub::UserAgentMode::Drop,
        "keep" => crate::scrub::UserAgentMode::Keep,
        _ => {
            errors.push(
                path("user_agent"),
                "must be \"coarse\", \"drop\" or \"keep\"",
            );
            crate::scrub::UserAgentMode::Coarse
        }
    };
    let url_allow = v.scrub_urls.then(|| v.url_query_allow.clone());
    move || ValueRules {
        ip_values,
        email_marker: email_marker.clone(),
        street_marker: street_marker.clone(),
        phone_marker: phone_marker.clone(),
        phone_national,
        card_marker: card_marker.clone(),
        iban_marker: iban_marker.clone(),
        ssn_marker: ssn_marker.clone(),
        token_marker: token_marker.clone(),
        location_marker: location_marker.clone(),
        user_agent,
        referrer_origin,
        url_drop_fragments,
        custom: custom.clone(),
        url_query_allow: url_allow
            .as_ref()
            .map(|list| KeySet::new(list.iter().map(String::as_str))),
    }
}

/// `[values]` with a route's own settings in place of the ones it names.
fn route_values(
    values: &ValuesFile,
    over: &serde_json::Map<String, serde_json::Value>,
    at: &str,
    errors: &mut Errors,
) -> Option<ValuesFile> {
    let mut merged = serde_json::to_value(values).ok()?;
    if let Some(map) = merged.as_object_mut() {
        map.extend(over.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    serde_json::from_value(merged)
        .map_err(|e| errors.push(at, e.to_string()))
        .ok()
}

/// What a route's own value rules are built with besides its `values` table.
struct ValueContext<'a> {
    ip_values: Option<Truncation>,
    key: &'a PseudonymKey,
}

fn routes(
    file: &RulesFile,
    inputs: &PlanInputs<'_>,
    context: &ValueContext<'_>,
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
        let token = route_token(r, i, errors);
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
        routes.push(Route {
            prefix,
            vendor: r.vendor,
            upstream,
            plans: match &r.values {
                None => r.vendor.protocol().compile(inputs),
                Some(over) => {
                    let at = format!("route[{i}].values");
                    let Some(own) = route_values(&file.values, over, &at, errors) else {
                        continue;
                    };
                    let values =
                        value_rules_factory(&own, &at, context.ip_values, context.key, errors);
                    r.vendor.protocol().compile(&PlanInputs {
                        properties: inputs.properties,
                        identifier_action: inputs.identifier_action,
                        values: &values,
                    })
                }
            },
            token,
            aliases: r.aliases.clone(),
            shadow: r.shadow,
        });
    }
    routes
}

fn route_token(r: &super::file::RouteFile, i: usize, errors: &mut Errors) -> Option<super::Secret> {
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
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => Some(super::Secret(value.trim().to_owned())),
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
