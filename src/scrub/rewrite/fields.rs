//! The members vendors give meaning to, each with its own rewrite: identifiers become
//! pseudonyms, IP fields the truncated address, user agents their coarse form, JSON (or
//! base64 JSON) carried in strings is scrubbed where it stands, named pairs (Matomo's custom
//! variables, `{"1":["email","jane@..."]}`) by their name, and members a vendor needs are
//! written when absent. The walk itself (`super`) decides which applies.

use super::*;
use crate::scrub::{hash, plan::IdShape};

impl Walk<'_> {
    /// A user-agent field per `values.user_agent`; `None` when the member must go (dropping,
    /// or nothing coarse can be made of it).
    pub(super) fn user_agent(
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
        match self.input.get(i) {
            Some(b'{') => return self.client_hints_object(i, depth),
            Some(b'"') => {}
            _ => return Ok(None),
        }
        let tok = json::string_at(self.input, i)?;
        let text = tok.text(self.input, &mut self.bufs.text)?;
        if text.first() == Some(&b'{') {
            // Client hints carried as a JSON string (Matomo's `uadata`).
            let mut reduced = std::mem::take(&mut self.bufs.value);
            let kept = crate::scrub::user_agent::reduce_client_hints(text, &mut reduced);
            if kept {
                self.replace_with_string(tok.start, tok.end, &reduced);
                self.report
                    .count(RuleKind::UserAgent, FieldOutcome::Coarsened);
            }
            self.bufs.value = reduced;
            return Ok(kept.then_some(tok.end));
        }
        let (out, before) = (&mut *self.out, &self.input[self.span_start..tok.start]);
        let written = crate::scrub::user_agent::with_coarse(text, |coarse| {
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

    /// Client hints as an object (Segment's `context.userAgentData`): reduced in place, or
    /// dropped when they are not an object after all.
    fn client_hints_object(&mut self, i: usize, depth: usize) -> Result<Option<usize>, ScrubError> {
        let end = self.skip_value(i, depth)?;
        let mut reduced = std::mem::take(&mut self.bufs.value);
        let kept = crate::scrub::user_agent::reduce_client_hints(&self.input[i..end], &mut reduced);
        if kept {
            self.flush_to(i);
            self.out.extend_from_slice(&reduced);
            self.span_start = end;
            self.report
                .count(RuleKind::UserAgent, FieldOutcome::Coarsened);
        }
        self.bufs.value = reduced;
        Ok(kept.then_some(end))
    }

    /// A referrer: its origin only (`https://www.google.com/`) when the rules say so; text
    /// that is not an absolute URL gets the value rules like any string.
    pub(super) fn referrer(
        &mut self,
        i: usize,
        node: Option<NodeId>,
        depth: usize,
    ) -> Result<usize, ScrubError> {
        if !self.plan.values.referrer_origin || self.input.get(i) != Some(&b'"') {
            return self.value(i, node, true, depth);
        }
        let tok = json::string_at(self.input, i)?;
        let text = tok.text(self.input, &mut self.bufs.text)?;
        let mut origin = std::mem::take(&mut self.bufs.value);
        if !crate::scrub::values::url_origin(text, &mut origin) {
            self.bufs.value = origin;
            return self.value(i, node, true, depth);
        }
        if origin.as_slice() != text {
            self.report
                .count(RuleKind::Referrer, FieldOutcome::Coarsened);
        }
        // The origin still meets the value rules (a host can be an address, or a name).
        let mut scrubbed = std::mem::take(&mut self.bufs.text);
        let kept = &origin;
        let rewritten =
            self.plan
                .values
                .scrub(kept, &mut scrubbed, &mut self.bufs.tmp, self.report);
        let written: &[u8] = if rewritten { &scrubbed } else { kept };
        if written != &self.input[tok.start + 1..tok.end - 1] || tok.has_escape {
            self.replace_with_string(tok.start, tok.end, written);
        }
        self.bufs.text = scrubbed;
        self.bufs.value = origin;
        Ok(tok.end)
    }

    pub(super) fn check_event_name(&mut self, i: usize) -> Result<(), ScrubError> {
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

    /// Any string value: when it carries a JSON object or array (`"{\"email\":...}"`), the
    /// JSON is walked as if it stood here, so its members meet the key rules as well as
    /// the value rules, and is written back as a string; anything else (text that only
    /// starts with a brace, JSON that does not parse) gets the value rules as text.
    pub(super) fn string_or_embedded_json(
        &mut self,
        i: usize,
        node: Option<NodeId>,
        in_container: bool,
        depth: usize,
    ) -> Result<usize, ScrubError> {
        let tok = json::string_at(self.input, i)?;
        let raw = tok.raw(self.input);
        if tok.end - tok.start - 2 > self.env.max_string_bytes {
            return self.string_token_value(tok);
        }
        let mut base64 = None;
        let mut decoded = Vec::new();
        if may_be_embedded_json(raw) {
            json::unescape_into(raw, &mut decoded)?;
        } else if let Some((text, form)) = may_be_base64(raw)
            .then(|| crate::scrub::values::whole_base64_text(raw))
            .flatten()
        {
            // Base64 of JSON (`eyJlbWFpbCI6...`): the JSON's names meet the key rules too.
            decoded = text;
            base64 = Some(form);
        }
        let start = json::skip_ws(&decoded, 0);
        let json_shaped = matches!(decoded.get(start), Some(b'{' | b'['));
        if !json_shaped || !self.is_whole_json(&decoded, start, depth) {
            return self.string_token_value(tok);
        }
        let nested_out = self.walk_embedded(&decoded, start, node, in_container, depth)?;
        if nested_out == decoded {
            // Nothing in the JSON changed; the value rules still read the string whole.
            return self.string_token_value(tok);
        }
        match base64 {
            Some(form) => {
                let mut encoded = Vec::with_capacity(nested_out.len() * 4 / 3 + 4);
                form.encode(&nested_out, &mut encoded);
                self.replace_with_string(tok.start, tok.end, &encoded);
            }
            None => self.replace_with_string(tok.start, tok.end, &nested_out),
        }
        Ok(tok.end)
    }

    /// A named pair's text value (Matomo's `_cvar`), scrubbed as a member's value would be,
    /// JSON carried in it included; `None` when the pair must go.
    fn pair_value(&mut self, text: &str, depth: usize) -> Result<Option<String>, ScrubError> {
        let mut literal = Vec::with_capacity(text.len() + 2);
        json::write_string(text.as_bytes(), &mut literal);
        let mut written = Vec::with_capacity(literal.len());
        let mut bufs = Buffers::default();
        let mut nested = Walk {
            input: &literal,
            out: &mut written,
            span_start: 0,
            plan: self.plan,
            env: self.env,
            bufs: &mut bufs,
            keys: self.keys,
            report: self.report,
            dropped: false,
            drop_pending: false,
            opted_out: false,
        };
        let end = nested.string_or_embedded_json(0, None, true, depth)?;
        if std::mem::take(&mut nested.drop_pending) {
            return Ok(None);
        }
        self.opted_out |= nested.opted_out;
        nested.flush_to(end);
        serde_json::from_slice::<String>(&written)
            .map(Some)
            .map_err(|_| ScrubError::MalformedJson)
    }

    /// Whether `decoded` from `start` is one JSON value and nothing else (within the depth
    /// limit): checked before the walk, which counts what it does as it goes.
    fn is_whole_json(&mut self, decoded: &[u8], start: usize, depth: usize) -> bool {
        let mut sink = Vec::new();
        let mut bufs = Buffers::default();
        let mut report = Report::default();
        let mut probe = Walk {
            input: decoded,
            out: &mut sink,
            span_start: 0,
            plan: self.plan,
            env: self.env,
            bufs: &mut bufs,
            keys: self.keys,
            report: &mut report,
            dropped: false,
            drop_pending: false,
            opted_out: false,
        };
        matches!(probe.skip_value(start, depth), Ok(end) if json::skip_ws(decoded, end) == decoded.len())
    }

    /// Walks the JSON in `decoded` (from `start`) with this walk's plan and returns what it
    /// wrote; drops and opt-outs inside it count for the member holding it.
    fn walk_embedded(
        &mut self,
        decoded: &[u8],
        start: usize,
        node: Option<NodeId>,
        in_container: bool,
        depth: usize,
    ) -> Result<Vec<u8>, ScrubError> {
        let mut nested_out = Vec::with_capacity(decoded.len());
        let mut nested_bufs = Buffers::default();
        let mut nested = Walk {
            input: decoded,
            out: &mut nested_out,
            span_start: 0,
            plan: self.plan,
            env: self.env,
            bufs: &mut nested_bufs,
            keys: self.keys,
            report: self.report,
            dropped: false,
            drop_pending: false,
            opted_out: false,
        };
        let end = nested.value(start, node, in_container, depth)?;
        self.opted_out |= nested.opted_out;
        if nested.drop_pending {
            // The string held one bare value that must go: so does the member holding it.
            self.drop_pending = true;
        }
        if json::skip_ws(decoded, end) != decoded.len() {
            return Err(ScrubError::MalformedJson);
        }
        nested.flush_to(decoded.len());
        Ok(nested_out)
    }

    /// A member whose string value is JSON: scrub the decoded JSON as if it stood here, then
    /// write it back as a string. JSON that does not parse fails the request (fail closed).
    pub(super) fn json_string(
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
        let mut nested_out = self.walk_embedded(&decoded, start, node, in_container, depth)?;
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

    /// A string of `[name, value]` pairs (see `FieldAction::NamedPairs`).
    // A handful of pairs in one query parameter's value: parsed as a tree.
    #[allow(clippy::disallowed_types)]
    pub(super) fn named_pairs(&mut self, i: usize, depth: usize) -> Result<usize, ScrubError> {
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
        let (mut out, mut tmp) = (Vec::new(), Vec::new());
        let mut failure = None;
        pairs.retain(|_, pair| {
            let Some([serde_json::Value::String(name), value]) =
                pair.as_array_mut().map(Vec::as_mut_slice)
            else {
                return false;
            };
            let denied = match self.plan.mode {
                PropertyMode::Deny => self.plan.deny.matches_key(name.as_bytes()),
                PropertyMode::Allow => !self.plan.allow.matches_key(name.as_bytes()),
            };
            if denied {
                self.report
                    .count(RuleKind::PropertyDeny, FieldOutcome::Dropped);
                return false;
            }
            if let serde_json::Value::String(text) = value {
                if may_be_embedded_json(text.as_bytes()) {
                    match self.pair_value(text, depth) {
                        Ok(Some(scrubbed)) => *text = scrubbed,
                        Ok(None) => return false,
                        Err(e) => {
                            failure = Some(e);
                            return false;
                        }
                    }
                    return true;
                }
                let change =
                    self.plan
                        .values
                        .scrub_member(text.as_bytes(), &mut out, &mut tmp, self.report);
                match change {
                    ValueChange::Unchanged => {}
                    ValueChange::Changed => *text = String::from_utf8_lossy(&out).into_owned(),
                    // A detector set to drop takes the pair, as it takes a member.
                    ValueChange::DropMember => return false,
                }
            }
            // A number is read as the integer it denotes, as a member's would be.
            if let serde_json::Value::Number(number) = value {
                let written = number.to_string();
                let change = self.plan.values.scrub_number(
                    written.as_bytes(),
                    &mut out,
                    &mut tmp,
                    self.report,
                );
                match change {
                    ValueChange::Unchanged => {}
                    ValueChange::Changed => {
                        *value =
                            serde_json::Value::String(String::from_utf8_lossy(&out).into_owned())
                    }
                    ValueChange::DropMember => return false,
                }
            }
            true
        });
        if let Some(e) = failure {
            return Err(e);
        }
        let text = serde_json::to_vec(&pairs).map_err(|_| ScrubError::MalformedJson)?;
        self.replace_with_string(tok.start, tok.end, &text);
        Ok(tok.end)
    }

    /// Identifiers become keyed pseudonyms (in `shape` when the vendor requires one); `null`
    /// stays; anything else is not an id and goes.
    pub(super) fn hash_value(
        &mut self,
        i: usize,
        depth: usize,
        shape: Option<IdShape>,
    ) -> Result<usize, ScrubError> {
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
            Some(b'[') => return self.hash_array(i, depth + 1, shape),
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
        if let Some(opt_out) = &self.env.privacy.opt_out {
            self.opted_out |= opt_out.contains(id_text, &mut pseudonym);
        }
        pseudonym.clear();
        self.bufs
            .pseudonyms
            .pseudonym_into(&self.env.pseudonym_key, id_text, &mut pseudonym);
        if let Some(shape) = shape {
            hash::shape_pseudonym(&mut pseudonym, shape);
        }
        self.replace_with_string(i, end, &pseudonym);
        self.bufs.tmp = pseudonym;
        self.report
            .count(RuleKind::Identifier, FieldOutcome::Hashed);
        Ok(end)
    }

    /// A list of identifiers (Mixpanel `$distinct_ids`): each element becomes a pseudonym.
    pub(super) fn hash_array(
        &mut self,
        i: usize,
        depth: usize,
        shape: Option<IdShape>,
    ) -> Result<usize, ScrubError> {
        self.elements(i, depth, |walk, j| walk.hash_value(j, depth, shape))
    }

    /// The vendor's IP field. Returns `None` when the member must go (IPs removed, no
    /// placeholder for this vendor).
    pub(super) fn vendor_ip(
        &mut self,
        i: usize,
        depth: usize,
    ) -> Result<Option<usize>, ScrubError> {
        let string = match self.input.get(i) {
            Some(b'"') => Some(json::string_at(self.input, i)?),
            _ => None,
        };
        let end = match string {
            Some(tok) => tok.end,
            None => self.skip_value(i, depth)?,
        };
        if let (Some(t), Some(tok)) = (self.env.truncation, string) {
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

    pub(super) fn client_ip_text(&self) -> Option<&str> {
        match (&self.env.truncation, &self.env.client_ip) {
            (Some(_), Some(ip)) => Some(ip),
            _ => self.plan.no_ip_placeholder,
        }
    }

    pub(super) fn write_missing_ensures(
        &mut self,
        node: Option<NodeId>,
        frame: &mut ObjectFrame,
        close: usize,
    ) -> Result<(), ScrubError> {
        let Some(node) = node else { return Ok(()) };
        let count = self.plan.node(node).ensures.len();
        for k in 0..count {
            if frame.seen_ensures & (1 << k) != 0 {
                continue;
            }
            let (key, child) = self.plan.node(node).ensures[k];
            if self.plan.node(child).ensured == Some(Ensured::Required) {
                return Err(ScrubError::InvalidEvent);
            }
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
            let rule = match self.plan.node(child).ensured {
                Some(Ensured::Geo(_) | Ensured::NoVendorGeo) => RuleKind::Geo,
                _ => RuleKind::IpField,
            };
            self.report.count(rule, FieldOutcome::Injected);
        }
        Ok(())
    }

    /// Whether an ensured member is left out under the current settings.
    pub(super) fn ensured_skipped(&self, node: NodeId) -> bool {
        match self.plan.node(node).ensured {
            Some(Ensured::ClientIp) => self.client_ip_text().is_none(),
            Some(Ensured::NoVendorGeo) => !self.env.vendor_must_not_geolocate(),
            Some(Ensured::Geo(value)) => self.env.privacy.place.text(value).is_none(),
            Some(Ensured::ExistingObject | Ensured::Required) => true,
            // An object is written only to hold something.
            Some(Ensured::Object) => self
                .plan
                .node(node)
                .ensures
                .iter()
                .all(|&(_, child)| self.ensured_skipped(child)),
            None => false,
        }
    }

    /// Writes the value a vendor needs at `node` (an IP, or an object of ensured members).
    pub(super) fn write_ensured(&mut self, node: NodeId) {
        match self.plan.node(node).ensured {
            Some(Ensured::ClientIp) => {
                let text = self.client_ip_text().unwrap_or("").to_owned();
                json::write_string(text.as_bytes(), self.out);
            }
            Some(Ensured::NoVendorGeo) => self.out.extend_from_slice(b"true"),
            Some(Ensured::Geo(value)) => {
                let text = self.env.privacy.place.text(value).unwrap_or_default();
                json::write_string(text.as_bytes(), self.out);
            }
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

    /// A vendor geo field the sender wrote: the proxy's place replaces it; without one, it
    /// stays (value rules apply) if it is no finer than the rules allow. `None`: it goes.
    pub(super) fn geo_field(
        &mut self,
        i: usize,
        value: GeoValue,
        node: Option<NodeId>,
        depth: usize,
    ) -> Result<Option<usize>, ScrubError> {
        let place = &self.env.privacy.place;
        if let Some(text) = place.text(value) {
            let end = self.skip_value(i, depth)?;
            self.flush_to(i);
            json::write_string(text.as_bytes(), self.out);
            self.span_start = end;
            self.report.count(RuleKind::Geo, FieldOutcome::Injected);
            return Ok(Some(end));
        }
        if value.precision() > self.env.privacy.geo_precision {
            return Ok(None);
        }
        self.value(i, node, true, depth).map(Some)
    }

    /// A latitude or longitude field: rounded to `values.coordinate_decimals` places when
    /// the rules round, otherwise (or when it is not a number) `None`: it goes.
    pub(super) fn coordinate(&mut self, i: usize) -> Result<Option<usize>, ScrubError> {
        let Some(decimals) = self.plan.values.coordinate_decimals else {
            return Ok(None);
        };
        let (end, text, quoted): (usize, &[u8], bool) = match self.input.get(i) {
            Some(b'"') => {
                let tok = json::string_at(self.input, i)?;
                (tok.end, tok.raw(self.input), true)
            }
            Some(b'-' | b'0'..=b'9') => {
                let end = json::number_end(self.input, i)?;
                (end, &self.input[i..end], false)
            }
            _ => return Ok(None),
        };
        let Some(number) = std::str::from_utf8(text)
            .ok()
            .and_then(|t| t.trim().parse::<f64>().ok())
            .filter(|n| n.is_finite() && n.abs() <= 180.0)
        else {
            return Ok(None);
        };
        let rounded = format!("{:.*}", usize::from(decimals), number);
        self.flush_to(i);
        if quoted {
            json::write_string(rounded.as_bytes(), self.out);
        } else {
            self.out.extend_from_slice(rounded.as_bytes());
        }
        self.span_start = end;
        self.report
            .count(RuleKind::PreciseLocation, FieldOutcome::Coarsened);
        Ok(Some(end))
    }
}

/// The cheap gate of embedded JSON, on the string as written: it starts with `{` or `[`
/// and ends with `}` or `]` (escaped line breaks and spaces around them allowed).
fn may_be_embedded_json(raw: &[u8]) -> bool {
    // Most strings stop at their first byte.
    if !matches!(
        raw.first(),
        Some(b'{' | b'[' | b'\\' | b' ' | b'\t' | b'\n' | b'\r')
    ) {
        return false;
    }
    let trim = |c: &u8| c.is_ascii_whitespace();
    let mut s = raw;
    loop {
        let before = s.len();
        while let Some(rest) = s
            .strip_prefix(b"\\n")
            .or_else(|| s.strip_prefix(b"\\r"))
            .or_else(|| s.strip_prefix(b"\\t"))
        {
            s = rest;
        }
        while let Some(rest) = s
            .strip_suffix(b"\\n")
            .or_else(|| s.strip_suffix(b"\\r"))
            .or_else(|| s.strip_suffix(b"\\t"))
        {
            s = rest;
        }
        while s.first().is_some_and(trim) {
            s = &s[1..];
        }
        while s.last().is_some_and(trim) {
            s = &s[..s.len() - 1];
        }
        if s.len() == before {
            break;
        }
    }
    s.len() >= 2 && matches!((s[0], s[s.len() - 1]), (b'{', b'}') | (b'[', b']'))
}

/// The cheap gate of base64 JSON, on the string as written: long enough, and `eyJ` / `W3`
/// (`{"`, `[{`, `["`, `{` or `[` and a line break) or a leading space or line break.
fn may_be_base64(raw: &[u8]) -> bool {
    raw.len() >= 12
        && matches!(
            &raw[..2],
            b"ey" | b"e3" | b"ew" | b"W3" | b"Wy" | b"Ww" | b"IH" | b"Cn"
        )
}
