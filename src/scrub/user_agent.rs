//! User-agent coarsening: a full UA string fingerprints a browser (build numbers, device
//! models, OS patch levels). The coarse form keeps the browser family and major version and
//! the OS family, written as a canonical UA string in the style of Chrome's own UA reduction,
//! so vendors' UA parsers still read browser and OS from it.

/// The browser families kept, with the token that names each, in the order to test them
/// (Edge and Opera also say Chrome; Chrome also says Safari).
const BROWSERS: &[(&str, &str)] = &[
    ("Edge", "Edg/"),
    ("Opera", "OPR/"),
    ("Samsung", "SamsungBrowser/"),
    ("Firefox", "Firefox/"),
    ("Firefox", "FxiOS/"),
    ("Chrome", "CriOS/"),
    ("Chrome", "Chrome/"),
    ("Safari", "Version/"),
];

/// Writes the coarse form of `ua` into `out`; false when `ua` names no known browser (the
/// caller then drops the value rather than keep an unknown string).
pub fn coarsen(ua: &[u8], out: &mut Vec<u8>) -> bool {
    let Ok(ua) = std::str::from_utf8(ua) else {
        return false;
    };
    let Some((family, major)) = browser(ua) else {
        return false;
    };
    let platform = platform(ua);
    out.clear();
    out.extend_from_slice(b"Mozilla/5.0 (");
    out.extend_from_slice(platform.as_bytes());
    out.extend_from_slice(b") ");
    let engine = match family {
        "Firefox" => format!("Gecko/20100101 Firefox/{major}.0"),
        "Safari" => {
            format!("AppleWebKit/605.1.15 (KHTML, like Gecko) Version/{major}.0 Safari/605.1.15")
        }
        "Edge" => format!(
            "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{major}.0.0.0 Safari/537.36 Edg/{major}.0.0.0"
        ),
        "Opera" => format!(
            "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{major}.0.0.0 Safari/537.36 OPR/{major}.0.0.0"
        ),
        "Samsung" => format!(
            "AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/{major}.0 Chrome/{major}.0.0.0 Safari/537.36"
        ),
        _ => format!("AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{major}.0.0.0 Safari/537.36"),
    };
    out.extend_from_slice(engine.as_bytes());
    true
}

/// User agents coarsened before, with their coarse forms (`None`: nothing coarse can be made
/// of it). Visitors share a few browsers, so each distinct UA string is coarsened (token
/// searches) once per thread; coarsening is a pure function of the string, so a remembered
/// answer is always right. A handful of slots, replaced in turn.
#[derive(Default)]
struct Memo {
    slots: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    next: usize,
}

const MEMO_SLOTS: usize = 16;
/// Longer strings are coarsened each time: real UAs are a few hundred bytes, and a memo must
/// not pin a huge hostile string (or keep a fingerprint) beyond its request.
const MEMO_MAX_UA: usize = 512;

thread_local! {
    static MEMO: std::cell::RefCell<Memo> = const {
        std::cell::RefCell::new(Memo { slots: Vec::new(), next: 0 })
    };
}

impl Memo {
    fn coarse(&mut self, ua: &[u8]) -> Option<&[u8]> {
        let at = match self.slots.iter().position(|(input, _)| input == ua) {
            Some(at) => at,
            None => {
                let mut out = Vec::new();
                let coarse = coarsen(ua, &mut out).then_some(out);
                let at = self.next;
                self.next = (self.next + 1) % MEMO_SLOTS;
                if at == self.slots.len() {
                    self.slots.push((ua.to_vec(), coarse));
                } else {
                    self.slots[at] = (ua.to_vec(), coarse);
                }
                at
            }
        };
        self.slots[at].1.as_deref()
    }
}

