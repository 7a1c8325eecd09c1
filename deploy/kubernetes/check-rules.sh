#!/usr/bin/env bash
# Runs `scrubproxy check` on a deploy rules file (sidecar/rules.toml, standalone/rules.toml)
# before you `kubectl apply -k`: it validates every setting and runs the file's [[test]]
# cases. The file names the Secret's files under /var/run/secrets/scrubproxy, which exist
# only in the pod, so this points them at stand-in files for the check.
#   deploy/kubernetes/check-rules.sh deploy/kubernetes/sidecar/rules.toml
# Uses $SCRUBPROXY_BIN, else `scrubproxy` on PATH, else `cargo run --release`. In a running
# pod, check the mounted file itself:
#   kubectl exec deploy/web -c scrubproxy -- scrubproxy check --config /etc/scrubproxy/rules.toml
set -euo pipefail
rules="${1:?usage: check-rules.sh RULES.toml}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Stand-ins for the Secret's keys, random enough to pass the key checks.
printf 'check-rules-stand-in-hmac-key-0123456789' > "$work/hmac-key"
printf 'check-rules-stand-in-matomo-token' > "$work/matomo-token"
printf 'check-rules-stand-in-admin-token-7fQ2' > "$work/admin-token"
sed "s|/var/run/secrets/scrubproxy|$work|g" "$rules" > "$work/rules.toml"

if [ -n "${SCRUBPROXY_BIN:-}" ]; then
  run=("$SCRUBPROXY_BIN")
elif command -v scrubproxy >/dev/null 2>&1; then
  run=(scrubproxy)
else
  run=(cargo run --quiet --release --manifest-path "$(dirname "$0")/../../Cargo.toml" --)
fi
# Report the operator's file name, not the stand-in's (errors come on stderr).
"${run[@]}" check --config "$work/rules.toml" 2>&1 | sed "s|$work/rules.toml|$rules|"
exit "${PIPESTATUS[0]}"
