// The supervisor with a fake process table: adoption (and what must not be
// adopted), restart with backoff, reload, stop and shutdown.
import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isTernError } from '../../lib/errors.js';
import { silentLogger } from '../../lib/log/index.js';
import type { Child, CommandRunner, ProcessIo } from './proc.js';
import { LanServices, type Timers } from './services.js';
import { lanConfig } from './testkit.js';

interface FakeProc {
  argv: string[];
  startTime: string;
  alive: boolean;
  exit?: (code: number | null, signal: string | null) => void;
}

/** A process table: spawn makes a process that writes its pid file like dnsmasq, kill ends it. */
function fakeWorld(runDir: string, opts: { dieAtOnce?: string } = {}) {
  const procs = new Map<number, FakeProc>();
  const spawned: string[][] = [];
  const killed: Array<[number, string]> = [];
  let nextPid = 1000;
  let tick = 5000;
  const proc: ProcessIo = {
    spawn(argv) {
      const pid = nextPid++;
      const p: FakeProc = { argv: [...argv], startTime: String(tick++), alive: true };
      procs.set(pid, p);
      spawned.push([...argv]);
      const errCbs: Array<(l: string) => void> = [];
      if (opts.dieAtOnce) {
        setImmediate(() => { for (const cb of errCbs) cb(opts.dieAtOnce!); p.alive = false; p.exit?.(2, null); });
      } else {
        fs.writeFileSync(path.join(runDir, 'dnsmasq.pid'), `${pid}\n`);
      }
      const child: Child = {
        pid,
        onStderr: (cb) => { errCbs.push(cb); },
        onExit: (cb) => { p.exit = cb; },
        release: () => { p.exit = undefined; },
      };
      return child;
    },
    cmdline: async (pid) => { const p = procs.get(pid); return p?.alive ? p.argv : undefined; },
    startTime: async (pid) => { const p = procs.get(pid); return p?.alive ? p.startTime : undefined; },
    kill(pid, signal) {
      killed.push([pid, signal]);
      const p = procs.get(pid);
      if (p?.alive) { p.alive = false; p.exit?.(null, signal); }
    },
  };
  const scripts: string[] = [];
  const nft: CommandRunner = async (argv, input) => {
    scripts.push(`${argv.join(' ')}\n${input ?? ''}`);
    return { code: 0, stdout: '{"nftables": []}', stderr: '' };
  };
  // Fake time: timers fire only when the test says so.
  const pending: Array<{ at: number; fn: () => void }> = [];
  let now = 0;
  const timers: Timers = {
    now: () => now,
    setTimeout: (fn, ms) => { const h = { at: now + ms, fn }; pending.push(h); return h; },
    clearTimeout: (h) => { const i = pending.indexOf(h as (typeof pending)[number]); if (i >= 0) pending.splice(i, 1); },
  };
  const advance = async (ms: number): Promise<void> => {
    now += ms;
    for (const h of pending.filter((x) => x.at <= now)) { pending.splice(pending.indexOf(h), 1); h.fn(); }
    await new Promise((r) => setTimeout(r, 50));
  };
  /** A process as if left by an earlier edged, or by someone else. */
  const plant = (argv: string[]): number => {
    const pid = nextPid++;
    procs.set(pid, { argv, startTime: String(tick++), alive: true });
    return pid;
  };
  return { proc, nft, timers, procs, spawned, killed, scripts, advance, plant, pending };
}

function dirs(t: { teardown(fn: () => void): void }): { runDir: string; stateDir: string } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lansvc-unit-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  return { runDir: path.join(root, 'run'), stateDir: path.join(root, 'state') };
}

const make = (d: { runDir: string; stateDir: string }, w: ReturnType<typeof fakeWorld>) =>
  new LanServices({ ...d, log: silentLogger(), proc: w.proc, nft: w.nft, timers: w.timers, readyMs: 200 });

t.test('start spawns dnsmasq, writes its config and the record; a new LanServices adopts it', async (t) => {
  const d = dirs(t);
  fs.mkdirSync(d.runDir, { recursive: true });
  const w = fakeWorld(d.runDir);
  const a = make(d, w);
  await a.start(lanConfig());
  t.equal(w.spawned.length, 1, 'one spawn');
  t.match(fs.readFileSync(path.join(d.runDir, 'dnsmasq.conf'), 'utf8'), /^interface=eth1$/m);
  const s1 = a.status();
  t.ok(s1.running && !s1.adopted && s1.pid === 1000, `got ${JSON.stringify(s1)}`);
  t.match(w.scripts[0] ?? '', /add chain inet tern edge_dns_intercept/, 'intercept script loaded');
  await a.stop();
  t.same(w.killed, [], 'stop leaves dnsmasq running');
  const b = make(d, w);
  await b.start(lanConfig());
  t.equal(w.spawned.length, 1, `spawns after the restart: got ${w.spawned.length}; want 1 (adopted)`);
  const s2 = b.status();
  t.ok(s2.adopted && s2.pid === 1000, `got ${JSON.stringify(s2)}`);
  // An adopted dnsmasq that dies is seen by polling /proc and restarted.
  w.proc.kill(1000, 'SIGKILL');
  await w.advance(2000);
  t.equal(b.status().running, false, 'noticed the exit');
  await w.advance(1000);
  t.equal(w.spawned.length, 2, 'restarted after the first backoff (1 s)');
  t.equal(b.status().restarts, 1);
  await b.shutdown();
});

