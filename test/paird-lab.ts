// The office PAIR in the lab, for test/paird.test.ts and the failover
// benchmark: tunneld on every appliance, tern-paird or keepalived on the two
// office boxes, officehost routed through the VIP, and the measurements
// (who holds the VIP, what hosts' ARP says, pings lost across a failure).
import fs from 'node:fs';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { Lab, defaultTopology, repoRoot } from './lab/index.js';
import { busCall, patience, waitFor, waitForAdvance } from './lab/wait.js';

export const officeBoxes = ['office1', 'office2'] as const;
export type OfficeBox = (typeof officeBoxes)[number];
export const appliances = ['office1', 'office2', 'home1', 'cloud1'] as const;
export const vip = '10.1.0.1';
export const lanAddress: Record<OfficeBox, string> = { office1: '10.1.0.2', office2: '10.1.0.3' };
/**
 * The IPv6 instance (test-only addresses, added by addIpv6): its VIP, the
 * boxes' LAN addresses and officehost's, all in 2001:db8:1::/64 on the LAN.
 */
export const vip6 = '2001:db8:1::1';
export const lanAddress6: Record<OfficeBox, string> = { office1: '2001:db8:1::2', office2: '2001:db8:1::3' };
export const hostAddress6 = '2001:db8:1::10';
/** The VRID of the IPv6 instance, and the link-local virtual address paird derives from it (settings.ts). */
export const vrid6 = 2;
export const virtualLinkLocal6 = 'fe80::200:5eff:fe00:202';
/** homehost, reached from officehost over the overlay through the VIP. */
export const remoteHost = '10.2.0.10';

const paird = path.join(repoRoot, 'dist', 'daemons', 'paird', 'main.js');
const tunneld = path.join(repoRoot, 'dist', 'daemons', 'tunneld', 'main.js');

/**
 * Adverts a holder of the VIP must send, as the switch counts them, before
 * settledHolders calls the holders settled: 10 is a second at the lab's
 * 100 ms adverts, Master_Down_Interval (3 adverts and a skew) nearly three
 * times over, so a backup that would take over, or a master that would
 * yield, has had its chance.
 */
export const settleAdverts = 10;

/** Pings a stream sends before the failure (lostAcross): a steady stream for half a second at fping's 10 ms pace. */
const streamLead = 50;
/** Pings a stream sends after the failure's end state is reached (lostAcross): late replies and the new master's announcement are in. */
const streamTail = 100;

/** What keepalived is started with. */
export interface KeepalivedOptions {
  priority: number;
  preempt?: boolean;
  /** advert_int in seconds (default 0.1). */
  advertInt?: number;
  /** virtual_router_id (default 1). */
  vrid?: number;
  /** virtual_ipaddress entries, address/length (default the IPv4 VIP); IPv6 ones make keepalived send IPv6 adverts. */
  vips?: string[];
}

/** A pair.status answer, the fields the tests read. */
export interface PairStatus {
  role: string;
  priority: number;
  why: string[];
  lastTransition: { reason: string; to: string } | null;
  instance: {
    adopted: boolean;
    vipOps: { added: number; removed: number };
    counters: { priorityZeroReceived: number; advertsReceived: number; advertsSent: number; reannouncements: number; discards: Record<string, number> };
    socket: { beaconSent: number } | null;
    localAddress: string;
  } | null;
  peerWan: { usable: boolean; why: string; peer: { address: string } | null; wans: Array<{ name: string; table: number; mark: number; via: string | null }> };
  peer: { box: string; role: string; alive: boolean; from: string; via: string; boot: string } | null;
  sync: {
    keyId: string;
    boot: string;
    destinations: string[];
    accepted: number;
    sessions: number;
    refused: Record<'malformed' | 'version' | 'vrid' | 'badAuth' | 'wrongSource' | 'replay', number>;
    lastRefused: { reason: string; from: string; detail: string } | null;
  } | null;
}

export class PairLab {
  /** Ping streams started (lostAcross), for their process names. */
  private streams = 0;

  private constructor(readonly lab: Lab) {}

