// Path moves in the events table (kind path.move), where the loss report
// finds them next to probed's path states and paird's failovers. One row
// per path per move decision, never per flow, and at most one per path per
// interval: a path that flaps has its decisions within an interval summed
// into one row written when the interval ends.
import type { Clock, TimerHandle } from '../lib/clock/index.js';
import { errorMessage } from '../lib/errors.js';
import { silentLogger, type Logger } from '../lib/log/index.js';

/**
 * Why flows left a path: it went down, probed judged it degraded and it
 * breaks the SLA of the classes moved, it breaks their SLA while probed
 * still calls it up, or it left the plan (a reload removed it).
 */
export type MoveReason = 'down' | 'degraded' | 'sla' | 'removed';

/** One move decision about one path: the flows that left it. */
export interface PathMove {
  site: string;
  /** The path the flows left (the event's subject). */
  from: string;
  /** Where the selector put them: path name to flow count. */
  to: Readonly<Record<string, number>>;
  reason: MoveReason;
  /** Classes of the flows that left. */
  classes: readonly string[];
  /** Flows the selector moved by tuple. */
  flows: number;
  /** Flows swept: their conntrack mark cleared, so their next packet is decided again. */
  swept: number;
  /** What set the decision off (e.g. "probed path.state"). */
  why: string;
}

/** A row of the events table (daemons/lib/store/migrations.ts). */
export interface EventRow {
  ts: number;
  daemon: string;
  kind: string;
  subject: string;
  detail: Record<string, unknown>;
}

export interface MoveLogOptions {
  clock: Clock;
  /** Writes one row; a failure is logged and counted, never thrown at the caller. */
  write: (row: EventRow) => Promise<void>;
  /** Least time between two rows of one path (default 60 s). */
  intervalMs?: number;
  logger?: Logger;
}

/** The `to` of a row for people: the path names, most flows first; swept flows have no path until their next packet. */
function toText(to: Record<string, number>, swept: number): string {
  const names = Object.entries(to).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([n]) => n);
  if (swept > 0 || names.length === 0) names.push('(decided again at the next packet)');
  return names.join(', ');
}

interface Pending {
  first: number;
  last: number;
  decisions: number;
  move: PathMove & { to: Record<string, number>; classes: string[] };
}

interface PathWindow {
  /** When this path's last row was written (clock.monotonic). */
  writtenAt: number;
  pending: Pending | undefined;
  timer: TimerHandle | undefined;
}

/** Records path moves as events, coalesced per path. */
export class MoveLog {
  private readonly clock: Clock;
  private readonly write: (row: EventRow) => Promise<void>;
  private readonly intervalMs: number;
  private readonly log: Logger;
  private readonly windows = new Map<string, PathWindow>();
  private writes: Promise<void> = Promise.resolve();
  private closed = false;
  /** Rows written, decisions folded into a later row, rows that could not be written. */
  readonly counters = { written: 0, coalesced: 0, errors: 0 };

  constructor(opts: MoveLogOptions) {
    this.clock = opts.clock;
    this.write = opts.write;
    this.intervalMs = opts.intervalMs ?? 60_000;
    this.log = opts.logger ?? silentLogger();
  }

  /** One decision: written at once unless this path had a row within the interval, else held and summed until it ends. */
  record(m: PathMove): void {
    if (this.closed || (m.flows === 0 && m.swept === 0)) return;
    const now = this.clock.monotonic();
    const at = this.clock.now();
    const w = this.windows.get(m.from);
    if (w?.pending) {
      this.fold(w.pending, m, at);
      this.counters.coalesced++;
      // A timer that fires late must not let a held row wait past its interval.
      if (now - w.writtenAt >= this.intervalMs) this.flush(w);
      return;
    }
    const held: Pending = { first: at, last: at, decisions: 1, move: { ...m, to: { ...m.to }, classes: [...m.classes] } };
    if (!w || now - w.writtenAt >= this.intervalMs) {
      const fresh: PathWindow = { writtenAt: now, pending: undefined, timer: undefined };
      this.windows.set(m.from, fresh);
      this.emit(fresh, held);
      return;
    }
    this.counters.coalesced++;
    w.pending = held;
    w.timer = this.clock.setTimeout(() => {
      w.timer = undefined;
      this.flush(w);
    }, w.writtenAt + this.intervalMs - now);
    w.timer.unref?.();
  }

  /** Writes every held row now and records no more (at stop); resolves when all writes are done. */
  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.windows.values()) this.flush(w);
    await this.writes;
  }

  /** Resolves when the writes started so far are done. */
  settled(): Promise<void> { return this.writes; }

  private fold(p: Pending, m: PathMove, at: number): void {
    const into = p.move;
    for (const [name, n] of Object.entries(m.to)) into.to[name] = (into.to[name] ?? 0) + n;
    for (const c of m.classes) if (!into.classes.includes(c)) into.classes.push(c);
    into.flows += m.flows;
    into.swept += m.swept;
    // The latest decision says why the path is being left now.
    into.reason = m.reason;
    into.why = m.why;
    p.last = at;
    p.decisions++;
  }

  /** Writes the row a path holds, if any. */
  private flush(w: PathWindow): void {
    this.clock.clearTimeout(w.timer);
    w.timer = undefined;
    const p = w.pending;
    w.pending = undefined;
    if (p) this.emit(w, p);
  }

  private emit(w: PathWindow, p: Pending): void {
    w.writtenAt = this.clock.monotonic();
    const m = p.move;
    const row: EventRow = {
      ts: p.first,
      daemon: 'steerd',
      kind: 'path.move',
      subject: m.from,
      detail: {
        site: m.site,
        from: m.from,
        to: toText(m.to, m.swept),
        toPaths: m.to,
        reason: m.reason,
        classes: m.classes,
        flows: m.flows,
        swept: m.swept,
        why: m.why,
        ...(p.decisions > 1 ? { decisions: p.decisions, lastAt: p.last } : {}),
      },
    };
    // One write at a time, in order: rows of one path never overtake each other.
    this.writes = this.writes.then(() => this.write(row)).then(() => { this.counters.written++; }, (err: unknown) => {
      this.counters.errors++;
      this.log.warn({ err: errorMessage(err), path: m.from }, 'steerd: cannot record a path move in the events table');
    });
  }
}
