// Writes what probing produces into the state database in the background:
// per-second samples into the history (one transaction per flush), state
// transitions into the events table (which the loss report marks), and the
// history's compaction and the events' retention (lib/store/retention.ts)
// in bounded steps. Every write is a committed transaction in WAL mode, so
// a kill -9 loses at most the last flush interval; the queue is bounded, so
// a database that stops answering costs memory only up to maxQueue samples
// (the oldest are dropped and counted).
import { systemClock, type Clock, type TimerHandle } from '../lib/clock/index.js';
import { errorMessage, isTernError } from '../lib/errors.js';
import { recordEvents } from '../lib/events/index.js';
import { silentLogger, type Logger } from '../lib/log/index.js';
import { pruneLogs } from '../lib/store/index.js';
import type { History, HistoryStore } from '../lib/history/index.js';
import type { ProbeSample } from './samples.js';

export interface ProbeEvent {
  ts: number;
  /** path.state or wan.state. */
  kind: string;
  subject: string;
  detail: Record<string, unknown>;
}

export interface HistoryWriterOptions {
  store: HistoryStore;
  history: History;
  clock?: Clock;
  logger?: Logger;
  /** How often queued samples are written (default 1000 ms). */
  flushMs?: number;
  /** How often compaction runs (default 60 s). */
  compactMs?: number;
  /** Transactions one compaction run may take (default 20; it resumes next time). */
  compactBatches?: number;
  /** Most samples held while the database lags (default 200000). */
  maxQueue?: number;
  /** Called when writing starts or stops failing. */
  onHealth?: (problem: string | undefined) => void;
}

export interface HistoryWriterStats {
  queued: number;
  written: number;
  dropped: number;
  events: number;
  flushErrors: number;
  compactions: number;
  lastCompaction: { rolled: { minute: number; hour: number }; deleted: { raw: number; minute: number; hour: number }; done: boolean } | null;
}

export class HistoryWriter {
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly maxQueue: number;
  private samples: ProbeSample[] = [];
  private events: ProbeEvent[] = [];
  private flushing: Promise<void> | undefined;
  private compacting: Promise<void> | undefined;
  private flushTimer: TimerHandle | undefined;
  private compactTimer: TimerHandle | undefined;
  private history: History;
  private failing = false;
  private readonly stats: HistoryWriterStats = { queued: 0, written: 0, dropped: 0, events: 0, flushErrors: 0, compactions: 0, lastCompaction: null };

  constructor(private readonly opts: HistoryWriterOptions) {
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger ?? silentLogger();
    this.maxQueue = opts.maxQueue ?? 200_000;
    this.history = opts.history;
  }

  start(): void {
    this.flushTimer = this.clock.setInterval(() => { void this.flush(); }, this.opts.flushMs ?? 1000);
    this.compactTimer = this.clock.setInterval(() => { void this.compact(); }, this.opts.compactMs ?? 60_000);
  }

  /** A new History (retention changed on reload). */
  setHistory(h: History): void { this.history = h; }

  add(s: ProbeSample): void {
    this.samples.push(s);
    if (this.samples.length > this.maxQueue) {
      const drop = this.samples.length - this.maxQueue;
      this.samples.splice(0, drop);
      this.stats.dropped += drop;
    }
  }

  event(e: ProbeEvent): void {
    this.events.push(e);
    if (this.events.length > 10_000) this.events.shift();
  }

  getStats(): HistoryWriterStats {
    return { ...this.stats, queued: this.samples.length };
  }

  /** Write everything queued now (one transaction for the events, one for the samples). */
  flush(): Promise<void> {
    if (this.flushing) return this.flushing.then(() => this.flush());
    this.flushing = this.write().finally(() => { this.flushing = undefined; });
    return this.flushing;
  }

  /** One bounded compaction run (skipped when one is running). */
  compact(): Promise<void> {
    if (this.compacting) return this.compacting;
    this.compacting = (async () => {
      try {
        const r = await this.history.compact(this.clock.now(), { maxBatches: this.opts.compactBatches ?? 20 });
        this.stats.compactions++;
        this.stats.lastCompaction = { rolled: r.rolled, deleted: r.deleted, done: r.done };
        // The events and config logs have no other housekeeping.
        await pruneLogs(this.opts.store, this.clock.now(), { maxBatches: this.opts.compactBatches ?? 20 });
      } catch (err) {
        this.log.warn({ err: errorMessage(err) }, 'probed: history: compaction failed; will retry');
      }
    })().finally(() => { this.compacting = undefined; });
    return this.compacting;
  }

  /** Stop the timers and write what is queued. */
  async stop(): Promise<void> {
    this.clock.clearInterval(this.flushTimer);
    this.clock.clearInterval(this.compactTimer);
    await this.compacting;
    await this.flush();
  }

  private async write(): Promise<void> {
    const events = this.events;
    const samples = this.samples;
    this.events = [];
    this.samples = [];
    try {
      if (events.length) {
        // recordEvents writes a burst in a few statements, not one per event.
        await this.opts.store.transaction((tx) => recordEvents(tx, events.map((e) => ({ ...e, daemon: 'probed' }))));
        this.stats.events += events.length;
      }
      if (samples.length) {
        await this.history.record(samples);
        this.stats.written += samples.length;
      }
      if (this.failing) {
        this.failing = false;
        this.opts.onHealth?.(undefined);
      }
    } catch (err) {
      if (isTernError(err) && err.code === 'TERN_E_PROBE_ARG') {
        // A sample History refuses would be refused forever: drop the batch.
        this.stats.dropped += samples.length;
        this.log.error({ err: err.message, samples: samples.length }, 'probed: history: samples refused; dropped');
        return;
      }
      // Put them back for the next try (bounded by add()).
      this.samples = [...samples, ...this.samples];
      this.events = [...events, ...this.events].slice(-10_000);
      this.stats.flushErrors++;
      this.log.warn({ err: errorMessage(err), samples: samples.length }, 'probed: history: write failed; will retry');
      if (!this.failing) {
        this.failing = true;
        this.opts.onHealth?.(`history writes failing: ${errorMessage(err)}`);
      }
    }
  }
}
