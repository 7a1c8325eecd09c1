"""How each vendor's SDK puts an event on the wire (shapes from ../shared/wire-formats.md and
the real captures), so a corpus item (properties, top-level members, page title and URL) can
be sent to any of the nine vendors the way a real tracker would send it."""

import base64
import gzip
import json
import urllib.parse

UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
DEFAULT_URL = "https://shop.example.com/checkout?utm_source=newsletter"
DEFAULT_TITLE = "Checkout"

VENDORS = [
    "segment",
    "mixpanel",
    "amplitude",
    "posthog",
    "ga4",
    "matomo",
    "snowplow",
    "plausible",
    "rudderstack",
]

# Wrapper variants per vendor; `shapes` picks among them per item.
VARIANTS = {
    "segment": ["track_t", "batch_json", "page_p", "identify_i", "batch_gzip", "batch_b"],
    "rudderstack": ["track", "batch_gzip", "beacon", "page", "identify", "pixel"],
    "mixpanel": ["b64_form", "json_form", "get_b64", "engage", "beacon", "import_json"],
    "amplitude": ["httpapi", "batch", "identify", "beacon"],
    "posthog": ["e_batch", "i_v0", "batch_gzip", "capture_single", "v1", "form_b64"],
    "ga4": ["mp", "mp_debug", "mp_userprops", "gtag", "gtag_body"],
    "matomo": ["get_cvar", "bulk", "post_form", "get_dims", "event"],
    "snowplow": ["post_ue_pr", "post_ue_px", "post_cx", "get_ue_px", "get_co", "get_se"],
    "plausible": ["p_obj", "props_str", "meta", "m"],
}

JSON_CT = ("content-type", "application/json")
TEXT_CT = ("content-type", "text/plain")
FORM_CT = ("content-type", "application/x-www-form-urlencoded")


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def b64url(s: str) -> str:
    return base64.urlsafe_b64encode(s.encode()).decode().rstrip("=")


def q(s: str) -> str:
    return urllib.parse.quote(s, safe="")


def dumps(v) -> str:
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"))


def req(method, target, headers, body=""):
    out = {"method": method, "target": target, "headers": [list(h) for h in headers]}
    if isinstance(body, bytes):
        out["body_base64"] = base64.b64encode(body).decode()
    else:
        out["body"] = body
    return out


def gz(s: str) -> bytes:
    return gzip.compress(s.encode(), mtime=0)


def flat(v) -> str:
    """A property value as a query-string parameter carries it."""
    if isinstance(v, str):
        return v
    return dumps(v)


class Ctx:
    """Per-request ids that vary deterministically with the item number."""

    def __init__(self, n: int):
        self.n = n
        self.ts_ms = 1796500000000 + n * 7919
        self.ts = self.ts_ms // 1000
        self.uuid = f"0c1e{n:04x}-7a2b-4c3d-9e8f-{n:012x}"
        self.uuid2 = f"5d6e{n:04x}-1f2a-4b3c-8d4e-{(n * 31):012x}"
        self.iso = f"2026-12-0{1 + n % 5}T1{n % 10}:2{n % 6}:0{n % 10}.{n % 1000:03d}Z"


