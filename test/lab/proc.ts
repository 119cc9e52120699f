// Process identity for teardown: a pid plus its kernel start time, so the
// lab never signals an unrelated process that reused a recorded pid.
import fs from 'node:fs';

/** A process the lab started, as recorded in state files. */
export interface ProcessRef {
  pid: number;
  /** Field 22 of /proc/<pid>/stat (clock ticks after boot). */
  startTime: string;
}

/** Fields 3 onwards of /proc/<pid>/stat (index 0 = field 3, state), or undefined. */
function procStat(pid: number): string[] | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // comm (field 2) may hold spaces and parentheses: split after the last ')'.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** The start time of pid, or undefined when no such process exists (zombies count as gone). */
export function procStartTime(pid: number): string | undefined {
  const f = procStat(pid);
  if (!f || f[0] === 'Z' || f[0] === 'X') return undefined;
  return f[19];
}

/** True while the very process recorded in ref is alive (not a zombie, not a reused pid). */
export function isAlive(ref: ProcessRef): boolean {
  return ref.pid > 0 && procStartTime(ref.pid) === ref.startTime;
}

/** A reference to pid as it is now, or undefined when it is gone. */
export function refOf(pid: number): ProcessRef | undefined {
  const startTime = procStartTime(pid);
  return startTime === undefined ? undefined : { pid, startTime };
}

/**
 * Send signal to the recorded process, and to its process group when it
 * leads one (the lab starts children detached, each its own group, so a
 * daemon's own children go too). Returns false when it was already gone.
 */
export function signalProcess(ref: ProcessRef, signal: NodeJS.Signals): boolean {
  if (!isAlive(ref)) return false;
  // Field 5 is the process group id.
  const leadsGroup = procStat(ref.pid)?.[2] === String(ref.pid);
  try {
    process.kill(leadsGroup ? -ref.pid : ref.pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Block the thread for ms (teardown from an 'exit' handler cannot await). */
export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * SIGTERM every live process in refs, wait up to graceMs for them to go,
 * then SIGKILL the rest. Synchronous so the exit path can use it.
 */
export function terminateSync(refs: ProcessRef[], graceMs = 2000): void {
  const live = refs.filter((r) => signalProcess(r, 'SIGTERM'));
  const deadline = Date.now() + graceMs;
  while (live.some(isAlive) && Date.now() < deadline) sleepSync(20);
  for (const r of live) signalProcess(r, 'SIGKILL');
  const killDeadline = Date.now() + 1000;
  while (live.some(isAlive) && Date.now() < killDeadline) sleepSync(10);
}

/** The asynchronous form of terminateSync, which keeps the event loop turning. */
export async function terminate(refs: ProcessRef[], graceMs = 2000): Promise<void> {
  const live = refs.filter((r) => signalProcess(r, 'SIGTERM'));
  const pause = (ms: number) => new Promise((res) => setTimeout(res, ms));
  const deadline = Date.now() + graceMs;
  while (live.some(isAlive) && Date.now() < deadline) await pause(20);
  for (const r of live) signalProcess(r, 'SIGKILL');
  const killDeadline = Date.now() + 1000;
  while (live.some(isAlive) && Date.now() < killDeadline) await pause(10);
}
