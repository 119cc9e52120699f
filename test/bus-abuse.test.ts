// Regression test for issue #15, bus abuse: each connection could park
// 1 MiB of an unfinished line, with no cap on connections and no timeout;
// ~600 parked connections grew tern-probed from 132 to 693 MiB RSS, and it
// stayed there after they closed.
//
// A real daemon process (the runner's example daemon: the real runner, the
// real BusServer on a real socket, as every tern-* daemon opens it) takes
// 1000 connections at once, half parking 1 MiB - 1 byte (the old limit),
// half 48 KiB (under the per-request limit, so they stay parked until the
// memory cap, the timeout or a newcomer closes them). A BusClient with
// reconnect keeps calling the daemon throughout. Checked: connections
// accepted at once and memory held for unfinished messages stay under
// their caps (the daemon's own counters in daemon.status), the legitimate
// clients keep working, and RSS after the attackers closed is within 10 %
// of RSS before.
//
// RSS is read from /proc/<pid>/status. Before and after are both taken once
// the daemon has reclaimed memory after a spell of shedding (it does so by
// itself: a full collection and malloc_trim), so they compare like with
// like; a warm-up with one oversized request gives the first spell. Every
// wait is on a state (the daemon's counters, the attackers' sockets), with
// a bounded number of polls. Figures are printed as TAP comments.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { BusClient } from '../daemons/lib/bus/index.js';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const fixture = path.join(repo, 'dist/daemons/lib/runner/example.fixture.js');
const attackers = 1000;
const bigPark = 1024 * 1024 - 1;
const smallPark = 48 * 1024;
const maxConnections = 64;
const maxBufferedBytes = 1024 * 1024;
const mib = 1024 * 1024;

interface BusStats { connections: number; peakConnections: number; peakBufferedBytes: number; bufferedBytes: number; shedding: boolean; refusedConnections: number; evictedConnections: number; closedIncomplete: number; closedOverBuffer: number; closedTooLarge: number }
interface Status { health: string; warnings: { name: string }[]; bus?: BusStats; memory?: { rss: number; reclaims: number } }

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const fmt = (bytes: number): string => (bytes / mib).toFixed(1);

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`bus-abuse: /proc/${pid}/status has no VmRSS`);
  return Number(m[1]) * 1024;
}

/** Poll cond every 250 ms, at most tries times; returns whether it held. */
async function waitFor(cond: () => boolean | Promise<boolean>, tries = 240): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    if (await cond()) return true;
    await sleep(250);
  }
  return false;
}

/** One line without its newline: a request whose params never end. */
function parkedLine(bytes: number): Buffer {
  const head = Buffer.from('{"jsonrpc":"2.0","id":1,"method":"example.echo","params":{"pad":"');
  return Buffer.concat([head, Buffer.alloc(bytes - head.length, 0x61)]);
}

interface Attacker { socket: net.Socket; settled: Promise<void>; connected: boolean; toldWhy: string | undefined; closedByServer: boolean }

/** Connect and write payload without a newline; never read past the first line, never end. */
function attack(socketPath: string, payload: Buffer): Attacker {
  const socket = net.createConnection(socketPath);
  const a: Attacker = { socket, settled: Promise.resolve(), connected: false, toldWhy: undefined, closedByServer: false };
  a.settled = new Promise<void>((resolve) => {
    socket.on('connect', () => {
      a.connected = true;
      socket.write(payload, () => resolve());
    });
    socket.once('data', (d: Buffer) => {
      try { a.toldWhy = (JSON.parse(d.toString().split('\n')[0]!) as { error?: { data?: { code?: string } } }).error?.data?.code; } catch { a.toldWhy = 'unreadable'; }
    });
    socket.on('error', () => resolve());
    socket.on('close', () => { a.closedByServer = true; resolve(); });
  });
  return a;
}

const t0 = Date.now();
const mark = (what: string): void => { if (process.env.BUS_ABUSE_TRACE) console.error(`# ${((Date.now() - t0) / 1000).toFixed(1)} s: ${what}`); };

