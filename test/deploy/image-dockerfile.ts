import { posix } from 'node:path';

/**
 * Just enough of the Dockerfile and .dockerignore grammars for the image tests to read the
 * project's own files: the tests take the runtime stage's COPY, ENV, USER, WORKDIR, ENTRYPOINT...
 * from the Dockerfile itself, so the tests and the image cannot drift apart.
 *
 * @example
 * const stages = parseDockerfile(readFileSync('Dockerfile', 'utf8'));
 * const runtime = stages.at(-1)!;
 * const user = runtime.instructions.find((i) => i.keyword === 'USER')?.args; // "65532:65532"
 */

export interface Instruction {
  /** Upper-cased: FROM, RUN, COPY, ENV... */
  keyword: string;
  /** Everything after the keyword, continuation lines joined. */
  args: string;
  /** 1-based line of the keyword. */
  line: number;
}

export interface Stage {
  /** The base image (`FROM <image>`). */
  from: string;
  /** `AS <name>`, lower-cased as Docker treats it. */
  name: string | undefined;
  instructions: Instruction[];
}

export function parseDockerfile(text: string): Stage[] {
  const instructions: Instruction[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const first = lines[i]!.trim();
    if (first === '' || first.startsWith('#')) continue;
    const line = i + 1;
    let joined = first;
    // A trailing backslash continues the instruction; comment lines inside one are dropped.
    while (joined.endsWith('\\') && i + 1 < lines.length) {
      joined = joined.slice(0, -1).trimEnd();
      i++;
      const next = lines[i]!.trim();
      if (next.startsWith('#')) {
        joined += '\\';
        continue;
      }
      joined += ` ${next}`;
    }
    const m = /^(\S+)\s*([\s\S]*)$/.exec(joined)!;
    instructions.push({ keyword: m[1]!.toUpperCase(), args: m[2]!.trim(), line });
  }
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const m = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (!m) throw new Error(`Dockerfile line ${ins.line}: cannot read FROM ${ins.args}`);
      stages.push({ from: m[1]!, name: m[2]?.toLowerCase(), instructions: [] });
    } else {
      const stage = stages.at(-1);
      if (!stage) throw new Error(`Dockerfile line ${ins.line}: ${ins.keyword} before any FROM`);
      stage.instructions.push(ins);
    }
  }
  return stages;
}

/** `["a", "b"]` (exec form) as a list; undefined for the shell form. */
export function execForm(args: string): string[] | undefined {
  if (!args.startsWith('[')) return undefined;
  const parsed: unknown = JSON.parse(args);
  if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === 'string')) throw new Error(`not a JSON string array: ${args}`);
  return parsed as string[];
}

