// Ajv's validation errors in people's words: which key, what was expected
// (said the same way for every key of one kind), and what the file had.
import type { ErrorObject } from 'ajv';
import { patternExpected, stringFormats, type FormatName } from './formats.js';
import type { Segment } from './issues.js';

/** Where an explained error points: the value, the key itself, or the object that lacks a key. */
export type Anchor = 'value' | 'key' | 'parent';

/** An Ajv error turned into words, not yet placed on a line. */
export interface Explained {
  segments: Segment[];
  anchor: Anchor;
  message: string;
}

type Schema = Record<string, unknown>;

// Units follow from the key's suffix, which the naming convention fixes.
const units: Array<[RegExp, string]> = [
  [/Mbps$/, 'Mbit/s'], [/PerSec$/, 'per second'], [/Ms$/, 'ms'], [/Sec$/, 's'], [/Pct$/, '%'],
  [/Hours$/, 'hours'], [/Days$/, 'days'], [/Bytes$/, 'bytes'],
];

function unitOf(segments: readonly Segment[]): string | undefined {
  const key = [...segments].reverse().find((s): s is string => typeof s === 'string');
  return key === undefined ? undefined : units.find(([re]) => re.test(key))?.[1];
}

function range(s: Schema): string {
  const parts: string[] = [];
  const { minimum: min, maximum: max, exclusiveMinimum: xmin, exclusiveMaximum: xmax } = s;
  if (typeof min === 'number' && typeof max === 'number') parts.push(`from ${min} to ${max}`);
  else {
    if (typeof min === 'number') parts.push(`≥ ${min}`);
    if (typeof xmin === 'number') parts.push(`> ${xmin}`);
    if (typeof max === 'number') parts.push(`≤ ${max}`);
    if (typeof xmax === 'number') parts.push(`< ${xmax}`);
  }
  let out = parts.join(' and ');
  if (typeof s.multipleOf === 'number') out += `${out ? ', ' : ''}a multiple of ${s.multipleOf}`;
  return out;
}

function length(s: Schema): string {
  const { minLength: min, maxLength: max } = s;
  if (typeof max === 'number') return `at most ${max} characters`;
  if (typeof min === 'number' && min > 1) return `at least ${min} characters`;
  return '';
}

/** What a schema expects, in words: "an integer from 1 to 255", "one of mesh, hub-spoke". */
export function expected(s: Schema): string {
  if (Array.isArray(s.enum)) return `one of ${s.enum.join(', ')}`;
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (Array.isArray(s.anyOf)) return (s.anyOf as Schema[]).map(expected).join(', or ');
  const join = (head: string, ...tail: string[]) => [head, ...tail.filter((t) => t !== '')].join(', ');
  switch (s.type) {
    case 'boolean': return 'true or false';
    case 'object': return 'a mapping (key: value)';
    case 'array': return 'a list';
    case 'integer': { const r = range(s); return r ? `an integer ${r}` : 'an integer'; }
    case 'number': { const r = range(s); return r ? `a number ${r}` : 'a number'; }
    case 'string': {
      if (typeof s.format === 'string' && s.format in stringFormats) return stringFormats[s.format as FormatName].expected;
      const what = typeof s.pattern === 'string' ? patternExpected[s.pattern] ?? `text matching ${s.pattern}` : 'text';
      return join(what, length(s));
    }
    default: return 'a value';
  }
}

/** A value from the file, shown briefly: "fast" (quoted text), 12, a list, nothing. */
export function shown(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v);
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return String(v);
}

// The closest known key to a misspelt one, when it is close enough to be a typo.
function closest(word: string, candidates: readonly string[]): string | undefined {
  const distance = (a: string, b: string): number => {
    const row = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      let prev = row[0] as number;
      row[0] = i;
      for (let j = 1; j <= b.length; j++) {
        const cur = row[j] as number;
        row[j] = Math.min(cur + 1, (row[j - 1] as number) + 1, prev + (a[i - 1]?.toLowerCase() === b[j - 1]?.toLowerCase() ? 0 : 1));
        prev = cur;
      }
    }
    return row[b.length] as number;
  };
  // A known key that starts with the word (maxLoss → maxLossPct) is the likely one.
  const longer = word.length >= 3 ? candidates.find((c) => c.toLowerCase().startsWith(word.toLowerCase())) : undefined;
  if (longer) return longer;
  // Otherwise the nearest by edit distance, up to one edit per three letters.
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.floor(word.length / 3)) + 1;
  for (const c of candidates) {
    const d = distance(word, c);
    if (d < bestDistance) { best = c; bestDistance = d; }
  }
  return best;
}