/// Calls `f` with the coarse form of `ua` (`None` when it names no known browser), computed
/// once per distinct UA and thread.
pub fn with_coarse<R>(ua: &[u8], f: impl FnOnce(Option<&[u8]>) -> R) -> R {
    if ua.len() > MEMO_MAX_UA {
        return coarsen_now(ua, f);
    }
    MEMO.with(|memo| match memo.try_borrow_mut() {
        Ok(mut memo) => f(memo.coarse(ua)),
        Err(_) => coarsen_now(ua, f),
    })
}

fn coarsen_now<R>(ua: &[u8], f: impl FnOnce(Option<&[u8]>) -> R) -> R {
    let mut out = Vec::new();
    let coarse = coarsen(ua, &mut out);
    f(coarse.then_some(out.as_slice()))
}

fn browser(ua: &str) -> Option<(&'static str, u32)> {
    BROWSERS.iter().find_map(|&(family, token)| {
        let at = ua.find(token)? + token.len();
        let digits: String = ua[at..].chars().take_while(char::is_ascii_digit).collect();
        Some((family, digits.parse().ok()?))
    })
}

/// The OS family, as the platform part of a reduced UA string.
fn platform(ua: &str) -> &'static str {
    if ua.contains("Windows") {
        "Windows NT 10.0; Win64; x64"
    } else if ua.contains("Android") {
        "Linux; Android 10; K"
    } else if ua.contains("iPhone") || ua.contains("iPad") || ua.contains("iPod") {
        "iPhone; CPU iPhone OS 17_0 like Mac OS X"
    } else if ua.contains("CrOS") {
        "X11; CrOS x86_64 14541.0.0"
    } else if ua.contains("Mac OS X") || ua.contains("Macintosh") {
        "Macintosh; Intel Mac OS X 10_15_7"
    } else if ua.contains("Linux") {
        "X11; Linux x86_64"
    } else {
        "Unknown"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coarse(ua: &str) -> Option<String> {
        let mut out = Vec::new();
        coarsen(ua.as_bytes(), &mut out).then(|| String::from_utf8(out).unwrap())
    }

    #[test]
    fn coarse_forms() {
        let cases = [
            (
                "Mozilla/5.0 (Linux; Android 14; SM-S918B Build/UP1A.231005.007) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36",
                Some("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"),
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2.1 Safari/605.1.15",
                Some("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15"),
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
                Some("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Gecko/20100101 Firefox/121.0"),
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
                Some("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0"),
            ),
            ("curl/8.4.0", None),
            ("analytics-python/2.4.0", None),
        ];
        for (ua, want) in cases {
            assert_eq!(coarse(ua).as_deref(), want, "{ua}");
        }
    }

    #[test]
    fn device_models_and_builds_are_gone() {
        let ua = "Mozilla/5.0 (Linux; Android 14; Pixel 8 Pro Build/UD1A.230803.041) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.6045.163 Mobile Safari/537.36";
        let out = coarse(ua).unwrap();
        for gone in ["Pixel", "UD1A", "6045", "Android 14"] {
            assert!(!out.contains(gone), "{gone} in {out}");
        }
    }
}

/// Client hints (`navigator.userAgentData`, Matomo's `uadata`) keep what the reduced UA
/// string keeps: brands with major versions, mobile or not, the OS family. Device model,
/// OS version, architecture, bitness and full versions fingerprint and go. Writes the
/// reduced JSON object into `out`; false when `hints` is not a JSON object.
// A small object in one field, read whole: no batch goes through `Value` here.
#[allow(clippy::disallowed_types)]
pub fn reduce_client_hints(hints: &[u8], out: &mut Vec<u8>) -> bool {
    let Ok(serde_json::Value::Object(hints)) = serde_json::from_slice(hints) else {
        return false;
    };
    let mut kept = serde_json::Map::new();
    for key in ["brands", "fullVersionList"] {
        if let Some(serde_json::Value::Array(list)) = hints.get(key) {
            kept.insert(key.to_owned(), major_versions(list).into());
        }
    }
    if let Some(mobile @ serde_json::Value::Bool(_)) = hints.get("mobile") {
        kept.insert("mobile".to_owned(), mobile.clone());
    }
    // The platform is one of the names browsers report; anything else is not kept.
    let platform = hints.get("platform").and_then(serde_json::Value::as_str);
    if let Some(platform) = platform.filter(|p| PLATFORMS.contains(p)) {
        kept.insert("platform".to_owned(), platform.into());
    }
    out.clear();
    serde_json::to_writer(&mut *out, &kept).is_ok()
}

