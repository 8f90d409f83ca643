// Validate docker/k8s/*.yaml against the Kubernetes API schemas of the kubernetes-models
// npm package (generated from the Kubernetes OpenAPI spec). Run by tests/k8s/run.sh.
'use strict';
const fs = require('fs');
const path = require('path');
const modules = process.env.K8S_NODE_MODULES;
const YAML = require(path.join(modules, 'yaml'));

function modelFor(apiVersion, kind) {
  // "apps/v1" -> kubernetes-models/apps/v1/Deployment; "v1" -> kubernetes-models/v1/Service
  const group = apiVersion.includes('/') ? apiVersion : 'v1';
  const file = path.join(modules, 'kubernetes-models', group, kind);
  return require(file)[kind];
}

let failures = 0, checked = 0;
for (const file of process.argv.slice(2)) {
  for (const doc of YAML.parseAllDocuments(fs.readFileSync(file, 'utf8'))) {
    const obj = doc.toJSON();
    if (!obj) continue;
    try {
      const Model = modelFor(obj.apiVersion, obj.kind);
      new Model(obj).validate();
      checked++;
      console.log(`ok   ${path.basename(file)}: ${obj.apiVersion} ${obj.kind} ${obj.metadata.name}`);
    } catch (e) {
      failures++;
      console.log(`FAIL ${path.basename(file)}: ${obj.apiVersion} ${obj.kind}: ${e.message}`);
    }
  }
}
console.log(`${checked} passed, ${failures} failed`);
process.exit(failures || !checked ? 1 : 0);
