import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import ts from 'typescript';
import { CLIENT_AUTH_KINDS } from '../../src/clientauth/registry.js';
import { CREDENTIAL_KINDS } from '../../src/credentials/registry.js';
import { PROVIDERS } from '../../src/providers/registry.js';
import { SECRET_STORES } from '../../src/secrets/registry.js';

/**
 * "No file outside a kind's folder names that kind" (issue 13), checked on string literals in
 * `src/**` (comments and prose are not code): a provider's type outside `src/providers/<type>/`,
 * a secret store's scheme outside `src/secrets/`, a
 * client-auth kind's name outside `src/clientauth/<kind>/`, a credential kind's name outside
 * `src/credentials/<kind>/`, the registries excepted. A name that is also an everyday word of
 * another part of the gateway cannot be told apart by a literal and is not checked (UNCHECKED,
 * with why); the sanctioned exceptions are listed with their reasons.
 */

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** Names whose literal also means something else elsewhere, so a match says nothing. */
const UNCHECKED: Record<string, string> = {
  env: 'also an override source (config/load.ts, cli/config-check.ts), the lockdown switch\'s source (governance/, cli/lockdown.ts), and `${env:NAME}` in plain fields, which the config loader expands itself (config/expand.ts)',
  file: 'also the OpenAI `file` content part (protocol/openai-schema.ts, providers/vertex/)',
  session: 'also the HTTP/2 session event (server/listener.ts)',
  'api-key': 'also the `api-key` header (upstream/, observability/logger.ts, Azure\'s credential header)',
  aws: 'also the `aws` credential shape (signing/sigv4.ts) and the AWS error flavour (errors/http.ts, server/routes/bedrock.ts)',
  oci: 'also the `oci` credential shape the OCI signer applies (signing/oci.ts, credentials/types.ts)',
  anthropic: 'also the Anthropic Messages API the gateway speaks in protocol mode: the `/anthropic/` route (server/routes/protocol-messages.ts)',
  openai: 'also the OpenAI API the gateway speaks in protocol mode: the `/openai/` routes (server/routes/protocol.ts), the OpenAI error shape (errors/http.ts, request/context.ts), and Azure OpenAI\'s own `openai/` path segment (providers/azure/)',
};

/** Sanctioned places outside a kind's folder that name it: file (from the repository root), name, reason. */
const EXCEPTIONS: ReadonlyArray<[file: string, name: string, reason: string]> = [
  ['src/request/principal.ts', 'basic', 'Principal.kind, the closed union of kinds a principal can come from, is a shared request type below clientauth/'],
  ['src/request/principal.ts', 'oidc', 'as above: Principal.kind'],
  ['src/request/principal.ts', 'kubernetes', 'as above: Principal.kind'],
  ['src/secrets/vault.ts', 'kubernetes', 'Vault\'s own Kubernetes auth method, not the client-auth kind'],
  ['src/cli/commands.ts', 'totp', 'the `llmproxy totp` CLI command (a public contract)'],
  ['src/clientauth/session/authenticator.ts', 'oidc', 'a console session stores an OIDC sign-in\'s principal and gives it back with its Principal.kind'],
  ['src/console/routes.ts', 'basic', 'the console\'s sign-in forms (`method: "basic"` is its API contract) and the session subject chosen by Principal.kind'],
  ['src/console/routes.ts', 'oidc', 'the console\'s OIDC sign-in: the auth method its callback audits and counts'],
  ['src/clientauth/totp/step.ts', 'basic', 'the second factor\'s policy: it applies to principals from API keys and Basic users (by Principal.kind), not to federated ones'],
];

/** Every non-test TypeScript file under `dir`. */
function sources(dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) sources(path, out);
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

/** The string literals of a file (including literal types and template literals without substitutions), with their lines. */
function literals(path: string): Array<{ text: string; line: number }> {
  const file = ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.Latest, true);
  const found: Array<{ text: string; line: number }> = [];
  const visit = (node: ts.Node): void => {
    if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) {
      found.push({ text: node.text, line: file.getLineAndCharacterOfPosition(node.getStart()).line + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return found;
}

/** Each kind name, with the folders (from the repository root) where it may be named. */
function kindHomes(): Map<string, string[]> {
  const homes = new Map<string, string[]>();
  const add = (name: string, ...places: string[]) => homes.set(name, [...(homes.get(name) ?? []), ...places]);
  for (const provider of PROVIDERS) add(provider.type, `src/providers/${provider.type}/`, 'src/providers/registry.ts');
  for (const scheme of SECRET_STORES.keys()) add(scheme, 'src/secrets/');
  for (const kind of CLIENT_AUTH_KINDS) add(kind.name, `src/clientauth/${kind.name}/`, 'src/clientauth/registry.ts');
  for (const kind of CREDENTIAL_KINDS) add(kind.name, `src/credentials/${kind.name}/`, 'src/credentials/registry.ts');
  return homes;
}

test('no file outside a kind\'s folder names the kind (string literals; sanctioned exceptions listed)', () => {
  const homes = kindHomes();
  const found: string[] = [];
  const used = new Set<string>();
  for (const path of sources(join(ROOT, 'src'))) {
    const file = relative(ROOT, path).split(sep).join('/');
    for (const { text, line } of literals(path)) {
      const places = homes.get(text);
      if (places === undefined || Object.hasOwn(UNCHECKED, text) || places.some((p) => file === p || file.startsWith(p))) continue;
      const exception = EXCEPTIONS.find(([f, name]) => f === file && name === text);
      if (exception) {
        used.add(`${file}:${text}`);
        continue;
      }
      found.push(`${file}:${line} names "${text}"`);
    }
  }
  assert.deepEqual(found, [], `kinds named outside their folder (move the knowledge into the kind, or add a sanctioned exception with its reason):\n${found.join('\n')}`);
  const stale = EXCEPTIONS.filter(([f, name]) => !used.has(`${f}:${name}`)).map(([f, name]) => `${f}: ${name}`);
  assert.deepEqual(stale, [], 'exceptions that no longer match anything: remove them');
});

test('the unchecked names are kind names (the list does not hide a typo)', () => {
  const homes = kindHomes();
  for (const name of Object.keys(UNCHECKED)) assert.ok(homes.has(name), `"${name}" is not the name of any kind`);
});
