// The policies of the Kubernetes manifests, asserted on rendered output:
//   node tests/k8s/policies.mjs NAME=RENDERED.yaml ...
//   node tests/k8s/policies.mjs --self-test NAME=RENDERED.yaml
// NAME selects the overlay's own expectations (see PROFILES). Each failure
// prints the render, the object and the rule; the exit status is 1 if any.
// --self-test breaks a copy of the render in known ways and requires each
// break to be caught by the rule it violates, so no rule passes vacuously.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { isIP } from "node:net";

const require = createRequire(new URL("../../tools/k8s-validate/package.json", import.meta.url));
const yaml = require("js-yaml");

const NS = "jobqueue";
const GRACE_MARGIN_SECONDS = 10;
const SECRET_NAME = "jobqueue-secret";
const SECRET_KEYS = new Set(["DATABASE_URL", "API_SECRET_KEY", "POSTGRES_PASSWORD"]);
const APP_UID = 10001;
const WORKER = "jobqueue-worker";

// Seed 004's behavior as the issue reads it (README: "at most 4 pods").
const EXPECTED_BEHAVIOR = {
  scaleUp: {
    stabilizationWindowSeconds: 0,
    selectPolicy: "Min",
    policies: [
      { type: "Percent", value: 100, periodSeconds: 15 },
      { type: "Pods", value: 4, periodSeconds: 15 },
    ],
  },
  scaleDown: {
    stabilizationWindowSeconds: 300,
    selectPolicy: "Max",
    policies: [{ type: "Percent", value: 10, periodSeconds: 60 }],
  },
};

// What each render must also be, beyond the common policies.
const PROFILES = {
  base: { apiMinReplicas: 2, postgres: "statefulset", autoscaler: "hpa" },
  dev: { apiMinReplicas: 1, postgres: "statefulset", autoscaler: "keda", pullNever: true, nodePort: true },
  prod: { apiMinReplicas: 3, postgres: "managed", autoscaler: "hpa", adapterRules: true, certManager: true, zoneSpread: true },
  "component-keda": { apiMinReplicas: 2, postgres: "statefulset", autoscaler: "keda" },
  "component-prometheus-adapter": { apiMinReplicas: 2, postgres: "statefulset", autoscaler: "hpa", adapterRules: true },
};

// ---------------------------------------------------------------- helpers

const id = (o) => `${o.kind}/${o.metadata?.namespace ? o.metadata.namespace + "/" : ""}${o.metadata?.name}`;
const labelsOf = (o) => o.metadata?.labels ?? {};
const WORKLOAD_KINDS = new Set(["Deployment", "StatefulSet", "Job", "DaemonSet", "ReplicaSet", "CronJob"]);
const LONG_RUNNING = new Set(["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"]);

function podTemplate(o) {
  if (o.kind === "CronJob") return o.spec?.jobTemplate?.spec?.template;
  return o.spec?.template;
}

function matchesSelector(selector, labels) {
  if (!selector) return false;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    switch (e.operator) {
      case "In": if (!has || !e.values.includes(labels[e.key])) return false; break;
      case "NotIn": if (has && e.values.includes(labels[e.key])) return false; break;
      case "Exists": if (!has) return false; break;
      case "DoesNotExist": if (has) return false; break;
      default: return false;
    }
  }
  return true;
}

// A Service's selector is a plain map.
const matchesMap = (map, labels) => Object.entries(map ?? {}).every(([k, v]) => labels[k] === v);

function parseQuantity(q) {
  if (q === undefined || q === null) return undefined;
  const s = String(q);
  const m = /^([0-9.]+)([a-zA-Z]*)$/.exec(s);
  if (!m) throw new Error(`bad quantity ${s}`);
  const n = Number(m[1]);
  const units = { "": 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4 };
  if (!(m[2] in units)) throw new Error(`bad quantity unit ${s}`);
  return n * units[m[2]];
}

function ipToBigInt(ip) {
  if (isIP(ip) === 4) return { v: 4, n: ip.split(".").reduce((a, p) => (a << 8n) + BigInt(Number(p)), 0n) };
  // IPv6: expand ::
  let [head, tail] = ip.split("::");
  const h = head ? head.split(":") : [];
  const t = tail !== undefined ? (tail ? tail.split(":") : []) : [];
  const groups = tail !== undefined ? [...h, ...Array(8 - h.length - t.length).fill("0"), ...t] : h;
  return { v: 6, n: groups.reduce((a, g) => (a << 16n) + BigInt(parseInt(g || "0", 16)), 0n) };
}

function inCidr(ip, cidr) {
  const [net, bitsText] = cidr.split("/");
  const a = ipToBigInt(ip);
  const b = ipToBigInt(net);
  if (a.v !== b.v) return false;
  const width = a.v === 4 ? 32n : 128n;
  const bits = BigInt(Number(bitsText));
  const shift = width - bits;
  return a.n >> shift === b.n >> shift;
}

// ---------------------------------------------------------------- checks

class Report {
  constructor(render) {
    this.render = render;
    this.failures = [];
  }
  fail(obj, rule, message) {
    this.failures.push({ render: this.render, obj: typeof obj === "string" ? obj : id(obj), rule, message });
  }
}

function containersOf(spec) {
  return [...(spec?.initContainers ?? []).map((c) => ({ c, init: true })), ...(spec?.containers ?? []).map((c) => ({ c, init: false }))];
}

// The environment a container sees: env values and envFrom ConfigMaps of the render.
function resolveEnv(container, byKindName) {
  const env = {};
  for (const from of container.envFrom ?? []) {
    if (from.configMapRef) {
      const cm = byKindName.get(`ConfigMap/${from.configMapRef.name}`);
      if (cm) Object.assign(env, cm.data ?? {});
    }
  }
  for (const e of container.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.configMapKeyRef) {
      const cm = byKindName.get(`ConfigMap/${e.valueFrom.configMapKeyRef.name}`);
      env[e.name] = cm?.data?.[e.valueFrom.configMapKeyRef.key];
    } else if (e.valueFrom) env[e.name] = { from: e.valueFrom };
  }
  return env;
}

