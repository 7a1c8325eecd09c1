//! The consent a request's headers, cookies and query carry, as the rules say to read them.

use http::HeaderMap;

use super::{signals, tcf, Consent};

/// Which signals the rules read (`[consent]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsentSignals {
    pub gpc: bool,
    pub dnt: bool,
    pub tcf: bool,
    pub onetrust: bool,
    pub cookiebot: bool,
    /// The site's own consent cookie.
    pub cookie: Option<String>,
    /// The category names that mean each purpose, in that cookie and in vendors' consent
    /// fields (Segment's categories, RudderStack's consent ids).
    pub categories: std::sync::Arc<super::Categories>,
}

/// TCF's cookie and query parameter.
const TCF_COOKIE: &str = "euconsent-v2";
const TCF_PARAM: &str = "gdpr_consent";

/// Everything the request says, the stricter signal winning per purpose. A signal that
/// cannot be read says nothing.
pub fn from_request(signals: &ConsentSignals, headers: &HeaderMap, query: &str) -> Consent {
    let mut consent = Consent::default();
    // Every value of a header sent twice: the first must not hide a stricter second.
    let header = |name: &str| {
        let values = headers.get_all(name).into_iter();
        values.filter_map(|v| v.to_str().ok()).collect::<Vec<_>>()
    };
    if signals.gpc {
        for v in header("sec-gpc") {
            consent = consent.and(signals::global_privacy_control(v));
        }
    }
    if signals.dnt {
        for v in header("dnt") {
            consent = consent.and(signals::do_not_track(v));
        }
    }
    for (name, value) in cookies(headers) {
        let read = match name {
            "OptanonConsent" if signals.onetrust => signals::onetrust(value),
            "CookieConsent" if signals.cookiebot => signals::cookiebot(value),
            TCF_COOKIE if signals.tcf => tcf_string(value),
            _ if signals.cookie.as_deref() == Some(name) => {
                fn names(list: &[String]) -> Vec<&str> {
                    list.iter().map(String::as_str).collect()
                }
                let cats = &signals.categories;
                signals::category_cookie(value, &names(&cats.analytics), &names(&cats.ads))
            }
            _ => None,
        };
        if let Some(read) = read {
            consent = consent.and(read);
        }
    }
    if signals.tcf {
        for read in super::wire::query_values(query, TCF_PARAM).filter_map(tcf_string) {
            consent = consent.and(read);
        }
    }
    consent
}

fn tcf_string(value: &str) -> Option<Consent> {
    let decoded = crate::decode::form_decoded_text(value.as_bytes()).ok()?;
    tcf::decode(decoded.trim()).ok().map(|c| signals::tcf(&c))
}

/// Every `name=value` pair of every Cookie header.
fn cookies(headers: &HeaderMap) -> impl Iterator<Item = (&str, &str)> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| {
            let (name, value) = pair.split_once('=')?;
            Some((name.trim(), value.trim()))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consent::State::*;

    fn signals() -> ConsentSignals {
        ConsentSignals {
            gpc: true,
            dnt: true,
            tcf: true,
            onetrust: true,
            cookiebot: true,
            cookie: Some("site_consent".into()),
            categories: std::sync::Arc::new(crate::consent::Categories {
                analytics: vec!["analytics".into()],
                ads: vec!["ads".into()],
            }),
        }
    }

    fn read(headers: &[(&str, &str)], query: &str) -> Consent {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        from_request(&signals(), &map, query)
    }

    #[test]
    fn headers_and_cookies_combine_the_stricter_winning() {
        assert_eq!(read(&[], ""), Consent::default());
        let gpc = read(&[("sec-gpc", "1")], "");
        assert_eq!((gpc.analytics, gpc.ads), (Unknown, Denied));
        let granted = read(&[("cookie", "a=1; site_consent=analytics,ads")], "");
        assert_eq!((granted.analytics, granted.ads), (Granted, Granted));
        // GPC outweighs the banner's grant of advertising, not of analytics.
        let both = read(
            &[("sec-gpc", "1"), ("cookie", "site_consent=analytics,ads")],
            "",
        );
        assert_eq!((both.analytics, both.ads), (Granted, Denied));
        // DNT denies everything; a second Cookie header is read too.
        let dnt = read(
            &[
                ("dnt", "1"),
                ("cookie", "x=y"),
                ("cookie", "site_consent=analytics"),
            ],
            "",
        );
        assert_eq!((dnt.analytics, dnt.ads), (Denied, Denied));
        // OneTrust says analytics yes, Cookiebot says no: no.
        let cmps = read(
            &[(
                "cookie",
                "OptanonConsent=groups=C0002%3A1%2CC0004%3A0; CookieConsent={statistics:false,marketing:false}",
            )],
            "",
        );
        assert_eq!((cmps.analytics, cmps.ads), (Denied, Denied));
    }

    #[test]
    fn a_header_or_cookie_sent_twice_is_read_as_the_stricter() {
        let gpc = read(&[("sec-gpc", "0"), ("sec-gpc", "1")], "");
        assert_eq!(gpc.ads, Denied);
        let dnt = read(&[("dnt", "0"), ("dnt", "1")], "");
        assert_eq!((dnt.analytics, dnt.ads), (Denied, Denied));
        let cookies = read(
            &[
                ("cookie", "site_consent=analytics,ads"),
                ("cookie", "site_consent=necessary"),
            ],
            "",
        );
        assert_eq!((cookies.analytics, cookies.ads), (Denied, Denied));
        let one_header = read(
            &[(
                "cookie",
                "CookieConsent={statistics:true}; CookieConsent={statistics:false}",
            )],
            "",
        );
        assert_eq!(one_header.analytics, Denied);
    }

    #[test]
    fn signals_switched_off_are_not_read() {
        let mut off = signals();
        off.gpc = false;
        off.dnt = false;
        off.cookie = None;
        let mut map = HeaderMap::new();
        map.insert("sec-gpc", "1".parse().unwrap());
        map.insert("dnt", "1".parse().unwrap());
        map.insert("cookie", "site_consent=analytics".parse().unwrap());
        assert_eq!(from_request(&off, &map, ""), Consent::default());
    }

    #[test]
    fn an_unreadable_tcf_string_says_nothing() {
        assert_eq!(
            read(&[], "gdpr_consent=not-a-tcf-string"),
            Consent::default()
        );
        assert_eq!(
            read(&[("cookie", "euconsent-v2=%%%")], ""),
            Consent::default()
        );
    }
}
