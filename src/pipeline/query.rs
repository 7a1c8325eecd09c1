//! Events carried as query strings: request queries (Snowplow and Matomo hits, `data=`
//! parameters) and bodies made of them (a form holding one event, Matomo's bulk JSON).

use std::sync::Arc;

use crate::decode::{Base64Decoder, Base64Encoder, PercentDecoder, PercentEncoder};
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
        // Bulk: small by nature (a page of hits), so parsed whole, within the decoded limit.
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

fn percent_decoded(text: &str) -> Result<Vec<u8>, PipelineError> {
    Ok(crate::decode::transform_all(
        &mut PercentDecoder::new(true),
        text.as_bytes(),
    )?)
}

pub(crate) fn percent_encoded(bytes: &[u8]) -> Result<String, PipelineError> {
    let encoded = crate::decode::transform_all(&mut PercentEncoder::form(), bytes)?;
    // The encoder writes ASCII only.
    String::from_utf8(encoded).map_err(|_| ScrubError::InvalidUtf8.into())
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
    let mut params = Vec::new();
    for param in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = param.split_once('=').unwrap_or((param, ""));
        let value = percent_decoded(value)?;
        std::str::from_utf8(&value).map_err(|_| ScrubError::InvalidUtf8)?;
        params.push((percent_decoded(name)?, value));
    }
    let object = match names {
        QueryNames::Flat => {
            let members = params.into_iter().map(|(n, v)| (n, Member::Text(v)));
            json_object(&members.collect::<Vec<_>>())
        }
        QueryNames::Dotted => json_object(&nested(params, &plan.event.values, limits.max_depth)?),
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
        QueryNames::Flat => flat_pairs(&scrubbed)?,
        QueryNames::Dotted => dotted_pairs(&scrubbed)?,
    };
    let mut out = String::with_capacity(query.len());
    for (name, value) in pairs {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(&percent_encoded(name.as_bytes())?);
        out.push('=');
        out.push_str(&percent_encoded(value.as_bytes())?);
    }
    Ok((out, scrubber.report().clone()))
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

/// A member of a query-string event: a parameter's text, or the members under a dotted
/// name's first part.
enum Member {
    Text(Vec<u8>),
    Object(Vec<(Vec<u8>, Member)>),
}

/// The parameters as nested members: `a.b=1&a.c=2` is `{"a":{"b":"1","c":"2"}}`. A name
/// used both as a value and as a parent (`a=1&a.b=2`) is refused: the vendor would keep
/// one of them, and which one is not ours to guess. A name with an empty part stays whole,
/// and so does a name that holds personal data (`jane.doe@example.com`, whose parts alone
/// are no address): whole, the key rules see it and drop it.
fn nested(
    params: Vec<(Vec<u8>, Vec<u8>)>,
    values: &crate::scrub::ValueRules,
    max_depth: usize,
) -> Result<Vec<(Vec<u8>, Member)>, PipelineError> {
    let mut root: Vec<(Vec<u8>, Member)> = Vec::new();
    for (name, value) in params {
        let mut parts: Vec<&[u8]> = name.split(|&c| c == b'.').collect();
        if parts.len() > 1
            && (parts.iter().any(|p| p.is_empty())
                || crate::scrub::name_holds_personal_data(values, &name))
        {
            parts = vec![&name];
        }
        // Checked before anything is built: writing and dropping the members recurse.
        if parts.len() >= max_depth {
            return Err(ScrubError::TooDeep { limit: max_depth }.into());
        }
        let (leaf, parents) = parts.split_last().expect("split yields a part");
        let mut members = &mut root;
        for part in parents {
            let at = match members.iter().position(|(n, _)| n.as_slice() == *part) {
                Some(at) => at,
                None => {
                    members.push((part.to_vec(), Member::Object(Vec::new())));
                    members.len() - 1
                }
            };
            members = match &mut members[at].1 {
                Member::Object(children) => children,
                Member::Text(_) => return Err(ScrubError::UnexpectedShape.into()),
            };
        }
        if members
            .iter()
            .any(|(n, m)| n.as_slice() == *leaf && matches!(m, Member::Object(_)))
        {
            return Err(ScrubError::UnexpectedShape.into());
        }
        members.push((leaf.to_vec(), Member::Text(value)));
    }
    Ok(root)
}

fn json_object(members: &[(Vec<u8>, Member)]) -> Vec<u8> {
    let mut out = Vec::new();
    write_members(members, &mut out);
    out
}

fn write_members(members: &[(Vec<u8>, Member)], out: &mut Vec<u8>) {
    out.push(b'{');
    for (i, (name, member)) in members.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        crate::scrub::write_json_string(name, out);
        out.push(b':');
        match member {
            Member::Text(text) => crate::scrub::write_json_string(text, out),
            Member::Object(children) => write_members(children, out),
        }
    }
    out.push(b'}');
}

