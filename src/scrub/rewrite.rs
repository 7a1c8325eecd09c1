//! Rewrites one complete event: walks its JSON once, copying untouched spans as slices and
//! writing only what changes (dropped members, pseudonyms, truncated IPs, redacted text,
//! members the vendor needs). Strict: anything that is not JSON is an error, never passed on.

use super::hash::{PseudonymCache, PseudonymKey};
use super::ip::{self, Truncation};
use super::json::{self, StringToken};
use super::keys::{normalize_into, with_thread_cache, KeyVerdict};
use super::plan::Ensured;
use super::plan::{EventPlan, FieldAction, NodeId, PropertyMode, ROOT};
use super::report::{FieldOutcome, Report, RuleKind};
use super::values::UserAgentMode;
use super::ScrubError;

/// Nesting allowed inside one request body, counting the envelope.
pub const DEFAULT_MAX_DEPTH: usize = 32;

/// What a request contributes to every event: the client's address and the secrets to use.
#[derive(Clone, Debug)]
pub struct ScrubEnv {
    /// Truncation of IP fields; `None` removes them (or writes the vendor's placeholder).
    pub truncation: Option<Truncation>,
    /// The truncated client address, as text, written where the vendor expects an IP.
    pub client_ip: Option<String>,
    pub pseudonym_key: PseudonymKey,
    pub max_depth: usize,
}

/// Buffers reused across events so the hot path does not allocate per field.
#[derive(Debug, Default)]
pub struct Buffers {
    pseudonyms: PseudonymCache,
    key: Vec<u8>,
    normalized: Vec<u8>,
    text: Vec<u8>,
    value: Vec<u8>,
    tmp: Vec<u8>,
}

/// What became of one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventWritten {
    /// Bytes of input the event took.
    pub len: usize,
    /// False when the rules removed the event whole (its output must be discarded).
    pub kept: bool,
}

/// Rewrites the event (one JSON object) that starts `input` into `out` and returns where it
/// ends; what follows it is not looked at. An event cut short by the end of `input` is an
/// error here: the framer decides whether more bytes are coming.
pub fn rewrite_event(
    plan: &EventPlan,
    env: &ScrubEnv,
    input: &[u8],
    out: &mut Vec<u8>,
    bufs: &mut Buffers,
    report: &mut Report,
) -> Result<EventWritten, ScrubError> {
    let start = json::skip_ws(input, 0);
    if input.get(start) != Some(&b'{') {
        return Err(ScrubError::UnexpectedShape);
    }
    let mut walk = Walk {
        input,
        out,
        span_start: 0,
        plan,
        env,
        bufs,
        report,
        dropped: false,
    };
    // A plan may make the root itself a container (a gtag hit is all properties).
    let end = walk.object(start, Some(ROOT), plan.node(ROOT).container, 1)?;
    // Checked after the walk, which only ever splits at ASCII bytes: one pass over the event.
    simdutf8::basic::from_utf8(&input[..end]).map_err(|_| ScrubError::InvalidUtf8)?;
    walk.flush_to(end);
    Ok(EventWritten {
        len: end,
        kept: !walk.dropped,
    })
}

struct Walk<'a> {
    input: &'a [u8],
    out: &'a mut Vec<u8>,
    /// Input before this offset is already written (or deliberately left out).
    span_start: usize,
    plan: &'a EventPlan,
    env: &'a ScrubEnv,
    bufs: &'a mut Buffers,
    report: &'a mut Report,
    /// The event's name is on the drop list.
    dropped: bool,
}

/// Per-object bookkeeping for removing members without leaving stray commas.
struct ObjectFrame {
    kept_any: bool,
    last_kept_end: usize,
    skip_next_comma: bool,
    seen_ensures: u64,
}

enum Decision {
    Apply(FieldAction),
    Descend,
}

