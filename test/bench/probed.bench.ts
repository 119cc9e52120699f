// probed benchmark: CPU and memory of the real tern-probed with 500 overlay
// paths at 5 probes/s, and the probe bytes per path, against a baseline in
// the same run: the same 500 sessions as a bare UDP send/receive loop (same
// sockets, same timers, same packets, no probing logic, no history).
//
// Setup (as root): two network namespaces joined by 500 veth pairs, each
// pair standing for one path's tunnel. In A, the box: each veth is named as
// tunneld would name the path's WireGuard interface and carries this end's
// link-local address; probed (or the baseline) runs there. In B, the far
// ends: BENCH_FAR_PROCS processes (default 2) share the 500 remote boxes,
// each box a reflector socket of its own (STAMP, stateful) and a sender
// probing A at 5/s, so A reflects as much as it sends, as a real box does.
// A's process is measured (CPU time from /proc over a fixed interval after
// warm-up, RSS at the end); so that the figures are probed's and not the
// harness's, the far ends' CPU and event-loop delay and both namespaces'
// UDP receive-buffer drops (split by reflector and sender sockets) are
// printed beside them. It reports; it never fails on time.
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
import { withoutZone } from '../../daemons/probed/transport.js';
import { systemClock } from '../../daemons/lib/clock/index.js';
import { loadNative } from '../../daemons/lib/native/index.js';

const SITES = Number(process.env.BENCH_SITES ?? 250); // × 2 remote WANs = paths
const RATE = 5;
/** Processes playing the far ends in B, each a share of the paths. */
const FAR_PROCS = Number(process.env.BENCH_FAR_PROCS ?? 2);
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

/**
 * B: the far ends of links k, k + n, k + 2n, … (process k of n). Each far end
 * is what a remote box is for its path: a reflector socket of its own,
 * bound to its link-local address on its tunnel (as probed binds one per
 * path address, see daemons/probed/transport.ts), and a sender probing A at
 * RATE. One [::] socket for all 500 would squeeze 500 boxes' probe traffic
 * (2500 datagrams/s) into one receive buffer: ~200 KB, a tenth of a second
 * of it, so every stall of this process longer than that dropped probed's
 * probes in B and the bench measured its own far end (see the UDP drop
 * counters it prints). The reflector sockets are the native module's, read
 * every 10 ms with the kernel's receive time as T2, as probed's own: with
 * T2 taken in JS, this process's loop delay would show in the RTT probed
 * measures and the bench would judge probed by its harness.
 */