  /** The default topology with configs written and tunneld up everywhere. */
  static async up(): Promise<PairLab> {
    const lab = await Lab.up(defaultTopology());
    const p = new PairLab(lab);
    for (const n of appliances) lab.writeApplianceConfig(n);
    for (const n of appliances) lab.spawn(n, 'tunneld', [process.execPath, tunneld], { env: lab.applianceEnv(n) });
    for (const n of appliances) await p.ready(n, 'tunneld');
    await lab.mustExec('officehost', ['ip', 'route', 'replace', 'default', 'via', vip]);
    await p.countAdverts();
    return p;
  }

  down(): Promise<void> { return this.lab.down(); }

  private runDir(node: string): string { return this.lab.applianceEnv(node).TERN_RUN_DIR!; }

  async ready(node: string, daemon: string): Promise<void> {
    const file = path.join(this.runDir(node), `${daemon}.ready`);
    await waitFor(`${node} ${daemon} ready`, () => fs.existsSync(file), patience(10_000));
  }

  /** Rewrites keys of the pair section of a box's tern.yaml (test-only settings: checksum, preempt, priority). */
  setPair(node: OfficeBox, patch: Record<string, unknown>): void {
    const file = this.lab.applianceEnv(node).TERN_CONFIG!;
    const text = fs.readFileSync(file, 'utf8');
    const doc = parse(text) as { pair: Record<string, unknown> };
    Object.assign(doc.pair, patch);
    fs.writeFileSync(file, `${text.split('\n').filter((l) => l.startsWith('#')).join('\n')}\n${stringify(doc, { lineWidth: 0 })}`);
  }

  /** Starts tern-paird on a box (after whatever config setPair left) and waits until it is ready. */
  async startPaird(node: OfficeBox): Promise<void> {
    fs.rmSync(path.join(this.runDir(node), 'paird.ready'), { force: true });
    this.lab.spawn(node, 'paird', [process.execPath, paird], { env: this.lab.applianceEnv(node) });
    await this.ready(node, 'paird');
  }

  async stopPaird(node: OfficeBox, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (!this.lab.process(node, 'paird')) return;
    await this.lab.kill(node, 'paird', signal);
  }

  /**
   * Starts keepalived 2.2.7 on a box: VRRPv3 (vrrp_version in global_defs,
   * or it runs v2 and rounds 0.1 s up to 1 s), the same VRID and VIP as the
   * lab's pair config, its own pid files in the lab run directory.
   */
  startKeepalived(node: OfficeBox, o: KeepalivedOptions): void {
    const dir = path.join(this.lab.runDir, 'keepalived', node);
    fs.mkdirSync(dir, { recursive: true });
    const conf = path.join(dir, 'keepalived.conf');
    fs.writeFileSync(conf, [
      'global_defs {', '  vrrp_version 3', `  router_id ${node}`, '}',
      'vrrp_instance VI_1 {', '  state BACKUP', '  interface lan0', `  virtual_router_id ${o.vrid ?? 1}`, `  priority ${o.priority}`,
      `  advert_int ${o.advertInt ?? 0.1}`, ...(o.preempt === false ? ['  nopreempt'] : []),
      '  virtual_ipaddress {', ...(o.vips ?? [`${vip}/24`]).map((v) => `    ${v}`), '  }', '}', '',
    ].join('\n'));
    this.lab.spawn(node, 'keepalived', ['keepalived', '-n', '-l', '-D', '-G', '-P', '-f', conf,
      '-p', path.join(dir, 'keepalived.pid'), '-r', path.join(dir, 'vrrp.pid'), '-c', path.join(dir, 'checkers.pid')]);
  }

  async stopKeepalived(node: OfficeBox, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (!this.lab.process(node, 'keepalived')) return;
    await this.lab.kill(node, 'keepalived', signal);
  }

  keepalivedLog(node: OfficeBox): string {
    const f = path.join(this.lab.runDir, 'logs', `${node}.keepalived.log`);
    return fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : '';
  }

  /** Stops whatever runs on the office boxes and takes any VIP left off. */
  async reset(): Promise<void> {
    for (const n of officeBoxes) {
      await this.stopPaird(n);
      await this.stopKeepalived(n);
    }
    for (const n of officeBoxes) {
      await this.lab.exec(n, ['ip', 'addr', 'del', `${vip}/24`, 'dev', 'lan0']);
      for (const a of [`${vip6}/64`, `${virtualLinkLocal6}/64`]) await this.lab.exec(n, ['ip', '-6', 'addr', 'del', a, 'dev', 'lan0']);
    }
  }

