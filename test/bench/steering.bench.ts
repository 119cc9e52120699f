// Steering benchmark: iperf3 TCP through a router namespace with Tern's
// steering on (steerd's nft restore/save chains, the NFQUEUE rule, a
// fwmark → path table rule, the Rust workers deciding first packets) against
// the same router with the kernel alone, alternating in one run. It reports
// the ratio; it never fails on time.
//
// Why not through the lab's overlay: there the userspace wireguard-go is the
// ceiling (~330 Mbit/s at ~160 % of a core), so steering on and off measure
// the same tunnel. A plain router forwards at several Gbit/s, where what
// steering adds per packet (two nft chains, a policy rule lookup) shows.
// The path here is a veth instead of a tunnel; everything else is what
// steerd installs.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { IptablesQueue } from '../../daemons/steerd/iptables.js';
import { Nft, detectNftQueue, type QueueMethod } from '../../daemons/steerd/nft.js';
import type { CommandRunner } from '../../daemons/steerd/command.js';
import { runCommand } from '../../daemons/steerd/command.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const id = crypto.randomBytes(3).toString('hex');
const ns = { c: `tsb${id}-c`, r: `tsb${id}-r`, s: `tsb${id}-s` };
const mark = 0x100010;
const table = 10016;
const queues: [number, number] = [10200, 10201];

function sh(argv: string[], input?: string): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { input, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`bench: ${argv.join(' ')}: ${r.stderr || r.stdout}`);
  return r.stdout;
}

function inNs(n: string, argv: string[]): string[] {
  return ['ip', 'netns', 'exec', n, ...argv];
}

const routerRun: CommandRunner = (argv, input) => runCommand(inNs(ns.r, [...argv]), input);

function setup(): void {
  for (const n of Object.values(ns)) sh(['ip', 'netns', 'add', n]);
  for (const n of Object.values(ns)) sh(['ip', '-n', n, 'link', 'set', 'lo', 'up']);
  sh(['ip', '-n', ns.c, 'link', 'add', 'lan', 'type', 'veth', 'peer', 'name', 'lan0', 'netns', ns.r]);
  sh(['ip', '-n', ns.s, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'path0', 'netns', ns.r]);
  sh(['ip', '-n', ns.c, 'addr', 'add', '10.77.1.2/24', 'dev', 'lan']);
  sh(['ip', '-n', ns.c, 'link', 'set', 'lan', 'up']);
  sh(['ip', '-n', ns.c, 'route', 'add', 'default', 'via', '10.77.1.1']);
  sh(['ip', '-n', ns.s, 'addr', 'add', '10.77.2.2/24', 'dev', 'eth0']);
  sh(['ip', '-n', ns.s, 'link', 'set', 'eth0', 'up']);
  sh(['ip', '-n', ns.s, 'route', 'add', 'default', 'via', '10.77.2.1']);
  sh(['ip', '-n', ns.r, 'addr', 'add', '10.77.1.1/24', 'dev', 'lan0']);
  sh(['ip', '-n', ns.r, 'addr', 'add', '10.77.2.1/24', 'dev', 'path0']);
  sh(['ip', '-n', ns.r, 'link', 'set', 'lan0', 'up']);
  sh(['ip', '-n', ns.r, 'link', 'set', 'path0', 'up']);
  sh(inNs(ns.r, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']));
  sh(inNs(ns.r, ['sysctl', '-qw', 'net.netfilter.nf_conntrack_acct=1']));
  // The path's table: what tunneld installs for a path, here through a veth.
  sh(['ip', '-n', ns.r, 'route', 'add', '10.77.2.0/24', 'dev', 'path0', 'table', String(table)]);
}

function teardown(): void {
  for (const n of Object.values(ns)) spawnSync('ip', ['netns', 'del', n]);
}

/** The worker process in the router: the real fast path with one path for the server's prefix. */
const workerScript = `
import { NativeFastPath } from ${JSON.stringify(path.join(repo, 'dist/daemons/steerd/fastpath.js'))};
const fp = new NativeFastPath();
fp.open(${queues[0]}, ${queues[1] - queues[0] + 1}, 4096);
const sel = fp.createSelector({ classes: [], default: { sla: {}, mode: 'best', preferWans: [], hysteresisPct: 20, holdMs: 30000 }, flows: { max: 1024, idleTimeoutMs: 60000 } });
sel.setPaths([{ id: ${mark}, wan: 'a', weight: 1, cost: 10, metered: false, state: 'up', lossPct: 0, latencyMs: 1, jitterMs: 0, mos: 4.4 }]);
fp.route(sel, ['10.77.2.0/24']);
process.stdout.write('ready\\n');
process.stdin.on('end', () => {
  process.stdout.write(JSON.stringify({ queues: fp.stats(), flows: fp.flows(0x100000, 0xfff00000, 100) }) + '\\n');
  fp.close();
  process.exit(0);
});
process.stdin.resume();
`;

interface WorkerReport { queues: Array<{ packets: number; steered: number }>; flows: Array<{ mark: number; packets: number }> }

async function steeringOn(method: QueueMethod): Promise<{ worker: ChildProcess; report: () => Promise<WorkerReport> }> {
  const worker = spawn('ip', ['netns', 'exec', ns.r, process.execPath, '--input-type=module', '-e', workerScript], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  worker.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; });
  await new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => { if (out.includes('ready')) { clearInterval(timer); resolve(); } }, 20);
    worker.on('exit', (code) => { clearInterval(timer); reject(new Error(`bench: worker exited ${code}`)); });
  });
  await new Nft({ run: routerRun }).apply({ lanInterface: 'lan0', prefixes: ['10.77.2.0/24'], queues, method });
  if (method === 'iptables') await new IptablesQueue({ run: routerRun }).apply(queues);
  sh(['ip', '-n', ns.r, 'rule', 'add', 'fwmark', `0x${mark.toString(16)}`, 'lookup', String(table), 'priority', '10200']);
  const report = async (): Promise<WorkerReport> => {
    const exited = new Promise((r) => worker.on('exit', r));
    worker.stdin!.end();
    await exited;
    return JSON.parse(out.split('\n').find((l) => l.startsWith('{'))!) as WorkerReport;
  };
  return { worker, report };
}

