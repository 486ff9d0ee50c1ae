import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse as parseYaml, parseDocument } from 'yaml';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import type { IProbe } from 'kubernetes-models/v1/Probe';
import type { ISecret } from 'kubernetes-models/v1/Secret';
import type { IService } from 'kubernetes-models/v1/Service';
import type { IServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import type { IServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { parseConfigText } from '../../src/config/load.js';
import { parseDuration } from '../../src/config-fields/units.js';
import { AwsAccounts, webIdentityToken } from '../emulators/aws-accounts.js';
import { StsEmulator } from '../emulators/aws-sts.js';
import { removeDir, runCli, startServe, tempDir, type CliResult } from '../helpers/cli.js';
import { freshDatabase, freshRedisPrefix, requireService } from '../helpers/services.js';
import { GUARD_ACTIVE, GUARD_MARKER, LOOPBACK_ONLY_URL } from './k8s-loopback-markers.js';
import { KUBERNETES_DIR, one, parseYamlObjects, render, renderDir, REPO_ROOT, requireKustomize, type K8sObject } from './k8s-render.js';
import { schemaProblems, unknownFieldProblems } from './k8s-schema.js';

/**
 * deploy/kubernetes/: each overlay rendered by `kubectl kustomize` (what `kubectl apply -k`
 * sends), every object validated against the Kubernetes schemas (OpenAPI and unknown fields),
 * the security and availability properties asserted on the rendered objects, and the
 * ConfigMap's gateway config run through `llmproxy config check` (and, for ha, `llmproxy serve`
 * against the probes) with its Secret files pointing at the local PostgreSQL and Redis and
 * placeholder provider keys. The CLI children run with a preload that refuses every non-loopback
 * connection, so no real provider or cloud endpoint can be called; AWS STS (for the IRSA
 * variant) is an emulator on loopback. The overlays the platform guides show are rendered and
 * validated too, and every gateway config in those guides passes the config schema.
 */

const kubectl = await requireKustomize();
const postgres = await requireService('postgres');
const redis = await requireService('redis');

const OVERLAYS = ['ha', 'sqlite-single'] as const;
type Overlay = (typeof OVERLAYS)[number];

/** The gateway config (llmproxy.yaml) as the tests read it: only the fields asserted on. */
interface GatewayConfig {
  server: { port: number; metrics?: { port?: number }; shutdown_timeout: string };
  storage: { sqlite?: { path: string }; postgres?: { url: string }; redis?: { url: string; key_prefix?: string } };
  auth?: { api_keys?: { bootstrap_admin?: boolean } };
  instances: Record<string, { type: string; authentication: Record<string, string> }>;
}

interface CheckReport {
  ok: boolean;
  store: string;
  instances: Array<{ instance: string; type: string; method: string; status: string; error: string | null }>;
}

/** Everything one overlay renders to, with the pieces most tests look at. */
interface Rendered {
  objects: K8sObject[];
  deployment: IDeployment;
  container: IContainer;
  configMap: IConfigMap;
  configText: string;
  config: GatewayConfig;
  /** Where the Deployment mounts the Secret, the data volume and the ConfigMap. */
  mounts: { secrets: string; data: string; config: string };
}

function pieces(objects: K8sObject[]): Rendered {
  const deployment = one<IDeployment>(objects, 'Deployment', 'llmproxy');
  const pod = deployment.spec!.template.spec!;
  assert.equal(pod.containers.length, 1, 'one container');
  const container = pod.containers[0]!;
  const mountOf = (pick: (v: NonNullable<typeof pod.volumes>[number]) => boolean, what: string) => {
    const volume = (pod.volumes ?? []).filter(pick);
    assert.equal(volume.length, 1, `one ${what} volume`);
    const mounts = (container.volumeMounts ?? []).filter((m) => m.name === volume[0]!.name);
    assert.equal(mounts.length, 1, `the ${what} volume is mounted once`);
    return mounts[0]!.mountPath;
  };
  const configVolume = (pod.volumes ?? []).find((v) => v.configMap !== undefined);
  const configMap = one<IConfigMap>(objects, 'ConfigMap', configVolume?.configMap?.name);
  const configText = configMap.data?.['llmproxy.yaml'];
  assert.ok(configText, 'the ConfigMap holds llmproxy.yaml');
  return {
    objects,
    deployment,
    container,
    configMap,
    configText,
    config: parseYaml(configText) as GatewayConfig,
    mounts: {
      secrets: mountOf((v) => v.secret !== undefined, 'Secret'),
      data: mountOf((v) => v.name === 'data', 'data'),
      config: mountOf((v) => v.configMap !== undefined, 'ConfigMap'),
    },
  };
}

/** `${file:/path}` references in a config text (comments included). */
const fileRefs = (text: string) => [...text.matchAll(/\$\{file:([^}#]+)(?:#[^}]*)?\}/g)].map((m) => m[1]!);

const portKey = (p: { protocol?: string; port?: number | string }) => `${p.protocol ?? 'TCP'}/${p.port}`;

function containerPort(container: IContainer, nameOrNumber: number | string | undefined): number | undefined {
  if (typeof nameOrNumber === 'number') return nameOrNumber;
  return container.ports?.find((p) => p.name === nameOrNumber)?.containerPort;
}

/** The commented block between `# >>> name` and `# <<< name`, uncommented in place. */
function uncommentBlock(text: string, name: string): string {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.trim() === `# >>> ${name}`);
  const end = lines.findIndex((l) => l.trim() === `# <<< ${name}`);
  assert.ok(start >= 0 && end > start, `block "${name}" is marked in the config`);
  for (let i = start + 1; i < end; i++) lines[i] = lines[i]!.replace(/^(\s*)# ?/, '$1');
  return lines.join('\n');
}

describe('Kubernetes manifests (deploy/kubernetes)', { skip: kubectl.skip }, () => {
  const rendered = {} as Record<Overlay, Rendered>;
  let base: K8sObject[];

  before(() => {
    base = render(kubectl, 'base');
    for (const overlay of OVERLAYS) rendered[overlay] = pieces(render(kubectl, `overlays/${overlay}`));
  });

  const exampleSecret = (overlay: Overlay) =>
    parseYamlObjects(readFileSync(join(KUBERNETES_DIR, 'overlays', overlay, 'secret.example.yaml'), 'utf8'), 'secret.example.yaml');

  describe('schemas', () => {
    test('every object of the base and of each overlay passes the Kubernetes OpenAPI schemas (ServiceMonitor: the CRD schema)', () => {
      for (const [what, objects] of [['base', base], ...OVERLAYS.map((o) => [o, rendered[o].objects] as const)] as const) {
        assert.ok(objects.length >= 9, `${what} renders the objects`);
        assert.deepEqual(schemaProblems(objects), [], what);
      }
    });

    test('no object has a field the API server does not know (strict field validation), the example Secrets included', () => {
      const all = [...OVERLAYS.flatMap((o) => [...rendered[o].objects, ...exampleSecret(o)])];
      assert.deepEqual(unknownFieldProblems(all), []);
    });

    test('the validators catch a wrong type and a misspelt field (they can fail)', () => {
      const container = (d: IDeployment) => d.spec!.template.spec!.containers[0]! as IContainer & Record<string, unknown>;
      const wrongType = structuredClone(rendered.ha.deployment) as IDeployment & K8sObject;
      container(wrongType).ports![0]!.containerPort = 'http' as unknown as number;
      const misspelt = structuredClone(rendered.ha.deployment) as IDeployment & K8sObject;
      container(misspelt)['readinessprobe'] = container(misspelt).readinessProbe;
      const schema = schemaProblems([wrongType, misspelt]);
      assert.equal(schema.length, 1, 'the OpenAPI pass sees only the wrong type');
      assert.match(schema[0]!, /containerPort must be integer/);
      const strict = unknownFieldProblems([wrongType, misspelt]);
      assert.equal(strict.length, 2);
      assert.match(strict.join('\n'), /Type 'string' is not assignable to type 'number'/);
      assert.match(strict.join('\n'), /'"?readinessprobe"?' does not exist in type 'IContainer'/);
    });
  });

  describe('objects', () => {
    test('each overlay holds exactly the expected objects, all in namespace llm, and no Secret', () => {
      const expected: Record<Overlay, string[]> = {
        ha: [
          'ConfigMap', 'Deployment/llmproxy', 'HorizontalPodAutoscaler/llmproxy', 'Namespace/llm', 'NetworkPolicy/llmproxy',
          'PodDisruptionBudget/llmproxy', 'Service/llmproxy', 'Service/llmproxy-metrics', 'ServiceAccount/llmproxy', 'ServiceMonitor/llmproxy',
        ],
        'sqlite-single': [
          'ConfigMap', 'Deployment/llmproxy', 'Namespace/llm', 'NetworkPolicy/llmproxy', 'PersistentVolumeClaim/llmproxy-data',
          'Service/llmproxy', 'Service/llmproxy-metrics', 'ServiceAccount/llmproxy', 'ServiceMonitor/llmproxy',
        ],
      };
      for (const overlay of OVERLAYS) {
        const { objects, configMap } = rendered[overlay];
        // The ConfigMap's name carries kustomize's content hash.
        assert.match(configMap.metadata!.name!, /^llmproxy-config-[a-z0-9]{10}$/);
        const names = objects.map((o) => (o.kind === 'ConfigMap' ? 'ConfigMap' : `${o.kind}/${o.metadata.name}`)).sort();
        assert.deepEqual(names, expected[overlay].sort(), overlay);
        for (const o of objects) if (o.kind !== 'Namespace') assert.equal(o.metadata.namespace, 'llm', `${overlay} ${o.kind} ${o.metadata.name}`);
      }
    });

    test('every reference resolves: ConfigMap, config file, ServiceAccount, Services, ServiceMonitor, autoscaler, budget, policy', () => {
      for (const overlay of OVERLAYS) {
        const { objects, deployment, container, config, mounts } = rendered[overlay];
        const pod = deployment.spec!.template;
        const podLabels = pod.metadata!.labels!;
        const selects = (selector: Record<string, string> | undefined, what: string) => {
          assert.ok(selector && Object.keys(selector).length > 0, `${overlay}: ${what} has a selector`);
          for (const [k, v] of Object.entries(selector)) assert.equal(podLabels[k], v, `${overlay}: ${what} selects the gateway pods (${k})`);
        };
        selects(deployment.spec!.selector.matchLabels, 'Deployment');
        assert.equal(pod.spec!.serviceAccountName, one<IServiceAccount>(objects, 'ServiceAccount').metadata!.name);
        // LLMPROXY_CONFIG names the llmproxy.yaml key inside the ConfigMap mount.
        assert.equal(container.env?.find((e) => e.name === 'LLMPROXY_CONFIG')?.value, `${mounts.config}/llmproxy.yaml`);
        assert.deepEqual(container.args, ['serve']);

        const service = one<IService>(objects, 'Service', 'llmproxy');
        selects(service.spec!.selector, 'Service llmproxy');
        assert.deepEqual(service.spec!.ports!.map((p) => [p.name, p.port, containerPort(container, p.targetPort)]), [['http', 80, config.server.port]]);

        const metricsService = one<IService>(objects, 'Service', 'llmproxy-metrics');
        selects(metricsService.spec!.selector, 'Service llmproxy-metrics');
        const metricsPort = config.server.metrics?.port;
        assert.ok(metricsPort !== undefined && metricsPort !== config.server.port, `${overlay}: /metrics on its own port`);
        assert.deepEqual(metricsService.spec!.ports!.map((p) => [p.name, containerPort(container, p.targetPort)]), [['metrics', metricsPort]]);

        const monitor = one<IServiceMonitor>(objects, 'ServiceMonitor');
        for (const [k, v] of Object.entries(monitor.spec.selector.matchLabels ?? {})) assert.equal(metricsService.metadata!.labels![k], v, 'ServiceMonitor selects the metrics Service');
        assert.notEqual(service.metadata!.labels!['app.kubernetes.io/component'], monitor.spec.selector.matchLabels!['app.kubernetes.io/component'], 'ServiceMonitor does not also select the client Service');
        assert.deepEqual(monitor.spec.endpoints!.map((e) => [e.port, e.path]), [['metrics', '/metrics']]);

        selects(one<INetworkPolicy>(objects, 'NetworkPolicy').spec!.podSelector.matchLabels, 'NetworkPolicy');
        if (overlay === 'ha') {
          selects(one<IPodDisruptionBudget>(objects, 'PodDisruptionBudget').spec!.selector!.matchLabels, 'PodDisruptionBudget');
          const target = one<IHorizontalPodAutoscaler>(objects, 'HorizontalPodAutoscaler').spec!.scaleTargetRef;
          assert.deepEqual([target.apiVersion, target.kind, target.name], ['apps/v1', 'Deployment', deployment.metadata!.name]);
        }
      }
    });

    test('the image is the documented placeholder with a pinned tag', () => {
      for (const overlay of OVERLAYS) assert.match(rendered[overlay].container.image!, /^ghcr\.io\/llm-proxy-auth\/llm-proxy-auth:\d+\.\d+\.\d+$/, overlay);
    });
  });

  describe('security', () => {
    test('pod: non-root uid 65532, seccomp RuntimeDefault, no host namespaces or host paths', () => {
      for (const overlay of OVERLAYS) {
        const pod = rendered[overlay].deployment.spec!.template.spec!;
        const sc = pod.securityContext!;
        assert.equal(sc.runAsNonRoot, true, overlay);
        assert.equal(sc.runAsUser, 65532, overlay);
        assert.equal(sc.runAsGroup, 65532, overlay);
        assert.equal(sc.fsGroup, 65532, `${overlay}: volumes writable by the gateway's group`);
        assert.equal(sc.seccompProfile?.type, 'RuntimeDefault', overlay);
        assert.ok(!pod.hostNetwork && !pod.hostPID && !pod.hostIPC, overlay);
        assert.ok((pod.volumes ?? []).every((v) => v.hostPath === undefined), `${overlay}: no hostPath`);
        assert.deepEqual(pod.initContainers ?? [], [], overlay);
      }
    });

    test('container: read-only root, no privilege escalation, ALL capabilities dropped, non-root', () => {
      for (const overlay of OVERLAYS) {
        const sc = rendered[overlay].container.securityContext!;
        assert.equal(sc.readOnlyRootFilesystem, true, overlay);
        assert.equal(sc.allowPrivilegeEscalation, false, overlay);
        assert.notEqual(sc.privileged, true, overlay);
        assert.deepEqual(sc.capabilities?.drop, ['ALL'], overlay);
        assert.deepEqual(sc.capabilities?.add ?? [], [], overlay);
        assert.equal(sc.runAsNonRoot, true, overlay);
        assert.equal(sc.runAsUser, 65532, overlay);
        assert.equal(sc.seccompProfile?.type, 'RuntimeDefault', overlay);
      }
    });

    test('only /data and /tmp are writable; config and Secret are read-only mounts', () => {
      for (const overlay of OVERLAYS) {
        const { container, mounts } = rendered[overlay];
        const writable = (container.volumeMounts ?? []).filter((m) => m.readOnly !== true).map((m) => m.mountPath).sort();
        assert.deepEqual(writable, ['/data', '/tmp'], overlay);
        assert.equal(mounts.data, '/data');
        for (const m of container.volumeMounts ?? []) assert.equal(m.subPath, undefined, `${overlay}: ${m.mountPath} mounted whole, so Secret and ConfigMap updates reach it`);
      }
    });

    test('resources: CPU and memory requests, a memory limit', () => {
      for (const overlay of OVERLAYS) {
        const r = rendered[overlay].container.resources!;
        assert.ok(r.requests?.['cpu'] && r.requests['memory'], overlay);
        assert.ok(r.limits?.['memory'], overlay);
      }
    });

    test('the NetworkPolicy allows in only the gateway and metrics ports, and out only DNS, HTTPS (and, for ha, PostgreSQL and Redis)', () => {
      const expectedEgress: Record<Overlay, string[]> = {
        ha: ['TCP/443', 'TCP/53', 'TCP/5432', 'TCP/6379', 'UDP/53'],
        'sqlite-single': ['TCP/443', 'TCP/53', 'UDP/53'],
      };
      for (const overlay of OVERLAYS) {
        const { objects, config } = rendered[overlay];
        const policy = one<INetworkPolicy>(objects, 'NetworkPolicy').spec!;
        assert.deepEqual([...(policy.policyTypes ?? [])].sort(), ['Egress', 'Ingress'], `${overlay}: default deny both ways`);
        // A rule without ports would allow every port.
        for (const rule of [...(policy.ingress ?? []), ...(policy.egress ?? [])]) assert.ok((rule.ports ?? []).length > 0, `${overlay}: every rule names its ports`);
        const ingress = (policy.ingress ?? []).flatMap((r) => (r.ports ?? []).map(portKey)).sort();
        assert.deepEqual(ingress, [`TCP/${config.server.port}`, `TCP/${config.server.metrics!.port}`].sort(), overlay);
        const egress = (policy.egress ?? []).flatMap((r) => (r.ports ?? []).map(portKey)).sort();
        assert.deepEqual(egress, expectedEgress[overlay], overlay);
        for (const rule of policy.egress ?? []) assert.equal(rule.to, undefined, `${overlay}: egress limited by port`);
      }
    });

    test('no secret value in the manifests: provider keys and connection URLs are ${file:} references to the mounted Secret', () => {
      for (const overlay of OVERLAYS) {
        const { config, configText, mounts, deployment, objects } = rendered[overlay];
        assert.ok(!objects.some((o) => o.kind === 'Secret'), `${overlay}: no Secret rendered`);
        const secretRefs = [
          ...Object.values(config.instances).map((i) => i.authentication['api_key']),
          config.storage.postgres?.url,
          config.storage.redis?.url,
        ].filter((v): v is string => v !== undefined);
        assert.ok(secretRefs.length >= 2, overlay);
        for (const ref of secretRefs) assert.match(ref, new RegExp(`^\\$\\{file:${mounts.secrets}/[a-z0-9-]+\\}$`), `${overlay}: ${ref}`);
        assert.deepEqual(fileRefs(configText).filter((p) => !p.startsWith(`${mounts.secrets}/`)), [], `${overlay}: every file reference is in the Secret mount`);
        const secretVolume = deployment.spec!.template.spec!.volumes!.find((v) => v.secret)!;
        const [example] = exampleSecret(overlay) as unknown as ISecret[];
        assert.equal(secretVolume.secret!.secretName, example!.metadata!.name, `${overlay}: the Deployment mounts the Secret the example creates`);
        assert.equal(example!.metadata!.namespace, 'llm');
        assert.deepEqual(
          Object.keys(example!.stringData ?? {}).sort(),
          fileRefs(configText).map((p) => p.slice(mounts.secrets.length + 1)).sort(),
          `${overlay}: the example Secret has exactly the keys the config reads`,
        );
        for (const value of Object.values(example!.stringData ?? {})) assert.match(value, /REPLACE_ME/, `${overlay}: example values are placeholders`);
        assert.equal(config.auth?.api_keys?.bootstrap_admin, false, `${overlay}: no admin key printed into pod logs`);
      }
    });
  });

  describe('availability', () => {
    test('probes: liveness (and start-up) on /health, readiness on /ready, on the gateway port', () => {
      for (const overlay of OVERLAYS) {
        const { container, config } = rendered[overlay];
        const check = (probe: IProbe | undefined, path: string, what: string) => {
          assert.ok(probe?.httpGet, `${overlay}: ${what} is an HTTP probe`);
          assert.equal(probe.httpGet.path, path, `${overlay}: ${what}`);
          assert.equal(containerPort(container, probe.httpGet.port), config.server.port, `${overlay}: ${what} on the gateway port`);
          assert.notEqual(probe.httpGet.scheme, 'HTTPS');
        };
        check(container.livenessProbe, '/health', 'liveness');
        check(container.readinessProbe, '/ready', 'readiness');
        check(container.startupProbe, '/health', 'start-up');
      }
    });

    test('terminationGracePeriodSeconds outlasts the preStop pause plus server.shutdown_timeout', () => {
      for (const overlay of OVERLAYS) {
        const { deployment, container, config } = rendered[overlay];
        const drainSeconds = parseDuration(config.server.shutdown_timeout)! / 1000;
        assert.ok(drainSeconds > 0, overlay);
        const preStop = container.lifecycle?.preStop?.sleep?.seconds ?? 0;
        const grace = deployment.spec!.template.spec!.terminationGracePeriodSeconds!;
        assert.ok(grace > preStop + drainSeconds, `${overlay}: grace ${grace}s > preStop ${preStop}s + drain ${drainSeconds}s`);
      }
    });

    test('ha: several replicas held by the autoscaler, a disruption budget, surge-only rolling updates, PostgreSQL + Redis', () => {
      const { objects, deployment, config } = rendered.ha;
      const hpa = one<IHorizontalPodAutoscaler>(objects, 'HorizontalPodAutoscaler');
      assert.equal(hpa.apiVersion, 'autoscaling/v2');
      assert.ok(hpa.spec!.minReplicas! >= 2, 'at least two replicas');
      assert.ok(hpa.spec!.maxReplicas >= hpa.spec!.minReplicas!);
      assert.equal(deployment.spec!.replicas, undefined, 'the autoscaler owns the replica count; a re-apply must not reset it');
      const pdb = one<IPodDisruptionBudget>(objects, 'PodDisruptionBudget').spec!;
      assert.equal(pdb.maxUnavailable, 1);
      assert.equal(pdb.minAvailable, undefined);
      assert.ok(hpa.spec!.minReplicas! - 1 >= 2, 'a drain leaves at least two replicas serving');
      assert.deepEqual(deployment.spec!.strategy, { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
      assert.ok(config.storage.postgres?.url, 'PostgreSQL store');
      assert.ok(config.storage.redis?.url, 'Redis counters');
      const data = deployment.spec!.template.spec!.volumes!.find((v) => v.name === 'data')!;
      assert.ok(data.emptyDir && data.persistentVolumeClaim === undefined, 'no SQLite volume: a small emptyDir');
      // Local files (the usage/audit journal goes beside the SQLite path) must land on the writable volume.
      assert.ok(config.storage.sqlite?.path.startsWith(`${rendered.ha.mounts.data}/`), 'local files on /data, not under the read-only config mount');
      assert.ok((deployment.spec!.template.spec!.topologySpreadConstraints ?? []).length >= 1, 'replicas spread over nodes/zones');
    });

    test('sqlite-single: exactly one replica, Recreate, SQLite on the claim, no autoscaler or budget, no PostgreSQL or Redis', () => {
      const { objects, deployment, config, mounts } = rendered['sqlite-single'];
      assert.equal(deployment.spec!.replicas, 1);
      assert.deepEqual(deployment.spec!.strategy, { type: 'Recreate' }, 'two pods never open the SQLite file at once');
      assert.ok(!objects.some((o) => o.kind === 'HorizontalPodAutoscaler' || o.kind === 'PodDisruptionBudget'));
      const data = deployment.spec!.template.spec!.volumes!.find((v) => v.name === 'data')!;
      assert.equal(data.emptyDir, undefined);
      const claim = one<IPersistentVolumeClaim>(objects, 'PersistentVolumeClaim', data.persistentVolumeClaim?.claimName);
      assert.deepEqual(claim.spec!.accessModes, ['ReadWriteOnce']);
      assert.equal(config.storage.postgres, undefined);
      assert.equal(config.storage.redis, undefined);
      assert.ok(config.storage.sqlite?.path.startsWith(`${mounts.data}/`), `SQLite file ${config.storage.sqlite?.path} on the claim`);
    });
  });

  describe('workload identity annotations', () => {
    test('the commented IRSA, Azure and GKE annotations, uncommented, make a valid ServiceAccount; the Azure pod label is shown', () => {
      const source = readFileSync(join(KUBERNETES_DIR, 'base', 'serviceaccount.yaml'), 'utf8');
      const uncommented = source.replace(/^ {2}# annotations:$/m, '  annotations:').replace(/^ {2}# {3}([a-z0-9.]+\/[a-z-]+: .*)$/gm, '    $1');
      const [sa] = parseYamlObjects(uncommented, 'serviceaccount.yaml uncommented');
      assert.deepEqual(Object.keys(sa!.metadata.annotations ?? {}).sort(), [
        'azure.workload.identity/client-id',
        'eks.amazonaws.com/role-arn',
        'iam.gke.io/gcp-service-account',
      ]);
      assert.match(sa!.metadata.annotations!['eks.amazonaws.com/role-arn']!, /^arn:aws:iam::\d{12}:role\/.+$/);
      assert.deepEqual([...schemaProblems([sa!]), ...unknownFieldProblems([sa!])], []);
      const deployment = readFileSync(join(KUBERNETES_DIR, 'base', 'deployment.yaml'), 'utf8');
      assert.match(deployment, /^ {8}# azure\.workload\.identity\/use: "true"$/m);
    });
  });

  describe('llmproxy config check on the ConfigMap config', () => {
    let work: string;
    before(() => {
      work = tempDir('llmproxy-k8s-');
    });
    after(() => removeDir(work));

    /**
     * Writes the overlay's config with its mount points moved into a folder of its own:
     * Secret files (from `secrets`) and the data folder. Returns the config's path.
     */
    function stage(overlay: Overlay, name: string, secrets: Record<string, string>, edit?: (text: string) => string): { dir: string; config: string } {
      const { configText, mounts } = rendered[overlay];
      const dir = join(work, name);
      mkdirSync(join(dir, 'secrets'), { recursive: true });
      mkdirSync(join(dir, 'data'), { recursive: true });
      for (const [key, value] of Object.entries(secrets)) writeFileSync(join(dir, 'secrets', key), `${value}\n`, { mode: 0o600 });
      let text = configText.replaceAll(`${mounts.secrets}/`, `${dir}/secrets/`).replaceAll(`${mounts.data}/`, `${dir}/data/`);
      if (edit) text = edit(text);
      assert.deepEqual(fileRefs(text).filter((p) => !p.startsWith(`${dir}/`)), [], 'every referenced file is staged');
      const config = join(dir, 'llmproxy.yaml');
      writeFileSync(config, text);
      return { dir, config };
    }

    /** `config check --json` in a child that may connect to loopback only. */
    async function check(config: string, cwd: string, env: Record<string, string | undefined> = {}): Promise<{ r: CliResult; report: CheckReport }> {
      const r = await runCli(['config', 'check', '--config', config, '--json'], {
        cwd,
        env: { NODE_OPTIONS: `--import ${LOOPBACK_ONLY_URL}`, ...env },
        timeoutMs: 60_000,
      });
      assert.ok(r.stderr.includes(GUARD_ACTIVE), `the loopback-only guard was not preloaded:\n${r.stderr}`);
      assert.ok(!r.stderr.includes(GUARD_MARKER), `config check tried to leave loopback:\n${r.stderr}`);
      let report: CheckReport;
      try {
        report = JSON.parse(r.stdout) as CheckReport;
      } catch {
        throw new Error(`config check printed no JSON (exit ${r.code ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
      }
      return { r, report };
    }

    const providerKeys = () => ({ 'openai-api-key': `sk-placeholder-${Math.random().toString(36).slice(2)}`, 'anthropic-api-key': `sk-ant-placeholder-${Math.random().toString(36).slice(2)}` });

    function assertAllOk(r: CliResult, report: CheckReport, instances: string[], secrets: Record<string, string>): void {
      assert.equal(r.code, 0, `config check failed:\n${r.stdout}\n${r.stderr}`);
      assert.equal(report.ok, true);
      assert.equal(report.store, 'ok');
      assert.deepEqual(report.instances.map((i) => [i.instance, i.status]), instances.map((i) => [i, 'ok']));
      for (const value of Object.values(secrets)) assert.ok(!r.stdout.includes(value) && !r.stderr.includes(value), 'config check printed a secret');
    }

    test('the guard refuses a non-loopback connection (so a passing check really stayed on loopback)', async () => {
      const script = join(work, 'dial.mjs');
      writeFileSync(script, "import net from 'node:net';\nconst s = net.connect({ host: '192.0.2.1', port: 443 });\ns.on('error', (e) => { console.log('error', e.message); });\n");
      const { spawnSync } = await import('node:child_process');
      const r = spawnSync(process.execPath, ['--import', LOOPBACK_ONLY_URL, script], { encoding: 'utf8', timeout: 10_000 });
      assert.match(r.stderr, new RegExp(`${GUARD_MARKER} a connection to 192\\.0\\.2\\.1:443`));
      assert.match(r.stdout, /error LOOPBACK-ONLY-GUARD refused/);
    });

    test('sqlite-single: every instance resolves and the SQLite store opens on the data volume', async () => {
      const secrets = providerKeys();
      const { dir, config } = stage('sqlite-single', 'single', secrets);
      const { r, report } = await check(config, dir);
      assertAllOk(r, report, ['anthropic', 'openai'], secrets);
    });

    test('sqlite-single: a Secret key missing from the mount fails the check, naming the reference, not a value', async () => {
      const secrets = providerKeys();
      const { dir, config } = stage('sqlite-single', 'single-missing', { 'openai-api-key': secrets['openai-api-key'] });
      const { r, report } = await check(config, dir);
      assert.equal(r.code, 1);
      assert.equal(report.ok, false);
      assert.equal(report.store, 'ok', 'only the missing key fails');
      const anthropic = report.instances.find((i) => i.instance === 'anthropic')!;
      assert.equal(anthropic.status, 'error');
      assert.match(anthropic.error!, /anthropic-api-key/);
      assert.equal(report.instances.find((i) => i.instance === 'openai')!.status, 'ok');
      assert.ok(!r.stdout.includes(secrets['openai-api-key']));
    });

    describe('ha, on the local PostgreSQL and Redis', { skip: postgres.skip || redis.skip }, () => {
      let db: Awaited<ReturnType<typeof freshDatabase>> | undefined;
      const prefix = freshRedisPrefix();
      before(async () => {
        db = await freshDatabase();
      });
      after(async () => {
        await db?.drop();
        await prefix.cleanup();
      });

      /** The ha config with its own Redis key prefix (so the machine's Redis keeps no keys of it). */
      const withPrefix = (text: string) => {
        const doc = parseDocument(text);
        assert.equal(doc.getIn(['storage', 'redis', 'key_prefix']), 'llmproxy:');
        doc.setIn(['storage', 'redis', 'key_prefix'], prefix.prefix);
        return doc.toString();
      };

      test('ha: the store (PostgreSQL), the counters (Redis) and every instance resolve through the Secret files', async () => {
        const keys = providerKeys();
        const secrets = { 'postgres-url': db!.url, 'redis-url': redis.url, ...keys };
        const { dir, config } = stage('ha', 'ha', secrets, withPrefix);
        const { r, report } = await check(config, dir);
        assertAllOk(r, report, ['anthropic', 'openai'], keys);
        assert.ok(!r.stdout.includes(db!.url));
      });

      test('ha: `llmproxy serve` with the ConfigMap config passes the probes and drains on SIGTERM within the grace period', async () => {
        const keys = providerKeys();
        const secrets = { 'postgres-url': db!.url, 'redis-url': redis.url, ...keys };
        // Ports chosen by the system (the pod's fixed 8080/9090 may be taken here), everything else as deployed.
        const { dir, config } = stage('ha', 'ha-serve', secrets, (t) => {
          const doc = parseDocument(withPrefix(t));
          doc.setIn(['server', 'metrics', 'port'], 0);
          return doc.toString();
        });
        const { container, deployment } = rendered.ha;
        const gw = await startServe(['--config', config, '--host', '127.0.0.1', '--port', '0'], {
          cwd: dir,
          env: { NODE_OPTIONS: `--import ${LOOPBACK_ONLY_URL}` },
          timeoutMs: 60_000,
        });
        try {
          const listening = gw.logs().find((l) => l['msg'] === 'gateway listening')!;
          const metricsPort = listening['metrics_port'] as number;
          assert.ok(metricsPort > 0 && metricsPort !== gw.port, 'metrics on a listener of its own');
          assert.equal((await fetch(`${gw.url}${container.livenessProbe!.httpGet!.path}`)).status, 200);
          const ready = await fetch(`${gw.url}${container.readinessProbe!.httpGet!.path}`);
          const body = (await ready.json()) as { checks: Record<string, string> };
          assert.equal(ready.status, 200, JSON.stringify(body));
          assert.equal(body.checks['store'], 'ok');
          assert.equal(body.checks['counters'], 'ok');
          const metrics = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
          assert.equal(metrics.status, 200);
          assert.match(await metrics.text(), /^llmproxy_/m);
          assert.ok(!gw.stderr().includes(GUARD_MARKER), gw.stderr());
          // The pod's budget for the drain: the grace period less the preStop pause.
          const budgetMs = (deployment.spec!.template.spec!.terminationGracePeriodSeconds! - (container.lifecycle?.preStop?.sleep?.seconds ?? 0)) * 1000;
          const exit = await gw.stop(budgetMs);
          assert.deepEqual(exit, { code: 0, signal: null }, gw.stdout());
          for (const value of Object.values(secrets)) assert.ok(!gw.stdout().includes(value) && !gw.stderr().includes(value), 'serve logged a secret');
        } finally {
          gw.kill();
        }
      });

      test('ha: an unreachable Redis fails the check (the store is checked for real)', async () => {
        const secrets = { 'postgres-url': db!.url, 'redis-url': 'redis://127.0.0.1:1', ...providerKeys() };
        const { dir, config } = stage('ha', 'ha-no-redis', secrets, withPrefix);
        const { r, report } = await check(config, dir);
        assert.equal(r.code, 1);
        assert.notEqual(report.store, 'ok');
      });

      test('ha with the Bedrock IRSA block uncommented: the credential comes from the web identity the EKS webhook injects (STS on loopback)', async () => {
        const accounts = new AwsAccounts();
        const sa = one<IServiceAccount>(rendered.ha.objects, 'ServiceAccount');
        const token = webIdentityToken({ sub: `system:serviceaccount:${sa.metadata!.namespace}:${sa.metadata!.name}`, aud: 'sts.amazonaws.com' });
        const role = accounts.addRole('llmproxy', { webIdentityTokens: [token] });
        const sts = await new StsEmulator({ accounts, region: 'us-east-1' }).start();
        try {
          const keys = providerKeys();
          const secrets = { 'postgres-url': db!.url, 'redis-url': redis.url, ...keys };
          const { dir, config } = stage('ha', 'ha-irsa', secrets, (t) => withPrefix(uncommentBlock(t, 'bedrock-irsa')));
          writeFileSync(join(dir, 'token'), token);
          // The AWS environment of an IRSA pod, and nothing else of this machine's.
          const env: Record<string, string | undefined> = Object.fromEntries(Object.keys(process.env).filter((k) => k.startsWith('AWS_')).map((k) => [k, undefined]));
          Object.assign(env, {
            AWS_ROLE_ARN: role.arn,
            AWS_WEB_IDENTITY_TOKEN_FILE: join(dir, 'token'),
            AWS_REGION: 'us-east-1',
            AWS_STS_REGIONAL_ENDPOINTS: 'regional',
            AWS_ENDPOINT_URL_STS: sts.url,
            AWS_CONFIG_FILE: join(dir, 'no-such-dir', 'config'),
            AWS_SHARED_CREDENTIALS_FILE: join(dir, 'no-such-dir', 'credentials'),
            AWS_EC2_METADATA_DISABLED: 'true',
          });
          const { r, report } = await check(config, dir, env);
          assertAllOk(r, report, ['anthropic', 'bedrock_us1', 'openai'], { token, ...keys });
          assert.equal(report.instances.find((i) => i.instance === 'bedrock_us1')!.type, 'bedrock');
          assert.ok((sts.calls['AssumeRoleWithWebIdentity'] ?? 0) >= 1, 'STS was asked for the role with the pod token');
        } finally {
          await sts.close();
        }
      });
    });
  });

  describe('the overlays the platform guides show (docs/deploy-*.md)', () => {
    const DOCS = join(REPO_ROOT, 'docs');
    // The platform guides that deploy these manifests (deploy.md is their index).
    const guides = ['deploy-aks.md', 'deploy-eks.md', 'deploy-gke.md', 'deploy-ibm-cloud.md', 'deploy-kubernetes.md', 'deploy-oke.md'];

    /** `# prod/<file>` YAML blocks of a guide: the file name, an "(add ... under patches)" note, the text. */
    const prodBlocks = (text: string) =>
      [...text.matchAll(/```yaml\n# prod\/([a-z-]+\.yaml)([^\n]*)\n(.*?)```/gs)].map((m) => ({ file: m[1]!, note: m[2]!.trim(), text: `# prod/${m[1]}\n${m[3]}` }));

    test('each platform guide shows an overlay of its own', () => {
      for (const guide of guides) {
        const files = prodBlocks(readFileSync(join(DOCS, guide), 'utf8')).map((b) => b.file);
        assert.ok(files.includes('kustomization.yaml') && files.includes('identity.yaml'), `${guide} shows prod/kustomization.yaml and prod/identity.yaml`);
      }
    });

    for (const guide of guides) {
      const blocks = prodBlocks(readFileSync(join(DOCS, guide), 'utf8'));
      const kustomization = blocks.find((b) => b.file === 'kustomization.yaml' && b.note === '');
      if (!kustomization) continue;
      // One render per identity.yaml the guide shows, and one more per optional patch ("(add `- path: x.yaml` under patches)").
      const variants = blocks.filter((b) => b.file === 'identity.yaml' && b.note === '').map((identity) => [identity]);
      for (const extra of blocks.filter((b) => /^\(add `- path: [a-z-]+\.yaml` under patches\)$/.test(b.note))) variants.push([...variants[0]!, extra]);

      for (const [n, patches] of variants.entries()) {
        test(`${guide}: the overlay ${patches.map((p) => p.file).join(' + ')} renders to valid objects whose references resolve`, () => {
          const dir = tempDir('llmproxy-guide-');
          try {
            mkdirSync(join(dir, 'llm-proxy-auth'));
            symlinkSync(join(REPO_ROOT, 'deploy'), join(dir, 'llm-proxy-auth', 'deploy'));
            const prod = join(dir, 'prod');
            mkdirSync(prod);
            let k = kustomization.text;
            for (const extra of patches.slice(1)) k = k.replace(/^patches:\n/m, `patches:\n  - path: ${extra.file}\n`);
            writeFileSync(join(prod, 'kustomization.yaml'), k);
            for (const p of patches) writeFileSync(join(prod, p.file), p.text);
            // The files the guide's configMapGenerator names: the overlay's config, a placeholder credentials file.
            const base = /resources:\n\s+- \.\.\/llm-proxy-auth\/deploy\/kubernetes\/overlays\/([a-z-]+)/.exec(k)?.[1];
            assert.ok(base === 'ha' || base === 'sqlite-single', `${guide}: builds on an overlay of deploy/kubernetes`);
            writeFileSync(join(prod, 'llmproxy.yaml'), readFileSync(join(KUBERNETES_DIR, 'overlays', base, 'llmproxy.yaml')));
            writeFileSync(join(prod, 'gcp-credentials.json'), '{"type":"external_account"}\n');
            const objects = renderDir(kubectl, prod);
            assert.deepEqual([...schemaProblems(objects), ...unknownFieldProblems(objects)], [], `${guide} variant ${n}`);
            const { deployment, container } = pieces(objects);
            const volumes = new Set((deployment.spec!.template.spec!.volumes ?? []).map((v) => v.name));
            for (const m of container.volumeMounts ?? []) assert.ok(volumes.has(m.name), `${guide}: mount ${m.mountPath} has a volume`);
            assert.doesNotMatch(container.image!, /^ghcr\.io\/llm-proxy-auth\//, `${guide}: the image points at the guide's registry`);
            assert.equal(deployment.spec!.template.spec!.containers[0]!.securityContext?.readOnlyRootFilesystem, true);
          } finally {
            removeDir(dir);
          }
        });
      }
    }

    test('every gateway config in the guides passes the config schema', () => {
      let checked = 0;
      for (const guide of guides) {
        const text = readFileSync(join(DOCS, guide), 'utf8');
        for (const [i, m] of [...text.matchAll(/```yaml\n(.*?)```/gs)].entries()) {
          const block = m[1]!;
          if (!/^instances:/m.test(block) || /^apiVersion:/m.test(block)) continue;
          assert.doesNotThrow(() => parseConfigText(block, `${guide} block ${i}`), `${guide} block ${i}`);
          // Beside PostgreSQL, local files (the journal) go next to the SQLite path: it must be on the /data volume.
          const storage = (parseYaml(block) as Partial<GatewayConfig>).storage;
          if (storage?.postgres) assert.ok(storage.sqlite?.path.startsWith('/data/'), `${guide} block ${i}: storage.sqlite.path on /data`);
          checked++;
        }
      }
      assert.ok(checked >= 10, `only ${checked} configs found`);
    });
  });
});
