//! One request body's way through the core: content decoding (gzip, deflate), the vendor's
//! payload envelope (`data=` forms, whole-body base64, lz-string, query-string events), the
//! scrubber, and re-encoding, chained as a single push/finish transform. Sans-IO like the
//! core: bytes in, bytes out.

use std::sync::Arc;

use crate::decode::{
    Base64Decoder, DecodeError, DeflateDecoder, GzipDecoder, PercentDecoder, Transform,
};
use crate::rules::RequestLimits;
use crate::scrub::{BodyPlan, CoreLimits, JsonScrubber, Report, ScrubEnv, ScrubError};
use crate::vendor::{BodyFormat, FormOutput};

mod form;
mod query;

use form::FormStage;
pub(crate) use query::percent_encoded;
use query::QueryBody;
pub use query::{scrub_query, scrub_query_event, set_query_param, ScrubbedQuery};

/// Longest non-`data` form field kept (`verbose=1`, `ip=0`, `api_key=...`).
pub const MAX_FORM_FIELD_BYTES: usize = 4096;

/// Why a body was refused. Facts only, never payload bytes.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error(transparent)]
    Scrub(#[from] ScrubError),
    #[error("content encoding is not supported (gzip, deflate or identity only)")]
    UnsupportedEncoding,
    #[error("form body has no data field")]
    MissingData,
    #[error("a form field exceeds {limit} bytes")]
    FormFieldTooLarge { limit: usize },
    #[error("this endpoint carries its payload in the query; the body must be empty")]
    UnexpectedBody,
    #[error("the request carries more than {limit} events")]
    TooManyEvents { limit: u64 },
    #[error("the decoded body exceeds the vendor's limit of {limit} bytes")]
    BatchTooLarge { limit: u64 },
    #[error("the scrubbed request would exceed {ratio} times the decoded body")]
    OutputTooLarge { ratio: f64 },
    #[error("the rules remove the event in the query, and the body carries more events")]
    QueryEventRemovedWithBody,
}

impl PipelineError {
    /// A stable label for metrics and the `scrubproxy-error` header.
    pub fn kind(&self) -> &'static str {
        match self {
            PipelineError::Decode(e) => e.kind(),
            PipelineError::Scrub(e) => e.kind(),
            PipelineError::UnsupportedEncoding => "unsupported_encoding",
            PipelineError::MissingData => "missing_data",
            PipelineError::FormFieldTooLarge { .. } => "form_field_too_large",
            PipelineError::UnexpectedBody => "unexpected_body",
            PipelineError::TooManyEvents { .. } => "too_many_events",
            PipelineError::BatchTooLarge { .. } => "batch_too_large",
            PipelineError::OutputTooLarge { .. } => "output_too_large",
            PipelineError::QueryEventRemovedWithBody => "query_event_removed_with_body",
        }
    }

    /// The HTTP status the tracker gets: its input was at fault, never the vendor.
    pub fn status(&self) -> u16 {
        match self {
            PipelineError::Decode(DecodeError::DecodedTooLarge { .. })
            | PipelineError::Scrub(ScrubError::EventTooLarge { .. })
            | PipelineError::Scrub(ScrubError::StringTooLong { .. })
            | PipelineError::FormFieldTooLarge { .. }
            | PipelineError::TooManyEvents { .. }
            | PipelineError::BatchTooLarge { .. }
            | PipelineError::OutputTooLarge { .. } => 413,
            PipelineError::UnsupportedEncoding | PipelineError::Decode(_) => 415,
            _ => 400,
        }
    }
}

