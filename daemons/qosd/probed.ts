// The latency facts autorate consumes: probed's `wan.metrics` notifications
// on its bus socket, checked on arrival (a malformed fact is logged and
// dropped, never acted on).
import type { WanMetricsT } from '../lib/api/index.js';
import { BusClient } from '../lib/bus/index.js';
import type { Clock } from '../lib/clock/index.js';
import { TernError, errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/log/index.js';

/** The topic probed publishes after every WAN probe round. */
export const wanMetricsTopic = 'wan.metrics';

/**
 * What qosd reads of a wan.metrics notification (daemons/lib/api/probed.ts):
 * rttLatestMs, the latest probe round's RTT, not rttMs, the window average
 * (docs/glossary.md): autorate reacts to a queue within a round.
 * Checked again here, with autorate's own bounds (TERN_E_QOS_INPUT).
 */
export type WanMetrics = Pick<WanMetricsT, 'wan' | 'rttLatestMs' | 'rttBaselineMs' | 'lossPct' | 'jitterMs' | 'ts'>;

const num = (v: unknown, min: number, max: number): v is number => typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max;

/** Checks one notification's params; throws TERN_E_QOS_INPUT naming the field. */
export function parseWanMetrics(p: unknown): WanMetrics {
  const bad = (field: string, want: string): never => {
    const got = (p as Record<string, unknown> | null)?.[field];
    const shown = typeof got === 'number' && !Number.isFinite(got) ? String(got) : JSON.stringify(got);
    throw new TernError('TERN_E_QOS_INPUT', `qosd: ${wanMetricsTopic}: ${field}: got ${shown}; want ${want}`);
  };
  if (!p || typeof p !== 'object' || Array.isArray(p)) throw new TernError('TERN_E_QOS_INPUT', `qosd: ${wanMetricsTopic}: got ${JSON.stringify(p)}; want an object`);
  const o = p as Record<string, unknown>;
  // null: probed has no figure yet (no probe answered); absent where optional.
  const nullable = (field: string, max: number, want: string): number | null => {
    const v = o[field];
    if (v === null) return null;
    if (!num(v, 0, max)) bad(field, `${want}, or null`);
    return v as number;
  };
  if (typeof o.wan !== 'string' || !/^[a-z][a-z0-9-]{0,14}$/.test(o.wan)) bad('wan', 'a WAN name');
  const rttLatestMs = nullable('rttLatestMs', 60000, 'a number of ms, 0-60000');
  if (o.rttBaselineMs !== undefined && o.rttBaselineMs !== null && !num(o.rttBaselineMs, 0, 60000)) bad('rttBaselineMs', 'a number of ms, 0-60000, or absent');
  const lossPct = nullable('lossPct', 100, 'a percentage 0-100');
  const jitterMs = nullable('jitterMs', 60000, 'a number of ms, 0-60000');
  if (!num(o.ts, 0, 8.64e15)) bad('ts', 'wall-clock ms');
  const out: WanMetrics = { wan: o.wan as string, rttLatestMs, lossPct, jitterMs, ts: o.ts as number };
  if (typeof o.rttBaselineMs === 'number') out.rttBaselineMs = o.rttBaselineMs;
  return out;
}

export interface ProbedFeedOptions {
  socketPath: string;
  onMetrics: (m: WanMetrics) => void;
  logger: Logger;
  clock?: Clock;
}

/**
 * A subscription to probed that survives probed restarts (the bus client
 * reconnects and subscribes again). Notifications are not replayed, so
 * after a gap autorate simply waits for the next fact.
 */
export class ProbedFeed {
  private readonly client: BusClient;
  private rejected = 0;

  constructor(private readonly opts: ProbedFeedOptions) {
    this.client = new BusClient({ socketPath: opts.socketPath, logger: opts.logger, ...(opts.clock ? { clock: opts.clock } : {}) });
  }

  async start(): Promise<void> {
    await this.client.subscribe([wanMetricsTopic], (params) => {
      try {
        this.opts.onMetrics(parseWanMetrics(params));
      } catch (err) {
        // One line per 100 bad facts: a broken publisher must not flood the log.
        if (this.rejected++ % 100 === 0) this.opts.logger.warn({ err: errorMessage(err), rejected: this.rejected }, 'qosd: probed: dropping a malformed wan.metrics fact');
      }
    });
    this.client.on('connected', () => this.opts.logger.info({ socket: this.opts.socketPath }, 'qosd: probed: subscribed to wan.metrics'));
    await this.client.connect().catch((err: unknown) => {
      this.opts.logger.info({ err: errorMessage(err) }, 'qosd: probed: not reachable yet; retrying in the background');
    });
  }

  get connected(): boolean {
    return this.client.connected;
  }

  get rejectedCount(): number {
    return this.rejected;
  }

  close(): Promise<void> {
    return this.client.close();
  }
}
