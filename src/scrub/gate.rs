//! The consent gate: what becomes of each event (forward, anonymize, drop) given the
//! request's consent signals, the event's own (a vendor's consent field) and the route's
//! policy. Also the opt-out list: pseudonyms whose events always go.

use std::collections::HashSet;
use std::sync::Arc;

use super::hash::{PseudonymKey, PSEUDONYM_HEX_LEN};
use super::{BodyPlan, ScrubEnv, ScrubError};
use crate::consent::wire::Unreadable;
use crate::consent::{Categories, Consent, State};

/// What the policy does with an event whose consent is not granted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsentAction {
    /// As if consent were granted.
    Forward,
    /// Identifiers become pseudonyms that change every day, the IP goes, precise location
    /// goes; the coarse place stays.
    Anonymize,
    /// The event is removed; the tracker still gets its vendor's success.
    Drop,
}

/// Which purposes an event needs consent for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purposes {
    Analytics,
    Ads,
    /// Both: the stricter state of the two decides.
    AnalyticsAndAds,
}

/// A route's policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConsentPolicy {
    pub purposes: Purposes,
    pub denied: ConsentAction,
    pub unknown: ConsentAction,
}

impl ConsentPolicy {
    /// The action for `consent`, as this policy reads it.
    pub fn action(&self, consent: Consent) -> ConsentAction {
        let state = match self.purposes {
            Purposes::Analytics => consent.analytics,
            Purposes::Ads => consent.ads,
            // Needing both is not two signals about one purpose: both must be granted.
            Purposes::AnalyticsAndAds => match (consent.analytics, consent.ads) {
                (State::Granted, State::Granted) => State::Granted,
                (State::Denied, _) | (_, State::Denied) => State::Denied,
                _ => State::Unknown,
            },
        };
        match state {
            State::Granted => ConsentAction::Forward,
            State::Denied => self.denied,
            State::Unknown => self.unknown,
        }
    }
}

/// Reads one of an event's own consent fields (Segment `context.consent`, GA4 `gcs`, ...):
/// the slot its plan gave the field, and the field's JSON value. The categories say which of
/// a vendor's consent categories mean which purpose. An `Err` refuses the request.
pub type EventConsentReader = fn(u8, &[u8], &Categories) -> Result<Consent, Unreadable>;

/// Everything the gate needs for one request.
#[derive(Clone, Debug)]
pub struct ConsentGate {
    pub policy: ConsentPolicy,
    /// What the request's headers, cookies and query said.
    pub request: Consent,
    /// The vendor's reader of per-event signals, if it has any, and what its categories mean.
    pub event_reader: Option<EventConsentReader>,
    pub categories: Arc<Categories>,
    /// The tracker asked for anonymous tracking itself (Snowplow `SP-Anonymous`): nothing is
    /// forwarded as is.
    pub anonymous_requested: bool,
    /// How anonymized events are scrubbed.
    pub anonymized: Arc<Anonymized>,
}

/// The plan and environment of anonymized events.
#[derive(Debug)]
pub struct Anonymized {
    /// A plan that hashes identifiers, when the route's own keeps them; `None` uses the
    /// route's plan.
    pub plan: Option<Arc<BodyPlan>>,
    /// No IP; pseudonyms from the day's key.
    pub env: ScrubEnv,
}

impl ConsentGate {
    /// What the request's own signals decide, before any event speaks.
    pub fn request_action(&self) -> ConsentAction {
        self.decide(self.request)
    }

    /// What the policy does with `consent`.
    pub fn decide(&self, consent: Consent) -> ConsentAction {
        match self.policy.action(consent) {
            ConsentAction::Forward if self.anonymous_requested => ConsentAction::Anonymize,
            action => action,
        }
    }

    /// What the vendor's consent fields (slot, JSON value) say, together.
    pub fn read_fields<'a>(
        &self,
        fields: impl Iterator<Item = (u8, &'a [u8])>,
    ) -> Result<Consent, ScrubError> {
        let mut consent = Consent::default();
        if let Some(read) = self.event_reader {
            for (slot, value) in fields {
                let said =
                    read(slot, value, &self.categories).map_err(|_| ScrubError::UnexpectedShape)?;
                consent = consent.and(said);
            }
        }
        Ok(consent)
    }
}

