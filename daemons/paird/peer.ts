// Both boxes' WANs in use: the other box's WANs (pair.peerWans) offered to
// steerd as paths reached across the LAN. paird owns the plumbing — per
// peer WAN a routing table whose default route goes via the other box's LAN
// address, and a fwmark rule into it — and keeps the route in place only
// while sending there makes sense. steerd decides which flows carry the mark.
import type { TernConfig } from '../lib/config/index.js';
import { wanTables } from '../lib/config/tables.js';
import { errorMessage } from '../lib/errors.js';
import type { RouteInfo, RouteSpec, RuleInfo, RuleSpec } from '../lib/kernel/index.js';
import { silentLogger, type Logger } from '../lib/log/index.js';
import { rulePriority, wanMarkBase } from '../lib/kernel/names.js';
import type { PeerFacts } from './sync.js';
import type { SysctlWriter } from './vip.js';

/** Rule priority of the peer-WAN rules (lib/kernel/names.ts: between tunneld's WAN marks and steerd's path marks). */
export const peerRulePriority = rulePriority.peerWan;

/** One peer WAN as a path: its table and mark on this box. */
export interface PeerWanPlan {
  name: string;
  table: number;
  mark: number;
}

/**
 * Tables and marks of the peer's WANs on this box: the WAN tables after
 * this box's own WANs (the same rule wanTables applies), marks the WAN-mark
 * convention (0x10000 + table), so steerd treats a peer WAN like an own one.
 */
export function peerWanPlan(cfg: Pick<TernConfig, 'wans' | 'pair'>): PeerWanPlan[] {
  const peerWans = cfg.pair?.peerWans ?? [];
  const tables = wanTables({ wans: [...cfg.wans, ...peerWans.map((name) => ({ name }))] });
  return peerWans.map((name) => {
    const table = tables.get(name)!;
    return { name, table, mark: wanMarkBase + table };
  });
}

/** The `pair.peerWan` fact steerd consumes (documented in README.md). */
export interface PeerWanFacts {
  /** True while the routes are in place: marked flows leave through the peer. */
  usable: boolean;
  /** Why (not): one sentence. */
  why: string;
  /** This box's role. */
  role: string;
  /** The pair interface (the routes' device). */
  interface: string;
  rulePriority: number;
  peer: null | {
    box: string;
    /**
     * The next hop through it: the source of its authenticated messages
     * (an IPv6 instance: the LAN address they carry), never an address a
     * datagram merely claims.
     */
    address: string;
    role: string;
    priority: number;
    alive: boolean;
    heardAt: number;
  };
  wans: Array<PeerWanPlan & {
    /** The peer says the WAN is up. */
    up: boolean;
    /** The route's next hop while usable and up, else null. */
    via: string | null;
  }>;
}

/** Decides the facts from this box's role and what the peer last said. */
export function peerWanFacts(plan: PeerWanPlan[], role: string, ifname: string, peer: PeerFacts | undefined): PeerWanFacts {
  const wanUp = (name: string): boolean => peer?.alive === true && peer.wans.some((w) => w.name === name && w.up);
  let why: string;
  let usable = false;
  if (plan.length === 0) why = 'no pair.peerWans configured';
  else if (role !== 'master') why = `this box is ${role}: only the master steers flows to the peer`;
  else if (!peer) why = 'the peer has not been heard (pair sync)';
  else if (!peer.alive) why = `the peer (${peer.box}) went silent`;
  else if (peer.role !== 'backup') why = `the peer (${peer.box}) is ${peer.role}, not backup: sending flows to it could loop`;
  else if (!plan.some((w) => wanUp(w.name))) why = `no WAN of the peer (${peer.box}) is up`;
  else { usable = true; why = `master; ${peer.box} is backup and alive at ${peer.via}`; }
  return {
    usable,
    why,
    role,
    interface: ifname,
    rulePriority: peerRulePriority,
    peer: peer ? { box: peer.box, address: peer.via, role: peer.role, priority: peer.priority, alive: peer.alive, heardAt: peer.heardAt } : null,
    wans: plan.map((w) => ({ ...w, up: wanUp(w.name), via: usable && wanUp(w.name) && peer ? peer.via : null })),
  };
}

