//! The compiled plan for one kind of event: a trie of the vendor's semantic fields and the
//! operator's path rules, the operator's key rules for property containers, and value rules.
//! Built once per rules snapshot; read by `rewrite` for every event.

use super::keys::{normalize, KeySet};
use super::place::GeoValue;
use super::report::RuleKind;
use super::values::ValueRules;

/// What happens to a member whose path reaches a trie node with an action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldAction {
    /// Remove the member.
    Drop(RuleKind),
    /// Replace a string or number with its keyed pseudonym.
    Hash,
    /// `Hash`, with the pseudonym in the shape the vendor validates (Matomo's 16 hex digits).
    HashAs(IdShape),
    /// The vendor's own IP field: truncate an address, otherwise write the client's.
    VendorIp,
    /// Keep as is, without value rules (vendor-structural fields such as write keys).
    Keep,
    /// The event's name: kept, and the whole event is dropped when the name is on the
    /// operator's `events.drop` list.
    EventName,
    /// A user-agent string: coarsened, dropped or kept as `values.user_agent` says.
    UserAgent,
    /// The page the visitor came from: cut to its origin when `values.referrer` says so,
    /// otherwise (and for text that is not an absolute URL) the value rules apply.
    Referrer,
    /// Refuse the whole request: a member that must never appear where it is (a `batch` inside
    /// what was taken for a single event would carry events no rule looked at).
    Reject,
    /// A string holding JSON (Plausible `p`, Snowplow `co`): its content is scrubbed with this
    /// node's children and written back as a string. An object or array is walked as usual.
    JsonString,
    /// A string holding a JSON object of `[name, value]` pairs (Matomo custom variables
    /// `{"1":["email","jane@..."]}`): the property rules judge each name, the value rules
    /// each value, and a denied pair goes whole.
    NamedPairs,
    /// A gtag item (`pr1=idSKU-1~nmGift~k0buyer_email~v0jane@...`): each `~` field judged
    /// by the GA4 item parameter its code stands for, or by its custom name.
    GtagItem,
    /// A string holding base64url JSON without padding (Snowplow `cx`, `ue_px`): decoded,
    /// scrubbed like `JsonString`, and encoded back the same way.
    Base64JsonString,
    /// A vendor geo field: the proxy's coarse place replaces it; a sender's value finer than
    /// `geo.precision` is removed.
    Geo(GeoValue),
    /// A latitude or longitude: rounded (`geo.coordinates = "round"`) or removed.
    Coordinate,
    /// A vendor's "do not geolocate" switch (PostHog `$geoip_disable`): `true` whenever the
    /// vendor must not place the visitor itself (`Ensured::NoVendorGeo`), else kept.
    NoVendorGeo,
    /// A vendor's consent field, in its reader's slot: kept (value rules apply), and its
    /// value handed to the vendor's consent reader once the event is walked.
    ConsentSignal(u8),
}

/// The shape a vendor requires of an identifier, which its pseudonym keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdShape {
    /// 16 lower-case hex digits (Matomo's visitor id `_id`, `cid`).
    Hex16,
    /// A version 4 UUID (Snowplow's domain and network user ids, mobile ids in contexts).
    Uuid,
}

impl FieldAction {
    /// The identifier action with pseudonyms in `shape`; `Drop` and `Keep` are unchanged.
    pub fn shaped(self, shape: IdShape) -> FieldAction {
        match self {
            FieldAction::Hash => FieldAction::HashAs(shape),
            other => other,
        }
    }
}

/// What may follow the prefix of a family of names (`PlanNode::prefixed`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameTail {
    /// Any name (`ep.` + a parameter name).
    Any,
    /// Digits only (`pr` + an item's position).
    Digits,
}

impl NameTail {
    fn fits(self, tail: &[u8]) -> bool {
        match self {
            NameTail::Any => true,
            NameTail::Digits => tail.iter().all(u8::is_ascii_digit),
        }
    }
}

/// The value a vendor needs present, written when the sender left it out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ensured {
    /// The (truncated) client IP, or the vendor's "no IP" placeholder.
    ClientIp,
    /// An object holding its own ensured members.
    Object,
    /// An object whose ensured members are written only when the sender sent the object.
    ExistingObject,
    /// `true` when the vendor must not geolocate the address it sees (PostHog
    /// `$geoip_disable`): see `ScrubEnv::vendor_must_not_geolocate`.
    NoVendorGeo,
    /// The proxy's place, spelled as the field wants; written only when the lookup found it.
    Geo(GeoValue),
    /// A member without which the vendor refuses the event (Segment's `type` in a batch):
    /// an event that lacks it is refused with the request, never filled in.
    Required,
}

/// Whether property rules name what goes (deny) or what stays (allow).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PropertyMode {
    #[default]
    Deny,
    Allow,
}

pub(crate) type NodeId = usize;
pub(crate) const ROOT: NodeId = 0;