/** Shell-like words: whitespace-separated, with "double" and 'single' quotes and backslash escapes. */
export function words(args: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  for (let i = 0; i < args.length; i++) {
    const c = args[i]!;
    if (c === '"' || c === "'") {
      const end = args.indexOf(c, i + 1);
      if (end < 0) throw new Error(`unterminated quote in: ${args}`);
      cur += c === '"' ? args.slice(i + 1, end).replace(/\\(.)/g, '$1') : args.slice(i + 1, end);
      i = end;
      inWord = true;
    } else if (c === '\\' && i + 1 < args.length) {
      cur += args[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) out.push(cur);
  return out;
}

/** `ENV A=1 B="two words"` (or the legacy `ENV A 1`) as pairs, in order. */
export function keyValues(args: string): Array<[string, string]> {
  const w = words(args);
  if (w.length > 0 && !w[0]!.includes('=')) {
    const m = /^(\S+)\s+([\s\S]*)$/.exec(args);
    return m ? [[m[1]!, m[2]!]] : [[w[0]!, '']];
  }
  return w.map((kv) => {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new Error(`not KEY=VALUE: ${kv} (in ${args})`);
    return [kv.slice(0, eq), kv.slice(eq + 1)];
  });
}

export interface CopyInstruction {
  /** `--from=<stage>`; undefined for the build context. */
  from: string | undefined;
  /** `--chown=<uid>:<gid>`, as written. */
  chown: string | undefined;
  chmod: string | undefined;
  sources: string[];
  dest: string;
  line: number;
}

export function parseCopy(ins: Instruction): CopyInstruction {
  const w = execForm(ins.args) ?? words(ins.args);
  const flags = new Map<string, string>();
  while (w.length > 0 && w[0]!.startsWith('--')) {
    const f = w.shift()!;
    const eq = f.indexOf('=');
    flags.set(eq < 0 ? f.slice(2) : f.slice(2, eq), eq < 0 ? 'true' : f.slice(eq + 1));
  }
  for (const k of flags.keys()) {
    if (!['from', 'chown', 'chmod', 'link'].includes(k)) throw new Error(`Dockerfile line ${ins.line}: COPY --${k} is not understood by the image tests`);
  }
  if (w.length < 2) throw new Error(`Dockerfile line ${ins.line}: COPY needs a source and a destination`);
  return { from: flags.get('from'), chown: flags.get('chown'), chmod: flags.get('chmod'), sources: w.slice(0, -1), dest: w.at(-1)!, line: ins.line };
}

export interface Healthcheck {
  options: Record<string, string>;
  /** The CMD, exec form. */
  command: string[];
}

export function parseHealthcheck(args: string): Healthcheck | 'NONE' {
  if (args.trim().toUpperCase() === 'NONE') return 'NONE';
  const options: Record<string, string> = {};
  let rest = args.trim();
  for (let m = /^--([a-z-]+)=(\S+)\s+/.exec(rest); m; m = /^--([a-z-]+)=(\S+)\s+/.exec(rest)) {
    options[m[1]!] = m[2]!;
    rest = rest.slice(m[0].length);
  }
  const cmd = /^CMD\s+([\s\S]+)$/i.exec(rest);
  const command = cmd ? execForm(cmd[1]!) : undefined;
  if (!command) throw new Error(`HEALTHCHECK must use CMD in exec form: ${args}`);
  return { options, command };
}

/**
 * The .dockerignore rules as BuildKit applies them (moby/patternmatcher): patterns in order, the
 * last one that matches a path or one of its parent folders wins; `!` re-includes; `**` spans
 * folders, `*` and `?` stay within one.
 *
 * @example
 * const ignore = new DockerIgnore(readFileSync('.dockerignore', 'utf8'));
 * ignore.excludes('src/cli/main.ts'); // false
 */
export class DockerIgnore {
  private readonly patterns: Array<{ negated: boolean; regex: RegExp; text: string }> = [];

  constructor(text: string) {
    for (const raw of text.split('\n')) {
      let p = raw.trim();
      if (p === '' || p.startsWith('#')) continue;
      const negated = p.startsWith('!');
      if (negated) p = p.slice(1).trim();
      p = posix.normalize(p).replace(/^\/+/, '').replace(/\/+$/, '');
      this.patterns.push({ negated, regex: globToRegex(p), text: raw.trim() });
    }
  }

  /** True when `path` (relative to the context, `/`-separated) is left out of the build context. */
  excludes(path: string): boolean {
    const clean = posix.normalize(path).replace(/^\/+/, '');
    const parts = clean.split('/');
    const candidates = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
    let excluded = false;
    for (const p of this.patterns) {
      if (candidates.some((c) => p.regex.test(c))) excluded = !p.negated;
    }
    return excluded;
  }
}

function globToRegex(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*' && pattern[i + 1] === '*') {
      i++;
      if (pattern[i + 1] === '/') {
        i++;
        re += '(?:.*/)?'; // "**/" : zero or more folders
      } else {
        re += '.*';
      }
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) re += '\\[';
      else {
        re += `[${pattern.slice(i + 1, end).replace(/^!/, '^')}]`;
        i = end;
      }
    } else if (c === '\\' && i + 1 < pattern.length) re += `\\${pattern[++i]}`;
    else re += c.replace(/[.+^${}()|\\/]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}
