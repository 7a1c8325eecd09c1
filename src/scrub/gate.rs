//! The consent gate: what becomes of each event (forward, anonymize, drop) given the
//! request's consent signals, the event's own (a vendor's consent field) and the route's
//! policy. Also the opt-out list: pseudonyms whose events always go.

use std::collections::HashSet;
use std::sync::Arc;

use super::hash::PseudonymKey;
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
    pub key: PseudonymKey,
    pub pseudonyms: HashSet<Box<[u8]>>,
}

impl OptOut {
    /// Whether the identifier `id` (its text) belongs to someone on the list.
    pub fn contains(&self, id: &[u8], scratch: &mut Vec<u8>) -> bool {
        scratch.clear();
        self.key.pseudonym_into(id, scratch);
        self.pseudonyms.contains(scratch.as_slice())
    }
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
