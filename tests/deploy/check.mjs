// Checks deploy/ beyond what kubernetes-validate can (tests/it/deploy.rs runs this):
//  - every file a kustomization.yaml names exists;
//  - the prometheus-operator resources (ServiceMonitor, PodMonitor, PrometheusRule), which
//    kubernetes-validate only warns about, against the operator's schemas;
//  - the references between the resources of each overlay: monitors, Services, the HPA and
//    the PDB select the Deployment's pods and name ports that exist, volumes name ConfigMaps
//    and Secrets the overlay makes (the operator's schemas accept unknown fields, so a
//    misspelt `port` would otherwise pass);
//  - the PrometheusRule carries exactly the groups of deploy/prometheus/alerts.yml.
// Usage: node tests/deploy/check.mjs [rendered.yaml ...]
// Extra arguments are `kubectl kustomize` outputs, whose custom resources are validated too.
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { isDeepStrictEqual } from "node:util";

import { parseAllDocuments, parse } from "yaml";
import {
  PodMonitor,
  PrometheusRule,
  ServiceMonitor,
} from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const kubeDir = join(root, "deploy", "kubernetes");
const errors = [];
const fail = (where, what) => errors.push(`${where}: ${what}`);
const rel = (p) => relative(root, p);

const MODELS = { ServiceMonitor, PodMonitor, PrometheusRule };

// YAML 1.1 as Kubernetes reads it (0440 would be octal there, decimal in YAML 1.2), and
// duplicate keys are errors.
function readDocs(path) {
  const docs = parseAllDocuments(readFileSync(path, "utf8"), { version: "1.1", uniqueKeys: true });
  const out = [];
  for (const doc of docs) {
    for (const e of doc.errors) fail(rel(path), `YAML: ${e.message}`);
    const value = doc.toJS();
    if (value !== null && value !== undefined) out.push(value);
  }
  return out;
}

function validateCustom(where, obj) {
  if (typeof obj.apiVersion !== "string" || !obj.apiVersion.startsWith("monitoring.coreos.com/")) {
    return;
  }
  const Model = obj.apiVersion === "monitoring.coreos.com/v1" ? MODELS[obj.kind] : undefined;
  if (!Model) {
    fail(where, `no schema here for ${obj.apiVersion} ${obj.kind}`);
    return;
  }
  try {
    new Model(obj).validate();
  } catch (e) {
    fail(where, `${obj.kind}/${obj.metadata?.name}: ${e.message}`);
  }
}

