#!/usr/bin/env python3
"""Writes one half of the adversarial corpus of issue 19 as JSON lines.

    python3 tests/adversarial/gen.py holdout > tests/adversarial/holdout.jsonl
    python3 tests/adversarial/gen.py dev > tests/adversarial/dev.jsonl

Each line is one request as a tracker would send it to the proxy (route prefix included):
`id`, `split`, `kind`, `vendor`, `variant` (the SDK shape), `method`, `target`, `headers`
([[name, value]]), `body` (text) or `body_base64` (gzip), `planted` (values that must not
reach the vendor, as they read after every decoding), `must_keep` (benign look-alikes,
reported only) and `note`. The halves share kinds, never planted values; the generator is
deterministic, so the files can be regenerated and diffed."""

import json
import random
import re
import sys
import urllib.parse

import ids
import kinds
from vendors import VARIANTS, VENDORS, wrap

# Shapes that carry no property keys (values only): useless for the key kinds.
KEYLESS = {("matomo", "get_dims"), ("matomo", "event"), ("snowplow", "get_se")}
KEY_KINDS = {"key_invisible", "key_top_level", "key_contains_deny", "pii_as_key", "json_in_string", "json_unicode_escape"}

# Shapes whose JSON text reaches the proxy as written (no base64 or gzip around it): the
# only ones where a number's spelling or a \u escape survives to the proxy.
JSON_TEXT = {
    "segment": ["track_t", "batch_json", "page_p", "identify_i", "batch_b"],
    "rudderstack": ["track", "beacon", "page", "identify"],
    "mixpanel": ["import_json", "json_form"],
    "amplitude": ["httpapi", "batch", "identify", "beacon"],
    "posthog": ["e_batch", "i_v0", "capture_single", "v1"],
    "ga4": ["mp", "mp_debug", "mp_userprops"],
    "matomo": ["get_cvar", "bulk", "post_form"],
    "snowplow": ["post_ue_pr", "get_co"],
    "plausible": ["p_obj", "props_str", "meta", "m"],
}

# Benign look-alikes per kind: the proxy should leave them readable (reported, not failed).
LOOKALIKES = {
    "key_invisible": [("streetwise_mode", "enabled-v2"), ("game_title_id", "Street Fighter 6")],
    "key_top_level": [("plan_name", "Enterprise Plus"), ("category", "Home & Garden")],
    "key_contains_deny": [("namespace", "checkout-flow"), ("emailing_enabled", "yes-weekly")],
    "json_in_string": [("config_json", '{"theme":"dark","layout":"grid"}')],
    "base64_value": [("nonce", "SGVsbG8gd29ybGQh"), ("etag", "dGhlbWUtZGFyay12Mg")],
    "html_entities": [("caption", "Tom &amp; Jerry &#8211; Season 2")],
    "percent_phone": [("landing_2", "https://shop.example.com/sale?utm_term=summer%2050%25%20off")],
    "email_control": [("handle", "@shop_example on social")],
    "email_quoted": [("quote", '"best buy" @ the mall')],
    "number_card": [],
    "number_phone": [("order_total_cents", "1234567")],
    "iban": [("order_ref", "DE00 1234 5678 9012 3456 78")],
    "phone_national": [("released", "Build 2024.11.05 12:30")],
    "coordinates": [("totals", "Total 52.52 EUR, tax 13.40 EUR")],
    "street_address": [("product", "Model 28 Street Edition 2024")],
    "national_id": [("sku", "12345678A")],
    "name_in_title": [("section", "Checkout – Step 2 of 3")],
    "header_values": [("plan_label", "Pro Monthly")],
    "posthog_passthrough": [],
    "json_unicode_escape": [("emoji", "Gr\u00fc\u00dfe \u2603")],
    "double_encoding": [("query", "a%2520b%2Bc")],
    "url_tricks": [("docs_link", "https://docs.example.com/guide#installation")],
    "confusable_email": [("twitter", "@example_shop")],
    "pii_as_key": [("flags", "alpha,beta")],
}


