// Polling and one-shot bus calls for lab tests: waits bounded by tries on a
// state, and waits counted in something the product counts, never a sleep
// standing in for either.
import { BusClient } from '../../daemons/lib/bus/index.js';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface WaitOptions {
  /** How many times fn is tried (default 200). */
  tries?: number;
  /** Pause between tries (default 100 ms). */
  everyMs?: number;
}

/**
 * Tries for a wait that takes about quietMs on a quiet machine: five times
 * that, plus half a minute, so a loaded machine (other labs, builds on the
 * same 2 cores) only makes the wait longer, not a failure. What is asserted
 * after such a wait is a count, so waiting longer never makes it pass wrongly.
 */
export function patience(quietMs: number, everyMs = 250): Required<WaitOptions> {
  return { tries: Math.ceil((5 * quietMs + 30_000) / everyMs), everyMs };
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

/**
 * A measurement period counted in what the product counts (probes sent,
 * packets an ISP's rule saw, facts published): reads the counter, then waits
 * until it has advanced by at least n. On a loaded machine the period takes
 * longer and holds the same amount of data. Returns the first and the last
 * reading.
 */
export async function waitForAdvance(what: string, read: () => Promise<number> | number, n: number, opts: WaitOptions = {}): Promise<{ from: number; to: number }> {
  const from = await read();
  let now = from;
  const to = await waitFor(`${what}: ${n} more than ${from}`, async () => {
    now = await read();
    return now - from >= n ? now : undefined;
  }, opts).catch((err: unknown) => {
    throw new Error(`${String(err instanceof Error ? err.message : err)} (got ${now - from} more)`);
  });
  return { from, to };
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
