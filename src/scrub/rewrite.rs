//! Rewrites one complete event: walks its JSON once, copying untouched spans as slices and
//! writing only what changes (dropped members, pseudonyms, truncated IPs, redacted text,
//! members the vendor needs). Strict: anything that is not JSON is an error, never passed on.

use super::hash::{PseudonymCache, PseudonymKey};
use super::ip::{self, Truncation};
use super::json::{self, StringToken};
use super::key_cache::{with_thread_cache, KeyCache, KeyVerdict};
use super::keys::normalize_into;
use super::place::{GeoValue, Place, Precision};
use super::plan::Ensured;
use super::plan::{EventPlan, FieldAction, NodeId, PropertyMode, ROOT};
use super::report::{FieldOutcome, Report, RuleKind};
use super::values::{UserAgentMode, ValueChange};
use super::ScrubError;

mod fields;
mod items;

/// Nesting allowed inside one request body, counting the envelope.
pub const DEFAULT_MAX_DEPTH: usize = 32;
/// Longest string value accepted (256 KiB): far above what any vendor keeps (Segment caps a
/// whole event at 32 KB), so only blobs and abuse meet it.
pub const DEFAULT_MAX_STRING_BYTES: usize = 256 << 10;

/// What a request contributes to every event: the client's address and the secrets to use.
#[derive(Clone, Debug)]
pub struct ScrubEnv {
    /// Truncation of IP fields; `None` removes them (or writes the vendor's placeholder).
    pub truncation: Option<Truncation>,
    /// The truncated client address, as text, written where the vendor expects an IP.
    pub client_ip: Option<String>,
    pub pseudonym_key: PseudonymKey,
    pub max_depth: usize,
    /// Longest string value accepted, in raw (escaped) bytes.
    pub max_string_bytes: usize,
    /// Geo, consent and opt-out: what the request's privacy settings add.
    pub privacy: Privacy,
}

impl ScrubEnv {
    /// Whether the vendor must not place the visitor by the address it sees: there is none
    /// (it would be the proxy's), the proxy wrote the place itself, or the rules allow less
    /// than the city a vendor finds from a truncated address.
    pub fn vendor_must_not_geolocate(&self) -> bool {
        let privacy = &self.privacy;
        self.truncation.is_none()
            || !privacy.place.is_empty()
            || privacy.geo_precision < Precision::City
    }
}

/// The privacy settings one request carries beside its IP and key.
#[derive(Clone, Debug, Default)]
pub struct Privacy {
    /// Where the visitor is, written in the vendors' geo fields.
    pub place: Place,
    /// The finest place vendors may learn; finer geo fields the sender wrote are removed.
    pub geo_precision: Precision,
    /// What becomes of each event by consent; `None` forwards them all.
    pub consent: Option<super::ConsentGate>,
    /// Identifiers whose events are always dropped.
    pub opt_out: Option<std::sync::Arc<super::OptOut>>,
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
    /// The consent fields of the event just walked: (reader slot, value start, value end).
    consent_fields: Vec<(u8, usize, usize)>,
}

impl Buffers {
    /// The vendor consent fields the last walk met, as (slot, start, end) in its input.
    pub fn consent_fields(&self) -> &[(u8, usize, usize)] {
        &self.consent_fields
    }
}

