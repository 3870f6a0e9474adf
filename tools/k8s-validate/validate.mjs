// Validates every object of the given multi-document YAML files strictly:
//   node validate.mjs FILE...        (exit 1 when any object is invalid)
// Each object must be of a kind in registry.mjs and pass both
//   - kubernetes-models' validator for its kind (types, enums, required
//     fields, formats, patterns of the Kubernetes OpenAPI schema or the CRD), and
//   - a schema generated from the same models' type declarations with
//     additionalProperties: false (unknown fields, at any depth).
// Prints one line per problem: file, kind/namespace/name, JSON path, message.
import { readFileSync } from "node:fs";
import yaml from "js-yaml";
import Ajv from "ajv";
import { lookup } from "./registry.mjs";
import { strictSchema } from "./schemas.mjs";

export async function makeValidator() {
  const schema = await strictSchema();
  const ajv = new Ajv({ allErrors: true, strict: false });
  for (const [ref, one] of Object.entries(schema)) ajv.addSchema(one, ref);
  const compiled = new Map();
  const models = new Map();

  return async function validate(obj) {
    if (obj === null || typeof obj !== "object" || Array.isArray(obj)) return ["not an object"];
    const entry = lookup(obj.apiVersion, obj.kind);
    if (!entry) return [`no schema for apiVersion ${obj.apiVersion} kind ${obj.kind} (not in tools/k8s-validate/registry.mjs)`];
    const problems = [];

    if (!compiled.has(entry.ref)) compiled.set(entry.ref, ajv.getSchema(entry.ref));
    const strict = compiled.get(entry.ref);
    if (!strict(obj)) {
      for (const err of strict.errors) {
        // anyOf branches repeat their errors; the unknown-field and type ones say enough.
        if (err.keyword === "anyOf") continue;
        let message = err.message;
        if (err.keyword === "additionalProperties") message = `unknown field "${err.params.additionalProperty}"`;
        problems.push(`${err.instancePath || "/"}: ${message} [strict schema]`);
      }
    }

    if (!models.has(entry.module)) models.set(entry.module, (await import(entry.module))[entry.kind]);
    const Model = models.get(entry.module);
    try {
      new Model(JSON.parse(JSON.stringify(obj))).validate();
    } catch (e) {
      for (const part of String(e.message).split(/,\s(?=data)/)) problems.push(`${part.replace(/^data/, "")} [kubernetes-models]`);
    }
    return [...new Set(problems)];
  };
}

export function describe(obj) {
  const m = (obj && obj.metadata) || {};
  return `${obj?.kind ?? "?"}/${m.namespace ? m.namespace + "/" : ""}${m.name ?? "?"}`;
}

async function main(files) {
  if (files.length === 0) {
    console.error("usage: node validate.mjs FILE...");
    process.exit(2);
  }
  const validate = await makeValidator();
  let objects = 0;
  let bad = 0;
  for (const file of files) {
    const docs = yaml.loadAll(readFileSync(file, "utf8")).filter((d) => d !== null && d !== undefined);
    for (const obj of docs) {
      objects++;
      const problems = await validate(obj);
      if (problems.length) {
        bad++;
        for (const p of problems) console.log(`${file}: ${describe(obj)}: ${p}`);
      }
    }
  }
  console.log(`k8s-validate: ${objects} objects, ${bad} invalid`);
  process.exit(bad ? 1 : 0);
}

if (import.meta.url === `file://${process.argv[1]}`) await main(process.argv.slice(2));
