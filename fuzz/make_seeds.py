#!/usr/bin/env python3
"""Writes the committed fuzz seeds from the real-client fixtures (run from fuzz/).

pipeline seeds: one per vendor, client and request shape, in the format `oracles::pipeline`
reads: `<variant><METHOD> <path?query>\\n<content-type>\\n<content-encoding>\\n<body>`, with
variant 0 (the shipped rules) and, for a few, 1 (the lenient set) and 2 (the strict set).
decoders seeds: byte 0 picks the decoder (`oracles::decoders`), then a real encoded body.
"""
import base64, glob, gzip, hashlib, json, os, urllib.parse, zlib

FIXTURES = "../tests/fixtures"
MAX_BODY = 64 * 1024


def write(target, data):
    os.makedirs(f"seeds/{target}", exist_ok=True)
    name = hashlib.sha1(data).hexdigest()[:16]
    with open(f"seeds/{target}/{name}", "wb") as f:
        f.write(data)


def pipeline_seed(fx, variant=b"0"):
    body = base64.b64decode(fx.get("body_base64") or "")
    if len(body) > MAX_BODY:
        return None
    target = "/" + fx["vendor"] + fx.get("raw_target", fx["path"])
    head = b"%s%s %s\n%s\n%s\n" % (
        variant,
        fx["method"].encode(),
        target.encode(),
        (fx.get("content_type") or "").encode(),
        (fx.get("content_encoding") or "").encode(),
    )
    return head + body


def main():
    seen = set()
    fixtures = sorted(glob.glob(f"{FIXTURES}/real-clients/*/*/*.json"))
    fixtures += sorted(glob.glob(f"{FIXTURES}/extra/*.json"))
    bodies = []
    for path in fixtures:
        fx = json.load(open(path))
        if "vendor" not in fx:
            continue
        shape = (
            fx["vendor"],
            os.path.basename(os.path.dirname(path)),
            fx["method"],
            fx["path"],
            fx.get("content_type"),
            fx.get("content_encoding"),
        )
        if shape in seen:
            continue
        seen.add(shape)
        seed = pipeline_seed(fx)
        if seed:
            write("pipeline", seed)
            if len(seen) % 5 == 0:
                write("pipeline", pipeline_seed(fx, b"1"))
            if len(seen) % 5 == 2:
                write("pipeline", pipeline_seed(fx, b"2"))
        body = base64.b64decode(fx.get("body_base64") or "")
        if body and len(body) < 8192:
            bodies.append((fx, body))
    for fx, body in bodies[:12]:
        if fx.get("content_encoding") == "gzip":
            write("decoders", b"\x00" + body)
            continue
        write("decoders", b"\x00" + gzip.compress(body))
        write("decoders", b"\x01" + zlib.compress(body)[2:-4])
        write("decoders", b"\x02" + base64.b64encode(body))
        write("decoders", b"\x03" + urllib.parse.quote_plus(body).encode())
        write("decoders", b"\x04" + urllib.parse.quote(body).encode())
    lz = json.load(open(f"{FIXTURES}/extra/posthog-legacy-lz64.json"))
    write("decoders", b"\x05" + lz["lz64"].encode())
    body = b"data=" + urllib.parse.quote(lz["lz64"]).encode()
    write("pipeline", b"0POST /posthog/e/?compression=lz64\napplication/x-www-form-urlencoded\n\n" + body)
    # Consent fields on the wire: each vendor's own, in an event and beside the events.
    for seed in CONSENT_SEEDS:
        write("pipeline", seed)
    # Shapes an adversarial review found unscrubbed (stop 16).
    for seed in REVIEW_SEEDS:
        write("pipeline", seed)


CONSENT_SEEDS = [
    b'0POST /segment/v1/batch\napplication/json\n\n{"batch":[{"type":"track","event":"a","userId":"u1",'
    b'"context":{"ip":"203.0.113.42","consent":{"categoryPreferences":{"Analytics":true}}}},'
    b'{"type":"track","event":"b","userId":"jane.doe@example.com","context":{"c\\u006fnsent":'
    b'{"categoryPreferences":{"Analytics":false}}}},{"type":"track","event":"c","anonymousId":"x"}]}',
    b'0POST /segment/v1/batch\napplication/json\n\n{"context":{"consent":{"categoryPreferences":'
    b'{"Analytics":true}},"location":{"latitude":51.5,"country":"GB"}},"batch":[{"type":"page",'
    b'"userId":"jane.doe@example.com"}]}',
    b'0POST /rudderstack/v1/batch\napplication/json\n\n{"batch":[{"type":"track","event":"e",'
    b'"anonymousId":"a1","context":{"consentManagement":{"allowedConsentIds":["C0002"],'
    b'"deniedConsentIds":["C0004"]}}}]}',
    b'0GET /ga4/g/collect?v=2&tid=G-T&cid=1.2&en=page_view&gcs=G101&npa=1&uid=jane.doe%40example.com\n\n\n',
    b'0POST /ga4/mp/collect?api_secret=s&measurement_id=G-T\napplication/json\n\n{"client_id":"1.2",'
    b'"consent":{"ad_user_data":"DENIED"},"non_personalized_ads":true,"user_location":{"city":"London"},'
    b'"events":[{"name":"e","params":{"email":"jane.doe@example.com"}}]}',
    b'0GET /matomo/matomo.php?idsite=1&rec=1&consent=1&uid=jane.doe%40example.com&lat=51.5&long=-0.1\n\n\n',
    b'0POST /posthog/e/\napplication/json\n\n[{"event":"e","properties":{"token":"t","distinct_id":'
    b'"jane.doe@example.com","$geoip_disable":false,"$geoip_postal_code":"NW1","$latitude":51.5}}]',
]

REVIEW_SEEDS = [
    b'0GET /rudderstack/pixel/v1/track?writeKey=wk&anonymousId=a&event=E&context.traits.email='
    b'jane.doe%40example.com&properties.note=jane.doe%40example.com&context.page.url=https%3A%2F%2F'
    b'a.example%2F%3Femail%3Djane.doe%2540example.com&context.userAgent=Mozilla%2F5.0\n\n\n',
    b'0POST /posthog/i/v0/e/\napplication/json\n\n{"api_key":"phc_x","event":"e","distinct_id":'
    b'"jane.doe@example.com","properties":{"note":"client_ip=203.0.113.42 jane.doe@example.com"}}',
    b'0POST /segment/v1/t\napplication/json\n\n{"type":"track","event":"e","properties":'
    b'{"jane.doe@example.com":1,"203.0.113.42":true,"x":"for=203.0.113.42;by=10.0.0.1"},'
    b'"context":{"device":{"id":"d1","advertisingId":"jane.doe@example.com"}}}',
    b'0GET /posthog/static/../e/?data=eyJldmVudCI6ImUiLCJwcm9wZXJ0aWVzIjp7ImVtYWlsIjoiamFuZS5kb2VA'
    b'ZXhhbXBsZS5jb20ifX0%3D\n\n\n',
    b'0POST /plausible/api/event\ntext/plain\n\n{"n":"pageview","u":"https://a.example/","d":'
    b'"a.example","meta":{"email":"jane.doe@example.com"},"referrer":"https://r.example/?e=1"}',
]


if __name__ == "__main__":
    main()
