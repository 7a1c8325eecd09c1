//! The signals other than TCF strings: browser headers and the consent cookies of common
//! consent managers. Each reader takes the raw value and returns what it says, or nothing
//! when the value is not in its format (an unreadable cookie is silence, not consent).

use super::{Consent, State};

/// `Sec-GPC: 1` (Global Privacy Control): the user objects to sale and sharing, which is
/// what advertising does with events; it says nothing about first-party analytics.
pub fn global_privacy_control(value: &str) -> Consent {
    Consent {
        analytics: State::Unknown,
        ads: if value.trim() == "1" {
            State::Denied
        } else {
            State::Unknown
        },
    }
}

/// `DNT: 1` (Do Not Track): the user asks not to be tracked at all.
pub fn do_not_track(value: &str) -> Consent {
    let state = if value.trim() == "1" {
        State::Denied
    } else {
        State::Unknown
    };
    Consent {
        analytics: state,
        ads: state,
    }
}

/// OneTrust's `OptanonConsent` cookie: a query string whose `groups` parameter lists
/// categories as `C0002:1,C0004:0`. By OneTrust's default ids, C0002 (performance) is
/// analytics and C0004 (targeting) is advertising. A group named twice, or a second
/// `groups` list, is read as the stricter of what they say.
pub fn onetrust(cookie: &str) -> Option<Consent> {
    let mut lists = super::wire::query_values(cookie, "groups").peekable();
    lists.peek()?;
    let mut consent = Consent::default();
    for groups in lists.map(percent_decode) {
        for group in groups.split(',') {
            let Some((name, flag)) = group.split_once(':') else {
                continue;
            };
            let state = State::from_bool(flag.trim() == "1");
            match name.trim() {
                "C0002" => consent.analytics = consent.analytics.and(state),
                "C0004" => consent.ads = consent.ads.and(state),
                _ => {}
            }
        }
    }
    Some(consent)
}

/// Cookiebot's `CookieConsent` cookie: a JavaScript object literal
/// (`{stamp:'...',necessary:true,statistics:true,marketing:false,...}`), often
/// percent-encoded; `statistics` is analytics and `marketing` advertising. `-1` (consent not
/// required where the visitor is) says nothing either way. A flag written twice is read as
/// the stricter.
pub fn cookiebot(cookie: &str) -> Option<Consent> {
    let text = percent_decode(cookie);
    let body = text.trim().strip_prefix('{')?.strip_suffix('}')?;
    let flag = |name: &str| {
        body.split(',')
            .filter_map(|member| {
                let (key, value) = member.split_once(':')?;
                let key = key.trim().trim_matches(|c| c == '\'' || c == '"');
                (key == name).then(|| match value.trim() {
                    "true" => State::Granted,
                    "false" => State::Denied,
                    _ => State::Unknown,
                })
            })
            .fold(State::Unknown, State::and)
    };
    Some(Consent {
        analytics: flag("statistics"),
        ads: flag("marketing"),
    })
}

/// A plain consent cookie of the site's own: a JSON object of categories
/// (`{"analytics":true,"ads":false}`) or a comma-separated list of the granted ones
/// (`necessary,analytics`). `analytics` and `ads` name the categories that mean each
/// purpose on this site (ASCII case ignored). In a list, a category not listed is denied: the
/// list is the grant.
pub fn category_cookie(cookie: &str, analytics: &[&str], ads: &[&str]) -> Option<Consent> {
    let text = percent_decode(cookie);
    let text = text.trim();
    if text.starts_with('{') {
        // Every member, a category named twice included: the stricter wins.
        let object: super::wire::Members = serde_json::from_str(text).ok()?;
        let state = |names: &[&str]| {
            object
                .decisions()
                .filter(|(key, _)| names.iter().any(|n| n.eq_ignore_ascii_case(key)))
                .map(|(_, granted)| State::from_bool(granted))
                .fold(State::Unknown, State::and)
        };
        return Some(Consent {
            analytics: state(analytics),
            ads: state(ads),
        });
    }
    let granted: Vec<&str> = text
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    if granted.is_empty() {
        return None;
    }
    let state = |names: &[&str]| {
        let listed = |n: &&str| granted.iter().any(|g| g.eq_ignore_ascii_case(n));
        State::from_bool(names.iter().any(listed))
    };
    Some(Consent {
        analytics: state(analytics),
        ads: state(ads),
    })
}

/// What a TCF v2 string grants: analytics needs purposes 1 (store and access information)
/// and 8 (measure content performance); advertising needs 1, 3 and 4 (build and use a
/// personalised advertising profile). Anything else is a denial: TCF strings are explicit.
pub fn tcf(consent: &super::tcf::TcfConsent) -> Consent {
    let all = |purposes: &[u8]| State::from_bool(purposes.iter().all(|&p| consent.purpose(p)));
    Consent {
        analytics: all(&[1, 8]),
        ads: all(&[1, 3, 4]),
    }
}

