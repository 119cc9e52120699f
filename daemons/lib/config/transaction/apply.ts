// Applying a config the way `commit confirmed` does: validate, keep the
// previous version, write atomically, reload every running daemon, and roll
// back unless confirmed in time. A daemon that refuses the new config gets
// it rolled back at once, so the daemons never disagree for longer than a
// reload. The box's own addressing (wans, lan) follows the config too: its
// networkd files are re-rendered and networkd reloaded before the daemons.
//
// Power cuts (issue #15): the order of the writes makes every state a cut
// can leave one the boot-time rollback (rollbackPending) finishes.
// - apply: one FULL transaction records the version pending and, before it
//   commits, writes the pending record (pending.ts: the previous text) and
//   fsyncs it with its directory; only then is the new tern.yaml renamed in.
//   So the new file is never on disk without its way back.
// - rollback: one FULL transaction marks the version rolled back and, before
//   it commits, writes the previous text back; then the record is removed.
//   A cut before the commit leaves it pending (done again at boot); after
//   it, the record is left over with the file already restored.
// - confirm: one FULL transaction marks it confirmed; then the record is
//   removed. A record whose version is confirmed is left over: removed.
import fs from 'node:fs';
import { parseConfig, readConfigText, type TernConfig } from '../../config/index.js';
import { TernError, errorMessage, isTernError } from '../../errors.js';
import { isPermissionError, permissionError } from '../../errors.js';
import { syncNetworkd, systemNetworkd, type NetworkdSync, type NetworkdTarget } from '../../networkd/index.js';
import { openStateForWrite } from '../../store/state.js';
import { knownDaemons, livenessOf } from '../../views/daemons.js';
import type { TransactionContext } from './context.js';
import { writeFileAtomic } from './atomic.js';
import { ConfigHistory, readPending, sha256, type PendingApply, type RollbackTimer } from './history.js';
import { pendingRecordFile, readPendingRecord, removePendingRecord, writePendingRecord, type PendingRecord } from './pending.js';
import { startRollbackTimer, stopRollbackTimer, type TimerOptions } from './timer.js';

/** What one daemon did with daemon.reload. */
export interface ReloadResult {
  daemon: string;
  result: 'reloaded' | 'refused' | 'not running' | 'not responding' | 'permission denied' | 'inconsistent';
  /** The config hash the daemon runs now (from its reply). */
  configHash: string | null;
  error: string | null;
}

export interface ApplyOutcome {
  /** The version applied; null when the file equals the running config. */
  id: number | null;
  previousId: number | null;
  hash: string;
  state: 'pending' | 'confirmed' | 'unchanged';
  /** Wall-clock ms of the automatic rollback (state pending). */
  deadline: number | null;
  timer: RollbackTimer | null;
  daemons: ReloadResult[];
  /** The box's networkd files re-rendered from the applied config (best effort). */
  networkd: NetworkdSync;
}

export interface RollbackOutcome {
  /** The version rolled back, and the one restored. */
  id: number;
  restoredId: number;
  hash: string;
  reason: string;
  daemons: ReloadResult[];
  networkd: NetworkdSync;
}

/** What the rollback timer did: rolled version id back, or found nothing to do. */
export type TimerOutcome =
  | (RollbackOutcome & { rolledBack: true })
  | { id: number; rolledBack: false; why: 'not pending' | 'settled meanwhile' | 'stopped' };

export interface ApplierOptions {
  /** How long a daemon may take to reload (default 20 s: tunneld resolves names). */
  reloadTimeoutMs?: number;
  timerMode?: TimerOptions['mode'];
  /** Starts the rollback timer (default startRollbackTimer: systemd-run or a detached ternctl). */
  startTimer?: (id: number, deadline: number) => RollbackTimer;
  /** Where the box's networkd files are and how networkd reloads (default /run/systemd, networkctl reload). */
  networkd?: NetworkdTarget;
}

const ok = (r: ReloadResult): boolean => r.result === 'reloaded' || r.result === 'not running';

/** What a pending record no pending version matches says, for messages. */
const unfinished = (configFile: string, left: { record: PendingRecord; state: string | undefined }): string =>
  `a crash left version #${left.record.id} unfinished (${pendingRecordFile(configFile)} is still there; the history has it ${left.state ?? 'not at all'})`;

export class ConfigApplier {
  private readonly reloadTimeoutMs: number;

  constructor(private readonly ctx: TransactionContext, private readonly opts: ApplierOptions = {}) {
    this.reloadTimeoutMs = opts.reloadTimeoutMs ?? 20_000;
  }

