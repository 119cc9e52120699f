// Endpoint drift: a path's peer endpoint that WireGuard moved away from the
// remote WAN address the config names. WireGuard roams to wherever the last
// authenticated packet came from, so one packet of the far end leaving by
// the wrong WAN (before its WAN rules existed, or while its WAN table had
// no route) moves the path onto that WAN, and both ends keep it there: the
// path's probes, loss report and steering then describe another link.
//
// Only peers not behind NAT are checked: those the config gives an
// endpoint (overlay.sites[].wans[].behindNat false, the default, and an
// address known). A remote WAN behind NAT has no fixed address to return
// to; its endpoint is WireGuard's to learn.
//
// One drift is the time from a reading that first sees the endpoint
// elsewhere to the reading that sees it back; it is counted and logged
// once, however many passes it takes to set it back.
import { formatEndpoint, parseEndpoint } from '../lib/kernel/index.js';

/** What a reading of one path says about its endpoint. */
export type DriftReading =
  /** As wanted, or nothing to compare (behind NAT, no endpoint yet). */
  | 'ok'
  /** A drift began with this reading: count it, log it, set it back. */
  | 'drifted'
  /** The drift seen before is still there: set it back again, quietly. */
  | 'still'
  /** The endpoint is back where the config names it. */
  | 'back';

/** Readings in a row a drift may last before it is worth a warning (the remote may be behind NAT unsaid). */
export const stubbornDriftReadings = 5;

/** An endpoint in the form WireGuard lists it; undefined when it does not parse. */
function canonicalEndpoint(endpoint: string): string | undefined {
  try { return formatEndpoint(parseEndpoint(endpoint)); } catch { return undefined; }
}

interface Drift {
  wanted: string;
  observed: string;
  /** Readings in a row that saw it. */
  readings: number;
}

/** Every path's endpoint drift: whether one is under way, and how many there were since start. */
export class EndpointDrifts {
  private readonly current = new Map<string, Drift>();
  private readonly counts = new Map<string, number>();

  /**
   * One reading of path: wanted is the endpoint tunneld sets (undefined:
   * none, behind NAT), observed the one WireGuard uses (null: none yet).
   */
  observe(path: string, wanted: string | undefined, observed: string | null): DriftReading {
    const was = this.current.get(path);
    const want = wanted === undefined ? undefined : canonicalEndpoint(wanted);
    const have = observed === null ? undefined : canonicalEndpoint(observed);
    if (want === undefined || have === undefined || want === have) {
      this.current.delete(path);
      return was ? 'back' : 'ok';
    }
    if (was && was.wanted === want) {
      was.observed = have;
      was.readings++;
      return 'still';
    }
    this.current.set(path, { wanted: want, observed: have, readings: 1 });
    this.counts.set(path, (this.counts.get(path) ?? 0) + 1);
    return 'drifted';
  }

  /** Drifts of path since start. */
  count(path: string): number {
    return this.counts.get(path) ?? 0;
  }

  /** Drifts of every path since start. */
  total(): number {
    let n = 0;
    for (const c of this.counts.values()) n += c;
    return n;
  }

  /** The drift under way on path, if any. */
  drift(path: string): Readonly<Drift> | undefined {
    return this.current.get(path);
  }

  /** Paths whose drift has lasted stubbornDriftReadings readings or more, with where they are. */
  stubborn(): Array<{ path: string; wanted: string; observed: string }> {
    return [...this.current].filter(([, d]) => d.readings >= stubbornDriftReadings).map(([path, d]) => ({ path, wanted: d.wanted, observed: d.observed }));
  }

  /** Forgets paths no longer planned. */
  keepOnly(paths: ReadonlySet<string>): void {
    for (const p of [...this.current.keys()]) if (!paths.has(p)) this.current.delete(p);
    for (const p of [...this.counts.keys()]) if (!paths.has(p)) this.counts.delete(p);
  }
}
