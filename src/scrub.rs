//! The sans-IO scrubbing core: bytes and a compiled plan in, scrubbed bytes and a `Report` out.
//! It knows nothing of HTTP, sockets or runtimes, so it can be tested, fuzzed and benchmarked
//! alone. `framer` cuts the body into events, `rewrite` scrubs each, `plan` says how.

mod block;
mod framer;
mod gate;
mod hash;
pub mod ip;
mod json;
pub use json::write_string as write_json_string;
mod key_cache;
pub mod keys;
mod place;
mod plan;
mod query;
mod report;
mod rewrite;
pub mod user_agent;
mod values;

use std::sync::Arc;

pub use framer::{Envelope, DEFAULT_MAX_EVENT_BYTES};
pub use gate::{
    daily_key, Anonymized, ConsentAction, ConsentGate, ConsentPolicy, DailyKeys,
    EventConsentReader, OptOut, Purposes,
};
pub use hash::PseudonymKey;
pub use ip::Truncation;
pub use place::{GeoLookup, GeoValue, Place, Precision};
pub use plan::{
    Ensured, EventPlan, EventPlanBuilder, FieldAction, IdShape, NameTail, NoIpPlaceholder,
    PropertyMode, PropertyRules,
};
pub use query::ParamOutcome;
pub use report::{FieldOutcome, Report, RuleKind};
pub use rewrite::{Privacy, ScrubEnv, DEFAULT_MAX_DEPTH, DEFAULT_MAX_STRING_BYTES};
pub use values::{
    CustomDetector, CustomError, Replacement, UserAgentMode, ValueRules, DEFAULT_URL_QUERY_ALLOW,
};

use framer::{FrameSink, Framer};
pub use rewrite::{name_holds_personal_data, EventWritten};
use rewrite::{rewrite_event, Buffers};

/// Why a body could not be scrubbed. Facts only: never a byte of the payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScrubError {
    #[error("body is not valid JSON")]
    MalformedJson,
    #[error("body is not valid UTF-8")]
    InvalidUtf8,
    #[error("body is empty")]
    EmptyBody,
    #[error("body ends before its JSON is complete")]
    Truncated,
    #[error("body does not have the shape this endpoint expects")]
    UnexpectedShape,
    #[error("an event exceeds {limit} bytes")]
    EventTooLarge { limit: usize },
    #[error("nesting exceeds depth {limit}")]
    TooDeep { limit: usize },
    #[error("a string value exceeds {limit} bytes")]
    StringTooLong { limit: usize },
    #[error("an event lacks a member its vendor requires")]
    InvalidEvent,
}

impl ScrubError {
    /// A stable label for metrics and the `scrubproxy-error` header.
    pub fn kind(&self) -> &'static str {
        match self {
            ScrubError::MalformedJson => "malformed_json",
            ScrubError::InvalidUtf8 => "invalid_utf8",
            ScrubError::EmptyBody => "empty_body",
            ScrubError::Truncated => "truncated_body",
            ScrubError::UnexpectedShape => "unexpected_shape",
            ScrubError::EventTooLarge { .. } => "event_too_large",
            ScrubError::TooDeep { .. } => "too_deep",
            ScrubError::StringTooLong { .. } => "string_too_long",
            ScrubError::InvalidEvent => "invalid_event",
        }
    }
}

/// Everything needed to scrub one kind of body: its envelope, the plan for its events and the
/// plan for envelope members (a batch's shared `context`, for example).
#[derive(Debug)]
pub struct BodyPlan {
    pub envelope: Envelope,
    pub event: EventPlan,
    pub envelope_members: EventPlan,
}

/// Limits the core enforces while framing and rewriting.
#[derive(Clone, Copy, Debug)]
pub struct CoreLimits {
    pub max_event_bytes: usize,
    pub max_depth: usize,
    pub max_string_bytes: usize,
}

impl Default for CoreLimits {
    fn default() -> Self {
        CoreLimits {
            max_event_bytes: DEFAULT_MAX_EVENT_BYTES,
            max_depth: DEFAULT_MAX_DEPTH,
            max_string_bytes: DEFAULT_MAX_STRING_BYTES,
        }
    }
}

