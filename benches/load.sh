#!/usr/bin/env bash
# Loopback load harness: the same Segment batches, driven by wrk, through
#   direct      straight to the fast fake vendor (examples/sink_vendor.rs)
#   nginx       nginx proxy_pass, no scrubbing (the pass-through baseline)
#   scrubproxy  the release binary with the shipped rules.toml
#   njs         nginx with an njs JSON.parse/delete/stringify scrubber (benches/load/scrub.njs)
#   node        a Node.js JSON.parse/stringify scrubber (benches/load/node-scrub.mjs)
# for 1-, 50- and 1000-event batches: requests/s, MB/s, p50/p99, errors, CPU per request and
# peak RSS; then p99 at half of scrubproxy's saturation rate, against direct at that rate.
# Everything shares the machine's cores, so compare figures from one run only. Each cell is
# the median of REPS runs (default 3), the targets taking turns so that a noisy moment of the
# machine falls on all of them; the req/s column also gives the range and the ratio to nginx.
#
#   python3 ../shared/bench/gen_payloads.py --out target/bench-payloads
#   benches/load.sh                          # DURATION=8 CONNS=32 REPS=3 SIZES="small typical large"
#   SOAK=600 benches/load.sh                 # also: 10 minutes at half rate, RSS every 30 s
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${DURATION:-8}
conns=${CONNS:-32}
reps=${REPS:-3}
sizes=${SIZES:-"small typical large"}
here=$PWD/benches/load

for tool in wrk nginx node; do
  if ! command -v $tool >/dev/null 2>&1; then
    echo "installing wrk, nginx and its njs module (Debian packages)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx libnginx-mod-http-js >/dev/null
    break
  fi
done
cargo build --release --quiet --bin scrubproxy --example sink_vendor

dir=$(mktemp -d /tmp/scrubload.XXXXXX)
pids=()
cleanup() {
  kill "${pids[@]}" 2>/dev/null || true
  [ -f "$dir/nginx.pid" ] && kill "$(cat "$dir/nginx.pid")" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

target/release/examples/sink_vendor 127.0.0.1:19999 >/dev/null &
pids+=($!)
sed -e 's/^address = .*/address = "127.0.0.1:18080"/' \
    -e 's/^admin = .*/admin = "127.0.0.1:19090"/' \
    -e 's|^upstream = .*|upstream = "http://127.0.0.1:19999"|' \
    -e '/^prefix = "\/segment"$/{n;a limits = { max_batch_bytes = 67108864 }' -e '}' \
    rules.toml > "$dir/rules.toml"
SCRUBPROXY_HMAC_KEY=load-test-key-load-test-key-0123 SCRUBPROXY_LISTEN__WORKERS=${PROXY_WORKERS:-0} \
  target/release/scrubproxy run --config "$dir/rules.toml" >"$dir/proxy.log" 2>&1 &
proxy=$!
pids+=($proxy)
sed -e "s|@DIR@|$dir|g" -e "s|@HERE@|$here|g" -e "s|@SINK@|127.0.0.1:19999|g" \
  "$here/nginx.conf.in" > "$dir/nginx.conf"
nginx -c "$dir/nginx.conf" -e "$dir/nginx-error.log"
node "$here/node-scrub.mjs" 127.0.0.1:18083 http://127.0.0.1:19999 &
node=$!
pids+=($node)
sleep 1

declare -A url=(
  [direct]=http://127.0.0.1:19999 [nginx]=http://127.0.0.1:18081
  [scrubproxy]=http://127.0.0.1:18080 [njs]=http://127.0.0.1:18082 [node]=http://127.0.0.1:18083
)
order=(direct nginx scrubproxy njs node)

# The processes that do a target's work (the vendor's own work is not counted).
procs_of() {
  case $1 in
    scrubproxy) echo "$proxy" ;;
    node) echo "$node" ;;
    nginx|njs) m=$(cat "$dir/nginx.pid"); echo "$m $(pgrep -P "$m" | tr '\n' ' ')" ;;
    *) echo "" ;;
  esac
}
cpu_ticks() {
  local t=0
  for p in $(procs_of "$1"); do
    t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
  done
  echo $t
}
peak_rss_mb() {
  local m=0
  for p in $(procs_of "$1"); do
    local v
    v=$(awk '/VmHWM/ {print $2}' "/proc/$p/status")
    [ "$v" -gt "$m" ] && m=$v
  done
  echo "scale=1; $m / 1024" | bc
}
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$2"; }
hz=$(getconf CLK_TCK)

