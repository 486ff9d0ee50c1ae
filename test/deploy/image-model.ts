import { readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  DockerIgnore,
  execForm,
  keyValues,
  parseCopy,
  parseDockerfile,
  parseHealthcheck,
  words,
  type CopyInstruction,
  type Healthcheck,
  type Stage,
} from './image-dockerfile.js';

/**
 * The image as the Dockerfile describes it: the runtime stage's configuration (what `docker run`
 * uses) and its COPY lines, plus what the build stages run, checked against the commands the
 * layout test knows how to reproduce. A Dockerfile change the test cannot reproduce fails here
 * with the line, instead of the test quietly checking something else than the image.
 *
 * @example
 * const image = readImageModel();
 * image.entrypoint; // ['/nodejs/bin/node', '/app/dist/src/cli/main.js']
 */
export interface ImageModel {
  runtime: Stage;
  /** `gcr.io/distroless/nodejs22-debian12` -> 22. */
  nodeMajor: number;
  /** The base image's own environment (distroless sets these) and then the Dockerfile's ENV lines. */
  env: Record<string, string>;
  uid: number;
  gid: number;
  workdir: string;
  entrypoint: string[];
  cmd: string[];
  expose: string[];
  volumes: string[];
  stopSignal: string | undefined;
  healthcheck: Healthcheck | 'NONE' | undefined;
  labels: Record<string, string>;
  /** The runtime stage's COPY lines, in order. */
  copies: CopyInstruction[];
  /** The runtime stage's instructions other than FROM and COPY, verbatim, in order (for a Containerfile). */
  config: string[];
  /** The build stages' RUN commands, split at `&&`, by stage name. */
  runs: Map<string, string[]>;
  /** The build stages' COPY lines, by stage name. */
  stageCopies: Map<string, CopyInstruction[]>;
  stageFrom: Map<string, string>;
  /** Each build stage's last WORKDIR. */
  stageWorkdir: Map<string, string>;
  ignore: DockerIgnore;
}

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** What distroless' base image config sets before the Dockerfile's own ENV (GoogleContainerTools/distroless base). */
export const DISTROLESS_ENV = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  SSL_CERT_FILE: '/etc/ssl/certs/ca-certificates.crt',
};

export function readImageModel(root = REPO_ROOT): ImageModel {
  const stages = parseDockerfile(readFileSync(join(root, 'Dockerfile'), 'utf8'));
  const runtime = stages.at(-1);
  if (!runtime) throw new Error('Dockerfile has no stage');
  const distroless = /^gcr\.io\/distroless\/nodejs(\d+)-debian(\d+)(?::[\w.-]+)?(?:@sha256:[0-9a-f]{64})?$/.exec(runtime.from);
  if (!distroless) throw new Error(`the runtime stage must be distroless Node (gcr.io/distroless/nodejsNN-debianNN), not ${runtime.from}`);

  const env: Record<string, string> = { ...DISTROLESS_ENV };
  const labels: Record<string, string> = {};
  const expose: string[] = [];
  const volumes: string[] = [];
  const copies: CopyInstruction[] = [];
  const config: string[] = [];
  let workdir = '/';
  let user: string | undefined;
  let entrypoint: string[] | undefined;
  let cmd: string[] | undefined;
  let stopSignal: string | undefined;
  let healthcheck: Healthcheck | 'NONE' | undefined;
  for (const ins of runtime.instructions) {
    if (ins.keyword !== 'COPY') config.push(`${ins.keyword} ${ins.args}`);
    switch (ins.keyword) {
      case 'COPY':
        copies.push(parseCopy(ins));
        break;
      case 'WORKDIR':
        workdir = posix.resolve(workdir, ins.args);
        break;
      case 'ENV':
        for (const [k, v] of keyValues(ins.args)) env[k] = v;
        break;
      case 'LABEL':
        for (const [k, v] of keyValues(ins.args)) labels[k] = v;
        break;
      case 'USER':
        user = ins.args;
        break;
      case 'EXPOSE':
        expose.push(...words(ins.args));
        break;
      case 'VOLUME':
        volumes.push(...(execForm(ins.args) ?? words(ins.args)));
        break;
      case 'STOPSIGNAL':
        stopSignal = ins.args;
        break;
      case 'HEALTHCHECK':
        healthcheck = parseHealthcheck(ins.args);
        break;
      case 'ENTRYPOINT':
        entrypoint = execForm(ins.args);
        if (!entrypoint) throw new Error(`Dockerfile line ${ins.line}: ENTRYPOINT must be exec form (distroless has no shell)`);
        break;
      case 'CMD':
        cmd = execForm(ins.args);
        if (!cmd) throw new Error(`Dockerfile line ${ins.line}: CMD must be exec form (distroless has no shell)`);
        break;
      default:
        throw new Error(`Dockerfile line ${ins.line}: ${ins.keyword} in the runtime stage is not understood by the image tests (distroless cannot RUN)`);
    }
  }
  const ids = /^(\d+):(\d+)$/.exec(user ?? '');
  if (!ids) throw new Error(`the runtime stage needs a numeric USER uid:gid (got ${user ?? 'none'})`);
  if (!entrypoint) throw new Error('the runtime stage has no ENTRYPOINT');

  const runs = new Map<string, string[]>();
  const stageCopies = new Map<string, CopyInstruction[]>();
  const stageFrom = new Map<string, string>();
  const stageWorkdir = new Map<string, string>();
  for (const stage of stages.slice(0, -1)) {
    if (!stage.name) throw new Error(`build stage FROM ${stage.from} needs a name (AS ...)`);
    stageFrom.set(stage.name, stage.from);
    stageWorkdir.set(stage.name, stage.instructions.filter((i) => i.keyword === 'WORKDIR').reduce((wd, i) => posix.resolve(wd, i.args), '/'));
    runs.set(
      stage.name,
      stage.instructions.filter((i) => i.keyword === 'RUN').flatMap((i) => i.args.split('&&').map((c) => c.trim())),
    );
    stageCopies.set(stage.name, stage.instructions.filter((i) => i.keyword === 'COPY').map(parseCopy));
  }

  return {
    runtime,
    nodeMajor: Number(distroless[1]),
    env,
    uid: Number(ids[1]),
    gid: Number(ids[2]),
    workdir,
    entrypoint,
    cmd: cmd ?? [],
    expose,
    volumes,
    stopSignal,
    healthcheck,
    labels,
    copies,
    config,
    runs,
    stageCopies,
    stageFrom,
    stageWorkdir,
    ignore: new DockerIgnore(readFileSync(join(root, '.dockerignore'), 'utf8')),
  };
}
