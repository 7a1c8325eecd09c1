//! What the rules did to one request: counts only, never values. Becomes metrics once per request.

/// Which rule acted. The label set of the `fields_scrubbed` metric is exactly these names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleKind {
    IpField,
    IpValue,
    Identifier,
    PreciseLocation,
    PropertyDeny,
    PropertyAllow,
    EmailValue,
    UrlQuery,
    UserAgent,
    StreetValue,
    PhoneValue,
    CardValue,
    IbanValue,
    SsnValue,
    TokenValue,
    CustomValue,
    Referrer,
    /// The vendors' geo fields: the proxy's coarse place written (`inject`), or a finer
    /// place than the rules allow removed (`drop`).
    Geo,
    /// A parameter a vendor's known parameter set does not hold (gtag hits).
    UnknownField,
}

impl RuleKind {
    pub const ALL: [RuleKind; 19] = [
        RuleKind::IpField,
        RuleKind::IpValue,
        RuleKind::Identifier,
        RuleKind::PreciseLocation,
        RuleKind::PropertyDeny,
        RuleKind::PropertyAllow,
        RuleKind::EmailValue,
        RuleKind::UrlQuery,
        RuleKind::UserAgent,
        RuleKind::StreetValue,
        RuleKind::PhoneValue,
        RuleKind::CardValue,
        RuleKind::IbanValue,
        RuleKind::SsnValue,
        RuleKind::TokenValue,
        RuleKind::CustomValue,
        RuleKind::Referrer,
        RuleKind::Geo,
        RuleKind::UnknownField,
    ];

    /// The detectors that read text values (not keys, fields or URL parameters).
    fn is_text_detector(self) -> bool {
        matches!(
            self,
            RuleKind::EmailValue
                | RuleKind::StreetValue
                | RuleKind::PhoneValue
                | RuleKind::CardValue
                | RuleKind::IbanValue
                | RuleKind::SsnValue
                | RuleKind::TokenValue
                | RuleKind::CustomValue
                // The coordinates detector; vendor fields dropped as precise location are
                // counted outside `ValueRules::scrub`, so they never look like a detector's.
                | RuleKind::PreciseLocation
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::IpField => "ip_field",
            RuleKind::IpValue => "ip_value",
            RuleKind::Identifier => "identifier",
            RuleKind::PreciseLocation => "precise_location",
            RuleKind::PropertyDeny => "property_deny",
            RuleKind::PropertyAllow => "property_allow",
            RuleKind::EmailValue => "email_value",
            RuleKind::UrlQuery => "url_query",
            RuleKind::UserAgent => "user_agent",
            RuleKind::StreetValue => "street_value",
            RuleKind::PhoneValue => "phone_value",
            RuleKind::CardValue => "card_value",
            RuleKind::IbanValue => "iban_value",
            RuleKind::SsnValue => "ssn_value",
            RuleKind::TokenValue => "token_value",
            RuleKind::CustomValue => "custom_value",
            RuleKind::Referrer => "referrer",
            RuleKind::Geo => "geo",
            RuleKind::UnknownField => "unknown_field",
        }
    }
}

/// What was done to a field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldOutcome {
    Dropped,
    Hashed,
    Truncated,
    Redacted,
    Injected,
    Coarsened,
    Masked,
}

impl FieldOutcome {
    pub const ALL: [FieldOutcome; 7] = [
        FieldOutcome::Dropped,
        FieldOutcome::Hashed,
        FieldOutcome::Truncated,
        FieldOutcome::Redacted,
        FieldOutcome::Injected,
        FieldOutcome::Coarsened,
        FieldOutcome::Masked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FieldOutcome::Dropped => "drop",
            FieldOutcome::Hashed => "hash",
            FieldOutcome::Truncated => "truncate",
            FieldOutcome::Redacted => "redact",
            FieldOutcome::Injected => "inject",
            FieldOutcome::Coarsened => "coarsen",
            FieldOutcome::Masked => "mask",
        }
    }
}

/// Counts for one request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Events forwarded (anonymized ones included).
    pub events: u64,
    /// Events the rules removed whole (`events.drop`).
    pub events_dropped: u64,
    /// Events removed because consent was denied or unknown and the policy says drop.
    pub events_dropped_consent: u64,
    /// Events removed because an identifier in them is on the opt-out list.
    pub events_dropped_opt_out: u64,
    /// Events forwarded anonymized by the consent policy.
    pub events_anonymized: u64,
    fields: [[u32; FieldOutcome::ALL.len()]; RuleKind::ALL.len()],
    /// Matches a text detector dropped (its action is `drop`): how `ValueRules::scrub_member`
    /// tells, for the value it just scrubbed, that the member must go.
    detector_drops: u32,
}

impl Report {
    #[inline]
    pub fn count(&mut self, rule: RuleKind, outcome: FieldOutcome) {
        let cell = &mut self.fields[rule as usize][outcome as usize];
        *cell = cell.saturating_add(1);
        if outcome == FieldOutcome::Dropped && rule.is_text_detector() {
            self.detector_drops = self.detector_drops.wrapping_add(1);
        }
    }

    /// Events removed whole, for any reason.
    pub fn events_removed(&self) -> u64 {
        self.events_dropped + self.events_dropped_consent + self.events_dropped_opt_out
    }

    /// Every event of the request was removed: nothing is sent, the tracker gets its
    /// vendor's success.
    pub fn nothing_left(&self) -> bool {
        self.events == 0 && self.events_removed() > 0
    }

    /// A counter that moves whenever a text detector drops a match.
    pub fn detector_drops(&self) -> u32 {
        self.detector_drops
    }

    pub fn get(&self, rule: RuleKind, outcome: FieldOutcome) -> u32 {
        self.fields[rule as usize][outcome as usize]
    }

    /// Every non-zero (rule, outcome, count).
    pub fn nonzero(&self) -> impl Iterator<Item = (RuleKind, FieldOutcome, u32)> + '_ {
        RuleKind::ALL.iter().flat_map(move |&rule| {
            FieldOutcome::ALL.iter().filter_map(move |&outcome| {
                let n = self.get(rule, outcome);
                (n > 0).then_some((rule, outcome, n))
            })
        })
    }

    /// Adds another part of the same request (its query, its body).
    pub fn merge(&mut self, other: &Report) {
        self.events += other.events;
        self.events_dropped += other.events_dropped;
        self.events_dropped_consent += other.events_dropped_consent;
        self.events_dropped_opt_out += other.events_dropped_opt_out;
        self.events_anonymized += other.events_anonymized;
        for (mine, theirs) in self.fields.iter_mut().zip(&other.fields) {
            for (a, b) in mine.iter_mut().zip(theirs) {
                *a = a.saturating_add(*b);
            }
        }
    }

    pub fn total_fields(&self) -> u64 {
        self.nonzero().map(|(_, _, n)| u64::from(n)).sum()
    }
}
