// The gateways of the DHCP WANs as tunneld follows them, to copy into each
// WAN's own table: read from the main table, where networkd and dhclient
// (and the kernel, for router advertisements) put the default route — never
// from the WAN table, which holds tunneld's own copy and would keep a lost
// lease alive. Checking the routes is shared with probed
// (daemons/lib/kernel/gateway).
//
// Cadence: read on tunneld's 1 s poll (daemon.ts), the tick that already
// reads every path's handshake; a lease that changes or goes is in the WAN
// table within about a second. rtnl has no route monitor. On a box whose
// routes make a reading dear, the next one waits 49 times as long as the
// last took, so reading never takes more than 2 % of the time.
import { GatewayRouteReads, MAIN_TABLE, sameGateways, type DhcpWan } from '../lib/kernel/index.js';
import { silentLogger, type Logger } from '../lib/log/index.js';

export interface DhcpGatewaysOptions {
  /** The routes of these tables, both families (rtnl's RouteInfo list). */
  read: (tables: number[]) => Promise<unknown[]>;
  /** Monotonic milliseconds, for the cost guard. */
  monotonic: () => number;
  logger?: Logger;
}

/**
 * What the main table says of each DHCP WAN's gateways. Unknown (undefined)
 * until a reading succeeds; a reading that fails keeps the last gateways (a
 * netlink error is not a lost lease) and says why in problem.
 */
export class DhcpGateways {
  private readonly reads: GatewayRouteReads;
  private readonly monotonic: () => number;
  private readonly log: Logger;
  private wans: DhcpWan[] = [];
  private current: Map<string, string[]> | undefined;
  private nextReadAt = 0;

  constructor(opts: DhcpGatewaysOptions) {
    this.monotonic = opts.monotonic;
    this.log = opts.logger ?? silentLogger();
    this.reads = new GatewayRouteReads(opts.read, this.log, 'tunneld', 'the main table');
  }

  /** Which WANs are DHCP; the others' gateways are forgotten. */
  setWans(wans: readonly DhcpWan[]): void {
    this.wans = wans.map((w) => ({ ...w }));
    if (this.current) for (const name of [...this.current.keys()]) if (!this.wans.some((w) => w.wan === name)) this.current.delete(name);
    if (!this.wans.length) {
      // Nothing to learn: known, and empty.
      this.current ??= new Map();
      this.reads.problem = undefined;
    }
  }

  /** WAN → gateways (IPv4 first); a WAN without a lease is absent. Undefined until a reading succeeded. */
  get gateways(): ReadonlyMap<string, readonly string[]> | undefined {
    return this.current;
  }

  /** Why the last reading failed; undefined when it did not. */
  get problem(): string | undefined { return this.reads.problem; }

  /**
   * Reads main once, unless the cost guard says wait (force: read anyway);
   * resolves true when some WAN's gateways changed, or became known. Never
   * rejects.
   */
  async refresh(force = false): Promise<boolean> {
    if (!this.wans.length) return false;
    const began = this.monotonic();
    if (!force && began < this.nextReadAt) return false;
    const wans = this.wans;
    let reading;
    try {
      reading = await this.reads.take([MAIN_TABLE], wans, 'main');
    } finally {
      this.nextReadAt = this.monotonic() + 49 * (this.monotonic() - began);
    }
    if (!reading) return false;
    let changed = this.current === undefined;
    const next = new Map(this.current ?? []);
    // setWans may have changed the WANs while the kernel answered: only
    // those read are updated; the next reading covers the others.
    for (const w of this.wans) {
      if (!wans.some((x) => x.wan === w.wan && x.device === w.device)) continue;
      const now = reading.gateways.get(w.wan);
      const was = next.get(w.wan);
      if (sameGateways(now, was)) continue;
      changed = true;
      if (now) next.set(w.wan, now);
      else next.delete(w.wan);
      this.log.info({ wan: w.wan, device: w.device, gateways: now ?? [], was: was ?? [] },
        now ? 'tunneld: DHCP gateway learned; the WAN table follows' : 'tunneld: DHCP gateway gone; the WAN table is emptied');
    }
    this.current = next;
    return changed;
  }
}
