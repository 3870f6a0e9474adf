// Turns the rendered dev overlay into what `podman kube play` (4.3) runs, for
// tests/k8s/kube-play.sh:
//   node tests/k8s/kube-play.mjs RENDERED.yaml OUTDIR POSTGRES_IMAGE
// writes OUTDIR/play.yaml (the workloads), OUTDIR/configmaps.yaml (for
// --configmap) and OUTDIR/plan.sh, bash assignments of what the shell script
// checks (pods, containers, users, limits, mounts, probes with named ports
// resolved, the Job's retry rules), and prints every transformation it applied, one per line, on
// stdout. Everything not listed there is passed through as rendered.
//
// Only what kube play cannot take is changed:
//   - the migration Job becomes a Pod with the Job's pod template (kube play
//     ignores Jobs; the script plays the Job controller's retries itself);
//   - the PostgreSQL StatefulSet becomes a Pod named after its headless
//     Service (podman's DNS resolves pod names, not Services) and a PVC named
//     as the StatefulSet controller names it; its image is replaced by a
//     local stand-in because no registry is reachable;
//   - nothing else: Deployments, securityContexts, env (ConfigMap and Secret
//     references), probes, emptyDirs and resources go through unchanged.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(new URL("../../tools/k8s-validate/package.json", import.meta.url));
const yaml = require("js-yaml");

const [file, outdir, postgresImage] = process.argv.slice(2);
const die = (msg) => {
  console.error(`kube-play.mjs: ${msg}`);
  process.exit(1);
};
if (!file || !outdir || !postgresImage) die("usage: kube-play.mjs RENDERED.yaml OUTDIR POSTGRES_IMAGE");

const docs = yaml.loadAll(readFileSync(file, "utf8")).filter((d) => d);
const find = (kind, name) => {
  const d = docs.find((o) => o.kind === kind && o.metadata?.name === name);
  if (!d) die(`${file}: no ${kind} ${name}`);
  return d;
};
const clone = (o) => JSON.parse(JSON.stringify(o));
const changes = [];
const change = (msg) => changes.push(msg);

const api = find("Deployment", "jobqueue-api");
const worker = find("Deployment", "jobqueue-worker");
const reaper = find("Deployment", "jobqueue-reaper");
const job = find("Job", "jobqueue-migrate");
const sts = find("StatefulSet", "postgres");
const pgService = find("Service", "postgres");

// The migration Job: its pod template as a Pod of the Job's name.
const migrate = {
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name: job.metadata.name, labels: clone(job.spec.template.metadata?.labels ?? {}) },
  spec: clone(job.spec.template.spec),
};
const jobOnly = Object.keys(job.spec).filter((k) => k !== "template");
change(
  `Job ${job.metadata.name} -> Pod ${migrate.metadata.name} with the Job's pod template unchanged ` +
    `(restartPolicy ${migrate.spec.restartPolicy}); kube play ignores Jobs. The Job's own fields ` +
    `(${jobOnly.join(", ")}) are not in the Pod: the script plays backoffLimit and podFailurePolicy's exit codes itself`,
);