impl Walk<'_> {
    #[inline]
    fn flush_to(&mut self, pos: usize) {
        if pos > self.span_start {
            self.out
                .extend_from_slice(&self.input[self.span_start..pos]);
            self.span_start = pos;
        }
    }

    fn value(
        &mut self,
        i: usize,
        node: Option<NodeId>,
        in_container: bool,
        depth: usize,
    ) -> Result<usize, ScrubError> {
        match self.input.get(i) {
            Some(b'{') => self.object(i, node, in_container, depth + 1),
            Some(b'[') => self.array(i, node, in_container, depth + 1),
            Some(b'"') => self.string_value(i),
            Some(b'-' | b'0'..=b'9') => json::number_end(self.input, i),
            Some(b't' | b'f' | b'n') => json::literal_end(self.input, i),
            _ => Err(ScrubError::MalformedJson),
        }
    }

    /// Validates and skips a value that is dropped or kept verbatim.
    fn skip_value(&mut self, i: usize, depth: usize) -> Result<usize, ScrubError> {
        match self.input.get(i) {
            Some(b'{') | Some(b'[') => self.skip_container(i, depth + 1),
            Some(b'"') => Ok(json::string_at(self.input, i)?.end),
            Some(b'-' | b'0'..=b'9') => json::number_end(self.input, i),
            Some(b't' | b'f' | b'n') => json::literal_end(self.input, i),
            _ => Err(ScrubError::MalformedJson),
        }
    }

    fn skip_container(&mut self, i: usize, depth: usize) -> Result<usize, ScrubError> {
        if depth > self.env.max_depth {
            return Err(ScrubError::TooDeep {
                limit: self.env.max_depth,
            });
        }
        let close = if self.input[i] == b'{' { b'}' } else { b']' };
        let is_object = close == b'}';
        let mut j = json::skip_ws(self.input, i + 1);
        if self.input.get(j) == Some(&close) {
            return Ok(j + 1);
        }
        loop {
            if is_object {
                if self.input.get(j) != Some(&b'"') {
                    return Err(ScrubError::MalformedJson);
                }
                j = json::skip_ws(self.input, json::string_at(self.input, j)?.end);
                if self.input.get(j) != Some(&b':') {
                    return Err(ScrubError::MalformedJson);
                }
                j = json::skip_ws(self.input, j + 1);
            }
            j = json::skip_ws(self.input, self.skip_value(j, depth)?);
            match self.input.get(j) {
                Some(b',') => j = json::skip_ws(self.input, j + 1),
                Some(&c) if c == close => return Ok(j + 1),
                _ => return Err(ScrubError::MalformedJson),
            }
        }
    }

    fn array(
        &mut self,
        i: usize,
        node: Option<NodeId>,
        in_container: bool,
        depth: usize,
    ) -> Result<usize, ScrubError> {
        // Arrays are transparent to paths: `$transactions.card` names a member of each item.
        self.elements(i, depth, |walk, j| walk.value(j, node, in_container, depth))
    }

    /// Walks the elements of the array at `i` with `element`; returns the array's end.
    fn elements(
        &mut self,
        i: usize,
        depth: usize,
        mut element: impl FnMut(&mut Self, usize) -> Result<usize, ScrubError>,
    ) -> Result<usize, ScrubError> {
        if depth > self.env.max_depth {
            return Err(ScrubError::TooDeep {
                limit: self.env.max_depth,
            });
        }
        let mut j = json::skip_ws(self.input, i + 1);
        if self.input.get(j) == Some(&b']') {
            return Ok(j + 1);
        }
        loop {
            j = json::skip_ws(self.input, element(self, j)?);
            match self.input.get(j) {
                Some(b',') => j = json::skip_ws(self.input, j + 1),
                Some(b']') => return Ok(j + 1),
                _ => return Err(ScrubError::MalformedJson),
            }
        }
    }

    fn object(
        &mut self,
        i: usize,
        node: Option<NodeId>,
        in_container: bool,
        depth: usize,
    ) -> Result<usize, ScrubError> {
        if depth > self.env.max_depth {
            return Err(ScrubError::TooDeep {
                limit: self.env.max_depth,
            });
        }
        let mut frame = ObjectFrame {
            kept_any: false,
            last_kept_end: 0,
            skip_next_comma: false,
            seen_ensures: 0,
        };
        let mut j = json::skip_ws(self.input, i + 1);
        if self.input.get(j) == Some(&b'}') {
            self.write_missing_ensures(node, &mut frame, j);
            return Ok(j + 1);
        }
        loop {
            j = self.member(j, node, in_container, depth, &mut frame)?;
            j = json::skip_ws(self.input, j);
            match self.input.get(j) {
                Some(b',') => {
                    if frame.skip_next_comma {
                        self.flush_to(j);
                        self.span_start = j + 1;
                        frame.skip_next_comma = false;
                    }
                    j = json::skip_ws(self.input, j + 1);
                }
                Some(b'}') => {
                    self.write_missing_ensures(node, &mut frame, j);
                    return Ok(j + 1);
                }
                _ => return Err(ScrubError::MalformedJson),
            }
        }
    }

    /// Handles one `"key": value` member starting at `key_start`; returns the value's end.
    fn member(
        &mut self,
        key_start: usize,
        node: Option<NodeId>,
        in_container: bool,
        depth: usize,
        frame: &mut ObjectFrame,
    ) -> Result<usize, ScrubError> {
        if self.input.get(key_start) != Some(&b'"') {
            return Err(ScrubError::MalformedJson);
        }
        let key = json::string_at(self.input, key_start)?;
        let verdict = self.key_verdict(key, node)?;
        let colon = json::skip_ws(self.input, key.end);
        if self.input.get(colon) != Some(&b':') {
            return Err(ScrubError::MalformedJson);
        }
        let value_start = json::skip_ws(self.input, colon + 1);
        let child = verdict.child;
        if let Some(k) = verdict.ensured {
            frame.seen_ensures |= 1 << k;
        }
        let decision = if verdict.email {
            // An address used as a key (`{"jane@example.com": true}`) cannot stay.
            Decision::Apply(FieldAction::Drop(RuleKind::EmailValue))
        } else {
            self.decide(child, in_container, verdict.matched)
        };
        let end = match decision {
            Decision::Apply(FieldAction::Drop(rule)) => {
                let end = self.skip_value(value_start, depth)?;
                self.drop_member(key_start, end, frame);
                self.report.count(rule, FieldOutcome::Dropped);
                return Ok(end);
            }
            // Structural vendor fields escape the key rules, not the value rules; and should
            // one hold an object (a misspelled or hostile `Token`), its members get the key
            // rules like any property.
            Decision::Apply(FieldAction::Keep) => self.value(value_start, child, true, depth)?,
            Decision::Apply(FieldAction::Hash) => self.hash_value(value_start, depth)?,
            Decision::Apply(FieldAction::Reject) => return Err(ScrubError::UnexpectedShape),
            Decision::Apply(FieldAction::UserAgent) => {
                match self.user_agent(value_start, child, depth)? {
                    Some(end) => end,
                    None => {
                        let end = self.skip_value(value_start, depth)?;
                        self.drop_member(key_start, end, frame);
                        self.report
                            .count(RuleKind::UserAgent, FieldOutcome::Dropped);
                        return Ok(end);
                    }
                }
            }
            Decision::Apply(FieldAction::EventName) => {
                self.check_event_name(value_start)?;
                self.value(value_start, child, true, depth)?
            }
            Decision::Apply(FieldAction::JsonString) => {
                let container = in_container || child.is_some_and(|c| self.plan.node(c).container);
                self.json_string(value_start, child, container, depth, false)?
            }
            Decision::Apply(FieldAction::NamedPairs) => self.named_pairs(value_start, depth)?,
            Decision::Apply(FieldAction::Base64JsonString) => {
                let container = in_container || child.is_some_and(|c| self.plan.node(c).container);
                self.json_string(value_start, child, container, depth, true)?
            }
            Decision::Apply(FieldAction::VendorIp) => match self.vendor_ip(value_start, depth)? {
                Some(end) => end,
                None => {
                    let end = self.skip_value(value_start, depth)?;
                    self.drop_member(key_start, end, frame);
                    self.report.count(RuleKind::IpField, FieldOutcome::Dropped);
                    return Ok(end);
                }
            },
            Decision::Descend => {
                let child_container =
                    in_container || child.is_some_and(|c| self.plan.node(c).container);
                let wants_object =
                    child.is_some_and(|c| self.plan.node(c).ensured == Some(Ensured::Object));
                if wants_object && self.input.get(value_start) != Some(&b'{') {
                    let end = self.skip_value(value_start, depth)?;
                    self.flush_to(value_start);
                    self.write_ensured(child.unwrap_or(ROOT));
                    self.span_start = end;
                    end
                } else {
                    self.value(value_start, child, child_container, depth)?
                }
            }
        };
        frame.kept_any = true;
        frame.last_kept_end = end;
        Ok(end)
    }

    /// A user-agent field per `values.user_agent`; `None` when the member must go (dropping,
    /// or nothing coarse can be made of it).
    fn user_agent(
        &mut self,
        i: usize,
        node: Option<NodeId>,
        depth: usize,
    ) -> Result<Option<usize>, ScrubError> {
        match self.plan.values.user_agent {
            UserAgentMode::Keep => return self.value(i, node, true, depth).map(Some),
            UserAgentMode::Drop => return Ok(None),
            UserAgentMode::Coarse => {}
        }
        if self.input.get(i) != Some(&b'"') {
            return Ok(None);
        }
        let tok = json::string_at(self.input, i)?;
        let text = tok.text(self.input, &mut self.bufs.text)?;
        let (out, before) = (&mut *self.out, &self.input[self.span_start..tok.start]);
        let written = super::user_agent::with_coarse(text, |coarse| {
            let coarse = coarse?;
            // `flush_to` by hand: `text` borrows `self.bufs`.
            out.extend_from_slice(before);
            json::write_string(coarse, out);
            Some(())
        });
        if written.is_none() {
            return Ok(None);
        }
        self.span_start = tok.end;
        self.report
            .count(RuleKind::UserAgent, FieldOutcome::Coarsened);
        Ok(Some(tok.end))
    }

    fn check_event_name(&mut self, i: usize) -> Result<(), ScrubError> {
        if self.plan.drop_events.is_empty() || self.input.get(i) != Some(&b'"') {
            return Ok(());
        }
        let tok = json::string_at(self.input, i)?;
        let name: &[u8] = if tok.has_escape {
            json::unescape_into(tok.raw(self.input), &mut self.bufs.text)?;
            &self.bufs.text
        } else {
            tok.raw(self.input)
        };
        if self.plan.drop_events.iter().any(|d| **d == *name) {
            self.dropped = true;
        }
        Ok(())
    }

    fn key_is_email(&self, key: &[u8]) -> bool {
        if self.plan.values.email_marker.is_none() {
            return false;
        }
        let cue = memchr::memchr2(b'@', b'%', key).is_some();
        cue && super::values::contains_email(key)
    }

    /// `matched`: the key matches the operator's list for the current mode.
    fn decide(&self, child: Option<NodeId>, in_container: bool, matched: bool) -> Decision {
        if let Some(action) = child.and_then(|c| self.plan.node(c).action) {
            return Decision::Apply(action);
        }
        if !in_container {
            return Decision::Descend;
        }
        match self.plan.mode {
            PropertyMode::Deny if matched => {
                Decision::Apply(FieldAction::Drop(RuleKind::PropertyDeny))
            }
            PropertyMode::Allow if child.is_none() && !matched => {
                Decision::Apply(FieldAction::Drop(RuleKind::PropertyAllow))
            }
            _ => Decision::Descend,
        }
    }

    /// What the rules and the plan make of `key` as a member of `node`. Plain keys go
    /// through the thread's key cache.
    fn key_verdict(
        &mut self,
        key: StringToken,
        node: Option<NodeId>,
    ) -> Result<KeyVerdict, ScrubError> {
        let raw = key.raw(self.input);
        if key.has_escape {
            return self.judge_key(key, node);
        }
        let plan = self.plan.id;
        if let Some(verdict) = with_thread_cache(|cache| cache.get(plan, node, raw)) {
            return Ok(verdict);
        }
        let verdict = self.judge_key(key, node)?;
        with_thread_cache(|cache| cache.put(plan, node, raw, verdict));
        Ok(verdict)
    }

    fn judge_key(
        &mut self,
        key: StringToken,
        node: Option<NodeId>,
    ) -> Result<KeyVerdict, ScrubError> {
        let raw = key.raw(self.input);
        let text: &[u8] = if key.has_escape {
            json::unescape_into(raw, &mut self.bufs.key)?;
            &self.bufs.key
        } else {
            raw
        };
        let email = self.key_is_email(text);
        let normalized = &mut self.bufs.normalized;
        normalize_into(text, normalized);
        let rules = match self.plan.mode {
            PropertyMode::Deny => &self.plan.deny,
            PropertyMode::Allow => &self.plan.allow,
        };
        let matched = rules.matches_name(normalized);
        let child = node.and_then(|n| self.plan.child(n, normalized));
        // Only the vendor's exact spelling satisfies an ensured member: PostHog reads `$ip`,
        // not a custom property `ip` that normalizes the same.
        let ensured = match (node, child) {
            (Some(parent), Some(c)) => self
                .plan
                .node(parent)
                .ensures
                .iter()
                .position(|&(name, id)| id == c && name.as_bytes() == raw)
                .map(|k| k as u8),
            _ => None,
        };
        Ok(KeyVerdict {
            matched,
            email,
            child,
            ensured,
        })
    }

    fn drop_member(&mut self, key_start: usize, end: usize, frame: &mut ObjectFrame) {
        if frame.kept_any {
            // Remove `, "key": value` from the end of the last kept member.
            self.flush_to(frame.last_kept_end);
        } else {
            // Nothing kept yet: remove `"key": value` and the comma that follows it.
            self.flush_to(key_start);
            frame.skip_next_comma = true;
        }
        self.span_start = self.span_start.max(end);
    }

    /// Writes `text` as a JSON string in place of the input `start..end`.
    fn replace_with_string(&mut self, start: usize, end: usize, text: &[u8]) {
        self.flush_to(start);
        json::write_string(text, self.out);
        self.span_start = end;
    }

    fn string_value(&mut self, i: usize) -> Result<usize, ScrubError> {
        let tok = json::string_at(self.input, i)?;
        let text = tok.text(self.input, &mut self.bufs.text)?;
        let changed =
            self.plan
                .values
                .scrub(text, &mut self.bufs.value, &mut self.bufs.tmp, self.report);
        if changed {
            let value = std::mem::take(&mut self.bufs.value);
            self.replace_with_string(tok.start, tok.end, &value);
            self.bufs.value = value;
        }
        Ok(tok.end)
    }

    /// A member whose string value is JSON: scrub the decoded JSON as if it stood here, then
    /// write it back as a string. JSON that does not parse fails the request (fail closed).
    fn json_string(
        &mut self,
        i: usize,
        node: Option<NodeId>,
        in_container: bool,
        depth: usize,
        base64: bool,
    ) -> Result<usize, ScrubError> {
        if self.input.get(i) != Some(&b'"') {
            return self.value(i, node, in_container, depth);
        }
        let tok = json::string_at(self.input, i)?;
        let mut decoded = Vec::new();
        json::unescape_into(tok.raw(self.input), &mut decoded)?;
        if base64 {
            // Not base64 where base64 JSON belongs: nothing a rule could read, so refused.
            decoded =
                crate::decode::transform_all(&mut crate::decode::Base64Decoder::new(), &decoded)
                    .map_err(|_| ScrubError::UnexpectedShape)?;
            std::str::from_utf8(&decoded).map_err(|_| ScrubError::InvalidUtf8)?;
        }
        let start = json::skip_ws(&decoded, 0);
        if !matches!(decoded.get(start), Some(b'{' | b'[')) {
            if base64 {
                return Err(ScrubError::UnexpectedShape);
            }
            // Plain text where JSON may stand: value rules as for any string.
            return self.string_value(i);
        }
        let mut nested_out = Vec::with_capacity(decoded.len());
        let mut nested_bufs = Buffers::default();
        let mut nested = Walk {
            input: &decoded,
            out: &mut nested_out,
            span_start: 0,
            plan: self.plan,
            env: self.env,
            bufs: &mut nested_bufs,
            report: self.report,
            dropped: false,
        };
        let end = nested.value(start, node, in_container, depth)?;
        if json::skip_ws(&decoded, end) != decoded.len() {
            return Err(ScrubError::MalformedJson);
        }
        nested.flush_to(decoded.len());
        if base64 {
            nested_out = crate::decode::transform_all(
                &mut crate::decode::Base64Encoder::url_safe_no_pad(),
                &nested_out,
            )
            .map_err(|_| ScrubError::UnexpectedShape)?;
        }
        self.replace_with_string(tok.start, tok.end, &nested_out);
        Ok(tok.end)
    }

    fn named_pairs(&mut self, i: usize, depth: usize) -> Result<usize, ScrubError> {
        if self.input.get(i) != Some(&b'"') {
            return self.value(i, None, true, depth);
        }
        let tok = json::string_at(self.input, i)?;
        let mut decoded = Vec::new();
        json::unescape_into(tok.raw(self.input), &mut decoded)?;
        if decoded.iter().all(u8::is_ascii_whitespace) {
            return Ok(tok.end);
        }
        // A handful of pairs in a query parameter: parsed whole, nothing of a hot path.
        let mut pairs: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&decoded).map_err(|_| ScrubError::UnexpectedShape)?;
        let mut normalized = Vec::new();
        let (mut out, mut tmp) = (Vec::new(), Vec::new());
        pairs.retain(|_, pair| {
            let Some([serde_json::Value::String(name), value]) =
                pair.as_array_mut().map(Vec::as_mut_slice)
            else {
                return false;
            };
            normalize_into(name.as_bytes(), &mut normalized);
            let denied = match self.plan.mode {
                PropertyMode::Deny => self.plan.deny.matches(&normalized),
                PropertyMode::Allow => !self.plan.allow.matches(&normalized),
            };
            if denied {
                self.report
                    .count(RuleKind::PropertyDeny, FieldOutcome::Dropped);
                return false;
            }
            if let serde_json::Value::String(text) = value {
                if self
                    .plan
                    .values
                    .scrub(text.as_bytes(), &mut out, &mut tmp, self.report)
                {
                    *text = String::from_utf8_lossy(&out).into_owned();
                }
            }
            true
        });
        let text = serde_json::to_vec(&pairs).map_err(|_| ScrubError::MalformedJson)?;
        self.replace_with_string(tok.start, tok.end, &text);
        Ok(tok.end)
    }

    /// Identifiers become keyed pseudonyms; `null` stays; anything else is not an id and goes.
    fn hash_value(&mut self, i: usize, depth: usize) -> Result<usize, ScrubError> {
        let (end, id_text): (usize, &[u8]) = match self.input.get(i) {
            Some(b'"') => {
                let tok = json::string_at(self.input, i)?;
                (tok.end, tok.text(self.input, &mut self.bufs.text)?)
            }
            Some(b'-' | b'0'..=b'9') => {
                let end = json::number_end(self.input, i)?;
                (end, &self.input[i..end])
            }
            Some(b'n') => return json::literal_end(self.input, i),
            Some(b'[') => return self.hash_array(i, depth + 1),
            _ => {
                let end = self.skip_value(i, depth)?;
                self.flush_to(i);
                self.out.extend_from_slice(b"null");
                self.span_start = end;
                self.report
                    .count(RuleKind::Identifier, FieldOutcome::Dropped);
                return Ok(end);
            }
        };
        if id_text.is_empty() {
            return Ok(end);
        }
        let mut pseudonym = std::mem::take(&mut self.bufs.tmp);
        pseudonym.clear();
        self.bufs
            .pseudonyms
            .pseudonym_into(&self.env.pseudonym_key, id_text, &mut pseudonym);
        self.replace_with_string(i, end, &pseudonym);
        self.bufs.tmp = pseudonym;
        self.report
            .count(RuleKind::Identifier, FieldOutcome::Hashed);
        Ok(end)
    }

    /// A list of identifiers (Mixpanel `$distinct_ids`): each element becomes a pseudonym.
    fn hash_array(&mut self, i: usize, depth: usize) -> Result<usize, ScrubError> {
        self.elements(i, depth, |walk, j| walk.hash_value(j, depth))
    }

    /// The vendor's IP field. Returns `None` when the member must go (IPs removed, no
    /// placeholder for this vendor).
    fn vendor_ip(&mut self, i: usize, depth: usize) -> Result<Option<usize>, ScrubError> {
        let end = self.skip_value(i, depth)?;
        if let (Some(t), Some(b'"')) = (self.env.truncation, self.input.get(i)) {
            let tok = json::string_at(self.input, i)?;
            if !tok.has_escape {
                if let Some(addr) = ip::parse_whole(tok.raw(self.input)) {
                    let mut text = std::mem::take(&mut self.bufs.tmp);
                    text.clear();
                    ip::write_ip(t.apply(addr), &mut text);
                    self.replace_with_string(i, end, &text);
                    self.bufs.tmp = text;
                    self.report
                        .count(RuleKind::IpField, FieldOutcome::Truncated);
                    return Ok(Some(end));
                }
            }
        }
        // Not an address (`$remote`, a number, garbage, or IPs are off): the client's own
        // truncated address or the placeholder takes its place, never the sender's value.
        let Some(text) = self.client_ip_text() else {
            return Ok(None);
        };
        let text = text.to_owned();
        self.replace_with_string(i, end, text.as_bytes());
        self.report
            .count(RuleKind::IpField, FieldOutcome::Truncated);
        Ok(Some(end))
    }

    fn client_ip_text(&self) -> Option<&str> {
        match (&self.env.truncation, &self.env.client_ip) {
            (Some(_), Some(ip)) => Some(ip),
            _ => self.plan.no_ip_placeholder,
        }
    }

    fn write_missing_ensures(
        &mut self,
        node: Option<NodeId>,
        frame: &mut ObjectFrame,
        close: usize,
    ) {
        let Some(node) = node else { return };
        let count = self.plan.node(node).ensures.len();
        for k in 0..count {
            if frame.seen_ensures & (1 << k) != 0 {
                continue;
            }
            let (key, child) = self.plan.node(node).ensures[k];
            if self.ensured_skipped(child) {
                continue;
            }
            self.flush_to(close);
            if frame.kept_any {
                self.out.push(b',');
            }
            json::write_string(key.as_bytes(), self.out);
            self.out.push(b':');
            self.write_ensured(child);
            frame.kept_any = true;
            self.report.count(RuleKind::IpField, FieldOutcome::Injected);
        }
    }

    /// Whether an ensured member is left out under the current settings.
    fn ensured_skipped(&self, node: NodeId) -> bool {
        match self.plan.node(node).ensured {
            Some(Ensured::ClientIp) => self.client_ip_text().is_none(),
            Some(Ensured::TrueWithoutIp) => self.env.truncation.is_some(),
            _ => false,
        }
    }

    /// Writes the value a vendor needs at `node` (an IP, or an object of ensured members).
    fn write_ensured(&mut self, node: NodeId) {
        match self.plan.node(node).ensured {
            Some(Ensured::ClientIp) => {
                let text = self.client_ip_text().unwrap_or("").to_owned();
                json::write_string(text.as_bytes(), self.out);
            }
            Some(Ensured::TrueWithoutIp) => self.out.extend_from_slice(b"true"),
            _ => {
                self.out.push(b'{');
                let mut first = true;
                for k in 0..self.plan.node(node).ensures.len() {
                    let (key, child) = self.plan.node(node).ensures[k];
                    if self.ensured_skipped(child) {
                        continue;
                    }
                    if !first {
                        self.out.push(b',');
                    }
                    first = false;
                    json::write_string(key.as_bytes(), self.out);
                    self.out.push(b':');
                    self.write_ensured(child);
                }
                self.out.push(b'}');
            }
        }
    }
}