/// People who asked to be forgotten: the pseudonyms of their identifiers, as the vendor sees
/// them (`identifiers.action = "hash"`). An event carrying one is dropped.
#[derive(Debug)]
pub struct OptOut {
    key: PseudonymKey,
    /// Whole pseudonyms (a kept prefix, then 32 hex digits).
    pseudonyms: HashSet<Box<[u8]>>,
    /// Matomo's visitor ids: a pseudonym's first 16 hex digits.
    visitor_ids: HashSet<[u8; 16]>,
    /// Snowplow's UUID-shaped ids, without dashes and with the version and variant digits
    /// (which the shaping sets) masked.
    uuids: HashSet<[u8; PSEUDONYM_HEX_LEN]>,
}

/// The digits of a UUID-shaped pseudonym that the shaping overwrites (version, variant).
const UUID_SET_DIGITS: [usize; 2] = [12, 16];

impl OptOut {
    /// The list from its lines (one id a line, as the vendor shows it; blank lines and `#`
    /// comments skipped).
    pub fn from_lines<'a>(key: PseudonymKey, lines: impl Iterator<Item = &'a str>) -> Self {
        let mut list = OptOut {
            key,
            pseudonyms: HashSet::new(),
            visitor_ids: HashSet::new(),
            uuids: HashSet::new(),
        };
        for line in lines.map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(visitor_id) = hex16(line) {
                list.visitor_ids.insert(visitor_id);
            } else if let Some(uuid) = uuid_digits(line) {
                list.uuids.insert(uuid);
            } else {
                list.pseudonyms.insert(line.as_bytes().into());
            }
        }
        list
    }

    /// Whether the identifier `id` (its text) belongs to someone on the list, in any shape
    /// a vendor is sent its pseudonym in.
    pub fn contains(&self, id: &[u8], scratch: &mut Vec<u8>) -> bool {
        scratch.clear();
        self.key.pseudonym_into(id, scratch);
        if self.pseudonyms.contains(scratch.as_slice()) {
            return true;
        }
        let Some(digits) = scratch.len().checked_sub(PSEUDONYM_HEX_LEN) else {
            return false;
        };
        let Ok(mut hex) = <[u8; PSEUDONYM_HEX_LEN]>::try_from(&scratch[digits..]) else {
            return false;
        };
        let first16: [u8; 16] = hex[..16].try_into().expect("16 of 32 digits");
        for at in UUID_SET_DIGITS {
            hex[at] = b'x';
        }
        self.visitor_ids.contains(&first16) || self.uuids.contains(&hex)
    }
}

fn hex16(line: &str) -> Option<[u8; 16]> {
    let bytes: [u8; 16] = line.as_bytes().try_into().ok()?;
    bytes
        .iter()
        .all(u8::is_ascii_hexdigit)
        .then(|| bytes.map(|c| c.to_ascii_lowercase()))
}

/// A UUID's 32 digits, lower case, its version and variant digits masked.
fn uuid_digits(line: &str) -> Option<[u8; PSEUDONYM_HEX_LEN]> {
    let bytes = line.as_bytes();
    let dashes = [8, 13, 18, 23];
    if bytes.len() != 36 || dashes.iter().any(|&at| bytes[at] != b'-') {
        return None;
    }
    let mut digits = [0u8; PSEUDONYM_HEX_LEN];
    let mut n = 0;
    for (i, &c) in bytes.iter().enumerate() {
        if dashes.contains(&i) {
            continue;
        }
        if !c.is_ascii_hexdigit() {
            return None;
        }
        digits[n] = c.to_ascii_lowercase();
        n += 1;
    }
    for at in UUID_SET_DIGITS {
        digits[at] = b'x';
    }
    Some(digits)
}

/// The day's key of anonymized events, derived once a day: a derivation costs an HMAC and a
/// key setup, too much for every request.
#[derive(Debug)]
pub struct DailyKeys {
    secret: PseudonymKey,
    current: std::sync::Mutex<Option<(u64, PseudonymKey)>>,
}

impl DailyKeys {
    pub fn new(secret: PseudonymKey) -> Self {
        DailyKeys {
            secret,
            current: std::sync::Mutex::new(None),
        }
    }