/// Scrubs one JSON body pushed in chunks of any size. Output is identical for every split.
pub struct JsonScrubber {
    framer: Framer,
    sink: EventRewriter,
}

struct EventRewriter {
    plan: Arc<BodyPlan>,
    env: ScrubEnv,
    /// Buffers of forwarded and of anonymized events: their pseudonyms come from different
    /// keys, so they must not share a pseudonym cache.
    bufs: [Buffers; 2],
    report: Report,
    member_out: Vec<u8>,
    /// Consent said by the batch's shared members, and whether an event came already.
    envelope_consent: crate::consent::Consent,
    events_seen: bool,
}

/// The plan, environment and buffers an event (or the envelope) is scrubbed with.
fn scrub_with<'a>(
    plan: &'a BodyPlan,
    env: &'a ScrubEnv,
    bufs: &'a mut [Buffers; 2],
    anonymized: bool,
) -> (&'a BodyPlan, &'a ScrubEnv, &'a mut Buffers) {
    match (&env.privacy.consent, anonymized) {
        (Some(gate), true) => (
            gate.anonymized.plan.as_deref().unwrap_or(plan),
            &gate.anonymized.env,
            &mut bufs[1],
        ),
        _ => (plan, env, &mut bufs[0]),
    }
}

impl EventRewriter {
    /// What the request and the batch's shared members said about consent.
    fn shared_consent(&self) -> crate::consent::Consent {
        match &self.env.privacy.consent {
            Some(gate) => gate.request.and(self.envelope_consent),
            None => Default::default(),
        }
    }

    /// What the request and the batch's shared members so far make of consent.
    fn shared_action(&self) -> ConsentAction {
        match &self.env.privacy.consent {
            Some(gate) => gate.decide(self.shared_consent()),
            None => ConsentAction::Forward,
        }
    }

    /// Rewrites one envelope member into `member_out`: anonymized unless `action` forwards.
    fn rewrite_member(
        &mut self,
        member: &[u8],
        action: ConsentAction,
    ) -> Result<EventWritten, ScrubError> {
        self.member_out.clear();
        let anonymized = action != ConsentAction::Forward;
        let (plan, env, bufs) = scrub_with(&self.plan, &self.env, &mut self.bufs, anonymized);
        rewrite_event(
            &plan.envelope_members,
            env,
            member,
            &mut self.member_out,
            bufs,
            &mut self.report,
        )
    }

    /// Rewrites one event as `action` says (a dropped event is still walked whole: a
    /// malformed one fails the request). A failed attempt (often an event cut by a chunk
    /// boundary) counts nothing: the report goes back to `before`.
    fn rewrite(
        &mut self,
        data: &[u8],
        out: &mut Vec<u8>,
        action: ConsentAction,
        before: &Report,
    ) -> Result<EventWritten, ScrubError> {
        let anonymized = action == ConsentAction::Anonymize;
        let (plan, env, bufs) = scrub_with(&self.plan, &self.env, &mut self.bufs, anonymized);
        rewrite_event(&plan.event, env, data, out, bufs, &mut self.report).inspect_err(|_| {
            self.report = before.clone();
        })
    }

    fn count(&mut self, written: EventWritten, action: ConsentAction) {
        let report = &mut self.report;
        match (written.kept, action) {
            (false, _) if written.opted_out => report.events_dropped_opt_out += 1,
            (false, _) => report.events_dropped += 1,
            (true, ConsentAction::Drop) => report.events_dropped_consent += 1,
            (true, ConsentAction::Anonymize) => {
                report.events += 1;
                report.events_anonymized += 1;
            }
            (true, ConsentAction::Forward) => report.events += 1,
        }
    }
}

