//! What travels beside the scrubbed payload: forwarded header values and PostHog's
//! pass-through GETs. Free text in either would reach the vendor past every rule.

use base64::Engine as _;

use crate::support::{self, start_consented_proxy, Behavior, FakeVendor};

fn basic(credential: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(credential)
    )
}

/// Allow-listed headers go on only in the shape they really take: the vendor's credential
/// scheme, a media-type list, a count.
#[tokio::test]
async fn forwarded_headers_that_do_not_fit_their_shape_are_not_forwarded() {
    let vendor = FakeVendor::start(Behavior::ok("{}")).await;
    let proxy = start_consented_proxy(&vendor.base_url(), |_| {}).await;
    let body = br#"{"type":"track","event":"E","userId":"u1"}"#.to_vec();
    let send = |headers: Vec<(&'static str, String)>| {
        let body = body.clone();
        let addr = proxy.addr();
        async move {
            let mut all: Vec<(&str, &str)> = vec![("content-type", "application/json")];
            all.extend(headers.iter().map(|(n, v)| (*n, v.as_str())));
            let resp = support::send_raw(addr, "POST", "/segment/v1/t", &all, body).await;
            assert_eq!(resp.status, 200, "{}", resp.text());
        }
    };
    let write_key = basic("2rtEkQ8a1GyVc7oT1ZzLr0lL9Vx5Wq3n:");
    send(vec![
        ("authorization", write_key.clone()),
        ("accept", "application/json, */*;q=0.8".into()),
        ("x-retry-count", "2".into()),
    ])
    .await;
    let up = vendor.requests().pop().unwrap();
    assert_eq!(up.header("authorization"), Some(write_key.as_str()));
    assert_eq!(up.header("accept"), Some("application/json, */*;q=0.8"));
    assert_eq!(up.header("x-retry-count"), Some("2"));

    let email = support::planted::value("email");
    let name = support::planted::value("name");
    send(vec![
        ("authorization", basic(&format!("{email}:hunter2"))),
        ("accept", format!("text/html, {name}")),
        ("x-retry-count", format!("2 {email}")),
    ])
    .await;
    let up = vendor.requests().pop().unwrap();
    for h in ["authorization", "accept", "x-retry-count"] {
        assert!(up.header(h).is_none(), "{h}: {:?}", up.header(h));
    }
    assert!(up.planted_in_headers().is_empty());

    // A PostHog bearer token is not Segment's scheme, and free text is nobody's.
    send(vec![("authorization", format!("Bearer {name} {email}"))]).await;
    let up = vendor.requests().pop().unwrap();
    assert!(up.header("authorization").is_none());
}

async fn get(proxy: &support::TestProxy, target: &str) -> support::Response {
    support::send_raw(proxy.addr(), "GET", target, &[], Vec::new()).await
}

/// The configuration and script GETs posthog-js sends pass, with only the parameters their
/// shape takes; other paths under the same prefixes, and extra parameters, do not.
#[tokio::test]
async fn posthog_pass_through_is_limited_to_the_sdk_shapes() {
    let vendor = FakeVendor::start(Behavior::ok("{}")).await;
    let proxy = start_consented_proxy(&vendor.base_url(), |_| {}).await;
    let email = support::planted::value("email").replace('@', "%40");
    let forwarded = [
        ("/posthog/static/array.js", "/static/array.js", ""),
        (
            "/posthog/static/recorder.js?v=1.449.2",
            "/static/recorder.js",
            "v=1.449.2",
        ),
        (
            "/posthog/static/toolbar.js?v=1.449.2&t=1796527000000",
            "/static/toolbar.js",
            "v=1.449.2&t=1796527000000",
        ),
        (
            "/posthog/static/1.449.2/surveys.js",
            "/static/1.449.2/surveys.js",
            "",
        ),
        (
            "/posthog/array/phc_AbC123/config",
            "/array/phc_AbC123/config",
            "",
        ),
        (
            "/posthog/array/phc_AbC123/config.js",
            "/array/phc_AbC123/config.js",
            "",
        ),
        (
            "/posthog/api/surveys/?token=phc_AbC123",
            "/api/surveys/",
            "token=phc_AbC123",
        ),
        (
            "/posthog/api/early_access_features/?token=phc_AbC123&stage=beta&stage=alpha",
            "/api/early_access_features/",
            "token=phc_AbC123&stage=beta&stage=alpha",
        ),
        (
            "/posthog/api/product_tours/?token=phc_AbC123&_=1796527000000",
            "/api/product_tours/",
            "token=phc_AbC123&_=1796527000000",
        ),
    ];
    for (target, path, query) in forwarded {
        vendor.clear();
        let resp = get(&proxy, target).await;
        assert_eq!(resp.status, 200, "{target}: {}", resp.text());
        let up = vendor.requests().pop().unwrap();
        assert_eq!(up.path(), path, "{target}");
        assert_eq!(up.query(), query, "{target}");
    }

    // Extra parameters go, whatever they hold; parameters in the wrong shape too.
    let data = base64::engine::general_purpose::STANDARD.encode(format!(
        r#"{{"event":"x","properties":{{"email":"{}"}}}}"#,
        support::planted::value("email")
    ));
    for (target, query) in [
        (
            format!("/posthog/static/recorder.js?v=1.449.2&data={data}&email={email}"),
            "v=1.449.2",
        ),
        (
            format!(
                "/posthog/api/surveys/?token=phc_AbC123&distinct_id=user-jane-doe-42&u={email}"
            ),
            "token=phc_AbC123",
        ),
        (format!("/posthog/api/surveys/?token={email}"), ""),
        (
            format!("/posthog/array/phc_AbC123/config?ip=1&data={data}"),
            "",
        ),
        ("/posthog/static/recorder.js?v=Jane%20Doe".to_string(), ""),
    ] {
        vendor.clear();
        let resp = get(&proxy, &target).await;
        assert_eq!(resp.status, 200, "{target}: {}", resp.text());
        let up = vendor.requests().pop().unwrap();
        assert_eq!(up.query(), query, "{target}");
        assert!(up.planted().is_empty(), "{target}: {:?}", up.planted());
    }

    // Paths the SDK never requests: not forwarded.
    for target in [
        "/posthog/static/jane.doe.js",
        "/posthog/static/recorder.js/extra",
        "/posthog/static/1.449.2/jane.js",
        "/posthog/static/Jane%20Doe/recorder.js",
        "/posthog/array/phc_AbC123/other",
        "/posthog/array/jane.doe%40example.com/config",
        "/posthog/api/projects/1/",
        "/posthog/api/persons/",
        "/posthog/api/surveys/user-jane-doe-42",
    ] {
        vendor.clear();
        let resp = get(&proxy, target).await;
        assert_eq!(resp.status, 404, "{target}: {}", resp.text());
        assert!(vendor.all_requests().is_empty(), "{target} forwarded");
    }

    // Semicolons start path parameters on some servers: `..;` climbs like `..`.
    for target in [
        "/posthog/static/..;/e/?data=e30",
        "/posthog/static/array.js;/../e/",
        "/posthog/static/..%3B/e/",
    ] {
        let resp = get(&proxy, target).await;
        assert_eq!(resp.status, 400, "{target}: {}", resp.text());
        assert!(vendor.all_requests().is_empty(), "{target} forwarded");
    }
}