def uesc(text: str) -> str:
    """`text` as JSON string content, every other character (and every @ . +) as \\uXXXX."""
    out = []
    for i, ch in enumerate(text):
        if ch in "@.+" or i % 2 == 0:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out)


MARK = re.compile(r"@@(NUM|ESC):(.*?)@@")


def fill_markers(text: str, markers) -> str:
    for kind, x in markers:
        m = f"@@{kind}:{x}@@"
        plain = x if kind == "NUM" else '"' + uesc(x) + '"'
        nested = x if kind == "NUM" else '\\"' + uesc(x).replace("\\", "\\\\") + '\\"'
        q = lambda s: urllib.parse.quote(s, safe="")
        qp = urllib.parse.quote_plus
        for old, new in [
            ('\\"' + m + '\\"', nested),
            ('"' + m + '"', plain),
            (q('"' + m + '"'), q(plain)),
            (qp('"' + m + '"'), qp(plain)),
            (q(m), q(x)),
            (qp(m), qp(x)),
        ]:
            text = text.replace(old, new)
    return text


def build(split: str):
    rng = random.Random(1901 if split == "holdout" else 1902)
    offset = 0 if split == "holdout" else 4
    out = []
    n = 0
    for k_index, kind_fn in enumerate(kinds.KINDS):
        kind = kind_fn.__name__
        looks = LOOKALIKES.get(kind, [])
        for i, it in enumerate(kind_fn(split)):
            n += 1
            vendors = it.get("vendors", VENDORS)
            vendor = vendors[(i + offset + k_index) % len(vendors)]
            if "raw" in it:
                variant, request = "raw", dict(it["raw"])
            else:
                choices = JSON_TEXT[vendor] if it.get("json_only") else VARIANTS[vendor]
                if kind in KEY_KINDS:
                    choices = [v for v in choices if (vendor, v) not in KEYLESS]
                variant = rng.choice(choices)
                body_item = dict(it)
                must_keep = list(it["must_keep"])
                if looks and "props" in it:
                    lk, lv = looks[(i + offset) % len(looks)]
                    body_item["props"] = {**it["props"], lk: lv}
                    must_keep.append(lv)
                it = {**it, "must_keep": must_keep}
                request = wrap(vendor, variant, body_item, n + (0 if split == "holdout" else 5000))
            markers = set(MARK.findall(json.dumps(it.get("props", {}), ensure_ascii=False)))
            for field in ("target", "body"):
                if field in request:
                    request[field] = fill_markers(request[field], markers)
            for field in ("target", "body"):
                assert "@@" not in request.get(field, ""), (kind, vendor, variant, request.get(field))
            planted = list(it["planted"])
            assert planted, kind
            entry = {
                "id": f"{split[0]}{n:03d}",
                "split": split,
                "kind": kind,
                "vendor": vendor,
                "variant": variant,
                **request,
                "planted": planted,
                "must_keep": [m for m in it["must_keep"] if len(m) >= 4],
                "note": it.get("note", ""),
            }
            out.append(entry)
    return out


def check_valid_numbers(entries):
    for e in entries:
        if e["kind"] == "number_card":
            assert ids.luhn_ok(e["planted"][0]), e["id"]
            for m in e["must_keep"]:
                assert not ids.luhn_ok(m), e["id"]
        if e["kind"] == "iban":
            assert ids.iban_ok(e["planted"][0]), e["id"]


def main():
    split = sys.argv[1]
    assert split in ("holdout", "dev")
    entries = build(split)
    check_valid_numbers(entries)
    for e in entries:
        sys.stdout.write(json.dumps(e, ensure_ascii=False) + "\n")
    print(f"{split}: {len(entries)} requests", file=sys.stderr)


if __name__ == "__main__":
    main()
