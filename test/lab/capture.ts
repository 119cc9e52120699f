// Packet captures on an appliance's WAN links (tcpdump in the appliance's
// namespace, started before the daemons), and the question asked of them:
// which WAN carried each overlay path's outer packets. A path's outer
// packets are the UDP datagrams whose appliance-side end is one of the
// appliance's WAN addresses and the path's WireGuard listen port (unique
// per path on a box), whichever of the appliance's addresses they use.
import fs from 'node:fs';
import path from 'node:path';
import { TernError } from '../../daemons/lib/errors.js';
import { run } from './command.js';
import type { Lab, LabProcess } from './lab.js';
import { applianceWans, hostOf } from './topology.js';
import { waitFor } from './wait.js';

/** One running capture: a WAN link of an appliance. */
export interface WanCapture {
  node: string;
  /** The WAN's name in tern.yaml. */
  wan: string;
  ifname: string;
  /** The pcap file (written packet by packet: readable while it runs). */
  file: string;
  proc: LabProcess;
}

/** One UDP datagram as a capture shows it. */
export interface UdpPacket {
  /** Kernel timestamp, seconds. */
  ts: number;
  src: string;
  sport: number;
  dst: string;
  dport: number;
}

/** What the classification needs of a path: its name, its WAN and its listen port. */
export interface PathPort {
  name: string;
  localWan: string;
  listenPort: number;
}

/** The outer packets of one path seen on one WAN link. */
export interface PathOnWan {
  path: string;
  /** The WAN whose link carried them. */
  wan: string;
  /** False when the WAN is not the path's own. */
  own: boolean;
  packets: number;
  first: number;
  last: number;
}

let captures = 0;

/**
 * Starts tcpdump (UDP only) on every WAN link of node and resolves once
 * each says it is listening, so nothing sent afterwards is missed.
 */
export async function startWanCaptures(lab: Lab, node: string): Promise<WanCapture[]> {
  const dir = path.join(lab.runDir, 'captures');
  fs.mkdirSync(dir, { recursive: true });
  const out: WanCapture[] = [];
  for (const w of applianceWans(lab.topology, node)) {
    const n = ++captures;
    const file = path.join(dir, `${node}-${w.ifname}-${n}.pcap`);
    // -U: each packet reaches the file as it is captured; -Z root: Debian's
    // tcpdump would otherwise drop to a user that cannot write the run directory.
    const proc = lab.spawn(node, `capture-${w.ifname}-${n}`, ['tcpdump', '-i', w.ifname, '-n', '-U', '-Z', 'root', '-w', file, 'udp']);
    out.push({ node, wan: w.name, ifname: w.ifname, file, proc });
  }
  for (const c of out) {
    await waitFor(`tcpdump listening on ${node}:${c.ifname}`, () => fs.existsSync(c.proc.log) && fs.readFileSync(c.proc.log, 'utf8').includes('listening on'));
  }
  return out;
}

const lineRe = /^(\d+\.\d+) IP (\d+\.\d+\.\d+\.\d+)\.(\d+) > (\d+\.\d+\.\d+\.\d+)\.(\d+):/;

/** The IPv4 UDP datagrams of `tcpdump -n -tt -q -r` output (other lines are skipped). */
export function parseTcpdump(text: string): UdpPacket[] {
  const out: UdpPacket[] = [];
  for (const line of text.split('\n')) {
    const m = lineRe.exec(line);
    if (!m) continue;
    out.push({ ts: Number(m[1]), src: m[2]!, sport: Number(m[3]), dst: m[4]!, dport: Number(m[5]) });
  }
  return out;
}

/** The packets captured so far on one WAN link. */
export async function readCapture(cap: WanCapture): Promise<UdpPacket[]> {
  if (!fs.existsSync(cap.file) || fs.statSync(cap.file).size === 0) return [];
  const r = await run(['tcpdump', '-n', '-tt', '-q', '-r', cap.file], { timeoutMs: 60_000 });
  // A capture still being written may end in a cut packet: tcpdump then
  // complains after printing everything before it, which is what is wanted.
  if (r.code !== 0 && !/truncated/i.test(r.stderr)) {
    throw new TernError('TERN_E_LAB_COMMAND', `lab: capture: tcpdump -r ${cap.file}: exit ${r.code}: ${r.stderr.trim()}`);
  }
  return parseTcpdump(r.stdout);
}

/**
 * Per path and WAN link, the outer packets seen: the appliance's end of a
 * datagram is the side whose address is one of localAddresses, and its
 * port names the path. Datagrams that belong to no path are left out.
 */
export function classify(byWan: ReadonlyMap<string, readonly UdpPacket[]>, paths: readonly PathPort[], localAddresses: ReadonlySet<string>, since = 0): PathOnWan[] {
  const byPort = new Map(paths.map((p) => [p.listenPort, p]));
  const rows = new Map<string, PathOnWan>();
  for (const [wan, packets] of byWan) {
    for (const pk of packets) {
      if (pk.ts < since) continue;
      const port = localAddresses.has(pk.src) ? pk.sport : localAddresses.has(pk.dst) ? pk.dport : undefined;
      const p = port === undefined ? undefined : byPort.get(port);
      if (!p) continue;
      const key = `${p.name} ${wan}`;
      const row = rows.get(key) ?? { path: p.name, wan, own: p.localWan === wan, packets: 0, first: pk.ts, last: pk.ts };
      row.packets++;
      row.first = Math.min(row.first, pk.ts);
      row.last = Math.max(row.last, pk.ts);
      rows.set(key, row);
    }
  }
  return [...rows.values()].sort((a, b) => a.path.localeCompare(b.path) || a.wan.localeCompare(b.wan));
}

/** Reads every capture of one appliance and classifies its paths' packets. */
export async function pathsOnWans(lab: Lab, caps: readonly WanCapture[], paths: readonly PathPort[], since = 0): Promise<PathOnWan[]> {
  const node = caps[0]?.node;
  if (!node) return [];
  const local = new Set(applianceWans(lab.topology, node).map((w) => hostOf(w.address)));
  const byWan = new Map<string, UdpPacket[]>();
  for (const c of caps) byWan.set(c.wan, await readCapture(c));
  return classify(byWan, paths, local, since);
}

/** The paths with outer packets on a WAN that is not theirs, sorted. */
export function pathsOnWrongWan(rows: readonly PathOnWan[]): string[] {
  return [...new Set(rows.filter((r) => !r.own).map((r) => r.path))].sort();
}

/**
 * The paths whose last outer packet was on a wrong WAN: those the wrong WAN
 * still carried when the capture was read, not only at the start.
 */
export function pathsStillOnWrongWan(rows: readonly PathOnWan[]): string[] {
  const last = new Map<string, PathOnWan>();
  for (const r of rows) {
    const cur = last.get(r.path);
    if (!cur || r.last > cur.last) last.set(r.path, r);
  }
  return [...last.values()].filter((r) => !r.own).map((r) => r.path).sort();
}
