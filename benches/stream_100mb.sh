#!/usr/bin/env bash
# Streams the ~100 MB Segment batch through the proxy to a fast fake vendor and reports
# throughput, the proxy's peak RSS, and when the vendor saw the first scrubbed bytes.
#
#   python3 ../shared/bench/gen_payloads.py --out target/bench-payloads --sizes huge
#   benches/stream_100mb.sh
set -euo pipefail
cd "$(dirname "$0")/.."
payload=${PAYLOAD:-target/bench-payloads/segment-huge.json}
[ -f "$payload" ] || { echo "missing $payload (see the header of this script)"; exit 1; }
cargo build --release --quiet --bin scrubproxy --example sink_vendor

rules=$(mktemp --suffix .toml)
sed -e 's/^address = .*/address = "127.0.0.1:18080"/' \
    -e 's/^admin = .*/admin = "127.0.0.1:19090"/' \
    -e 's/^max_body_bytes = .*/max_body_bytes = 209715200/' \
    -e 's/^max_decoded_bytes = .*/max_decoded_bytes = 209715200/' \
    -e 's|^upstream = .*|upstream = "http://127.0.0.1:19999"|' \
    -e '/^prefix = "\/segment"$/{n;a limits = { max_batch_bytes = 209715200, max_events = 100000000 }' -e '}' \
    rules.toml > "$rules"

target/release/examples/sink_vendor 127.0.0.1:19999 > /tmp/sink.log &
sink=$!
target/release/scrubproxy run --config "$rules" 2>/tmp/proxy.log &
proxy=$!
trap 'kill $sink $proxy 2>/dev/null; rm -f "$rules"' EXIT
sleep 1

for i in 1 2 3; do
  curl -s -o /dev/null -w "run $i: %{http_code} in %{time_total}s, %{speed_upload} B/s up\n" \
    -H 'content-type: application/json' --data-binary @"$payload" \
    http://127.0.0.1:18080/segment/v1/batch
done
echo "vendor side:"; cat /tmp/sink.log
echo "proxy peak RSS: $(grep VmHWM /proc/$proxy/status)"
