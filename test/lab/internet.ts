// The lab's internet: starts the servers a topology puts behind the core
// (web and SaaS stand-ins answering with their name and the client's source
// address, iperf3, an authoritative DNS server for a .test zone), and asks
// them from any lab node with stock clients (curl, dig), so a test checks at
// the far end which address a flow arrived from.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TernError } from '../../daemons/lib/errors.js';
import type { EchoAnswer } from './http-echo.js';
import type { Lab, LabProcess } from './lab.js';
import type { MeasureHost } from './measure.js';
import { serverAddress, type LabInternet, type LabService, type Topology } from './topology.js';
import { patience, waitFor } from './wait.js';

/** The iperf3 server's port on servers that run iperf3 (iperf3's default). */
export const iperfPort = 5201;

/** A running server: where it is and what it answers. */
export interface InternetServer {
  node: string;
  address: string;
  services: LabService[];
  /** Fully qualified names that resolve to it ("saas1.example.test", "*.cdn.example.test"). */
  names: string[];
}

export interface StartedInternet {
  zone: string;
  ttl: number;
  servers: InternetServer[];
  processes: LabProcess[];
}

function bad(msg: string): TernError {
  return new TernError('TERN_E_LAB_COMMAND', `lab: internet: ${msg}`);
}

/** The servers of a topology with their addresses and full names; [] when it has no internet. */
export function internetServers(topo: Topology): InternetServer[] {
  const inet = topo.internet;
  if (!inet) return [];
  return inet.servers.map((s) => ({
    node: s.node,
    address: serverAddress(topo, s.node)!,
    services: [...s.services],
    names: s.names.map((n) => `${n}.${inet.zone}`),
  }));
}

/** The one server running service (throws when the topology has none). */
export function serverWith(topo: Topology, service: LabService): InternetServer {
  const s = internetServers(topo).find((x) => x.services.includes(service));
  if (!s) throw bad(`no server runs ${service}; want a topology with an internet (defaultTopology)`);
  return s;
}

/**
 * The zone file of the topology's zone: SOA and NS at the apex (ns on the
 * dns server), then one A record per server name, every record with the
 * zone's TTL (also the SOA minimum, so NXDOMAIN is cached as briefly).
 */
