// probed benchmark: CPU and memory of the real tern-probed with 500 overlay
// paths at 5 probes/s, and the probe bytes per path, against a baseline in
// the same run: the same 500 sessions as a bare UDP send/receive loop (same
// sockets, same timers, same packets, no probing logic, no history).
//
// Setup (as root): two network namespaces joined by 500 veth pairs, each
// pair standing for one path's tunnel. In A, the box: each veth is named as
// tunneld would name the path's WireGuard interface and carries this end's
// link-local address; probed (or the baseline) runs there. In B, the far
// ends: one process plays all 500 remote boxes, reflecting A's probes
// (STAMP, stateful) and probing A at 5/s per path, so A reflects as much as
// it sends, as a real box does. Only A's process is measured (CPU time from
// /proc over a fixed interval after warm-up, RSS at the end). It reports; it
// never fails on time.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BusClient } from '../../daemons/lib/bus/index.js';
import { generateKeyPair } from '../lab/config.js';
import { Reflector } from '../../daemons/probed/reflector.js';
import { TERN_ERROR_ESTIMATE, encodeSenderPacket, msToNtp } from '../../daemons/probed/stamp.js';

const SITES = Number(process.env.BENCH_SITES ?? 250); // × 2 remote WANs = paths
const RATE = 5;
const WARMUP_S = Number(process.env.BENCH_WARMUP_S ?? 15);
const MEASURE_S = Number(process.env.BENCH_MEASURE_S ?? 30);
const PORT = 862;
const self = fileURLToPath(import.meta.url);
const repo = path.resolve(path.dirname(self), '../../..');

interface Link { site: number; slot: number; a: string; b: string; local: string; remote: string }