    /// The key of `day` (days since the Unix epoch).
    pub fn for_day(&self, day: u64) -> PseudonymKey {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        match &*current {
            Some((d, key)) if *d == day => key.clone(),
            _ => {
                let key = daily_key(&self.secret, day);
                *current = Some((day, key.clone()));
                key
            }
        }
    }
}

/// The key of the day `day` (days since the Unix epoch) for anonymized events: every
/// replica derives the same one, and no pseudonym made with it links beyond that day.
pub fn daily_key(key: &PseudonymKey, day: u64) -> PseudonymKey {
    let mut secret = Vec::with_capacity(64);
    secret.extend_from_slice(b"scrubproxy-anonymous-day:");
    secret.extend_from_slice(day.to_string().as_bytes());
    let mut derived = Vec::new();
    key.pseudonym_into(&secret, &mut derived);
    PseudonymKey::new(&derived)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consent::State::*;

    #[test]
    fn the_opt_out_list_knows_each_shape_a_vendor_sees() {
        use crate::scrub::hash::shape_pseudonym;
        use crate::scrub::IdShape;
        let key = PseudonymKey::new(b"opt-out-shapes-key-0123456789");
        let shown = |id: &str, shape: Option<IdShape>| {
            let mut pseudonym = Vec::new();
            key.pseudonym_into(id.as_bytes(), &mut pseudonym);
            if let Some(shape) = shape {
                shape_pseudonym(&mut pseudonym, shape);
            }
            String::from_utf8(pseudonym).unwrap()
        };
        let lines = [
            shown("whole", None),
            shown("matomo-visitor", Some(IdShape::Hex16)).to_uppercase(),
            shown("snowplow-user", Some(IdShape::Uuid)),
            "# a comment".to_owned(),
            String::new(),
        ];
        let list = OptOut::from_lines(key.clone(), lines.iter().map(String::as_str));
        let mut scratch = Vec::new();
        for listed in ["whole", "matomo-visitor", "snowplow-user"] {
            assert!(list.contains(listed.as_bytes(), &mut scratch), "{listed}");
        }
        for other in ["someone-else", "whole ", ""] {
            assert!(!list.contains(other.as_bytes(), &mut scratch), "{other:?}");
        }
    }

    fn consent(analytics: State, ads: State) -> Consent {
        Consent { analytics, ads }
    }

    #[test]
    fn the_policy_reads_the_purposes_it_is_for() {
        let policy = ConsentPolicy {
            purposes: Purposes::Analytics,
            denied: ConsentAction::Drop,
            unknown: ConsentAction::Anonymize,
        };
        assert_eq!(
            policy.action(consent(Granted, Denied)),
            ConsentAction::Forward
        );
        assert_eq!(policy.action(consent(Denied, Granted)), ConsentAction::Drop);
        assert_eq!(
            policy.action(consent(Unknown, Denied)),
            ConsentAction::Anonymize
        );
        let both = ConsentPolicy {
            purposes: Purposes::AnalyticsAndAds,
            ..policy
        };
        assert_eq!(both.action(consent(Granted, Denied)), ConsentAction::Drop);
        assert_eq!(
            both.action(consent(Granted, Unknown)),
            ConsentAction::Anonymize
        );
        assert_eq!(
            both.action(consent(Granted, Granted)),
            ConsentAction::Forward
        );
        let ads = ConsentPolicy {
            purposes: Purposes::Ads,
            ..policy
        };
        assert_eq!(ads.action(consent(Denied, Granted)), ConsentAction::Forward);
    }

    #[test]
    fn daily_keys_differ_by_day_and_by_secret() {
        let key = PseudonymKey::new(b"0123456789abcdef0123");
        let id = |k: &PseudonymKey| {
            let mut out = Vec::new();
            k.pseudonym_into(b"user-42", &mut out);
            out
        };
        let monday = daily_key(&key, 20_000);
        assert_eq!(id(&monday), id(&daily_key(&key, 20_000)));
        let cached = DailyKeys::new(key.clone());
        assert_eq!(id(&cached.for_day(20_000)), id(&monday));
        assert_eq!(id(&cached.for_day(20_001)), id(&daily_key(&key, 20_001)));
        assert_ne!(id(&monday), id(&daily_key(&key, 20_001)));
        assert_ne!(id(&monday), id(&key));
        let other = PseudonymKey::new(b"another secret of 20 b");
        assert_ne!(id(&monday), id(&daily_key(&other, 20_000)));
    }
}
