// Package config (ternctl) is `ternctl config`: validate, diff, apply with confirm-or-rollback, confirm, rollback, history, and the networkd files of the box's addressing. The transaction itself is daemons/lib/config/transaction; the files, daemons/lib/networkd.
import fs from 'node:fs';
import { parseConfig, readConfigText } from '../../lib/config/index.js';
import { TernError } from '../../lib/errors.js';
import type { CommandResult, CtlContext } from '../context.js';
import { exitCodes, isPermissionError, permissionError, usageError } from '../exit.js';
import { duration, painter, stateColour, table, timestamp } from '../format.js';
import { ReadOnlyDb } from '../state.js';
import { parseDuration } from '../time.js';
import {
  ConfigApplier, ConfigHistory, pendingIn, sha256,
  type ApplyOutcome, type ConfigVersion, type PendingApply, type ReloadResult, type RollbackOutcome,
} from '../../lib/config/transaction/index.js';
import { networkdLine, type NetworkdSync } from '../../lib/networkd/index.js';
import { unifiedDiff } from './diff.js';

export {
  ConfigApplier, ConfigHistory, pendingIn, readPending, rollbackArgv, sha256, startRollbackTimer, stopRollbackTimer, systemdRunArgv, writeFileAtomic,
  type ApplyOutcome, type ConfigVersion, type PendingApply, type ReloadResult, type RollbackOutcome, type RollbackTimer,
} from '../../lib/config/transaction/index.js';
export {
  defaultNetworkdRoot, networkctlReload, ownNetworkdFiles, syncNetworkd, systemNetworkd, writeNetworkd,
  type NetworkdSync, type NetworkdTarget, type NetworkdWrite,
} from '../../lib/networkd/index.js';
export { configNetworkd } from './networkd.js';
export { diffLines, unifiedDiff } from './diff.js';

/** Default time to confirm an apply. */
export const defaultConfirmWithin = '120s';

// The daemons' own reader: a FIFO, a device or an oversized file is refused before a byte is read.
function readInput(file: string): string {
  try {
    return readConfigText(file);
  } catch (err) {
    if (isPermissionError(err)) throw permissionError('read', file, err);
    throw err;
  }
}

const short = (h: string | null | undefined): string => (h ? h.slice(0, 12) : '-');

function reloadLines(ctx: CtlContext, rs: ReloadResult[]): string {
  const paint = painter(ctx.color);
  return table(rs, [
    { header: 'DAEMON', get: (r) => r.daemon },
    { header: 'RESULT', get: (r) => paint(r.result, stateColour(r.result === 'reloaded' ? 'ok' : r.result === 'not running' ? 'unknown' : 'error')) },
    { header: 'CONFIG', get: (r) => short(r.configHash) },
    { header: 'NOTE', get: (r) => (r.result === 'reloaded' || r.result === 'not running' ? '' : r.error ?? '') },
  ], '  ');
}

/** config validate [FILE]: check a file (default the running config) without applying it. */
export function configValidate(ctx: CtlContext, file: string | undefined): CommandResult {
  const f = file ?? ctx.paths.configFile;
  const loaded = parseConfig(readInput(f), f);
  const c = loaded.config;
  return {
    data: { file: f, valid: true, hash: loaded.hash, site: c.identity.site, name: c.identity.name },
    text: `${f}: valid (site ${c.identity.site}, appliance ${c.identity.name}, ${c.wans.length} WAN(s), ${c.overlay.sites.length} remote site(s), ${c.remoteUsers.length} remote user(s); sha256 ${short(loaded.hash)})`,
  };
}