def segment_like(vendor, variant, item, c: Ctx):
    prefix = "/" + vendor
    props = item.get("props", {})
    url = item.get("url") or DEFAULT_URL
    title = item.get("title") or DEFAULT_TITLE
    page = {"path": urllib.parse.urlsplit(url).path or "/", "url": url, "title": title, "referrer": ""}
    ev = {
        "timestamp": c.iso,
        "integrations": {},
        "type": "track",
        "event": item.get("event", "Checkout Started"),
        "properties": props,
        "anonymousId": c.uuid,
        "messageId": f"ajs-next-{c.ts_ms}-{c.uuid2}",
        "context": {"library": {"name": "analytics.js", "version": "next-1.84.3"}, "page": page, "locale": "de-DE"},
    }
    auth = ("authorization", "Basic " + b64("fake-write-key-adv:"))
    if variant in ("page_p", "page"):
        ev["type"] = "page"
        del ev["event"]
        ev["name"] = item.get("page_name", "Checkout")
        ev["properties"] = {**page, **props}
    if variant in ("identify_i", "identify"):
        ev["type"] = "identify"
        del ev["event"]
        ev["userId"] = f"user-adv-{c.n}"
        ev["traits"] = props
        del ev["properties"]
    ev.update(item.get("top", {}))
    if vendor == "rudderstack":
        ev["channel"] = "web"
        ev["rudderId"] = c.uuid2
        ev["context"]["library"] = {"name": "RudderLabs JavaScript SDK", "version": "3.34.1"}
        rs_headers = [auth, ("anonymousid", b64(c.uuid)), ("sentat", c.iso), ("accept", "application/json"),
                      ("content-type", "application/json;charset=UTF-8")]
        rs_headers += item.get("headers", [])
        if variant == "batch_gzip":
            body = gz(dumps({"batch": [ev], "sentAt": c.iso}))
            return req("POST", prefix + "/v1/batch", [("accept", "application/json, text/plain, */*"), FORM_CT,
                                                      ("content-encoding", "gzip"), auth] + item.get("headers", []), body)
        if variant == "beacon":
            return req("POST", prefix + "/beacon/v1/batch?writeKey=fakeRudderWriteKeyAdv0123",
                       [TEXT_CT, ("accept", "*/*")] + item.get("headers", []), dumps({"batch": [ev], "sentAt": c.iso}))
        if variant == "pixel":
            params = [("writeKey", "fakeRudderWriteKeyAdv0123"), ("anonymousId", c.uuid), ("event", ev.get("event", "Viewed"))]
            params += [("context.page.url", url), ("context.page.title", title)]
            params += [(f"properties.{k}", flat(v)) for k, v in props.items()]
            params += [(k, flat(v)) for k, v in item.get("top", {}).items()]
            return req("GET", prefix + "/pixel/v1/track?" + "&".join(f"{q(k)}={q(v)}" for k, v in params),
                       item.get("headers", []))
        path = {"track": "/v1/track", "page": "/v1/page", "identify": "/v1/identify"}[variant]
        return req("POST", prefix + path, rs_headers, dumps(ev))
    headers = [auth, TEXT_CT, ("accept", "*/*")] + item.get("headers", [])
    if variant == "batch_json":
        return req("POST", prefix + "/v1/batch", [JSON_CT, auth, ("accept", "*/*")] + item.get("headers", []),
                   dumps({"batch": [ev], "sentAt": c.iso}))
    if variant == "batch_gzip":
        return req("POST", prefix + "/v1/batch", [("accept", "*/*"), JSON_CT, ("content-encoding", "gzip"), auth]
                   + item.get("headers", []), gz(json.dumps({"batch": [ev], "sentAt": c.iso})))
    if variant == "batch_b":
        return req("POST", prefix + "/v1/b", headers, dumps({"writeKey": "fake-write-key-adv", "batch": [ev]}))
    path = {"track_t": "/v1/t", "page_p": "/v1/p", "identify_i": "/v1/i"}[variant]
    return req("POST", prefix + path, headers, dumps(ev))


def mixpanel(variant, item, c: Ctx):
    props = {
        "$os": "Windows",
        "$browser": "Chrome",
        "$current_url": item.get("url") or DEFAULT_URL,
        "$browser_version": 124,
        "$screen_height": 1080,
        "$screen_width": 1920,
        "mp_lib": "web",
        "$lib_version": "2.83.0",
        "$insert_id": f"adv{c.n:05d}xq",
        "time": c.ts + 0.123,
        "distinct_id": f"$device:{c.uuid}",
        "$device_id": c.uuid,
        "token": "fake-mp-token-adv",
        "page_heading": item.get("title") or DEFAULT_TITLE,
        **item.get("props", {}),
    }
    ev = {"event": item.get("event", "Checkout Started"), "properties": props, **item.get("top", {})}
    extra = item.get("headers", [])
    if variant == "b64_form":
        return req("POST", f"/mixpanel/track/?verbose=1&ip=1&_={c.ts_ms}", [FORM_CT, ("accept", "*/*")] + extra,
                   "data=" + q(b64(dumps([ev]))))
    if variant == "json_form":
        return req("POST", "/mixpanel/track", [("accept", "*/*"), FORM_CT] + extra,
                   urllib.parse.urlencode({"data": json.dumps(ev), "verbose": "1", "ip": "0"}))
    if variant == "get_b64":
        return req("GET", "/mixpanel/track?ip=0&verbose=0&data=" + q(b64(dumps(ev))), extra)
    if variant == "engage":
        body = {"$token": "fake-mp-token-adv", "$distinct_id": f"user-adv-{c.n}", "$time": c.ts_ms,
                "$set": {"$last_page": item.get("url") or DEFAULT_URL, "page_heading": item.get("title") or DEFAULT_TITLE,
                         **item.get("props", {})}, **item.get("top", {})}
        return req("POST", f"/mixpanel/engage/?verbose=1&ip=1&_={c.ts_ms}", [FORM_CT, ("accept", "*/*")] + extra,
                   "data=" + q(b64(dumps([body]))))
    if variant == "beacon":
        return req("POST", f"/mixpanel/track/?verbose=1&ip=1&_={c.ts_ms}", [("content-type", "text/plain;charset=UTF-8")]
                   + extra, "data=" + q(b64(dumps([ev]))))
    return req("POST", "/mixpanel/import?strict=1", [JSON_CT, ("authorization", "Basic " + b64("fake-mp-secret:"))]
               + extra, dumps([ev]))


