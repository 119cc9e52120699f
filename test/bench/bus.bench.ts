// Bus benchmark: JSON-RPC requests per second through BusServer/BusClient,
// against a baseline measured in the same run: a bare newline-delimited JSON
// echo over the same kind of Unix socket (what any bus must at least cost).
// It reports; it never fails on time.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { BusClient, BusServer } from '../../daemons/lib/bus/index.js';

const N = Number(process.env.BENCH_N ?? 20000);
const CONCURRENCY = 32;

async function timeIt(label: string, fn: () => Promise<void>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const rate = (N / ms) * 1000;
  console.log(`${label.padEnd(38)} ${rate.toFixed(0).padStart(8)} req/s  (${N} in ${ms.toFixed(0)} ms)`);
  return rate;
}

/** Run N calls with at most CONCURRENCY in flight. */
async function pipelined(call: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < N) await call(next++);
  }));
}

async function baseline(sock: string): Promise<{ seq: number; pipe: number }> {
  const server = net.createServer((c) => {
    let buf = '';
    c.on('data', (d) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        const msg = JSON.parse(line) as { id: number; params: unknown };
        c.write(`${JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: msg.params })}\n`);
      }
    });
  });
  await new Promise<void>((r) => server.listen(sock, r));
  const c = net.connect(sock);
  await new Promise<void>((r) => c.once('connect', () => r()));
  const waiting = new Map<number, () => void>();
  let buf = '';
  c.on('data', (d) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const msg = JSON.parse(buf.slice(0, i)) as { id: number };
      buf = buf.slice(i + 1);
      waiting.get(msg.id)?.();
      waiting.delete(msg.id);
    }
  });
  let id = 0;
  const call = (params: unknown): Promise<void> => new Promise((resolve) => {
    const my = ++id;
    waiting.set(my, resolve);
    c.write(`${JSON.stringify({ jsonrpc: '2.0', id: my, method: 'echo', params })}\n`);
  });
  const seq = await timeIt('baseline NDJSON echo, sequential', async () => { for (let i = 0; i < N; i++) await call({ i }); });
  const pipe = await timeIt(`baseline NDJSON echo, ${CONCURRENCY} in flight`, () => pipelined((i) => call({ i })));
  c.destroy();
  await new Promise<void>((r) => server.close(() => r()));
  return { seq, pipe };
}

async function tern(sock: string): Promise<{ seq: number; pipe: number }> {
  const server = new BusServer({ socketPath: sock, daemon: 'bench' });
  server.method('echo', (p) => p);
  await server.listen();
  const client = new BusClient({ socketPath: sock, reconnect: false });
  await client.connect();
  const seq = await timeIt('tern bus, sequential', async () => { for (let i = 0; i < N; i++) await client.request('echo', { i }); });
  const pipe = await timeIt(`tern bus, ${CONCURRENCY} in flight`, () => pipelined((i) => client.request('echo', { i })));
  await client.close();
  await server.close();
  return { seq, pipe };
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tern-bench-bus-'));
try {
  const rssBefore = process.memoryUsage().rss;
  const b = await baseline(path.join(dir, 'base.sock'));
  const t = await tern(path.join(dir, 'tern.sock'));
  console.log(`bus: sequential ${(t.seq / b.seq * 100).toFixed(0)} % of baseline; pipelined ${(t.pipe / b.pipe * 100).toFixed(0)} % of baseline; RSS +${((process.memoryUsage().rss - rssBefore) / 1048576).toFixed(1)} MiB`);
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
