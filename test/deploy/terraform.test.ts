import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';

/**
 * deploy/terraform/aws-irsa: Terraform is not installable here, so the module is read with
 * HashiCorp's own HCL parser (the Go `hcl` library compiled to WebAssembly in `@cdktf/hcl2json`,
 * offline), its expressions evaluated by a small evaluator for the subset the module uses, and
 * every `aws_iam_policy_document` rendered to policy JSON the way the AWS provider renders it.
 * The tests then check that the policies are valid IAM JSON and least privilege: exact action
 * lists, no wildcard in any action or resource, resources only from variables, the trust scoped
 * to one service account with both `sub` and `aud`, the Secrets Manager policy present only when
 * secrets are listed, and the variables' validations refusing wildcards.
 */

interface Hcl2Json {
  parse(filename: string, contents: string): Promise<Record<string, unknown>>;
  getExpressionAst(filename: string, expression: string): Promise<AstNode | null>;
}
// Loaded without its type declarations: they pull the DOM library into the whole program.
const hcl = createRequire(import.meta.url)('@cdktf/hcl2json') as Hcl2Json;

interface AstNode {
  type: string;
  meta: Record<string, unknown>;
  children: AstNode[];
}

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const MODULE_DIR = join(REPO_ROOT, 'deploy', 'terraform', 'aws-irsa');

type Value = string | number | boolean | null | Value[] | { [key: string]: Value } | Ref;
/** A value Terraform knows only after apply (`aws_iam_role.llmproxy.arn`): kept symbolic. */
class Ref {
  constructor(readonly path: string) {}
  toString(): string {
    return `\${${this.path}}`;
  }
}

type Blocks = Record<string, Array<Record<string, unknown>>>;
interface Module {
  resource: Record<string, Blocks>;
  data: Record<string, Blocks>;
  variable: Blocks;
  output: Blocks;
  locals: Array<Record<string, unknown>>;
  terraform: Array<Record<string, unknown>>;
}

async function parseModule(): Promise<{ module: Module; files: string[] }> {
  const files = readdirSync(MODULE_DIR).filter((f) => f.endsWith('.tf')).sort();
  const module: Module = { resource: {}, data: {}, variable: {}, output: {}, locals: [], terraform: [] };
  for (const file of files) {
    const parsed = await hcl.parse(file, readFileSync(join(MODULE_DIR, file), 'utf8'));
    for (const [key, value] of Object.entries(parsed)) {
      if (key === 'locals' || key === 'terraform') module[key].push(...(value as Array<Record<string, unknown>>));
      else if (key === 'variable' || key === 'output') Object.assign(module[key], value);
      else if (key === 'resource' || key === 'data') {
        for (const [type, blocks] of Object.entries(value as Record<string, Blocks>)) module[key][type] = { ...module[key][type], ...blocks };
      } else throw new Error(`${file}: unexpected top-level block "${key}"`);
    }
  }
  return { module, files };
}

/**
 * Evaluates the module's expressions for one set of variable values: `var.*`, `local.*`,
 * template strings, the functions and operators the module uses, `for` expressions, and
 * `data.aws_iam_policy_document.<name>[i].json` (rendered). Anything else throws, so an
 * expression the evaluator does not understand can never pass unnoticed.
 */
class Evaluator {
  readonly #module: Module;
  readonly #vars: Record<string, Value>;
  readonly #asts = new Map<string, AstNode>();
  readonly #locals = new Map<string, Promise<Value>>();

  constructor(module: Module, vars: Record<string, Value>) {
    this.#module = module;
    this.#vars = vars;
  }

  /** A value from the parsed module: strings with `${...}` are evaluated, containers recursively. */
  async value(raw: unknown, scope: Record<string, Value> = {}): Promise<Value> {
    if (typeof raw === 'string') return raw.includes('${') ? this.#evaluate(await this.#ast(raw), scope) : raw;
    if (Array.isArray(raw)) return Promise.all(raw.map((r) => this.value(r, scope)));
    if (raw !== null && typeof raw === 'object') {
      const out: Record<string, Value> = {};
      for (const [k, v] of Object.entries(raw)) out[k] = await this.value(v, scope);
      return out;
    }
    if (raw === null || typeof raw === 'number' || typeof raw === 'boolean') return raw;
    throw new Error(`unexpected value ${String(raw)}`);
  }

