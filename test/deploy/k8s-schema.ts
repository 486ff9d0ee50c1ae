import { join } from 'node:path';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Namespace, PersistentVolumeClaim, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import ts from 'typescript';
import { REPO_ROOT, type K8sObject } from './k8s-render.js';

/**
 * Validation of rendered objects against the Kubernetes API schemas, offline, in two passes:
 *
 * 1. the OpenAPI schemas as compiled by `kubernetes-models` (Kubernetes' own OpenAPI document)
 *    and `@kubernetes-models/prometheus-operator` (the ServiceMonitor CRD's schema): types,
 *    required fields, enums, formats, patterns;
 * 2. unknown fields. Those schemas do not say `additionalProperties: false`, so a misspelt field
 *    (`readinessprobe`) passes pass 1, while the API server, which kubectl asks for strict field
 *    validation, refuses it. The same packages ship the schemas as TypeScript interfaces, so
 *    each object is type-checked as an object literal of its kind's interface: TypeScript's
 *    excess-property check names every unknown field, at any depth.
 *
 * Only the kinds the manifests use are known; any other kind is an error, never a silent pass.
 */

interface Kind {
  /** Runtime model with `.validate()` (throws on the first schema violation). */
  model: new (data: never) => { validate(): void };
  /** Module and interface for the type check. */
  module: string;
  typeName: string;
}

const KINDS: Record<string, Kind> = {
  'v1/Namespace': { model: Namespace, module: 'kubernetes-models/v1/Namespace', typeName: 'INamespace' },
  'v1/ServiceAccount': { model: ServiceAccount, module: 'kubernetes-models/v1/ServiceAccount', typeName: 'IServiceAccount' },
  'v1/ConfigMap': { model: ConfigMap, module: 'kubernetes-models/v1/ConfigMap', typeName: 'IConfigMap' },
  'v1/Secret': { model: Secret, module: 'kubernetes-models/v1/Secret', typeName: 'ISecret' },
  'v1/Service': { model: Service, module: 'kubernetes-models/v1/Service', typeName: 'IService' },
  'v1/PersistentVolumeClaim': { model: PersistentVolumeClaim, module: 'kubernetes-models/v1/PersistentVolumeClaim', typeName: 'IPersistentVolumeClaim' },
  'apps/v1/Deployment': { model: Deployment, module: 'kubernetes-models/apps/v1/Deployment', typeName: 'IDeployment' },
  'policy/v1/PodDisruptionBudget': { model: PodDisruptionBudget, module: 'kubernetes-models/policy/v1/PodDisruptionBudget', typeName: 'IPodDisruptionBudget' },
  'autoscaling/v2/HorizontalPodAutoscaler': {
    model: HorizontalPodAutoscaler,
    module: 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler',
    typeName: 'IHorizontalPodAutoscaler',
  },
  'networking.k8s.io/v1/NetworkPolicy': { model: NetworkPolicy, module: 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy', typeName: 'INetworkPolicy' },
  'monitoring.coreos.com/v1/ServiceMonitor': {
    model: ServiceMonitor,
    module: '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor',
    typeName: 'IServiceMonitor',
  },
};

const describe = (o: K8sObject) => `${o.apiVersion} ${o.kind} ${o.metadata?.name ?? '(no name)'}`;

/** Pass 1: one problem per object that fails its kind's OpenAPI schema (or whose kind is unknown). */
export function schemaProblems(objects: readonly K8sObject[]): string[] {
  const problems: string[] = [];
  for (const o of objects) {
    const kind = KINDS[`${o.apiVersion}/${o.kind}`];
    if (!kind) {
      problems.push(`${describe(o)}: no schema known for this kind`);
      continue;
    }
    try {
      new kind.model(o as never).validate();
    } catch (err) {
      problems.push(`${describe(o)}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return problems;
}

/** Pass 2: TypeScript's diagnostics (unknown fields, wrong types) per object. */
export function unknownFieldProblems(objects: readonly K8sObject[]): string[] {
  // Virtual files beside this one, so `kubernetes-models` resolves from the repo's node_modules.
  const dir = join(REPO_ROOT, 'test', 'deploy', '__strict__');
  const files = new Map<string, { text: string; object: K8sObject }>();
  const problems: string[] = [];
  objects.forEach((o, i) => {
    const kind = KINDS[`${o.apiVersion}/${o.kind}`];
    if (!kind) {
      problems.push(`${describe(o)}: no schema known for this kind`);
      return;
    }
    const text = `import type { ${kind.typeName} } from '${kind.module}';\nexport const object: ${kind.typeName} = ${JSON.stringify(o, null, 2)};\n`;
    files.set(join(dir, `object-${i}.mts`), { text, object: o });
  });
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    lib: ['lib.es2022.d.ts'],
    types: [],
    skipLibCheck: true,
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  const readFile = host.readFile.bind(host);
  host.getSourceFile = (name, language, ...rest) => {
    const virtual = files.get(name);
    return virtual ? ts.createSourceFile(name, virtual.text, language) : getSourceFile(name, language, ...rest);
  };
  host.fileExists = (name) => files.has(name) || fileExists(name);
  host.readFile = (name) => files.get(name)?.text ?? readFile(name);
  const program = ts.createProgram([...files.keys()], options, host);
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const virtual = d.file ? files.get(d.file.fileName) : undefined;
    const where = virtual ? describe(virtual.object) : (d.file?.fileName ?? 'type check');
    problems.push(`${where}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`);
  }
  return problems;
}