function checkRender(name, docs) {
  const profile = PROFILES[name];
  const r = new Report(name);
  if (!profile) {
    r.fail(name, "profile", `no profile for render '${name}' (known: ${Object.keys(PROFILES).join(", ")})`);
    return r;
  }
  const byKindName = new Map(docs.map((o) => [`${o.kind}/${o.metadata?.name}`, o]));
  const all = (kind) => docs.filter((o) => o.kind === kind);
  const workloads = docs.filter((o) => WORKLOAD_KINDS.has(o.kind));
  const templates = workloads.map((w) => ({ w, t: podTemplate(w) }));

  // -- labels and namespace
  for (const o of docs) {
    const l = labelsOf(o);
    if (l["app.kubernetes.io/part-of"] !== "jobqueue") r.fail(o, "labels", "label app.kubernetes.io/part-of=jobqueue missing");
    if (!l["app.kubernetes.io/managed-by"]) r.fail(o, "labels", "label app.kubernetes.io/managed-by missing");
    const named = WORKLOAD_KINDS.has(o.kind) || ["Service", "ServiceAccount", "PodDisruptionBudget", "HorizontalPodAutoscaler", "ScaledObject"].includes(o.kind);
    if (named) {
      for (const k of ["app.kubernetes.io/name", "app.kubernetes.io/component"]) if (!l[k]) r.fail(o, "labels", `label ${k} missing`);
    }
    if (o.kind !== "Namespace" && o.metadata?.namespace !== NS) r.fail(o, "namespace", `namespace is ${o.metadata?.namespace}, not ${NS}`);
  }
  for (const { w, t } of templates) {
    const l = t?.metadata?.labels ?? {};
    for (const k of ["app.kubernetes.io/name", "app.kubernetes.io/component", "app.kubernetes.io/part-of"]) {
      if (!l[k]) r.fail(w, "labels", `pod template label ${k} missing`);
    }
  }
  if (!docs.some((o) => o.kind === "Namespace" && o.metadata.name === NS)) r.fail(`Namespace/${NS}`, "namespace", "the namespace is not rendered");

  // -- secrets: never rendered (the real one is created outside the kustomization)
  for (const s of all("Secret")) r.fail(s, "no-secret", "a Secret is rendered; jobqueue-secret must be created outside the kustomization (README), never committed");

  // -- pods
  const serviceAccounts = new Map(all("ServiceAccount").map((s) => [s.metadata.name, s]));
  const saUsers = new Map();
  for (const { w, t } of templates) {
    const spec = t?.spec ?? {};
    const psc = spec.securityContext ?? {};
    if (spec.automountServiceAccountToken !== false) r.fail(w, "service-account", "pod spec automountServiceAccountToken is not false");
    const sa = spec.serviceAccountName;
    if (!sa || sa === "default") r.fail(w, "service-account", "no serviceAccountName of its own");
    else {
      const so = serviceAccounts.get(sa);
      if (!so) r.fail(w, "service-account", `ServiceAccount ${sa} is not rendered`);
      else if (so.automountServiceAccountToken !== false) r.fail(so, "service-account", "automountServiceAccountToken is not false");
      if (saUsers.has(sa)) r.fail(w, "service-account", `shares ServiceAccount ${sa} with ${saUsers.get(sa)}`);
      saUsers.set(sa, id(w));
    }
    if (spec.enableServiceLinks !== false) r.fail(w, "service-links", "enableServiceLinks is not false (service variables like POSTGRES_PORT would land in the environment)");

    const volumes = new Map((spec.volumes ?? []).map((v) => [v.name, v]));
    const claimNames = new Set((w.spec?.volumeClaimTemplates ?? []).map((c) => c.metadata.name));
    const containers = containersOf(spec);
    if (!containers.length) r.fail(w, "containers", "no containers");
    for (const { c, init } of containers) {
      const where = `container ${c.name}`;
      const sc = c.securityContext ?? {};
      const eff = (k) => (sc[k] !== undefined ? sc[k] : psc[k]);
      if (eff("runAsNonRoot") !== true) r.fail(w, "runAsNonRoot", `${where}: runAsNonRoot is not true`);
      if (eff("runAsUser") === 0) r.fail(w, "runAsNonRoot", `${where}: runAsUser is 0`);
      if (sc.readOnlyRootFilesystem !== true) r.fail(w, "readOnlyRootFilesystem", `${where}: readOnlyRootFilesystem is not true`);
      if (sc.allowPrivilegeEscalation !== false) r.fail(w, "allowPrivilegeEscalation", `${where}: allowPrivilegeEscalation is not false`);
      if (sc.privileged === true) r.fail(w, "privileged", `${where}: privileged`);
      if (!(sc.capabilities?.drop ?? []).includes("ALL")) r.fail(w, "capabilities", `${where}: capabilities do not drop ALL`);
      if ((sc.capabilities?.add ?? []).length) r.fail(w, "capabilities", `${where}: adds capabilities ${sc.capabilities.add}`);
      if ((sc.seccompProfile ?? psc.seccompProfile)?.type !== "RuntimeDefault") r.fail(w, "seccomp", `${where}: seccompProfile is not RuntimeDefault`);
      for (const kind of ["requests", "limits"]) {
        for (const res of ["cpu", "memory"]) {
          if (c.resources?.[kind]?.[res] === undefined) r.fail(w, "resources", `${where}: resources.${kind}.${res} missing`);
        }
      }
      const image = String(c.image ?? "");
      const ours = /(^|\/)jobqueue-(api|worker)(:|@|$)/.test(image);
      if (ours) {
        if (eff("runAsUser") !== APP_UID || eff("runAsGroup") !== APP_UID) r.fail(w, "uid", `${where}: jobqueue images run as ${APP_UID}:${APP_UID}`);
        if (!/:[^/]+$/.test(image)) r.fail(w, "image", `${where}: image ${image} has no tag`);
        if (profile.pullNever && c.imagePullPolicy !== "Never") r.fail(w, "dev-images", `${where}: locally built images need imagePullPolicy Never in dev`);
      } else if (/:latest$/.test(image) || !/:[^/]+$/.test(image)) {
        r.fail(w, "image", `${where}: third-party image ${image} is not pinned to a tag`);
      }
      const ports = c.ports ?? [];
      if (LONG_RUNNING.has(w.kind) && !init) {
        for (const p of ["livenessProbe", "readinessProbe"]) if (!c[p]) r.fail(w, "probes", `${where}: no ${p}`);
      }
      for (const p of ["livenessProbe", "readinessProbe", "startupProbe"]) {
        const probe = c[p];
        if (!probe) continue;
        const port = probe.httpGet?.port ?? probe.tcpSocket?.port ?? probe.grpc?.port;
        if (port === undefined) continue;
        const declared = ports.some((d) => d.name === port || d.containerPort === port);
        if (!declared) r.fail(w, "probe-port", `${where}: ${p} uses port ${port}, which the container does not declare`);
      }
      // /tmp is an emptyDir in every pod (the images have a read-only root).
      const tmp = (c.volumeMounts ?? []).find((m) => m.mountPath === "/tmp");
      if (!tmp) r.fail(w, "tmp", `${where}: /tmp is not mounted`);
      else if (!volumes.get(tmp.name)?.emptyDir) r.fail(w, "tmp", `${where}: /tmp is not an emptyDir`);
      for (const m of c.volumeMounts ?? []) {
        if (!volumes.has(m.name) && !claimNames.has(m.name)) r.fail(w, "volumes", `${where}: mounts undeclared volume ${m.name}`);
      }
      for (const e of c.env ?? []) {
        const ref = e.valueFrom?.secretKeyRef;
        if (ref && (ref.name !== SECRET_NAME || !SECRET_KEYS.has(ref.key))) r.fail(w, "secret-refs", `${where}: env ${e.name} reads ${ref.name}/${ref.key}, not a key of ${SECRET_NAME}`);
        const cref = e.valueFrom?.configMapKeyRef;
        if (cref && !byKindName.has(`ConfigMap/${cref.name}`)) r.fail(w, "configmap-refs", `${where}: env ${e.name} reads missing ConfigMap ${cref.name}`);
      }
      for (const f of c.envFrom ?? []) {
        if (f.configMapRef && !byKindName.has(`ConfigMap/${f.configMapRef.name}`)) r.fail(w, "configmap-refs", `${where}: envFrom missing ConfigMap ${f.configMapRef.name}`);
        if (f.secretRef) r.fail(w, "secret-refs", `${where}: envFrom a whole Secret; name the keys instead`);
      }
    }
  }

  // -- the components and their commands
  const api = byKindName.get("Deployment/jobqueue-api");
  const worker = byKindName.get(`Deployment/${WORKER}`);
  const reaper = byKindName.get("Deployment/jobqueue-reaper");
  const migrate = byKindName.get("Job/jobqueue-migrate");
  for (const [key, o] of [["Deployment/jobqueue-api", api], [`Deployment/${WORKER}`, worker], ["Deployment/jobqueue-reaper", reaper], ["Job/jobqueue-migrate", migrate]]) {
    if (!o) r.fail(key, "components", "not rendered");
  }
  const mainContainer = (o) => podTemplate(o)?.spec?.containers?.[0];
  if (api && (api.spec.replicas ?? 1) < profile.apiMinReplicas) r.fail(api, "replicas", `replicas ${api.spec.replicas ?? 1} < ${profile.apiMinReplicas}`);
  if (reaper && JSON.stringify(mainContainer(reaper)?.command) !== JSON.stringify(["jobqueue-reaper"])) r.fail(reaper, "commands", "command is not [jobqueue-reaper]");
  if (migrate && JSON.stringify(mainContainer(migrate)?.command) !== JSON.stringify(["jobqueue", "migrate"])) r.fail(migrate, "commands", "command is not [jobqueue, migrate]");
  for (const [o, re] of [[api, /jobqueue-api(:|$)/], [worker, /jobqueue-worker(:|$)/], [reaper, /jobqueue-worker(:|$)/], [migrate, /jobqueue-worker(:|$)/]]) {
    if (o && !re.test(mainContainer(o)?.image ?? "")) r.fail(o, "image", `image ${mainContainer(o)?.image} is not ${re}`);
  }

  // -- configuration that must agree with the manifests
  const workerEnv = worker ? resolveEnv(mainContainer(worker), byKindName) : {};
  const num = (env, k, o) => {
    const v = env[k];
    if (v === undefined || typeof v === "object" || Number.isNaN(Number(v))) {
      r.fail(o, "config", `${k} is not set to a number in the rendered environment`);
      return undefined;
    }
    return Number(v);
  };
  if (worker) {
    const grace = num(workerEnv, "WORKER_SHUTDOWN_GRACE_SECONDS", worker);
    const lease = num(workerEnv, "WORKER_LEASE_DURATION_SECONDS", worker);
    const heartbeat = num(workerEnv, "WORKER_HEARTBEAT_SECONDS", worker);
    const tgps = podTemplate(worker).spec.terminationGracePeriodSeconds ?? 30;
    if (grace !== undefined && tgps < grace + GRACE_MARGIN_SECONDS) {
      r.fail(worker, "grace-period", `terminationGracePeriodSeconds ${tgps} < WORKER_SHUTDOWN_GRACE_SECONDS ${grace} + ${GRACE_MARGIN_SECONDS}`);
    }
    if (grace !== undefined && lease !== undefined && grace >= lease) r.fail(worker, "grace-period", `WORKER_SHUTDOWN_GRACE_SECONDS ${grace} >= WORKER_LEASE_DURATION_SECONDS ${lease}`);
    if (heartbeat !== undefined && lease !== undefined && heartbeat * 2 > lease) r.fail(worker, "grace-period", `WORKER_HEARTBEAT_SECONDS ${heartbeat} is more than half the lease ${lease}: one late heartbeat loses it`);
    const port = num(workerEnv, "WORKER_METRICS_PORT", worker);
    if (port !== undefined && !mainContainer(worker).ports?.some((p) => p.name === "metrics" && p.containerPort === port)) r.fail(worker, "ports", `port metrics is not WORKER_METRICS_PORT ${port}`);
  }
  if (api) {
    const port = num(resolveEnv(mainContainer(api), byKindName), "API_PORT", api);
    if (port !== undefined && !mainContainer(api).ports?.some((p) => p.name === "http" && p.containerPort === port)) r.fail(api, "ports", `port http is not API_PORT ${port}`);
  }
  if (reaper) {
    const port = num(resolveEnv(mainContainer(reaper), byKindName), "REAPER_METRICS_PORT", reaper);
    if (port !== undefined && !mainContainer(reaper).ports?.some((p) => p.name === "metrics" && p.containerPort === port)) r.fail(reaper, "ports", `port metrics is not REAPER_METRICS_PORT ${port}`);
  }
  const workerQueues = typeof workerEnv.WORKER_QUEUES === "string" ? workerEnv.WORKER_QUEUES.split(",").map((s) => s.trim()).filter(Boolean).sort() : ["default"];

  // -- Services, Ingress, monitors, PDBs, StatefulSet governing Services
  const podTemplates = templates.filter(({ t }) => t);
  const declaresPort = (t, port) => containersOf(t.spec).some(({ c }) => (c.ports ?? []).some((p) => p.name === port || p.containerPort === port));
  for (const s of all("Service")) {
    const sel = s.spec?.selector;
    if (!sel || !Object.keys(sel).length) { r.fail(s, "service-selector", "no selector"); continue; }
    const matched = podTemplates.filter(({ t }) => matchesMap(sel, t.metadata?.labels ?? {}));
    if (!matched.length) { r.fail(s, "service-selector", `selector ${JSON.stringify(sel)} matches no pod template`); continue; }
    for (const p of s.spec.ports ?? []) {
      const target = p.targetPort ?? p.port;
      for (const { w, t } of matched) if (!declaresPort(t, target)) r.fail(s, "service-port", `port ${p.name ?? p.port} targets ${target}, which ${id(w)} does not declare`);
    }
  }
  for (const ing of all("Ingress")) {
    const backends = [];
    for (const rule of ing.spec?.rules ?? []) for (const p of rule.http?.paths ?? []) backends.push(p.backend?.service);
    if (ing.spec?.defaultBackend?.service) backends.push(ing.spec.defaultBackend.service);
    for (const b of backends) {
      const svc = byKindName.get(`Service/${b?.name}`);
      if (!svc) { r.fail(ing, "ingress", `backend Service ${b?.name} not rendered`); continue; }
      if (!svc.spec.ports.some((p) => p.name === b.port?.name || p.port === b.port?.number)) r.fail(ing, "ingress", `backend port ${JSON.stringify(b.port)} not a port of ${b.name}`);
    }
    if (!(ing.spec?.tls ?? []).length) r.fail(ing, "ingress-tls", "no TLS");
  }
  for (const m of all("ServiceMonitor")) {
    const svcs = all("Service").filter((s) => matchesSelector(m.spec.selector, labelsOf(s)));
    if (!svcs.length) r.fail(m, "monitor-selector", "selects no Service");
    for (const e of m.spec.endpoints ?? []) for (const s of svcs) if (!s.spec.ports.some((p) => p.name === e.port)) r.fail(m, "monitor-port", `port ${e.port} is not a port of ${id(s)}`);
  }
  for (const m of all("PodMonitor")) {
    const ts = podTemplates.filter(({ t }) => matchesSelector(m.spec.selector, t.metadata?.labels ?? {}));
    if (!ts.length) r.fail(m, "monitor-selector", "selects no pod template");
    for (const e of m.spec.podMetricsEndpoints ?? []) for (const { w, t } of ts) if (!declaresPort(t, e.port)) r.fail(m, "monitor-port", `port ${e.port} is not declared by ${id(w)}`);
  }
  for (const p of all("PodDisruptionBudget")) {
    if (!podTemplates.some(({ t }) => matchesSelector(p.spec.selector, t.metadata?.labels ?? {}))) r.fail(p, "pdb", "selects no pod template");
  }
  for (const d of [...all("Deployment"), ...all("StatefulSet")]) {
    if (!all("PodDisruptionBudget").some((p) => matchesSelector(p.spec.selector, podTemplate(d).metadata?.labels ?? {})) && d.metadata.name !== "postgres") {
      r.fail(d, "pdb", "no PodDisruptionBudget covers it");
    }
  }
  for (const s of all("StatefulSet")) {
    const gov = byKindName.get(`Service/${s.spec.serviceName}`);
    if (!gov || gov.spec.clusterIP !== "None") r.fail(s, "statefulset", `serviceName ${s.spec.serviceName} is not a rendered headless Service`);
  }

  // -- autoscaling
  const hpas = all("HorizontalPodAutoscaler");
  const scaledObjects = all("ScaledObject");
  const targeting = [...hpas, ...scaledObjects].filter((a) => a.spec?.scaleTargetRef?.kind === "Deployment" && a.spec.scaleTargetRef.name === WORKER);
  if (targeting.length !== 1) r.fail(`Deployment/${WORKER}`, "one-autoscaler", `${targeting.length} autoscalers target it (${targeting.map(id).join(", ") || "none"}); exactly one may`);
  for (const a of [...hpas, ...scaledObjects]) {
    const ref = a.spec?.scaleTargetRef ?? {};
    if ((ref.kind ?? "Deployment") !== "Deployment" || ref.name !== WORKER) r.fail(a, "autoscaler-target", `targets ${ref.kind}/${ref.name}, not Deployment/${WORKER}`);
    if (ref.apiVersion && ref.apiVersion !== "apps/v1") r.fail(a, "autoscaler-target", `scaleTargetRef.apiVersion ${ref.apiVersion}`);
  }
  if (profile.autoscaler === "keda" && !scaledObjects.length) r.fail(`ScaledObject/${WORKER}`, "autoscaler-kind", "this render scales with KEDA but has no ScaledObject");
  if (profile.autoscaler === "hpa" && (!hpas.length || scaledObjects.length)) r.fail(`HorizontalPodAutoscaler/${WORKER}`, "autoscaler-kind", "this render scales with the HPA alone");
  if (worker && worker.spec.replicas !== undefined) r.fail(worker, "autoscaler-owns-replicas", "spec.replicas is set; the autoscaler owns it and every apply would reset it");
  const canon = (v) => (Array.isArray(v) ? v.map(canon) : v && typeof v === "object" ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon(v[k])])) : v);
  const same = (a, b) => JSON.stringify(canon(a)) === JSON.stringify(canon(b));
  for (const h of hpas) {
    if (h.apiVersion !== "autoscaling/v2") r.fail(h, "hpa", `apiVersion ${h.apiVersion}`);
    if (!same(h.spec.behavior, EXPECTED_BEHAVIOR)) r.fail(h, "hpa-behavior", `behavior ${JSON.stringify(h.spec.behavior)} is not seed 004's ${JSON.stringify(EXPECTED_BEHAVIOR)}`);
    if (!(h.spec.minReplicas >= 1 && h.spec.minReplicas <= h.spec.maxReplicas)) r.fail(h, "hpa", `replicas ${h.spec.minReplicas}..${h.spec.maxReplicas}`);
    const m = h.spec.metrics ?? [];
    const depth = m.find((x) => x.type === "External" && x.external?.metric?.name === "job_queue_depth");
    if (m.length !== 1 || !depth) r.fail(h, "hpa-metric", "the one metric must be External job_queue_depth");
    else {
      if (depth.external.target?.type !== "AverageValue") r.fail(h, "hpa-metric", `target type ${depth.external.target?.type}, not AverageValue`);
      const exprs = depth.external.metric.selector?.matchExpressions ?? [];
      const q = exprs.find((e) => e.key === "queue" && e.operator === "In");
      if (!q || !same([...q.values].sort(), workerQueues)) r.fail(h, "hpa-metric", `queue selector ${JSON.stringify(q?.values)} is not WORKER_QUEUES ${JSON.stringify(workerQueues)}`);
    }
  }
  for (const so of scaledObjects) {
    const behavior = so.spec.advanced?.horizontalPodAutoscalerConfig?.behavior;
    if (!same(behavior, EXPECTED_BEHAVIOR)) r.fail(so, "hpa-behavior", `behavior ${JSON.stringify(behavior)} is not seed 004's`);
    if (!(so.spec.minReplicaCount >= 0 && so.spec.minReplicaCount <= so.spec.maxReplicaCount)) r.fail(so, "keda", `replicas ${so.spec.minReplicaCount}..${so.spec.maxReplicaCount}`);
    const triggers = so.spec.triggers ?? [];
    if (triggers.length !== 1 || triggers[0].type !== "postgresql") { r.fail(so, "keda", "exactly one postgresql trigger expected"); continue; }
    const t = triggers[0];
    const query = t.metadata?.query ?? "";
    if (!/^\s*SELECT\s+jobqueue\.scaling_depth\(/i.test(query) || /\bFROM\b/i.test(query)) r.fail(so, "keda-query", `query ${JSON.stringify(query)} must call jobqueue.scaling_depth(...), not read tables`);
    const arr = /ARRAY\[([^\]]*)\]/i.exec(query);
    const queues = arr ? [...arr[1].matchAll(/'([^']*)'/g)].map((m) => m[1]).sort() : null;
    if (!queues || !same(queues, workerQueues)) r.fail(so, "keda-query", `query queues ${JSON.stringify(queues)} are not WORKER_QUEUES ${JSON.stringify(workerQueues)}`);
    if (t.metricType !== "AverageValue") r.fail(so, "keda", `metricType ${t.metricType}, not AverageValue`);
    if (!(Number(t.metadata?.targetQueryValue) > 0)) r.fail(so, "keda", "targetQueryValue missing");
    if (t.metadata?.activationTargetQueryValue === undefined) r.fail(so, "keda", "activationTargetQueryValue missing");
    if (t.metadata?.connectionFromEnv || t.metadata?.connection || t.metadata?.password) r.fail(so, "keda", "credentials in trigger metadata; use the TriggerAuthentication");
    const ta = byKindName.get(`TriggerAuthentication/${t.authenticationRef?.name}`);
    if (!ta) r.fail(so, "keda-auth", `TriggerAuthentication ${t.authenticationRef?.name} not rendered`);
    else if (!(ta.spec.secretTargetRef ?? []).some((s) => s.parameter === "connection" && s.name === SECRET_NAME && s.key === "DATABASE_URL")) {
      r.fail(ta, "keda-auth", `does not read ${SECRET_NAME}/DATABASE_URL as the connection`);
    }
  }
  if (profile.adapterRules) {
    const cm = all("ConfigMap").find((c) => c.data?.["adapter-rules.yaml"]);
    if (!cm) r.fail("ConfigMap/jobqueue-prometheus-adapter-rules", "adapter-rules", "not rendered");
    else {
      const rules = yaml.load(cm.data["adapter-rules.yaml"])?.externalRules ?? [];
      const hpaName = hpas[0]?.spec.metrics?.[0]?.external?.metric?.name;
      const rule = rules.find((x) => /\bjob_queue_depth\b/.test(x.seriesQuery ?? "") && (x.name?.as ?? "job_queue_depth") === hpaName);
      if (!rule) r.fail(cm, "adapter-rules", `no external rule serving ${hpaName} from job_queue_depth`);
      else {
        const q = rule.metricsQuery ?? "";
        if (!/^\s*max\s+by\s*\(\s*queue\s*\)/.test(q) || /\bsum\b/.test(q)) r.fail(cm, "adapter-rules", `metricsQuery ${JSON.stringify(q)} must take max by (queue) across API replicas, not sum`);
        if (!q.includes("<<.LabelMatchers>>")) r.fail(cm, "adapter-rules", "metricsQuery ignores the HPA's selector (<<.LabelMatchers>>)");
        if (rule.resources?.overrides?.namespace?.resource !== "namespace") r.fail(cm, "adapter-rules", "the namespace label is not mapped: the metric would mix namespaces");
      }
    }
    if (!all("ServiceMonitor").some((m) => all("Service").some((s) => s.metadata.name === "jobqueue-api" && matchesSelector(m.spec.selector, labelsOf(s))))) {
      r.fail("ServiceMonitor/jobqueue-api", "adapter-rules", "no ServiceMonitor scrapes the API, where job_queue_depth is exported");
    }
  }

  // -- overlay specifics
  const postgres = byKindName.get("StatefulSet/postgres");
  if (profile.postgres === "statefulset") {
    if (!postgres) r.fail("StatefulSet/postgres", "postgres", "not rendered");
    else {
      const c = mainContainer(postgres);
      for (const p of ["livenessProbe", "readinessProbe"]) if (!c[p]?.exec?.command?.includes("pg_isready")) r.fail(postgres, "postgres", `${p} is not pg_isready`);
      if (!(postgres.spec.volumeClaimTemplates ?? []).length) r.fail(postgres, "postgres", "no PVC");
    }
  } else if (postgres || byKindName.get("Service/postgres")) r.fail(postgres ?? "Service/postgres", "postgres", "prod uses a managed PostgreSQL; no in-cluster database");
  if (profile.nodePort) {
    const svc = byKindName.get("Service/jobqueue-api");
    if (svc?.spec.type !== "NodePort") r.fail("Service/jobqueue-api", "dev", "not a NodePort");
  }
  if (profile.certManager) {
    for (const ing of all("Ingress")) {
      const issuer = ing.metadata.annotations?.["cert-manager.io/issuer"];
      const cluster = ing.metadata.annotations?.["cert-manager.io/cluster-issuer"];
      if (!issuer && !cluster) r.fail(ing, "prod", "no cert-manager issuer annotation");
      if (issuer && !byKindName.get(`Issuer/${issuer}`)) r.fail(ing, "prod", `Issuer ${issuer} not rendered`);
    }
  }
  if (profile.zoneSpread) {
    for (const d of [api, worker]) {
      if (d && !(podTemplate(d).spec.topologySpreadConstraints ?? []).some((t) => t.topologyKey === "topology.kubernetes.io/zone")) r.fail(d, "prod", "not spread across zones");
    }
  }

  checkNetwork(r, docs, profile, { api, worker, reaper, migrate, postgres });
  checkQuota(r, docs, { worker, targeting });
  return r;
}