def amplitude(variant, item, c: Ctx):
    ev = {
        "device_id": c.uuid,
        "session_id": c.ts_ms - 5000,
        "time": c.ts_ms,
        "platform": "Web",
        "language": "de-DE",
        "ip": "$remote",
        "insert_id": c.uuid2,
        "event_type": item.get("event", "Checkout Started"),
        "event_properties": {
            "[Amplitude] Page Title": item.get("title") or DEFAULT_TITLE,
            "[Amplitude] Page URL": item.get("url") or DEFAULT_URL,
            **item.get("props", {}),
        },
        "library": "amplitude-ts/2.47.0",
        "user_agent": UA,
        **item.get("top", {}),
    }
    if variant == "identify":
        ev["event_type"] = "$identify"
        ev["user_properties"] = {"$set": {**ev["event_properties"]}}
        ev["event_properties"] = {}
    body = dumps({"api_key": "fakeAmplitudeKeyAdv0123456789", "events": [ev], "options": {}})
    extra = item.get("headers", [])
    if variant == "batch":
        return req("POST", "/amplitude/batch", [JSON_CT, ("accept", "*/*")] + extra, body)
    if variant == "beacon":
        return req("POST", "/amplitude/2/httpapi", [("content-type", "text/plain;charset=UTF-8")] + extra, body)
    return req("POST", "/amplitude/2/httpapi", [("accept", "*/*"), JSON_CT] + extra, body)


def posthog(variant, item, c: Ctx):
    props = {
        "$os": "Windows",
        "$browser": "Chrome",
        "$device_type": "Desktop",
        "$current_url": item.get("url") or DEFAULT_URL,
        "$host": "shop.example.com",
        "$pathname": urllib.parse.urlsplit(item.get("url") or DEFAULT_URL).path,
        "$lib": "web",
        "$lib_version": "1.449.2",
        "$insert_id": f"adv{c.n:05d}",
        "$time": c.ts + 0.5,
        "distinct_id": c.uuid,
        "$session_id": c.uuid2,
        "token": "phc_fakeAdvToken123",
        "$pagename": item.get("title") or DEFAULT_TITLE,
        **item.get("props", {}),
    }
    ev = {"uuid": c.uuid2, "event": item.get("event", "$pageview"), "properties": props, "timestamp": c.iso,
          **item.get("top", {})}
    extra = item.get("headers", [])
    server_props = dict(item.get("props", {}))
    if item.get("url"):
        server_props["$current_url"] = item["url"]
    if item.get("title"):
        server_props["$pagename"] = item["title"]
    if variant == "e_batch":
        return req("POST", f"/posthog/e/?ip=0&_={c.ts_ms}&ver=1.449.2", [TEXT_CT, ("accept", "*/*")] + extra,
                   dumps({"api_key": "phc_fakeAdvToken123", "batch": [ev], "sent_at": c.iso}))
    if variant == "i_v0":
        return req("POST", f"/posthog/i/v0/e/?ip=0&_={c.ts_ms}&ver=1.449.2", [TEXT_CT, ("accept", "*/*")] + extra,
                   dumps({"api_key": "phc_fakeAdvToken123", "batch": [ev], "sent_at": c.iso}))
    if variant == "batch_gzip":
        node = {"event": ev["event"], "properties": server_props | {"$lib": "posthog-node"},
                "distinct_id": f"user-adv-{c.n}", "timestamp": c.iso, "uuid": c.uuid2, **item.get("top", {})}
        return req("POST", "/posthog/batch/", [JSON_CT, ("content-encoding", "gzip"), ("accept", "*/*")] + extra,
                   gz(dumps({"api_key": "phc_fakeAdvToken123", "batch": [node]})))
    if variant == "capture_single":
        single = {"api_key": "phc_fakeAdvToken123", "event": ev["event"], "distinct_id": f"user-adv-{c.n}",
                  "properties": server_props, "timestamp": c.iso, **item.get("top", {})}
        return req("POST", "/posthog/capture/", [JSON_CT] + extra, dumps(single))
    if variant == "v1":
        v1 = {"event": ev["event"], "uuid": c.uuid2, "distinct_id": f"user-adv-{c.n}", "timestamp": c.iso,
              "options": {}, "properties": server_props, **item.get("top", {})}
        return req("POST", "/posthog/i/v1/analytics/events", [JSON_CT, ("authorization", "Bearer phc_fakeAdvToken123"),
                   ("accept", "*/*")] + extra, dumps({"created_at": c.iso, "batch": [v1]}))
    return req("POST", f"/posthog/e/?ip=0&_={c.ts_ms}&ver=1.449.2", [FORM_CT] + extra,
               "data=" + q(b64(dumps([ev]))))