t.test('not adopted: a reused pid, another argv, another config', async (t) => {
  const cases = [
    { name: 'pid now runs something else', plant: (argv: string[]) => ['/usr/bin/sleep', '100'].concat(argv.slice(99)), hash: 'same', wantKilled: false },
    { name: 'same argv, older start time (a reused pid)', plant: (argv: string[]) => argv, hash: 'same', startTime: 'other', wantKilled: false },
    { name: 'our dnsmasq with another config', plant: (argv: string[]) => argv, hash: 'other', wantKilled: true },
  ];
  for (const k of cases) {
    const d = dirs(t);
    fs.mkdirSync(d.runDir, { recursive: true });
    const w = fakeWorld(d.runDir);
    // Learn the argv and hash a start writes, then plant a process and a record.
    const probe = make(d, w);
    await probe.start(lanConfig());
    const argv = w.spawned[0]!;
    const hash = probe.status().configHash!;
    await probe.shutdown();
    w.killed.length = 0;
    const pid = w.plant(k.plant(argv));
    const st = k.startTime ?? w.procs.get(pid)!.startTime;
    fs.writeFileSync(path.join(d.runDir, 'dnsmasq.state.json'), JSON.stringify({ pid, startTime: st, hash: k.hash === 'same' ? hash : 'feedbeef' }));
    const s = make(d, w);
    await s.start(lanConfig());
    t.equal(s.status().adopted, false, `${k.name}: adopted`);
    t.equal(w.spawned.length, 2, `${k.name}: spawned a new dnsmasq`);
    t.same(w.killed.map(([p]) => p), k.wantKilled ? [pid] : [], `${k.name}: killed ${JSON.stringify(w.killed)}`);
    await s.shutdown();
  }
});

t.test('reload restarts only on a config change', async (t) => {
  const d = dirs(t);
  fs.mkdirSync(d.runDir, { recursive: true });
  const w = fakeWorld(d.runDir);
  const s = make(d, w);
  await s.start(lanConfig());
  await s.reload(lanConfig({ intercept: true }));
  t.equal(w.spawned.length, 1, 'intercept is not dnsmasq config: no restart');
  t.match(w.scripts.at(-1) ?? '', /redirect to :53/, 'intercept chain loaded');
  const c = lanConfig();
  c.lan.dhcp!.leaseSec = 7200;
  await s.reload(c);
  t.equal(w.spawned.length, 2, 'lease time changed: restarted');
  t.same(w.killed, [[1000, 'SIGTERM']], 'old one terminated');
  await s.reload(lanConfig({ dhcp: false, dns: false }));
  t.equal(s.status().running, false, 'nothing to serve: stopped');
  t.equal(fs.existsSync(path.join(d.runDir, 'dnsmasq.state.json')), false, 'record removed');
  await s.shutdown();
});

t.test('backoff doubles while dnsmasq keeps dying, and a start that dies at once throws', async (t) => {
  const d = dirs(t);
  fs.mkdirSync(d.runDir, { recursive: true });
  const w = fakeWorld(d.runDir, { dieAtOnce: 'dnsmasq: failed to create listening socket for port 53: Address in use' });
  const s = make(d, w);
  try {
    await s.start(lanConfig());
    t.fail('got a start; want TERN_E_LAN_DNSMASQ');
  } catch (err) {
    t.ok(isTernError(err, 'TERN_E_LAN_DNSMASQ'), `got ${String(err)}`);
    t.match((err as Error).message, /Address in use/, 'dnsmasq\'s words in the error');
  }
  const delays: number[] = [];
  for (let i = 0; i < 7; i++) {
    delays.push(w.pending[0] ? w.pending[0].at - w.timers.now() : -1);
    await w.advance(w.pending[0]?.at ? w.pending[0].at - w.timers.now() : 0);
    await new Promise((r) => setTimeout(r, 20));
  }
  t.same(delays, [1000, 2000, 4000, 8000, 16000, 30000, 30000], `got ${delays}`);
  t.match(s.status().problems.join(" "), /exited/, `problems: got ${s.status().problems}`);
  await s.shutdown();
  t.equal(w.pending.length, 0, 'shutdown cancels the restart');
});

t.test('leases(): the lease file, hostile lines skipped and reported', async (t) => {
  const d = dirs(t);
  const w = fakeWorld(d.runDir);
  const s = make(d, w);
  t.same(await s.leases(), [], 'no lease file yet: no leases');
  fs.mkdirSync(d.stateDir, { recursive: true });
  fs.writeFileSync(path.join(d.stateDir, 'dnsmasq.leases'), '1765200000 52:54:00:aa:00:01 10.10.0.101 laptop *\n1765200000 52:54:00:aa:00:02 10.10.0.102 <script> *\n');
  const got = await s.leases();
  t.same(got.map((l) => l.address), ['10.10.0.101'], `got ${JSON.stringify(got)}`);
  t.match(s.status().problems.join(' '), /1 line\(s\) skipped, first at line 2: hostname is not one DNS label/);
});
