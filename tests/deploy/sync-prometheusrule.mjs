// Writes deploy/kubernetes/monitoring/prometheusrule.yaml from deploy/prometheus/alerts.yml,
// the single source of the alerts: its `groups:` section, comments and all, under `spec:`.
// Run it after editing alerts.yml: `node tests/deploy/sync-prometheusrule.mjs`
// (check.mjs fails while the two differ).
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const alerts = readFileSync(join(root, "deploy/prometheus/alerts.yml"), "utf8");
const start = alerts.search(/^groups:/m);
if (start < 0) throw new Error("alerts.yml has no top-level `groups:`");
const groups = alerts
  .slice(start)
  .split("\n")
  .map((line) => (line === "" ? line : `  ${line}`))
  .join("\n");

const header = `# GENERATED from deploy/prometheus/alerts.yml by tests/deploy/sync-prometheusrule.mjs:
# edit alerts.yml, then run the script. The same alerts for prometheus-operator; its
# Prometheus picks this up if its ruleSelector matches the labels below (kube-prometheus-stack's
# default is \`release: <its Helm release>\`).
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: scrubproxy
  labels:
    app.kubernetes.io/name: scrubproxy
    release: kube-prometheus-stack
spec:
`;
writeFileSync(join(root, "deploy/kubernetes/monitoring/prometheusrule.yaml"), header + groups);
