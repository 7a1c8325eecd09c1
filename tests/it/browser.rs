//! The real SDKs in a real browser: headless Chromium (Debian's `chromium`) runs the npm
//! builds of mixpanel-browser, posthog-js, @segment/analytics-next,
//! @amplitude/analytics-browser, @snowplow/browser-tracker and plausible-tracker on a page
//! whose origin differs from the proxy's (`tests/browser/`), through page view, identify
//! with personal data, a tracked event and the page's unload. Every vendor must receive its
//! events scrubbed, and every SDK must have been answered with success (nothing left in a
//! retry queue).
//!
//! Needs `/usr/bin/chromium` and `npm ci` in `tests/browser/` (`.ci/run` installs both and
//! sets `SCRUBPROXY_REQUIRE_BROWSER=1`, which turns their absence into a failure).

use std::path::Path;
use std::process::Command;

use scrubproxy::vendor::VendorKind;

use crate::support::{start_proxy, Behavior, FakeVendor};

fn browser_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser"))
}

/// Whether the browser and the SDKs are installed; without them the test says so loudly and
/// passes, unless `SCRUBPROXY_REQUIRE_BROWSER` is set.
fn browser_available() -> bool {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let ready = Path::new(&chromium).exists()
        && browser_dir().join("node_modules/playwright-core").exists();
    if !ready {
        assert!(
            std::env::var_os("SCRUBPROXY_REQUIRE_BROWSER").is_none(),
            "SCRUBPROXY_REQUIRE_BROWSER is set but chromium or tests/browser/node_modules is missing"
        );
        eprintln!(
            "SKIPPED browser test: install Debian's chromium and run `npm ci` in tests/browser"
        );
    }
    ready
}

/// What each vendor answers, as the real one does.
fn vendor_reply(vendor: VendorKind) -> Behavior {
    match vendor {
        VendorKind::Segment => Behavior::json(r#"{"success":true}"#),
        VendorKind::Mixpanel => Behavior::json(r#"{"status":1,"error":null}"#),
        VendorKind::PostHog => Behavior::json(r#"{"status":1}"#),
        VendorKind::Amplitude => Behavior::json(
            r#"{"code":200,"events_ingested":1,"payload_size_bytes":1,"server_upload_time":1}"#,
        ),
        VendorKind::Plausible => Behavior::Reply {
            status: 202,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: b"ok".to_vec(),
        },
        _ => Behavior::ok("ok"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_sdks_in_chromium_are_scrubbed_and_see_success() {
    if !browser_available() {
        return;
    }
    let build = Command::new("npm")
        .args(["run", "--silent", "build"])
        .current_dir(browser_dir())
        .status()
        .expect("npm runs");
    assert!(build.success(), "bundling the page");

    let kinds = [
        VendorKind::Segment,
        VendorKind::Mixpanel,
        VendorKind::PostHog,
        VendorKind::Amplitude,
        VendorKind::Snowplow,
        VendorKind::Plausible,
    ];
    let mut vendors = Vec::new();
    for kind in kinds {
        vendors.push((kind, FakeVendor::start(vendor_reply(kind)).await));
    }
    let upstreams: Vec<(VendorKind, String)> =
        vendors.iter().map(|(k, v)| (*k, v.base_url())).collect();
    let proxy = start_proxy("http://127.0.0.1:9", |f| {
        for route in &mut f.routes {
            if let Some((_, url)) = upstreams.iter().find(|(k, _)| *k == route.vendor) {
                route.upstream = url.clone();
            }
        }
    })
    .await;
    let origin = format!("http://{}", proxy.addr());
    let driver = browser_dir().join("run.mjs");
    let run = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(driver)
            .arg(origin)
            .output()
            .expect("node runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "driver failed: {}\n{stdout}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("driver output is not JSON ({e}): {stdout}"));
    eprintln!("browser run: {report}");

    assert_eq!(report["sdkErrors"], serde_json::json!([]), "SDKs threw");
    for response in report["responses"].as_array().unwrap() {
        let status = response["status"].as_u64().unwrap();
        assert!(
            (200..300).contains(&status),
            "an SDK was answered {response}"
        );
    }
    assert_eq!(
        report["failedBeforeUnload"],
        serde_json::json!([]),
        "requests failed in the browser"
    );
    for (queue, len) in report["queues"].as_object().unwrap() {
        assert_eq!(len.as_i64(), Some(0), "{queue} still holds events to retry");
    }
    assert_eq!(report["plausibleDone"], 2, "plausible callbacks");

    let sent_in_page = |prefix: &str| {
        report["responses"].as_array().unwrap()
            [..report["responsesBeforeUnload"].as_u64().unwrap() as usize]
            .iter()
            .filter(|r| r["path"].as_str().unwrap().starts_with(prefix))
            .count()
    };
    for (kind, vendor) in &vendors {
        let got = vendor.requests();
        eprintln!("{kind:?}: {} requests", got.len());
        // Requests the page sent, plus the unload beacon where the SDK sends one.
        let (prefix, beacons, at_least) = match kind {
            VendorKind::Segment => ("/segment/", 0, 3),
            VendorKind::Mixpanel => ("/mixpanel/", 0, 2),
            VendorKind::PostHog => ("/posthog/", 1, 3),
            VendorKind::Plausible => ("/plausible/", 0, 2),
            _ => ("/", 0, 1),
        };
        assert!(
            got.len() >= at_least,
            "{kind:?} received {} requests",
            got.len()
        );
        if prefix != "/" {
            // One arrival per send: at least every request answered before the page left,
            // plus its unload beacon; at most every request the page sent at all (a batch
            // an SDK flushed while the page was being left is sent but not yet answered).
            let issued = report["sent"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| r["path"].as_str().unwrap().starts_with(prefix))
                .count();
            let (least, most) = (sent_in_page(prefix) + beacons, issued + beacons);
            assert!(
                (least..=most).contains(&got.len()),
                "{kind:?}: {} arrivals for {least}..={most} sends",
                got.len()
            );
        }
        for request in &got {
            assert!(
                request.planted().is_empty(),
                "{kind:?} {} carries {:?}",
                request.target,
                request.planted()
            );
        }
    }
}
