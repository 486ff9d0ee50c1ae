import type { z } from 'zod';

/**
 * Reading the config schema as data, so the environment overrides (env.ts) and the `${env:}`
 * expansion (expand.ts) follow the schema instead of keeping a second list of fields. Only the
 * schema kinds the config uses are understood; anything else is treated as opaque.
 */

export type Schema = z.core.$ZodType;

interface Def {
  type: string;
  innerType?: Schema;
  in?: Schema;
  out?: Schema;
  shape?: Record<string, Schema>;
  element?: Schema;
  valueType?: Schema;
  options?: Schema[];
  discriminator?: string;
  values?: unknown[];
  getter?: () => Schema;
}

const def = (s: Schema) => s._zod.def as unknown as Def;

const WRAPPERS: ReadonlySet<string> = new Set(['optional', 'nullable', 'default', 'prefault', 'readonly', 'catch', 'nonoptional']);

/**
 * `schema` and every schema it wraps, outermost first: through optional/default/prefault and
 * friends, lazy, and pipes (a `.transform()` reads its input schema; `z.preprocess` its output).
 *
 * @example layers(duration().prefault('10s')) // [prefault, pipe, string]
 */
export function layers(schema: Schema): Schema[] {
  const out: Schema[] = [];
  let s: Schema | undefined = schema;
  for (let depth = 0; s !== undefined && depth < 32; depth++) {
    out.push(s);
    const d = def(s);
    if (WRAPPERS.has(d.type)) s = d.innerType;
    else if (d.type === 'lazy') s = d.getter?.();
    else if (d.type === 'pipe') s = d.in !== undefined && def(d.in).type === 'transform' ? d.out : d.in;
    else s = undefined;
  }
  return out;
}

/** The innermost layer: what kind of value the field holds. */
export function core(schema: Schema): Schema {
  return layers(schema).at(-1)!;
}

export function kindOf(schema: Schema): string {
  return def(core(schema)).type;
}

/** A strict object's fields, or undefined when `schema` is not an object. */
export function shapeOf(schema: Schema): Record<string, Schema> | undefined {
  const d = def(core(schema));
  return d.type === 'object' ? d.shape : undefined;
}

export function elementOf(schema: Schema): Schema | undefined {
  const d = def(core(schema));
  return d.type === 'array' ? d.element : undefined;
}

export function recordValueOf(schema: Schema): Schema | undefined {
  const d = def(core(schema));
  return d.type === 'record' ? d.valueType : undefined;
}

/** A union's options (each may itself be wrapped), or undefined. */
export function unionOptions(schema: Schema): Schema[] | undefined {
  const d = def(core(schema));
  return d.type === 'union' ? (d.options ?? []) : undefined;
}

/**
 * The option of a discriminated union that `value` selects (by its discriminator field), or,
 * for a plain union, the first option of the value's kind (object, array or string).
 */
export function selectOption(schema: Schema, value: unknown): Schema | undefined {
  const d = def(core(schema));
  if (d.type !== 'union') return undefined;
  const options = d.options ?? [];
  if (d.discriminator !== undefined && isPlainObject(value)) {
    const tag = value[d.discriminator];
    return options.find((o) => {
      const field = shapeOf(o)?.[d.discriminator!];
      return field !== undefined && (def(core(field)).values ?? []).includes(tag);
    });
  }
  const wanted = Array.isArray(value) ? ['array'] : isPlainObject(value) ? ['object', 'record'] : typeof value === 'string' ? ['string', 'enum', 'literal'] : [];
  return options.find((o) => wanted.includes(kindOf(o)));
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