// kustomization.yaml entries that name files (`key=path` in generators).
function namedFiles(k) {
  const files = [...(k.resources ?? []), ...(k.components ?? [])];
  for (const gen of [...(k.configMapGenerator ?? []), ...(k.secretGenerator ?? [])]) {
    for (const f of [...(gen.files ?? []), ...(gen.envs ?? [])]) files.push(f.split("=").pop());
  }
  for (const p of [...(k.patches ?? []), ...(k.patchesStrategicMerge ?? [])]) {
    if (typeof p === "string") files.push(p);
    else if (p.path) files.push(p.path);
  }
  return files.filter((f) => !/^[a-z]+:\/\//.test(f));
}

const matches = (selector, labels) =>
  selector &&
  Object.keys(selector).length > 0 &&
  Object.entries(selector).every(([k, v]) => labels?.[k] === v);

function checkOverlay(dir, docs, k) {
  const where = rel(dir);
  const byKind = (kind) => docs.filter((d) => d.kind === kind);
  const deployments = byKind("Deployment");
  const services = byKind("Service");
  const podsOf = (selector) => deployments.filter((d) => matches(selector, d.spec.template.metadata.labels));
  const portNames = (deployment) =>
    deployment.spec.template.spec.containers.flatMap((c) => (c.ports ?? []).map((p) => p.name));

  for (const d of deployments) {
    if (!matches(d.spec.selector.matchLabels, d.spec.template.metadata.labels)) {
      fail(where, `Deployment ${d.metadata.name}: selector does not match its pod labels`);
    }
    const made = (kind) =>
      new Set([
        ...byKind(kind).map((o) => o.metadata.name),
        ...(kind === "ConfigMap" ? k.configMapGenerator ?? [] : k.secretGenerator ?? []).map((g) => g.name),
      ]);
    for (const v of d.spec.template.spec.volumes ?? []) {
      if (v.configMap && !made("ConfigMap").has(v.configMap.name)) {
        fail(where, `Deployment ${d.metadata.name}: volume ${v.name} names ConfigMap ${v.configMap.name}, which this overlay does not make`);
      }
      if (v.secret && !made("Secret").has(v.secret.secretName)) {
        fail(where, `Deployment ${d.metadata.name}: volume ${v.name} names Secret ${v.secret.secretName}, which this overlay does not make`);
      }
    }
    for (const c of d.spec.template.spec.containers) {
      const names = new Set((c.volumeMounts ?? []).map((m) => m.name));
      for (const n of names) {
        if (!(d.spec.template.spec.volumes ?? []).some((v) => v.name === n)) {
          fail(where, `container ${c.name} mounts volume ${n}, which the pod does not have`);
        }
      }
      for (const probe of [c.livenessProbe, c.readinessProbe]) {
        const port = probe?.httpGet?.port;
        if (typeof port === "string" && !(c.ports ?? []).some((p) => p.name === port)) {
          fail(where, `container ${c.name}: a probe names port ${port}, which it does not have`);
        }
      }
    }
  }
  for (const s of services) {
    const pods = podsOf(s.spec.selector);
    if (pods.length === 0) fail(where, `Service ${s.metadata.name} selects no Deployment's pods`);
    for (const p of s.spec.ports) {
      if (typeof p.targetPort === "string" && !pods.some((d) => portNames(d).includes(p.targetPort))) {
        fail(where, `Service ${s.metadata.name}: targetPort ${p.targetPort} is no container port of its pods`);
      }
    }
  }
  for (const m of byKind("PodMonitor")) {
    const pods = podsOf(m.spec.selector?.matchLabels);
    if (pods.length === 0) fail(where, `PodMonitor ${m.metadata.name} selects no Deployment's pods`);
    for (const e of m.spec.podMetricsEndpoints ?? []) {
      if (!pods.some((d) => portNames(d).includes(e.port))) {
        fail(where, `PodMonitor ${m.metadata.name}: port ${e.port} is no container port of its pods`);
      }
    }
  }
  for (const m of byKind("ServiceMonitor")) {
    const selected = services.filter((s) => matches(m.spec.selector?.matchLabels, s.metadata.labels));
    if (selected.length === 0) fail(where, `ServiceMonitor ${m.metadata.name} selects no Service`);
    for (const e of m.spec.endpoints ?? []) {
      if (!selected.some((s) => s.spec.ports.some((p) => p.name === e.port))) {
        fail(where, `ServiceMonitor ${m.metadata.name}: port ${e.port} is no port of its Services`);
      }
    }
  }
  for (const h of byKind("HorizontalPodAutoscaler")) {
    const t = h.spec.scaleTargetRef;
    if (!deployments.some((d) => t.kind === "Deployment" && d.metadata.name === t.name)) {
      fail(where, `HorizontalPodAutoscaler ${h.metadata.name} scales ${t.kind} ${t.name}, which this overlay does not have`);
    }
  }
  for (const b of byKind("PodDisruptionBudget")) {
    if (podsOf(b.spec.selector?.matchLabels).length === 0) {
      fail(where, `PodDisruptionBudget ${b.metadata.name} selects no Deployment's pods`);
    }
  }
}

// Each kustomization, its files, their custom resources and references.
const overlays = readdirSync(kubeDir)
  .map((name) => join(kubeDir, name))
  .filter((dir) => existsSync(join(dir, "kustomization.yaml")));
if (overlays.length === 0) fail(rel(kubeDir), "no kustomization.yaml found");
let rules = [];
for (const dir of overlays) {
  const kfile = join(dir, "kustomization.yaml");
  const k = parse(readFileSync(kfile, "utf8"));
  const docs = [];
  for (const f of namedFiles(k)) {
    const path = join(dir, f);
    if (!existsSync(path)) {
      fail(rel(kfile), `names ${f}, which does not exist`);
      continue;
    }
    if (statSync(path).isFile() && /\.ya?ml$/.test(f) && (k.resources ?? []).includes(f)) {
      for (const doc of readDocs(path)) {
        validateCustom(rel(path), doc);
        docs.push(doc);
      }
    }
  }
  checkOverlay(dir, docs, k);
  rules = rules.concat(docs.filter((d) => d.kind === "PrometheusRule"));
  console.log(`checked ${rel(dir)}: ${docs.length} resources`);
}

// Rendered overlays (kubectl kustomize), when the caller has them.
for (const path of process.argv.slice(2)) {
  const docs = readDocs(path);
  for (const doc of docs) validateCustom(path, doc);
  console.log(`checked ${path}: ${docs.length} rendered resources`);
}

// The PrometheusRule must say what alerts.yml says.
const alertsPath = join(root, "deploy", "prometheus", "alerts.yml");
const alerts = parse(readFileSync(alertsPath, "utf8"));
if (rules.length !== 1) {
  fail(rel(kubeDir), `expected one PrometheusRule, found ${rules.length}`);
} else if (!isDeepStrictEqual(rules[0].spec.groups, alerts.groups)) {
  fail(
    rel(alertsPath),
    "the PrometheusRule's spec.groups differ from alerts.yml's groups: run `node tests/deploy/sync-prometheusrule.mjs`",
  );
} else {
  const n = alerts.groups.flatMap((g) => g.rules).length;
  console.log(`PrometheusRule ${rules[0].metadata.name} carries alerts.yml (${n} rules)`);
}

if (errors.length > 0) {
  for (const e of errors) console.error(`ERROR ${e}`);
  process.exit(1);
}
console.log("deploy checks: ok");