/** config diff [FILE] [--version ID]: FILE (or an earlier version) against the running config. */
export async function configDiff(ctx: CtlContext, file: string | undefined, opts: { version?: string }): Promise<CommandResult> {
  const running = fs.existsSync(ctx.paths.configFile) ? readInput(ctx.paths.configFile) : '';
  let other: string;
  let label: string;
  if (opts.version !== undefined) {
    if (file !== undefined) throw usageError('give a FILE or --version, not both', 'ternctl config diff new.yaml, or ternctl config diff --version 3');
    const id = versionId(opts.version);
    const db = await ReadOnlyDb.open(ctx.paths.dbFile);
    try {
      other = (db ? await new ConfigHistory(db).text(id) : undefined) ?? '';
    } finally {
      await db?.close();
    }
    if (other === '') throw new TernError('TERN_E_CTL_NOT_FOUND', `ternctl: config diff: no version #${id} in the history (see ternctl config history)`);
    label = `version #${id}`;
  } else {
    if (file === undefined) throw usageError('config diff needs a FILE or --version ID', 'ternctl config diff new.yaml');
    other = readInput(file);
    label = file;
  }
  const paint = painter(ctx.color);
  const text = unifiedDiff(running, other, { from: `${ctx.paths.configFile} (running)`, to: label },
    (l, t) => (l.op === '+' ? paint(t, 'green') : l.op === '-' ? paint(t, 'red') : t));
  return {
    data: { from: ctx.paths.configFile, to: label, fromHash: sha256(running), toHash: sha256(other), identical: text === '', diff: text },
    text: text === '' ? `${label} is identical to the running config` : text,
    // Like diff(1): 1 when the files differ, so scripts can test it.
    exitCode: text === '' ? exitCodes.ok : exitCodes.failed,
  };
}