// ---------------------------------------------------------------- NetworkPolicy evaluation

// Follows the NetworkPolicy API's semantics: a pod selected by no policy of a
// direction is open in that direction; once selected, only the union of the
// selecting policies' rules admits traffic; a flow needs both the source's
// egress and the destination's ingress. Pods get addresses in 10.244.0.0/16.
function checkNetwork(r, docs, profile, w) {
  const policies = docs.filter((o) => o.kind === "NetworkPolicy");
  const nsObj = docs.find((o) => o.kind === "Namespace" && o.metadata.name === NS);
  const nsLabels = { ...(nsObj?.metadata?.labels ?? {}), "kubernetes.io/metadata.name": NS };
  let nextIp = 10;
  const podOf = (o) => {
    const t = podTemplate(o);
    return { name: id(o), ns: NS, nsLabels, labels: t.metadata?.labels ?? {}, ip: `10.244.1.${nextIp++}`, ports: containersOf(t.spec).flatMap(({ c }) => c.ports ?? []) };
  };
  const other = (name, ns, labels, ip) => ({ name, ns, nsLabels: { "kubernetes.io/metadata.name": ns }, labels, ip, ports: [] });
  const ext = (name, ip) => ({ name, ip, ports: [] });

  const api = w.api && podOf(w.api);
  const worker = w.worker && podOf(w.worker);
  const reaper = w.reaper && podOf(w.reaper);
  const migrate = w.migrate && podOf(w.migrate);
  const pg = w.postgres && podOf(w.postgres);
  const dns = other("kube-dns", "kube-system", { "k8s-app": "kube-dns" }, "10.244.0.10");
  const prometheus = other("prometheus", "monitoring", { "app.kubernetes.io/name": "prometheus" }, "10.244.2.5");
  const ingressController = other("ingress-nginx", "ingress-nginx", { "app.kubernetes.io/name": "ingress-nginx" }, "10.244.3.5");
  const keda = other("keda-operator", "keda", { "app.kubernetes.io/name": "keda-operator" }, "10.244.4.5");
  const stranger = other("a pod of another namespace", "default", { app: "stranger" }, "10.244.5.5");
  const outside = ext("a client outside the cluster", "203.0.113.7");
  const internet = ext("a public web server", "93.184.216.34");
  const internet6 = ext("a public web server (IPv6)", "2606:2800:21f:cb07:6820:80da:af6b:8b2c");
  const privates = ["10.1.2.3", "172.16.0.1", "192.168.1.10", "169.254.169.254", "100.64.0.1", "127.0.0.1", "fd00::1", "fe80::1"].map((ip) => ext(`private ${ip}`, ip));
  // prod: the managed database, somewhere in the egress rule's first CIDR.
  let managedDb = null;
  if (profile.postgres === "managed") {
    const egress = policies.find((p) => p.metadata.name === "postgres-clients-egress");
    const cidr = egress?.spec?.egress?.[0]?.to?.[0]?.ipBlock?.cidr;
    if (!cidr) r.fail("NetworkPolicy/postgres-clients-egress", "network", "prod: no ipBlock for the managed database");
    else managedDb = ext(`the managed database in ${cidr}`, cidr.replace(/\.0\/\d+$/, ".5"));
  }
  const db = pg ?? managedDb;

  const selects = (p, pod) => pod.ns === (p.metadata.namespace ?? NS) && matchesSelector(p.spec.podSelector ?? {}, pod.labels);
  const types = (p) => p.spec.policyTypes ?? (p.spec.egress ? ["Ingress", "Egress"] : ["Ingress"]);
  const portMatches = (rulePorts, dst, port, proto) => {
    if (!rulePorts || rulePorts.length === 0) return true;
    return rulePorts.some((rp) => {
      if ((rp.protocol ?? "TCP") !== proto) return false;
      if (rp.port === undefined) return true;
      if (typeof rp.port === "string") return dst.ports.some((cp) => cp.name === rp.port && cp.containerPort === port && (cp.protocol ?? "TCP") === proto);
      return rp.endPort ? port >= rp.port && port <= rp.endPort : port === rp.port;
    });
  };
  const peerMatches = (peer, policyNs, ep) => {
    if (peer.ipBlock) {
      if (!ep.ip || !inCidr(ep.ip, peer.ipBlock.cidr)) return false;
      return !(peer.ipBlock.except ?? []).some((c) => inCidr(ep.ip, c));
    }
    if (!ep.ns) return false; // selectors match pods only
    if (peer.namespaceSelector) {
      if (!matchesSelector(peer.namespaceSelector, ep.nsLabels)) return false;
    } else if (ep.ns !== policyNs) return false;
    return peer.podSelector ? matchesSelector(peer.podSelector, ep.labels) : true;
  };
  const side = (pod, direction, peerEp, dst, port, proto) => {
    if (!pod.ns || pod.ns !== NS) return true; // not ours: its own policies are not ours to judge
    const applying = policies.filter((p) => selects(p, pod) && types(p).includes(direction));
    if (!applying.length) return true;
    return applying.some((p) => ((direction === "Ingress" ? p.spec.ingress : p.spec.egress) ?? []).some((rule) => {
      const peers = direction === "Ingress" ? rule.from : rule.to;
      const okPeer = !peers || peers.length === 0 || peers.some((peer) => peerMatches(peer, p.metadata.namespace ?? NS, peerEp));
      return okPeer && portMatches(rule.ports, dst, port, proto);
    }));
  };
  const allowed = (src, dst, port, proto = "TCP") => side(src, "Egress", dst, dst, port, proto) && side(dst, "Ingress", src, dst, port, proto);
  const expect = (want, src, dst, port, proto = "TCP") => {
    if (!src || !dst) return;
    const got = allowed(src, dst, port, proto);
    if (process.env.K8S_POLICY_VERBOSE) console.log(`  [${r.render}] ${got ? "allow" : "deny "} ${src.name} -> ${dst.name}:${port}/${proto}`);
    if (got !== want) r.fail(`NetworkPolicy/*`, "network", `${src.name} -> ${dst.name}:${port}/${proto} is ${got ? "allowed" : "denied"}; it must be ${want ? "allowed" : "denied"}`);
  };

  // Default deny, both directions, for every pod.
  if (!policies.some((p) => Object.keys(p.spec.podSelector ?? {}).length === 0 && types(p).includes("Ingress") && types(p).includes("Egress") && !(p.spec.ingress ?? []).length && !(p.spec.egress ?? []).length)) {
    r.fail("NetworkPolicy/default-deny", "network", "no default-deny policy for every pod in both directions");
  }
  const apiPort = api?.ports.find((p) => p.name === "http")?.containerPort;
  const workerPort = worker?.ports.find((p) => p.name === "metrics")?.containerPort;
  const reaperPort = reaper?.ports.find((p) => p.name === "metrics")?.containerPort;

  // What the system needs.
  expect(true, outside, api, apiPort);
  expect(true, ingressController, api, apiPort);
  for (const c of [api, worker, reaper, migrate]) expect(true, c, db, 5432);
  expect(true, prometheus, api, apiPort);
  expect(true, prometheus, worker, workerPort);
  expect(true, prometheus, reaper, reaperPort);
  for (const p of [api, worker, reaper, migrate, pg]) {
    expect(true, p, dns, 53, "UDP");
    expect(true, p, dns, 53, "TCP");
  }
  expect(true, worker, internet, 443);
  expect(true, worker, internet, 80);
  expect(true, worker, internet6, 443);
  if (pg) expect(docs.some((o) => o.kind === "ScaledObject"), keda, pg, 5432);

  // And nothing else.
  for (const src of [outside, stranger, ingressController, prometheus]) {
    expect(false, src, pg, 5432);
  }
  expect(false, outside, worker, workerPort);
  expect(false, outside, reaper, reaperPort);
  expect(false, stranger, worker, workerPort);
  expect(false, api, worker, workerPort);
  expect(false, worker, api, apiPort);
  expect(false, worker, db, 5433);
  for (const src of [api, reaper, migrate, pg]) {
    expect(false, src, internet, 443);
    expect(false, src, internet, 80);
  }
  expect(false, worker, internet, 22);
  expect(false, worker, internet, 5432);
  for (const p of privates) {
    expect(false, worker, p, 443);
    expect(false, worker, p, 80);
  }
  if (managedDb) expect(false, worker, managedDb, 443);
  expect(false, worker, stranger, 80);
  expect(false, api, dns, 5353, "UDP");
  expect(false, pg, internet, 5432);
}