#[derive(Debug, Default)]
pub(crate) struct PlanNode {
    pub children: Vec<(Box<[u8]>, NodeId)>,
    pub any_child: Option<NodeId>,
    pub action: Option<FieldAction>,
    /// Members whose names start with one of these (normalized) prefixes lead to the node:
    /// a flat protocol's families of names (gtag's `ep.*`, `up.*`, `pr1`...).
    pub prefixed: Vec<(Box<[u8]>, NameTail, NodeId)>,
    /// Operator key rules apply to members below this node.
    pub container: bool,
    /// The vendor's parameter set is known here: a member that leads to no node goes
    /// (`RuleKind::UnknownField`), whatever its value.
    pub closed: bool,
    /// Members written at this object's end when absent: (key as the vendor spells it, node).
    pub ensures: Vec<(&'static str, NodeId)>,
    pub ensured: Option<Ensured>,
}

/// The vendor's placeholder when IPs are removed (`None`: simply omit the field).
pub type NoIpPlaceholder = Option<&'static str>;

/// The compiled plan for one event shape of one vendor. Never changed after `build`: key
/// verdicts are cached per thread under its `id` (see `key_cache::with_thread_cache`), so a
/// changed plan would be judged by its old verdicts. Rules reloads build new plans.
#[derive(Debug)]
pub struct EventPlan {
    /// Unique for the process's lifetime (never reused, unlike an address): key verdicts
    /// cached per thread are filed under it, so a reloaded plan never sees an old one's.
    pub(crate) id: u64,
    pub(crate) nodes: Vec<PlanNode>,
    pub(crate) mode: PropertyMode,
    pub(crate) deny: KeySet,
    pub(crate) allow: KeySet,
    pub(crate) values: ValueRules,
    pub(crate) no_ip_placeholder: NoIpPlaceholder,
    pub(crate) drop_events: Vec<Box<[u8]>>,
}

impl EventPlan {
    /// The node a member with normalized key `key` moves to from `node`.
    #[inline]
    pub(crate) fn child(&self, node: NodeId, key: &[u8]) -> Option<NodeId> {
        let n = &self.nodes[node];
        n.children
            .iter()
            .find(|(k, _)| super::keys::eq_short(k, key))
            .map(|&(_, id)| id)
            .or_else(|| {
                n.prefixed
                    .iter()
                    .find(|(p, tail, _)| {
                        key.len() > p.len() && key.starts_with(p) && tail.fits(&key[p.len()..])
                    })
                    .map(|&(_, _, id)| id)
            })
            .or(n.any_child)
    }

    pub(crate) fn node(&self, id: NodeId) -> &PlanNode {
        &self.nodes[id]
    }
}

/// Operator rules for properties, as compiled from `rules.toml`.
#[derive(Debug, Default)]
pub struct PropertyRules {
    pub mode: PropertyMode,
    /// Key names, globs or word rules (`word:street`), any depth anywhere in the event
    /// (deny) or inside containers (allow).
    pub deny_keys: Vec<String>,
    /// Dotted paths from the event root (`*` is one segment).
    pub deny_paths: Vec<String>,
    pub allow_keys: Vec<String>,
    pub allow_paths: Vec<String>,
    /// Event names whose events are removed whole (exact match).
    pub drop_events: Vec<String>,
}

/// Names of members that hold a recorded cookie jar (`document.cookie` as a property) or one
/// of the vendors' identifier cookies (Segment's `ajs_*_id`, PostHog's `ph_<token>_posthog`,
/// Mixpanel's `mp_<token>_mixpanel`, Snowplow's `_sp_id.<hash>`, Matomo's `_pk_id.<hash>`,
/// GA's `FPID`): the `Cookie` header by another road, which the proxy never forwards. They
/// go wherever they are, like the operator's deny keys, whatever the rules say.
pub const RECORDED_COOKIES: &[&str] = &[
    "cookie",
    "cookies",
    "document.cookie",
    "ajs_user_id",
    "ajs_anonymous_id",
    "ajs_group_id",
    "ph_*_posthog",
    "mp_*_mixpanel",
    "_sp_id.*",
    "_pk_id.*",
    "FPID",
];

/// Builds an `EventPlan`: vendor files declare their fields, then operator rules are merged.
#[derive(Debug)]
pub struct EventPlanBuilder {
    nodes: Vec<PlanNode>,
}

impl Default for EventPlanBuilder {
    fn default() -> Self {
        EventPlanBuilder {
            nodes: vec![PlanNode::default()],
        }
    }
}

impl EventPlanBuilder {
    fn node_for(&mut self, path: &str) -> NodeId {
        let mut node = ROOT;
        for segment in path.split('.').filter(|s| !s.is_empty()) {
            node = if segment == "*" {
                match self.nodes[node].any_child {
                    Some(id) => id,
                    None => {
                        let id = self.push_node();
                        self.nodes[node].any_child = Some(id);
                        id
                    }
                }
            } else {
                let key = normalize(segment);
                match self.nodes[node].children.iter().find(|(k, _)| **k == *key) {
                    Some(&(_, id)) => id,
                    None => {
                        let id = self.push_node();
                        self.nodes[node].children.push((key.into(), id));
                        id
                    }
                }
            };
        }
        node
    }

