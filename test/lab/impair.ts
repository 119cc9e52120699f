// Impairments of lab links: loss, blackhole, link down, rate limit, delay and
// jitter. They are applied at the link's router (or switch) end, never in an
// appliance, so the product's own nftables table (inet tern), qdiscs and
// rules stay untouched.
//
// Where things go in the router namespace P, for P's interface IF (index N
// among P's links):
//   loss, blackhole  nft table `inet tern_lab` (bridge family on switches):
//                    chain pre (prerouting, -300) matches iifname IF,
//                    chain post (postrouting, 300) matches oifname IF;
//                    `numgen random mod 10000 < pct*100` with a counter.
//   rate             egress: tbf as IF's root qdisc; ingress: IF's ingress
//                    qdisc redirects (u32 + mirred) to IFB `rinN`, whose
//                    root qdisc is the tbf.
//   delay            the relay (test/lab/relay) on TUN `dlyN`, table 1000+N
//                    holding `default dev dlyN`. Ingress: chain pre marks
//                    IPv4 from IF with 0x4c00+N, and rule pref 100+N
//                    `fwmark 0x4c00+N lookup 1000+N` (a mark, not `iif IF`:
//                    ARP's route lookup for the router's own address must
//                    still find the local table); the local table sits at
//                    pref 200 (moved from 0 by Lab.up), so traffic to P itself
//                    is delayed too. Egress: pref 1000+20N+2k `iif dlyN to PFX
//                    lookup main` then 1000+20N+2k+1 `to PFX lookup 1000+N`
//                    for each prefix PFX routed over IF. A packet written back
//                    by the relay has no mark, arrives with iif dlyN and is
//                    routed normally (it still meets other links' rules).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TernError } from '../../daemons/lib/errors.js';
import type { Logger } from '../../daemons/lib/log/index.js';
import { inNetns, mustRun, run } from './command.js';
import { isAlive, refOf, sleepSync, terminate, type ProcessRef } from './proc.js';
import {
  endsOf, findEnd, findNode, hostOf, prefixContains, prefixOf, type LinkEnd, type Topology,
} from './topology.js';

/** What LinkImpairment needs of a lab (Lab implements it). */
export interface ImpairHost {
  readonly topology: Topology;
  readonly prefix: string;
  readonly runDir: string;
  readonly logger: Logger;
  ns(node: string): string;
  ownerPid(): number;
}

/**
 * Direction relative to the link end named when asking: out = packets the
 * named node sends through that interface, in = packets it receives there.
 */
export type Direction = 'in' | 'out' | 'both';

/** Direction at the impairment point's interface. */
type PointDir = 'ingress' | 'egress';

export interface RelayRecord extends ProcessRef {
  dev: string;
  table: number;
  config: string;
  stats: string;
  log: string;
}

/** What is applied to one link, as kept in <runDir>/impair/<node>.<if>.json. */
export interface ImpairRecord {
  /** The impairment point: the router or switch end, "node:ifname". */
  point: string;
  loss?: { pct: number; dirs: PointDir[] };
  blackhole?: { dirs: PointDir[] };
  down?: boolean;
  rate?: { mbit: number; burstBytes: number; dirs: PointDir[] };
  delay?: { ms: number; jitterMs: number; dirs: PointDir[]; relay: RelayRecord };
  /** The link as it was before the first impairment; clear() must get back to it. */
  baseline?: LinkSnapshot;
}

/** Everything of one point interface that impairments may change. */
export interface LinkSnapshot {
  up: boolean;
  qdiscs: string[];
  nftRules: string[];
  ipRules: string[];
  routes: string[];
  devices: string[];
}

export interface CounterPair {
  packets: number;
  bytes: number;
}

/** Counters of what impairments did, directions relative to the named end. */
export interface ImpairStats {
  loss: Partial<Record<'in' | 'out', CounterPair>>;
  blackhole: Partial<Record<'in' | 'out', CounterPair>>;
  relay?: {
    rx_packets: number; tx_packets: number; dropped: number; write_errors: number;
    queued: number; late_mean_us: number; late_max_us: number; delay_us: number; jitter_us: number;
  };
}

const nftTable = 'tern_lab';
/** What the lab's nft rules are for, as written in their comments. */
type NftKind = 'loss' | 'blackhole' | 'delay';
const relayRtPriority = 10;

