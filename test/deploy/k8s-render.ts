import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { requireTool, type ToolGate } from '../helpers/tools.js';

/**
 * Renders the Kubernetes manifests under deploy/kubernetes/ with `kubectl kustomize`, as
 * `kubectl apply -k` would before sending them to a cluster.
 *
 * The overlays use kustomize v5 syntax (`patches` with targets, generator `options`), which
 * every kubectl since 1.27 embeds. Debian's `kubernetes-client` (kubectl 1.20, kustomize v2.0.3)
 * cannot render them: it answers `json: unknown field "options"` and, for `patches` with a
 * target, `cannot unmarshal object into Go struct field Kustomization.patchesStrategicMerge`.
 * Writing the overlays for both would mean the fields kustomize v5 deprecates
 * (`patchesStrategicMerge`, `patchesJson6902`), warned about on every build, so that package is
 * not offered as a fallback: a kubectl whose kustomize is older than v5 counts as missing.
 *
 * @example
 * const kubectl = await requireKustomize();
 * describe('manifests', { skip: kubectl.skip }, () => { const objects = render(kubectl, 'overlays/ha'); });
 */

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

// This file runs as dist/test/deploy/k8s-render.js: the repo root is three folders up.
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const KUBERNETES_DIR = join(REPO_ROOT, 'deploy', 'kubernetes');

/** kubectl with an embedded kustomize v5 or newer; otherwise a gate that skips (fails under CI). */
export async function requireKustomize(): Promise<ToolGate> {
  const kubectl = await requireTool({ bin: 'kubectl' });
  if (kubectl.skip) return kubectl;
  const r = spawnSync(kubectl.path, ['version', '--client'], { encoding: 'utf8', timeout: 30_000 });
  const version = /Kustomize Version:\s*v?(\d+)\.(\d+)/.exec(`${r.stdout ?? ''}`);
  if (version && Number(version[1]) >= 5) return kubectl;
  const reason = `kubectl at ${kubectl.path} has no kustomize v5 or newer (kubectl version --client: ${JSON.stringify(`${r.stdout ?? ''}${r.stderr ?? ''}`.trim().slice(0, 200))})`;
  if (process.env['CI'] === 'true') {
    test('kubectl with kustomize v5 is available (required under CI=true)', () => {
      throw new Error(reason);
    });
  }
  return { skip: reason, path: '' };
}

/** `kubectl kustomize deploy/kubernetes/<dir>`, parsed; throws with kubectl's output on failure. */
export function render(kubectl: ToolGate, dir: string): K8sObject[] {
  return renderDir(kubectl, join(KUBERNETES_DIR, dir));
}

/** `kubectl kustomize <absolute dir>`, parsed (an overlay of one's own, as the guides show). */
export function renderDir(kubectl: ToolGate, dir: string): K8sObject[] {
  const r = spawnSync(kubectl.path, ['kustomize', dir], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`kubectl kustomize ${dir} failed (${r.status ?? r.signal}): ${r.stderr}${r.error ? String(r.error) : ''}`);
  // kustomize warns on stderr about deprecated fields ("# Warning: 'x' is deprecated"); the
  // manifests must use none. (Other stderr text, such as a wrapper's notice, is not ours.)
  if (/deprecated/i.test(r.stderr)) throw new Error(`kubectl kustomize ${dir} warned: ${r.stderr.trim()}`);
  return parseYamlObjects(r.stdout, `kubectl kustomize ${dir}`);
}

/** Every document of a multi-document YAML stream, as plain objects; throws on a YAML error. */
export function parseYamlObjects(text: string, what: string): K8sObject[] {
  const out: K8sObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`${what}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value = doc.toJSON() as unknown;
    if (value === null) continue;
    out.push(value as K8sObject);
  }
  return out;
}

/** The one object of `kind` (and `name`, when given); throws naming what is missing or doubled. */
export function one<T = K8sObject>(objects: readonly K8sObject[], kind: string, name?: string): T {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` "${name}"` : ''}, found ${found.length}`);
  return found[0] as T;
}
