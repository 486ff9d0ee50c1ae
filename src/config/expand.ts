import { SECRET_STORES } from '../secrets/registry.js';
import { isSecretField } from '../config-fields/fields.js';
import { elementOf, isPlainObject, layers, recordValueOf, selectOption, shapeOf, unionOptions, type Schema } from './schema-walk.js';

/** A plain (non-secret) field whose value took text from the environment. */
export interface ExpandedReference {
  /** Dotted config path, e.g. `instances.openai.organization`. */
  path: string;
  variable: string;
  /** The variable was unset or empty and the reference's `:-default` was used. */
  defaulted: boolean;
}

export interface ExpansionResult {
  value: unknown;
  references: ExpandedReference[];
  /** `path: message` pairs; the field keeps its text unexpanded. */
  problems: Array<{ path: string; message: string }>;
}

// `$${` is an escaped `${`; otherwise `${...}` up to the first `}`.
const TOKEN = /\$\$\{|\$\{([^}]*)\}/g;
// `${env:NAME}`, `${NAME}`, either with `:-default` (used when NAME is unset or empty).
const ENV_REFERENCE = /^(?:env:)?([A-Za-z_][A-Za-z0-9_]*)(?::-([^]*))?$/;
const STORE_REFERENCE = /^([a-z][a-z0-9-]*):/;

/**
 * Expands `${env:NAME}` (or `${NAME}`, or either with `:-default`) in every plain string field of
 * `raw`, once, before validation: `organization: ${env:OPENAI_ORG_ID}` reaches OpenAI as the
 * variable's value, never as the text. Secret fields (SECRET_FIELDS) are left exactly as written:
 * the secret machinery resolves, refreshes and scrubs them. Any other `${...}` in a plain field is
 * a problem (a secret store is read only for secret fields); `$${` is a literal `${`. Values are
 * inserted as they are, not scanned again. Record keys (instance names...) are never expanded.
 *
 * @example
 *   expandEnvReferences(configSchema, { instances: { o: { type: 'openai', organization: '${env:ORG}', ... } } }, { ORG: 'org-1' })
 *   // value.instances.o.organization === 'org-1'; references: [{ path: 'instances.o.organization', variable: 'ORG', defaulted: false }]
 */
export function expandEnvReferences(schema: Schema, raw: unknown, env: NodeJS.ProcessEnv): ExpansionResult {
  const references: ExpandedReference[] = [];
  const problems: ExpansionResult['problems'] = [];

  const expandText = (text: string, path: string): string => {
    if (!text.includes('${')) return text;
    let failed = false;
    const expanded = text.replace(TOKEN, (token: string, inner: string | undefined) => {
      if (inner === undefined) return '${'; // the `$${` escape
      const ref = ENV_REFERENCE.exec(inner);
      if (!ref) {
        failed = true;
        const store = STORE_REFERENCE.exec(inner)?.[1];
        problems.push({
          path,
          message:
            store !== undefined && store !== 'env' && SECRET_STORES.has(store)
              ? `${token}: secret stores are read only in secret fields; a plain field takes \${env:NAME} (write $\${ for a literal "\${")`
              : `${token} is not an environment reference; write \${env:NAME}, or $\${ for a literal "\${"`,
        });
        return token;
      }
      const variable = ref[1]!;
      const fallback = ref[2];
      const value = env[variable];
      if (value !== undefined && value !== '') {
        references.push({ path, variable, defaulted: false });
        return value;
      }
      if (fallback !== undefined) {
        references.push({ path, variable, defaulted: true });
        return fallback;
      }
      failed = true;
      problems.push({ path, message: `environment variable ${variable} is not set or empty (referenced as ${token})` });
      return token;
    });
    return failed ? text : expanded;
  };

  const walk = (schema: Schema | undefined, value: unknown, path: string[]): unknown => {
    if (schema === undefined) return value; // an unknown field: validation reports it
    if (layers(schema).some(isSecretField)) return value;
    const dotted = () => path.join('.');
    if (typeof value === 'string') {
      const secretOption = unionOptions(schema)?.some((o) => layers(o).some(isSecretField)) ?? false;
      return secretOption ? value : expandText(value, dotted());
    }
    if (Array.isArray(value)) {
      const element = elementOf(schema) ?? elementOf(selectOption(schema, value) ?? schema);
      return element === undefined ? value : value.map((v, i) => walk(element, v, [...path, String(i)]));
    }
    if (isPlainObject(value)) {
      const target = unionOptions(schema) ? selectOption(schema, value) : schema;
      if (target === undefined) return value;
      const shape = shapeOf(target);
      const valueType = recordValueOf(target);
      if (shape === undefined && valueType === undefined) return value;
      const out: Record<string, unknown> = {};
      for (const [key, v] of Object.entries(value)) out[key] = walk(shape ? (Object.hasOwn(shape, key) ? shape[key] : undefined) : valueType, v, [...path, key]);
      return out;
    }
    return value;
  };

  return { value: walk(schema, raw, []), references, problems };
}