  /**
   * Puts the IPv6 LAN on: the boxes' and officehost's addresses (nodad, so
   * they are usable at once). The link-local addresses are the kernel's own.
   */
  async addIpv6(): Promise<void> {
    for (const n of officeBoxes) await this.lab.mustExec(n, ['ip', '-6', 'addr', 'replace', `${lanAddress6[n]}/64`, 'dev', 'lan0', 'nodad']);
    await this.lab.mustExec('officehost', ['ip', '-6', 'addr', 'replace', `${hostAddress6}/64`, 'dev', 'eth0', 'nodad']);
  }

  async removeIpv6(): Promise<void> {
    for (const n of officeBoxes) await this.lab.exec(n, ['ip', '-6', 'addr', 'del', `${lanAddress6[n]}/64`, 'dev', 'lan0']);
    await this.lab.exec('officehost', ['ip', '-6', 'addr', 'del', `${hostAddress6}/64`, 'dev', 'eth0']);
    await this.lab.exec('officehost', ['ip', '-6', 'neigh', 'flush', 'dev', 'eth0']);
  }

  /** The link-local address of a node's interface (the kernel's, not a VIP). */
  async linkLocalOf(node: string, ifname = 'lan0'): Promise<string> {
    const r = await this.lab.mustExec(node, ['ip', '-6', '-o', 'addr', 'show', 'dev', ifname, 'scope', 'link']);
    const all = [...r.matchAll(/inet6 (fe80::[0-9a-f:]+)\/64/g)].map((m) => m[1]!).filter((a) => a !== virtualLinkLocal6);
    if (all.length === 0) throw new Error(`paird-lab: no link-local address on ${node} ${ifname}:\n${r}`);
    return all[0]!;
  }

  call<T>(node: string, method: string, params?: Record<string, unknown>): Promise<T> {
    return busCall<T>(path.join(this.runDir(node), 'paird.sock'), method, params);
  }

  status(node: OfficeBox): Promise<PairStatus> { return this.call<PairStatus>(node, 'pair.status'); }

  /** The office boxes that have the VIP on lan0 now. */
  async vipHolders(address = vip): Promise<OfficeBox[]> {
    const out: OfficeBox[] = [];
    for (const n of officeBoxes) {
      const r = await this.lab.exec(n, ['ip', address.includes(':') ? '-6' : '-4', '-o', 'addr', 'show', 'dev', 'lan0']);
      if (r.stdout.includes(` ${address}/`)) out.push(n);
    }
    return out;
  }

  /**
   * Counts the VRRP adverts (IPv4 and IPv6, multicast or unicast) each
   * office box sends into the switch, at the switch's bridge ports before
   * anything a test adds there (a split, a multicast filter) may drop them:
   * the clock settledHolders waits by, whatever runs on the box.
   */
  private async countAdverts(): Promise<void> {
    const lines = ['table bridge tern_lab_adverts {'];
    for (const n of officeBoxes) lines.push(` counter ${n} {}`);
    lines.push(' chain pre {', '  type filter hook prerouting priority filter; policy accept;');
    for (const n of officeBoxes) lines.push(`  iifname "${n}" ip protocol 112 counter name "${n}"`, `  iifname "${n}" ip6 nexthdr 112 counter name "${n}"`);
    lines.push(' }', '}', '');
    const file = path.join(this.lab.runDir, 'adverts.nft');
    fs.writeFileSync(file, lines.join('\n'));
    await this.lab.mustExec('officelan', ['nft', '-f', file]);
  }

  /** VRRP adverts box has sent into the switch since the lab came up. */
  async advertsFrom(box: OfficeBox): Promise<number> {
    const out = await this.lab.mustExec('officelan', ['nft', '-j', 'list', 'counter', 'bridge', 'tern_lab_adverts', box]);
    const c = (JSON.parse(out) as { nftables: Array<{ counter?: { packets: number } }> }).nftables.find((x) => x.counter)?.counter;
    if (!c) throw new Error(`paird-lab: no advert counter for ${box} in officelan:\n${out}`);
    return c.packets;
  }