// PostgreSQL: the StatefulSet's pod as a Pod that its Service's name resolves to,
// its volumeClaimTemplate as a PVC named <template>-<statefulset>-0.
if (sts.spec.replicas !== 1) die(`StatefulSet postgres has ${sts.spec.replicas} replicas, expected 1`);
if (pgService.spec.clusterIP !== "None") die("Service postgres is not headless");
const pgPod = {
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name: pgService.metadata.name, labels: clone(sts.spec.template.metadata?.labels ?? {}) },
  spec: clone(sts.spec.template.spec),
};
change(
  `StatefulSet ${sts.metadata.name} -> Pod ${pgPod.metadata.name} (the name of its headless Service, which ` +
    `podman's DNS resolves to the pod as the cluster's DNS resolves the Service); kube play ignores StatefulSets and Services`,
);
const pvcs = [];
for (const t of sts.spec.volumeClaimTemplates ?? []) {
  const claim = `${t.metadata.name}-${sts.metadata.name}-0`;
  pvcs.push({
    apiVersion: "v1",
    kind: "PersistentVolumeClaim",
    metadata: { name: claim, labels: clone(t.metadata.labels ?? {}) },
    spec: clone(t.spec),
  });
  pgPod.spec.volumes = [...(pgPod.spec.volumes ?? []), { name: t.metadata.name, persistentVolumeClaim: { claimName: claim } }];
  change(
    `volumeClaimTemplate ${t.metadata.name} -> PersistentVolumeClaim ${claim} (a podman volume) mounted as volume ` +
      `${t.metadata.name}, as the StatefulSet controller would`,
  );
}
const pgContainer = pgPod.spec.containers.find((c) => c.name === "postgres") ?? die("StatefulSet postgres has no container postgres");
change(
  `container postgres: image ${pgContainer.image} -> ${postgresImage} (no registry is reachable; a local stand-in ` +
    `built by the script from debian:bookworm-slim with Debian's postgresql-15, uid 999, honouring the official ` +
    `image's POSTGRES_USER, POSTGRES_DB, POSTGRES_PASSWORD and PGDATA); imagePullPolicy ${pgContainer.imagePullPolicy} -> Never`,
);
pgContainer.image = postgresImage;
pgContainer.imagePullPolicy = "Never";
if (pgPod.spec.securityContext?.fsGroup !== undefined) {
  // kube play has no fsGroup; the stand-in image owns its data directory as 999,
  // and podman copies that ownership into the new volume.
  change(
    `pod postgres: securityContext.fsGroup ${pgPod.spec.securityContext.fsGroup} kept but not applied by kube play; ` +
      `the stand-in image's /var/lib/postgresql/data belongs to uid 999 and the new volume takes that ownership`,
  );
}

const deployments = [api, worker, reaper].map(clone);
for (const d of deployments) {
  if (d.spec.replicas === undefined) {
    change(
      `Deployment ${d.metadata.name}: no replicas (the autoscaler owns them); kube play starts 1, ` +
        `the minimum the dev overlay's ScaledObject keeps`,
    );
  }
}

// emptyDir: podman 4.3 makes each one a named volume called by the pod's
// volume name, so every pod with a volume "tmp" would share one volume "tmp".
// Naming them after the workload gives each pod its own, as on Kubernetes.
// A mountPath under /var/run/: podman gives a new volume the owner of the
// image's directory at that path, but resolves the /var/run -> /run link on
// the host (whose /run/postgresql belongs to the host's postgres user); the
// same directory named as /run/... is looked up in the image.
// An emptyDir with medium Memory: kube play makes a directory on disk with the
// owner and mode of the image's directory (/dev/shm: root, 0755), where the
// kubelet mounts a tmpfs of sizeLimit, mode 1777. The script creates such a
// tmpfs volume under the same name before playing (plan.tmpfs).
const tmpfs = [];
const quantity = (q) => {
  const m = /^([0-9]+)(Ki|Mi|Gi)?$/.exec(String(q));
  if (!m) die(`cannot read the quantity ${q}`);
  return Number(m[1]) * { undefined: 1, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 }[m[2]];
};
const emptyDirs = [];
const perPod = (workload, spec) => {
  const renamed = new Map();
  for (const v of spec.volumes ?? []) {
    if (!v.emptyDir) continue;
    const name = `${workload}-${v.name}-emptydir`;
    renamed.set(v.name, name);
    let note = "";
    if (v.emptyDir.medium === "Memory") {
      if (v.emptyDir.sizeLimit === undefined) die(`${workload}: emptyDir ${v.name} (Memory) has no sizeLimit`);
      tmpfs.push({ name, bytes: quantity(v.emptyDir.sizeLimit) });
      note =
        ` (medium Memory: created by the script beforehand as a tmpfs of ${v.emptyDir.sizeLimit}, mode 1777, as the kubelet ` +
        `mounts it; kube play alone makes a directory on disk with the owner and mode of the image's directory, root 0755 for /dev/shm)`;
    } else if (v.emptyDir.sizeLimit !== undefined) {
      note = ` (sizeLimit ${v.emptyDir.sizeLimit} not enforced)`;
    }
    emptyDirs.push(`${v.name} -> ${name}${note}`);
    v.name = name;
  }
  for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
    for (const m of c.volumeMounts ?? []) {
      if (renamed.has(m.name)) m.name = renamed.get(m.name);
      if (m.mountPath.startsWith("/var/run/")) {
        const to = m.mountPath.replace(/^\/var\/run\//, "/run/");
        change(
          `${workload}: container ${c.name} mounts ${m.name} at ${to}, not ${m.mountPath} (the same directory where /var/run ` +
            `links to /run; podman 4.3 resolves /var/run on the host when it gives the new volume the image directory's owner)`,
        );
        m.mountPath = to;
      }
    }
  }
};
perPod(pgPod.metadata.name, pgPod.spec);
perPod(migrate.metadata.name, migrate.spec);
for (const d of deployments) perPod(d.metadata.name, d.spec.template.spec);
change(
  `emptyDir volumes renamed after their workload (podman 4.3 makes an emptyDir a volume named after the pod's volume, ` +
    `shared by every pod using the same name; so named, each pod has its own, 1 replica each): ${emptyDirs.join("; ")}`,
);

