// Package memory gives a daemon's memory back to the kernel after a burst
// (the bus shedding an attack): a full garbage collection, then the C heap's
// free pages (glibc keeps them mapped otherwise, so RSS would stay high).
import v8 from 'node:v8';
import vm from 'node:vm';
import { loadNative } from '../native/index.js';

/** What reclaimMemory did, for the log and daemon.status. */
export interface Reclaim {
  /** RSS in bytes before and after. */
  rssBefore: number;
  rssAfter: number;
  /** A full garbage collection ran. */
  collected: boolean;
  /** The C heap gave pages back (malloc_trim found some). */
  trimmed: boolean;
}

export interface ReclaimOptions {
  /** Releases the C heap's free pages; default the native mallocTrim, or none when tern.node cannot be loaded. */
  trim?: () => boolean;
  /** Reads RSS in bytes; default process.memoryUsage.rss. */
  rss?: () => number;
}

let collector: (() => void) | null | undefined;

/**
 * V8's full collection. Node only exposes it with --expose-gc; setting the
 * flag at run time makes it available to contexts created afterwards, so
 * the daemons' units need no extra flag. undefined when V8 refuses.
 */
export function fullCollection(): (() => void) | undefined {
  if (collector === undefined) {
    const global = (globalThis as { gc?: () => void }).gc;
    try {
      if (typeof global === 'function') {
        collector = global;
      } else {
        v8.setFlagsFromString('--expose-gc');
        const gc: unknown = vm.runInNewContext('gc');
        collector = typeof gc === 'function' ? (gc as () => void) : null;
      }
    } catch {
      collector = null;
    }
  }
  return collector ?? undefined;
}

function nativeTrim(): (() => boolean) | undefined {
  try {
    const native = loadNative();
    return () => native.mallocTrim();
  } catch {
    return undefined;
  }
}

/**
 * Collect garbage, then give the C heap's free pages back. Buffers a burst
 * left behind are freed only by a collection, and the pages glibc got them
 * from only by malloc_trim: without both, RSS stays at the burst's peak for
 * good. Costs one full collection (tens of ms on a daemon's heap): run it
 * after a burst, not on a timer.
 */
export async function reclaimMemory(opts: ReclaimOptions = {}): Promise<Reclaim> {
  const rss = opts.rss ?? (() => process.memoryUsage.rss());
  const rssBefore = rss();
  const gc = fullCollection();
  gc?.();
  // Backing stores of dead ArrayBuffers are released by a sweeper that may
  // run after the collection returns: let it, and collect what it left.
  await new Promise((resolve) => setImmediate(resolve));
  gc?.();
  const trim = opts.trim ?? nativeTrim();
  const trimmed = trim ? trim() : false;
  return { rssBefore, rssAfter: rss(), collected: gc !== undefined, trimmed };
}