    fn push_node(&mut self) -> NodeId {
        self.nodes.push(PlanNode::default());
        self.nodes.len() - 1
    }

    /// Sets the action for the member at `path` (dotted, from the event root).
    pub fn field(&mut self, path: &str, action: FieldAction) -> &mut Self {
        let id = self.node_for(path);
        self.nodes[id].action = Some(action);
        self
    }

    /// A member of the root whose (flat) name starts with `prefix` (`ep.`): its node, with
    /// `action` if any.
    pub fn prefixed(
        &mut self,
        prefix: &str,
        tail: NameTail,
        action: Option<FieldAction>,
    ) -> &mut Self {
        let id = self.push_node();
        self.nodes[id].action = action;
        self.nodes[ROOT]
            .prefixed
            .push((normalize(prefix).into(), tail, id));
        self
    }

    /// A member the vendor's protocol knows, with no action of its own: the property and
    /// value rules decide it (only needed below a `closed` node).
    pub fn known(&mut self, path: &str) -> &mut Self {
        self.node_for(path);
        self
    }

    /// Marks `path` as closed: members below it that lead to no node are removed.
    pub fn closed(&mut self, path: &str) -> &mut Self {
        let id = self.node_for(path);
        self.nodes[id].closed = true;
        self
    }

    /// Marks `path` as a property container: operator key rules apply below it.
    pub fn container(&mut self, path: &str) -> &mut Self {
        let id = self.node_for(path);
        self.nodes[id].container = true;
        self
    }

    /// A vendor geo field: the proxy's place replaces the sender's and is written when absent.
    pub fn geo(&mut self, path: &'static str, value: GeoValue) -> &mut Self {
        self.field(path, FieldAction::Geo(value))
            .ensure(path, Ensured::Geo(value))
    }

    /// A vendor geo field written only inside an object the sender sent (Mixpanel's
    /// `$set`: a profile update holds one operation, so the proxy must not add one).
    pub fn geo_in_existing(&mut self, path: &'static str, value: GeoValue) -> &mut Self {
        self.geo(path, value);
        let (parent, _) = path.rsplit_once('.').unwrap_or(("", path));
        let id = self.node_for(parent);
        self.nodes[id].ensured = Some(Ensured::ExistingObject);
        self
    }

    /// Makes sure the member at `path` exists, creating the objects on the way.
    pub fn ensure(&mut self, path: &'static str, value: Ensured) -> &mut Self {
        let mut parent = ROOT;
        let segments: Vec<&'static str> = path.split('.').collect();
        for (i, segment) in segments.iter().enumerate() {
            let prefix_len = segments[..=i].iter().map(|s| s.len() + 1).sum::<usize>() - 1;
            let id = self.node_for(&path[..prefix_len]);
            let last = i + 1 == segments.len();
            self.nodes[id].ensured = Some(if last { value } else { Ensured::Object });
            if !self.nodes[parent].ensures.iter().any(|&(_, n)| n == id) {
                self.nodes[parent].ensures.push((segment, id));
            }
            parent = id;
        }
        self
    }

    /// Merges the operator's rules and seals the plan.
    pub fn build(
        mut self,
        properties: &PropertyRules,
        values: ValueRules,
        no_ip_placeholder: NoIpPlaceholder,
    ) -> EventPlan {
        for path in &properties.deny_paths {
            let id = self.node_for(path);
            if self.nodes[id].action.is_none() {
                self.nodes[id].action = Some(FieldAction::Drop(RuleKind::PropertyDeny));
            }
        }
        // Allowed paths only need to exist in the trie: allow mode keeps members that have a node.
        for path in &properties.allow_paths {
            self.node_for(path);
        }
        // Deny rules hold at any depth in every place of the event, its top level included:
        // the vendor's own fields with an action are decided by it first. (An allow list
        // keeps to the containers, or it would remove the vendor's structure.)
        if properties.mode == PropertyMode::Deny {
            self.nodes[ROOT].container = true;
        }
        static NEXT_PLAN_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        EventPlan {
            id: NEXT_PLAN_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            nodes: self.nodes,
            mode: properties.mode,
            deny: KeySet::new(
                properties
                    .deny_keys
                    .iter()
                    .map(String::as_str)
                    .chain(RECORDED_COOKIES.iter().copied()),
            ),
            allow: KeySet::new(properties.allow_keys.iter().map(String::as_str)),
            values,
            no_ip_placeholder,
            drop_events: properties
                .drop_events
                .iter()
                .map(|e| e.as_bytes().into())
                .collect(),
        }
    }
}
