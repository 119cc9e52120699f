// Text output for people: aligned tables, units, state colours. Colour only
// on a terminal without NO_COLOR; --json never goes through here.

const codes = { red: 31, green: 32, yellow: 33, blue: 34, magenta: 35, cyan: 36, grey: 90, bold: 1 } as const;
export type Colour = keyof typeof codes;

/** Paints text when enabled; a no-op painter otherwise. */
export function painter(enabled: boolean): (text: string, colour: Colour) => string {
  return enabled ? (text, colour) => `\x1b[${codes[colour]}m${text}\x1b[0m` : (text) => text;
}

/** The colour of a state word: up/running green, degraded yellow, down/not running red. */
export function stateColour(state: string): Colour {
  if (/^(up|running|ok|master|active|confirmed|yes)$/.test(state)) return 'green';
  if (/^(degraded|warning|connecting|pending|backup|not responding|unknown|init)$/.test(state)) return 'yellow';
  if (/^(down|error|not running|permission denied|fault|rolled-back|revoked)$/.test(state)) return 'red';
  return 'grey';
}

// ANSI colour codes take no room on screen.
const visible = (s: string): number => [...s.replace(/\x1b\[[0-9;]*m/g, '')].length;

export interface Column<R> {
  header: string;
  get(row: R): string;
  /** Right-align (numbers). */
  right?: boolean;
}

/** An aligned table with a header line; '(none)' for no rows. */
export function table<R>(rows: readonly R[], columns: readonly Column<R>[], indent = ''): string {
  if (rows.length === 0) return `${indent}(none)`;
  const cells = rows.map((r) => columns.map((c) => c.get(r)));
  const widths = columns.map((c, i) => Math.max(visible(c.header), ...cells.map((row) => visible(row[i]!))));
  const line = (vals: string[]): string => indent + vals.map((v, i) => {
    const pad = ' '.repeat(widths[i]! - visible(v));
    return columns[i]!.right ? pad + v : i === vals.length - 1 ? v : v + pad;
  }).join('  ').trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)].join('\n');
}

/** "key: value" lines, aligned. */
export function keyValues(pairs: ReadonlyArray<[string, string]>, indent = ''): string {
  const w = Math.max(0, ...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${indent}${`${k}:`.padEnd(w + 1)} ${v}`).join('\n');
}

const dash = '-';

export function pct(v: number | null | undefined, digits = 1): string {
  return v === null || v === undefined || !Number.isFinite(v) ? dash : `${v.toFixed(digits)}%`;
}

export function ms(v: number | null | undefined, digits = 1): string {
  return v === null || v === undefined || !Number.isFinite(v) ? dash : `${v.toFixed(digits)} ms`;
}

/** 1536 → "1.5 KiB". */
export function bytes(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return dash;
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let x = v;
  let i = 0;
  while (x >= 1024 && i < units.length - 1) { x /= 1024; i++; }
  return i === 0 ? `${x} B` : `${x.toFixed(1)} ${units[i]}`;
}

/** 93_000 → "1m33s"; 0.4 s → "400ms". */
export function duration(msValue: number | null | undefined): string {
  if (msValue === null || msValue === undefined || !Number.isFinite(msValue)) return dash;
  if (msValue < 1000) return `${Math.round(msValue)}ms`;
  let s = Math.floor(msValue / 1000);
  const d = Math.floor(s / 86_400); s -= d * 86_400;
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  if (d > 0) return `${d}d${h}h`;
  if (h > 0) return `${h}h${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m${String(s).padStart(2, '0')}s`;
  return `${s}s`;
}

// Rates are formatted where the QoS view is made (shared with the exporter).
export { rate } from '../lib/views/qos.js';

/** Local time as YYYY-MM-DD HH:MM:SS (the box's clock and zone). */
export function timestamp(msValue: number): string {
  const d = new Date(msValue);
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** Any JSON value as short text, for fields ternctl shows without knowing them. */
export function brief(v: unknown): string {
  if (v === null || v === undefined) return dash;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  const s = JSON.stringify(v);
  return s.length > 100 ? `${s.slice(0, 97)}...` : s;
}