def ga4(variant, item, c: Ctx):
    props = item.get("props", {})
    extra = item.get("headers", [])
    target = "/ga4/mp/collect?measurement_id=G-ADV12345&api_secret=fake-ga4-secret-adv"
    if variant in ("mp", "mp_debug", "mp_userprops"):
        params = {"page_location": item.get("url") or DEFAULT_URL, "page_title": item.get("title") or DEFAULT_TITLE,
                  "session_id": c.ts, "engagement_time_msec": 100}
        ev = {"name": item.get("event", "page_view"), "params": params, **item.get("top", {})}
        body = {"client_id": f"{c.n}123456.{c.ts}", "events": [ev]}
        if variant == "mp_userprops":
            body["user_properties"] = {k: {"value": v} for k, v in props.items()}
        else:
            params.update(props)
        if variant == "mp_debug":
            target = target.replace("/ga4/mp/", "/ga4/debug/mp/")
        return req("POST", target, [("content-type", "application/json; charset=utf-8")] + extra, dumps(body))
    base = [("v", "2"), ("tid", "G-ADV12345"), ("gtm", "45je4c20v9"), ("_p", str(c.ts_ms)), ("cid", f"{c.n}123.{c.ts}"),
            ("ul", "de-de"), ("sr", "1920x1080"), ("_s", "1"), ("sid", str(c.ts)), ("sct", "1"), ("seg", "1"),
            ("dl", item.get("url") or DEFAULT_URL), ("dt", item.get("title") or DEFAULT_TITLE)]
    evp = [("en", item.get("event", "page_view"))]
    for k, v in props.items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            evp.append((f"epn.{k}", flat(v)))
        else:
            evp.append((f"ep.{k}", flat(v)))
    evp += [(k, flat(v)) for k, v in item.get("top", {}).items()]
    enc = lambda ps: "&".join(f"{q(k)}={q(v)}" for k, v in ps)
    if variant == "gtag":
        return req("POST", "/ga4/g/collect?" + enc(base + evp), [("accept", "*/*")] + extra, "")
    return req("POST", "/ga4/g/collect?" + enc(base), [TEXT_CT] + extra, enc([("en", "scroll"), ("epn.percent_scrolled", "90")]) + "\n" + enc(evp))


def matomo(variant, item, c: Ctx):
    props = item.get("props", {})
    base = [("idsite", "3"), ("rec", "1"), ("r", f"{c.n:06d}"), ("h", "10"), ("m", "21"), ("s", "7"),
            ("url", item.get("url") or DEFAULT_URL), ("action_name", item.get("title") or DEFAULT_TITLE),
            ("_id", f"{c.n:016x}"), ("_idn", "0"), ("send_image", "0"), ("res", "1920x1080"), ("pv_id", f"a{c.n:05d}")]
    extra = item.get("headers", [])
    if variant == "get_dims":
        pairs = [(f"dimension{i + 1}", flat(v)) for i, v in enumerate(props.values())]
    elif variant == "event":
        vals = [flat(v) for v in props.values()] or [""]
        pairs = [("e_c", "checkout"), ("e_a", "submit"), ("e_n", vals[0])]
        pairs += [(f"dimension{i + 2}", v) for i, v in enumerate(vals[1:])]
    else:
        cvar = {str(i + 1): [k, flat(v)] for i, (k, v) in enumerate(props.items())}
        pairs = [("_cvar", dumps(cvar))] if cvar else []
    pairs += [(k, flat(v)) for k, v in item.get("top", {}).items()]
    query = "&".join(f"{q(k)}={q(v)}" for k, v in base + pairs)
    if variant == "bulk":
        return req("POST", "/matomo/matomo.php", [("content-type", "application/x-www-form-urlencoded; charset=UTF-8")]
                   + extra, dumps({"requests": ["?" + query]}))
    if variant == "post_form":
        return req("POST", "/matomo/matomo.php", [("content-type", "application/x-www-form-urlencoded; charset=UTF-8")]
                   + extra, query)
    return req("GET", "/matomo/matomo.php?" + query, extra)


