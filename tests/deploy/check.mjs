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
  // Native sidecars (init containers with restartPolicy: Always) run beside the app.
  const allContainers = (deployment) => [
    ...(deployment.spec.template.spec.initContainers ?? []),
    ...deployment.spec.template.spec.containers,
  ];
  const portNames = (deployment) =>
    allContainers(deployment).flatMap((c) => (c.ports ?? []).map((p) => p.name));
  const portNumbers = (deployment) =>
    allContainers(deployment).flatMap((c) => (c.ports ?? []).map((p) => p.containerPort));
  const cores = (cpu) => (String(cpu).endsWith("m") ? parseFloat(cpu) / 1000 : parseFloat(cpu));

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
    const spec = d.spec.template.spec;
    for (const c of spec.initContainers ?? []) {
      // Only the proxy runs as an init container, and only as a native sidecar: a plain
      // init container would block the pod's start forever.
      if (c.name === "scrubproxy" && c.restartPolicy !== "Always") {
        fail(where, `Deployment ${d.metadata.name}: init container scrubproxy needs restartPolicy: Always`);
      }
    }
    if (spec.containers.length > 1 && spec.containers.some((c) => c.name === "scrubproxy")) {
      fail(where, `Deployment ${d.metadata.name}: the scrubproxy sidecar must be native (initContainers, restartPolicy: Always), so it starts before and stops after the app`);
    }
    for (const c of allContainers(d)) {
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
  const hpas = byKind("HorizontalPodAutoscaler");
  for (const h of hpas) {
    const t = h.spec.scaleTargetRef;
    const target = deployments.find((d) => t.kind === "Deployment" && d.metadata.name === t.name);
    if (!target) {
      fail(where, `HorizontalPodAutoscaler ${h.metadata.name} scales ${t.kind} ${t.name}, which this overlay does not have`);
      continue;
    }
    // A CPU target is a share of the request: too small a request makes the HPA scale out
    // at idle noise, too high a target leaves no headroom while new pods start.
    for (const m of h.spec.metrics ?? []) {
      const u = m.resource?.name === "cpu" ? m.resource.target?.averageUtilization : undefined;
      if (u === undefined) continue;
      const request = allContainers(target).reduce((sum, c) => sum + cores(c.resources?.requests?.cpu ?? 0), 0);
      if (u < 50 || u > 85) fail(where, `HPA ${h.metadata.name}: a CPU target of ${u}% leaves no sensible headroom (50-85%)`);
      if (request * u / 100 < 0.25) {
        fail(where, `HPA ${h.metadata.name}: ${u}% of a ${request}-core request scales out below a quarter core`);
      }
    }
    if (h.spec.minReplicas < 2) fail(where, `HPA ${h.metadata.name}: minReplicas ${h.spec.minReplicas} leaves no pod through a disruption`);
  }
  for (const b of byKind("PodDisruptionBudget")) {
    const pods = podsOf(b.spec.selector?.matchLabels);
    if (pods.length === 0) {
      fail(where, `PodDisruptionBudget ${b.metadata.name} selects no Deployment's pods`);
    }
    // With an HPA, a fixed minAvailable does not grow with the count: at 10 replicas,
    // minAvailable: 1 lets a drain take nine.
    const scaled = hpas.some((h) => pods.some((d) => d.metadata.name === h.spec.scaleTargetRef.name));
    if (scaled && typeof b.spec.minAvailable === "number") {
      fail(where, `PodDisruptionBudget ${b.metadata.name}: a fixed minAvailable with an HPA; use maxUnavailable`);
    }
    if (scaled && b.spec.maxUnavailable !== undefined && typeof b.spec.maxUnavailable === "number") {
      const h = hpas.find((h) => pods.some((d) => d.metadata.name === h.spec.scaleTargetRef.name));
      if (b.spec.maxUnavailable >= h.spec.minReplicas) {
        fail(where, `PodDisruptionBudget ${b.metadata.name}: maxUnavailable ${b.spec.maxUnavailable} could take every pod at the HPA's minimum`);
      }
    }
  }
  for (const n of byKind("NetworkPolicy")) {
    const pods = podsOf(n.spec.podSelector?.matchLabels);
    if (pods.length === 0) fail(where, `NetworkPolicy ${n.metadata.name} selects no Deployment's pods`);
    for (const rule of n.spec.ingress ?? []) {
      for (const p of rule.ports ?? []) {
        const known = typeof p.port === "string" ? pods.some((d) => portNames(d).includes(p.port)) : pods.some((d) => portNumbers(d).includes(p.port));
        if (!known) fail(where, `NetworkPolicy ${n.metadata.name}: port ${p.port} is no container port of its pods`);
      }
      if (!(rule.from ?? []).length) fail(where, `NetworkPolicy ${n.metadata.name}: an ingress rule open to every peer`);
    }
    // Every port a Service sends to is let in by some rule, or the policy would cut traffic.
    for (const s of services.filter((s) => pods.some((d) => matches(s.spec.selector, d.spec.template.metadata.labels)))) {
      for (const sp of s.spec.ports) {
        const number = pods.flatMap(allContainers).flatMap((c) => c.ports ?? []).find((p) => p.name === sp.targetPort || p.containerPort === sp.targetPort)?.containerPort;
        const open = (n.spec.ingress ?? []).some((r) => (r.ports ?? []).some((p) => p.port === number || p.port === sp.targetPort));
        if (!open) fail(where, `NetworkPolicy ${n.metadata.name} lets nothing reach Service ${s.metadata.name}'s port ${sp.name}`);
      }
    }
  }
  if (deployments.length > 0 && byKind("NetworkPolicy").length === 0) {
    fail(where, "no NetworkPolicy: any pod of the cluster could reach the proxy and its admin port");
  }
  for (const i of byKind("Ingress")) {
    const tlsHosts = new Set((i.spec.tls ?? []).flatMap((t) => t.hosts ?? []));
    for (const r of i.spec.rules ?? []) {
      if (!tlsHosts.has(r.host)) fail(where, `Ingress ${i.metadata.name}: host ${r.host} has no TLS`);
      for (const path of r.http?.paths ?? []) {
        const b = path.backend.service;
        const svc = services.find((s) => s.metadata.name === b?.name);
        if (!svc) {
          fail(where, `Ingress ${i.metadata.name}: backend Service ${b?.name} is not in this overlay`);
        } else if (!svc.spec.ports.some((p) => p.name === b.port?.name || p.port === b.port?.number)) {
          fail(where, `Ingress ${i.metadata.name}: Service ${b.name} has no port ${b.port?.name ?? b.port?.number}`);
        }
      }
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
