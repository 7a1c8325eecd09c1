//! gtag's items (`pr1=idSKU-1~nmGift~pr49.99~qt1~k0buyer_email~v0jane@...`): fields joined
//! by `~`, each a two-letter code and its value, and custom parameters as `k<n><name>` with
//! `v<n><value>`. Each field is judged like a member: the property rules by the GA4 item
//! parameter its code stands for (`nm` is `item_name`) or by its custom name (a pair whose
//! name is denied goes with its value), the value rules on every value.

use super::*;

/// Item field codes and the GA4 item parameters they stand for.
const ITEM_FIELDS: &[(&[u8], &str)] = &[
    (b"id", "item_id"),
    (b"nm", "item_name"),
    (b"br", "item_brand"),
    (b"ca", "item_category"),
    (b"c2", "item_category2"),
    (b"c3", "item_category3"),
    (b"c4", "item_category4"),
    (b"c5", "item_category5"),
    (b"va", "item_variant"),
    (b"pr", "price"),
    (b"qt", "quantity"),
    (b"cp", "coupon"),
    (b"ds", "discount"),
    (b"af", "affiliation"),
    (b"lp", "index"),
    (b"lo", "location_id"),
    (b"ln", "item_list_name"),
    (b"li", "item_list_id"),
    (b"pi", "promotion_id"),
    (b"pn", "promotion_name"),
    (b"cn", "creative_name"),
    (b"cs", "creative_slot"),
];

/// One field of an item: the part before its value (code, or `k`/`v` and index; for a
/// custom name, the whole field) and its value.
struct ItemField<'a> {
    prefix: &'a [u8],
    value: &'a [u8],
    kind: FieldKind<'a>,
}

enum FieldKind<'a> {
    /// `k<n><name>`: a custom parameter's name.
    CustomName { index: &'a [u8], name: &'a [u8] },
    /// `v<n><value>`: a custom parameter's value.
    CustomValue { index: &'a [u8] },
    /// A two-letter code, known or not.
    Coded { code: &'a [u8] },
}

impl<'a> ItemField<'a> {
    fn read(field: &'a [u8]) -> Self {
        let index_end = field
            .iter()
            .skip(1)
            .position(|c| !c.is_ascii_digit())
            .map_or(field.len(), |p| p + 1);
        let index = field.get(1..index_end).unwrap_or_default();
        match field.first() {
            Some(b'k') if !index.is_empty() => ItemField {
                prefix: field,
                value: &[],
                kind: FieldKind::CustomName {
                    index,
                    name: &field[index_end..],
                },
            },
            Some(b'v') if !index.is_empty() => ItemField {
                prefix: &field[..index_end],
                value: &field[index_end..],
                kind: FieldKind::CustomValue { index },
            },
            _ => {
                let (code, value) = field.split_at(field.len().min(2));
                ItemField {
                    prefix: code,
                    value,
                    kind: FieldKind::Coded { code },
                }
            }
        }
    }
}

impl Walk<'_> {
    /// Whether the property rules remove a member named `name`.
    fn denies_name(&self, name: &[u8]) -> bool {
        match self.plan.mode {
            PropertyMode::Deny => self.plan.deny.matches_key(name),
            PropertyMode::Allow => !self.plan.allow.matches_key(name),
        }
    }

    /// Whether the property rules remove `field` (`denied_custom`: indexes of the custom
    /// parameters whose names they remove).
    fn denies_item_field(&self, field: &ItemField<'_>, denied_custom: &[&[u8]]) -> bool {
        match field.kind {
            FieldKind::CustomName { index, .. } | FieldKind::CustomValue { index } => {
                denied_custom.contains(&index)
            }
            FieldKind::Coded { code } => ITEM_FIELDS
                .iter()
                .find(|(c, _)| *c == code)
                .is_some_and(|(_, name)| self.denies_name(name.as_bytes())),
        }
    }

    /// One gtag item (see the module's doc), rewritten field by field.
    pub(super) fn gtag_item(&mut self, i: usize, depth: usize) -> Result<usize, ScrubError> {
        if self.input.get(i) != Some(&b'"') {
            return self.value(i, None, true, depth);
        }
        let tok = json::string_at(self.input, i)?;
        // A few fields in a query parameter: nothing of a hot path.
        let mut text = Vec::new();
        json::unescape_into(tok.raw(self.input), &mut text)?;
        let fields: Vec<ItemField<'_>> = text.split(|&c| c == b'~').map(ItemField::read).collect();
        let denied_custom: Vec<&[u8]> = fields
            .iter()
            .filter_map(|f| match f.kind {
                FieldKind::CustomName { index, name } if self.denies_name(name) => Some(index),
                _ => None,
            })
            .collect();
        let (mut kept, mut out, mut tmp) = (Vec::new(), Vec::new(), Vec::new());
        let mut changed = false;
        for field in &fields {
            if self.denies_item_field(field, &denied_custom) {
                self.report
                    .count(RuleKind::PropertyDeny, FieldOutcome::Dropped);
                changed = true;
                continue;
            }
            if !kept.is_empty() {
                kept.push(b'~');
            }
            kept.extend_from_slice(field.prefix);
            match self
                .plan
                .values
                .scrub_member(field.value, &mut out, &mut tmp, self.report)
            {
                ValueChange::Unchanged => kept.extend_from_slice(field.value),
                ValueChange::Changed => {
                    kept.extend_from_slice(&out);
                    changed = true;
                }
                // A detector set to drop leaves the field's code without its value.
                ValueChange::DropMember => changed = true,
            }
        }
        if changed {
            self.replace_with_string(tok.start, tok.end, &kept);
        }
        Ok(tok.end)
    }
}
