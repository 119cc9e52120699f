// The gateway of a DHCP WAN, as probed follows it: a WAN with `dhcp: true`
// has no gateway in the config, and without probe targets of its own it
// probes the one its DHCP client (or, for IPv6, router advertisements) put
// in the kernel. Reading and checking the routes is shared with tunneld
// (daemons/lib/kernel/gateway); this keeps the gateways from one reading to
// the next.
//
// Where the route sits: networkd and dhclient put it in the main table;
// tunneld copies it into the WAN's own table (where it also keeps a
// configured gateway). The WAN's table is read first: it is where a marked
// probe's lookup starts (fwmark rule → WAN table, then on to main), so
// probed probes the gateway its probes really go through. tunneld follows
// main on its 1 s poll, so after a lease change the WAN table says the old
// gateway for about a second: probed follows the same route the tunnels
// use, a second late.
//
// How changes are followed: the routes are read again on probed's 1 s
// housekeeping tick while some DHCP WAN has no probe targets of its own
// (less often on a box whose routing tables make a reading dear: see
// daemon.ts). rtnl offers no route monitor (no multicast subscription), and
// a lease changes rarely. On a small box a gateway that goes away is
// dropped within a second: at the default WAN rate (1/s), before downAfter
// (3) probes to it can be lost, so a lost lease reads as "waiting", not as
// loss. (At a rate that sends downAfter probes within a second, a gateway
// that stops answering the moment its route goes can still read as down
// first.)
import { GatewayRouteReads, MAIN_TABLE, sameGateways, type DhcpWan } from '../lib/kernel/index.js';
import { silentLogger, type Logger } from '../lib/log/index.js';

export interface GatewayWatcherOptions {
  /** The routes of these tables, both families (rtnl's RouteInfo list). */
  read: (tables: number[]) => Promise<unknown[]>;
  logger?: Logger;
}

/**
 * The gateways of the DHCP WANs, kept from one reading of the routes to the
 * next. A reading that fails keeps the last gateways (a transient netlink
 * error is not a lost lease) and says so in problem.
 */
export class GatewayWatcher {
  private readonly reads: GatewayRouteReads;
  private readonly log: Logger;
  private wans: DhcpWan[] = [];
  private current = new Map<string, string[]>();
  private running: Promise<boolean> | undefined;

  constructor(opts: GatewayWatcherOptions) {
    this.log = opts.logger ?? silentLogger();
    this.reads = new GatewayRouteReads(opts.read, this.log, 'probed: wan', 'the routes');
  }

  /** Which WANs to learn gateways for; the others' are forgotten. */
  setWans(wans: readonly DhcpWan[]): void {
    this.wans = wans.map((w) => ({ ...w }));
    for (const name of [...this.current.keys()]) if (!this.wans.some((w) => w.wan === name)) this.current.delete(name);
    if (!this.wans.length) this.reads.problem = undefined;
  }

  /** Whether any WAN waits on DHCP (there is something to read). */
  get watching(): boolean { return this.wans.length > 0; }

  /** A reading is under way. */
  get busy(): boolean { return this.running !== undefined; }

  /** Why the last reading failed; undefined when it did not. */
  get problem(): string | undefined { return this.reads.problem; }

  /** The WAN's gateways (IPv4 first), or undefined while none is known. */
  gateways(wan: string): readonly string[] | undefined {
    return this.current.get(wan);
  }

  /**
   * Read the routes once (after any reading under way, so what the caller
   * set before is what is read); resolves true when some WAN's gateways
   * changed. Never rejects.
   */
  async refresh(): Promise<boolean> {
    while (this.running) await this.running;
    if (!this.wans.length) return false;
    const run = this.readOnce();
    this.running = run;
    try {
      return await run;
    } finally {
      this.running = undefined;
    }
  }

  private async readOnce(): Promise<boolean> {
    const wans = this.wans;
    const tables = [...new Set([...wans.map((w) => w.table), MAIN_TABLE])];
    const reading = await this.reads.take(tables, wans, 'lookup');
    if (!reading) return false;
    // setWans may have changed the WANs while the kernel answered: keep
    // only those still watched; the next reading covers the others.
    let changed = false;
    for (const w of this.wans) {
      if (!wans.some((x) => x.wan === w.wan && x.device === w.device && x.table === w.table)) continue;
      const next = reading.gateways.get(w.wan);
      const was = this.current.get(w.wan);
      if (sameGateways(next, was)) continue;
      changed = true;
      if (next) this.current.set(w.wan, next);
      else this.current.delete(w.wan);
      this.log.info({ wan: w.wan, device: w.device, gateways: next ?? [], was: was ?? [] }, next ? 'probed: wan: DHCP gateway learned' : 'probed: wan: DHCP gateway gone');
    }
    return changed;
  }
}