/// What the pipeline needs to know about one request.
pub struct BodySpec {
    pub format: BodyFormat,
    pub plan: Arc<BodyPlan>,
    pub env: ScrubEnv,
    pub limits: CoreLimits,
    /// What the request may carry and make (events, decoded size, output, held bytes).
    pub request_limits: RequestLimits,
    pub max_decoded_bytes: u64,
    /// The request's Content-Encoding, lower-cased (`None` when absent).
    pub content_encoding: Option<String>,
    /// The vendor said (in the query) that the payload is lz-string base64.
    pub lz64: bool,
    /// Parameters added to each query-string event of a bulk body (Matomo `cip`).
    pub event_params: Vec<(&'static str, String)>,
    /// Members added to a bulk body's envelope (Matomo `token_auth`).
    pub envelope_params: Vec<(&'static str, String)>,
}

/// Bytes that went through the scrubber. Only this module makes them, and `forward` sends
/// nothing else: unscrubbed bytes cannot reach a vendor by mistake.
#[derive(Debug, Default)]
pub struct Scrubbed(bytes::Bytes);

impl Scrubbed {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn into_bytes(self) -> bytes::Bytes {
        self.0
    }

    /// A shadow route's bytes, as the tracker sent them: the one way unscrubbed bytes can go
    /// on, and only on a route the operator set to `shadow = true` (`None` on any other).
    pub fn shadow_passthrough(route: &crate::rules::Route, bytes: bytes::Bytes) -> Option<Self> {
        route.shadow.then_some(Scrubbed(bytes))
    }

    /// Joins scrubbed pieces of one body: still scrubbed.
    pub fn concat(mut parts: Vec<Scrubbed>) -> Scrubbed {
        parts.retain(|part| !part.is_empty());
        if parts.len() <= 1 {
            // A body that came in one chunk (most small ones) goes on without a copy.
            return parts.pop().unwrap_or_default();
        }
        let len = parts.iter().map(Scrubbed::len).sum();
        let mut out = Vec::with_capacity(len);
        for part in parts {
            out.extend_from_slice(&part.0);
        }
        Scrubbed(out.into())
    }
}

/// Compressed input is decoded this many bytes at a time by callers that bound their memory
/// (`BodyPipeline::input_step`): gzip inflates at most ~1,000-fold, so a step's decoded
/// bytes, and what the scrubber makes of them, stay near half a megabyte whatever was sent.
pub const COMPRESSED_INPUT_STEP: usize = 512;

/// The body transform for one request.
pub struct BodyPipeline {
    content: ContentStage,
    payload: PayloadStage,
    decoded: Vec<u8>,
    out: Vec<u8>,
    limits: RequestLimits,
    /// Bytes the payload stage read (after content decoding; lz-string payloads once
    /// decompressed too).
    decoded_in: u64,
    /// Bytes of scrubbed output made so far.
    made: u64,
}

enum ContentStage {
    /// Not yet known: no Content-Encoding header, waiting for two bytes to sniff gzip.
    Sniffing {
        head: Vec<u8>,
        limit: u64,
    },
    Identity,
    Decoder(Box<dyn Transform + Send>),
}

enum PayloadStage {
    /// Waiting for the first bytes to tell a form, plain JSON and base64 apart.
    Undecided {
        head: Vec<u8>,
        spec: Box<(Arc<BodyPlan>, ScrubEnv, CoreLimits)>,
        output: FormOutput,
    },
    Json(Box<JsonScrubber>),
    /// The whole body is base64 of JSON (beacons that skip the form).
    Base64(Box<(Base64Decoder, JsonScrubber)>, Vec<u8>),
    Form(Box<FormStage>),
    /// Query-string events in a form or bulk JSON body, held (bounded) until the body ends.
    QueryBody(Box<QueryBody>),
    /// lz-string base64, which only decodes whole: held (bounded) until the body ends.
    Lz64 {
        body: Vec<u8>,
        limit: u64,
        scrubber: Box<JsonScrubber>,
    },
    /// A query-carried payload: the body must stay empty.
    Empty,
}

impl BodyPipeline {
    pub fn new(spec: BodySpec) -> Result<Self, PipelineError> {
        let content = match spec.content_encoding.as_deref() {
            None | Some("") | Some("identity") => ContentStage::Sniffing {
                head: Vec::new(),
                limit: spec.max_decoded_bytes,
            },
            Some("gzip") | Some("x-gzip") => {
                ContentStage::Decoder(Box::new(GzipDecoder::new(spec.max_decoded_bytes)))
            }
            Some("deflate") => {
                ContentStage::Decoder(Box::new(DeflateDecoder::new(spec.max_decoded_bytes)))
            }
            Some(_) => return Err(PipelineError::UnsupportedEncoding),
        };
        let payload = match spec.format {
            BodyFormat::Json => PayloadStage::Json(Box::new(JsonScrubber::new(
                spec.plan,
                spec.env,
                spec.limits,
            ))),
            BodyFormat::DataForm { .. } if spec.lz64 => PayloadStage::Lz64 {
                body: Vec::new(),
                limit: spec.request_limits.max_held_bytes,
                scrubber: Box::new(JsonScrubber::new(spec.plan, spec.env, spec.limits)),
            },
            BodyFormat::DataForm { output } => PayloadStage::Undecided {
                head: Vec::new(),
                spec: Box::new((spec.plan, spec.env, spec.limits)),
                output,
            },
            BodyFormat::DataQuery | BodyFormat::Passthrough | BodyFormat::QueryEvent => {
                PayloadStage::Empty
            }
            BodyFormat::QueryEventBody => PayloadStage::QueryBody(Box::new(QueryBody {
                body: Vec::new(),
                limit: spec.request_limits.max_held_bytes,
                plan: spec.plan,
                env: spec.env,
                limits: spec.limits,
                event_params: spec.event_params,
                envelope_params: spec.envelope_params,
                report: Report::default(),
                form: false,
            })),
        };
        Ok(BodyPipeline {
            content,
            payload,
            decoded: Vec::new(),
            out: Vec::new(),
            limits: spec.request_limits,
            decoded_in: 0,
            made: 0,
        })
    }

    /// The most input a caller that bounds its memory should push at once: compressed
    /// bodies go in small steps (`COMPRESSED_INPUT_STEP`), plain ones as they come.
    pub fn input_step(&self) -> usize {
        match self.content {
            ContentStage::Identity => usize::MAX,
            ContentStage::Sniffing { .. } | ContentStage::Decoder(_) => COMPRESSED_INPUT_STEP,
        }
    }

    /// Bytes this pipeline holds between pushes: bodies held whole until they end, an event
    /// cut across chunks, the sniffing window.
    pub fn held_bytes(&self) -> usize {
        let payload = match &self.payload {
            PayloadStage::Undecided { head, .. } => head.len(),
            PayloadStage::Json(s) => s.held_bytes(),
            PayloadStage::Base64(stage, _) => stage.1.held_bytes(),
            PayloadStage::Form(f) => f.scrubber.held_bytes(),
            PayloadStage::QueryBody(q) => q.body.len(),
            PayloadStage::Lz64 { body, .. } => body.len(),
            PayloadStage::Empty => 0,
        };
        let content = match &self.content {
            ContentStage::Sniffing { head, .. } => head.len(),
            _ => 0,
        };
        payload + content + self.decoded.capacity() + self.out.capacity()
    }

    /// Refuses a request that has grown past its limits: more events than the vendor
    /// takes, a decoded body over its size, or output out of proportion to the input.
    fn check_bounds(&self) -> Result<(), PipelineError> {
        let limits = &self.limits;
        if self.decoded_in > limits.max_batch_bytes {
            return Err(PipelineError::BatchTooLarge {
                limit: limits.max_batch_bytes,
            });
        }
        let events = self
            .report_ref()
            .map_or(0, |r| r.events + r.events_removed());
        if events > limits.max_events {
            return Err(PipelineError::TooManyEvents {
                limit: limits.max_events,
            });
        }
        if self.made > limits.output_bound(self.decoded_in, events) {
            return Err(PipelineError::OutputTooLarge {
                ratio: limits.max_output_ratio,
            });
        }
        Ok(())
    }

    /// Counts a step's input and output, then checks the request's bounds.
    fn account(&mut self, decoded: usize, made: usize) -> Result<(), PipelineError> {
        self.decoded_in += decoded as u64;
        self.made += made as u64;
        self.check_bounds()
    }

    /// The Content-Type of what this pipeline writes.
    pub fn output_content_type(&self) -> &'static str {
        match &self.payload {
            PayloadStage::Form(f) if !f.unwrap => "application/x-www-form-urlencoded",
            PayloadStage::QueryBody(q) if q.form => "application/x-www-form-urlencoded",
            _ => "application/json",
        }
    }

    /// Scrubs what `chunk` completes. On error, discard the body: nothing of it may go on.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Scrubbed, PipelineError> {
        if chunk.is_empty() {
            // An empty push means nothing; only `finish` ends the body.
            return Ok(Scrubbed::default());
        }
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        // The output leaves as `Bytes`, so each chunk needs a fresh buffer: sized once, it
        // does not grow (and copy) while the chunk is scrubbed.
        out.reserve(chunk.len() + chunk.len() / 4);
        if let ContentStage::Sniffing { head, limit } = &self.content {
            if head.is_empty() && chunk.len() >= 2 {
                // The usual case, a whole first chunk: decided on it, without a copy.
                self.content = Self::sniffed(chunk, *limit);
            }
        }
        let result = if matches!(self.content, ContentStage::Identity) {
            // Plain bodies (nearly all) go to the payload stage without a copy.
            self.payload_push(chunk, &mut out).map(|()| chunk.len())
        } else {
            let mut decoded = std::mem::take(&mut self.decoded);
            decoded.clear();
            let result = self
                .decode_content(chunk, false, &mut decoded)
                .and_then(|()| self.payload_push(&decoded, &mut out))
                .map(|()| decoded.len());
            self.decoded = decoded;
            result
        };
        self.account(result?, out.len())?;
        Ok(Scrubbed(out.into()))
    }