def snowplow(variant, item, c: Ctx):
    props = item.get("props", {})
    sde = {"schema": "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0",
           "data": {"schema": "iglu:com.acme/checkout_step/jsonschema/1-0-2", "data": props}}
    ctx = {"schema": "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-0",
           "data": [{"schema": "iglu:com.snowplowanalytics.snowplow/web_page/jsonschema/1-0-0", "data": {"id": c.uuid2}}]}
    ev = {"e": "ue", "eid": c.uuid2, "tv": "js-4.10.1", "tna": "sp1", "aid": "shop", "p": "web", "cookie": "1",
          "cs": "UTF-8", "lang": "de-DE", "res": "1920x1080", "cd": "24", "tz": "Europe/Berlin", "dtm": str(c.ts_ms),
          "vp": "1905x971", "ds": "1905x3000", "vid": "1", "sid": c.uuid, "duid": c.uuid2,
          "url": item.get("url") or DEFAULT_URL, "page": item.get("title") or DEFAULT_TITLE, "stm": str(c.ts_ms + 3)}
    if variant == "post_ue_pr":
        ev["ue_pr"] = dumps(sde)
        ev["co"] = dumps(ctx)
    elif variant in ("post_ue_px", "get_ue_px"):
        ev["ue_px"] = b64url(dumps(sde))
        ev["cx"] = b64url(dumps(ctx))
    elif variant in ("post_cx", "get_co"):
        ev["e"] = "pv"
        ctx["data"].append({"schema": "iglu:com.acme/customer/jsonschema/1-0-0", "data": props})
        if variant == "post_cx":
            ev["cx"] = b64url(dumps(ctx))
        else:
            ev["co"] = dumps(ctx)
    else:
        ev["e"] = "se"
        vals = [flat(v) for v in props.values()] + ["", "", ""]
        ev.update({"se_ca": "checkout", "se_ac": "submit", "se_la": vals[0], "se_pr": vals[1]})
        if vals[2]:
            ev["se_va"] = vals[2]
    ev.update({k: flat(v) for k, v in item.get("top", {}).items()})
    extra = item.get("headers", [])
    if variant.startswith("get_"):
        return req("GET", "/snowplow/i?" + "&".join(f"{q(k)}={q(v)}" for k, v in ev.items()), [("accept", "*/*")] + extra)
    body = {"schema": "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4", "data": [ev]}
    return req("POST", "/snowplow/com.snowplowanalytics.snowplow/tp2",
               [("content-type", "application/json; charset=UTF-8"), ("accept", "*/*")] + extra, dumps(body))


def plausible(variant, item, c: Ctx):
    props = dict(item.get("props", {}))
    if item.get("title"):
        props["heading"] = item["title"]
    body = {"n": item.get("event", "pageview"), "v": 20, "u": item.get("url") or DEFAULT_URL, "d": "shop.example.com",
            "r": None, "w": 1905}
    key = {"p_obj": "p", "props_str": "props", "meta": "meta", "m": "m"}[variant]
    if props:
        body[key] = dumps(props) if variant == "props_str" else props
    body.update(item.get("top", {}))
    return req("POST", "/plausible/api/event", [TEXT_CT, ("accept", "*/*"), ("user-agent", UA)] + item.get("headers", []),
               dumps(body))


def wrap(vendor: str, variant: str, item: dict, n: int) -> dict:
    c = Ctx(n)
    if vendor in ("segment", "rudderstack"):
        return segment_like(vendor, variant, item, c)
    return globals()[vendor](variant, item, c)
