// Port scans from inside the lab with a real scanner: nmap, run in one node
// against one address, its XML report (-oX -) validated and read into the
// state of every port asked for, so a test says "from ispa, wan0 of home1
// shows exactly these ports open" in nmap's own terms.
import net from 'node:net';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { TernError } from '../../daemons/lib/errors.js';
import type { MeasureHost } from './measure.js';

/**
 * nmap's port states: open (something answered), closed (a TCP RST or an
 * ICMP port unreachable), filtered (no answer to TCP, or an ICMP
 * prohibited), open|filtered (no answer to UDP: open and silent, or dropped).
 */
export type PortState = 'open' | 'closed' | 'filtered' | 'unfiltered' | 'open|filtered' | 'closed|filtered';
const portStates: ReadonlySet<string> = new Set(['open', 'closed', 'filtered', 'unfiltered', 'open|filtered', 'closed|filtered']);

export type Protocol = 'tcp' | 'udp';

/** Port → state, per protocol. */
export interface ScanResult {
  address: string;
  tcp: Record<number, PortState>;
  udp: Record<number, PortState>;
}

export interface ScanOptions {
  /** TCP ports to scan (SYN scan). */
  tcp?: number[];
  /** UDP ports to scan. */
  udp?: number[];
  /**
   * Instead of lists: nmap's N most common ports (--top-ports) of each
   * protocol in `protocols`.
   */
  top?: { ports: number; protocols: Protocol[] };
  /** nmap's --host-timeout and the command's timeout; default 120 s. */
  timeoutMs?: number;
}

/** The most ports a list may hold, and the largest top-N: a scan in a test stays bounded. */
export const maxScanPorts = 65535;

function bad(msg: string): TernError {
  return new TernError('TERN_E_LAB_COMMAND', `lab: scan: ${msg}`);
}

function checkPorts(what: string, ports: unknown): number[] {
  if (!Array.isArray(ports)) throw bad(`${what}: got ${JSON.stringify(ports)}; want a list of ports`);
  if (ports.length > maxScanPorts) throw bad(`${what}: ${ports.length} ports; want at most ${maxScanPorts}`);
  for (const p of ports) {
    if (!Number.isInteger(p) || (p as number) < 1 || (p as number) > 65535) throw bad(`${what}: port ${JSON.stringify(p)}; want an integer 1-65535`);
  }
  return [...new Set(ports as number[])].sort((a, b) => a - b);
}

/**
 * nmap's argv for a scan of address (validated here: an IPv4 or IPv6
 * literal, ports 1-65535, a top-N of 1-65535). No DNS (-n), no host
 * discovery (-Pn: a firewall that drops pings must not hide the host),
 * XML to stdout, every port named in the report whatever its state
 * (--reason with -v would still collapse them; see parseNmapXml).
 */
export function scanArgv(address: string, opts: ScanOptions): string[] {
  const family = net.isIP(address);
  if (family === 0) throw bad(`address ${JSON.stringify(address)}; want an IPv4 or IPv6 address`);
  const hasList = opts.tcp !== undefined || opts.udp !== undefined;
  if (hasList && opts.top) throw bad('both port lists and top; want one or the other');
  const types: string[] = [];
  let portSpec: string[];
  if (opts.top) {
    const { ports, protocols } = opts.top;
    if (!Number.isInteger(ports) || ports < 1 || ports > maxScanPorts) throw bad(`top ports ${JSON.stringify(ports)}; want an integer 1-${maxScanPorts}`);
    if (!Array.isArray(protocols) || protocols.length === 0 || protocols.some((p) => p !== 'tcp' && p !== 'udp')) {
      throw bad(`top protocols ${JSON.stringify(protocols)}; want a non-empty list of tcp, udp`);
    }
    if (protocols.includes('tcp')) types.push('-sS');
    if (protocols.includes('udp')) types.push('-sU');
    portSpec = ['--top-ports', String(ports)];
  } else {
    const tcp = checkPorts('tcp', opts.tcp ?? []);
    const udp = checkPorts('udp', opts.udp ?? []);
    if (tcp.length + udp.length === 0) throw bad('no ports; want tcp or udp ports, or top');
    if (tcp.length > 0) types.push('-sS');
    if (udp.length > 0) types.push('-sU');
    const spec = [...(tcp.length ? [`T:${tcp.join(',')}`] : []), ...(udp.length ? [`U:${udp.join(',')}`] : [])];
    portSpec = ['-p', spec.join(',')];
  }
  const timeoutMs = opts.timeoutMs ?? 120_000;
  if (!Number.isFinite(timeoutMs) || timeoutMs < 1000) throw bad(`timeoutMs ${timeoutMs}; want at least 1000`);
  return ['nmap', ...(family === 6 ? ['-6'] : []), '-n', '-Pn', ...types, ...portSpec,
    // A lab link answers in well under a millisecond: short waits, two retries for a silent port.
    '-T4', '--max-retries', '2', '--host-timeout', `${Math.ceil(timeoutMs / 1000)}s`,
    '-oX', '-', address];
}

/** The nmap report's elements that matter here (arrays forced by the parser options). */
interface XmlPort { protocol: string; portid: string; state: [{ state: string }] }
interface XmlExtraReasons { proto?: string; ports?: string }
interface XmlExtraPorts { state: string; count: string; extrareasons?: XmlExtraReasons[] }
interface XmlHost {
  status?: [{ state: string }];
  address?: Array<{ addr: string; addrtype: string }>;
  ports?: [{ port?: XmlPort[]; extraports?: XmlExtraPorts[] }];
}
interface XmlRun { nmaprun?: [{ host?: XmlHost[]; runstats?: [{ finished?: [{ exit?: string; errormsg?: string }] }] }] }