/** The delay relay binary: $TERN_LAB_RELAY, else the cargo release build in the repo. */
export function relayBinary(): string {
  if (process.env.TERN_LAB_RELAY) return process.env.TERN_LAB_RELAY;
  const here = path.dirname(fileURLToPath(import.meta.url));
  return path.resolve(here, '../../../test/lab/relay/target/release/tern-lab-relay');
}

/** The command that builds the relay, for error messages and docs. */
export const relayBuildCommand = 'cargo build --release --manifest-path test/lab/relay/Cargo.toml';

function impairDir(runDir: string): string {
  return path.join(runDir, 'impair');
}

/** Relay processes recorded under runDir (Lab.down kills them). */
export function impairmentProcesses(runDir: string): ProcessRef[] {
  const dir = impairDir(runDir);
  if (!fs.existsSync(dir)) return [];
  const out: ProcessRef[] = [];
  for (const f of fs.readdirSync(dir)) {
    if (!f.endsWith('.json')) continue;
    try {
      const rec = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as ImpairRecord;
      if (rec.delay?.relay) out.push({ pid: rec.delay.relay.pid, startTime: rec.delay.relay.startTime });
    } catch {
      // A half-written file: its relay also dies with the lab owner.
    }
  }
  return out;
}

function invalid(msg: string): TernError {
  return new TernError('TERN_E_LAB_IMPAIR', `lab: impair: ${msg}`);
}

function checkDirection(d: unknown): Direction {
  if (d === 'in' || d === 'out' || d === 'both') return d;
  throw invalid(`direction ${JSON.stringify(d)}; want in, out or both`);
}

function checkNumber(what: string, v: unknown, min: number, max: number, opts: { exclusiveMin?: boolean } = {}): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (opts.exclusiveMin && v === min)) {
    throw invalid(`${what} ${typeof v === 'number' ? String(v) : JSON.stringify(v)}; want a number ${opts.exclusiveMin ? 'above' : 'from'} ${min} ${opts.exclusiveMin ? 'up to' : 'to'} ${max}`);
  }
  return v;
}

/** The impairment controls of one link, reached through either of its ends. */
export class LinkImpairment {
  /** The end named by the caller; directions are relative to it. */
  readonly named: LinkEnd;
  /** The end where impairments are applied (a router or switch). */
  readonly point: LinkEnd;
  readonly pointRole: 'router' | 'switch';
  private readonly host: ImpairHost;
  private readonly ns: string;
  private readonly index: number;
  private readonly family: 'inet' | 'bridge';

  constructor(host: ImpairHost, end: string) {
    this.host = host;
    const found = findEnd(host.topology, end);
    if (!found) {
      const ends = host.topology.links.flatMap((l) => [l.a, l.b]).map((e) => `${e.node}:${e.ifname}`);
      throw invalid(`unknown link end ${JSON.stringify(end)}; want node:ifname, one of ${ends.join(', ')}`);
    }
    this.named = found.end;
    const roleOf = (e: LinkEnd) => findNode(host.topology, e.node)!.role;
    const named = roleOf(found.end);
    const peer = roleOf(found.peer);
    if (named === 'router' || (named === 'switch' && peer !== 'router')) this.point = found.end;
    else if (peer === 'router' || peer === 'switch') this.point = found.peer;
    else throw invalid(`link ${end} has no router or switch end; impairments are applied only in lab routers and switches`);
    this.pointRole = roleOf(this.point) as 'router' | 'switch';
    this.ns = host.ns(this.point.node);
    this.index = endsOf(host.topology, this.point.node).findIndex((e) => e.end.ifname === this.point.ifname);
    this.family = this.pointRole === 'router' ? 'inet' : 'bridge';
  }

  /** "node:ifname" of the impairment point. */
  get pointId(): string {
    return `${this.point.node}:${this.point.ifname}`;
  }

  private get ifname(): string {
    return this.point.ifname;
  }

  private get relayDev(): string {
    return `dly${this.index}`;
  }

  private get ifbDev(): string {
    return `rin${this.index}`;
  }

  private get table(): number {
    return 1000 + this.index;
  }

  /** The fwmark that sends ingress packets into the relay. */
  private get mark(): string {
    return `0x${(0x4c00 + this.index).toString(16)}`;
  }

  private toPoint(dir: Direction): PointDir[] {
    if (dir === 'both') return ['ingress', 'egress'];
    const samePoint = this.point === this.named;
    if (dir === 'out') return [samePoint ? 'egress' : 'ingress'];
    return [samePoint ? 'ingress' : 'egress'];
  }

