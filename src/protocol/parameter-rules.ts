import type { ChatRequest } from './openai.js';
import { refusal, type ParameterRule, type ParameterRules } from './translator.js';

/**
 * The one place a translator decides, for each top-level OpenAI chat parameter, whether it is
 * sent, dropped (reported in `x-llmproxy-dropped-params`) or refused (400). Each translator
 * declares a table; `applyParameterRules` walks the request's fields in their order. Null and
 * absent values are never looked at: they mean "not set" everywhere.
 *
 * @example
 * const TABLE: ParameterTable<RuleTarget> = {
 *   rules: {
 *     messages: MAPPED,                                     // read by the translator's own code
 *     temperature: PASSTHROUGH,                             // sent as it came
 *     top_p: mappedBy((v, t) => (t.native['topP'] = v)),   // sent renamed, in body order
 *     seed: dropped(),
 *     parallel_tool_calls: dropped((v) => v === true),     // true changes nothing: not reported
 *     n: refused(() => 'n: one choice per request', (v) => v === 1),
 *   },
 *   unlisted: refused((_v, key) => `${key} is not supported`),
 * };
 * const target = { native: {}, dropped: [] };
 * applyParameterRules(body, TABLE, target);               // throws GatewayError('invalid_request')
 */

/** What the applier writes to: the native body (for `passthrough`) and the dropped names, in order. */
export interface RuleTarget {
  readonly native: Record<string, unknown>;
  readonly dropped: string[];
}

/** Read by the translator: by `map` as the parameter is met, or elsewhere when `map` is absent. */
export interface MappedRule<C> {
  readonly kind: 'mapped';
  readonly map?: (value: unknown, target: C, key: string) => void;
}
/** Sent under its own name, as it came. */
export interface PassthroughRule {
  readonly kind: 'passthrough';
}
/** Ignored and reported, unless `inert` says the value changes nothing. */
export interface DroppedRule {
  readonly kind: 'dropped';
  readonly inert?: ((value: unknown) => boolean) | undefined;
}
/** Refused with the message `because` gives (its first word names the field), unless `inert`. */
export interface RefusedRule {
  readonly kind: 'refused';
  readonly because: (value: unknown, key: string) => string;
  readonly inert?: ((value: unknown) => boolean) | undefined;
}

export type Rule<C> = MappedRule<C> | PassthroughRule | DroppedRule | RefusedRule;

export interface ParameterTable<C> {
  readonly rules: Readonly<Record<string, Rule<C>>>;
  /** What a parameter the table does not name gets: dropped (reported), refused, or sent as it came (an OpenAI-compatible API). */
  readonly unlisted: DroppedRule | RefusedRule | PassthroughRule;
}

/** Mapped by the translator's own code, outside the applier. */
export const MAPPED: { readonly kind: 'mapped' } = { kind: 'mapped' };
export const PASSTHROUGH: PassthroughRule = { kind: 'passthrough' };

export function mappedBy<C>(map: (value: unknown, target: C, key: string) => void): MappedRule<C> {
  return { kind: 'mapped', map };
}

export function dropped(inert?: (value: unknown) => boolean): DroppedRule {
  return { kind: 'dropped', inert };
}

/** `because` is a message, or makes one from the value (and, for `unlisted`, the key). */
export function refused(because: string | ((value: unknown, key: string) => string), inert?: (value: unknown) => boolean): RefusedRule {
  return { kind: 'refused', because: typeof because === 'string' ? () => because : because, inert };
}

/**
 * Applies `table` to every set top-level field of `body`, in the body's order: a refusal throws
 * GatewayError('invalid_request') (see `refusal`), a dropped field is appended to
 * `target.dropped`, a passthrough one is copied to `target.native`, a mapped one runs its `map`.
 */
export function applyParameterRules<C extends RuleTarget>(body: ChatRequest, table: ParameterTable<C>, target: C): void {
  for (const key of Object.keys(body)) {
    const value = body[key];
    if (value === undefined || value === null) continue;
    const rule = Object.hasOwn(table.rules, key) ? table.rules[key]! : table.unlisted;
    switch (rule.kind) {
      case 'mapped':
        rule.map?.(value, target, key);
        break;
      case 'passthrough':
        target.native[key] = value;
        break;
      case 'dropped':
        if (rule.inert?.(value) !== true) target.dropped.push(key);
        break;
      case 'refused':
        if (rule.inert?.(value) !== true) throw refusal(rule.because(value, key));
        break;
      default:
        rule satisfies never;
    }
  }
}

/** The rule names of a table, as docs/protocol-mode.md and the translators' tests read them. */
export function ruleNames<K extends string>(rules: Readonly<Record<K, Rule<never>>>): { readonly [P in K]: ParameterRule } {
  // Every key of `rules` is set below, so the record is complete when returned.
  const out = {} as Record<K, ParameterRule>;
  for (const key of Object.keys(rules) as K[]) out[key] = rules[key].kind;
  return out satisfies ParameterRules;
}

/**
 * One rule for several parameters, spread into a table.
 *
 * @example
 * rules: { ...sameRule(MAPPED, 'model', 'messages', 'stream', 'stream_options'), ...sameRule(dropped(), 'user', 'metadata') }
 */
export function sameRule<K extends string, R>(rule: R, ...keys: K[]): Record<K, R> {
  // Every key is set below, so the record is complete when returned.
  const out = {} as Record<K, R>;
  for (const key of keys) out[key] = rule;
  return out;
}
