// The shapers per WAN as ternctl and the exporter show them: configured
// rates and what qosd runs now (autorate may have moved them).
import type { TernConfig } from '../config/index.js';
import { collectRaw, listOf, methods, num, str, type Sources, type ViewContext } from './index.js';

/** A rate for people: kbit/s, Mbit/s or Gbit/s; '-' when unknown. */
export function rate(bps: number | null | undefined): string {
  if (bps === null || bps === undefined || !Number.isFinite(bps)) return '-';
  if (bps >= 1e9) return `${(bps / 1e9).toFixed(2)} Gbit/s`;
  if (bps >= 1e6) return `${(bps / 1e6).toFixed(1)} Mbit/s`;
  return `${(bps / 1e3).toFixed(0)} kbit/s`;
}

export interface QosWanLine {
  wan: string;
  enabled: boolean;
  /** Configured shaping rates, bit/s. */
  configuredUpBps: number | null;
  configuredDownBps: number | null;
  /** What qosd shapes at now, bit/s (autorate moves it). */
  upBps: number | null;
  downBps: number | null;
  autorate: boolean;
  /** qosd's state of the shaper (shaped, waiting, error), null when qosd did not answer. */
  state: string | null;
  error: string | null;
  /** Packets the shaper dropped, per direction (qosd's kernel counters). */
  drops: { up: number | null; down: number | null };
  /** Bytes the shaper sent, per direction. */
  bytes: { up: number | null; down: number | null };
  /** One line for status. */
  text: string;
  /** qosd's record for this WAN, as it came. */
  raw: Record<string, unknown> | null;
}

export interface QosSummary {
  enabled: boolean;
  wans: QosWanLine[];
  /** qosd's whole answer. */
  raw: unknown;
  sources: Sources;
}

const mbps = (v: number | undefined): number | null => (v === undefined ? null : v * 1e6);

export async function qosSummary(ctx: ViewContext, cfg: TernConfig | undefined): Promise<QosSummary> {
  const { value, sources } = await collectRaw(ctx, 'qosd', methods.qos);
  const live = value && typeof value === 'object' && typeof (value as Record<string, unknown>).enabled === 'boolean' ? (value as Record<string, boolean>).enabled : undefined;
  const enabled = live ?? cfg?.qos.enabled ?? false;
  // qos.status as daemons/lib/api/qosd.ts declares it; read without trusting it (ternctl shows what it can).
  const shapers = listOf(value, 'wans');
  const names = new Set<string>([...(cfg?.wans.map((w) => w.name) ?? []), ...shapers.map((l) => str(l, 'wan') ?? '')].filter(Boolean));
  const wans = [...names].map((name): QosWanLine => {
    const w = cfg?.wans.find((x) => x.name === name);
    const q = cfg?.qos.wans.find((x) => x.wan === name);
    const l = shapers.find((x) => (str(x, 'wan') ?? '') === name);
    const egress = l && typeof l.egress === 'object' && l.egress ? (l.egress as Record<string, unknown>) : undefined;
    const ingress = l && typeof l.ingress === 'object' && l.ingress ? (l.ingress as Record<string, unknown>) : undefined;
    const up = (num(egress, 'rateMbps') ?? NaN) * 1e6;
    const down = (num(ingress, 'rateMbps') ?? NaN) * 1e6;
    const line: QosWanLine = {
      wan: name,
      enabled: enabled && (q?.enabled ?? true),
      configuredUpBps: mbps(q?.upMbps ?? w?.upMbps),
      configuredDownBps: mbps(q?.downMbps ?? w?.downMbps),
      upBps: Number.isFinite(up) ? up : null,
      downBps: Number.isFinite(down) ? down : null,
      autorate: q?.autorate.enabled ?? false,
      state: str(l, 'state'),
      error: str(l, 'error'),
      drops: { up: num(egress, 'drops'), down: num(ingress, 'drops') },
      bytes: { up: num(egress, 'bytes'), down: num(ingress, 'bytes') },
      text: '',
      raw: l ?? null,
    };
    const shown = (now: number | null, conf: number | null): string => (now !== null ? rate(now) : conf !== null ? `${rate(conf)} (configured)` : '-');
    line.text = !line.enabled ? 'unshaped'
      : `${line.state && line.state !== 'shaped' ? `${line.state}${line.error ? ` (${line.error})` : ''}, ` : ''}up ${shown(line.upBps, line.configuredUpBps)}, down ${shown(line.downBps, line.configuredDownBps)}${line.autorate ? ', autorate' : ''}`;
    return line;
  });
  return { enabled, wans: enabled || shapers.length > 0 ? wans : [], raw: value ?? null, sources };
}