  /** The running config's text; '' when there is none yet. */
  runningText(): string {
    try {
      return readConfigText(this.ctx.paths.configFile);
    } catch (err) {
      if (isTernError(err) && err.details?.errno === 'ENOENT') return '';
      if (isPermissionError(err)) throw permissionError('read config', this.ctx.paths.configFile, err);
      throw err;
    }
  }

  /**
   * Apply text (read from file, for messages). Validation errors throw the
   * config loader's error (key path and line) before anything is touched.
   * confirmWithinMs 0 confirms at once (no timer).
   */
  async apply(text: string, file: string, opts: { confirmWithinMs: number; source: string }): Promise<ApplyOutcome> {
    const parsed = parseConfig(text, file);
    this.checkWritable();
    const running = this.runningText();
    if (running === text) {
      const networkd = await this.networkd(parsed.config);
      return { id: null, previousId: null, hash: parsed.hash, state: 'unchanged', deadline: null, timer: null, daemons: await this.reloadAll(parsed.hash), networkd };
    }
    const store = await openStateForWrite(this.ctx.paths);
    try {
      const history = new ConfigHistory(store, () => this.ctx.clock.now());
      const file = this.ctx.paths.configFile;
      const left = await this.leftoverRecord(history);
      if (left && left.state !== 'pending') {
        throw new TernError('TERN_E_CTL_APPLY', `ternctl: config apply: ${unfinished(file, left)}; run ternctl config rollback first`);
      }
      // Without a running config there is nothing to roll back to.
      const confirmWithin = running === '' ? 0 : opts.confirmWithinMs;
      // Provisional: the deadline counts from when the daemons have reloaded (below).
      const { id, previousId } = await history.begin(running, text, opts.source, this.ctx.clock.now() + confirmWithin,
        (r) => writePendingRecord(file, { ...r, hash: sha256(text), previousHash: sha256(running), previousText: running }));
      try {
        writeFileAtomic(file, text);
      } catch (err) {
        await this.undo(history, id, running, { reason: `write failed: ${errorMessage(err)}` }).catch((e: unknown) => {
          throw new TernError('TERN_E_CTL_APPLY', `${errorMessage(err)}; restoring the previous config failed too (${errorMessage(e)}): version #${id} stays pending, run ternctl config rollback`, { cause: err });
        });
        throw err;
      }
      // Addresses first: a daemon's reload may need them (tunneld's routes take the LAN address as source).
      const networkd = await this.networkd(parsed.config);
      const daemons = await this.reloadAll(parsed.hash);
      const refused = daemons.filter((d) => !ok(d) && d.result !== 'not responding');
      if (refused.length > 0 && running !== '') {
        await this.undo(history, id, running, { reason: 'refused by a daemon', refusedBy: refused.map((d) => d.daemon) });
        const restoredNetworkd = await this.networkdOf(running);
        const after = await this.reloadAll(sha256(running));
        throw new TernError('TERN_E_CTL_APPLY', [
          `ternctl: config apply: ${refused.map((d) => `${d.daemon} ${d.result}: ${d.error ?? ''}`.trim()).join('; ')}`,
          `the previous config (version #${previousId}) was restored: ${after.map((d) => `${d.daemon} ${d.result}`).join(', ')}`,
          ...(restoredNetworkd.result === 'skipped' ? [] : [`networkd: ${restoredNetworkd.result} (${restoredNetworkd.detail})`]),
        ].join('\n'), { details: { id, previousId, daemons, restored: after, networkd: restoredNetworkd } });
      }
      if (confirmWithin <= 0) {
        await this.settleConfirmed(history, id, { immediate: true });
        return { id, previousId, hash: parsed.hash, state: 'confirmed', deadline: null, timer: null, daemons, networkd };
      }
      // The engineer gets the whole window to check the box, however long the reloads took.
      const deadline = this.ctx.clock.now() + confirmWithin;
      let timer: RollbackTimer;
      try {
        timer = this.opts.startTimer
          ? this.opts.startTimer(id, deadline)
          : startRollbackTimer({ self: this.ctx.self, env: this.ctx.env, paths: this.ctx.paths, mode: this.opts.timerMode ?? 'auto' }, id, deadline, this.ctx.clock.now());
      } catch (err) {
        // No timer means no safety net: undo now rather than leave an unguarded change.
        await this.rollbackPending(`no rollback timer could be started: ${errorMessage(err)}`);
        throw new TernError('TERN_E_CTL_APPLY', `ternctl: config apply: could not start the rollback timer (${errorMessage(err)}); the previous config was restored`, { cause: err });
      }
      await history.setTimer(id, timer, deadline);
      return { id, previousId, hash: parsed.hash, state: 'pending', deadline, timer, daemons, networkd };
    } finally {
      await store.close().catch(() => undefined);
    }
  }