/// The platform names of `navigator.userAgentData.platform`.
const PLATFORMS: &[&str] = &[
    "Android",
    "Chrome OS",
    "Chromium OS",
    "Fuchsia",
    "iOS",
    "Linux",
    "macOS",
    "Windows",
    "Unknown",
    "",
];

/// `[{"brand":"Chromium","version":"118.0.5993.70"}]` as `[{"brand":"Chromium","version":"118"}]`.
/// Entries that do not look like a brand and a version number go: these fields are free
/// text to whoever sends them.
#[allow(clippy::disallowed_types, clippy::disallowed_methods)] // one client-hints field
fn major_versions(list: &[serde_json::Value]) -> Vec<serde_json::Value> {
    list.iter()
        .filter_map(|entry| {
            let brand = entry.get("brand")?.as_str()?;
            let version = entry.get("version")?.as_str()?;
            let major = version.split('.').next().unwrap_or_default();
            let major_ok =
                (1..=4).contains(&major.len()) && major.bytes().all(|c| c.is_ascii_digit());
            (looks_like_brand(brand) && major_ok)
                .then(|| serde_json::json!({ "brand": brand, "version": major }))
        })
        .collect()
}

/// `Google Chrome`, `Chromium`, and the deliberately odd `Not=A?Brand`, `Not_A Brand`: short
/// printable ASCII with no `@` and no digit run long enough to carry a number.
fn looks_like_brand(brand: &str) -> bool {
    let longest_digits = brand
        .split(|c: char| !c.is_ascii_digit())
        .map(str::len)
        .max()
        .unwrap_or(0);
    (1..=32).contains(&brand.len())
        && brand
            .bytes()
            .all(|c| (b' '..=b'~').contains(&c) && c != b'@')
        && longest_digits < 3
}

#[cfg(test)]
#[allow(clippy::disallowed_types, clippy::disallowed_methods)] // tests: small objects
mod client_hint_tests {
    use super::reduce_client_hints;

    #[test]
    fn client_hints_keep_brands_majors_mobile_and_platform_only() {
        let hints = br#"{"brands":[{"brand":"Chromium","version":"118"},{"brand":"Not=A?Brand","version":"99.0.0.0"}],
            "fullVersionList":[{"brand":"Chromium","version":"118.0.5993.70"}],
            "mobile":false,"model":"Pixel 7 Pro","platform":"Android","platformVersion":"14.0.0",
            "architecture":"arm","bitness":"64","uaFullVersion":"118.0.5993.70","wow64":false}"#;
        let mut out = Vec::new();
        assert!(reduce_client_hints(hints, &mut out));
        let reduced: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            reduced,
            serde_json::json!({
                "brands": [{"brand":"Chromium","version":"118"},{"brand":"Not=A?Brand","version":"99"}],
                "fullVersionList": [{"brand":"Chromium","version":"118"}],
                "mobile": false,
                "platform": "Android",
            })
        );
        // These fields are free text to whoever sends them: only brand-shaped values stay.
        let hostile = br#"{"brands":[{"brand":"jane.doe@example.com","version":"4111111111111111"},{"brand":"Chromium","version":"118"}],"mobile":false,"platform":"call +1 415 555 0100"}"#;
        assert!(reduce_client_hints(hostile, &mut out));
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&out).unwrap(),
            serde_json::json!({"brands": [{"brand":"Chromium","version":"118"}], "mobile": false})
        );
        assert!(!reduce_client_hints(b"Mozilla/5.0", &mut out));
        assert!(!reduce_client_hints(b"[1,2]", &mut out));
    }
}
