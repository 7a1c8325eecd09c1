//! Promise 3, no PII in our own output: after real SDK traffic and a run of refused requests
//! full of personal data, none of it appears in the logs, the metrics or error bodies.

use crate::support::{self, logs, planted, start_proxy, Behavior, FakeVendor};

#[tokio::test]
async fn planted_values_never_reach_logs_metrics_or_error_bodies() {
    let vendor = FakeVendor::start(Behavior::ok("1")).await;
    let proxy = start_proxy(&vendor.base_url(), |f| f.limits.max_event_bytes = 2048).await;
    for vendor_name in ["segment", "mixpanel"] {
        for f in support::load(vendor_name) {
            let mut routed = f.clone();
            routed.raw_target = format!("/{vendor_name}{}", f.raw_target);
            let resp = support::send(
                proxy.addr(),
                &routed,
                &[("cookie", "email=jane.doe@example.com")],
            )
            .await;
            if resp.status >= 400 {
                assert!(
                    planted::planted_in(&resp.body).is_empty(),
                    "{}: error body leaks",
                    f.name
                );
            }
        }
    }
    let email = planted::value("email");
    let bad_bodies = [
        format!(r#"{{"type":"track","properties":{{"email":"{email}""#),
        format!(r#"{{"type":"track","properties":{{"email":"{email}",}}}}"#),
        format!(
            r#"{{"type":"track","properties":{{"note":"{email} {}"}}}}"#,
            "x".repeat(4000)
        ),
        format!("data={email}"),
    ];
    for body in &bad_bodies {
        for target in [
            "/segment/v1/t",
            "/mixpanel/track",
            "/segment/v1/batch",
            "/unknown?email=x",
        ] {
            let resp = support::send_raw(
                proxy.addr(),
                "POST",
                target,
                &[("x-user-email", email)],
                body.clone().into_bytes(),
            )
            .await;
            assert!(resp.status >= 400);
            assert!(
                planted::planted_in(&resp.body).is_empty(),
                "error body leaks"
            );
            assert!(resp
                .headers
                .iter()
                .all(|(_, v)| planted::planted_in_text(v).is_empty()));
        }
    }
    let metrics = proxy.metrics().await;
    assert!(
        metrics.contains("scrubproxy_requests_total"),
        "metrics are exposed"
    );
    assert!(metrics.contains("scrubproxy_fields_scrubbed_total"));
    assert!(
        planted::planted_in_text(&metrics).is_empty(),
        "metrics leak"
    );
    let logged = logs::captured();
    assert!(
        logged.contains("request refused"),
        "the refusals were logged"
    );
    assert!(
        planted::planted_in_text(&logged).is_empty(),
        "logs leak: {:?}",
        planted::planted_in_text(&logged)
    );
}
