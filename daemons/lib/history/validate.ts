// Option checks shared by probed's components and the probe history. A bad option is a bug in the
// caller or a config value that slipped past the schema, so it throws
// TERN_E_PROBE_ARG naming the option and the expected range; bad *packets*
// never come through here (they are counted and dropped).
import { TernError } from '../errors.js';

export interface NumberRange {
  min?: number;
  /** Value must be strictly greater than this. */
  above?: number;
  max?: number;
  integer?: boolean;
}

/** Return v when it is a finite number within range; throw TERN_E_PROBE_ARG otherwise. */
export function checkNumber(where: string, name: string, v: unknown, range: NumberRange = {}): number {
  const want = describe(range);
  const ok = typeof v === 'number' && Number.isFinite(v)
    && (!range.integer || Number.isInteger(v))
    && (range.min === undefined || v >= range.min)
    && (range.above === undefined || v > range.above)
    && (range.max === undefined || v <= range.max);
  if (!ok) {
    throw new TernError('TERN_E_PROBE_ARG', `${where}: ${name} is ${String(v)}; want ${want}`, { details: { option: name, value: v } });
  }
  return v as number;
}

/** Throw TERN_E_PROBE_ARG unless v is a non-empty string. */
export function checkName(where: string, name: string, v: unknown): string {
  if (typeof v !== 'string' || v.length === 0) {
    throw new TernError('TERN_E_PROBE_ARG', `${where}: ${name} is ${JSON.stringify(v)}; want a non-empty string`, { details: { option: name } });
  }
  return v;
}

function describe(r: NumberRange): string {
  const parts = [r.integer ? 'an integer' : 'a number'];
  if (r.above !== undefined) parts.push(`> ${r.above}`);
  if (r.min !== undefined) parts.push(`>= ${r.min}`);
  if (r.max !== undefined) parts.push(`<= ${r.max}`);
  return parts.join(' ');
}