const configmaps = docs.filter((d) => d.kind === "ConfigMap");
const ignored = docs
  .filter((d) => ![api, worker, reaper, job, sts].includes(d) && d.kind !== "ConfigMap")
  .map((d) => `${d.kind}/${d.metadata.name}`);

// What the shell script checks, per pod and container.
const limitsOf = (c) => ({
  memory: c.resources?.limits?.memory === undefined ? null : quantity(c.resources.limits.memory),
  cpu: c.resources?.limits?.cpu === undefined ? null : String(c.resources.limits.cpu).endsWith("m") ? Number(String(c.resources.limits.cpu).slice(0, -1)) / 1000 : Number(c.resources.limits.cpu),
});
const portOf = (c, port) => {
  if (typeof port === "number") return port;
  const p = (c.ports ?? []).find((x) => x.name === port);
  if (!p) die(`container ${c.name}: probe port ${port} is not declared`);
  return p.containerPort;
};
const probesOf = (c) =>
  ["startupProbe", "readinessProbe", "livenessProbe"]
    .filter((k) => c[k])
    .map((k) => {
      const p = c[k];
      if (p.httpGet) return { kind: k, http: { path: p.httpGet.path, port: portOf(c, p.httpGet.port) } };
      if (p.exec) return { kind: k, exec: p.exec.command };
      die(`container ${c.name}: ${k} is neither httpGet nor exec`);
    });
const podsOf = (name, podName, spec, component) =>
  spec.containers.map((c) => ({
    pod: podName,
    container: `${podName}-${c.name}`,
    component,
    workload: name,
    uid: c.securityContext?.runAsUser ?? spec.securityContext?.runAsUser,
    gid: c.securityContext?.runAsGroup ?? spec.securityContext?.runAsGroup,
    readOnlyRoot: c.securityContext?.readOnlyRootFilesystem === true,
    dropAll: (c.securityContext?.capabilities?.drop ?? []).includes("ALL"),
    noEscalation: c.securityContext?.allowPrivilegeEscalation === false,
    mounts: (c.volumeMounts ?? []).map((m) => m.mountPath),
    limits: limitsOf(c),
    probes: probesOf(c),
  }));
const containers = [
  ...podsOf(pgPod.metadata.name, pgPod.metadata.name, pgPod.spec, "database"),
  ...podsOf(migrate.metadata.name, migrate.metadata.name, migrate.spec, "migration"),
  // kube play names a Deployment's pods <deployment>-pod-<i>.
  ...deployments.flatMap((d) => podsOf(d.metadata.name, `${d.metadata.name}-pod-0`, d.spec.template.spec, d.spec.template.metadata.labels["app.kubernetes.io/component"])),
];
const failExitCodes = (job.spec.podFailurePolicy?.rules ?? [])
  .filter((r) => r.action === "FailJob" && r.onExitCodes?.operator === "In")
  .flatMap((r) => r.onExitCodes.values);