  /**
   * Waits until exactly `who` (one box at least) hold the VIP, and still do
   * after each of them sent settleAdverts more adverts (no flapping): a
   * wait counted in the masters' own adverts, which a loaded machine only
   * makes longer. A holder that stops advertising fails the wait.
   */
  async settledHolders(who: OfficeBox[], what = `VIP on ${who.join(' and ')}`, address = vip): Promise<void> {
    if (who.length === 0) throw new Error(`paird-lab: settledHolders: ${what}: got no holders; want one box at least (the wait counts their adverts)`);
    const want = [...who].sort().join(',');
    let seen = '';
    for (let round = 0; round < 5; round++) {
      await waitFor(what, async () => (seen = (await this.vipHolders(address)).join(',')) === want, patience(5000));
      await Promise.all(who.map((n) => waitForAdvance(`${what}: ${n}'s adverts while it holds the VIP`, () => this.advertsFrom(n), settleAdverts, patience(100 * settleAdverts, 100))));
      seen = (await this.vipHolders(address)).join(',');
      if (seen === want) return;
    }
    throw new Error(`paird-lab: ${what}: the VIP kept moving (${settleAdverts} adverts after ${want || 'nobody'} held it, ${seen || 'nobody'} did)`);
  }

  async macOf(node: string, ifname = 'lan0'): Promise<string> {
    const r = await this.lab.mustExec(node, ['cat', `/sys/class/net/${ifname}/address`]);
    return r.trim();
  }

  /** The MAC officehost's ARP cache (IPv6: neighbour cache) has for the VIP (after asking once, so the entry is current). */
  async hostNeighbour(address = vip): Promise<string | undefined> {
    await this.lab.exec('officehost', ['fping', ...(address.includes(':') ? ['-6'] : []), '-c', '1', '-t', '500', '-q', address]);
    const r = await this.lab.exec('officehost', ['ip', 'neigh', 'show', address, 'dev', 'eth0']);
    return /lladdr ([0-9a-f:]{17})/.exec(r.stdout)?.[1];
  }

  /** Waits until officehost reaches homehost through the VIP (overlay up, a master elected). */
  async remoteReachable(): Promise<void> {
    await waitFor('officehost reaching homehost through the VIP', async () => {
      const r = await this.lab.exec('officehost', ['fping', '-c', '3', '-p', '100', '-t', '500', '-q', remoteHost]);
      return r.code === 0;
    }, patience(10_000, 500));
  }

  /**
   * Stand-in for steerd's conntrack marks on home1: a reply leaves by the
   * path its flow's last packet came in on. Without it home1 sends the
   * office's replies over its one active path (tunneld's choice: the path to
   * office1's WAN), so after office1 loses its LAN every reply would die
   * there, whatever the VRRP implementation. It makes the measurement about
   * the gateway failover, as the design means it.
   */
  async stickyReturn(): Promise<void> {
    const paths = (await busCall<Array<{ name: string; site: string; ifname: string; mark: number; table: number }>>(
      path.join(this.runDir('home1'), 'tunneld.sock'), 'paths.list')).filter((p) => p.site === 'office');
    const lines = ['table inet tern_lab_return {', ' chain pre {', '  type filter hook prerouting priority mangle; policy accept;'];
    for (const p of paths) lines.push(`  iifname "${p.ifname}" ct direction original ct mark set ${p.mark}`);
    lines.push('  ct direction reply ct mark != 0 meta mark set ct mark', ' }', '}', '');
    const file = path.join(this.lab.runDir, 'home1-return.nft');
    fs.writeFileSync(file, lines.join('\n'));
    await this.lab.mustExec('home1', ['nft', '-f', file]);
    for (const p of paths) {
      await this.lab.exec('home1', ['ip', 'rule', 'del', 'pref', '10200', 'fwmark', String(p.mark), 'lookup', String(p.table)]);
      await this.lab.mustExec('home1', ['ip', 'rule', 'add', 'pref', '10200', 'fwmark', String(p.mark), 'lookup', String(p.table)]);
    }
  }

  /**
   * Watches the takeover on office2's LAN link (tcpdump of VRRP and ARP):
   * stop() says how long the wire was silent between the last advert of the
   * other box and office2's first (Master_Down_Interval, 361 ms at 100 ms
   * adverts, plus the daemon's lateness) and how long office2's first
   * gratuitous ARP for the VIP followed its first advert (adding the VIP
   * and announcing it). NaN where the capture did not show it.
   */
  watchTakeover(tag: string): { stop(): Promise<Takeover> } {
    const name = `takeover-${tag}`;
    const proc = this.lab.spawn('office2', name, ['tcpdump', '-i', 'lan0', '-tt', '-n', '-l', '-s', '96', 'ip proto 112 or arp']);
    return {
      stop: async () => {
        await this.lab.kill('office2', name, 'SIGINT');
        return parseTakeover(fs.readFileSync(proc.log, 'utf8'), lanAddress.office2, vip);
      },
    };
  }

