// Checks a selector policy or path list and turns it into what the reference
// selector runs on. The rules and every message are those of
// native/src/policy.rs ("<key path>: expected <what>; got <value>", unknown
// keys first), so both selectors refuse the same documents the same way.
import { parsePrefix } from '../lib/ip/index.js';
import type { Mode, PathInput, PathState, SlaPolicy } from './types.js';

export const limits = {
  classes: 1000,
  prefixes: 65536,
  portRanges: 1024,
  wanNames: 256,
  paths: 4096,
  flows: 16_777_216,
  dayMs: 86_400_000,
  delayMs: 1_000_000,
} as const;

export const defaultClassName = 'default';

/** A prefix as record bytes: the network's 16 bytes (IPv4 in the first 4) and its length. */
export interface CheckedPrefix {
  family: 4 | 6;
  bytes: Uint8Array;
  length: number;
}

export interface CheckedMatch {
  dst?: CheckedPrefix[];
  src?: CheckedPrefix[];
  protocols?: ReadonlySet<number>;
  ports?: Array<[number, number]>;
  dscp?: ReadonlySet<number>;
}

export interface CheckedClass {
  name: string;
  /** 1-255: matches only packets carrying this domain hint. */
  domainHint?: number;
  /** Absent for the default class. */
  match?: CheckedMatch;
  sla: SlaPolicy;
  mode: Mode;
  preferWans: string[];
  weights?: ReadonlyMap<string, number>;
  hysteresisPct: number;
  holdMs: number;
}

export interface CheckedPolicy {
  /** The configured classes in match order, then default. */
  classes: CheckedClass[];
  maxFlows: number;
  idleTimeoutMs: number;
}

export type Checked<T> = { ok: true; value: T } | { ok: false; problem: string };

/** Thrown inside this file only, to unwind to the public functions. */
class Problem {
  constructor(readonly message: string) {}
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Own properties only: "constructor" or "__proto__" must not come from the prototype. */
const get = (o: Json, key: string): unknown => (Object.hasOwn(o, key) ? o[key] : undefined);

/** Sorts like Rust sorts strings (by code point), not by UTF-16 unit. */
export function byCodePoint(a: string, b: string): number {
  const x = Array.from(a);
  const y = Array.from(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i]!.codePointAt(0)! - y[i]!.codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

/** How a message shows a value: scalars as JSON, containers by kind. */
export function describe(v: unknown): string {
  if (Array.isArray(v)) return v.length === 1 ? 'an array of 1 item' : `an array of ${v.length} items`;
  if (v === null) return 'null';
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string' || typeof v === 'boolean') return JSON.stringify(v);
  if (typeof v === 'object') return 'an object';
  return `a ${typeof v}`;
}

const child = (parent: string, key: string): string => (parent === 'policy' ? key : `${parent}.${key}`);
const index = (parent: string, i: number): string => `${parent}[${i}]`;

const expected = (path: string, what: string, got: unknown): Problem => new Problem(`${path}: expected ${what}; got ${describe(got)}`);

function object(v: unknown, path: string, what: string, known: readonly string[]): Json {
  if (!isObject(v)) throw expected(path, what, v);
  const unknown = Object.keys(v).filter((k) => !known.includes(k)).sort(byCodePoint);
  if (unknown.length > 0) {
    throw new Problem(`${path}: unknown key${unknown.length === 1 ? '' : 's'} ${unknown.map((k) => JSON.stringify(k)).join(', ')}; expected only ${known.join(', ')}`);
  }
  return v;
}

function array(v: unknown, path: string, what: string, min: number, max: number): unknown[] {
  if (!Array.isArray(v) || v.length < min || v.length > max) throw expected(path, what, v);
  return v;
}

function required(o: Json, parent: string, key: string, what: string): unknown {
  const v = get(o, key);
  if (v === undefined) throw new Problem(`${child(parent, key)}: missing; expected ${what}`);
  return v;
}

function integer(v: unknown, path: string, lo: number, hi: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) throw expected(path, `an integer ${lo}-${hi}`, v);
  return v;
}

function number(v: unknown, path: string, lo: number, hi: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi) throw expected(path, `a number ${lo}-${hi}`, v);
  return v;
}

