// Applying a config the way `commit confirmed` does: validate, keep the
// previous version, write atomically, reload every running daemon, and roll
// back unless confirmed in time. A daemon that refuses the new config gets
// it rolled back at once, so the daemons never disagree for longer than a
// reload. The box's own addressing (wans, lan) follows the config too: its
// networkd files are re-rendered and networkd reloaded before the daemons.
import fs from 'node:fs';
import { parseConfig, readConfigText, type TernConfig } from '../../lib/config/index.js';
import { TernError, errorMessage, isTernError } from '../../lib/errors.js';
import type { CtlContext } from '../context.js';
import { knownDaemons, livenessOf } from '../daemons.js';
import { isPermissionError, permissionError } from '../exit.js';
import { openStateForWrite } from '../state.js';
import { writeFileAtomic } from './atomic.js';
import { ConfigHistory, sha256, type PendingApply, type RollbackTimer } from './history.js';
import { syncNetworkd, systemNetworkd, type NetworkdSync, type NetworkdTarget } from './networkd.js';
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

export class ConfigApplier {
  private readonly reloadTimeoutMs: number;

  constructor(private readonly ctx: CtlContext, private readonly opts: ApplierOptions = {}) {
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
      // Without a running config there is nothing to roll back to.
      const confirmWithin = running === '' ? 0 : opts.confirmWithinMs;
      // Provisional: the deadline counts from when the daemons have reloaded (below).
      const { id, previousId } = await history.begin(running, text, opts.source, this.ctx.clock.now() + confirmWithin);
      try {
        writeFileAtomic(this.ctx.paths.configFile, text);
      } catch (err) {
        await history.settle(id, 'rolled-back', { reason: `write failed: ${errorMessage(err)}` });
        throw err;
      }
      // Addresses first: a daemon's reload may need them (tunneld's routes take the LAN address as source).
      const networkd = await this.networkd(parsed.config);
      const daemons = await this.reloadAll(parsed.hash);
      const refused = daemons.filter((d) => !ok(d) && d.result !== 'not responding');
      if (refused.length > 0 && running !== '') {
        writeFileAtomic(this.ctx.paths.configFile, running);
        await history.settle(id, 'rolled-back', { reason: 'refused by a daemon', refusedBy: refused.map((d) => d.daemon) });
        const restoredNetworkd = await this.networkdOf(running);
        const after = await this.reloadAll(sha256(running));
        throw new TernError('TERN_E_CTL_APPLY', [
          `ternctl: config apply: ${refused.map((d) => `${d.daemon} ${d.result}: ${d.error ?? ''}`.trim()).join('; ')}`,
          `the previous config (version #${previousId}) was restored: ${after.map((d) => `${d.daemon} ${d.result}`).join(', ')}`,
          ...(restoredNetworkd.result === 'skipped' ? [] : [`networkd: ${restoredNetworkd.result} (${restoredNetworkd.detail})`]),
        ].join('\n'), { details: { id, previousId, daemons, restored: after, networkd: restoredNetworkd } });
      }
      if (confirmWithin <= 0) {
        await history.settle(id, 'confirmed', { immediate: true });
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
      const pending = await history.pending();
      if (!pending) throw new TernError('TERN_E_CTL_APPLY', 'ternctl: config confirm: no apply is pending; nothing to confirm (see ternctl config history)');
      if (!(await history.settle(pending.id, 'confirmed'))) {
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
   */
  async rollbackPending(reason: string): Promise<RollbackOutcome | undefined> {
    this.checkWritable();
    const store = await openStateForWrite(this.ctx.paths);
    try {
      const history = new ConfigHistory(store, () => this.ctx.clock.now());
      const pending = await history.pending();
      if (!pending) return undefined;
      if (!(await history.settle(pending.id, 'rolled-back', { reason, restored: pending.previousId }))) return undefined;
      const text = await history.text(pending.previousId);
      if (text === undefined) throw new TernError('TERN_E_CTL_APPLY', `ternctl: config rollback: version #${pending.previousId} is missing from the history`);
      writeFileAtomic(this.ctx.paths.configFile, text);
      // The addressing goes back too: the apply may be what cut the engineer off.
      const networkd = await this.networkdOf(text);
      const daemons = await this.reloadAll(sha256(text));
      return { id: pending.id, restoredId: pending.previousId, hash: sha256(text), reason, daemons, networkd };
    } finally {
      await store.close().catch(() => undefined);
    }
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