const plan = {
  volumes: [...pvcs.map((p) => p.metadata.name), ...tmpfs.map((t) => t.name)],
  tmpfs,
  pods: [pgPod.metadata.name, migrate.metadata.name, ...deployments.map((d) => `${d.metadata.name}-pod-0`)],
  job: { pod: migrate.metadata.name, container: `${migrate.metadata.name}-${migrate.spec.containers[0].name}`, backoffLimit: job.spec.backoffLimit ?? 6, failExitCodes },
  api: { pod: `${api.metadata.name}-pod-0`, port: portOf(api.spec.template.spec.containers[0], "http") },
  workerPod: `${worker.metadata.name}-pod-0`,
  secretKeys: [
    ...new Set(
      [pgPod.spec, migrate.spec, ...deployments.map((d) => d.spec.template.spec)].flatMap((s) =>
        s.containers.flatMap((c) => (c.env ?? []).filter((e) => e.valueFrom?.secretKeyRef).map((e) => `${e.valueFrom.secretKeyRef.name}/${e.valueFrom.secretKeyRef.key}`)),
      ),
    ),
  ],
  configmaps: configmaps.map((c) => c.metadata.name),
  containers,
  ignored,
};

mkdirSync(outdir, { recursive: true });
const dump = (objs) => objs.map((o) => yaml.dump(o, { noRefs: true, lineWidth: -1 })).join("---\n");
writeFileSync(`${outdir}/play.yaml`, dump([...pvcs, pgPod, migrate, ...deployments]));
writeFileSync(`${outdir}/configmaps.yaml`, dump(configmaps));
// The plan as bash assignments, sourced by the script.
const q = (v) => `'${String(v).replaceAll("'", `'\\''`)}'`;
const arr = (xs) => `(${xs.map(q).join(" ")})`;
const sh = [
  `PLAN_PODS=${arr(plan.pods)}`,
  `PLAN_VOLUMES=${arr(plan.volumes)}`,
  `PLAN_TMPFS=${arr(plan.tmpfs.map((t) => `${t.name}:${t.bytes}`))}`,
  `PLAN_JOB_POD=${q(plan.job.pod)}`,
  `PLAN_JOB_CONTAINER=${q(plan.job.container)}`,
  `PLAN_JOB_BACKOFF=${q(plan.job.backoffLimit)}`,
  `PLAN_JOB_FAIL_CODES=${q(` ${plan.job.failExitCodes.join(" ")} `)}`,
  `PLAN_API_POD=${q(plan.api.pod)}`,
  `PLAN_API_PORT=${q(plan.api.port)}`,
  `PLAN_WORKER_POD=${q(plan.workerPod)}`,
  `PLAN_SECRET_KEYS=${q([...plan.secretKeys].sort().join(" "))}`,
  `PLAN_CONFIGMAPS=${q(plan.configmaps.join(" "))}`,
  `PLAN_IGNORED=${q(plan.ignored.join(" "))}`,
  `PLAN_CONTAINERS=${arr(plan.containers.map((c) => c.container))}`,
  "declare -A PLAN_POD PLAN_USER PLAN_HARDENED PLAN_MOUNTS PLAN_MEMORY PLAN_CPU_MILLI PLAN_PROBES",
  ...plan.containers.flatMap((c) => [
    `PLAN_POD[${c.container}]=${q(c.pod)}`,
    `PLAN_USER[${c.container}]=${q(`${c.uid} ${c.gid}`)}`,
    `PLAN_HARDENED[${c.container}]=${q(c.readOnlyRoot && c.dropAll && c.noEscalation ? "yes" : "no")}`,
    `PLAN_MOUNTS[${c.container}]=${q(c.mounts.join(" "))}`,
    `PLAN_MEMORY[${c.container}]=${q(c.limits.memory ?? "")}`,
    `PLAN_CPU_MILLI[${c.container}]=${q(c.limits.cpu === null ? "" : Math.round(c.limits.cpu * 1000))}`,
    // One probe a line: "KIND http PORT PATH" or "KIND exec WORD..." (words shell-quoted).
    `PLAN_PROBES[${c.container}]=${q(
      c.probes.map((p) => (p.http ? `${p.kind} http ${p.http.port} ${p.http.path}` : `${p.kind} exec ${p.exec.map(q).join(" ")}`)).join("\n"),
    )}`,
  ]),
];
writeFileSync(`${outdir}/plan.sh`, sh.join("\n") + "\n");
for (const c of changes) console.log(c);