const nameWhat = "a name of 1-31 characters a-z, 0-9 and '-', starting with a letter";
const isName = (s: string): boolean => s.length <= 31 && /^[a-z][a-z0-9-]*$/.test(s);

function name(v: unknown, path: string): string {
  if (typeof v !== 'string' || !isName(v)) throw expected(path, nameWhat, v);
  return v;
}

function run<T>(check: () => T): Checked<T> {
  try {
    return { ok: true, value: check() };
  } catch (err) {
    if (err instanceof Problem) return { ok: false, problem: err.message };
    throw err;
  }
}

/** Checks a policy document (parsed JSON or the same as an object). */
export function checkPolicy(doc: unknown): Checked<CheckedPolicy> {
  return run(() => {
    const root = object(doc, 'policy', 'an object', ['classes', 'default', 'flows']);
    const items = array(required(root, 'policy', 'classes', 'an array of app classes'), 'classes', `an array of at most ${limits.classes} app classes`, 0, limits.classes);
    const classes: CheckedClass[] = [];
    items.forEach((item, i) => {
      const path = index('classes', i);
      const rule = classRule(item, path, true);
      if (classes.some((c) => c.name === rule.name)) {
        throw new Problem(`${child(path, 'name')}: expected a unique app class name; got ${JSON.stringify(rule.name)} again`);
      }
      const other = rule.domainHint === undefined ? undefined : classes.find((c) => c.domainHint === rule.domainHint);
      if (other) {
        throw new Problem(`${child(path, 'domainHint')}: expected a domain hint no other class has; got ${rule.domainHint}, already ${JSON.stringify(other.name)}'s`);
      }
      classes.push(rule);
    });
    classes.push(classRule(required(root, 'policy', 'default', 'the policy of the default class'), 'default', false));
    const flows = object(required(root, 'policy', 'flows', 'the flow table limits'), 'flows', 'an object', ['max', 'idleTimeoutMs']);
    const maxFlows = integer(required(flows, 'flows', 'max', 'the most flows to track'), 'flows.max', 1, limits.flows);
    const idleTimeoutMs = integer(required(flows, 'flows', 'idleTimeoutMs', 'how long an idle flow is kept'), 'flows.idleTimeoutMs', 1000, limits.dayMs);
    return { classes, maxFlows, idleTimeoutMs };
  });
}

const classKeys = ['name', 'match', 'domainHint', 'sla', 'mode', 'preferWans', 'weights', 'hysteresisPct', 'holdMs'];
const modes: readonly Mode[] = ['best', 'weighted', 'affinity', 'spray'];

