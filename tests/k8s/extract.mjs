// Reads one value out of a rendered kustomization, for the shell checks:
//   node tests/k8s/extract.mjs keda-query RENDERED.yaml     the ScaledObject's query, exactly as rendered
//   node tests/k8s/extract.mjs worker-env RENDERED.yaml VAR  VAR as the worker container sees it
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(new URL("../../tools/k8s-validate/package.json", import.meta.url));
const yaml = require("js-yaml");

const [what, file, name] = process.argv.slice(2);
const docs = yaml.loadAll(readFileSync(file, "utf8")).filter((d) => d);
const die = (msg) => {
  console.error(`extract: ${msg}`);
  process.exit(1);
};

if (what === "keda-query") {
  const so = docs.filter((d) => d.kind === "ScaledObject");
  if (so.length !== 1) die(`${file}: ${so.length} ScaledObjects, expected 1`);
  const triggers = (so[0].spec.triggers ?? []).filter((t) => t.type === "postgresql");
  if (triggers.length !== 1) die(`${file}: ${triggers.length} postgresql triggers, expected 1`);
  const query = triggers[0].metadata?.query;
  if (!query) die(`${file}: the postgresql trigger has no query`);
  process.stdout.write(query);
} else if (what === "worker-env") {
  const w = docs.find((d) => d.kind === "Deployment" && d.metadata.name === "jobqueue-worker");
  if (!w) die(`${file}: no Deployment jobqueue-worker`);
  const c = w.spec.template.spec.containers[0];
  let value;
  for (const f of c.envFrom ?? []) {
    const cm = f.configMapRef && docs.find((d) => d.kind === "ConfigMap" && d.metadata.name === f.configMapRef.name);
    if (cm?.data?.[name] !== undefined) value = cm.data[name];
  }
  for (const e of c.env ?? []) if (e.name === name && e.value !== undefined) value = e.value;
  if (value === undefined) die(`${file}: the worker has no ${name}`);
  process.stdout.write(String(value));
} else {
  die(`unknown request ${what}`);
}