    /// Ends the body, returning the last scrubbed bytes, or the error that voids it.
    pub fn finish(&mut self) -> Result<Scrubbed, PipelineError> {
        let mut out = Vec::new();
        let mut decoded = std::mem::take(&mut self.decoded);
        decoded.clear();
        self.decode_content(&[], true, &mut decoded)?;
        self.payload_push(&decoded, &mut out)?;
        let held_decoded = self.payload_finish(&mut out)?;
        self.account(decoded.len() + held_decoded, out.len())?;
        Ok(Scrubbed(out.into()))
    }

    /// Events the rules let through so far.
    pub fn events_forwarded(&self) -> u64 {
        self.report_ref().map_or(0, |r| r.events)
    }

    /// What the rules did (after `finish`).
    pub fn report(&self) -> Report {
        self.report_ref().cloned().unwrap_or_default()
    }

    fn report_ref(&self) -> Option<&Report> {
        match &self.payload {
            PayloadStage::Json(s) => Some(s.report()),
            PayloadStage::Form(f) => Some(f.scrubber.report()),
            PayloadStage::Base64(stage, _) => Some(stage.1.report()),
            PayloadStage::Lz64 { scrubber, .. } => Some(scrubber.report()),
            PayloadStage::QueryBody(q) => Some(&q.report),
            _ => None,
        }
    }

