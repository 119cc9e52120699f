// Polling and one-shot bus calls for lab tests: the two helpers every
// daemon's lab test had its own copy of.
import { BusClient } from '../../daemons/lib/bus/index.js';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface WaitOptions {
  /** How many times fn is tried (default 200). */
  tries?: number;
  /** Pause between tries (default 100 ms). */
  everyMs?: number;
}

/**
 * Calls fn until it gives a value other than undefined or false, and returns
 * it. A throw counts as not yet; after the last try the error names what was
 * awaited and the last throw.
 */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, opts: WaitOptions = {}): Promise<T> {
  const tries = opts.tries ?? 200;
  let last: unknown;
  for (let i = 0; i < tries; i++) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (i < tries - 1) await sleep(opts.everyMs ?? 100);
  }
  throw new Error(`lab: gave up waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

/** One request on a daemon's bus socket through a fresh client that is closed afterwards. */
export async function busCall<T>(socketPath: string, method: string, params?: Record<string, unknown>, timeoutMs = 10_000): Promise<T> {
  const c = new BusClient({ socketPath, timeoutMs, reconnect: false });
  try {
    await c.connect();
    return await c.request<T>(method, params);
  } finally {
    await c.close();
  }
}