/** The part of the kernel library the plumbing uses (Rtnl has it); tests pass a fake. */
export interface PeerKernel {
  rules(family?: 4 | 6): Promise<RuleInfo[]>;
  addRule(spec: RuleSpec): Promise<boolean>;
  deleteRule(spec: RuleSpec): Promise<void>;
  routes(table: number, family?: 4 | 6): Promise<RouteInfo[]>;
  replaceRoute(spec: RouteSpec): Promise<void>;
  deleteRoute(spec: RouteSpec): Promise<void>;
}

export interface PeerPathOptions {
  kernel: PeerKernel;
  sysctl: SysctlWriter;
  logger?: Logger;
}

/** Puts the facts into the kernel, one pass at a time, adopting what a previous run left. */
export class PeerPath {
  private readonly kernel: PeerKernel;
  private readonly sysctl: SysctlWriter;
  private readonly log: Logger;
  private chain: Promise<void> = Promise.resolve();
  private redirectsOff = new Set<string>();
  lastError: string | null = null;

  constructor(opts: PeerPathOptions) {
    this.kernel = opts.kernel;
    this.sysctl = opts.sysctl;
    this.log = opts.logger ?? silentLogger();
  }

  /** Makes the kernel match facts (rules always; routes only where `via` is set). */
  apply(facts: PeerWanFacts): Promise<void> {
    const run = this.chain.then(() => this.pass(facts));
    this.chain = run.catch((err: unknown) => {
      this.lastError = errorMessage(err);
      this.log.error({ err: this.lastError }, 'paird: peer path: kernel update failed; the next change retries');
    });
    return this.chain;
  }

  /** Removes every route and rule of the plan (graceful stop). */
  clear(plan: PeerWanPlan[]): Promise<void> {
    return this.apply({ usable: false, why: 'stopping', role: 'initialize', interface: '', rulePriority: peerRulePriority, peer: null, wans: plan.map((w) => ({ ...w, up: false, via: null })) })
      .then(() => this.removeRules(plan.map((w) => w.mark), true));
  }

  private async pass(f: PeerWanFacts): Promise<void> {
    // The routes' family is the next hop's (the peer's LAN address).
    const family = f.peer?.address.includes(':') ? 6 : 4;
    const any = family === 4 ? '0.0.0.0/0' : '::/0';
    await this.removeRules(f.wans.map((w) => w.mark), false);
    const have = await this.kernel.rules(family);
    for (const w of f.wans) {
      if (!have.some((r) => r.priority === peerRulePriority && r.fwmark === w.mark && r.table === w.table)) {
        await this.kernel.addRule({ family, priority: peerRulePriority, fwmark: w.mark, table: w.table });
      }
      const routes = (await this.kernel.routes(w.table, family)).filter((r) => r.dst === any);
      if (w.via) {
        if (!routes.some((r) => r.gateway === w.via && r.dev === f.interface)) {
          await this.kernel.replaceRoute({ dst: any, table: w.table, gateway: w.via, dev: f.interface });
          this.log.info({ wan: w.name, table: w.table, via: w.via }, 'paird: peer path: flows marked for the peer WAN go via the peer');
        }
        // Forwarding a flow back out of the LAN it came from would make the
        // kernel tell the host to use the peer directly (ICMP redirect),
        // taking the flow out of this box's hands.
        this.redirects(f.interface);
      } else {
        for (const r of routes) {
          await this.kernel.deleteRoute({ dst: r.dst, table: w.table, ...(r.metric ? { metric: r.metric } : {}) });
          this.log.info({ wan: w.name, table: w.table }, 'paird: peer path: route via the peer withdrawn');
        }
      }
    }
    this.lastError = null;
  }

  private async removeRules(keepMarks: number[], all: boolean): Promise<void> {
    for (const family of [4, 6] as const) {
      for (const r of await this.kernel.rules(family)) {
        if (r.priority !== peerRulePriority || r.family !== family) continue;
        if (!all && r.fwmark !== null && keepMarks.includes(r.fwmark)) continue;
        await this.kernel.deleteRule({ family, priority: r.priority, table: r.table, ...(r.fwmark !== null ? { fwmark: r.fwmark } : {}) });
      }
    }
  }

  private redirects(ifname: string): void {
    if (this.redirectsOff.has(ifname)) return;
    try {
      this.sysctl('net.ipv4.conf.all.send_redirects', '0');
      this.sysctl(`net.ipv4.conf.${ifname}.send_redirects`, '0');
      this.redirectsOff.add(ifname);
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'paird: peer path: cannot turn ICMP redirects off');
    }
  }
}