  /**
   * officehost's ICMP echo requests sent and replies received (IPv6: ICMPv6
   * ones), as its kernel counts them: a request when it leaves the socket
   * (held in the ARP queue or not), a reply whenever it comes back, whether
   * fping still waits for it or not.
   */
  async echoCounters(v6: boolean): Promise<{ requests: number; replies: number }> {
    if (v6) {
      const text = await this.lab.mustExec('officehost', ['cat', '/proc/net/snmp6']);
      const at = (name: string): number => Number(new RegExp(`^${name}\\s+(\\d+)$`, 'm').exec(text)?.[1] ?? NaN);
      return { requests: at('Icmp6OutEchos'), replies: at('Icmp6InEchoReplies') };
    }
    const [head, values] = (await this.lab.mustExec('officehost', ['cat', '/proc/net/snmp'])).split('\n').filter((l) => l.startsWith('Icmp:')).map((l) => l.split(/\s+/));
    const at = (name: string): number => Number(values![head!.indexOf(name)]);
    return { requests: at('OutEchos'), replies: at('InEchoReps') };
  }

  /**
   * A ping stream from officehost to target (fping -l, every 10 ms) across a
   * failure, measured in requests rather than time: 50 requests before
   * `fail` runs, then `until` (the state the failure ends in, e.g. the new
   * master holding the VIP), then 100 more, so on a loaded machine the
   * stream only runs longer. Requests and lost are officehost's kernel
   * counts (a reply counts late or not, whether fping still waited for
   * it); late, the runs and the hits are read from fping's own lines.
   */
  async lostAcross(target: string, fail: () => Promise<void>, until: () => Promise<unknown> = async () => undefined): Promise<Outage> {
    const v6 = target.includes(':');
    const name = `stream-${++this.streams}`;
    const e0 = await this.echoCounters(v6);
    const sent = async (): Promise<number> => (await this.echoCounters(v6)).requests - e0.requests;
    const proc = this.lab.spawn('officehost', name, ['fping', ...(v6 ? ['-6'] : []), '-l', '-D', '-p', '10', '-t', '1000', target]);
    try {
      await waitFor(`the ping stream to ${target} under way (${streamLead} requests)`, async () => (await sent()) >= streamLead, patience(10 * streamLead, 50));
      await fail();
      await until();
      await waitForAdvance(`the ping stream to ${target} after the failure`, sent, streamTail, patience(10 * streamTail, 50));
    } finally {
      // SIGINT: fping stops sending and writes out what it printed.
      await this.lab.kill('officehost', name, 'SIGINT');
    }
    const requests = await sent();
    // A marker ping after the stream, until one is answered: the replies to
    // the stream's last requests, sent before it along the same path, are
    // in by then. What the markers got back is taken off the count.
    let markerReplies = 0;
    await waitFor(`a marker ping to ${target} answered after the stream`, async () => {
      const r = await this.lab.exec('officehost', ['fping', ...(v6 ? ['-6'] : []), '-c', '1', '-t', '10000', '-q', target], { timeoutMs: 30_000 });
      const m = /xmt\/rcv\/%loss = (\d+)\/(\d+)/.exec(r.stderr);
      if (!m) throw new Error(`paird-lab: fping said no xmt/rcv: ${r.stderr}`);
      markerReplies += Number(m[2]);
      return m[2] !== '0';
    }, patience(1000));
    const replies = (await this.echoCounters(v6)).replies - e0.replies - markerReplies;
    return { ...parseStream(fs.readFileSync(proc.log, 'utf8')), sent: requests, lost: requests - replies };
  }
}

/** A takeover as the wire showed it (PairLab.watchTakeover). */
export interface Takeover {
  /** The other box's last advert to the new master's first, ms. */
  silenceMs: number;
  /** The new master's first advert to its first gratuitous ARP for the VIP, ms. */
  advertToGarpMs: number;
}

