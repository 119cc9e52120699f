// Who rolls a pending apply back when ternctl has long exited. Under
// systemd: a transient timer (systemd-run), which outlives the engineer's
// login session even with KillUserProcesses=yes. Elsewhere (the lab, a
// container) or if systemd-run fails: a detached ternctl process in its own
// session, `ternctl config rollback --if-unconfirmed ID --at MS`, which
// sleeps to the deadline and rolls back unless the version was confirmed.
// Neither survives a reboot: a box that reboots with an apply pending rolls
// it back at boot (`ternctl config rollback --if-pending`, run before the
// daemons start).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { errorMessage } from '../../errors.js';
import type { RuntimePaths } from '../../paths/index.js';
import type { RollbackTimer } from './history.js';

export interface TimerOptions {
  /** How to start ternctl (node and script). */
  self: string[];
  env: NodeJS.ProcessEnv;
  paths: Pick<RuntimePaths, 'runDir' | 'etcDir' | 'stateDir' | 'configFile'>;
  /** 'auto' (systemd when booted with it, else process), or force one. */
  mode?: 'auto' | 'systemd' | 'process';
}

/** True when this machine runs systemd as init (sd_booted) and systemd-run exists. */
export function systemdAvailable(): boolean {
  return fs.existsSync('/run/systemd/system') && spawnSync('systemd-run', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** The argv of the rollback process for version id at deadline (ms). */
export function rollbackArgv(self: string[], id: number, deadline?: number): string[] {
  return [...self, 'config', 'rollback', '--if-unconfirmed', String(id), ...(deadline === undefined ? [] : ['--at', String(deadline)])];
}

/** The systemd-run argv of a transient timer that runs the rollback at deadline. */
export function systemdRunArgv(opts: TimerOptions, id: number, deadline: number, now: number): string[] {
  const sec = Math.max(1, Math.ceil((deadline - now) / 1000));
  const env = ['TERN_ETC_DIR', 'TERN_RUN_DIR', 'TERN_STATE_DIR', 'TERN_CONFIG']
    .filter((k) => opts.env[k] !== undefined)
    .map((k) => `--setenv=${k}=${opts.env[k]}`);
  return ['systemd-run', `--unit=${unitName(id)}`, `--on-active=${sec}s`, '--timer-property=AccuracySec=1s',
    '--description=Tern: roll back config apply unless confirmed', ...env, ...rollbackArgv(opts.self, id)];
}

export const unitName = (id: number): string => `tern-config-rollback-${id}`;

/** Start the timer that rolls back version id at deadline; returns what was started. */
export function startRollbackTimer(opts: TimerOptions, id: number, deadline: number, now: number = Date.now()): RollbackTimer {
  const mode = opts.mode ?? 'auto';
  if (mode === 'systemd' || (mode === 'auto' && systemdAvailable())) {
    const argv = systemdRunArgv(opts, id, deadline, now);
    const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 10_000 });
    if (r.status === 0) return { kind: 'systemd', unit: unitName(id) };
    if (mode === 'systemd') throw new Error(`systemd-run failed: ${r.stderr || r.error?.message || `exit ${r.status}`}`);
  }
  fs.mkdirSync(opts.paths.runDir, { recursive: true });
  const log = path.join(opts.paths.runDir, 'config-rollback.log');
  const fd = fs.openSync(log, 'a', 0o640);
  try {
    const argv = rollbackArgv(opts.self, id, deadline);
    // Its own session: the engineer's terminal closing (SIGHUP) does not reach it.
    const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', fd, fd], env: opts.env });
    child.unref();
    if (child.pid === undefined) throw new Error(`could not start ${argv.join(' ')}`);
    return { kind: 'process', pid: child.pid };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Stop a timer that is no longer needed (after confirm). Best effort: a
 * timer left running finds the version confirmed and exits. A pid is only
 * signalled while its command line is still our rollback for this id, so a
 * reused pid is never hit.
 */
export function stopRollbackTimer(timer: RollbackTimer | null, id: number): string | undefined {
  if (!timer) return undefined;
  try {
    if (timer.kind === 'systemd' && timer.unit) {
      spawnSync('systemctl', ['stop', `${timer.unit}.timer`, `${timer.unit}.service`], { stdio: 'ignore', timeout: 10_000 });
      return undefined;
    }
    if (timer.kind === 'process' && timer.pid) {
      const cmdline = fs.readFileSync(`/proc/${timer.pid}/cmdline`, 'utf8').split('\0');
      const i = cmdline.indexOf('--if-unconfirmed');
      if (i >= 0 && cmdline[i + 1] === String(id)) process.kill(timer.pid, 'SIGTERM');
    }
    return undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ESRCH' ? undefined : errorMessage(err);
  }
}
