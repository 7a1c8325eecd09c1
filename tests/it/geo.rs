//! Coarse geolocation: the proxy looks the visitor up in a real MaxMind database (the
//! embedded country database, or a City database these tests write) and each vendor gets
//! the place in its own fields, never finer than the rules allow; precise coordinates go or
//! are rounded; the database reloads live.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::support::mmdb_writer::{Value as Db, Writer};
use crate::support::{self, start_proxy, start_proxy_from_file, Behavior, FakeVendor, TestProxy};
use scrubproxy::rules::RulesFile;

/// The visitor, behind the trusted load balancer at 127.0.0.1.
const LONDON: &str = "81.2.69.142";

/// A City database placing 81.2.69.0/24 in `country` / `region` (`name`) / `city`.
fn city_db(country: &str, region: &str, name: &str, city: &str) -> Vec<u8> {
    let mut w = Writer::new();
    let record = Db::Map(vec![
        ("country", Db::Map(vec![("iso_code", Db::Str(country))])),
        (
            "subdivisions",
            Db::Array(vec![Db::Map(vec![
                ("iso_code", Db::Str(region)),
                ("names", Db::Map(vec![("en", Db::Str(name))])),
            ])]),
        ),
        (
            "city",
            Db::Map(vec![("names", Db::Map(vec![("en", Db::Str(city))]))]),
        ),
    ]);
    w.insert("81.2.69.0".parse().unwrap(), 24, &record);
    w.finish("GeoIP2-City")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("scrubproxy-geo-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Rules for these tests: the database at `db`, visitors named by the local balancer,
/// consent not in the way (it has its own tests).
fn geo_rules(db: &Path, precision: &str) -> impl FnOnce(&mut RulesFile) {
    let (db, precision) = (db.to_owned(), precision.to_owned());
    move |f: &mut RulesFile| {
        f.geo.database = Some(db.display().to_string());
        f.geo.precision = precision;
        f.client_ip.trusted_proxies = vec!["127.0.0.1/32".into()];
        f.consent.unknown = "forward".into();
    }
}

/// A proxy whose database places the visitor in London, at `precision`, and its vendor.
async fn london_proxy(
    name: &str,
    precision: &str,
    edit: impl FnOnce(&mut RulesFile),
) -> (FakeVendor, TestProxy) {
    let db = temp_dir(name).join("city.mmdb");
    std::fs::write(&db, city_db("GB", "ENG", "England", "London")).unwrap();
    let vendor = FakeVendor::start(Behavior::ok("1")).await;
    let proxy = start_proxy(&vendor.base_url(), |f| {
        geo_rules(&db, precision)(f);
        edit(f);
    })
    .await;
    (vendor, proxy)
}

async fn post(proxy: &TestProxy, vendor: &FakeVendor, target: &str, body: Value) -> Value {
    vendor.clear();
    let headers = [
        ("content-type", "application/json"),
        ("x-forwarded-for", LONDON),
    ];
    let resp = support::send_raw(
        proxy.addr(),
        "POST",
        target,
        &headers,
        body.to_string().into_bytes(),
    )
    .await;
    assert!(
        (200..300).contains(&resp.status),
        "{target}: {} {}",
        resp.status,
        resp.text()
    );
    let up = vendor.requests();
    serde_json::from_slice(&up[0].body).unwrap_or(Value::Null)
}

/// A Mixpanel `data=` form from the visitor; the query and the `data` JSON the vendor got.
async fn post_mixpanel(
    proxy: &TestProxy,
    vendor: &FakeVendor,
    target: &str,
    data: Value,
) -> (String, Value) {
    vendor.clear();
    let form = format!("data={}", urlencode(&data.to_string()));
    let headers = [
        ("content-type", "application/x-www-form-urlencoded"),
        ("x-forwarded-for", LONDON),
    ];
    let resp = support::send_raw(proxy.addr(), "POST", target, &headers, form.into_bytes()).await;
    assert_eq!(resp.status, 200, "{target}");
    let up = &vendor.requests()[0];
    let body = String::from_utf8(up.body.clone()).unwrap();
    let json_text = urldecode(body.strip_prefix("data=").unwrap());
    (
        up.query().to_owned(),
        serde_json::from_str(&json_text).unwrap(),
    )
}

#[tokio::test]
async fn each_vendor_gets_the_place_in_its_own_fields() {
    let (vendor, proxy) = london_proxy("fields", "region", |_| {}).await;

    // Segment: context.location, the sender's precise members gone.
    let sent = json!({"type": "track", "event": "e", "userId": "u",
        "context": {"location": {"city": "Camden", "latitude": 51.5390, "longitude": -0.1426}}});
    let up = post(&proxy, &vendor, "/segment/v1/t", sent).await;
    assert_eq!(
        up["context"]["location"],
        json!({"country": "GB", "region": "England"}),
        "{up}"
    );

    // Mixpanel: mp_country_code and $region, and ip=0 so it does not geolocate again.
    let data = json!([{"event": "e", "properties": {"distinct_id": "u", "token": "t", "$city": "Camden"}}]);
    let (query, sent) = post_mixpanel(&proxy, &vendor, "/mixpanel/track/?ip=1", data).await;
    assert_eq!(query, "ip=0");
    let props = &sent[0]["properties"];
    assert_eq!(
        (&props["mp_country_code"], &props["$region"]),
        (&json!("GB"), &json!("England"))
    );
    assert!(
        props.get("$city").is_none(),
        "finer than the rules allow: {props}"
    );

    // Mixpanel profiles: inside the update's own `$set`, never as a second operation.
    let set = json!({"$token": "t", "$distinct_id": "u", "$set": {"plan": "pro"}});
    let (_, set) = post_mixpanel(&proxy, &vendor, "/mixpanel/engage/", set).await;
    assert_eq!(
        set["$set"],
        json!({"plan": "pro", "$country_code": "GB", "$region": "England"}),
        "{set}"
    );
    let add = json!({"$token": "t", "$distinct_id": "u", "$add": {"logins": 1}});
    let (_, add) = post_mixpanel(&proxy, &vendor, "/mixpanel/engage/", add).await;
    assert!(add.get("$set").is_none(), "{add}");

    // Amplitude: country and region on each event.
    let sent = json!({"api_key": "k", "events": [{"event_type": "e", "user_id": "u", "city": "Camden", "location_lat": 51.5}]});
    let up = post(&proxy, &vendor, "/amplitude/2/httpapi", sent).await;
    let e = &up["events"][0];
    assert_eq!(
        (&e["country"], &e["region"]),
        (&json!("GB"), &json!("England")),
        "{e}"
    );
    assert!(
        e.get("city").is_none() && e.get("location_lat").is_none(),
        "{e}"
    );

    // PostHog: $geoip_* written, $geoip_disable so it keeps them.
    let sent = json!([{"event": "e", "properties": {"token": "phc", "distinct_id": "u", "$geoip_city_name": "Camden"}}]);
    let up = post(&proxy, &vendor, "/posthog/e/", sent).await;
    let p = &up[0]["properties"];
    assert_eq!(p["$geoip_country_code"], "GB");
    assert_eq!(p["$geoip_subdivision_1_code"], "ENG");
    assert_eq!(p["$geoip_disable"], true);
    assert!(p.get("$geoip_city_name").is_none(), "{p}");

    // GA4 Measurement Protocol: user_location with ISO codes.
    let sent = json!({"client_id": "1.2", "user_location": {"city": "Camden"}, "events": [{"name": "e", "params": {}}]});
    let up = post(
        &proxy,
        &vendor,
        "/ga4/mp/collect?api_secret=s&measurement_id=G-T",
        sent,
    )
    .await;
    assert_eq!(
        up["user_location"],
        json!({"country_id": "GB", "region_id": "GB-ENG"}),
        "{up}"
    );
}

#[tokio::test]
async fn city_precision_and_rounded_coordinates_are_opt_in() {
    let (vendor, proxy) = london_proxy("city", "city", |f| {
        f.geo.coordinates = "round".into();
        f.geo.coordinate_decimals = 1;
    })
    .await;
    let sent = json!({"type": "track", "event": "e", "userId": "u",
        "context": {"location": {"latitude": 51.5390, "longitude": -0.1426, "speed": 3}}});
    let up = post(&proxy, &vendor, "/segment/v1/t", sent).await;
    assert_eq!(
        up["context"]["location"],
        json!({"latitude": 51.5, "longitude": -0.1, "speed": 3, "country": "GB", "region": "England", "city": "London"}),
        "{up}"
    );
    let _ = proxy;
}

#[tokio::test]
async fn matomo_gets_the_place_with_the_proxy_token_only() {
    let (vendor, proxy) = london_proxy("matomo", "region", |f| {
        let matomo = f.routes.iter_mut().find(|r| r.prefix == "/matomo").unwrap();
        matomo.token_env = Some(support::proxy::MATOMO_TOKEN_ENV.into());
    })
    .await;
    let target = "/matomo/matomo.php?idsite=1&rec=1&city=Camden&lat=51.539&long=-0.14";
    let resp = support::send_raw(
        proxy.addr(),
        "GET",
        target,
        &[("x-forwarded-for", LONDON)],
        vec![],
    )
    .await;
    assert!((200..300).contains(&resp.status));
    let query = vendor.requests()[0].query().to_owned();
    assert_eq!(
        query, "idsite=1&rec=1&cip=81.2.69.0&country=gb&region=ENG&token_auth=proxy-token",
        "the sender's place and coordinates gone, the proxy's added"
    );
}

#[tokio::test]
async fn precision_none_writes_no_place_and_removes_the_senders() {
    let (vendor, proxy) = london_proxy("none", "none", |_| {}).await;
    let sent = json!({"api_key": "k", "events": [{"event_type": "e", "user_id": "u", "country": "GB", "region": "England"}]});
    let up = post(&proxy, &vendor, "/amplitude/2/httpapi", sent).await;
    let e = &up["events"][0];
    assert!(
        e.get("country").is_none() && e.get("region").is_none(),
        "{e}"
    );
    // And the vendor still gets the truncated address to place the visitor itself.
    assert_eq!(e["ip"], "81.2.69.0");
    let metrics = proxy.metrics().await;
    assert!(
        metrics.contains("scrubproxy_geo_lookups_total{result=\"off\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn the_embedded_database_places_countries_out_of_the_box() {
    let vendor = FakeVendor::start(Behavior::ok("1")).await;
    let proxy = start_proxy(&vendor.base_url(), |f| {
        f.client_ip.trusted_proxies = vec!["127.0.0.1/32".into()];
    })
    .await;
    vendor.clear();
    let headers = [
        ("content-type", "application/json"),
        ("x-forwarded-for", "8.8.8.8"),
    ];
    let body = br#"{"type":"track","event":"e","userId":"u"}"#.to_vec();
    support::send_raw(proxy.addr(), "POST", "/segment/v1/t", &headers, body).await;
    let up: Value = serde_json::from_slice(&vendor.requests()[0].body).unwrap();
    // Anonymized (no consent signal) and still placed: the coarse place survives.
    assert_eq!(up["context"]["location"], json!({"country": "US"}), "{up}");
    assert_eq!(up["context"]["ip"], "0.0.0.0");
    let metrics = proxy.metrics().await;
    assert!(
        metrics.contains("scrubproxy_geo_lookups_total{result=\"found_country\"} 1"),
        "{metrics}"
    );
    let ready = support::send_raw(proxy.admin(), "GET", "/readyz", &[], vec![]).await;
    assert!(
        ready.text().contains("(embedded, built 17"),
        "{}",
        ready.text()
    );
}

#[tokio::test]
async fn the_database_reloads_live_and_a_bad_file_keeps_the_old_one() {
    let dir = temp_dir("reload");
    let db = dir.join("city.mmdb");
    std::fs::write(&db, city_db("GB", "ENG", "England", "London")).unwrap();
    let vendor = FakeVendor::start(Behavior::ok("1")).await;
    let rules = dir.join("rules.toml");
    let proxy = start_proxy_from_file(&vendor.base_url(), &rules, geo_rules(&db, "region")).await;
    let country = || async {
        let sent = json!({"type": "track", "event": "e", "userId": "u"});
        let up = post(&proxy, &vendor, "/segment/v1/t", sent).await;
        up["context"]["location"]["country"].clone()
    };
    assert_eq!(country().await, "GB");

    // A new database by the reload call.
    std::fs::write(&db, city_db("FR", "IDF", "Ile-de-France", "Paris")).unwrap();
    let resp = support::send_raw(proxy.admin(), "POST", "/admin/reload", &[], vec![]).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(country().await, "FR");

    // A broken file is refused; the database in force stays, and the failure is counted.
    std::fs::write(&db, b"not a database").unwrap();
    let resp = support::send_raw(proxy.admin(), "POST", "/admin/reload", &[], vec![]).await;
    assert_eq!(resp.status, 422, "{}", resp.text());
    assert!(resp.text().contains("geo.database"), "{}", resp.text());
    assert_eq!(country().await, "FR");
    let metrics = proxy.metrics().await;
    assert!(
        metrics.contains("scrubproxy_rules_reloads_total{result=\"failure\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("scrubproxy_geo_database_build_epoch_seconds 1790000000"),
        "{metrics}"
    );
    assert!(
        metrics.contains("scrubproxy_geo_lookups_total{result=\"found_region\"} 3"),
        "{metrics}"
    );

    // The watcher sees a file change on its own.
    std::fs::write(&db, city_db("DE", "BE", "Berlin", "Berlin")).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if country().await == "DE" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the watcher reloads the database"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_says_when_the_database_cannot_give_the_precision_asked() {
    let dir = temp_dir("check");
    let path = dir.join("rules.toml");
    let mut rules = std::fs::read_to_string(crate::support::proxy::shipped_rules_path()).unwrap();
    rules = rules.replace("precision = \"country\"", "precision = \"region\"");
    std::fs::write(&path, &rules).unwrap();
    let out = crate::support::proxy::binary()
        .arg("check")
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("warning: geo.precision asks for regions"),
        "{text}"
    );
    // With a City database, no warning.
    let db = dir.join("city.mmdb");
    std::fs::write(&db, city_db("GB", "ENG", "England", "London")).unwrap();
    let with_city = rules.replace(
        "# database = \"/var/lib/GeoIP/GeoLite2-City.mmdb\"",
        &format!("database = \"{}\"", db.display()),
    );
    std::fs::write(&path, with_city).unwrap();
    let out = crate::support::proxy::binary()
        .arg("check")
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(": ok (9 routes)") && !text.contains("geo.precision"),
        "{text}"
    );
    // (This test database knows one London network only: the shipped case that places
    // 8.8.8.8 in the US now fails, as it should.)
    assert!(text.contains("location.country is not sent"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn urldecode(text: &str) -> String {
    scrubproxy::decode::form_decoded_text(text.as_bytes()).unwrap()
}

#[tokio::test]
async fn the_lookup_uses_the_full_address_unless_told_the_truncated_one() {
    // The database knows only the upper half of the visitor's /24.
    let dir = temp_dir("lookup");
    let db = dir.join("half.mmdb");
    let mut w = Writer::new();
    let gb = Db::Map(vec![(
        "country",
        Db::Map(vec![("iso_code", Db::Str("GB"))]),
    )]);
    w.insert("81.2.69.128".parse().unwrap(), 25, &gb);
    std::fs::write(&db, w.finish("GeoIP2-Country")).unwrap();
    let vendor = FakeVendor::start(Behavior::ok("1")).await;
    let country = |lookup: &'static str| {
        let (db, vendor) = (db.clone(), &vendor);
        async move {
            let proxy = start_proxy(&vendor.base_url(), move |f| {
                geo_rules(&db, "country")(f);
                f.geo.lookup = lookup.into();
            })
            .await;
            let up = post(
                &proxy,
                vendor,
                "/segment/v1/t",
                json!({"type": "track", "event": "e"}),
            )
            .await;
            up["context"].get("location").cloned()
        }
    };
    assert_eq!(country("full").await, Some(json!({"country": "GB"})));
    // 81.2.69.0, the address the vendor would see, is not in the database.
    assert_eq!(country("truncated").await, None);
}

#[tokio::test]
async fn vendors_never_place_the_visitor_more_precisely_than_the_rules() {
    let (vendor, proxy) = london_proxy("finer", "country", |_| {}).await;
    // PostHog: a sender's `$geoip_disable: false` is overwritten, finer GeoIP fields go.
    let sent = json!([{"event": "e", "properties": {"token": "phc", "distinct_id": "u",
        "$geoip_disable": false, "$geoip_postal_code": "NW1", "$geoip_subdivision_2_name": "Camden"}}]);
    let up = post(&proxy, &vendor, "/posthog/e/", sent).await;
    let p = &up[0]["properties"];
    assert_eq!(p["$geoip_disable"], true, "{p}");
    assert!(
        p.get("$geoip_postal_code").is_none() && p.get("$geoip_subdivision_2_name").is_none(),
        "{p}"
    );
    // A batch's shared context gets no second `context` for the place.
    vendor.clear();
    let body = r#"{"batch":[{"type":"track","event":"e","userId":"u"}],"writeKey":"w","context":{"library":{"name":"x"}}}"#;
    let headers = [
        ("content-type", "application/json"),
        ("x-forwarded-for", LONDON),
    ];
    support::send_raw(
        proxy.addr(),
        "POST",
        "/segment/v1/batch",
        &headers,
        body.as_bytes().to_vec(),
    )
    .await;
    let text = String::from_utf8(vendor.requests()[0].body.clone()).unwrap();
    assert_eq!(
        text.matches("\"context\"").count(),
        2,
        "one per event and one shared: {text}"
    );
}