/// Cookie values are often percent-encoded; text that does not decode is read as it is.
fn percent_decode(text: &str) -> String {
    crate::decode::form_decoded_text(text.as_bytes()).unwrap_or_else(|_| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::State::*;
    use super::*;

    fn consent(analytics: State, ads: State) -> Consent {
        Consent { analytics, ads }
    }

    #[test]
    fn browser_headers() {
        assert_eq!(global_privacy_control("1"), consent(Unknown, Denied));
        assert_eq!(global_privacy_control("0"), consent(Unknown, Unknown));
        assert_eq!(do_not_track(" 1 "), consent(Denied, Denied));
        assert_eq!(do_not_track("unspecified"), consent(Unknown, Unknown));
    }

    #[test]
    fn onetrust_groups() {
        let cookie = "isGpcEnabled=0&datestamp=Mon+Nov+23+2026&version=202310.1.0&groups=C0001%3A1%2CC0002%3A1%2CC0003%3A0%2CC0004%3A0&hosts=";
        assert_eq!(onetrust(cookie), Some(consent(Granted, Denied)));
        assert_eq!(onetrust("groups=C0001:1"), Some(consent(Unknown, Unknown)));
        assert_eq!(onetrust("consentId=abc"), None);
    }

    #[test]
    fn a_category_said_twice_in_a_cookie_is_the_stricter() {
        for cookie in [
            "groups=C0002%3A1%2CC0002%3A0",
            "groups=C0002%3A0%2CC0002%3A1",
            "groups=C0002:1,C0004:1&groups=C0002:0",
            "groups=C0002:0&groups=C0002:1",
            "groups=C0001:1&x=1&groups=C0002:1,+C0002:0",
        ] {
            assert_eq!(onetrust(cookie).unwrap().analytics, Denied, "{cookie}");
        }
        assert_eq!(
            onetrust("groups=C0002:1&groups=C0002:1"),
            Some(consent(Granted, Unknown))
        );
        for cookie in [
            "{statistics:true,statistics:false}",
            "{statistics:false,statistics:true}",
            "{'statistics':true,\"statistics\":false}",
            "{statistics:-1,statistics:false}",
        ] {
            assert_eq!(cookiebot(cookie).unwrap().analytics, Denied, "{cookie}");
        }
        let names = (&["analytics"][..], &["ads"][..]);
        for cookie in [
            r#"{"analytics":false,"analytics":true}"#,
            r#"{"analytics":true,"Analytics":false}"#,
            "%7B%22analytics%22%3Atrue%2C%22analytics%22%3Afalse%7D",
        ] {
            let read = category_cookie(cookie, names.0, names.1).unwrap();
            assert_eq!(read.analytics, Denied, "{cookie}");
        }
    }

    #[test]
    fn cookiebot_flags() {
        let cookie = "{stamp:%27abc%3D%3D%27%2Cnecessary:true%2Cpreferences:false%2Cstatistics:true%2Cmarketing:false%2Cmethod:%27explicit%27%2Cver:1}";
        assert_eq!(cookiebot(cookie), Some(consent(Granted, Denied)));
        assert_eq!(
            cookiebot("{necessary:true,statistics:-1}"),
            Some(consent(Unknown, Unknown))
        );
        assert_eq!(cookiebot("-1"), None);
    }

    #[test]
    fn a_sites_own_category_cookie() {
        let names = (&["analytics", "statistics"][..], &["ads", "marketing"][..]);
        assert_eq!(
            category_cookie(r#"{"analytics":true,"ads":false}"#, names.0, names.1),
            Some(consent(Granted, Denied))
        );
        // Two names for one purpose that disagree: the stricter.
        assert_eq!(
            category_cookie(r#"{"analytics":true,"statistics":false}"#, names.0, names.1),
            Some(consent(Denied, Unknown))
        );
        assert_eq!(
            category_cookie("necessary,analytics", names.0, names.1),
            Some(consent(Granted, Denied))
        );
        // Case is ignored, in objects and in lists.
        assert_eq!(
            category_cookie(r#"{"Analytics":false}"#, names.0, names.1),
            Some(consent(Denied, Unknown))
        );
        assert_eq!(
            category_cookie("Necessary,Analytics", names.0, names.1),
            Some(consent(Granted, Denied))
        );
        assert_eq!(category_cookie("", names.0, names.1), None);
        assert_eq!(category_cookie("{broken", names.0, names.1), None);
    }
}
