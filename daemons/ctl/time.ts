// Durations and points in time as people type them on the command line:
// "120s", "1h30m", "now", "24h" (that long ago), an ISO date.
import { usageError } from './exit.js';

const unitMs: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** "90s", "2m", "1h30m", "500ms", or a bare number of seconds → ms. Throws a usage error. */
export function parseDuration(text: string, what = 'duration'): number {
  const s = text.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Math.round(Number(s) * 1000);
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/gy;
  let total = 0;
  let m: RegExpExecArray | null;
  let end = 0;
  while ((m = re.exec(s)) !== null) {
    total += Number(m[1]) * unitMs[m[2]!]!;
    end = re.lastIndex;
  }
  if (s === '' || end !== s.length) {
    throw usageError(`${what} ${JSON.stringify(text)} is not a duration`, 'write it like 90s, 2m, 1h30m, 7d (units ms, s, m, h, d, w)');
  }
  return Math.round(total);
}

/**
 * A point in time: "now", a duration meaning that long ago ("24h", "-24h",
 * "90m"), an ISO 8601 date/time ("2025-11-26", "2025-11-26T08:00",
 * "2025-11-26 08:00:00", local time unless it names a zone) or unix
 * seconds ("@1764144000"). Throws a usage error.
 */
export function parseTime(text: string, now: number, what = 'time'): number {
  const s = text.trim();
  if (s === 'now') return now;
  if (/^@\d+(\.\d+)?$/.test(s)) return Math.round(Number(s.slice(1)) * 1000);
  if (/^-?(\d+(\.\d+)?(ms|s|m|h|d|w))+$/.test(s)) return now - parseDuration(s.replace(/^-/, ''), what);
  if (/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/.test(s)) {
    const iso = s.replace(' ', 'T');
    // A date alone is UTC to Date.parse; people mean their own midnight.
    const t = Date.parse(/T/.test(iso) ? iso : `${iso}T00:00`);
    if (Number.isFinite(t)) return t;
  }
  throw usageError(`${what} ${JSON.stringify(text)} is not a time`,
    'use now, a duration ago (24h, 90m, 7d), an ISO date/time (2025-11-26T08:00, local time) or @unix-seconds');
}

/** parseTime for --from/--to, checking from < to. */
export function parseRange(fromText: string, toText: string, now: number): { from: number; to: number } {
  const from = parseTime(fromText, now, '--from');
  const to = parseTime(toText, now, '--to');
  if (!(from < to)) {
    throw usageError(`--from ${fromText} is not before --to ${toText}`, 'give a range that runs forward in time, e.g. --from 24h --to now');
  }
  return { from, to };
}