export function renderZone(topo: Topology): string {
  const inet = topo.internet;
  if (!inet) throw bad('the topology has no internet');
  const dns = serverWith(topo, 'dns');
  const ns = dns.names[0] ?? `ns1.${inet.zone}`;
  const lines = [
    `; ${inet.zone}: written by the Tern lab (test/lab/internet.ts)`,
    `$ORIGIN ${inet.zone}.`,
    `$TTL ${inet.ttl}`,
    `@ IN SOA ${ns}. hostmaster.${inet.zone}. 1 3600 600 86400 ${inet.ttl}`,
    `@ IN NS ${ns}.`,
  ];
  for (const s of internetServers(topo)) {
    for (const name of s.names) lines.push(`${name}. IN A ${s.address}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * nsd's configuration for dir: listens only on the server's address, keeps
 * every file it writes in dir, serves the zone file from dir, no control
 * socket, no privilege drop (the lab runs as root in a namespace of its own).
 */
export function renderNsdConf(inet: LabInternet, address: string, dir: string): string {
  const q = (p: string) => JSON.stringify(path.join(dir, p));
  return [
    '# nsd for the Tern lab: written by test/lab/internet.ts',
    'server:',
    `  ip-address: ${address}`,
    '  port: 53',
    '  username: ""',
    '  chroot: ""',
    `  zonesdir: ${JSON.stringify(dir)}`,
    '  database: ""',
    `  zonelistfile: ${q('zone.list')}`,
    `  xfrdfile: ${q('xfrd.state')}`,
    `  xfrdir: ${q('xfr')}`,
    `  pidfile: ${q('nsd.pid')}`,
    '  server-count: 1',
    '  hide-version: yes',
    '  verbosity: 1',
    'remote-control:',
    '  control-enable: no',
    'zone:',
    `  name: ${inet.zone}`,
    `  zonefile: ${q(`${inet.zone}.zone`)}`,
    '',
  ].join('\n');
}

/** Whether something in node listens on TCP (or UDP) port. */
async function listening(lab: MeasureHost, node: string, proto: 'tcp' | 'udp', port: number): Promise<boolean> {
  const r = await lab.exec(node, ['ss', proto === 'tcp' ? '-Hltn' : '-Hlun', `sport = :${port}`], { timeoutMs: 5000 });
  return r.code === 0 && r.stdout.trim() !== '';
}

/**
 * Start every server of the lab's internet as lab processes (named http,
 * iperf3 and nsd in their nodes: logs in logs/<node>.<name>.log, stopped by
 * down() like the daemons) and wait until each answers. nsd's files go to
 * <runDir>/internet/<node>/.
 */
export async function startInternet(lab: Lab): Promise<StartedInternet> {
  const inet = lab.topology.internet;
  if (!inet) throw bad(`topology ${lab.topology.name} has no internet; want one with servers (defaultTopology)`);
  const servers = internetServers(lab.topology);
  const processes: LabProcess[] = [];
  const echo = path.join(path.dirname(fileURLToPath(import.meta.url)), 'http-echo.js');
  for (const s of servers) {
    if (s.services.includes('http')) {
      processes.push(lab.spawn(s.node, 'http', [process.execPath, echo, '--name', s.node, '--listen', s.address, '--port', '80']));
    }
    if (s.services.includes('iperf3')) {
      processes.push(lab.spawn(s.node, 'iperf3', ['iperf3', '-s', '-B', s.address, '-p', String(iperfPort)]));
    }
    if (s.services.includes('dns')) {
      const dir = path.join(lab.runDir, 'internet', s.node);
      fs.mkdirSync(path.join(dir, 'xfr'), { recursive: true });
      fs.writeFileSync(path.join(dir, `${inet.zone}.zone`), renderZone(lab.topology));
      const conf = path.join(dir, 'nsd.conf');
      fs.writeFileSync(conf, renderNsdConf(inet, s.address, dir));
      processes.push(lab.spawn(s.node, 'nsd', ['nsd', '-d', '-c', conf]));
    }
  }
  const wait = patience(2000);
  for (const s of servers) {
    if (s.services.includes('http')) await waitFor(`${s.node}: http on ${s.address}:80`, () => listening(lab, s.node, 'tcp', 80), wait);
    if (s.services.includes('iperf3')) await waitFor(`${s.node}: iperf3 on ${s.address}:${iperfPort}`, () => listening(lab, s.node, 'tcp', iperfPort), wait);
    if (s.services.includes('dns')) {
      await waitFor(`${s.node}: nsd answers for ${inet.zone}`, async () => (await dnsQuery(lab, s.node, s.address, inet.zone, 'SOA')).status === 'NOERROR', wait);
    }
  }
  lab.logger.info({ servers: servers.map((s) => `${s.node} ${s.address}`) }, `lab: internet: ${servers.length} servers up (${inet.zone})`);
  return { zone: inet.zone, ttl: inet.ttl, servers, processes };
}

export interface HttpEchoOptions {
  /** Source address (curl --interface ADDRESS): picks the route when the node has source rules. */
  source?: string;
  /** Ask for this name, sent to address (curl --resolve): the answer's host shows it. */
  host?: string;
  timeoutMs?: number;
}

/** GET http://address/ from node with curl; the server's answer. Throws naming the failure. */
export async function httpEcho(lab: MeasureHost, node: string, address: string, opts: HttpEchoOptions = {}): Promise<EchoAnswer> {
  const timeout = opts.timeoutMs ?? 10_000;
  const target = opts.host ?? address;
  const argv = ['curl', '-sS', '--noproxy', '*', '--max-time', String(timeout / 1000),
    ...(opts.source ? ['--interface', opts.source] : []),
    ...(opts.host ? ['--resolve', `${opts.host}:80:${address}`] : []),
    `http://${target}/`];
  const r = await lab.exec(node, argv, { timeoutMs: timeout + 5000 });
  if (r.code !== 0) throw bad(`${node} → http://${target}/ (${address}): curl exited ${r.code}: ${r.stderr.trim()}; want an answer`);
  try {
    return JSON.parse(r.stdout) as EchoAnswer;
  } catch {
    throw bad(`${node} → http://${target}/: answer ${JSON.stringify(r.stdout.slice(0, 200))} is not the echo JSON`);
  }
}

// n HTTP GETs, each a new TCP connection, c at a time, run by node in a lab
// node: how many answers named each source address (the HTTP echo's client).
const burstScript = `
const http = require('node:http');
const [dst, n, c] = process.argv.slice(1).map((v, i) => (i ? Number(v) : v));
const counts = {}; let failed = 0; let started = 0; let done = 0;
function one() {
  if (started >= n) return; started++;
  const req = http.get({ host: dst, port: 80, path: '/', agent: false, timeout: 5000 }, (res) => {
    let body = ''; res.on('data', (d) => { body += d; });
    res.on('end', () => { try { const a = JSON.parse(body); counts[a.client] = (counts[a.client] || 0) + 1; } catch { failed++; } next(); });
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', () => { failed++; next(); });
}
function next() { if (++done === n) console.log(JSON.stringify({ counts, failed })); else one(); }
for (let i = 0; i < c; i++) one();`;

/** What a burst of new flows to an HTTP echo server saw: answers per source address the server named, and flows that failed. */
export interface BurstResult { counts: Record<string, number>; failed: number }

/** n new TCP flows (HTTP GETs) from node to address, c at a time: per source address the server saw, how many. */
export async function httpBurst(lab: MeasureHost, node: string, address: string, n: number, c: number): Promise<BurstResult> {
  const r = await lab.exec(node, [process.execPath, '-e', burstScript, address, String(n), String(c)], { timeoutMs: 60_000 + n * 200 });
  if (r.code !== 0) throw bad(`${node} → ${n} flows to http://${address}/: exit ${r.code}: ${r.stderr.trim()}; want the burst's counts`);
  try {
    return JSON.parse(r.stdout) as BurstResult;
  } catch {
    throw bad(`${node} → ${n} flows to http://${address}/: output ${JSON.stringify(r.stdout.slice(0, 200))} is not the burst's JSON`);
  }
}

/** One record of a DNS answer section. */
export interface DnsRecord {
  name: string;
  ttl: number;
  type: string;
  data: string;
}

export interface DnsAnswer {
  /** NOERROR, NXDOMAIN, REFUSED... */
  status: string;
  /** Header flags: qr, aa, rd, ra... */
  flags: string[];
  answers: DnsRecord[];
}

/** Parse `dig +noall +comments +answer` output. */
export function parseDig(output: string): DnsAnswer {
  const status = /status: ([A-Z]+)/.exec(output)?.[1];
  const flags = /;; flags: ([a-z ]*);/.exec(output)?.[1];
  if (!status || flags === undefined) throw bad(`dig output has no header; got ${JSON.stringify(output.slice(0, 300))}`);
  const answers: DnsRecord[] = [];
  for (const line of output.split('\n')) {
    if (line.startsWith(';') || line.trim() === '') continue;
    const f = line.trim().split(/\s+/);
    if (f.length < 5 || f[2] !== 'IN') continue;
    answers.push({ name: f[0]!, ttl: Number(f[1]), type: f[3]!, data: f.slice(4).join(' ') });
  }
  return { status, flags: flags.trim().split(/\s+/).filter((x) => x !== ''), answers };
}

/** Ask server (no recursion) for name/type from node with dig. */
export async function dnsQuery(lab: MeasureHost, node: string, server: string, name: string, type = 'A'): Promise<DnsAnswer> {
  const r = await lab.exec(node, ['dig', '+norecurse', '+time=2', '+tries=1', '+noall', '+comments', '+answer', `@${server}`, name, type], { timeoutMs: 10_000 });
  if (r.code !== 0) throw bad(`${node}: dig @${server} ${name} ${type} exited ${r.code}: ${(r.stdout + r.stderr).trim()}; want an answer`);
  return parseDig(r.stdout);
}
