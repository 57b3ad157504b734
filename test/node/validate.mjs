// Validate Kubernetes objects against the upstream OpenAPI schemas shipped in
// npm kubernetes-models, with the model class's own .validate().
//
//   node validate.mjs FILE...        each file: JSON, or YAML (one or more documents)
//   node validate.mjs < objects.json  stdin: one JSON object or a JSON list of them
//   node validate.mjs --same-yaml A.json B.yaml
//                                     B parses (YAML 1.1 and 1.2 core schemas) to
//                                     exactly the JSON of A
//
// Exits 0 when every object is valid, 1 with the errors otherwise, 2 on usage.
import { readFileSync } from "node:fs";
import { isDeepStrictEqual } from "node:util";
import { parseAllDocuments } from "yaml";

function fail(msg, code = 1) {
  process.stderr.write(`validate: ${msg}\n`);
  process.exit(code);
}

function parseText(text, name) {
  const t = text.trimStart();
  if (t.startsWith("{") || t.startsWith("[")) {
    const v = JSON.parse(text);
    return Array.isArray(v) ? v : [v];
  }
  const docs = parseAllDocuments(text, { version: "1.2", schema: "core", uniqueKeys: true });
  const out = [];
  for (const d of docs) {
    if (d.errors.length) fail(`${name}: ${d.errors[0].message}`);
    const v = d.toJS();
    if (v !== null) out.push(v);
  }
  return out;
}

async function modelFor(obj) {
  if (!obj || typeof obj !== "object" || Array.isArray(obj)) throw new Error("not an object");
  const { apiVersion, kind } = obj;
  if (typeof apiVersion !== "string" || typeof kind !== "string" || !/^[A-Za-z]+$/.test(kind))
    throw new Error("apiVersion and kind must be strings");
  const mod = await import(`kubernetes-models/${apiVersion}/${kind}`).catch(() => null);
  if (!mod || !mod[kind]) throw new Error(`no schema for ${apiVersion} ${kind}`);
  return mod[kind];
}

async function validateAll(objs, name) {
  let bad = 0;
  for (const [i, obj] of objs.entries()) {
    const label = `${name}[${i}] ${obj?.kind ?? "?"} ${obj?.metadata?.name ?? obj?.metadata?.generateName ?? ""}`;
    try {
      const Model = await modelFor(obj);
      new Model(obj).validate();
      process.stdout.write(`ok ${label}\n`);
    } catch (e) {
      bad++;
      process.stderr.write(`invalid ${label}: ${e.message}\n`);
    }
  }
  return bad;
}

function sameYaml(jsonFile, yamlFile) {
  const want = JSON.parse(readFileSync(jsonFile, "utf8"));
  const text = readFileSync(yamlFile, "utf8");
  for (const [version, schema] of [["1.2", "core"], ["1.1", "yaml-1.1"]]) {
    const docs = parseAllDocuments(text, { version, schema, uniqueKeys: true, intAsBigInt: false });
    if (docs.length !== 1) fail(`${yamlFile}: want one document, got ${docs.length}`);
    if (docs[0].errors.length) fail(`${yamlFile} (YAML ${version}): ${docs[0].errors[0].message}`);
    const got = docs[0].toJS();
    if (!isDeepStrictEqual(got, want))
      fail(`${yamlFile} (YAML ${version}) differs from ${jsonFile}:\n${JSON.stringify(got, null, 1)}`);
  }
  process.stdout.write(`same ${jsonFile} ${yamlFile}\n`);
}

const args = process.argv.slice(2);
if (args[0] === "--same-yaml") {
  if (args.length !== 3) fail("usage: validate.mjs --same-yaml A.json B.yaml", 2);
  sameYaml(args[1], args[2]);
  process.exit(0);
}
let bad = 0;
if (args.length === 0) {
  bad += await validateAll(parseText(readFileSync(0, "utf8"), "stdin"), "stdin");
} else {
  for (const f of args) bad += await validateAll(parseText(readFileSync(f, "utf8"), f), f);
}
process.exit(bad ? 1 : 0);
