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
    # The detectors of issue 19: other countries' shapes, and numbers written as JSON numbers.
    for seed in DETECTOR_SEEDS:
        write("pipeline", seed)
    # Decode before detect: the planted e-mail behind each encoding the value rules read
    # through, alone and nested, in each vendor's property containers.
    for seed in view_seeds():
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

DETECTOR_SEEDS = [
    b'0POST /segment/v1/t\napplication/json\n\n{"type":"track","event":"e","properties":'
    b'{"a":"pay to de89370400440532013000 or DE89-3704-0044-0532-0130-00","b":"0049 30 901820",'
    b'"c":"+44 (0)20 7946 0958","d":"(030) 1234567","e":"Tel.: 030/1234567","f":14155550100,'
    b'"g":4111111111111111.0,"h":4.111111111111111e15,"i":-4111111111111111}}',
    b'0POST /segment/v1/t\napplication/json\n\n{"type":"identify","userId":"u1","traits":'
    b'{"hq":"Unter den Linden 77, 10117 Berlin","b":"Gran V\xc3\xada 28","c":"8 avenue Foch",'
    b'"d":"ul. D\xc5\x82uga 12/4","e":"\xe6\x9d\xb1\xe4\xba\xac\xe9\x83\xbd\xe5\x8d\x83'
    b'\xe4\xbb\xa3\xe7\x94\xb0\xe5\x8c\xba\xe4\xb8\xb8\xe3\x81\xae\xe5\x86\x851-9-2",'
    b'"f":"1-9-2 Marunouchi","g":"Keizersgracht 123","h":"Rua Augusta 120","i":"Via Roma 10"}}',
    b'0POST /mixpanel/track\napplication/json\n\n[{"event":"e","properties":{"token":"t",'
    b'"loc":"48.8584 N, 2.2945 E","dms":"48\xc2\xb051\'30.2\\"N 2\xc2\xb017\'40.2\\"E",'
    b'"ids":"DNI 12345678Z NIE X1234567L NINO AB 12 34 56 C CF RSSMRA85T10A562S",'
    b'"more":"Steuer-ID 86095742719 NIR 1 84 12 76 451 089 46 BSN 111222333 CPF 529.982.247-25",'
    b'"last":"NIF 123456789 PESEL 44051401359 SSN 123456789"}}]',
    b'0POST /amplitude/2/httpapi\napplication/json\n\n{"api_key":"k","events":[{"event_type":"e",'
    b'"user_id":"u","event_properties":{"n":4915112345678,"m":-4.111111111111111E+15,'
    b'"near":"order 0042 1234567 v1.2.3 SKU AB123456C 2026-11-23 Route 66 Via Email 8 times"}}]}',
]


def view_seeds():
    email = "jane.doe@example.com"
    b64 = lambda t: base64.b64encode(t.encode()).decode()
    b64url = lambda t: base64.urlsafe_b64encode(t.encode()).decode().rstrip("=")
    as_json = json.dumps({"contact": {"email": email}, "plan": "pro"})
    values = {
        "b64": b64(as_json),
        "b64url": b64url(as_json),
        "b64_of_b64": b64("token=" + b64(email) + ";v=1"),
        "b64_plain": b64("Contact me at " + email + " please"),
        "entity_dec": "jane.doe&#64;example.com",
        "entity_hex": "mail jane.doe&#x40;example.com now",
        "entity_name": "jane.doe&commat;example.com",
        "url_pct2": "https://a.example/p?next=%2Fhome%3Fe%3Djane.doe%2540example.com",
        "json_string": json.dumps({"user": email}),
        "json_of_b64": json.dumps({"blob": b64(email)}),
        "pct_of_b64": urllib.parse.quote(b64url("?email=" + email)),
    }
    seeds = [
        b"0POST /segment/v1/t\napplication/json\n\n"
        + json.dumps({"type": "track", "event": "e", "properties": values}).encode(),
        b"2POST /segment/v1/batch\napplication/json\n\n"
        + json.dumps({"batch": [{"type": "identify", "userId": "u1", "traits": values}]}).encode(),
        b"0POST /amplitude/2/httpapi\napplication/json\n\n"
        + json.dumps({"api_key": "k", "events": [
            {"event_type": "e", "user_id": "u", "event_properties": values,
             "user_properties": {"$set": values}}]}).encode(),
        b"0POST /posthog/e/\napplication/json\n\n"
        + json.dumps([{"event": "e", "properties": dict(values, token="t", distinct_id="d1")}]).encode(),
        b"0POST /rudderstack/v1/track\napplication/json\n\n"
        + json.dumps({"type": "track", "event": "e", "anonymousId": "a1", "properties": values}).encode(),
        b"0POST /plausible/api/event\ntext/plain\n\n"
        + json.dumps({"n": "pageview", "u": "https://a.example/", "d": "a.example", "p": values}).encode(),
    ]
    mixpanel = json.dumps([{"event": "e", "properties": dict(values, token="t")}])
    seeds.append(b"0POST /mixpanel/track\napplication/x-www-form-urlencoded\n\ndata="
                 + urllib.parse.quote(b64(mixpanel)).encode())
    snowplow = json.dumps({"schema": "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0",
                           "data": {"schema": "iglu:com.acme/form/jsonschema/1-0-0", "data": values}})
    seeds.append(("0GET /snowplow/i?e=ue&p=web&tv=js-3&aid=a&ue_px=" + b64url(snowplow) + "\n\n\n").encode())
    seeds.append(("0GET /matomo/matomo.php?idsite=1&rec=1&action_name=t&dimension1="
                  + urllib.parse.quote(values["b64"]) + "&dimension2="
                  + urllib.parse.quote(values["entity_hex"]) + "\n\n\n").encode())
    seeds.append(("0GET /ga4/g/collect?v=2&tid=G-T&cid=1.2&en=e&ep.note="
                  + urllib.parse.quote(values["b64_plain"]) + "&ep.x="
                  + urllib.parse.quote(values["b64url"]) + "\n\n\n").encode())
    return seeds


if __name__ == "__main__":
    main()