/// What became of one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventWritten {
    /// Bytes of input the event took.
    pub len: usize,
    /// False when the rules removed the event whole (its output must be discarded).
    pub kept: bool,
    /// An identifier in it is on the opt-out list (the event is not kept).
    pub opted_out: bool,
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
    bufs.consent_fields.clear();
    // The thread's key cache is taken once per event, not once per key.
    with_thread_cache(|keys| {
        let mut walk = Walk {
            input,
            out,
            span_start: 0,
            plan,
            env,
            bufs,
            keys,
            report,
            dropped: false,
            drop_pending: false,
            opted_out: false,
        };
        // A plan may make the root itself a container (a gtag hit is all properties).
        let end = walk.object(start, Some(ROOT), plan.node(ROOT).container, 1)?;
        // Checked after the walk, which only ever splits at ASCII bytes: one pass over the
        // event.
        simdutf8::basic::from_utf8(&input[..end]).map_err(|_| ScrubError::InvalidUtf8)?;
        walk.flush_to(end);
        Ok(EventWritten {
            len: end,
            kept: !walk.dropped && !walk.opted_out,
            opted_out: walk.opted_out,
        })
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
    /// Verdicts on plain keys, per thread (see `key_cache::with_thread_cache`).
    keys: &'a mut KeyCache,
    report: &'a mut Report,
    /// The event's name is on the drop list.
    dropped: bool,
    /// A detector whose action is `drop` fired on the string just walked, which was left
    /// unwritten: its member must go (an array element becomes `null`).
    drop_pending: bool,
    /// An identifier is on the opt-out list: the event goes.
    opted_out: bool,
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

/// Where a member's value starts and what it stands in: what a field handler is given.
#[derive(Clone, Copy)]
struct Field {
    start: usize,
    /// The plan's node for the member, if it has one.
    node: Option<NodeId>,
    /// The member is inside a property container.
    in_container: bool,
    depth: usize,
}

/// What a field handler made of its member.
enum Handled {
    /// Kept (rewritten or not); its value ends here.
    Kept(usize),
    /// The member goes whole, counted under this rule.
    Dropped(RuleKind),
}

/// A handler's `None` (nothing of the value may stay) as the drop of its member by `rule`.
fn kept_or(end: Option<usize>, rule: RuleKind) -> Handled {
    end.map_or(Handled::Dropped(rule), Handled::Kept)
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
            Some(b'"') => self.string_or_embedded_json(i, node, in_container, depth),
            Some(b'-' | b'0'..=b'9') => self.number_value(i),
            Some(b't' | b'f' | b'n') => json::literal_end(self.input, i),
            _ => Err(ScrubError::MalformedJson),
        }
    }

    /// A number gets the value rules as the integer it denotes (`values/json_number.rs`):
    /// `"card": 4111111111111111.0` or `4.111111111111111e15` is as personal as the string.
    /// Millisecond timestamps and most ids are that long too, but start with no card
    /// issuer's digits, fail the Luhn check or fit no country's phone numbering plan.
    fn number_value(&mut self, i: usize) -> Result<usize, ScrubError> {
        let end = json::number_end(self.input, i)?;
        let change = self.plan.values.scrub_number(
            &self.input[i..end],
            &mut self.bufs.value,
            &mut self.bufs.tmp,
            self.report,
        );
        self.apply_change(change, i, end);
        Ok(end)
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
        self.elements(i, depth, |walk, j| {
            let end = walk.value(j, node, in_container, depth)?;
            if std::mem::take(&mut walk.drop_pending) {
                // An element has no member to drop: it becomes `null`.
                walk.flush_to(j);
                walk.out.extend_from_slice(b"null");
                walk.span_start = end;
            }
            Ok(end)
        })
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
            self.write_missing_ensures(node, &mut frame, j)?;
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
                    self.write_missing_ensures(node, &mut frame, j)?;
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
        let child = verdict.child();
        if let Some(k) = verdict.ensured {
            frame.seen_ensures |= 1 << k;
        }
        let decision = if let Some(rule) = verdict.personal {
            // Personal data used as a key (`{"jane@example.com": true}`) cannot stay.
            Decision::Apply(FieldAction::Drop(rule))
        } else {
            self.decide(child, in_container, verdict.matched)
        };
        let field = Field {
            start: value_start,
            node: child,
            in_container,
            depth,
        };
        let end = match decision {
            // Most members: plain properties, walked with the rules.
            Decision::Descend => self.descend(field)?,
            Decision::Apply(action) => match self.apply(action, field)? {
                Handled::Kept(end) => end,
                Handled::Dropped(rule) => {
                    return self.drop_whole_member(key_start, value_start, depth, frame, rule);
                }
            },
        };
        if std::mem::take(&mut self.drop_pending) {
            // The value's string was left unwritten; the member goes with it.
            self.drop_member(key_start, end, frame);
            return Ok(end);
        }
        frame.kept_any = true;
        frame.last_kept_end = end;
        Ok(end)
    }

    /// Each vendor field action and its handler, one row each. A handler that finds
    /// nothing of the value that may stay returns `None`, and the row names the rule the
    /// dropped member is counted under; `member` drops it, for every action alike.
    fn apply(&mut self, action: FieldAction, f: Field) -> Result<Handled, ScrubError> {
        use FieldAction as A;
        use Handled::Kept;
        let (start, node, depth) = (f.start, f.node, f.depth);
        Ok(match action {
            A::Drop(rule) => Handled::Dropped(rule),
            A::Reject => return Err(ScrubError::UnexpectedShape),
            // Structural vendor fields escape the key rules, not the value rules; and should
            // one hold an object (a misspelled or hostile `Token`), its members get the key
            // rules like any property.
            A::Keep => Kept(self.value(start, node, true, depth)?),
            A::Hash => Kept(self.hash_value(start, depth, None)?),
            A::HashAs(shape) => Kept(self.hash_value(start, depth, Some(shape))?),
            A::Referrer => Kept(self.referrer(start, node, depth)?),
            A::EventName => Kept(self.event_name(f)?),
            A::JsonString => Kept(self.json_string(start, node, self.within(f), depth, false)?),
            A::Base64JsonString => {
                Kept(self.json_string(start, node, self.within(f), depth, true)?)
            }
            A::NamedPairs => Kept(self.named_pairs(start, depth)?),
            A::GtagItem => Kept(self.gtag_item(start, depth)?),
            A::NoVendorGeo => Kept(self.no_vendor_geo(f)?),
            A::ConsentSignal(slot) => Kept(self.consent_signal(f, slot)?),
            A::UserAgent => kept_or(self.user_agent(start, node, depth)?, RuleKind::UserAgent),
            A::Geo(value) => kept_or(self.geo_field(start, value, node, depth)?, RuleKind::Geo),
            A::Coordinate => kept_or(self.coordinate(start)?, RuleKind::PreciseLocation),
            A::VendorIp => kept_or(self.vendor_ip(start, depth)?, RuleKind::IpField),
        })
    }

    /// A member no vendor field action names: walked with the rules, or, where the vendor
    /// needs an object and the sender put something else, that object written instead.
    fn descend(&mut self, f: Field) -> Result<usize, ScrubError> {
        let wants_object = f
            .node
            .is_some_and(|c| self.plan.node(c).ensured == Some(Ensured::Object));
        if wants_object && self.input.get(f.start) != Some(&b'{') {
            let end = self.skip_value(f.start, f.depth)?;
            self.flush_to(f.start);
            self.write_ensured(f.node.unwrap_or(ROOT));
            self.span_start = end;
            return Ok(end);
        }
        let container = self.within(f);
        self.value(f.start, f.node, container, f.depth)
    }

    /// Whether the member's value is inside a property container, or is one itself.
    fn within(&self, f: Field) -> bool {
        f.in_container || f.node.is_some_and(|c| self.plan.node(c).container)
    }

    /// The event's name: kept, and checked against the drop list.
    fn event_name(&mut self, f: Field) -> Result<usize, ScrubError> {
        self.check_event_name(f.start)?;
        self.value(f.start, f.node, true, f.depth)
    }

    /// A vendor's "do not geolocate" switch: `true` when the vendor must not place the
    /// visitor, else kept.
    fn no_vendor_geo(&mut self, f: Field) -> Result<usize, ScrubError> {
        if !self.env.vendor_must_not_geolocate() {
            return self.value(f.start, f.node, true, f.depth);
        }
        let end = self.skip_value(f.start, f.depth)?;
        self.flush_to(f.start);
        self.out.extend_from_slice(b"true");
        self.span_start = end;
        Ok(end)
    }

    /// A vendor consent field: kept, and noted for the vendor's consent reader.
    fn consent_signal(&mut self, f: Field, slot: u8) -> Result<usize, ScrubError> {
        let end = self.value(f.start, f.node, true, f.depth)?;
        self.bufs.consent_fields.push((slot, f.start, end));
        Ok(end)
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
        let from = key.start + 1;
        let window = self
            .input
            .get(from..from + 16)
            .and_then(|w| w.try_into().ok());
        if let Some(verdict) = self.keys.get(plan, node, raw, window) {
            return Ok(verdict);
        }
        let verdict = self.judge_key(key, node)?;
        self.keys.put(plan, node, raw, verdict);
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
        let (value, tmp) = (&mut self.bufs.value, &mut self.bufs.tmp);
        let personal = personal_data_in_key(&self.plan.values, text, value, tmp);
        let normalized = &mut self.bufs.normalized;
        normalize_into(text, normalized);
        let rules = match self.plan.mode {
            PropertyMode::Deny => &self.plan.deny,
            PropertyMode::Allow => &self.plan.allow,
        };
        let matched = rules.matches_key_name(text);
        let child = node.and_then(|n| self.plan.child(n, normalized));
        // Where the vendor's parameter set is known, an unknown member goes whatever it holds.
        let unknown = node.is_some_and(|n| self.plan.node(n).closed) && child.is_none();
        let personal = personal.or(unknown.then_some(RuleKind::UnknownField));
        // Only the vendor's exact spelling satisfies an ensured member: PostHog reads `$ip`,
        // not a custom property `ip` that normalizes the same.
        let ensured = match (node, child) {
            (Some(parent), Some(c)) => self
                .plan
                .node(parent)
                .ensures
                .iter()
                .position(|&(name, id)| id == c && name.as_bytes() == text)
                .map(|k| k as u8),
            _ => None,
        };
        Ok(KeyVerdict::new(matched, personal, child, ensured))
    }

    /// Removes the member whose value starts at `value_start`, key and all, counted as
    /// dropped by `rule`; returns the value's end.
    fn drop_whole_member(
        &mut self,
        key_start: usize,
        value_start: usize,
        depth: usize,
        frame: &mut ObjectFrame,
        rule: RuleKind,
    ) -> Result<usize, ScrubError> {
        let end = self.skip_value(value_start, depth)?;
        self.drop_member(key_start, end, frame);
        self.report.count(rule, FieldOutcome::Dropped);
        Ok(end)
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
        self.string_token_value(tok)
    }

    /// `string_value` for a string already found.
    fn string_token_value(&mut self, tok: StringToken) -> Result<usize, ScrubError> {
        if tok.end - tok.start - 2 > self.env.max_string_bytes {
            return Err(ScrubError::StringTooLong {
                limit: self.env.max_string_bytes,
            });
        }
        let text = tok.text(self.input, &mut self.bufs.text)?;
        let change = self.plan.values.scrub_member(
            text,
            &mut self.bufs.value,
            &mut self.bufs.tmp,
            self.report,
        );
        self.apply_change(change, tok.start, tok.end);
        Ok(tok.end)
    }

    /// Writes what the value rules made of the value at `start..end` (their text is in
    /// `bufs.value`), or marks its member to go.
    fn apply_change(&mut self, change: ValueChange, start: usize, end: usize) {
        match change {
            ValueChange::Unchanged => {}
            ValueChange::Changed => {
                let value = std::mem::take(&mut self.bufs.value);
                self.replace_with_string(start, end, &value);
                self.bufs.value = value;
            }
            ValueChange::DropMember => self.drop_pending = true,
        }
    }
}

/// Whether a member name holds personal data (see `personal_data_in_key`): for names that
/// are taken apart before the walk sees them, such as dotted query names.
pub fn name_holds_personal_data(values: &super::values::ValueRules, name: &[u8]) -> bool {
    personal_data_in_key(values, name, &mut Vec::new(), &mut Vec::new()).is_some()
}

/// The rule that finds personal data in `key`: an e-mail address, or whatever a value rule
/// would change (an IP address, a phone or card number). Keys are judged once per place in
/// a schema (the key cache), so running the value rules here costs little.
fn personal_data_in_key(
    values: &super::values::ValueRules,
    key: &[u8],
    out: &mut Vec<u8>,
    tmp: &mut Vec<u8>,
) -> Option<RuleKind> {
    let email = values.email_marker.is_some()
        && memchr::memchr2(b'@', b'%', key).is_some()
        && super::values::contains_email(key);
    if email {
        return Some(RuleKind::EmailValue);
    }
    let mut found = Report::default();
    if !values.scrub(key, out, tmp, &mut found) {
        return None;
    }
    let rule = found.nonzero().map(|(rule, _, _)| rule).next();
    rule
}