  /** Confirm the pending apply. TERN_E_CTL_APPLY when nothing is pending. */
  async confirm(): Promise<{ pending: PendingApply; daemons: ReloadResult[]; timerNote: string | undefined }> {
    const store = await openStateForWrite(this.ctx.paths);
    try {
      const history = new ConfigHistory(store, () => this.ctx.clock.now());
      const left = await this.leftoverRecord(history);
      const pending = await history.pending();
      if (!pending) {
        if (left) throw new TernError('TERN_E_CTL_APPLY', `ternctl: config confirm: ${unfinished(this.ctx.paths.configFile, left)}; run ternctl config rollback, then apply it again`);
        throw new TernError('TERN_E_CTL_APPLY', 'ternctl: config confirm: no apply is pending; nothing to confirm (see ternctl config history)');
      }
      if (!(await this.settleConfirmed(history, pending.id, {}))) {
        throw new TernError('TERN_E_CTL_APPLY', `ternctl: config confirm: version #${pending.id} was rolled back just now; apply it again`);
      }
      const timerNote = stopRollbackTimer(pending.timer, pending.id);
      return { pending, daemons: await this.statusAll(), timerNote };
    } finally {
      await store.close().catch(() => undefined);
    }
  }

  /**
   * Roll the pending apply back now: restore the version it replaced and
   * reload. Undefined when nothing is pending (or someone settled it first).
   * Also what the boot runs: it finishes whatever a power cut left (see the
   * top of this file), from the pending record when there is one, else from
   * the history.
   */
  async rollbackPending(reason: string): Promise<RollbackOutcome | undefined> {
    this.checkWritable();
    const store = await openStateForWrite(this.ctx.paths);
    try {
      const history = new ConfigHistory(store, () => this.ctx.clock.now());
      const file = this.ctx.paths.configFile;
      const left = await this.leftoverRecord(history);
      const pending = await history.pending();
      if (!pending && !left) return undefined;
      if (pending && left && left.record.id !== pending.id) {
        throw new TernError('TERN_E_CTL_APPLY', `ternctl: config rollback: ${pendingRecordFile(file)} is for version #${left.record.id} but #${pending.id} is pending; nothing was changed: see ternctl config history, and remove the file once tern.yaml is the config you want`);
      }
      const id = pending?.id ?? left!.record.id;
      const previousId = left?.record.previousId ?? pending!.previousId;
      const text = left ? left.record.previousText : await history.text(previousId);
      if (text === undefined) throw new TernError('TERN_E_CTL_APPLY', `ternctl: config rollback: version #${previousId} is missing from the history`);
      if (pending) {
        if (!(await this.undo(history, id, text, { reason, restored: previousId }))) return undefined;
      } else {
        // The history has it rolled back (cut before the record went) or
        // never got it (cut before its commit): finish from the record.
        writeFileAtomic(file, text);
        removePendingRecord(file);
      }
      // The addressing goes back too: the apply may be what cut the engineer off.
      const networkd = await this.networkdOf(text);
      const daemons = await this.reloadAll(sha256(text));
      return { id, restoredId: previousId, hash: sha256(text), reason, daemons, networkd };
    } finally {
      await store.close().catch(() => undefined);
    }
  }

  /**
   * The rollback timer (`ternctl config rollback --if-unconfirmed ID --at
   * MS`): wait until at, then roll version id back if it is still pending.
   * Wakes at least every 10 s: a confirm ends the wait early even if its
   * signal never came. signal stops the wait.
   */
  async rollbackIfUnconfirmed(id: number, at: number, signal: AbortSignal): Promise<TimerOutcome> {
    for (;;) {
      const pending = await readPending(this.ctx);
      if (!pending || pending.id !== id) return { id, rolledBack: false, why: 'not pending' };
      const left = at - this.ctx.clock.now();
      if (left <= 0) break;
      await this.sleep(Math.min(left, 10_000), signal);
      if (signal.aborted) return { id, rolledBack: false, why: 'stopped' };
    }
    const r = await this.rollbackPending(`not confirmed by ${new Date(at).toISOString()}`);
    return r ? { ...r, rolledBack: true } : { id, rolledBack: false, why: 'settled meanwhile' };
  }