/** The segments of an Ajv instancePath, with list indexes as numbers. */
export function pointerSegments(pointer: string, data: unknown): Segment[] {
  if (pointer === '') return [];
  const out: Segment[] = [];
  let node = data;
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    const seg: Segment = Array.isArray(node) && /^[0-9]+$/.test(key) ? Number(key) : key;
    out.push(seg);
    node = node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[key] : undefined;
  }
  return out;
}

function explainOne(e: ErrorObject, data: unknown): Explained {
  const segments = pointerSegments(e.instancePath, data);
  const parent = (e.parentSchema ?? {}) as Schema;
  const got = shown(e.data);
  switch (e.keyword) {
    case 'additionalProperties': {
      const name = String((e.params as { additionalProperty: string }).additionalProperty);
      const known = Object.keys((parent.properties ?? {}) as Schema);
      const guess = closest(name, known);
      const hint = guess ? ` (did you mean '${guess}'?)` : '';
      return { segments: [...segments, name], anchor: 'key', message: `unknown key '${name}'${hint}; expected one of: ${known.join(', ')}` };
    }
    case 'required': {
      const name = String((e.params as { missingProperty: string }).missingProperty);
      const what = ((parent.properties ?? {}) as Record<string, Schema>)[name]?.description;
      return { segments: [...segments, name], anchor: 'parent', message: `missing required key '${name}'${what ? `: ${String(what)}` : ''}` };
    }
    case 'minItems':
    case 'maxItems': {
      const limit = Number((e.params as { limit: number }).limit);
      const count = Array.isArray(e.data) ? e.data.length : 0;
      const bound = e.keyword === 'minItems' ? 'at least' : 'at most';
      return { segments, anchor: 'value', message: `must list ${bound} ${limit} item${limit === 1 ? '' : 's'}; got ${count}` };
    }
    case 'uniqueItems': {
      const { i, j } = e.params as { i: number; j: number };
      // Point at the repeat, the later of the two equal items.
      const [first, later] = [Math.min(i, j), Math.max(i, j)];
      const item = Array.isArray(e.data) ? shown(e.data[later]) : '';
      return { segments: [...segments, later], anchor: 'value', message: `repeats ${item}, already given as item ${first}` };
    }
    case 'const':
      if (segments.length === 1 && segments[0] === 'version') {
        return { segments, anchor: 'value', message: `must be ${JSON.stringify(parent.const)} (the config version this Tern reads); got ${got}` };
      }
      break;
    case 'format':
    case 'anyOf': {
      // Say why text failed its format: "port 70000 is outside 1-65535".
      const candidates = e.keyword === 'anyOf' ? (parent.anyOf as Schema[]) : [parent];
      const why = typeof e.data !== 'string' ? undefined : candidates
        .map((s) => (typeof s.format === 'string' && s.format in stringFormats ? stringFormats[s.format as FormatName].problem(e.data as string) : undefined))
        .find((w) => w !== undefined);
      return { segments, anchor: 'value', message: `must be ${expected(parent)}; got ${got}${why ? ` (${why})` : ''}` };
    }
    default:
      break;
  }
  const unit = unitOf(segments);
  return { segments, anchor: 'value', message: `must be ${expected(parent)}${unit ? ` (${unit})` : ''}; got ${got}` };
}

/**
 * Explain Ajv's errors (run with allErrors and verbose). An anyOf error
 * stands for its branches' errors at the same value, which are dropped.
 */
export function explainAjvErrors(errors: readonly ErrorObject[], data: unknown): Explained[] {
  const unions = errors.filter((e) => e.keyword === 'anyOf');
  const inBranch = (e: ErrorObject): boolean => unions.some((u) =>
    u !== e && e.schemaPath.startsWith(`${u.schemaPath}/`) && e.instancePath.startsWith(u.instancePath));
  // A text failing its format (or pattern) and its length is one problem: say it once, with the format's reason.
  const text = new Set(['format', 'pattern', 'maxLength', 'minLength']);
  const rank = (e: ErrorObject): number => ['format', 'pattern', 'maxLength', 'minLength'].indexOf(e.keyword);
  const best = new Map<string, ErrorObject>();
  for (const e of errors) {
    if (!text.has(e.keyword)) continue;
    const seen = best.get(e.instancePath);
    if (!seen || rank(e) < rank(seen)) best.set(e.instancePath, e);
  }
  return errors.filter((e) => !inBranch(e) && (!text.has(e.keyword) || best.get(e.instancePath) === e)).map((e) => explainOne(e, data));
}