/**
 * Reads `tcpdump -tt -n` lines of VRRP adverts and ARP: the first advert
 * from `self`, the last advert from anyone else before it, and the first
 * gratuitous ARP (sender and target the VIP) after it.
 */
export function parseTakeover(text: string, self: string, address: string): Takeover {
  const adverts: Array<{ t: number; src: string }> = [];
  const garps: number[] = [];
  for (const line of text.split('\n')) {
    const a = /^(\d+\.\d+) IP (\S+) > \S+: VRRPv3, Advertisement/.exec(line);
    if (a) adverts.push({ t: Number(a[1]) * 1000, src: a[2]! });
    const g = /^(\d+\.\d+) ARP, Request who-has (\S+) (?:\(\S+\) )?tell (\S+),/.exec(line);
    if (g && g[2] === address && g[3] === address) garps.push(Number(g[1]) * 1000);
  }
  const i = adverts.findIndex((x) => x.src === self);
  const first = i >= 0 ? adverts[i]!.t : NaN;
  const before = adverts.slice(0, Math.max(i, 0)).filter((x) => x.src !== self);
  const garp = garps.find((t) => t >= first);
  return {
    silenceMs: before.length > 0 ? first - before[before.length - 1]!.t : NaN,
    advertToGarpMs: garp !== undefined ? garp - first : NaN,
  };
}

/** What a ping stream across a failure saw. */
export interface Outage {
  sent: number;
  lost: number;
  /**
   * Replies that came back, but late (RTT above 50 ms where the lab's LAN
   * answers in well under 1 ms): requests held in the sender's ARP queue
   * while the gateway's address had no answering MAC, sent once a
   * gratuitous ARP named the new master. They count as hit by the outage.
   */
  late: number;
  /** The longest time between two consecutive replies, ms. */
  gapMs: number;
  /**
   * Every ping hit, in order: its sequence number and when it was sent
   * (unix ms; reply time minus RTT, or for a lost one interpolated between
   * its answered neighbours), so a report can place it against the failure.
   */
  hits: Array<{ seq: number; sentAt: number; rttMs: number | null }>;
  /** The longest run of consecutive pings hit (lost or late). */
  longestRun: number;
  /** fping's own pace: the median time between sending two consecutive pings that were answered, ms. */
  paceMs: number;
  /**
   * The longest run hit, at fping's own pace (longestRun × paceMs): the
   * outage in time as the stream resolved it. fping sending late on a
   * loaded machine makes runs shorter, not longer, so a bound on it holds
   * the outage, not the stream's pacing.
   */
  runMs: number;
}

/**
 * Reads `fping -D` output (-c N, or -l: then sent defaults to the last
 * sequence number answered, plus one): one "[unix time] target : [seq],
 * N bytes, RTT ms ..." line per reply.
 */
export function parseStream(stdout: string, sent?: number): Outage {
  const times = new Map<number, number>();
  const rtts = new Map<number, number>();
  let late = 0;
  for (const line of stdout.split('\n')) {
    const m = /^\[(\d+\.\d+)\] \S+\s*: \[(\d+)\],\s*\d+ bytes,\s*([0-9.]+) ms/.exec(line);
    if (!m || times.has(Number(m[2]))) continue;
    times.set(Number(m[2]), Number(m[1]) * 1000);
    rtts.set(Number(m[2]), Number(m[3]));
    if (Number(m[3]) > 50) late++;
  }
  const seqs = [...times.keys()].sort((a, b) => a - b);
  sent ??= seqs.length > 0 ? seqs[seqs.length - 1]! + 1 : 0;
  let gapMs = 0;
  for (let i = 1; i < seqs.length; i++) gapMs = Math.max(gapMs, times.get(seqs[i]!)! - times.get(seqs[i - 1]!)!);
  const sentAt = (seq: number): number => times.get(seq)! - rtts.get(seq)!;
  const hits: Outage['hits'] = [];
  let prev: number | undefined;
  for (let seq = 0, i = 0; seq < sent; seq++) {
    while (i < seqs.length && seqs[i]! < seq) i++;
    if (times.has(seq)) {
      prev = seq;
      if (rtts.get(seq)! > 50) hits.push({ seq, sentAt: sentAt(seq), rttMs: rtts.get(seq)! });
      continue;
    }
    // Lost: between the answered neighbours, at the stream's 10 ms pace when one side is missing.
    const next = seqs[i];
    let at: number;
    if (prev !== undefined && next !== undefined) at = sentAt(prev) + ((sentAt(next) - sentAt(prev)) * (seq - prev)) / (next - prev);
    else if (prev !== undefined) at = sentAt(prev) + 10 * (seq - prev);
    else if (next !== undefined) at = sentAt(next) - 10 * (next - seq);
    else at = NaN;
    hits.push({ seq, sentAt: at, rttMs: null });
  }
  let longestRun = 0;
  for (let i = 0, run = 0; i < hits.length; i++) {
    run = i > 0 && hits[i]!.seq === hits[i - 1]!.seq + 1 ? run + 1 : 1;
    longestRun = Math.max(longestRun, run);
  }
  const paces = seqs.slice(1).filter((seq, i) => seq === seqs[i]! + 1).map((seq) => sentAt(seq) - sentAt(seq - 1)).sort((a, b) => a - b);
  const paceMs = paces.length > 0 ? paces[paces.length >> 1]! : NaN;
  return { sent, lost: sent - times.size, late, gapMs: Math.round(gapMs), hits, longestRun, paceMs, runMs: Math.round(longestRun * paceMs) };
}

