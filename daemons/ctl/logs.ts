// ternctl logs: the daemons' pino JSON lines made readable, merged in time
// order and filtered by daemon, level, time and text. Lines come from
// files, a directory of *.log files (the lab), stdin, or journald.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { TernError, errorMessage } from '../lib/errors.js';
import type { CommandResult, CtlContext } from './context.js';
import { isPermissionError, permissionError, usageError } from './exit.js';
import { brief, painter, type Colour } from './format.js';
import { parseTime } from './time.js';
import { runningConfig } from './views.js';

export const levels = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;
export type LevelName = keyof typeof levels;

/** One log line, parsed. */
export interface LogLine {
  /** Wall-clock ms; null for a line without a time. */
  time: number | null;
  level: LevelName | null;
  /** Daemon name without the tern- prefix. */
  daemon: string | null;
  component: string | null;
  msg: string;
  /** The line's other fields. */
  fields: Record<string, unknown>;
  /** Where it came from (file name, 'stdin', 'journal'). */
  source: string;
}

const levelName = (n: unknown): LevelName | null => {
  if (typeof n === 'string' && n in levels) return n as LevelName;
  if (typeof n !== 'number') return null;
  const found = (Object.entries(levels) as Array<[LevelName, number]>).filter(([, v]) => v <= n).pop();
  return found ? found[0] : 'trace';
};

const known = new Set(['level', 'time', 'daemon', 'pid', 'hostname', 'msg', 'component', 'name', 'v']);

/** Parse one line: a pino JSON object, or plain text kept as the message. */
export function parseLine(text: string, source: string, daemonHint: string | null = null): LogLine | undefined {
  const t = text.trim();
  if (t === '') return undefined;
  if (t.startsWith('{')) {
    try {
      const o = JSON.parse(t) as Record<string, unknown>;
      const time = typeof o.time === 'number' ? o.time : typeof o.time === 'string' ? Date.parse(o.time) : NaN;
      const d = typeof o.daemon === 'string' ? o.daemon : typeof o.name === 'string' ? o.name : daemonHint;
      return {
        time: Number.isFinite(time) ? time : null,
        level: levelName(o.level),
        daemon: d ? d.replace(/^tern-/, '') : null,
        component: typeof o.component === 'string' ? o.component : null,
        msg: typeof o.msg === 'string' ? o.msg : '',
        fields: Object.fromEntries(Object.entries(o).filter(([k]) => !known.has(k))),
        source,
      };
    } catch {
      // Not JSON after all: shown as text below.
    }
  }
  return { time: null, level: null, daemon: daemonHint, component: null, msg: t, fields: {}, source };
}

/** The daemon a lab log file belongs to: <node>.<daemon>.log. */
function daemonOfFile(file: string): string | null {
  const m = /(?:^|\.)([a-z]+d)\.log$/.exec(path.basename(file));
  return m ? m[1]! : null;
}

/** The last maxBytes of a file (logs grow; ternctl shows the end). */
function tail(file: string, maxBytes = 32 * 1024 * 1024): string {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (err) {
    if (isPermissionError(err)) throw permissionError('read log', file, err);
    throw new TernError('TERN_E_CONFIG_READ', `ternctl: logs: read ${file}: ${errorMessage(err)}`, { cause: err });
  }
  try {
    const size = fs.fstatSync(fd).size;
    const start = Math.max(0, size - maxBytes);
    const buf = Buffer.alloc(size - start);
    fs.readSync(fd, buf, 0, buf.length, start);
    const text = buf.toString('utf8');
    return start > 0 ? text.slice(text.indexOf('\n') + 1) : text;
  } finally {
    fs.closeSync(fd);
  }
}

function readStdin(stream: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer | string) => chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c)));
    stream.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    stream.on('error', reject);
  });
}

export interface LogSourceOptions {
  files: string[];
  dir?: string;
  since?: number;
  /** This appliance's name (identity.name): in a shared directory only <host>.*.log is read. */
  host?: string;
  /** Read a pipe on stdin when no file or directory is given (the logs command; not diag). */
  stdin?: boolean;
}