async function farEnds(k: number, n: number): Promise<void> {
  const mine = links().filter((_, i) => i % n === k);
  // T3 on the same sub-millisecond clock as T2 (probed's reflector does the
  // same): with Date.now() the processing time is off by up to 1 ms, and so is the RTT probed reads.
  const clock = { ...systemClock, now: () => performance.timeOrigin + performance.now() };
  const reflector = new Reflector({ clock, isKnownPeer: () => true, maxSessions: 8192 });
  const native = loadNative();
  const set = native.udpSetCreate();
  const local = new Map<number, string>();
  for (const l of mine) local.set(native.udpOpen(set, `${l.remote}%${l.b}`, PORT, false), l.b);
  setInterval(() => {
    for (let more = true; more;) {
      const batch = native.udpPoll(set, 512);
      // T2 on the reflector's clock (performance.timeOrigin + performance.now(), as probed's).
      const toWall = clock.now() - batch.nowMs;
      for (const d of batch.datagrams) {
        const res = reflector.reflect({ bytes: d.data, from: { address: d.from, port: d.port }, local: local.get(d.socket), rxTimeMs: toWall + d.rxMs, ttl: d.ttl });
        // The zone is the socket's own: no interface lookup (native/src/udp.rs).
        if (res.ok) native.udpSendTo(set, d.socket, res.reply as Buffer, d.from, d.port);
      }
      more = batch.datagrams.length === 512;
    }
  }, 10);
  await probeLoop(mine.map((l) => ({ bind: `${l.remote}%${l.b}`, to: `${l.local}%${l.b}` })));
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

/** The baseline in A: the probing loop, and B's probes echoed byte for byte (no reflector logic) from a socket per path address, as probed answers. */
async function rawBaseline(): Promise<void> {
  for (const l of links()) {
    const echo = dgram.createSocket({ type: 'udp6', reuseAddr: true });
    echo.on('message', (msg, rinfo) => echo.send(msg, rinfo.port, withoutZone(rinfo.address)));
    await new Promise<void>((res) => echo.bind(PORT, `${l.local}%${l.a}`, () => res()));
  }
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
  /** CPU of the far-end processes in B over the same interval, each. */
  farCpuPct: number[];
  /** UDP/IPv6 counters (deltas) of A and B: datagrams in, dropped for a full receive buffer, other input errors. */
  udp: Record<'A' | 'B', Record<string, number>>;
  rssMb: number;
  hwmMb: number;
  secs: number;
  /** Probe traffic in A over the measured interval, per nft counter. */
  traffic: Map<string, { packets: number; bytes: number }>;
}

/**
 * CPU of pid (and of the far ends) and A's probe traffic over MEASURE_S,
 * after WARMUP_S; RSS at the end. At the start of the interval every
 * measured process gets SIGUSR2, which restarts its loop-delay histogram.
 */
async function measure(pid: number, ns: { A: string; B: string }, far: number[], onStart?: () => Promise<void>): Promise<Measure> {
  await sleep(WARMUP_S * 1000);
  await onStart?.();
  for (const p of [pid, ...far]) process.kill(p, 'SIGUSR2');
  const n0 = nftBytes(ns.A);
  const u0 = { A: udp6(ns.A), B: udp6(ns.B) };
  const c0 = cpuTicks(pid);
  const f0 = far.map(cpuTicks);
  const t0 = performance.now();
  await sleep(MEASURE_S * 1000);
  const c1 = cpuTicks(pid);
  const f1 = far.map(cpuTicks);
  const secs = (performance.now() - t0) / 1000;
  const n1 = nftBytes(ns.A);
  const u1 = { A: udp6(ns.A), B: udp6(ns.B) };
  const m = rssKb(pid);
  const traffic = new Map([...n1].map(([k, v]) => [k, { packets: v.packets - (n0.get(k)?.packets ?? 0), bytes: v.bytes - (n0.get(k)?.bytes ?? 0) }]));
  const delta = (a: Record<string, number>, b: Record<string, number>): Record<string, number> =>
    Object.fromEntries(Object.keys(b).map((k) => [k, b[k]! - (a[k] ?? 0)]));
  return {
    cpuPct: (100 * (c1 - c0)) / CLK_TCK / secs,
    farCpuPct: f1.map((c, i) => (100 * (c - f0[i]!)) / CLK_TCK / secs),
    udp: { A: delta(u0.A, u1.A), B: delta(u0.B, u1.B) },
    rssMb: m.rss / 1024, hwmMb: m.hwm / 1024, secs, traffic,
  };
}

/** A namespace's UDP/IPv6 counters that tell whether datagrams were dropped at a socket. */
function udp6(ns: string): Record<string, number> {
  const text = execFileSync('ip', ['netns', 'exec', ns, 'cat', '/proc/net/snmp6']).toString();
  const out: Record<string, number> = {};
  for (const k of ['Udp6InDatagrams', 'Udp6RcvbufErrors', 'Udp6InErrors', 'Udp6SndbufErrors']) {
    out[k.slice(4)] = Number(new RegExp(`^${k}\\s+(\\d+)`, 'm').exec(text)?.[1] ?? NaN);
  }
  // Per socket (last column of /proc/net/udp6): which sockets drop. Sockets
  // closed in between take their counts with them; the far ends' live throughout.
  out.reflectorDrops = 0;
  out.senderDrops = 0;
  const table = execFileSync('ip', ['netns', 'exec', ns, 'cat', '/proc/net/udp6']).toString().trim().split('\n').slice(1);
  for (const line of table) {
    const f = line.trim().split(/\s+/);
    const port = parseInt(f[1]!.split(':')[1]!, 16);
    out[port === PORT ? 'reflectorDrops' : 'senderDrops'] += Number(f[f.length - 1]);
  }
  return out;
}

/** What a process's loop-delay preload last wrote (see loop-delay.preload.ts). */
function loopDelay(file: string): string {
  try {
    const d = JSON.parse(fs.readFileSync(file, 'utf8')) as { count: number; meanMs?: number; p99Ms?: number; maxMs?: number };
    return d.count ? `loop delay mean ${d.meanMs} ms, p99 ${d.p99Ms} ms, max ${d.maxMs} ms` : 'loop delay: no samples';
  } catch {
    return 'loop delay: not reported';
  }
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

  // Every process runs with the loop-delay preload, writing to <dir>/<name>.delay.json.
  const preload = path.join(path.dirname(self), 'loop-delay.preload.js');
  const delayFile = (name: string): string => path.join(dir, `${name}.delay.json`);
  const run = (ns: string, name: string, argv: string[], env: NodeJS.ProcessEnv = {}): ChildProcess => {
    const c = spawn('ip', ['netns', 'exec', ns, process.execPath, `--import=${preload}`, ...argv], {
      env: { ...process.env, ...env, BENCH_LOOP_DELAY_FILE: delayFile(name) },
      stdio: ['ignore', process.env.BENCH_VERBOSE ? 'inherit' : 'ignore', 'inherit'],
    });
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
  const far = Array.from({ length: FAR_PROCS }, (_, k) => run(B, `far-${k}`, [self, '--far-ends', String(k), String(FAR_PROCS)]));
  const farPids = far.map((c) => c.pid!);

  // Baseline: the bare UDP loop in A.
  const base = run(A, 'baseline', [self, '--raw-baseline']);
  const b = await measure(base.pid!, { A, B }, farPids);
  const farDelayBase = far.map((_, i) => loopDelay(delayFile(`far-${i}`)));
  const baseDelay = loopDelay(delayFile('baseline'));
  await stop(base);

  // probed, with its config and its own state directory.
  const keys = new Map<number, string>();
  for (let i = 0; i < SITES; i++) keys.set(i + 2, generateKeyPair().publicKey);
  const env = { TERN_ETC_DIR: path.join(dir, 'etc'), TERN_RUN_DIR: path.join(dir, 'run'), TERN_STATE_DIR: path.join(dir, 'state'), TERN_CONFIG: path.join(dir, 'etc', 'tern.yaml') };
  fs.mkdirSync(env.TERN_ETC_DIR, { recursive: true });
  fs.writeFileSync(env.TERN_CONFIG, config(keys));
  // No tunneld here: after 5 s probed probes the paths of its overlay plan.
  const prof = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
  const probed = run(A, 'probed', [...prof, path.join(repo, 'dist', 'daemons', 'probed', 'main.js')], env);
  // Path state changes during the measured interval, by from→to: a path
  // flapping between up and degraded is what steering would react to.
  const changes: Record<string, number> = {};
  const watch = new BusClient({ socketPath: path.join(env.TERN_RUN_DIR, 'probed.sock'), timeoutMs: 10_000, reconnect: false });
  const p = await measure(probed.pid!, { A, B }, farPids, async () => {
    await watch.connect();
    await watch.subscribe(['path.state'], (params) => {
      const m = params as { from: string; to: string };
      const k = `${m.from}→${m.to}`;
      changes[k] = (changes[k] ?? 0) + 1;
    });
  });
  await watch.close();
  const farDelayProbed = far.map((_, i) => loopDelay(delayFile(`far-${i}`)));
  const probedDelay = loopDelay(delayFile('probed'));
  // The bus socket is a file: reachable from here, whatever the namespace.
  const bus = new BusClient({ socketPath: path.join(env.TERN_RUN_DIR, 'probed.sock'), timeoutMs: 10_000, reconnect: false });
  const status = await bus.request<{ paths: Record<string, number>; history: Record<string, unknown> }>('daemon.status');
  const paths = await bus.request<Array<{ counters: Record<string, number>; socket: Record<string, number>; state: string; rttMs: number | null; jitterMs: number | null; lossPct: number | null }>>('paths.metrics');
  const refl = await bus.request<Record<string, unknown>>('reflector.stats');
  await bus.close();
  const sum = (pick: (x: (typeof paths)[number]) => Record<string, number>, k: string): number => paths.reduce((a, x) => a + (pick(x)[k] ?? 0), 0);
  await stop(probed);
  for (const f of far) await stop(f);

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
  const farRow = (m: Measure, delays: string[]): string =>
    `  far ends in B (${far.length} process${far.length > 1 ? 'es' : ''}): CPU ${m.farCpuPct.map((x) => x.toFixed(1)).join(' + ')} %; ${delays.join('; ')}`;
  const udpRow = (m: Measure): string => `  UDP/IPv6 per s: ${(['A', 'B'] as const).map((ns) => `${ns} in ${(m.udp[ns].InDatagrams! / m.secs).toFixed(0)}, rcvbuf drops ${m.udp[ns].RcvbufErrors} (reflector sockets ${m.udp[ns].reflectorDrops}, senders ${m.udp[ns].senderDrops}), in errors ${m.udp[ns].InErrors}`).join('; ')}`;
  console.log(`  baseline ${baseDelay}`);
  console.log(farRow(b, farDelayBase));
  console.log(udpRow(b));
  console.log(`  probed ${probedDelay}`);
  console.log(farRow(p, farDelayProbed));
  console.log(udpRow(p));
  console.log(`ratio probed / baseline                  CPU ×${(p.cpuPct / b.cpuPct).toFixed(2)}   RSS ×${(p.rssMb / b.rssMb).toFixed(2)}`);
  console.log(`probed paths: ${JSON.stringify(status.paths)}; history ${JSON.stringify(status.history)}; probes sent ${sum((x) => x.counters, 'sent')}, send errors ${sum((x) => x.counters, 'sendErrors')}, answered ${sum((x) => x.counters, 'answered')}, timeouts ${sum((x) => x.counters, 'timeouts')}, late ${sum((x) => x.counters, 'late')}; socket opens ${sum((x) => x.socket, 'opens')}, open errors ${sum((x) => x.socket, 'openErrors')}, async send errors ${sum((x) => x.socket, 'sendErrors')}`);
  // Why paths read degraded: their windows against the default thresholds (loss 5 %, RTT 250 ms, jitter 50 ms).
  const dist = (k: 'rttMs' | 'jitterMs' | 'lossPct'): string => {
    const v = paths.map((x) => x[k]).filter((x): x is number => x !== null).sort((a, b) => a - b);
    const q = (f: number): string => (v.length ? v[Math.min(v.length - 1, Math.floor(f * v.length))]!.toFixed(1) : '-');
    return `${k} median ${q(0.5)}, p90 ${q(0.9)}, max ${q(1)}`;
  };
  const over = (k: 'rttMs' | 'jitterMs' | 'lossPct', t: number): number => paths.filter((x) => (x[k] ?? 0) > t).length;
  console.log(`path windows at the end: ${dist('rttMs')}; ${dist('jitterMs')}; ${dist('lossPct')}; paths over loss 5 %: ${over('lossPct', 5)}, RTT 250 ms: ${over('rttMs', 250)}, jitter 50 ms: ${over('jitterMs', 50)}`);
  const states: Record<string, number> = {};
  for (const x of paths) states[x.state] = (states[x.state] ?? 0) + 1;
  console.log(`path state changes while measured: ${JSON.stringify(changes)}`);
  console.log(`path states at the end: ${JSON.stringify(states)}; reflector: received ${refl.received}, replied ${refl.replied}, send errors ${refl.sendErrors}, path-address sockets ${refl.locals} (+${refl.localsUnbound} unbound), connected reply sockets ${refl.replySockets ?? 'n/a'}`);
  console.log(`load average at the end: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  console.log(`probe traffic per path (own probes and their replies): ${perPath(p).toFixed(0)} B/s inside the tunnel (${pktBytes.toFixed(0)}-byte IPv6 packets), ${(perPath(p) * wgBytes / pktBytes).toFixed(0)} B/s on the WAN inside WireGuard (${wgBytes}-byte packets); answering the far end's probes costs the same again`);
}

const role = process.argv[2];
if (role === '--far-ends') await farEnds(Number(process.argv[3]), Number(process.argv[4]));
else if (role === '--raw-baseline') await rawBaseline();
else await main();
