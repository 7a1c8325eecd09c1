//! `[geo]`, `[consent]` and each route's `consent`: the geo database and precision, the
//! consent signals read, the policies, and the opt-out list.

use std::sync::Arc;

use super::Errors;
use crate::consent::ConsentSignals;
use crate::geo::GeoDb;
use crate::rules::file::{ConsentFile, GeoFile, RouteConsentFile};
use crate::rules::GeoRules;
use crate::scrub::{ConsentAction, ConsentPolicy, OptOut, Precision, PseudonymKey, Purposes};

pub(super) fn geo(file: &GeoFile, errors: &mut Errors) -> GeoRules {
    let precision = match file.precision.as_str() {
        "none" => Precision::None,
        "country" => Precision::Country,
        "region" => Precision::Region,
        "city" => Precision::City,
        _ => {
            errors.push(
                "geo.precision",
                "must be \"none\", \"country\", \"region\" or \"city\"",
            );
            Precision::Country
        }
    };
    let from_truncated = match file.lookup.as_str() {
        "full" => false,
        "truncated" => true,
        _ => {
            errors.push("geo.lookup", "must be \"full\" or \"truncated\"");
            false
        }
    };
    let db = match &file.database {
        None => Ok(GeoDb::embedded()),
        Some(path) => GeoDb::from_file(std::path::Path::new(path)),
    };
    let db = db.unwrap_or_else(|e| {
        errors.push("geo.database", e.to_string());
        GeoDb::embedded()
    });
    GeoRules {
        db: Arc::new(db),
        precision,
        from_truncated,
        source: file.database.clone(),
    }
}

/// Decimal places of the vendors' coordinate fields, `None` when they are dropped.
pub(super) fn coordinate_decimals(file: &GeoFile, errors: &mut Errors) -> Option<u8> {
    match file.coordinates.as_str() {
        "drop" => None,
        "round" if file.coordinate_decimals <= 4 => Some(file.coordinate_decimals),
        "round" => {
            errors.push(
                "geo.coordinate_decimals",
                "must be 0 to 4 (4 places is about 11 m; more is not coarse)",
            );
            None
        }
        _ => {
            errors.push("geo.coordinates", "must be \"drop\" or \"round\"");
            None
        }
    }
}

pub(super) fn signals(file: &ConsentFile) -> ConsentSignals {
    ConsentSignals {
        gpc: file.gpc,
        dnt: file.dnt,
        tcf: file.tcf,
        onetrust: file.onetrust,
        cookiebot: file.cookiebot,
        cookie: file.cookie.clone().filter(|c| !c.is_empty()),
        categories: Arc::new(crate::consent::Categories {
            analytics: file.analytics_categories.clone(),
            ads: file.ads_categories.clone(),
        }),
    }
}

/// `[consent]`'s policy with a route's own fields in place of the ones it names.
pub(super) fn policy(
    file: &ConsentFile,
    route: Option<&RouteConsentFile>,
    at: &str,
    errors: &mut Errors,
) -> ConsentPolicy {
    let pick = |own: Option<&Option<String>>, default: &str| {
        let (text, path) = match own.and_then(Option::as_ref) {
            Some(text) => (text.clone(), at),
            None => (default.to_owned(), "consent"),
        };
        (text, path.to_owned())
    };
    let (purposes, purposes_at) = pick(route.map(|r| &r.purposes), &file.purposes);
    let (denied, denied_at) = pick(route.map(|r| &r.denied), &file.denied);
    let (unknown, unknown_at) = pick(route.map(|r| &r.unknown), &file.unknown);
    let purposes = match purposes.as_str() {
        "analytics" => Purposes::Analytics,
        "ads" => Purposes::Ads,
        "analytics+ads" => Purposes::AnalyticsAndAds,
        _ => {
            errors.push(
                format!("{purposes_at}.purposes"),
                "must be \"analytics\", \"ads\" or \"analytics+ads\"",
            );
            Purposes::Analytics
        }
    };
    ConsentPolicy {
        purposes,
        denied: action(&denied, &format!("{denied_at}.denied"), errors),
        unknown: action(&unknown, &format!("{unknown_at}.unknown"), errors),
    }
}

fn action(text: &str, at: &str, errors: &mut Errors) -> ConsentAction {
    match text {
        "forward" => ConsentAction::Forward,
        "anonymize" => ConsentAction::Anonymize,
        "drop" => ConsentAction::Drop,
        _ => {
            errors.push(at, "must be \"forward\", \"anonymize\" or \"drop\"");
            ConsentAction::Drop
        }
    }
}

/// The opt-out list: one pseudonym per line; blank lines and `#` comments are skipped.
pub(super) fn opt_out(
    file: &ConsentFile,
    key: &PseudonymKey,
    hashing: bool,
    errors: &mut Errors,
) -> Option<Arc<OptOut>> {
    let path = file.opt_out_file.as_ref()?;
    if !hashing {
        errors.push(
            "consent.opt_out_file",
            "needs identifiers.action = \"hash\": the list holds the pseudonyms vendors see",
        );
        return None;
    }
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => {
            errors.push("consent.opt_out_file", format!("cannot read: {}", e.kind()));
            return None;
        }
    };
    Some(Arc::new(OptOut::from_lines(key.clone(), text.lines())))
}