  private sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) {
        resolve();
        return;
      }
      const t = this.ctx.clock.setTimeout(resolve, ms);
      signal.addEventListener('abort', () => { this.ctx.clock.clearTimeout(t); resolve(); }, { once: true });
    });
  }

  /**
   * Roll version id back: the previous text is written inside the
   * transaction that marks it rolled back, so a cut leaves it pending (and
   * the boot does it again) or rolled back with the file restored, never
   * rolled back with the new file in place; then the record goes. False
   * when it was settled meanwhile.
   */
  private async undo(history: ConfigHistory, id: number, previousText: string, detail: Record<string, unknown>): Promise<boolean> {
    const file = this.ctx.paths.configFile;
    if (!(await history.settle(id, 'rolled-back', detail, () => writeFileAtomic(file, previousText)))) return false;
    removePendingRecord(file);
    return true;
  }

  /** Mark id confirmed (durably), then drop its pending record. False when it was settled meanwhile. */
  private async settleConfirmed(history: ConfigHistory, id: number, detail: Record<string, unknown>): Promise<boolean> {
    if (!(await history.settle(id, 'confirmed', detail))) return false;
    removePendingRecord(this.ctx.paths.configFile);
    return true;
  }

  /**
   * The pending record and what the history says of its version; a record
   * whose version is confirmed is left over from a cut after the confirm
   * committed: removed here, and undefined.
   */
  private async leftoverRecord(history: ConfigHistory): Promise<{ record: PendingRecord; state: string | undefined } | undefined> {
    const record = readPendingRecord(this.ctx.paths.configFile);
    if (!record) return undefined;
    const state = (await history.version(record.id))?.state;
    if (state === 'confirmed') {
      removePendingRecord(this.ctx.paths.configFile);
      return undefined;
    }
    return { record, state };
  }

  /** Apply an earlier version from the history (config rollback --to ID), as a new pending apply. */
  async reapply(id: number, confirmWithinMs: number): Promise<ApplyOutcome> {
    const store = await openStateForWrite(this.ctx.paths);
    let text: string | undefined;
    try {
      text = await new ConfigHistory(store).text(id);
    } finally {
      await store.close().catch(() => undefined);
    }
    if (text === undefined) throw new TernError('TERN_E_CTL_NOT_FOUND', `ternctl: config rollback: no version #${id} in the history (see ternctl config history)`);
    return this.apply(text, `version #${id}`, { confirmWithinMs, source: `ternctl rollback --to ${id}` });
  }

  /** daemon.reload on every known daemon, in parallel; each compared with the hash it should run. */
  async reloadAll(expectHash: string): Promise<ReloadResult[]> {
    return Promise.all(knownDaemons.map(async (daemon): Promise<ReloadResult> => {
      try {
        const r = await this.ctx.daemons.call<{ configHash?: string }>(daemon, 'daemon.reload', undefined, { timeoutMs: this.reloadTimeoutMs });
        const hash = r?.configHash ?? null;
        return hash === expectHash
          ? { daemon, result: 'reloaded', configHash: hash, error: null }
          : { daemon, result: 'inconsistent', configHash: hash, error: `runs config ${hash?.slice(0, 12) ?? '?'}; want ${expectHash.slice(0, 12)} (does it read another file?)` };
      } catch (err) {
        const state = livenessOf(err);
        return { daemon, result: state === 'running' ? 'refused' : state, configHash: null, error: errorMessage(err) };
      }
    }));
  }

  /** Re-render the box's networkd files from cfg and reload networkd if they changed (best effort). */
  async networkd(cfg: TernConfig): Promise<NetworkdSync> {
    return syncNetworkd(cfg, this.opts.networkd ?? systemNetworkd);
  }

  /** networkd() for a config text; a text that does not parse (a hand edit) leaves the files as they are. */
  private async networkdOf(text: string): Promise<NetworkdSync> {
    let cfg: TernConfig;
    try {
      cfg = parseConfig(text, this.ctx.paths.configFile).config;
    } catch (err) {
      return { result: 'failed', detail: `not re-rendered: ${errorMessage(err).split('\n')[0]}`, written: [], removed: [] };
    }
    return this.networkd(cfg);
  }

  /** What config every daemon runs now (daemon.status), as reload results. */
  async statusAll(): Promise<ReloadResult[]> {
    this.ctx.daemons.fresh();
    const live = await this.ctx.daemons.all();
    return live.map((l) => ({
      daemon: l.daemon,
      result: l.state === 'running' ? 'reloaded' : l.state,
      configHash: l.configHash,
      error: l.reason,
    }));
  }

  /** Fail early (exit 4) when this user cannot write the config. */
  private checkWritable(): void {
    const file = this.ctx.paths.configFile;
    try {
      fs.accessSync(fs.existsSync(file) ? file : this.ctx.paths.etcDir, fs.constants.W_OK);
      fs.accessSync(this.ctx.paths.etcDir, fs.constants.W_OK);
    } catch (err) {
      if (isPermissionError(err)) throw permissionError('apply config', file, err);
      throw new TernError('TERN_E_CTL_APPLY', `ternctl: config: ${file}: ${errorMessage(err)}`, { cause: err });
    }
  }
}