  private fromPoint(d: PointDir): 'in' | 'out' {
    const samePoint = this.point === this.named;
    if (d === 'egress') return samePoint ? 'out' : 'in';
    return samePoint ? 'in' : 'out';
  }

  // ---- record -------------------------------------------------------------

  private recordFile(): string {
    return path.join(impairDir(this.host.runDir), `${this.point.node}.${this.point.ifname}.json`);
  }

  /** What is applied now (read from the run directory). */
  current(): ImpairRecord {
    try {
      return JSON.parse(fs.readFileSync(this.recordFile(), 'utf8')) as ImpairRecord;
    } catch {
      return { point: this.pointId };
    }
  }

  private save(rec: ImpairRecord): void {
    fs.mkdirSync(impairDir(this.host.runDir), { recursive: true });
    const active = rec.loss || rec.blackhole || rec.down || rec.rate || rec.delay;
    if (!active) {
      fs.rmSync(this.recordFile(), { force: true });
      return;
    }
    const tmp = `${this.recordFile()}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, `${JSON.stringify(rec, null, 2)}\n`);
    fs.renameSync(tmp, this.recordFile());
  }

  /** The record with a baseline taken if this is the first impairment of the link. */
  private async begin(): Promise<ImpairRecord> {
    const rec = this.current();
    rec.baseline ??= await this.snapshot();
    return rec;
  }

  private async exec(argv: string[], input?: string): Promise<string> {
    return mustRun(inNetns(this.ns, argv), input === undefined ? {} : { input });
  }

  private async ip(args: string): Promise<string> {
    return mustRun(['ip', '-n', this.ns, ...args.split(' ')]);
  }

  // ---- nft: loss and blackhole -------------------------------------------

  private comment(kind: NftKind, d: PointDir): string {
    return `tern-lab ${kind} ${this.ifname} ${d}`;
  }

  private async ensureTable(): Promise<void> {
    await this.exec(['nft', '-f', '-'], [
      `add table ${this.family} ${nftTable}`,
      `add chain ${this.family} ${nftTable} pre { type filter hook prerouting priority -300; policy accept; }`,
      `add chain ${this.family} ${nftTable} post { type filter hook postrouting priority 300; policy accept; }`,
    ].join('\n'));
  }

  /** Rules of the lab table: chain, handle, comment and counter. */
  private async nftRules(): Promise<{ chain: string; handle: number; comment: string; packets: number; bytes: number }[]> {
    const r = await run(inNetns(this.ns, ['nft', '-j', 'list', 'table', this.family, nftTable]));
    if (r.code !== 0) return [];
    const doc = JSON.parse(r.stdout) as { nftables: Array<{ rule?: { chain: string; handle: number; comment?: string; expr: Array<Record<string, unknown>> } }> };
    return doc.nftables.flatMap((o) => {
      if (!o.rule) return [];
      const counter = o.rule.expr.find((e) => 'counter' in e)?.counter as { packets: number; bytes: number } | undefined;
      return [{ chain: o.rule.chain, handle: o.rule.handle, comment: o.rule.comment ?? '', packets: counter?.packets ?? 0, bytes: counter?.bytes ?? 0 }];
    });
  }

  private async removeRules(kind: NftKind): Promise<void> {
    const prefix = `tern-lab ${kind} ${this.ifname} `;
    const mine = (await this.nftRules()).filter((r) => r.comment.startsWith(prefix));
    if (mine.length > 0) {
      await this.exec(['nft', '-f', '-'], mine.map((r) => `delete rule ${this.family} ${nftTable} ${r.chain} handle ${r.handle}`).join('\n'));
    }
    const left = await this.nftRules();
    if (left.length === 0) await run(inNetns(this.ns, ['nft', 'delete', 'table', this.family, nftTable]));
  }

  private async addDropRules(kind: 'loss' | 'blackhole', dirs: PointDir[], pct: number): Promise<void> {
    await this.ensureTable();
    const lines = dirs.map((d) => {
      const chain = d === 'ingress' ? 'pre' : 'post';
      const match = d === 'ingress' ? `iifname "${this.ifname}"` : `oifname "${this.ifname}"`;
      // A bridge sees whole frames: loss takes IP packets only, as it does
      // in routers, where ARP never meets the inet hooks. A blackhole drops
      // every frame, ARP included.
      const ipOnly = this.family === 'bridge' && kind === 'loss' ? 'meta protocol { ip, ip6 } ' : '';
      // Basis points: 0.01 % resolution with the same numgen mechanism.
      const sample = pct >= 100 ? '' : `numgen random mod 10000 < ${Math.round(pct * 100)} `;
      return `add rule ${this.family} ${nftTable} ${chain} ${match} ${ipOnly}${sample}counter drop comment "${this.comment(kind, d)}"`;
    });
    await this.exec(['nft', '-f', '-'], lines.join('\n'));
  }

  /**
   * Drop pct % of packets at random (nft numgen), in the given direction
   * (default out: packets the named end sends). loss(0) removes the loss.
   */
  async loss(pct: number, opts: { direction?: Direction } = {}): Promise<void> {
    checkNumber('loss percentage', pct, 0, 100);
    const dirs = this.toPoint(checkDirection(opts.direction ?? 'out'));
    const rec = await this.begin();
    await this.removeRules('loss');
    delete rec.loss;
    if (pct > 0) {
      await this.addDropRules('loss', dirs, pct);
      rec.loss = { pct, dirs };
    }
    this.save(rec);
    this.host.logger.info({ point: this.pointId, pct, dirs }, `lab: impair: ${this.pointId}: loss ${pct} %`);
  }

  /** Drop everything in the given direction (default both); the link stays up. */
  async blackhole(opts: { direction?: Direction } = {}): Promise<void> {
    const dirs = this.toPoint(checkDirection(opts.direction ?? 'both'));
    const rec = await this.begin();
    await this.removeRules('blackhole');
    await this.addDropRules('blackhole', dirs, 100);
    rec.blackhole = { dirs };
    this.save(rec);
    this.host.logger.info({ point: this.pointId, dirs }, `lab: impair: ${this.pointId}: blackhole`);
  }

  // ---- link state ----------------------------------------------------------

  /**
   * Wait until both ends of the link report the operational state: the
   * kernel propagates carrier changes asynchronously (linkwatch, up to a
   * second), and a link is not usable before it says UP.
   */
  private async settle(want: 'UP' | 'DOWN'): Promise<void> {
    const peer = findEnd(this.host.topology, this.pointId)!.peer;
    const ends: Array<[string, string]> = [[this.ns, this.ifname], [this.host.ns(peer.node), peer.ifname]];
    for (let i = 0; i < 300; i++) {
      const states = await Promise.all(ends.map(async ([ns, dev]) => {
        const out = await mustRun(['ip', '-n', ns, '-j', 'link', 'show', 'dev', dev]);
        return (JSON.parse(out) as Array<{ operstate: string }>)[0]?.operstate;
      }));
      // A bridge port whose bridge is up reports UP; DOWN ends read DOWN or LOWERLAYERDOWN.
      if (states.every((s) => (want === 'UP' ? s === 'UP' : s !== 'UP'))) return;
      await new Promise((res) => setTimeout(res, 10));
    }
    throw new TernError('TERN_E_LAB_COMMAND', `lab: impair: ${this.pointId}: link did not become ${want} on both ends`);
  }

  /** Take the link down at the impairment point: the other end sees its carrier go. */
  async linkDown(): Promise<void> {
    const rec = await this.begin();
    await this.ip(`link set dev ${this.ifname} down`);
    await this.settle('DOWN');
    rec.down = true;
    this.save(rec);
    this.host.logger.info({ point: this.pointId }, `lab: impair: ${this.pointId}: link down`);
  }

  /** Bring the link back up and restore the static routes the kernel dropped with it. */
  async linkUp(): Promise<void> {
    const rec = this.current();
    await this.ip(`link set dev ${this.ifname} up`);
    await this.settle('UP');
    // A carrier coming back does not restart ARP: a neighbour entry that
    // went INCOMPLETE while the link was down retries only on its next
    // timer tick (up to a second), holding packets meanwhile. One ping from
    // the router makes the peer learn it at once, so the link is usable
    // when linkUp returns, as a router announcing itself on link up would.
    const peer = findEnd(this.host.topology, this.pointId)!.peer;
    if (this.point.address && peer.address) {
      await run(inNetns(this.ns, ['fping', '-c', '1', '-t', '1000', '-q', hostOf(peer.address)]));
    }
    const prefix = this.point.address ? prefixOf(this.point.address) : undefined;
    for (const r of this.host.topology.routes) {
      if (r.node === this.point.node && prefix && prefixContains(prefix, r.via)) {
        await this.ip(`route replace ${r.to} via ${r.via}`);
      }
    }
    delete rec.down;
    this.save(rec);
    this.host.logger.info({ point: this.pointId }, `lab: impair: ${this.pointId}: link up`);
  }

  // ---- rate ------------------------------------------------------------------

  /**
   * Limit the rate to mbit Mbit/s with a token bucket (tbf) in the given
   * direction (default out). burst defaults to 10 ms at the rate, at least
   * 15000 bytes; the queue holds 100 ms.
   */
  async rate(mbit: number, opts: { burst?: number; direction?: Direction } = {}): Promise<void> {
    checkNumber('rate in Mbit/s', mbit, 0, 100000, { exclusiveMin: true });
    const burstBytes = opts.burst === undefined
      ? Math.max(15000, Math.round((mbit * 1e6) / 8 / 100))
      : checkNumber('burst in bytes', opts.burst, 1600, 1e9);
    const dirs = this.toPoint(checkDirection(opts.direction ?? 'out'));
    const rec = await this.begin();
    await this.removeRate();
    const tbf = `tbf rate ${mbit}mbit burst ${Math.round(burstBytes)} latency 100ms`;
    if (dirs.includes('egress')) {
      await this.exec(['tc', 'qdisc', 'replace', 'dev', this.ifname, 'root', 'handle', '1:', ...tbf.split(' ')]);
    }
    if (dirs.includes('ingress')) {
      await this.ip(`link add name ${this.ifbDev} type ifb`);
      await this.ip(`link set dev ${this.ifbDev} up`);
      await this.exec(['tc', 'qdisc', 'replace', 'dev', this.ifbDev, 'root', 'handle', '1:', ...tbf.split(' ')]);
      await this.exec(['tc', 'qdisc', 'add', 'dev', this.ifname, 'handle', 'ffff:', 'ingress']);
      await this.exec(['tc', 'filter', 'add', 'dev', this.ifname, 'parent', 'ffff:', 'protocol', 'all', 'u32', 'match', 'u32', '0', '0',
        'action', 'mirred', 'egress', 'redirect', 'dev', this.ifbDev]);
    }
    rec.rate = { mbit, burstBytes, dirs };
    this.save(rec);
    this.host.logger.info({ point: this.pointId, mbit, dirs }, `lab: impair: ${this.pointId}: rate ${mbit} Mbit/s`);
  }

  private async removeRate(): Promise<void> {
    const qdiscs = await this.qdiscs(this.ifname);
    if (qdiscs.some((q) => q.kind === 'tbf' && q.root)) await this.exec(['tc', 'qdisc', 'del', 'dev', this.ifname, 'root']);
    if (qdiscs.some((q) => q.kind === 'ingress')) await this.exec(['tc', 'qdisc', 'del', 'dev', this.ifname, 'ingress']);
    if ((await this.devices()).includes(this.ifbDev)) await this.ip(`link del dev ${this.ifbDev}`);
  }

  private async qdiscs(dev: string): Promise<{ kind: string; handle: string; root: boolean }[]> {
    const r = await run(inNetns(this.ns, ['tc', '-j', 'qdisc', 'show', 'dev', dev]));
    if (r.code !== 0 || r.stdout.trim() === '') return [];
    return (JSON.parse(r.stdout) as Array<{ kind: string; handle: string; root?: boolean }>).map((q) => ({ kind: q.kind, handle: q.handle, root: q.root === true }));
  }

  private async devices(): Promise<string[]> {
    const out = await mustRun(['ip', '-n', this.ns, '-j', 'link', 'show']);
    return (JSON.parse(out) as Array<{ ifname: string }>).map((l) => l.ifname);
  }

  // ---- delay -----------------------------------------------------------------

  /** Prefixes the point routes over the impaired interface: its link prefix and static routes via the peer. */
  private prefixesVia(): string[] {
    if (!this.point.address) return [];
    const linkPrefix = prefixOf(this.point.address);
    const routed = this.host.topology.routes
      .filter((r) => r.node === this.point.node && r.to !== 'default' && prefixContains(linkPrefix, r.via))
      .map((r) => r.to);
    return [linkPrefix, ...routed];
  }

  private delayRules(dirs: PointDir[]): string[] {
    const rules: string[] = [];
    if (dirs.includes('ingress')) rules.push(`pref ${100 + this.index} fwmark ${this.mark} lookup ${this.table}`);
    if (dirs.includes('egress')) {
      const prefixes = this.prefixesVia();
      // Each interface owns 20 rule preferences: two per prefix.
      if (prefixes.length > 10) throw invalid(`delay on ${this.pointId}: ${prefixes.length} prefixes routed over it; at most 10 fit its rule range`);
      prefixes.forEach((p, k) => {
        const base = 1000 + 20 * this.index + 2 * k;
        rules.push(`pref ${base} iif ${this.relayDev} to ${p} lookup main`);
        rules.push(`pref ${base + 1} to ${p} lookup ${this.table}`);
      });
    }
    return rules;
  }

  /**
   * Hold packets for ms ± jitterMs (uniform) in the given direction (default
   * out: what the named end sends, so ping from it shows +ms RTT); 'both'
   * delays each direction by ms. Packets of one flow are never reordered.
   * Only on links with a router end. delay(0) removes the delay. A second
   * call changes delay and jitter in place, without losing held packets.
   */
  async delay(ms: number, jitterMs = 0, opts: { direction?: Direction } = {}): Promise<void> {
    checkNumber('delay in ms', ms, 0, 60000);
    checkNumber('jitter in ms', jitterMs, 0, 60000);
    const dirs = this.toPoint(checkDirection(opts.direction ?? 'out'));
    if (this.pointRole !== 'router') {
      throw invalid(`delay on ${this.pointId}: delay needs a router end (policy routing into the relay); this link ends at a switch`);
    }
    const rec = await this.begin();
    if (ms === 0 && jitterMs === 0) {
      await this.removeDelay(rec);
      this.save(rec);
      return;
    }
    const live = rec.delay && isAlive(rec.delay.relay) ? rec.delay : undefined;
    if (live) {
      fs.writeFileSync(live.relay.config, `delay_us=${Math.round(ms * 1000)}\njitter_us=${Math.round(jitterMs * 1000)}\n`);
      process.kill(live.relay.pid, 'SIGHUP');
      if (live.dirs.join() !== dirs.join()) {
        await this.setRules(this.delayRules(live.dirs), 'del');
        await this.removeRules('delay');
        await this.routeIntoRelay(dirs);
      }
      rec.delay = { ...live, ms, jitterMs, dirs };
    } else {
      if (rec.delay) await this.removeDelay(rec);
      const relay = await this.startRelay(ms, jitterMs);
      rec.delay = { ms, jitterMs, dirs, relay };
      // Saved before routing into the relay: if a later step fails, down()
      // still finds the relay to kill.
      this.save(rec);
      await this.exec(['ip', 'link', 'set', 'dev', relay.dev, 'up']);
      // Packets the relay writes back arrive on dlyN with sources that are
      // not routed there (and, for the router's own replies, local ones).
      await this.exec(['sysctl', '-q', '-w', `net.ipv4.conf.${relay.dev}.rp_filter=0`, `net.ipv4.conf.${relay.dev}.accept_local=1`]);
      await this.ip(`route replace default dev ${relay.dev} table ${relay.table}`);
      await this.routeIntoRelay(dirs);
    }
    this.save(rec);
    this.host.logger.info({ point: this.pointId, ms, jitterMs, dirs }, `lab: impair: ${this.pointId}: delay ${ms} ms ± ${jitterMs} ms`);
  }

  /** The mark rule (ingress) and policy rules that send traffic into the relay. */
  private async routeIntoRelay(dirs: PointDir[]): Promise<void> {
    if (dirs.includes('ingress')) {
      await this.ensureTable();
      await this.exec(['nft', '-f', '-'],
        `add rule ${this.family} ${nftTable} pre iifname "${this.ifname}" meta nfproto ipv4 meta mark set ${this.mark} comment "${this.comment('delay', 'ingress')}"`);
    }
    await this.setRules(this.delayRules(dirs), 'add');
  }

  private async setRules(rules: string[], op: 'add' | 'del'): Promise<void> {
    if (rules.length === 0) return;
    const input = rules.map((r) => `rule ${op} ${r}`).join('\n');
    await mustRun(['ip', '-n', this.ns, '-batch', '-'], { input });
  }

  private async startRelay(ms: number, jitterMs: number): Promise<RelayRecord> {
    const bin = relayBinary();
    if (!fs.existsSync(bin)) {
      throw invalid(`delay: the relay binary ${bin} is missing; build it with \`${relayBuildCommand}\` (or set TERN_LAB_RELAY)`);
    }
    const dir = impairDir(this.host.runDir);
    fs.mkdirSync(dir, { recursive: true });
    const base = path.join(dir, `${this.point.node}.${this.point.ifname}`);
    const config = `${base}.relay.conf`;
    const stats = `${base}.relay.stats.json`;
    const log = path.join(this.host.runDir, 'logs', `${this.point.node}.relay-${this.ifname}.log`);
    fs.mkdirSync(path.dirname(log), { recursive: true });
    fs.writeFileSync(config, `delay_us=${Math.round(ms * 1000)}\njitter_us=${Math.round(jitterMs * 1000)}\n`);
    fs.rmSync(stats, { force: true });
    const owner = this.host.ownerPid();
    const argv = [bin, '--dev', this.relayDev, '--config', config, '--stats', stats, '--owner-pid', String(owner), '--rt-priority', String(relayRtPriority)];
    // In the lab's own process the relay also dies with it at once; from
    // the CLI it must outlive the command and go with the lab's owner.
    if (owner === process.pid) argv.push('--die-with-parent');
    const logFd = fs.openSync(log, 'a');
    const child = spawn('ip', ['netns', 'exec', this.ns, ...argv], { stdio: ['ignore', 'pipe', logFd], detached: true });
    fs.closeSync(logFd);
    const ready = await new Promise<boolean>((resolve) => {
      let buf = '';
      const timer = setTimeout(() => resolve(false), 5000);
      child.stdout!.on('data', (b: Buffer) => {
        buf += b.toString();
        if (buf.includes(`ready ${this.relayDev}`)) { clearTimeout(timer); resolve(true); }
      });
      child.on('exit', () => { clearTimeout(timer); resolve(false); });
      child.on('error', () => { clearTimeout(timer); resolve(false); });
    });
    child.stdout!.destroy();
    child.unref();
    const ref = child.pid === undefined ? undefined : refOf(child.pid);
    if (!ready || !ref) {
      if (ref) await terminate([ref]);
      const tail = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').trim().split('\n').slice(-3).join(' / ') : '';
      throw new TernError('TERN_E_LAB_COMMAND', `lab: impair: delay: relay on ${this.pointId} did not report ready; want "ready ${this.relayDev}": ${tail}`);
    }
    return { ...ref, dev: this.relayDev, table: this.table, config, stats, log };
  }

  private async removeDelay(rec: ImpairRecord): Promise<void> {
    const d = rec.delay;
    // Rules first, so traffic never meets a route into a relay that is gone.
    const present = await this.ipRules();
    const wanted = this.delayRules(['ingress', 'egress']).filter((r) => present.some((p) => p.startsWith(`${r.split(' ')[1]}:`)));
    await this.setRules(wanted, 'del');
    await this.removeRules('delay');
    await run(['ip', '-n', this.ns, 'route', 'flush', 'table', String(this.table)]);
    if (d) {
      await terminate([d.relay]);
      for (const f of [d.relay.config, d.relay.stats, `${d.relay.stats}.tmp`]) fs.rmSync(f, { force: true });
    }
    // The TUN is not persistent: it disappears with the relay's file.
    for (let i = 0; i < 50 && (await this.devices()).includes(this.relayDev); i++) sleepSync(10);
    delete rec.delay;
  }

  // ---- clear, stats, snapshot ------------------------------------------------

  /**
   * Remove impairments of this link: one kind, or (default) all, after
   * which the link must look exactly as before the first impairment; a
   * difference throws TERN_E_LAB_IMPAIR naming it.
   */
  async clear(kind?: 'loss' | 'blackhole' | 'rate' | 'delay' | 'down'): Promise<void> {
    const rec = this.current();
    if (!kind || kind === 'delay') await this.removeDelay(rec);
    if (!kind || kind === 'rate') { await this.removeRate(); delete rec.rate; }
    if (!kind || kind === 'loss') { await this.removeRules('loss'); delete rec.loss; }
    if (!kind || kind === 'blackhole') { await this.removeRules('blackhole'); delete rec.blackhole; }
    if ((!kind || kind === 'down') && rec.down) await this.linkUp();
    delete rec.down;
    const baseline = rec.baseline;
    this.save(rec);
    this.host.logger.info({ point: this.pointId, kind: kind ?? 'all' }, `lab: impair: ${this.pointId}: cleared ${kind ?? 'all'}`);
    if (!kind && baseline) {
      const now = await this.snapshot();
      const diff = (Object.keys(baseline) as (keyof LinkSnapshot)[]).filter((k) => JSON.stringify(baseline[k]) !== JSON.stringify(now[k]));
      if (diff.length > 0) {
        throw invalid(`clear ${this.pointId}: left ${diff.map((k) => `${k}: got ${JSON.stringify(now[k])}; want ${JSON.stringify(baseline[k])}`).join('; ')}`);
      }
    }
  }

  /** Counters of the drop rules and the relay, directions relative to the named end. */
  async stats(): Promise<ImpairStats> {
    const out: ImpairStats = { loss: {}, blackhole: {} };
    for (const r of await this.nftRules()) {
      const m = /^tern-lab (loss|blackhole) (\S+) (ingress|egress)$/.exec(r.comment);
      if (!m || m[2] !== this.ifname) continue;
      out[m[1] as 'loss' | 'blackhole'][this.fromPoint(m[3] as PointDir)] = { packets: r.packets, bytes: r.bytes };
    }
    const relay = this.current().delay?.relay;
    if (relay && isAlive(relay)) {
      const before = fs.existsSync(relay.stats) ? fs.statSync(relay.stats).mtimeMs : 0;
      process.kill(relay.pid, 'SIGUSR1');
      for (let i = 0; i < 100; i++) {
        if (fs.existsSync(relay.stats) && fs.statSync(relay.stats).mtimeMs !== before) break;
        await new Promise((res) => setTimeout(res, 10));
      }
      try {
        out.relay = JSON.parse(fs.readFileSync(relay.stats, 'utf8')) as ImpairStats['relay'];
      } catch {
        // Being rewritten: leave relay counters out of this reading.
      }
    }
    return out;
  }

  private async ipRules(): Promise<string[]> {
    const out = await mustRun(['ip', '-n', this.ns, 'rule', 'show']);
    return out.split('\n').map((l) => l.trim().replace(/\s+/g, ' ')).filter((l) => l.length > 0);
  }

  /** The state of everything an impairment of this link may change. */
  async snapshot(): Promise<LinkSnapshot> {
    const link = JSON.parse(await mustRun(['ip', '-n', this.ns, '-j', 'link', 'show', 'dev', this.ifname])) as Array<{ flags: string[] }>;
    const mentions = (s: string) => s.includes(this.ifname) || s.includes(this.relayDev) || s.includes(this.ifbDev) || s.includes(`lookup ${this.table}`);
    // IPv4 only: IPv6 link-local routes come and go with DAD on their own.
    const routes = (await mustRun(['ip', '-n', this.ns, '-4', 'route', 'show', 'table', 'all']))
      .split('\n').map((l) => l.trim()).filter((l) => l.length > 0 && mentions(l)).sort();
    const devices = (await this.devices()).filter((d) => d === this.relayDev || d === this.ifbDev);
    const qdiscs = (await this.qdiscs(this.ifname)).map((q) => `${q.kind} ${q.handle}${q.root ? ' root' : ''}`);
    const nftRules = (await this.nftRules()).filter((r) => r.comment.includes(` ${this.ifname} `)).map((r) => `${r.chain} ${r.comment}`);
    return {
      up: link[0]?.flags.includes('UP') ?? false,
      qdiscs,
      nftRules,
      ipRules: (await this.ipRules()).filter(mentions),
      routes,
      devices,
    };
  }

  /** One line saying what is applied, for the CLI. */
  describe(): string {
    const rec = this.current();
    const dirs = (ds: PointDir[]) => ds.map((d) => this.fromPoint(d)).join('+');
    const parts: string[] = [];
    if (rec.down) parts.push('link down');
    if (rec.blackhole) parts.push(`blackhole ${dirs(rec.blackhole.dirs)}`);
    if (rec.loss) parts.push(`loss ${rec.loss.pct} % ${dirs(rec.loss.dirs)}`);
    if (rec.delay) parts.push(`delay ${rec.delay.ms} ms ± ${rec.delay.jitterMs} ms ${dirs(rec.delay.dirs)}`);
    if (rec.rate) parts.push(`rate ${rec.rate.mbit} Mbit/s ${dirs(rec.rate.dirs)}`);
    const where = this.point === this.named ? this.pointId : `${this.named.node}:${this.named.ifname} (applied at ${this.pointId})`;
    return `${where}: ${parts.length > 0 ? parts.join(', ') : 'no impairment'}`;
  }
}