function links(): Link[] {
  const out: Link[] = [];
  for (let i = 0; i < SITES; i++) {
    const site = i + 2; // site 1 is the box
    for (const slot of [0, 1]) {
      out.push({ site, slot, a: `tn1-${site}-0${slot}`, b: `p${site}-${slot}`, local: 'fe80::1:0', remote: `fe80::${site.toString(16)}:${slot}` });
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// Child roles (this file run again with an argument, inside a namespace).

/** B: every far end. Reflects A's probes, probes A at RATE per link. */
async function farEnds(): Promise<void> {
  const reflector = new Reflector({ isKnownPeer: () => true, maxSessions: 8192 });
  const r = dgram.createSocket({ type: 'udp6' });
  r.on('message', (msg, rinfo) => {
    const res = reflector.reflect({ bytes: msg, from: { address: rinfo.address, port: rinfo.port }, rxTimeMs: performance.timeOrigin + performance.now() });
    if (res.ok) r.send(res.reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((res) => r.bind(PORT, '::', () => res()));
  await probeLoop(links().map((l) => ({ bind: `${l.remote}%${l.b}`, to: `${l.local}%${l.b}` })));
}

/**
 * The baseline in A, or the far ends' probing in B: one socket per link,
 * bound and connected like probed's, sending a 44-byte STAMP test packet
 * every 1/RATE s and reading what comes back.
 */
async function probeLoop(ends: Array<{ bind: string; to: string }>): Promise<void> {
  let seq = 0;
  for (const e of ends) {
    const s = dgram.createSocket({ type: 'udp6' });
    s.on('message', () => undefined);
    s.on('error', () => undefined);
    await new Promise<void>((res) => s.bind({ address: e.bind, port: 0 }, () => res()));
    await new Promise<void>((res) => s.connect(PORT, e.to, () => res()));
    const send = (): void => {
      s.send(encodeSenderPacket({ seq: seq++ >>> 0, timestamp: msToNtp(Date.now()), errorEstimate: TERN_ERROR_ESTIMATE }));
    };
    // Spread the first sends over one interval, as probed's paths start at different times.
    setTimeout(() => { send(); setInterval(send, 1000 / RATE); }, Math.random() * (1000 / RATE));
  }
}

/** The baseline in A: the probing loop, and B's probes echoed byte for byte on the STAMP port (no reflector logic). */
async function rawBaseline(): Promise<void> {
  const echo = dgram.createSocket({ type: 'udp6' });
  echo.on('message', (msg, rinfo) => echo.send(msg, rinfo.port, rinfo.address));
  await new Promise<void>((res) => echo.bind(PORT, '::', () => res()));
  await probeLoop(links().map((l) => ({ bind: `${l.local}%${l.a}`, to: `${l.remote}%${l.a}` })));
}

// ---------------------------------------------------------------------------
// The bench itself.

function sh(argv: string[], input?: string): void {
  const r = spawnSync(argv[0]!, argv.slice(1), { input, stdio: ['pipe', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`probed.bench: ${argv.join(' ')} exited ${r.status}`);
}

function cpuTicks(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime, fields 14 and 15
}

function rssKb(pid: number): { rss: number; hwm: number } {
  const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const get = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(s)?.[1] ?? NaN);
  return { rss: get('VmRSS'), hwm: get('VmHWM') };
}

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Measure {
  cpuPct: number;
  rssMb: number;
  hwmMb: number;
  secs: number;
  /** Probe traffic in A over the measured interval, per nft counter. */
  traffic: Map<string, { packets: number; bytes: number }>;
}

/** CPU of pid and A's probe traffic over MEASURE_S, after WARMUP_S; RSS at the end. */
async function measure(pid: number, ns: string): Promise<Measure> {
  await sleep(WARMUP_S * 1000);
  const n0 = nftBytes(ns);
  const c0 = cpuTicks(pid);
  const t0 = performance.now();
  await sleep(MEASURE_S * 1000);
  const c1 = cpuTicks(pid);
  const secs = (performance.now() - t0) / 1000;
  const n1 = nftBytes(ns);
  const m = rssKb(pid);
  const traffic = new Map([...n1].map(([k, v]) => [k, { packets: v.packets - (n0.get(k)?.packets ?? 0), bytes: v.bytes - (n0.get(k)?.bytes ?? 0) }]));
  return { cpuPct: (100 * (c1 - c0)) / CLK_TCK / secs, rssMb: m.rss / 1024, hwmMb: m.hwm / 1024, secs, traffic };
}

function nftBytes(ns: string): Map<string, { packets: number; bytes: number }> {
  const out = execFileSync('ip', ['netns', 'exec', ns, 'nft', '-j', 'list', 'table', 'inet', 'bench']).toString();
  const doc = JSON.parse(out) as { nftables: Array<{ rule?: { comment?: string; expr: Array<Record<string, unknown>> } }> };
  const m = new Map<string, { packets: number; bytes: number }>();
  for (const o of doc.nftables) {
    const c = o.rule?.expr.find((e) => 'counter' in e)?.counter as { packets: number; bytes: number } | undefined;
    if (o.rule?.comment && c) m.set(o.rule.comment, c);
  }
  return m;
}

function config(keys: Map<number, string>): string {
  const sites = [...keys].map(([site, pub]) => [
    `    - id: s${site}`,
    `      publicKey: ${pub}`,
    `      overlayAddress: 100.64.0.${site}`,
    '      wans:',
    `        - { name: a, endpoint: 192.0.2.${site}:51820 }`,
    `        - { name: b, endpoint: 192.0.2.${site}:51821 }`,
  ].join('\n'));
  return [
    'version: 1',
    'identity: { site: bench, name: bench }',
    'wans:',
    '  - { name: wa, interface: wan0, address: 198.18.200.1/24, gateway: 198.18.200.2 }',
    'lan: { interface: lan0, address: 10.99.0.1/24, prefixes: [10.99.0.0/24] }',
    'overlay:',
    '  address: 100.64.0.1/24',
    '  sites:',
    ...sites,
    'probes:',
    `  port: ${PORT}`,
    `  pathRatePerSec: ${RATE}`,
    'log: { level: warn }',
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.log('probed.bench: needs root (network namespaces); skipped');
    return;
  }
  const tag = crypto.randomBytes(3).toString('hex');
  const A = `pbA${tag}`;
  const B = `pbB${tag}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tern-probed-bench-'));
  const children: ChildProcess[] = [];
  const cleanup = (): void => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const ns of [A, B]) spawnSync('ip', ['netns', 'del', ns]);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', cleanup);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130));

  const ls = links();
  sh(['ip', 'netns', 'add', A]);
  sh(['ip', 'netns', 'add', B]);
  // Only the addresses Tern gives the tunnel ends: the far-end harness in B
  // answers from [::] and would otherwise pick a kernel-made link-local
  // address as its source now and then (probed itself answers from the
  // address probed, see daemons/probed/transport.ts).
  for (const ns of [A, B]) sh(['ip', 'netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.default.addr_gen_mode=1', 'net.ipv6.conf.all.addr_gen_mode=1']);
  // The WAN's gateway (its probe target) and the LAN are in B too.
  const batchA = ['link set lo up',
    `link add name wan0 type veth peer name wanpeer netns ${B}`, 'link set wan0 up', 'addr add 198.18.200.1/24 dev wan0',
    `link add name lan0 type veth peer name lanpeer netns ${B}`, 'link set lan0 up', 'addr add 10.99.0.1/24 dev lan0'];
  const batchB = ['link set lo up', 'link set wanpeer up', 'addr add 198.18.200.2/24 dev wanpeer', 'link set lanpeer up'];
  for (const l of ls) {
    batchA.push(`link add name ${l.a} type veth peer name ${l.b} netns ${B}`);
    batchA.push(`addr add ${l.local}/64 dev ${l.a} nodad`, `link set ${l.a} up`);
    batchB.push(`addr add ${l.remote}/64 dev ${l.b} nodad`, `link set ${l.b} up`);
  }
  sh(['ip', '-n', A, '-batch', '-'], `${batchA.join('\n')}\n`);
  sh(['ip', '-n', B, '-batch', '-'], `${batchB.join('\n')}\n`);
  sh(['ip', 'netns', 'exec', A, 'nft', '-f', '-'], [
    'table inet bench {',
    '  chain out { type filter hook output priority 0; policy accept;',
    `    udp dport ${PORT} counter comment "probes-out"`,
    `    udp sport ${PORT} counter comment "replies-out"`,
    '  }',
    '  chain in { type filter hook input priority 0; policy accept;',
    `    udp sport ${PORT} counter comment "replies-in"`,
    `    udp dport ${PORT} counter comment "probes-in"`,
    '  }',
    '}',
  ].join('\n'));

  const run = (ns: string, argv: string[], env: NodeJS.ProcessEnv = {}): ChildProcess => {
    const c = spawn('ip', ['netns', 'exec', ns, process.execPath, ...argv], { env: { ...process.env, ...env }, stdio: ['ignore', process.env.BENCH_VERBOSE ? 'inherit' : 'ignore', 'inherit'] });
    children.push(c);
    return c;
  };
  const stop = async (c: ChildProcess): Promise<void> => {
    if (c.exitCode !== null || c.signalCode !== null) return;
    const done = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    await Promise.race([done, sleep(5000)]);
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  };

  console.log(`probed.bench: ${ls.length} paths at ${RATE} probes/s each way; warm-up ${WARMUP_S} s, measured ${MEASURE_S} s; ${os.cpus().length} CPUs, load ${os.loadavg()[0]!.toFixed(2)}`);
  const far = run(B, [self, '--far-ends']);

  // Baseline: the bare UDP loop in A.
  const base = run(A, [self, '--raw-baseline']);
  const b = await measure(base.pid!, A);
  await stop(base);

  // probed, with its config and its own state directory.
  const keys = new Map<number, string>();
  for (let i = 0; i < SITES; i++) keys.set(i + 2, generateKeyPair().publicKey);
  const env = { TERN_ETC_DIR: path.join(dir, 'etc'), TERN_RUN_DIR: path.join(dir, 'run'), TERN_STATE_DIR: path.join(dir, 'state'), TERN_CONFIG: path.join(dir, 'etc', 'tern.yaml') };
  fs.mkdirSync(env.TERN_ETC_DIR, { recursive: true });
  fs.writeFileSync(env.TERN_CONFIG, config(keys));
  // No tunneld here: after 5 s probed probes the paths of its overlay plan.
  const prof = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
  const probed = run(A, [...prof, path.join(repo, 'dist', 'daemons', 'probed', 'main.js')], env);
  const trace = setInterval(() => {
    const b = new BusClient({ socketPath: path.join(env.TERN_RUN_DIR, 'probed.sock'), timeoutMs: 10_000, reconnect: false });
    const t0 = Date.now();
    b.request<{ history: unknown; paths: unknown }>('daemon.status').then((st) => console.log('TRACE', Date.now() - t0, 'ms', JSON.stringify(st.history), JSON.stringify(st.paths)), (e: unknown) => console.log('TRACE err', String(e))).finally(() => b.close());
  }, 2000);
  const p = await measure(probed.pid!, A);
  clearInterval(trace);
  // The bus socket is a file: reachable from here, whatever the namespace.
  const bus = new BusClient({ socketPath: path.join(env.TERN_RUN_DIR, 'probed.sock'), timeoutMs: 10_000, reconnect: false });
  const status = await bus.request<{ paths: Record<string, number>; history: Record<string, unknown> }>('daemon.status');
  const paths = await bus.request<Array<{ counters: Record<string, number>; socket: Record<string, number> }>>('paths.metrics');
  await bus.close();
  const sum = (pick: (x: (typeof paths)[number]) => Record<string, number>, k: string): number => paths.reduce((a, x) => a + (pick(x)[k] ?? 0), 0);
  await stop(probed);
  await stop(far);

  const d = (m: Measure, k: string): { packets: number; bytes: number } => m.traffic.get(k) ?? { packets: 0, bytes: 0 };
  const perPath = (m: Measure): number => (d(m, 'probes-out').bytes + d(m, 'replies-in').bytes) / ls.length / m.secs;
  const pps = (m: Measure): number => d(m, 'probes-out').packets / ls.length / m.secs;
  const pktBytes = d(p, 'probes-out').packets ? d(p, 'probes-out').bytes / d(p, 'probes-out').packets : 0;
  // Inside WireGuard: the inner packet padded to 16, + 32 (header and tag), + UDP 8 and IPv4 20 outside.
  const wgBytes = Math.ceil(pktBytes / 16) * 16 + 32 + 28;
  const row = (label: string, m: Measure): string =>
    `${label.padEnd(40)} CPU ${m.cpuPct.toFixed(1).padStart(5)} %   RSS ${m.rssMb.toFixed(0).padStart(4)} MB (peak ${m.hwmMb.toFixed(0)} MB)   ${pps(m).toFixed(2)} probes/s per path`;
  console.log(row(`baseline: bare UDP loop (${ls.length} sockets)`, b));
  console.log(row(`tern-probed (${ls.length} paths, history on)`, p));
  console.log(`ratio probed / baseline                  CPU ×${(p.cpuPct / b.cpuPct).toFixed(2)}   RSS ×${(p.rssMb / b.rssMb).toFixed(2)}`);
  console.log(`probed paths: ${JSON.stringify(status.paths)}; history ${JSON.stringify(status.history)}; probes sent ${sum((x) => x.counters, 'sent')}, send errors ${sum((x) => x.counters, 'sendErrors')}, answered ${sum((x) => x.counters, 'answered')}, timeouts ${sum((x) => x.counters, 'timeouts')}, late ${sum((x) => x.counters, 'late')}; socket opens ${sum((x) => x.socket, 'opens')}, open errors ${sum((x) => x.socket, 'openErrors')}, async send errors ${sum((x) => x.socket, 'sendErrors')}`);
  console.log(`probe traffic per path (own probes and their replies): ${perPath(p).toFixed(0)} B/s inside the tunnel (${pktBytes.toFixed(0)}-byte IPv6 packets), ${(perPath(p) * wgBytes / pktBytes).toFixed(0)} B/s on the WAN inside WireGuard (${wgBytes}-byte packets); answering the far end's probes costs the same again`);
}

const role = process.argv[2];
if (role === '--far-ends') await farEnds();
else if (role === '--raw-baseline') await rawBaseline();
else await main();