// ---------------------------------------------------------------- quota

// The largest the render can grow to (autoscaler maximum, rolling-update
// surge) must fit the ResourceQuota, and every container the LimitRange.
function checkQuota(r, docs, { targeting }) {
  const quota = docs.find((o) => o.kind === "ResourceQuota");
  if (!quota) { r.fail("ResourceQuota/*", "quota", "no ResourceQuota"); return; }
  if (!docs.some((o) => o.kind === "LimitRange")) r.fail("LimitRange/*", "quota", "no LimitRange");
  const hard = quota.spec.hard ?? {};
  const total = { pods: 0, "requests.cpu": 0, "requests.memory": 0, "limits.cpu": 0, "limits.memory": 0, "requests.storage": 0, persistentvolumeclaims: 0, "services.nodeports": 0 };
  const maxFor = (d) => {
    const a = targeting.find((x) => x.spec.scaleTargetRef.name === d.metadata.name);
    if (a) return a.spec.maxReplicas ?? a.spec.maxReplicaCount;
    return d.spec.replicas ?? 1;
  };
  const surge = (d, n) => {
    if (d.kind !== "Deployment") return 0;
    const s = d.spec.strategy?.rollingUpdate?.maxSurge ?? "25%";
    return typeof s === "string" && s.endsWith("%") ? Math.ceil((n * Number(s.slice(0, -1))) / 100) : Number(s);
  };
  const limitMax = docs.find((o) => o.kind === "LimitRange")?.spec.limits.find((l) => l.type === "Container")?.max ?? {};
  for (const w of docs.filter((o) => WORKLOAD_KINDS.has(o.kind))) {
    const n = w.kind === "Job" ? (w.spec.parallelism ?? 1) : maxFor(w);
    const pods = n + surge(w, n);
    total.pods += pods;
    for (const { c } of containersOf(podTemplate(w).spec)) {
      for (const k of ["requests", "limits"]) for (const res of ["cpu", "memory"]) total[`${k}.${res}`] += pods * (parseQuantity(c.resources?.[k]?.[res]) ?? 0);
      for (const res of ["cpu", "memory"]) {
        if (limitMax[res] && parseQuantity(c.resources?.limits?.[res]) > parseQuantity(limitMax[res])) r.fail(w, "limitrange", `container ${c.name}: limits.${res} ${c.resources.limits[res]} above the LimitRange max ${limitMax[res]}`);
      }
    }
    for (const claim of w.spec.volumeClaimTemplates ?? []) {
      total["requests.storage"] += n * parseQuantity(claim.spec.resources.requests.storage);
      total.persistentvolumeclaims += n;
    }
  }
  total["services.nodeports"] = docs.filter((o) => o.kind === "Service" && o.spec.type === "NodePort").reduce((a, s) => a + s.spec.ports.length, 0);
  if (process.env.K8S_POLICY_VERBOSE) console.log(`  [${r.render}] at full scale: ${JSON.stringify(total)} quota: ${JSON.stringify(hard)}`);
  for (const [k, used] of Object.entries(total)) {
    if (hard[k] === undefined) { if (["pods", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory"].includes(k)) r.fail(quota, "quota", `no hard limit on ${k}`); continue; }
    const cap = parseQuantity(hard[k]);
    if (used > cap + 1e-9) r.fail(quota, "quota", `${k}: the render at full scale needs ${+used.toFixed(3)}, the quota allows ${hard[k]} (pods would stay Pending)`);
  }
}

// ---------------------------------------------------------------- self test

// Each break must be reported under its rule: proof that the rules bite.
const BREAKS = [
  ["probes", "worker without readinessProbe", (d) => { delete find(d, "Deployment", WORKER).spec.template.spec.containers[0].readinessProbe; }],
  ["probe-port", "probe on an undeclared port", (d) => { find(d, "Deployment", WORKER).spec.template.spec.containers[0].livenessProbe.httpGet.port = "metricz"; }],
  ["readOnlyRootFilesystem", "writable root", (d) => { find(d, "Deployment", "jobqueue-api").spec.template.spec.containers[0].securityContext.readOnlyRootFilesystem = false; }],
  ["runAsNonRoot", "root user", (d) => { const c = find(d, "Deployment", "jobqueue-reaper").spec.template.spec.containers[0]; c.securityContext.runAsNonRoot = false; }],
  ["allowPrivilegeEscalation", "privilege escalation", (d) => { find(d, "Job", "jobqueue-migrate").spec.template.spec.containers[0].securityContext.allowPrivilegeEscalation = true; }],
  ["capabilities", "capabilities kept", (d) => { find(d, "Deployment", WORKER).spec.template.spec.containers[0].securityContext.capabilities = {}; }],
  ["seccomp", "no seccomp profile", (d) => { const t = find(d, "Deployment", WORKER).spec.template.spec; delete t.securityContext.seccompProfile; delete t.containers[0].securityContext.seccompProfile; }],
  ["resources", "no limits", (d) => { delete find(d, "Deployment", "jobqueue-api").spec.template.spec.containers[0].resources.limits; }],
  ["service-account", "token mounted", (d) => { find(d, "Deployment", "jobqueue-api").spec.template.spec.automountServiceAccountToken = true; }],
  ["service-account", "shared ServiceAccount", (d) => { find(d, "Deployment", "jobqueue-reaper").spec.template.spec.serviceAccountName = "jobqueue-worker"; }],
  ["labels", "label missing", (d) => { delete find(d, "Deployment", WORKER).metadata.labels["app.kubernetes.io/part-of"]; }],
  ["tmp", "/tmp not an emptyDir", (d) => { const s = find(d, "Deployment", WORKER).spec.template.spec; s.containers[0].volumeMounts = s.containers[0].volumeMounts.filter((m) => m.mountPath !== "/tmp"); }],
  ["no-secret", "Secret with data", (d) => { d.push({ apiVersion: "v1", kind: "Secret", metadata: { name: SECRET_NAME, namespace: NS, labels: { "app.kubernetes.io/part-of": "jobqueue", "app.kubernetes.io/managed-by": "x" } }, stringData: { DATABASE_URL: "postgresql://u:real@db/x" } }); }],
  ["service-selector", "Service selecting nothing", (d) => { find(d, "Service", "jobqueue-api").spec.selector = { "app.kubernetes.io/name": "jobqueue-apj" }; }],
  ["service-port", "Service port not declared", (d) => { find(d, "Service", "jobqueue-api").spec.ports[0].targetPort = "web"; }],
  ["grace-period", "grace period too short", (d) => { find(d, "Deployment", WORKER).spec.template.spec.terminationGracePeriodSeconds = 30; }],
  ["one-autoscaler", "second autoscaler", (d) => { d.push({ apiVersion: "autoscaling/v2", kind: "HorizontalPodAutoscaler", metadata: { name: "extra", namespace: NS, labels: {} }, spec: { scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: WORKER }, minReplicas: 1, maxReplicas: 2, metrics: [] } }); }],
  ["autoscaler-owns-replicas", "replicas on the worker", (d) => { find(d, "Deployment", WORKER).spec.replicas = 3; }],
  ["network", "no default deny", (d) => { d.splice(d.indexOf(find(d, "NetworkPolicy", "default-deny")), 1); }],
  ["network", "API egress to anywhere", (d) => { d.push({ apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", metadata: { name: "oops", namespace: NS, labels: {} }, spec: { podSelector: { matchLabels: { "app.kubernetes.io/name": "jobqueue-api" } }, policyTypes: ["Egress"], egress: [{}] } }); }],
  ["network", "metrics open to all", (d) => { find(d, "NetworkPolicy", "metrics-from-monitoring").spec.ingress[0].from = []; }],
  ["network", "worker egress to private ranges", (d) => { find(d, "NetworkPolicy", "worker-internet-egress").spec.egress[0].to[0].ipBlock.except = []; }],
  ["quota", "quota too small for full scale", (d) => { find(d, "ResourceQuota", "jobqueue").spec.hard["limits.memory"] = "8Gi"; }],
  ["ports", "API port not API_PORT", (d) => { find(d, "Deployment", "jobqueue-api").spec.template.spec.containers[0].ports[0].containerPort = 8081; }],
];

function find(docs, kind, name) {
  const o = docs.find((x) => x.kind === kind && x.metadata?.name === name);
  if (!o) throw new Error(`self-test: ${kind}/${name} not in the render`);
  return o;
}

// ---------------------------------------------------------------- main

function load(file) {
  return yaml.loadAll(readFileSync(file, "utf8")).filter((d) => d);
}

function main(argv) {
  const selfTest = argv[0] === "--self-test";
  const pairs = (selfTest ? argv.slice(1) : argv).map((a) => {
    const i = a.indexOf("=");
    if (i < 1) throw new Error(`argument ${a}: expected NAME=FILE`);
    return [a.slice(0, i), a.slice(i + 1)];
  });
  if (!pairs.length) {
    console.error("usage: node tests/k8s/policies.mjs [--self-test] NAME=RENDERED.yaml ...");
    process.exit(2);
  }
  let failed = 0;
  if (selfTest) {
    for (const [name, file] of pairs) {
      const clean = checkRender(name, load(file));
      if (clean.failures.length) {
        console.log(`self-test: render ${name} must pass before it can be broken`);
        failed++;
        continue;
      }
      for (const [rule, what, breakIt] of BREAKS) {
        const docs = load(file);
        breakIt(docs);
        const got = checkRender(name, docs).failures;
        if (!got.some((f) => f.rule === rule)) {
          console.log(`self-test FAILED [${name}] break "${what}" was not reported under rule ${rule} (got: ${[...new Set(got.map((f) => f.rule))].join(", ") || "nothing"})`);
          failed++;
        }
      }
      console.log(`self-test [${name}]: ${BREAKS.length} breaks, each caught by its rule${failed ? " (except the above)" : ""}`);
    }
    process.exit(failed ? 1 : 0);
  }
  for (const [name, file] of pairs) {
    const rep = checkRender(name, load(file));
    for (const f of rep.failures) console.log(`[${f.render}] ${f.obj}: ${f.rule}: ${f.message}`);
    failed += rep.failures.length;
    console.log(`policies [${name}]: ${rep.failures.length ? rep.failures.length + " failures" : "ok"}`);
  }
  process.exit(failed ? 1 : 0);
}

main(process.argv.slice(2));
