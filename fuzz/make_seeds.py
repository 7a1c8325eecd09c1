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


if __name__ == "__main__":
    main()