t.test('1000 connections parking unfinished messages: capped, legitimate clients served, RSS back within 10 %', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tern-bus-abuse-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const env = { ...process.env, TERN_ETC_DIR: path.join(dir, 'etc'), TERN_RUN_DIR: path.join(dir, 'run'), TERN_STATE_DIR: path.join(dir, 'state'), TERN_LOG_LEVEL: 'warn' };
  fs.mkdirSync(env.TERN_ETC_DIR, { recursive: true });
  fs.copyFileSync(path.join(repo, 'docs/examples/tern.yaml'), path.join(env.TERN_ETC_DIR, 'tern.yaml'));
  const daemon = spawn(process.execPath, [fixture], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  daemon.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exited = new Promise<void>((resolve) => daemon.on('exit', () => resolve()));
  t.teardown(async () => { daemon.kill('SIGKILL'); await exited; });
  const pid = daemon.pid!;
  const socketPath = path.join(env.TERN_RUN_DIR, 'example.sock');
  t.ok(await waitFor(() => fs.existsSync(path.join(env.TERN_RUN_DIR, 'example.ready'))), `the daemon got ready (stderr: ${stderr.slice(0, 300)})`);

  const legit = new BusClient({ socketPath, timeoutMs: 5000 });
  t.teardown(() => legit.close());
  await legit.connect();
  const status = (): Promise<Status> => legit.request<Status>('daemon.status');
  t.same(await legit.request('example.echo', { n: 0 }), { n: 0 }, 'the legitimate client is served before');

  // Warm-up: one oversized request is a spell of shedding; the reclaim
  // after it settles the daemon's memory, so before and after compare alike.
  const warm = attack(socketPath, Buffer.concat([parkedLine(70 * 1024), Buffer.from('"}}\n')]));
  await warm.settled;
  warm.socket.destroy();
  await waitFor(async () => { const m = (await status()).memory; return m === undefined || m.reclaims >= 1; });
  const before = rssOf(pid);
  mark('warmed up');

  // The attack, with the legitimate client calling all along and RSS sampled.
  let peak = before;
  let sampling = true;
  const sampler = (async () => { while (sampling) { peak = Math.max(peak, rssOf(pid)); await sleep(20); } })();
  let calls = 0;
  let failed = 0;
  let calling = true;
  const caller = (async () => {
    while (calling) {
      try { await legit.request('example.echo', { n: ++calls }); } catch { failed++; await sleep(50); }
    }
  })();
  const crowd = Array.from({ length: attackers }, (_, i) => attack(socketPath, parkedLine(i % 2 === 0 ? bigPark : smallPark)));
  let settledCount = 0;
  for (const a of crowd) void a.settled.then(() => { settledCount++; });
  t.ok(await waitFor(() => settledCount === attackers, 480), `got ${settledCount} of ${attackers} attackers settled; want every one connected and written, or refused, or closed`);
  const during = await status();
  mark('attackers settled');

  // A newcomer gets in while the attackers still hold their connections.
  const newcomer = new BusClient({ socketPath, timeoutMs: 5000, reconnect: false });
  let newcomerOk = false;
  for (let i = 0; i < 20 && !newcomerOk; i++) {
    try { await newcomer.request('rpc.ping'); newcomerOk = true; } catch { await sleep(100); }
  }
  await newcomer.close();
  mark('newcomer done');
  // The parked ones are closed by the daemon when their time is up, while
  // the legitimate client goes on calling.
  const timedOut = await waitFor(async () => { const b = (await status()).bus; return b === undefined || b.bufferedBytes === 0; });
  mark('parked connections timed out');
  calling = false;
  await caller;

  for (const a of crowd) a.socket.destroy();
  sampling = false;
  await sampler;
  const settledDown = await waitFor(async () => {
    const s = await status();
    return (s.bus === undefined || (s.bus.connections === 1 && !s.bus.shedding)) && (s.memory === undefined || s.memory.reclaims >= 2);
  });
  let after = rssOf(pid);
  mark('settled down');
  await waitFor(() => (after = rssOf(pid)) <= before * 1.1, 20);
  const end = await status();

  const told = new Map<string, number>();
  for (const a of crowd) if (a.toldWhy) told.set(a.toldWhy, (told.get(a.toldWhy) ?? 0) + 1);
  t.comment(`bus abuse: ${attackers} connections (half ${bigPark + 1} B, half ${smallPark} B unfinished): RSS before ${fmt(before)} MiB, during (peak) ${fmt(peak)} MiB, after ${fmt(after)} MiB (${((after / before - 1) * 100).toFixed(1)} %)`);
  t.comment(`bus abuse: connected ${crowd.filter((a) => a.connected).length}, told ${JSON.stringify(Object.fromEntries(told))}; daemon counters ${JSON.stringify(end.bus ?? 'none')}`);
  t.comment(`bus abuse: legitimate client: ${calls - failed} of ${calls} calls answered during the attack`);

  t.ok(settledDown, 'the daemon is back to its one legitimate connection, not shedding, and reclaimed memory');
  t.ok(after <= before * 1.1, `got RSS after ${fmt(after)} MiB; want within 10 % of ${fmt(before)} MiB before (peak ${fmt(peak)} MiB)`);
  t.ok(during.bus !== undefined, 'daemon.status reports the bus counters');
  const peakConnections = end.bus?.peakConnections ?? Number.NaN;
  const peakBuffered = end.bus?.peakBufferedBytes ?? Number.NaN;
  t.ok(peakConnections <= maxConnections, `got at most ${peakConnections} connections at once; want at most ${maxConnections}`);
  t.ok(peakBuffered <= maxBufferedBytes, `got at most ${peakBuffered} bytes held for unfinished messages; want at most ${maxBufferedBytes}`);
  t.ok((told.get('TERN_E_BUS_BUSY') ?? 0) > 0, `got ${told.get('TERN_E_BUS_BUSY') ?? 0} attackers told TERN_E_BUS_BUSY; want the ones over the limits told why`);
  t.ok(calls - failed > 0, `got ${calls - failed} of ${calls} calls answered during the attack; want the legitimate client served`);
  t.ok(newcomerOk, 'a new client connecting during the attack is served');
  t.ok(timedOut && (end.bus?.closedIncomplete ?? 0) > 0, `got ${end.bus?.closedIncomplete} connections closed for an unfinished message; want the parked ones closed by the daemon`);
  t.same(await legit.request('example.echo', { n: 'after' }), { n: 'after' }, 'the legitimate client is served after');
  t.equal(end.warnings.some((w) => w.name === 'bus.shedding'), false, 'the bus.shedding warning is cleared after');
});