const always = new Set(['nmaprun.host', 'nmaprun.runstats', 'nmaprun.runstats.finished', 'nmaprun.host.status', 'nmaprun.host.address',
  'nmaprun.host.ports', 'nmaprun.host.ports.port', 'nmaprun.host.ports.port.state', 'nmaprun.host.ports.extraports',
  'nmaprun.host.ports.extraports.extrareasons', 'nmaprun']);

/** "1-3,7" → [1, 2, 3, 7]. */
function expandPorts(spec: string): number[] {
  const out: number[] = [];
  for (const part of spec.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) throw bad(`report: extrareasons ports ${JSON.stringify(spec)}; want a list like 1-3,7`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (lo < 1 || hi > 65535 || hi < lo) throw bad(`report: extrareasons port range ${part}; want within 1-65535`);
    for (let p = lo; p <= hi; p++) out.push(p);
  }
  return out;
}

/**
 * Read nmap's XML report of one host at address into port states. The
 * report is validated as XML first; then it must hold exactly that host,
 * and every port it states must be a number with a known state. Ports
 * nmap collapsed into <extraports> (it does past some number in one
 * state) are expanded from their <extrareasons ports="..."> lists (nmap
 * 7.80 and later), so every port scanned has a state.
 */
export function parseNmapXml(xml: string, address: string): ScanResult {
  const valid = XMLValidator.validate(xml);
  if (valid !== true) throw bad(`report: not well-formed XML: ${valid.err.msg} (line ${valid.err.line}); want nmap's -oX output`);
  const parser = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: '',
    parseAttributeValue: false,
    parseTagValue: false,
    processEntities: false,
    isArray: (_name, jpath) => always.has(String(jpath)),
  });
  const doc = parser.parse(xml) as XmlRun;
  const run = doc.nmaprun?.[0];
  if (!run) throw bad('report: no <nmaprun> element; want nmap\'s -oX output');
  const finished = run.runstats?.[0]?.finished?.[0];
  if (finished?.exit === 'error') throw bad(`report: nmap failed: ${finished.errormsg ?? 'no message'}`);
  const hosts = run.host ?? [];
  const mine = hosts.filter((h) => (h.address ?? []).some((a) => a.addr === address));
  if (mine.length !== 1 || hosts.length !== 1) {
    const seen = hosts.flatMap((h) => (h.address ?? []).map((a) => a.addr));
    throw bad(`report: got hosts ${JSON.stringify(seen)}; want exactly ${address} (a host timeout leaves none)`);
  }
  const host = mine[0]!;
  const result: ScanResult = { address, tcp: {}, udp: {} };
  const ports = host.ports?.[0];
  const put = (proto: string, port: number, state: string, where: string): void => {
    if (proto !== 'tcp' && proto !== 'udp') throw bad(`report: ${where}: protocol ${JSON.stringify(proto)}; want tcp or udp`);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw bad(`report: ${where}: port ${JSON.stringify(port)}; want 1-65535`);
    if (!portStates.has(state)) throw bad(`report: ${where}: state ${JSON.stringify(state)}; want one of ${[...portStates].join(', ')}`);
    result[proto][port] = state as PortState;
  };
  for (const p of ports?.port ?? []) {
    put(p.protocol, Number(p.portid), p.state?.[0]?.state ?? '', `port ${p.protocol}/${p.portid}`);
  }
  for (const x of ports?.extraports ?? []) {
    const reasons = x.extrareasons ?? [];
    const listed = reasons.flatMap((r) => (r.proto && r.ports ? expandPorts(r.ports).map((port) => ({ proto: r.proto!, port })) : []));
    if (listed.length !== Number(x.count)) {
      throw bad(`report: ${x.count} ports ${x.state} collapsed, ${listed.length} of them listed; want nmap 7.80 or later (extrareasons with ports)`);
    }
    for (const l of listed) put(l.proto, l.port, x.state, `extraports ${l.proto}/${l.port}`);
  }
  return result;
}

/**
 * Scan address from node with nmap; every port asked for gets its state
 * (with `top`, every port nmap chose). Throws naming what failed.
 */
export async function scan(lab: MeasureHost, node: string, address: string, opts: ScanOptions): Promise<ScanResult> {
  const argv = scanArgv(address, opts);
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const r = await lab.exec(node, argv, { timeoutMs: timeoutMs + 30_000 });
  if (r.code !== 0) throw bad(`${node} → ${address}: nmap exited ${r.code}: ${r.stderr.trim().slice(0, 500)}; want a report`);
  const result = parseNmapXml(r.stdout, address);
  const asked: Array<[Protocol, number[]]> = [['tcp', opts.tcp ?? []], ['udp', opts.udp ?? []]];
  for (const [proto, ports] of asked) {
    const missing = ports.filter((p) => result[proto][p] === undefined);
    if (missing.length > 0) throw bad(`${node} → ${address}: the report has no state for ${proto} ${missing.join(', ')}; want one per port scanned`);
  }
  return result;
}

/** The ports of one protocol in state (default open), sorted: what a test compares against "exactly these". */
export function portsIn(result: ScanResult, proto: Protocol, state: PortState = 'open'): number[] {
  return Object.entries(result[proto]).filter(([, s]) => s === state).map(([p]) => Number(p)).sort((a, b) => a - b);
}