/**
 * The hits of an outage as runs of consecutive sequence numbers, each with
 * when it started relative to `t0` and what it was: "161-186 @+40ms lost",
 * "300-302 @+1480ms late(61-80ms)".
 */
export function describeHits(o: Outage, t0: number): string {
  const out: string[] = [];
  for (let i = 0; i < o.hits.length;) {
    let j = i;
    const lost = o.hits[i]!.rttMs === null;
    while (j + 1 < o.hits.length && o.hits[j + 1]!.seq === o.hits[j]!.seq + 1 && (o.hits[j + 1]!.rttMs === null) === lost) j++;
    const run = o.hits.slice(i, j + 1);
    const seqs = i === j ? `${run[0]!.seq}` : `${run[0]!.seq}-${run[run.length - 1]!.seq}`;
    const at = Math.round(run[0]!.sentAt - t0);
    const rtt = lost ? 'lost' : `late(${Math.round(Math.min(...run.map((h) => h.rttMs!)))}-${Math.round(Math.max(...run.map((h) => h.rttMs!)))}ms)`;
    out.push(`${seqs} @${at >= 0 ? '+' : ''}${Number.isNaN(at) ? '?' : at}ms ${rtt}`);
    i = j + 1;
  }
  return out.join(', ') || 'none';
}

/**
 * The UDP payloads of a pcap file as tcpdump -w writes it (Ethernet link
 * type, microsecond or nanosecond timestamps, either byte order), IPv4
 * only, in capture order; everything else in it is skipped.
 */
export function pcapUdpPayloads(file: Buffer): Array<{ src: string; dst: string; payload: Buffer }> {
  if (file.length < 24) throw new Error(`pcap: got ${file.length} bytes; want a 24-byte header at least`);
  const magic = file.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  if (!le && file.readUInt32BE(0) !== 0xa1b2c3d4 && file.readUInt32BE(0) !== 0xa1b23c4d) throw new Error(`pcap: got magic ${file.subarray(0, 4).toString('hex')}; want a pcap file`);
  const u32 = (at: number): number => (le ? file.readUInt32LE(at) : file.readUInt32BE(at));
  if (u32(20) !== 1) throw new Error(`pcap: got link type ${u32(20)}; want 1 (Ethernet)`);
  const out: Array<{ src: string; dst: string; payload: Buffer }> = [];
  for (let at = 24; at + 16 <= file.length;) {
    const len = u32(at + 8);
    const frame = file.subarray(at + 16, at + 16 + len);
    at += 16 + len;
    if (frame.length < 14 + 20 || frame.readUInt16BE(12) !== 0x0800) continue;
    const ip = frame.subarray(14);
    const ihl = ((ip[0] as number) & 0x0f) * 4;
    if (ip[9] !== 17 || ip.length < ihl + 8) continue;
    const total = Math.min(ip.readUInt16BE(2), ip.length);
    const addr = (o: number): string => [...ip.subarray(o, o + 4)].join('.');
    out.push({ src: addr(12), dst: addr(16), payload: Buffer.from(ip.subarray(ihl + 8, total)) });
  }
  return out;
}
