// Proves that tools/k8s-validate is strict: it takes real objects from the
// given renders, requires each to pass as rendered, then breaks a copy in one
// way (an unknown field at some depth, a wrong type, a bad enum value, an
// unknown kind) and requires the validator to reject it with the expected
// message. A validator that let these through would make the schema check
// of scripts/check-k8s.sh worthless.
//   node tests/k8s/strictness.mjs RENDERED.yaml...
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(new URL("../../tools/k8s-validate/package.json", import.meta.url));
const yaml = require("js-yaml");
const { makeValidator } = await import(new URL("../../tools/k8s-validate/validate.mjs", import.meta.url));

const docs = process.argv.slice(2).flatMap((f) => yaml.loadAll(readFileSync(f, "utf8")).filter((d) => d));
const pick = (kind, name) => {
  const o = docs.find((d) => d.kind === kind && (!name || d.metadata?.name === name));
  if (!o) throw new Error(`strictness: no ${kind}${name ? "/" + name : ""} in the renders given`);
  return JSON.parse(JSON.stringify(o));
};
const container = (o) => o.spec.template.spec.containers[0];

// [what, base object, break, message the validator must give]
const CASES = [
  ["unknown field deep in a container", () => pick("Deployment", "jobqueue-worker"), (o) => { container(o).imagePullPolicyy = "Always"; }, /unknown field "imagePullPolicyy"/],
  ["unknown field in a Deployment spec", () => pick("Deployment", "jobqueue-api"), (o) => { o.spec.replica = 2; }, /unknown field "replica"/],
  ["misspelled metadata field", () => pick("Service", "jobqueue-api"), (o) => { o.metadata.lables = o.metadata.labels; }, /unknown field "lables"/],
  ["unknown field in a probe", () => pick("Deployment", "jobqueue-api"), (o) => { container(o).livenessProbe.httpGet.paht = "/health"; }, /unknown field "paht"/],
  ["unknown field in a securityContext", () => pick("StatefulSet", "postgres"), (o) => { container(o).securityContext.readOnlyRootFileSystem = true; }, /unknown field "readOnlyRootFileSystem"/],
  ["autoscaling/v1 field in a v2 HPA", () => pick("HorizontalPodAutoscaler"), (o) => { o.spec.targetCPUUtilizationPercentage = 70; }, /unknown field "targetCPUUtilizationPercentage"/],
  ["unknown field in a NetworkPolicy peer", () => pick("NetworkPolicy", "postgres-clients-egress"), (o) => { o.spec.egress[0].to[0].namespaceSelectors = {}; }, /unknown field "namespaceSelectors"/],
  ["string for an integer", () => pick("Deployment", "jobqueue-api"), (o) => { o.spec.replicas = "two"; }, /replicas: must be (integer|number)/],
  ["string for a port number", () => pick("Deployment", "jobqueue-worker"), (o) => { container(o).ports[0].containerPort = "9090"; }, /containerPort: must be (integer|number)/],
  ["object for a list", () => pick("Deployment", "jobqueue-worker"), (o) => { container(o).securityContext.capabilities.drop = "ALL"; }, /drop: must be array/],
  ["bad enum value", () => pick("Service", "jobqueue-api"), (o) => { o.spec.type = "Nodeport"; }, /type: must be equal to one of the allowed values/],
  ["bad enum in a container", () => pick("Deployment", "jobqueue-api"), (o) => { container(o).imagePullPolicy = "Sometimes"; }, /imagePullPolicy: must be equal to one of the allowed values/],
  ["string for a number in HPA behavior", () => pick("HorizontalPodAutoscaler"), (o) => { o.spec.behavior.scaleUp.policies[0].value = "100"; }, /value: must be (integer|number)/],
  ["KEDA: HPA field name in a ScaledObject", () => pick("ScaledObject"), (o) => { o.spec.minReplicas = 1; }, /unknown field "minReplicas"/],
  ["KEDA: number where the CRD wants a string", () => pick("ScaledObject"), (o) => { o.spec.triggers[0].metadata.targetQueryValue = 20; }, /targetQueryValue: must be string/],
  ["KEDA: unknown field in a TriggerAuthentication", () => pick("TriggerAuthentication"), (o) => { o.spec.secretTargetRef[0].secret = "x"; }, /unknown field "secret"/],
  ["cert-manager: unknown field in an Issuer", () => pick("Issuer"), (o) => { o.spec.acme.emial = "x@example.com"; }, /unknown field "emial"/],
  ["Prometheus operator: unknown field in a ServiceMonitor endpoint", () => pick("ServiceMonitor"), (o) => { o.spec.endpoints[0].portName = "http"; }, /unknown field "portName"/],
  ["Prometheus operator: wrong type in a PodMonitor", () => pick("PodMonitor"), (o) => { o.spec.podMetricsEndpoints = { port: "metrics" }; }, /podMetricsEndpoints: must be array/],
  ["unknown kind", () => ({ apiVersion: "v1", kind: "Widget", metadata: { name: "w" } }), () => {}, /no schema for apiVersion v1 kind Widget/],
  ["known kind under a wrong apiVersion", () => pick("HorizontalPodAutoscaler"), (o) => { o.apiVersion = "autoscaling/v2beta1"; }, /no schema for apiVersion autoscaling\/v2beta1/],
];

const validate = await makeValidator();
let failed = 0;
for (const [what, base, breakIt, expected] of CASES) {
  const obj = base();
  if (obj.kind !== "Widget") {
    const before = await validate(obj);
    if (before.length) {
      console.log(`strictness FAILED: ${what}: the unbroken ${obj.kind} is already rejected: ${before.join("; ")}`);
      failed++;
      continue;
    }
  }
  breakIt(obj);
  const problems = await validate(obj);
  if (!problems.some((p) => expected.test(p))) {
    console.log(`strictness FAILED: ${what}: expected a rejection matching ${expected}, got ${problems.length ? problems.join("; ") : "none (accepted)"}`);
    failed++;
  }
}
console.log(`strictness: ${CASES.length - failed} of ${CASES.length} broken objects rejected as expected`);
process.exit(failed ? 1 : 0);