  async #ast(text: string): Promise<AstNode> {
    let ast = this.#asts.get(text);
    if (!ast) {
      if (/["\\]/.test(literalParts(text))) throw new Error(`unsupported template (quotes outside interpolations): ${text}`);
      const parsed = await hcl.getExpressionAst('expression.tf', `"${text}"`);
      if (!parsed) throw new Error(`no expression in ${text}`);
      ast = parsed;
      this.#asts.set(text, ast);
    }
    return ast;
  }

  async #evaluate(node: AstNode, scope: Record<string, Value>): Promise<Value> {
    const kids = node.children;
    const ev = (n: AstNode) => this.#evaluate(n, scope);
    switch (node.type) {
      case 'templateWrap':
        return ev(kids[0]!);
      case 'template': {
        const parts = await Promise.all(kids.map(ev));
        if (parts.length === 1 && typeof parts[0] !== 'string') return parts[0]!;
        return parts.map((p) => (p instanceof Ref || typeof p === 'string' || typeof p === 'number' ? String(p) : JSON.stringify(p))).join('');
      }
      case 'literalValue': {
        const { type, value } = node.meta as { type: string; value: string };
        if (type === 'string') return value;
        if (type === 'number') return Number(value);
        if (type === 'bool') return value === 'true';
        if (type === 'dynamic' && value === 'null') return null;
        throw new Error(`unsupported literal ${type} ${value}`);
      }
      case 'tuple':
        return Promise.all(kids.map(ev));
      case 'scopeTraversal':
        return this.#traverse(String(node.meta['fullAccessor']), scope);
      case 'conditional':
        return (await this.#bool(kids[0]!, scope)) ? ev(kids[1]!) : ev(kids[2]!);
      case 'unaryOp':
        if (node.meta['operator'] === 'logicalNot') return !(await this.#bool(kids[0]!, scope));
        throw new Error(`unsupported unary operator ${String(node.meta['operator'])}`);
      case 'binaryOp':
        return this.#binary(String(node.meta['operator']), kids[0]!, kids[1]!, scope);
      case 'for': {
        const { valVar, keyVar, groupedValue } = node.meta as { valVar: string; keyVar: string; groupedValue: boolean };
        if (kids.length !== 2 || groupedValue) throw new Error(`unsupported for expression ${String(node.meta['value'])}`);
        const collection = await ev(kids[0]!);
        if (!Array.isArray(collection)) throw new Error(`for over a non-list: ${String(node.meta['value'])}`);
        const out: Value[] = [];
        for (const [i, item] of collection.entries()) {
          out.push(await this.#evaluate(kids[1]!, { ...scope, [valVar]: item, ...(keyVar ? { [keyVar]: i } : {}) }));
        }
        return out;
      }
      case 'function':
        return this.#call(String(node.meta['name']), kids, scope);
      default:
        throw new Error(`unsupported expression ${node.type}: ${String(node.meta['value'])}`);
    }
  }

  async #bool(node: AstNode, scope: Record<string, Value>): Promise<boolean> {
    const v = await this.#evaluate(node, scope);
    if (typeof v !== 'boolean') throw new Error(`not a bool: ${String(node.meta['value'])}`);
    return v;
  }

  async #number(node: AstNode, scope: Record<string, Value>): Promise<number> {
    const v = await this.#evaluate(node, scope);
    if (typeof v !== 'number') throw new Error(`not a number: ${String(node.meta['value'])}`);
    return v;
  }

  async #binary(op: string, lhs: AstNode, rhs: AstNode, scope: Record<string, Value>): Promise<Value> {
    switch (op) {
      case 'logicalAnd':
        return (await this.#bool(lhs, scope)) && (await this.#bool(rhs, scope));
      case 'logicalOr':
        return (await this.#bool(lhs, scope)) || (await this.#bool(rhs, scope));
      case 'greaterThan':
        return (await this.#number(lhs, scope)) > (await this.#number(rhs, scope));
      case 'greaterThanOrEqual':
        return (await this.#number(lhs, scope)) >= (await this.#number(rhs, scope));
      case 'lessThan':
        return (await this.#number(lhs, scope)) < (await this.#number(rhs, scope));
      case 'lessThanOrEqual':
        return (await this.#number(lhs, scope)) <= (await this.#number(rhs, scope));
      case 'equal':
        return JSON.stringify(await this.#evaluate(lhs, scope)) === JSON.stringify(await this.#evaluate(rhs, scope));
      case 'notEqual':
        return JSON.stringify(await this.#evaluate(lhs, scope)) !== JSON.stringify(await this.#evaluate(rhs, scope));
      default:
        throw new Error(`unsupported operator ${op}`);
    }
  }

  async #call(name: string, args: AstNode[], scope: Record<string, Value>): Promise<Value> {
    if (name === 'can') {
      try {
        await this.#evaluate(args[0]!, scope);
        return true;
      } catch {
        return false;
      }
    }
    const values = await Promise.all(args.map((a) => this.#evaluate(a, scope)));
    const [a, b] = values;
    switch (name) {
      case 'length':
        if (Array.isArray(a)) return a.length;
        if (typeof a === 'string') return [...a].length;
        throw new Error('length of a non-list');
      case 'split':
        if (typeof a !== 'string' || typeof b !== 'string') throw new Error('split needs two strings');
        return b.split(a);
      case 'element':
        if (!Array.isArray(a) || typeof b !== 'number' || a.length === 0) throw new Error('element needs a non-empty list and an index');
        return a[b % a.length]!;
      case 'alltrue':
        if (!Array.isArray(a) || !a.every((x) => typeof x === 'boolean')) throw new Error('alltrue needs a list of bools');
        return a.every((x) => x === true);
      case 'regex': {
        // Terraform's regex() fails when nothing matches (hence can(regex(...))). The patterns
        // here use only syntax that RE2 and JavaScript read the same way.
        if (typeof a !== 'string' || typeof b !== 'string') throw new Error('regex needs two strings');
        const m = new RegExp(a).exec(b);
        if (!m) throw new Error(`regex ${a} does not match ${b}`);
        return m[0];
      }
      default:
        throw new Error(`unsupported function ${name}()`);
    }
  }

  async #traverse(path: string, scope: Record<string, Value>): Promise<Value> {
    if (Object.hasOwn(scope, path)) return scope[path]!;
    const [root, name, ...rest] = path.split('.');
    if (root === 'var' && rest.length === 0) {
      if (!Object.hasOwn(this.#vars, name!)) throw new Error(`var.${name} has no value`);
      return this.#vars[name!]!;
    }
    if (root === 'local' && rest.length === 0) {
      let local = this.#locals.get(name!);
      if (!local) {
        const block = this.#module.locals.find((l) => Object.hasOwn(l, name!));
        if (!block) throw new Error(`local.${name} is not defined`);
        local = this.value(block[name!]);
        this.#locals.set(name!, local);
      }
      return local;
    }
    const doc = /^data\.aws_iam_policy_document\.([a-z_]+)(?:\[(\d+)\])?\.json$/.exec(path);
    if (doc) {
      const rendered = await this.policyDocuments(doc[1]!);
      const index = Number(doc[2] ?? 0);
      if (rendered.length <= index) throw new Error(`${path}: the data source has count ${rendered.length}`);
      return JSON.stringify(rendered[index]);
    }
    if (/^aws_iam_role\.[a-z_]+\.(arn|id|name)$/.test(path)) return new Ref(path);
    throw new Error(`unsupported reference ${path}`);
  }

  /** `count` of a block: 1 when it has none. */
  async count(block: Record<string, unknown>): Promise<number> {
    if (!('count' in block)) return 1;
    const n = await this.value(block['count']);
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) throw new Error(`count is not a whole number: ${String(block['count'])}`);
    return n;
  }

  /**
   * `data.aws_iam_policy_document.<name>` rendered as the AWS provider does (one document per
   * `count` instance): Version 2012-10-17, a Statement per block, single values unwrapped.
   */
  async policyDocuments(name: string): Promise<IamPolicy[]> {
    const [block] = this.#module.data['aws_iam_policy_document']?.[name] ?? [];
    if (!block) throw new Error(`no data.aws_iam_policy_document.${name}`);
    const known = new Set(['count', 'statement', 'version']);
    for (const key of Object.keys(block)) if (!known.has(key)) throw new Error(`aws_iam_policy_document.${name}: unsupported argument ${key}`);
    const docs: IamPolicy[] = [];
    for (let i = await this.count(block); i > 0; i--) {
      const statements: IamStatement[] = [];
      for (const raw of block['statement'] as Array<Record<string, unknown>>) {
        const s = (await this.value(raw)) as Record<string, Value>;
        for (const key of Object.keys(s)) {
          if (!['sid', 'effect', 'actions', 'resources', 'principals', 'condition'].includes(key)) throw new Error(`${name}: unsupported statement argument ${key}`);
        }
        const statement: IamStatement = { Effect: (s['effect'] as string | undefined) ?? 'Allow', Action: unwrap(s['actions'] as string[]) };
        if (s['sid'] !== undefined) statement.Sid = s['sid'] as string;
        if (s['resources'] !== undefined) statement.Resource = unwrap(s['resources'] as string[]);
        if (s['principals'] !== undefined) {
          statement.Principal = {};
          for (const p of s['principals'] as Array<{ type: string; identifiers: string[] }>) statement.Principal[p.type] = unwrap(p.identifiers);
        }
        if (s['condition'] !== undefined) {
          statement.Condition = {};
          for (const c of s['condition'] as Array<{ test: string; variable: string; values: string[] }>) {
            (statement.Condition[c.test] ??= {})[c.variable] = unwrap(c.values);
          }
        }
        statements.push(statement);
      }
      docs.push({ Version: block['version'] === undefined ? '2012-10-17' : String(await this.value(block['version'])), Statement: statements });
    }
    return docs;
  }
}

/** The text of a template outside its `${...}` interpolations (which may nest braces and strings). */
function literalParts(text: string): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    if (text.startsWith('$${', i)) {
      out += '$${';
      i += 3;
    } else if (text.startsWith('${', i)) {
      let depth = 1;
      i += 2;
      let quoted = false;
      for (; i < text.length && depth > 0; i++) {
        const c = text[i];
        if (quoted) {
          if (c === '\\') i++;
          else if (c === '"') quoted = false;
        } else if (c === '"') quoted = true;
        else if (c === '{') depth++;
        else if (c === '}') depth--;
      }
      if (depth !== 0) throw new Error(`unterminated interpolation in ${text}`);
    } else {
      out += text[i];
      i++;
    }
  }
  return out;
}

const unwrap = (list: string[]): string | string[] => (list.length === 1 ? list[0]! : list);

interface IamStatement {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource?: string | string[];
  Principal?: Record<string, string | string[]>;
  Condition?: Record<string, Record<string, string | string[]>>;
}
interface IamPolicy {
  Version: string;
  Statement: IamStatement[];
}

const asList = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

const CONDITION_OPERATORS = new Set([
  'StringEquals', 'StringNotEquals', 'StringEqualsIgnoreCase', 'StringNotEqualsIgnoreCase', 'StringLike', 'StringNotLike',
  'ArnEquals', 'ArnLike', 'ArnNotEquals', 'ArnNotLike', 'Bool', 'IpAddress', 'NotIpAddress', 'NumericEquals', 'NumericLessThan',
  'NumericGreaterThan', 'DateLessThan', 'DateGreaterThan', 'Null',
]);

/**
 * Why `policy` (as JSON text) is not a valid IAM policy of its kind: the grammar of
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html for the
 * elements used here, the size quotas (2,048 characters for a trust policy by default, 10,240
 * for a role's inline policies), and no wildcard in any action or resource.
 */
function iamProblems(json: string, kind: 'trust' | 'identity'): string[] {
  const problems: string[] = [];
  const limit = kind === 'trust' ? 2048 : 10_240;
  if (json.replace(/\s/g, '').length > limit) problems.push(`longer than ${limit} characters`);
  const policy = JSON.parse(json) as Record<string, unknown>;
  if (policy['Version'] !== '2012-10-17') problems.push(`Version ${String(policy['Version'])}`);
  for (const key of Object.keys(policy)) if (!['Version', 'Id', 'Statement'].includes(key)) problems.push(`unknown element ${key}`);
  const statements = policy['Statement'];
  if (!Array.isArray(statements) || statements.length === 0) return [...problems, 'Statement is not a non-empty array'];
  for (const [i, s] of (statements as Array<Record<string, unknown>>).entries()) {
    const at = `Statement[${i}]`;
    for (const key of Object.keys(s)) if (!['Sid', 'Effect', 'Action', 'Resource', 'Principal', 'Condition'].includes(key)) problems.push(`${at}: element ${key}`);
    if (s['Sid'] !== undefined && !/^[A-Za-z0-9]+$/.test(String(s['Sid']))) problems.push(`${at}: Sid must be alphanumeric`);
    if (s['Effect'] !== 'Allow' && s['Effect'] !== 'Deny') problems.push(`${at}: Effect ${String(s['Effect'])}`);
    const actions = asList(s['Action'] as string | string[]);
    if (actions.length === 0) problems.push(`${at}: no Action`);
    for (const a of actions) if (!/^[a-z0-9-]+:[A-Za-z0-9]+$/.test(a)) problems.push(`${at}: action "${a}" is not service:Action without wildcards`);
    if (new Set(actions).size !== actions.length) problems.push(`${at}: duplicate actions`);
    if (kind === 'identity') {
      const resources = asList(s['Resource'] as string | string[]);
      if (resources.length === 0) problems.push(`${at}: no Resource`);
      for (const r of resources) if (!/^arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:(\d{12})?:[^*]+$/.test(r)) problems.push(`${at}: resource "${r}" is not an ARN without *`);
      if (s['Principal'] !== undefined) problems.push(`${at}: an identity policy has no Principal`);
    } else {
      if (s['Resource'] !== undefined) problems.push(`${at}: a trust policy has no Resource`);
      const principal = s['Principal'] as Record<string, unknown> | undefined;
      if (!principal || Object.keys(principal).length === 0) problems.push(`${at}: no Principal`);
      for (const type of Object.keys(principal ?? {})) if (!['AWS', 'Federated', 'Service'].includes(type)) problems.push(`${at}: principal type ${type}`);
    }
    const condition = s['Condition'] as Record<string, Record<string, unknown>> | undefined;
    for (const [op, pairs] of Object.entries(condition ?? {})) {
      if (!CONDITION_OPERATORS.has(op)) problems.push(`${at}: condition operator ${op}`);
      for (const [key, values] of Object.entries(pairs)) {
        if (!/^[A-Za-z0-9.:/_-]+$/.test(key)) problems.push(`${at}: condition key "${key}"`);
        if (asList(values as string | string[]).some((v) => typeof v !== 'string' || v === '')) problems.push(`${at}: condition values of ${key}`);
      }
    }
  }
  return problems;
}

/** The example variables, defaults filled in from variables.tf. */
async function exampleVars(module: Module): Promise<Record<string, Value>> {
  const tfvars = await hcl.parse('terraform.tfvars', readFileSync(join(MODULE_DIR, 'terraform.tfvars.example'), 'utf8'));
  const vars: Record<string, Value> = {};
  for (const [name, [block]] of Object.entries(module.variable)) if (block && 'default' in block) vars[name] = block['default'] as Value;
  for (const [name, value] of Object.entries(tfvars)) {
    assert.ok(name in module.variable, `terraform.tfvars.example sets an undeclared variable ${name}`);
    vars[name] = value as Value;
  }
  return vars;
}

describe('Terraform: deploy/terraform/aws-irsa (IAM role for the gateway through IRSA)', () => {
  let module: Module;
  let files: string[];
  let vars: Record<string, Value>;
  let ev: Evaluator;

  before(async () => {
    ({ module, files } = await parseModule());
    vars = await exampleVars(module);
    ev = new Evaluator(module, vars);
  });

  const withVars = (overrides: Record<string, Value>) => new Evaluator(module, { ...vars, ...overrides });

  test('the module is main.tf, variables.tf, outputs.tf and versions.tf, and parses as HCL', () => {
    assert.deepEqual(files, ['main.tf', 'outputs.tf', 'variables.tf', 'versions.tf']);
    const provider = (module.terraform[0]?.['required_providers'] as Array<Record<string, { source: string; version: string }>>)[0]!['aws']!;
    assert.equal(provider.source, 'hashicorp/aws');
    assert.match(provider.version, /^>= 5\.0/);
    assert.match(String(module.terraform[0]?.['required_version']), /^>= 1\.\d/);
  });

  test('the parser rejects what Terraform rejects (it can fail)', async () => {
    await assert.rejects(hcl.parse('bad.tf', 'resource "aws_iam_role" "x" {\n  name = [1,\n}\n'), /Invalid expression|Missing/);
    // An unescaped ${aws-sm:...} in a description is an interpolation, not text: Terraform refuses it.
    await assert.rejects(hcl.parse('bad.tf', 'variable "x" {\n  description = "reads ${aws-sm:name}"\n}\n'), /interpolation/);
  });

  test('resources: one IAM role and its inline policies only (no managed-policy attachment, no user, no access key)', () => {
    assert.deepEqual(Object.keys(module.resource).sort(), ['aws_iam_role', 'aws_iam_role_policy']);
    assert.deepEqual(Object.keys(module.resource['aws_iam_role']!), ['llmproxy']);
    assert.deepEqual(Object.keys(module.resource['aws_iam_role_policy']!).sort(), ['bedrock', 'secrets', 'secrets_kms']);
    for (const [name, [block]] of Object.entries(module.resource['aws_iam_role_policy']!)) {
      assert.equal(block!['role'], '${aws_iam_role.llmproxy.id}', `${name} is attached to the gateway's role`);
    }
    assert.deepEqual(Object.keys(module.data).sort(), ['aws_iam_policy_document']);
    assert.deepEqual(Object.keys(module.data['aws_iam_policy_document']!).sort(), ['bedrock', 'secrets', 'secrets_kms', 'trust']);
  });

  test('every policy renders to valid IAM policy JSON (example variables)', async () => {
    const role = module.resource['aws_iam_role']!['llmproxy']![0]!;
    const trust = (await ev.value(role['assume_role_policy'])) as string;
    assert.deepEqual(iamProblems(trust, 'trust'), []);
    for (const [name, [block]] of Object.entries(module.resource['aws_iam_role_policy']!)) {
      if ((await ev.count(block!)) === 0) continue;
      const policy = (await ev.value(block!['policy'])) as string;
      assert.deepEqual(iamProblems(policy, 'identity'), [], name);
    }
  });

  test('the IAM checks catch wildcards, a missing Version and a Resource in a trust policy (they can fail)', () => {
    const wildcard = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'bedrock:*', Resource: '*' }] });
    assert.deepEqual(iamProblems(wildcard, 'identity'), [
      'Statement[0]: action "bedrock:*" is not service:Action without wildcards',
      'Statement[0]: resource "*" is not an ARN without *',
    ]);
    const trust = JSON.stringify({ Statement: [{ Effect: 'Allow', Action: 'sts:AssumeRoleWithWebIdentity', Resource: 'arn:aws:iam::111111111111:role/x', Principal: { Federated: 'x' } }] });
    assert.deepEqual(iamProblems(trust, 'trust'), ['Version undefined', 'Statement[0]: a trust policy has no Resource']);
  });

  test('trust: only AssumeRoleWithWebIdentity, from the cluster OIDC provider, for one service account, with sub AND aud', async () => {
    const [doc] = await ev.policyDocuments('trust');
    assert.equal(doc!.Statement.length, 1);
    const s = doc!.Statement[0]!;
    const issuer = String(vars['oidc_provider_arn']).split(':oidc-provider/')[1];
    assert.equal(issuer, 'oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE');
    assert.deepEqual(s, {
      Sid: 'GatewayServiceAccount',
      Effect: 'Allow',
      Action: 'sts:AssumeRoleWithWebIdentity',
      Principal: { Federated: vars['oidc_provider_arn'] as string },
      Condition: {
        StringEquals: {
          [`${issuer}:sub`]: 'system:serviceaccount:llm:llmproxy',
          [`${issuer}:aud`]: 'sts.amazonaws.com',
        },
      },
    });
    // The condition names exactly one subject: no StringLike, no wildcard.
    assert.ok(!JSON.stringify(s.Condition).includes('*'));
    // Another namespace or service account moves the subject with it.
    const [other] = await withVars({ namespace: 'ai', service_account: 'gateway' }).policyDocuments('trust');
    assert.equal(other!.Statement[0]!.Condition!['StringEquals']![`${issuer}:sub`], 'system:serviceaccount:ai:gateway');
  });

  test('the defaults name the service account the Kubernetes manifests create', async () => {
    const kustomization = parseYaml(readFileSync(join(REPO_ROOT, 'deploy', 'kubernetes', 'base', 'kustomization.yaml'), 'utf8')) as { namespace: string };
    const sa = parseYaml(readFileSync(join(REPO_ROOT, 'deploy', 'kubernetes', 'base', 'serviceaccount.yaml'), 'utf8')) as { metadata: { name: string } };
    assert.equal(module.variable['namespace']![0]!['default'], kustomization.namespace);
    assert.equal(module.variable['service_account']![0]!['default'], sa.metadata.name);
    assert.equal(await ev.value(module.output['trusted_subject']![0]!['value']), `system:serviceaccount:${kustomization.namespace}:${sa.metadata.name}`);
  });

  test('Bedrock: exactly InvokeModel, InvokeModelWithResponseStream, Converse, ConverseStream, CountTokens, GetInferenceProfile, on the listed model ARNs only', async () => {
    const [block] = module.data['aws_iam_policy_document']!['bedrock']!;
    const statements = block!['statement'] as Array<Record<string, unknown>>;
    assert.equal(statements.length, 1);
    assert.equal(statements[0]!['resources'], '${var.bedrock_model_arns}', 'resources come from the variable only');
    const [doc] = await ev.policyDocuments('bedrock');
    const s = doc!.Statement[0]!;
    assert.equal(s.Effect, 'Allow');
    assert.deepEqual(asList(s.Action).sort(), ['bedrock:Converse', 'bedrock:ConverseStream', 'bedrock:CountTokens', 'bedrock:GetInferenceProfile', 'bedrock:InvokeModel', 'bedrock:InvokeModelWithResponseStream']);
    assert.deepEqual(asList(s.Resource), vars['bedrock_model_arns']);
    assert.equal(s.Condition, undefined);
  });

  test('Secrets Manager: GetSecretValue on the listed secrets, created only when the list is not empty; KMS only with both lists', async () => {
    const policies = module.resource['aws_iam_role_policy']!;
    const shapes = async (e: Evaluator) => ({
      secrets: await e.count(policies['secrets']![0]!),
      kms: await e.count(policies['secrets_kms']![0]!),
      bedrock: await e.count(policies['bedrock']![0]!),
      secretDocs: (await e.policyDocuments('secrets')).length,
      kmsDocs: (await e.policyDocuments('secrets_kms')).length,
    });
    const kmsKey = 'arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    assert.deepEqual(await shapes(withVars({ secretsmanager_secret_arns: [], secrets_kms_key_arns: [] })), { secrets: 0, kms: 0, bedrock: 1, secretDocs: 0, kmsDocs: 0 });
    assert.deepEqual(await shapes(withVars({ secretsmanager_secret_arns: [], secrets_kms_key_arns: [kmsKey] })), { secrets: 0, kms: 0, bedrock: 1, secretDocs: 0, kmsDocs: 0 });
    assert.deepEqual(await shapes(ev), { secrets: 1, kms: 0, bedrock: 1, secretDocs: 1, kmsDocs: 0 });
    const both = withVars({ secrets_kms_key_arns: [kmsKey] });
    assert.deepEqual(await shapes(both), { secrets: 1, kms: 1, bedrock: 1, secretDocs: 1, kmsDocs: 1 });

    const [secrets] = await ev.policyDocuments('secrets');
    assert.deepEqual(secrets!.Statement, [
      { Sid: 'ReadGatewaySecrets', Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: vars['secretsmanager_secret_arns'] as string[] },
    ]);
    const [kms] = await both.policyDocuments('secrets_kms');
    assert.deepEqual(kms!.Statement, [
      { Sid: 'DecryptGatewaySecrets', Effect: 'Allow', Action: 'kms:Decrypt', Resource: kmsKey, Condition: { StringLike: { 'kms:ViaService': 'secretsmanager.*.amazonaws.com' } } },
    ]);
    const policy = (await both.value(policies['secrets_kms']![0]!['policy'])) as string;
    assert.deepEqual(iamProblems(policy, 'identity'), []);
  });

  test('no statement anywhere allows a wildcard action or resource, and every resource list is a variable', async () => {
    for (const [name, [block]] of Object.entries(module.data['aws_iam_policy_document']!)) {
      for (const s of block!['statement'] as Array<Record<string, unknown>>) {
        for (const a of s['actions'] as string[]) assert.doesNotMatch(a, /[*?]/, `${name}: ${a}`);
        if (name !== 'trust') assert.match(String(s['resources']), /^\$\{var\.[a-z_]+\}$/, `${name}: resources`);
        else assert.equal(s['resources'], undefined);
      }
    }
  });

  test('variable validations accept the example and refuse wildcards and malformed ARNs', async () => {
    /** Whether every validation of `name` passes for `value`. */
    const valid = async (name: string, value: Value) => {
      const e = withVars({ [name]: value });
      for (const v of (module.variable[name]![0]!['validation'] as Array<{ condition: string }> | undefined) ?? []) {
        if ((await e.value(v.condition)) !== true) return false;
      }
      return true;
    };
    for (const name of Object.keys(module.variable)) assert.equal(await valid(name, vars[name] ?? null), true, `example ${name}`);
    const refused: Array<[string, Value]> = [
      ['bedrock_model_arns', []],
      ['bedrock_model_arns', ['*']],
      ['bedrock_model_arns', ['arn:aws:bedrock:us-east-1::foundation-model/*']],
      ['bedrock_model_arns', ['arn:aws:bedrock:*::foundation-model/anthropic.claude-3-5-haiku-20241022-v1:0']],
      ['bedrock_model_arns', ['arn:aws:bedrock:us-east-1:111111111111:inference-profile/us.anthropic.claude-?']],
      ['bedrock_model_arns', ['arn:aws:s3:::bucket/key']],
      ['secretsmanager_secret_arns', ['arn:aws:secretsmanager:us-east-1:111111111111:secret:*']],
      ['secretsmanager_secret_arns', ['llmproxy/openai']],
      ['secrets_kms_key_arns', ['arn:aws:kms:us-east-1:111111111111:key/*']],
      ['oidc_provider_arn', 'oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE'],
      ['oidc_provider_arn', 'arn:aws:iam::111111111111:oidc-provider/*'],
      ['max_session_duration', 60],
    ];
    for (const [name, value] of refused) assert.equal(await valid(name, value), false, `${name} = ${JSON.stringify(value)} must be refused`);
    assert.equal(await valid('bedrock_model_arns', ['arn:aws-us-gov:bedrock:us-gov-west-1::foundation-model/anthropic.claude-3-5-sonnet-20240620-v1:0']), true);
  });

  test('outputs: the role ARN for the ServiceAccount annotation', async () => {
    assert.equal(module.output['role_arn']![0]!['value'], '${aws_iam_role.llmproxy.arn}');
    const annotations = (await ev.value(module.output['service_account_annotations']![0]!['value'])) as Record<string, Value>;
    assert.deepEqual(Object.keys(annotations), ['eks.amazonaws.com/role-arn']);
    assert.ok(annotations['eks.amazonaws.com/role-arn'] instanceof Ref);
    assert.equal(String(annotations['eks.amazonaws.com/role-arn']), '${aws_iam_role.llmproxy.arn}');
  });

  test('the evaluator refuses what it does not understand (never a silent pass)', async () => {
    await assert.rejects(ev.value('${upper(var.namespace)}'), /unsupported function upper/);
    await assert.rejects(ev.value('${aws_s3_bucket.x.arn}'), /unsupported reference/);
    await assert.rejects(ev.value('${var.nope}'), /var\.nope has no value/);
  });
});