async function steeringOff(): Promise<void> {
  await new Nft({ run: routerRun }).remove();
  await new IptablesQueue({ run: routerRun }).remove();
  spawnSync('ip', ['-n', ns.r, 'rule', 'del', 'priority', '10200']);
}

function iperf(): number {
  const server = spawn('ip', ['netns', 'exec', ns.s, 'iperf3', '-s', '-1', '-B', '10.77.2.2'], { stdio: 'ignore' });
  try {
    for (let attempt = 0; attempt < 50; attempt++) {
      const r = spawnSync('ip', ['netns', 'exec', ns.c, 'iperf3', '-c', '10.77.2.2', '-t', String(SECONDS), '-J'], { encoding: 'utf8' });
      const out = JSON.parse(r.stdout || '{}') as { error?: string; end?: { sum_received?: { bits_per_second: number } } };
      if (out.error && /connect|refused/i.test(out.error)) {
        spawnSync('sleep', ['0.1']);
        continue;
      }
      if (out.error) throw new Error(`bench: iperf3: ${out.error}`);
      return out.end?.sum_received?.bits_per_second ?? 0;
    }
    throw new Error('bench: iperf3: server never listened');
  } finally {
    server.kill();
  }
}

const gbit = (b: number): string => `${(b / 1e9).toFixed(2)} Gbit/s`;
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

process.on('exit', teardown);
try {
  setup();
  // The same detection steerd makes, in the router namespace.
  const method: QueueMethod = (await detectNftQueue(routerRun)) ? 'nft' : 'iptables';
  console.log(`steering: iperf3 TCP (1 stream, ${SECONDS} s) through a router namespace, ${ROUNDS} rounds each, alternating; queue method ${method}`);
  const off: number[] = [];
  const on: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    await steeringOff();
    off.push(iperf());
    const s = await steeringOn(method);
    on.push(iperf());
    const rep = await s.report();
    const queued = rep.queues.reduce((n, q) => n + q.packets, 0);
    const steered = rep.flows.filter((f) => f.mark === mark);
    const packets = steered.reduce((n, f) => n + f.packets, 0);
    if (steered.length === 0) throw new Error('bench: steering on, but no flow carries the path mark');
    console.log(`  round ${round + 1}: kernel only ${gbit(off.at(-1)!)}, steering on ${gbit(on.at(-1)!)}  (${steered.length} flows on the path; ${queued} packets queued of ${packets})`);
  }
  await steeringOff();
  const ratio = mean(on) / mean(off);
  console.log(`kernel only (baseline)                ${gbit(mean(off))}`);
  console.log(`steering on                           ${gbit(mean(on))}`);
  console.log(`ratio steering on / kernel only       ${(ratio * 100).toFixed(1)} %  (aim >= 90 %)`);
} finally {
  teardown();
}
