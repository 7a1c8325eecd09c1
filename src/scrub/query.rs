//! Query-string parameters outside the payload: vendor flags (`verbose=1`, `ip=1`) pass, a
//! parameter the property rules deny is removed, and every value gets the value rules
//! (addresses, e-mail addresses, URLs), because trackers and pages put PII in queries too.

use super::plan::{EventPlan, PropertyMode};
use super::report::{FieldOutcome, Report, RuleKind};
use super::values::ValueChange;

/// What becomes of one parameter.
#[derive(Debug, PartialEq, Eq)]
pub enum ParamOutcome {
    Keep,
    Drop,
    /// The decoded value was rewritten; the new text is in the caller's buffer.
    Replace,
}

impl EventPlan {
    /// Judges one parameter, given its percent-decoded `name` and `value`.
    pub fn scrub_param(
        &self,
        name: &[u8],
        value: &[u8],
        out: &mut Vec<u8>,
        report: &mut Report,
    ) -> ParamOutcome {
        let denied = self.deny.matches_key_name(name);
        if self.mode == PropertyMode::Deny && denied {
            report.count(RuleKind::PropertyDeny, FieldOutcome::Dropped);
            return ParamOutcome::Drop;
        }
        if super::values::contains_email(name) {
            report.count(RuleKind::EmailValue, FieldOutcome::Dropped);
            return ParamOutcome::Drop;
        }
        let mut tmp = Vec::new();
        match self.values.scrub_member(value, out, &mut tmp, report) {
            ValueChange::Unchanged => ParamOutcome::Keep,
            ValueChange::Changed => ParamOutcome::Replace,
            // A detector set to drop takes the parameter, as it takes a member.
            ValueChange::DropMember => ParamOutcome::Drop,
        }
    }
}