impl FrameSink for EventRewriter {
    fn event(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<EventWritten, ScrubError> {
        // The request's signals decide, unless the event's own consent fields, read during
        // the walk, say otherwise: then the event is walked again as they say. Only events
        // whose consent differs from their request's pay a second walk.
        let shared = self.shared_consent();
        let assumed = match &self.env.privacy.consent {
            Some(gate) => gate.decide(shared),
            None => ConsentAction::Forward,
        };
        let (mark, before) = (out.len(), self.report.clone());
        let mut written = self.rewrite(data, out, assumed, &before)?;
        self.events_seen = true;
        let mut action = assumed;
        if let Some(gate) = &self.env.privacy.consent {
            let bufs = &self.bufs[usize::from(assumed == ConsentAction::Anonymize)];
            let fields = bufs.consent_fields().iter();
            let fields = fields.map(|&(slot, start, end)| (slot, &data[start..end]));
            let said = gate.read_fields(fields).inspect_err(|_| {
                self.report = before.clone();
            });
            action = gate.decide(shared.and(said?));
        }
        if action != assumed {
            out.truncate(mark);
            self.report = before.clone();
            written = self.rewrite(data, out, action, &before)?;
        }
        self.count(written, action);
        written.kept &= action != ConsentAction::Drop;
        Ok(written)
    }

    fn envelope_member(&mut self, member: &[u8], out: &mut Vec<u8>) -> Result<(), ScrubError> {
        // A batch's shared members (its `context`) are anonymized when its events are, as
        // far as the request and the members before this one tell.
        let before = self.report.clone();
        let assumed = self.shared_action();
        let mut end = self.rewrite_member(member, assumed)?;
        // Consent in a batch's shared members (Segment merges its `context` into every
        // event) applies to the events after it, and to the member itself: walked again
        // when it changes what the member is. After the events it would come too late.
        if let Some(gate) = &self.env.privacy.consent {
            let bufs = &self.bufs[usize::from(assumed != ConsentAction::Forward)];
            let fields = bufs.consent_fields().iter();
            let fields: Vec<_> = fields.map(|&(slot, s, e)| (slot, &member[s..e])).collect();
            if !fields.is_empty() {
                if self.events_seen {
                    return Err(ScrubError::UnexpectedShape);
                }
                let said = gate.read_fields(fields.into_iter())?;
                self.envelope_consent = self.envelope_consent.and(said);
            }
        }
        let action = self.shared_action();
        if (action == ConsentAction::Forward) != (assumed == ConsentAction::Forward) {
            self.report = before;
            end = self.rewrite_member(member, action)?;
        }
        if end.len != member.len() {
            return Err(ScrubError::MalformedJson);
        }
        // The rewritten one-member object is `{...}`; its inside is the member, or empty.
        let inner = self
            .member_out
            .strip_prefix(b"{")
            .and_then(|m| m.strip_suffix(b"}"))
            .ok_or(ScrubError::MalformedJson)?;
        out.extend_from_slice(inner);
        Ok(())
    }
}

impl JsonScrubber {
    pub fn new(plan: Arc<BodyPlan>, env: ScrubEnv, limits: CoreLimits) -> Self {
        JsonScrubber {
            framer: Framer::new(plan.envelope, limits.max_event_bytes, limits.max_depth),
            sink: EventRewriter {
                plan,
                env,
                bufs: Default::default(),
                report: Report::default(),
                member_out: Vec::new(),
                envelope_consent: Default::default(),
                events_seen: false,
            },
        }
    }

    /// Scrubs what `chunk` completes; appends finished output to `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<(), ScrubError> {
        self.framer.push(chunk, &mut self.sink, out)
    }

    /// Ends the body: errors if it stopped in the middle of the JSON.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), ScrubError> {
        self.framer.finish(&mut self.sink, out)
    }

    /// Judges a parameter that travels beside the payload (another field of its form), with
    /// the event plan's key and value rules; counted in this body's report.
    pub fn scrub_param(&mut self, name: &[u8], value: &[u8], out: &mut Vec<u8>) -> ParamOutcome {
        let sink = &mut self.sink;
        sink.plan
            .event
            .scrub_param(name, value, out, &mut sink.report)
    }

    /// What the rules did so far.
    pub fn report(&self) -> &Report {
        &self.sink.report
    }

    /// Bytes held between pushes: the part of an event cut by a chunk's end, and buffers
    /// kept for reuse.
    pub fn held_bytes(&self) -> usize {
        self.framer.held_bytes() + self.sink.member_out.capacity()
    }
}

#[cfg(test)]
mod tests;