function classRule(v: unknown, path: string, matched: boolean): CheckedClass {
  const o = object(v, path, 'an object', matched ? classKeys : classKeys.slice(3));
  let className = defaultClassName;
  let match: CheckedMatch | undefined;
  let domainHint: number | undefined;
  if (matched) {
    className = name(required(o, path, 'name', nameWhat), child(path, 'name'));
    if (className === defaultClassName) {
      throw new Problem(`${child(path, 'name')}: expected a name other than "default" (reserved for traffic no class matches); got "default"`);
    }
    const hint = get(o, 'domainHint');
    if (hint !== undefined) domainHint = integer(hint, child(path, 'domainHint'), 1, 255);
    // A domain class may have no other criterion: its hint is one.
    match = matchRule(required(o, path, 'match', 'what flows of this class look like'), child(path, 'match'), domainHint !== undefined);
  }
  const sla = slaRule(required(o, path, 'sla', 'an SLA object ({} for none)'), child(path, 'sla'));
  const modeWhat = 'one of best, weighted, affinity, spray';
  const modeValue = required(o, path, 'mode', modeWhat);
  if (typeof modeValue !== 'string' || !(modes as readonly string[]).includes(modeValue)) throw expected(child(path, 'mode'), modeWhat, modeValue);
  const preferPath = child(path, 'preferWans');
  const preferWhat = `an array of at most ${limits.wanNames} WAN names`;
  const preferWans: string[] = [];
  array(required(o, path, 'preferWans', preferWhat), preferPath, preferWhat, 0, limits.wanNames).forEach((item, j) => {
    const n = name(item, index(preferPath, j));
    if (preferWans.includes(n)) throw new Problem(`${index(preferPath, j)}: expected each WAN once; got ${JSON.stringify(n)} again`);
    preferWans.push(n);
  });
  const w = get(o, 'weights');
  const weights = w === undefined ? undefined : weightsRule(w, child(path, 'weights'));
  const hysteresisPct = number(required(o, path, 'hysteresisPct', 'a number 0-100'), child(path, 'hysteresisPct'), 0, 100);
  const holdMs = integer(required(o, path, 'holdMs', 'an integer 0-86400000'), child(path, 'holdMs'), 0, limits.dayMs);
  const rule: CheckedClass = { name: className, sla, mode: modeValue as Mode, preferWans, hysteresisPct, holdMs };
  if (match) rule.match = match;
  if (domainHint !== undefined) rule.domainHint = domainHint;
  if (weights) rule.weights = weights;
  return rule;
}

function weightsRule(v: unknown, path: string): Map<string, number> {
  const what = `an object of at most ${limits.wanNames} WAN names to weights`;
  if (!isObject(v)) throw expected(path, what, v);
  const keys = Object.keys(v).sort(byCodePoint);
  if (keys.length > limits.wanNames) throw expected(path, what, v);
  const out = new Map<string, number>();
  for (const k of keys) {
    if (!isName(k)) throw new Problem(`${path}: expected WAN names as keys (${nameWhat}); got ${JSON.stringify(k)}`);
    out.set(k, integer(v[k], child(path, k), 1, 1000));
  }
  return out;
}

function slaRule(v: unknown, path: string): SlaPolicy {
  const o = object(v, path, 'an object', ['maxLossPct', 'maxLatencyMs', 'maxJitterMs', 'minMos']);
  const sla: SlaPolicy = {};
  const limit = (key: keyof SlaPolicy, hi: number): void => {
    const x = get(o, key);
    if (x !== undefined) sla[key] = number(x, child(path, key), 0, hi);
  };
  limit('maxLossPct', 100);
  limit('maxLatencyMs', limits.delayMs);
  limit('maxJitterMs', limits.delayMs);
  limit('minMos', 5);
  return sla;
}

const prefixWhat = 'an IPv4 or IPv6 network prefix (address/length, no host bits set)';

/** A prefix in network form, as record bytes; undefined when the text is not one. */
export function prefixBytes(text: string): CheckedPrefix | undefined {
  const parsed = parsePrefix(text, 'reject');
  if (!parsed.ok) return undefined;
  const { family, network, length } = parsed.value;
  const width = family === 4 ? 4 : 16;
  const bytes = new Uint8Array(16);
  for (let i = 0; i < width; i++) bytes[i] = Number((network >> BigInt(8 * (width - 1 - i))) & 0xffn);
  return { family, bytes, length };
}