run_wrk() { # target payload connections delay_ms
  PAYLOAD=$2 DELAY_MS=$4 wrk -t"$(( $3 < 2 ? 1 : 2 ))" -c"$3" -d"${duration}s" --timeout 10s -s "$here/post.lua" \
    "${url[$1]}/segment/v1/batch" | grep '^RESULT'
}

# The middle value of its arguments (the lower middle of an even count).
median() { printf '%s\n' "$@" | sort -g | sed -n "$(( ($# + 1) / 2 ))p"; }

echo "| batch | target | req/s (median, range) | x nginx | MB/s | p50 ms | p99 ms | errors | CPU ms/req | peak RSS MB |"
echo "|---|---|---|---|---|---|---|---|---|---|"
declare -A rps
for size in $sizes; do
  payload=target/bench-payloads/segment-$size.json
  [ -f "$payload" ] || { echo "missing $payload (see the header of this script)"; exit 1; }
  declare -A runs=() cpus=() errs=()
  for rep in $(seq "$reps"); do
    for t in "${order[@]}"; do
      before=$(cpu_ticks "$t")
      r=$(run_wrk "$t" "$payload" "$conns" 0)
      after=$(cpu_ticks "$t")
      runs[$t]+="$r"$'\n'
      cpus[$t]+=" $(echo "scale=3; ($after - $before) * 1000 / $hz / $(field requests "$r")" | bc)"
      errs[$t]=$(( ${errs[$t]:-0} + $(field errors "$r") + $(field non2xx "$r") ))
    done
  done
  for t in "${order[@]}"; do
    # shellcheck disable=SC2046 # one number per line
    rps[$t.$size]=$(median $(field rps "${runs[$t]}"))
  done
  for t in "${order[@]}"; do
    all() { field "$1" "${runs[$t]}"; }
    range=$(all rps | sort -g | sed -n '1p;$p' | paste -sd- -)
    ratio=$(printf "%.2f" "$(echo "scale=4; ${rps[$t.$size]} / ${rps[nginx.$size]}" | bc)")
    rss=$( [ "$t" = direct ] && echo - || peak_rss_mb "$t")
    # shellcheck disable=SC2046,SC2086
    echo "| $size | $t | ${rps[$t.$size]} ($range) | $ratio | $(median $(all mbps)) | $(median $(all p50_ms)) | $(median $(all p99_ms)) | ${errs[$t]} | $(median ${cpus[$t]}) | $rss |"
  done
  unset runs cpus errs
done

echo
# wrk paces only in whole milliseconds per connection: a 2 ms pause on each of enough
# connections to offer the rate (closed loop; the achieved rate is printed).
paced() { # target payload rate
  local c=$(( ($3 * 23 + 9999) / 10000 ))
  run_wrk "$1" "$2" "$(( c > 0 ? c : 1 ))" 2
}
echo "p99 at half of scrubproxy's saturation rate (2 ms pause per connection):"
echo "| batch | rate req/s | scrubproxy p99 ms | direct p99 ms | added p99 ms | errors |"
echo "|---|---|---|---|---|---|"
for size in $sizes; do
  payload=target/bench-payloads/segment-$size.json
  rate=$(echo "${rps[scrubproxy.$size]} / 2" | bc)
  s=$(paced scrubproxy "$payload" "$rate")
  d=$(paced direct "$payload" "$rate")
  added=$(echo "$(field p99_ms "$s") - $(field p99_ms "$d")" | bc)
  echo "| $size | $(field rps "$s") | $(field p99_ms "$s") | $(field p99_ms "$d") | $added | $(( $(field errors "$s") + $(field non2xx "$s") )) |"
done

if [ -n "${SOAK:-}" ]; then
  echo
  echo "soak: $SOAK s of typical batches at half rate; scrubproxy RSS (MB) every 30 s:"
  payload=target/bench-payloads/segment-typical.json
  rate=$(echo "${rps[scrubproxy.typical]:-1000} / 2" | bc)
  duration=$SOAK paced scrubproxy "$payload" "$rate" > "$dir/soak.txt" &
  soak=$!
  while kill -0 $soak 2>/dev/null; do
    echo "  $(awk '/VmRSS/ {printf "%.1f", $2 / 1024}' /proc/$proxy/status)"
    sleep 30
  done
  cat "$dir/soak.txt"
fi