    /// Senders label gzip badly or not at all (posthog-js, Mixpanel replays): the magic
    /// bytes decide, so compressed bytes are never mistaken for a payload.
    fn sniffed(head: &[u8], limit: u64) -> ContentStage {
        if crate::decode::looks_like_gzip(head) {
            ContentStage::Decoder(Box::new(GzipDecoder::new(limit)))
        } else {
            ContentStage::Identity
        }
    }

    fn decode_content(
        &mut self,
        chunk: &[u8],
        last: bool,
        decoded: &mut Vec<u8>,
    ) -> Result<(), PipelineError> {
        if let ContentStage::Sniffing { head, limit } = &mut self.content {
            head.extend_from_slice(chunk);
            if head.len() < 2 && !last {
                return Ok(());
            }
            let head = std::mem::take(head);
            self.content = Self::sniffed(&head, *limit);
            return self.decode_content(&head, last, decoded);
        }
        match &mut self.content {
            ContentStage::Decoder(d) => {
                d.push(chunk, decoded)?;
                if last {
                    d.finish(decoded)?;
                }
            }
            _ => decoded.extend_from_slice(chunk),
        }
        Ok(())
    }

    fn payload_push(&mut self, bytes: &[u8], out: &mut Vec<u8>) -> Result<(), PipelineError> {
        if let PayloadStage::Undecided { head, .. } = &mut self.payload {
            head.extend_from_slice(bytes);
            let start = head.iter().position(|c| !c.is_ascii_whitespace());
            // Three bytes tell base64 of `{"`/`[` (`eyJ`, `W3s`, ...) from a form field name;
            // at the end of the body whatever is there decides.
            let Some(start) = start.filter(|s| head.len() >= s + 3 || bytes.is_empty()) else {
                return Ok(());
            };
            let PayloadStage::Undecided { head, spec, output } =
                std::mem::replace(&mut self.payload, PayloadStage::Empty)
            else {
                return Ok(());
            };
            let (plan, env, limits) = *spec;
            let scrubber = JsonScrubber::new(plan, env, limits);
            self.payload = match head[start] {
                b'{' | b'[' => PayloadStage::Json(Box::new(scrubber)),
                _ if looks_like_base64_json(&head[start..]) => {
                    PayloadStage::Base64(Box::new((Base64Decoder::new(), scrubber)), Vec::new())
                }
                _ => PayloadStage::Form(Box::new(FormStage::new(scrubber, output))),
            };
            return self.payload_push(&head, out);
        }
        match &mut self.payload {
            PayloadStage::Json(s) => s.push(bytes, out)?,
            PayloadStage::Base64(stage, json) => {
                let (decoder, scrubber) = &mut **stage;
                json.clear();
                let trimmed = trim_trailing_whitespace(bytes);
                decoder.push(trimmed, json)?;
                scrubber.push(json, out)?;
            }
            PayloadStage::Form(f) => f.push(bytes, out)?,
            PayloadStage::QueryBody(q) => {
                q.body.extend_from_slice(bytes);
                if q.body.len() as u64 > q.limit {
                    return Err(
                        crate::decode::DecodeError::DecodedTooLarge { limit: q.limit }.into(),
                    );
                }
            }
            PayloadStage::Lz64 { body, limit, .. } => {
                body.extend_from_slice(bytes);
                if body.len() as u64 > *limit {
                    return Err(
                        crate::decode::DecodeError::DecodedTooLarge { limit: *limit }.into(),
                    );
                }
            }
            PayloadStage::Empty if !bytes.is_empty() => return Err(PipelineError::UnexpectedBody),
            _ => {}
        }
        Ok(())
    }