function versionId(text: string): number {
  const id = Number(text.replace(/^#/, ''));
  if (!Number.isInteger(id) || id <= 0) throw usageError(`version ${JSON.stringify(text)} is not a version number`, 'see the numbers in ternctl config history');
  return id;
}

function confirmWithin(text: string | undefined): number {
  const ms = parseDuration(text ?? defaultConfirmWithin, '--confirm-within');
  if (ms !== 0 && ms < 1000) throw usageError('--confirm-within must be 0 (confirm at once) or at least 1s', '--confirm-within 120s');
  return ms;
}

/** The networkd line of apply and rollback output; none where Tern does not manage networkd (the lab). */
const networkdText = (s: NetworkdSync): string => (s.result === 'skipped' ? '' : `\n${networkdLine(s)}`);

function applyText(ctx: CtlContext, o: ApplyOutcome, from: string): string {
  if (o.state === 'unchanged') return `${from} is the running config already (sha256 ${short(o.hash)}); nothing applied. Daemons:\n${reloadLines(ctx, o.daemons)}${networkdText(o.networkd)}`;
  const head = `applied ${from} as version #${o.id} (sha256 ${short(o.hash)}; previous #${o.previousId})`;
  const tail = o.state === 'confirmed'
    ? 'confirmed at once.'
    : `NOT YET CONFIRMED: run "ternctl config confirm" within ${duration(o.deadline! - ctx.clock.now())}, or it rolls back to #${o.previousId} at ${timestamp(o.deadline!)} (timer: ${o.timer?.kind === 'systemd' ? `systemd unit ${o.timer.unit}` : `process ${o.timer?.pid}`}).`;
  return `${head}\n${reloadLines(ctx, o.daemons)}${networkdText(o.networkd)}\n${tail}`;
}

/** config apply FILE [--confirm-within D]. */
export async function configApply(ctx: CtlContext, file: string, opts: { confirmWithin?: string }): Promise<CommandResult> {
  const within = confirmWithin(opts.confirmWithin);
  const text = readInput(file);
  const o = await new ConfigApplier(ctx).apply(text, file, { confirmWithinMs: within, source: `ternctl apply ${file}` });
  const bad = o.daemons.some((d) => d.result === 'not responding');
  return { data: o, text: applyText(ctx, o, file), exitCode: bad ? exitCodes.unreachable : exitCodes.ok };
}

/** config confirm. */
export async function configConfirm(ctx: CtlContext): Promise<CommandResult> {
  const r = await new ConfigApplier(ctx).confirm();
  const consistent = r.daemons.every((d) => d.result !== 'reloaded' || d.configHash === r.pending.hash);
  return {
    data: { id: r.pending.id, hash: r.pending.hash, daemons: r.daemons, consistent },
    text: `confirmed version #${r.pending.id} (sha256 ${short(r.pending.hash)}); the rollback timer is stopped${r.timerNote ? ` (note: ${r.timerNote})` : ''}.\n${reloadLines(ctx, r.daemons)}`,
  };
}

function rollbackText(ctx: CtlContext, r: RollbackOutcome): string {
  return `rolled back version #${r.id}: restored #${r.restoredId} (sha256 ${short(r.hash)}); reason: ${r.reason}\n${reloadLines(ctx, r.daemons)}${networkdText(r.networkd)}`;
}

/**
 * config rollback: the pending apply now; --to ID: re-apply an earlier
 * version (pending, like any apply); --if-unconfirmed ID [--at MS]: the
 * timer's form, waits for the deadline and rolls back only if ID is still
 * pending; --if-pending: no error when nothing is pending (boot).
 */
export async function configRollback(ctx: CtlContext, opts: { to?: string; ifUnconfirmed?: string; at?: string; ifPending?: boolean; confirmWithin?: string }): Promise<CommandResult> {
  const applier = new ConfigApplier(ctx);
  if (opts.to !== undefined) {
    if (opts.ifUnconfirmed !== undefined) throw usageError('--to and --if-unconfirmed do not go together', 'ternctl config rollback --to 3');
    const o = await applier.reapply(versionId(opts.to), confirmWithin(opts.confirmWithin));
    return { data: o, text: applyText(ctx, o, `version #${opts.to}`) };
  }
  if (opts.ifUnconfirmed !== undefined) {
    const id = versionId(opts.ifUnconfirmed);
    const at = opts.at === undefined ? ctx.clock.now() : Number(opts.at);
    if (!Number.isFinite(at)) throw usageError(`--at ${opts.at} is not a time in ms`, '--at 1764144000000');
    const r = await applier.rollbackIfUnconfirmed(id, at, ctx.signal);
    if (r.rolledBack) return { data: r, text: rollbackText(ctx, r) };
    if (r.why === 'stopped') return { data: { id, rolledBack: false, reason: 'stopped' }, text: `rollback timer for #${id} stopped` };
    return {
      data: { id, rolledBack: false, reason: 'confirmed or settled' },
      text: r.why === 'not pending' ? `version #${id} is not pending any more; nothing to roll back` : `version #${id} was settled meanwhile; nothing rolled back`,
    };
  }
  const r = await applier.rollbackPending('rolled back by ternctl config rollback');
  if (!r) {
    if (opts.ifPending) return { data: { rolledBack: false }, text: 'no apply is pending; nothing to roll back' };
    throw new TernError('TERN_E_CTL_APPLY', 'ternctl: config rollback: no apply is pending; to go back to an earlier version use --to ID (see ternctl config history)');
  }
  return { data: { ...r, rolledBack: true }, text: rollbackText(ctx, r) };
}

/** config history [--show ID]. */
export async function configHistory(ctx: CtlContext, opts: { show?: string; limit?: string }): Promise<CommandResult> {
  const db = await ReadOnlyDb.open(ctx.paths.dbFile);
  const limit = opts.limit === undefined ? 20 : Number(opts.limit);
  if (!Number.isInteger(limit) || limit <= 0) throw usageError(`--limit ${opts.limit} is not a positive whole number`, '--limit 20');
  let versions: ConfigVersion[] = [];
  let pending: PendingApply | undefined;
  let shown: string | undefined;
  try {
    if (db && (await db.hasTable('config_history'))) {
      const h = new ConfigHistory(db);
      if (opts.show !== undefined) {
        const id = versionId(opts.show);
        shown = await h.text(id);
        if (shown === undefined) throw new TernError('TERN_E_CTL_NOT_FOUND', `ternctl: config history: no version #${id}`);
        const v = await h.version(id);
        return { data: { version: v, text: shown }, text: shown };
      }
      versions = await h.list(limit);
      pending = await pendingIn(db);
    }
  } finally {
    await db?.close();
  }
  const runningHash = fs.existsSync(ctx.paths.configFile) ? sha256(readInput(ctx.paths.configFile)) : null;
  const paint = painter(ctx.color);
  const rows = versions.map((v) => ({ ...v, running: v.hash === runningHash }));
  const text = [
    table(rows, [
      { header: 'ID', get: (v) => `#${v.id}`, right: true },
      { header: 'WHEN', get: (v) => timestamp(v.ts) },
      { header: 'STATE', get: (v) => paint(v.state, stateColour(v.state)) },
      { header: 'SHA256', get: (v) => short(v.hash) },
      { header: 'RUNNING', get: (v) => (v.running ? '*' : '') },
      { header: 'SOURCE', get: (v) => v.source },
    ]),
    ...(pending ? [`\nversion #${pending.id} is pending: it rolls back to #${pending.previousId} at ${timestamp(pending.deadline)} unless confirmed (ternctl config confirm)`] : []),
  ].join('\n');
  return { data: { runningHash, pending: pending ?? null, versions: rows }, text: versions.length ? text : 'no config has been applied with ternctl yet' };
}
