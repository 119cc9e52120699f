// The gateways of the DHCP WANs as tunneld follows them, to copy into each
// WAN's own table: read from the main table, where networkd and dhclient
// (and the kernel, for router advertisements) put the default route — never
// from the WAN table, which holds tunneld's own copy and would keep a lost
// lease alive. Checking the routes is shared with probed
// (daemons/lib/kernel/gateway).
//
// Cadence: read on tunneld's 1 s poll (index.ts), the tick that already
// reads every path's handshake; a lease that changes or goes is in the WAN
// table within about a second. rtnl has no route monitor. On a box whose
// routes make a reading dear, the next one waits 49 times as long as the
// last took, so reading never takes more than 2 % of the time.
import { errorMessage } from '../lib/errors.js';
import { MAIN_TABLE, dhcpGateways, type DhcpWan } from '../lib/kernel/index.js';
import { silentLogger, type Logger } from '../lib/log/index.js';

export interface DhcpGatewaysOptions {
  /** The routes of these tables, both families (rtnl's RouteInfo list). */
  read: (tables: number[]) => Promise<unknown[]>;
  /** Monotonic milliseconds, for the cost guard. */
  monotonic: () => number;
  logger?: Logger;
}

const sameList = (a: readonly string[] | undefined, b: readonly string[] | undefined): boolean =>
  (a ?? []).length === (b ?? []).length && (a ?? []).every((x, i) => x === b![i]);

/**
 * What the main table says of each DHCP WAN's gateways. Unknown (undefined)
 * until a reading succeeds; a reading that fails keeps the last gateways (a
 * netlink error is not a lost lease) and says why in problem.
 */
export class DhcpGateways {
  private readonly read: DhcpGatewaysOptions['read'];
  private readonly monotonic: () => number;
  private readonly log: Logger;
  private wans: DhcpWan[] = [];
  private current: Map<string, string[]> | undefined;
  private lastMalformed = '';
  private readProblem: string | undefined;
  private nextReadAt = 0;

  constructor(opts: DhcpGatewaysOptions) {
    this.read = opts.read;
    this.monotonic = opts.monotonic;
    this.log = opts.logger ?? silentLogger();
  }

  /** Which WANs are DHCP; the others' gateways are forgotten. */
  setWans(wans: readonly DhcpWan[]): void {
    this.wans = wans.map((w) => ({ ...w }));
    if (this.current) for (const name of [...this.current.keys()]) if (!this.wans.some((w) => w.wan === name)) this.current.delete(name);
    if (!this.wans.length) {
      // Nothing to learn: known, and empty.
      this.current ??= new Map();
      this.readProblem = undefined;
    }
  }

  /** WAN → gateways (IPv4 first); a WAN without a lease is absent. Undefined until a reading succeeded. */
  get gateways(): ReadonlyMap<string, readonly string[]> | undefined {
    return this.current;
  }

  /** Why the last reading failed; undefined when it did not. */
  get problem(): string | undefined { return this.readProblem; }

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
    let routes: unknown;
    try {
      routes = await this.read([MAIN_TABLE]);
    } catch (err) {
      const problem = errorMessage(err);
      if (problem !== this.readProblem) this.log.warn({ err: problem }, 'tunneld: cannot read the main table for DHCP gateways; keeping the last ones');
      this.readProblem = problem;
      return false;
    } finally {
      this.nextReadAt = this.monotonic() + 49 * (this.monotonic() - began);
    }
    if (!Array.isArray(routes)) {
      this.readProblem = `got ${typeof routes} from the route reader; want a list of routes`;
      return false;
    }
    this.readProblem = undefined;
    const reading = dhcpGateways(routes, wans, 'main');
    const malformed = reading.malformed.join('; ');
    if (malformed && malformed !== this.lastMalformed) {
      this.log.warn({ count: reading.malformed.length, first: reading.malformed[0] }, 'tunneld: skipping malformed routes while looking for DHCP gateways');
    }
    this.lastMalformed = malformed;
    let changed = this.current === undefined;
    const next = new Map(this.current ?? []);
    // setWans may have changed the WANs while the kernel answered: only
    // those read are updated; the next reading covers the others.
    for (const w of this.wans) {
      if (!wans.some((x) => x.wan === w.wan && x.device === w.device)) continue;
      const now = reading.gateways.get(w.wan);
      const was = next.get(w.wan);
      if (sameList(now, was)) continue;
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