    /// Ends the payload; returns the bytes an envelope held whole decoded to (an lz-string
    /// payload's JSON), which count as input beside what was pushed.
    fn payload_finish(&mut self, out: &mut Vec<u8>) -> Result<usize, PipelineError> {
        match &mut self.payload {
            PayloadStage::Json(s) => s.finish(out)?,
            PayloadStage::Base64(stage, json) => {
                let (decoder, scrubber) = &mut **stage;
                json.clear();
                decoder.finish(json)?;
                scrubber.push(json, out)?;
                scrubber.finish(out)?;
            }
            PayloadStage::Form(f) => f.finish(out)?,
            PayloadStage::QueryBody(q) => q.finish(out)?,
            PayloadStage::Lz64 {
                body,
                limit,
                scrubber,
            } => {
                let json =
                    crate::decode::lz_string::decompress_from_base64(&lz64_value(body)?, *limit)?;
                *body = Vec::new();
                scrubber.push(&json, out)?;
                scrubber.finish(out)?;
                return Ok(json.len());
            }
            PayloadStage::Undecided { head, .. } if head.iter().all(u8::is_ascii_whitespace) => {
                return Err(ScrubError::EmptyBody.into())
            }
            PayloadStage::Undecided { .. } => {
                // A body shorter than the sniffing window: decide on it now, then finish.
                self.payload_push(&[], out)?;
                if matches!(self.payload, PayloadStage::Undecided { .. }) {
                    return Err(ScrubError::UnexpectedShape.into());
                }
                return self.payload_finish(out);
            }
            PayloadStage::Empty => {}
        }
        Ok(0)
    }
}

/// Base64 of `{"`, `{}`, `[{`, `["` or `[]`: a whole body of base64 JSON.
fn looks_like_base64_json(head: &[u8]) -> bool {
    const OPENINGS: &[&[u8]] = &[b"eyJ", b"e30", b"W3s", b"WyJ", b"W10"];
    OPENINGS.iter().any(|o| head.starts_with(o))
}

fn trim_trailing_whitespace(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(0, |e| e + 1);
    &bytes[..end]
}

/// The lz-string text of a body: the form's `data` value, or the whole body.
fn lz64_value(body: &[u8]) -> Result<Vec<u8>, PipelineError> {
    let text = trim_trailing_whitespace(body);
    let value = text
        .split(|&c| c == b'&')
        .find_map(|field| field.strip_prefix(b"data="))
        .unwrap_or(text);
    let decoded = crate::decode::transform_all(&mut PercentDecoder::new(true), value)?;
    // Form decoding turned unescaped `+` into spaces; the alphabet has no space.
    Ok(decoded
        .into_iter()
        .map(|c| if c == b' ' { b'+' } else { c })
        .collect())
}