/// The members of a scrubbed nested event as dotted names again, in order and repeats
/// included, objects flattened (what the proxy wrote, `context.ip`, among them).
fn dotted_pairs(object: &[u8]) -> Result<Vec<(String, String)>, PipelineError> {
    use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

    struct Flatten<'a> {
        name: String,
        out: &'a mut Vec<(String, String)>,
    }
    impl<'de> DeserializeSeed<'de> for Flatten<'_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }
    impl Flatten<'_> {
        fn text(self, text: String) {
            self.out.push((self.name, text));
        }
    }
    impl<'de> Visitor<'de> for Flatten<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an event")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(key) = map.next_key::<String>()? {
                let name = match self.name.is_empty() {
                    true => key,
                    false => format!("{}.{key}", self.name),
                };
                map.next_value_seed(Flatten {
                    name,
                    out: &mut *self.out,
                })?;
            }
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element::<serde_json::Value>()? {
                items.push(item);
            }
            self.text(serde_json::Value::Array(items).to_string());
            Ok(())
        }
        fn visit_str<E>(self, v: &str) -> Result<(), E> {
            self.text(v.to_owned());
            Ok(())
        }
        fn visit_string<E>(self, v: String) -> Result<(), E> {
            self.text(v);
            Ok(())
        }
        fn visit_bool<E>(self, v: bool) -> Result<(), E> {
            self.text(v.to_string());
            Ok(())
        }
        fn visit_i64<E>(self, v: i64) -> Result<(), E> {
            self.text(v.to_string());
            Ok(())
        }
        fn visit_u64<E>(self, v: u64) -> Result<(), E> {
            self.text(v.to_string());
            Ok(())
        }
        fn visit_f64<E>(self, v: f64) -> Result<(), E> {
            self.text(serde_json::Value::from(v).to_string());
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            self.text("null".to_owned());
            Ok(())
        }
    }

    if object.first() != Some(&b'{') {
        return Err(ScrubError::MalformedJson.into());
    }
    let mut pairs = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(object);
    Flatten {
        name: String::new(),
        out: &mut pairs,
    }
    .deserialize(&mut de)
    .and_then(|()| de.end())
    .map_err(|_| ScrubError::MalformedJson)?;
    Ok(pairs)
}

/// The members of a flat JSON object, in order, with every value as text.
fn flat_pairs(object: &[u8]) -> Result<Vec<(String, String)>, PipelineError> {
    struct Pairs;
    impl<'de> serde::de::Visitor<'de> for Pairs {
        type Value = Vec<(String, String)>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a flat object")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut pairs = Vec::new();
            while let Some((k, v)) = map.next_entry::<String, serde_json::Value>()? {
                let text = match v {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                };
                pairs.push((k, text));
            }
            Ok(pairs)
        }
    }
    let mut de = serde_json::Deserializer::from_slice(object);
    serde::de::Deserializer::deserialize_map(&mut de, Pairs)
        .map_err(|_| ScrubError::MalformedJson.into())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn nested_json(query: &[(&str, &str)]) -> Result<String, PipelineError> {
        let params = query
            .iter()
            .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect();
        let values = crate::scrub::ValueRules::every_rule(None);
        Ok(String::from_utf8(json_object(&nested(params, &values, 32)?)).unwrap())
    }

    #[test]
    fn dotted_names_nest_and_flatten_back() {
        let params = [
            ("event", "Signup"),
            ("context.page.url", "https://a.example/"),
            ("context.ip", "1.2.3.4"),
            ("properties.plan", "pro"),
            ("a..b", "whole"),
            ("jane.doe@example.com", ""),
            ("properties.jane.doe@example.com", "1"),
        ];
        let json = nested_json(&params).unwrap();
        assert_eq!(
            json,
            r#"{"event":"Signup","context":{"page":{"url":"https://a.example/"},"ip":"1.2.3.4"},"properties":{"plan":"pro"},"a..b":"whole","jane.doe@example.com":"","properties.jane.doe@example.com":"1"}"#
        );
        // Back as they came: nothing lost, renamed or reordered within a parent.
        let pairs = dotted_pairs(json.as_bytes()).unwrap();
        assert_eq!(pairs, params.map(|(n, v)| (n.to_owned(), v.to_owned())));
    }

    #[test]
    fn repeated_names_stay_in_order_and_deep_ones_are_refused() {
        let json = nested_json(&[("p.tag", "a"), ("p.tag", "b"), ("n", "1")]).unwrap();
        let pairs = dotted_pairs(json.as_bytes()).unwrap();
        let want = [("p.tag", "a"), ("p.tag", "b"), ("n", "1")];
        assert_eq!(pairs, want.map(|(n, v)| (n.to_owned(), v.to_owned())));
        let flattened = dotted_pairs(br#"{"a":{"b":[1,"x"],"c":null,"d":1.5,"e":true}}"#);
        let want = [
            ("a.b", r#"[1,"x"]"#),
            ("a.c", "null"),
            ("a.d", "1.5"),
            ("a.e", "true"),
        ];
        assert_eq!(
            flattened.unwrap(),
            want.map(|(n, v)| (n.to_owned(), v.to_owned()))
        );
        let deep = "a.".repeat(40) + "b";
        assert!(nested_json(&[(&deep, "1")]).is_err());
    }

    #[test]
    fn a_name_both_value_and_parent_is_refused() {
        for query in [
            &[("context", "x"), ("context.ip", "1.2.3.4")][..],
            &[("context.ip", "1.2.3.4"), ("context", "x")][..],
            &[("a.b", "1"), ("a.b.c", "2")][..],
            &[("a.b.c", "2"), ("a.b", "1")][..],
        ] {
            assert!(nested_json(query).is_err(), "{query:?}");
        }
    }
}