/** Where logs come from, in this order: --file, --dir (or TERN_LOG_DIR), a pipe on stdin, journald. */
export async function readLogs(ctx: CtlContext, opts: LogSourceOptions): Promise<{ lines: LogLine[]; source: string }> {
  const parse = (text: string, source: string, hint: string | null): LogLine[] =>
    text.split('\n').map((l) => parseLine(l, source, hint)).filter((l): l is LogLine => l !== undefined);
  const dir = opts.dir ?? ctx.env.TERN_LOG_DIR;
  if (opts.files.length > 0 || dir) {
    let files = opts.files;
    if (files.length === 0) {
      try {
        const all = fs.readdirSync(dir!).filter((f) => f.endsWith('.log')).sort();
        // A directory shared by several boxes (the lab: <box>.<daemon>.log) is narrowed to this box's files.
        const own = opts.host ? all.filter((f) => f.startsWith(`${opts.host}.`)) : [];
        files = (own.length ? own : all).map((f) => path.join(dir!, f));
      } catch (err) {
        if (isPermissionError(err)) throw permissionError('read log directory', dir!, err);
        throw new TernError('TERN_E_CONFIG_READ', `ternctl: logs: read ${dir}: ${errorMessage(err)}`, { cause: err });
      }
    }
    return { lines: files.flatMap((f) => parse(tail(f), path.basename(f), daemonOfFile(f))), source: files.length ? files.join(', ') : `${dir} (no *.log files)` };
  }
  if (opts.stdin && !ctx.io.stdinIsTTY) {
    return { lines: parse(await readStdin(ctx.io.stdin), 'stdin', null), source: 'stdin' };
  }
  if (fs.existsSync('/run/systemd/system')) {
    const args = ['-o', 'cat', '--no-pager', '-u', 'tern-*', ...(opts.since !== undefined ? ['--since', `@${Math.floor(opts.since / 1000)}`] : ['-n', '5000'])];
    const r = spawnSync('journalctl', args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, timeout: 30_000 });
    if (r.status === 0) return { lines: parse(r.stdout, 'journal', null), source: 'journald (tern-*)' };
    if (/permission|not seeing messages/i.test(r.stderr)) throw permissionError('read the journal', 'journald', r.error);
  }
  throw usageError('no log source: journald is not running here and nothing is piped in',
    'give --file FILE, --dir DIR (or set TERN_LOG_DIR), or pipe lines in: journalctl -o cat -u tern-tunneld | ternctl logs');
}

const levelColour: Record<LevelName, Colour> = { trace: 'grey', debug: 'grey', info: 'green', warn: 'yellow', error: 'red', fatal: 'red' };

function pad2(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

/** One line as people read it: time, level, daemon/component, message, fields. */
export function formatLine(l: LogLine, colour: boolean): string {
  const paint = painter(colour);
  const d = l.time === null ? null : new Date(l.time);
  const time = d ? `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}.${pad2(d.getMilliseconds(), 3)}` : ''.padEnd(23);
  const level = l.level ? paint(l.level.toUpperCase().padEnd(5), levelColour[l.level]) : '     ';
  const who = [l.daemon, l.component].filter(Boolean).join('/') || l.source;
  const fields = Object.entries(l.fields).map(([k, v]) => `${paint(k, 'grey')}=${brief(v)}`).join(' ');
  return `${paint(time, 'grey')} ${level} ${paint(who.padEnd(16), 'cyan')} ${l.msg}${fields ? `  ${fields}` : ''}`;
}

export interface LogsOptions {
  daemons: string[];
  level: string;
  since?: string;
  lines: string;
  files: string[];
  dir?: string;
  grep?: string;
}

export async function logsCommand(ctx: CtlContext, opts: LogsOptions): Promise<CommandResult> {
  const min = levels[opts.level as LevelName];
  if (min === undefined) throw usageError(`--level ${opts.level} is not a level`, 'trace, debug, info, warn, error or fatal');
  const n = Number(opts.lines);
  if (!Number.isInteger(n) || n <= 0) throw usageError(`--lines ${opts.lines} is not a positive whole number`, '-n 200');
  const since = opts.since === undefined ? undefined : parseTime(opts.since, ctx.clock.now(), '--since');
  const want = new Set(opts.daemons.map((d) => d.replace(/^tern-/, '')));
  const host = (await runningConfig(ctx)).loaded?.config.identity.name;
  const { lines: all, source } = await readLogs(ctx, { files: opts.files, dir: opts.dir, since, host, stdin: true });
  // A line without a time sorts with the timed line before it in its source.
  const sortTime = new Map<LogLine, number>();
  const lastOf = new Map<string, number>();
  for (const l of all) {
    const t = l.time ?? lastOf.get(l.source) ?? 0;
    lastOf.set(l.source, t);
    sortTime.set(l, t);
  }
  const kept = all
    .filter((l) => want.size === 0 || (l.daemon !== null && want.has(l.daemon)))
    .filter((l) => l.level === null || levels[l.level] >= min)
    .filter((l) => since === undefined || (l.time !== null && l.time >= since))
    .filter((l) => opts.grep === undefined || l.msg.includes(opts.grep) || JSON.stringify(l.fields).includes(opts.grep))
    .map((l, i) => ({ l, i }))
    // Stable merge of several files by time.
    .sort((a, b) => sortTime.get(a.l)! - sortTime.get(b.l)! || a.i - b.i)
    .map(({ l }) => l)
    .slice(-n);
  return {
    data: { source, lines: kept },
    text: kept.length ? kept.map((l) => formatLine(l, ctx.color)).join('\n') : `no log lines match (source: ${source})`,
  };
}