function matchRule(v: unknown, path: string, mayBeEmpty: boolean): CheckedMatch {
  const o = object(v, path, 'an object', ['dst', 'src', 'protocols', 'ports', 'dscp']);
  const m: CheckedMatch = {};
  for (const key of ['dst', 'src'] as const) {
    const list = get(o, key);
    if (list === undefined) continue;
    const p = child(path, key);
    m[key] = array(list, p, `an array of 1-${limits.prefixes} prefixes`, 1, limits.prefixes).map((item, j) => {
      const prefix = typeof item === 'string' ? prefixBytes(item) : undefined;
      if (!prefix) throw expected(index(p, j), prefixWhat, item);
      return prefix;
    });
  }
  const protocols = get(o, 'protocols');
  if (protocols !== undefined) {
    const p = child(path, 'protocols');
    m.protocols = new Set(array(protocols, p, 'an array of 1-256 IP protocol numbers', 1, 256).map((item, j) => integer(item, index(p, j), 0, 255)));
  }
  const ports = get(o, 'ports');
  if (ports !== undefined) {
    const p = child(path, 'ports');
    m.ports = array(ports, p, `an array of 1-${limits.portRanges} port ranges`, 1, limits.portRanges).map((item, j) => portRange(item, index(p, j)));
  }
  const dscp = get(o, 'dscp');
  if (dscp !== undefined) {
    const p = child(path, 'dscp');
    m.dscp = new Set(array(dscp, p, 'an array of 1-64 DSCP values', 1, 64).map((item, j) => integer(item, index(p, j), 0, 63)));
  }
  if (!mayBeEmpty && !m.dst && !m.src && !m.protocols && !m.ports && !m.dscp) {
    throw new Problem(`${path}: expected at least one of dst, src, protocols, ports, dscp; got none`);
  }
  return m;
}

function portRange(v: unknown, path: string): [number, number] {
  const ok = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 65535;
  if (Array.isArray(v) && v.length === 2 && ok(v[0]) && ok(v[1]) && v[0] <= v[1]) return [v[0], v[1]];
  throw expected(path, '[low, high] with 1 <= low <= high <= 65535', v);
}

const pathKeys = ['id', 'wan', 'weight', 'cost', 'metered', 'state', 'lossPct', 'latencyMs', 'jitterMs', 'mos'];
const states: readonly PathState[] = ['up', 'degraded', 'down'];

/** Checks a path list; the answer is sorted by path id. */
export function checkPaths(doc: unknown): Checked<PathInput[]> {
  return run(() => {
    const items = array(doc, 'paths', `an array of at most ${limits.paths} paths`, 0, limits.paths);
    const out: PathInput[] = [];
    items.forEach((v, i) => {
      const path = index('paths', i);
      const o = object(v, path, 'an object', pathKeys);
      const id = integer(required(o, path, 'id', 'an integer 1-4294967295'), child(path, 'id'), 1, 4294967295);
      if (out.some((p) => p.id === id)) throw new Problem(`${child(path, 'id')}: expected a unique path id; got ${id} again`);
      const wan = name(required(o, path, 'wan', nameWhat), child(path, 'wan'));
      const weight = integer(required(o, path, 'weight', 'an integer 0-1000'), child(path, 'weight'), 0, 1000);
      const cost = integer(required(o, path, 'cost', 'an integer 0-1000'), child(path, 'cost'), 0, 1000);
      const metered = required(o, path, 'metered', 'true or false');
      if (typeof metered !== 'boolean') throw expected(child(path, 'metered'), 'true or false', metered);
      const stateWhat = 'one of up, degraded, down';
      const state = required(o, path, 'state', stateWhat);
      if (typeof state !== 'string' || !(states as readonly string[]).includes(state)) throw expected(child(path, 'state'), stateWhat, state);
      const lossPct = number(required(o, path, 'lossPct', 'a number 0-100'), child(path, 'lossPct'), 0, 100);
      const latencyMs = number(required(o, path, 'latencyMs', 'a number 0-1000000'), child(path, 'latencyMs'), 0, limits.delayMs);
      const jitterMs = number(required(o, path, 'jitterMs', 'a number 0-1000000'), child(path, 'jitterMs'), 0, limits.delayMs);
      const mos = number(required(o, path, 'mos', 'a number 0-5'), child(path, 'mos'), 0, 5);
      out.push({ id, wan, weight, cost, metered, state: state as PathState, lossPct, latencyMs, jitterMs, mos });
    });
    return out.sort((a, b) => a.id - b.id);
  });
}
