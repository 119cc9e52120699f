import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { BusClient } from '../bus/index.js';
import { hangHookEnv, watchdogIntervalMs } from './index.js';

const repo = fileURLToPath(new URL('../../../../', import.meta.url));
const fixture = fileURLToPath(new URL('./example.fixture.js', import.meta.url));
const example = fs.readFileSync(path.join(repo, 'docs/examples/tern.yaml'), 'utf8');

interface Box { dir: string; env: NodeJS.ProcessEnv; config: string; runDir: string }

function box(t: Tap.Test): Box {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tern-runner-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const env = { ...process.env, TERN_ETC_DIR: path.join(dir, 'etc'), TERN_RUN_DIR: path.join(dir, 'run'), TERN_STATE_DIR: path.join(dir, 'state'), TERN_LOG_LEVEL: 'debug' };
  fs.mkdirSync(env.TERN_ETC_DIR!, { recursive: true });
  const config = path.join(env.TERN_ETC_DIR!, 'tern.yaml');
  fs.writeFileSync(config, example);
  return { dir, env, config, runDir: env.TERN_RUN_DIR! };
}

function start(b: Box, extra: NodeJS.ProcessEnv = {}): { child: ChildProcess; out: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [fixture], { env: { ...b.env, ...extra }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, out: () => out, exited };
}

// Waits on a state; the bound (60 s) only ends a run that will never get
// there: a daemon's start takes over 10 s on a 2-core box at load 30.
async function waitFor(cond: () => boolean, what: string, tries = 2400): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`runner.test: gave up waiting for ${what}`);
}

declare namespace Tap { type Test = import('tap').Test }

t.test('a daemon starts, serves its bus, reloads on SIGHUP, refuses bad configs and stops cleanly', async (t) => {
  const b = box(t);
  const d = start(b);
  t.teardown(() => { d.child.kill('SIGKILL'); });
  const ready = path.join(b.runDir, 'example.ready');
  await waitFor(() => fs.existsSync(ready), 'example.ready');
  t.equal(fs.readFileSync(path.join(b.runDir, 'example.pid'), 'utf8').trim(), String(d.child.pid));
  const sock = path.join(b.runDir, 'example.sock');
  t.equal(fs.statSync(sock).mode & 0o777, 0o660, 'socket mode 0660');

  const client = new BusClient({ socketPath: sock });
  await client.connect();
  t.teardown(() => client.close());
  const s1 = await client.request<{ daemon: string; configHash: string; health: string; reloads: number }>('daemon.status');
  t.equal(s1.daemon, 'example');
  t.equal(s1.health, 'ok');
  t.same(await client.request('example.echo', { a: 1 }), { a: 1 });

  // A valid change is applied on SIGHUP.
  fs.writeFileSync(b.config, example.replace('description: Head office, rack 1, PAIR member A', 'description: moved to rack 2'));
  d.child.kill('SIGHUP');
  await waitFor(() => d.out().includes('configuration applied'), 'reload log line');
  const s2 = await client.request<{ configHash: string; reloads: number }>('daemon.status');
  t.not(s2.configHash, s1.configHash, 'the hash changes with the config');
  t.equal(s2.reloads, 1, `got ${s2.reloads} reloads; want 1`);

  // A broken file is refused: the daemon keeps running on the previous config.
  fs.writeFileSync(b.config, example.replace('upMbps: 50', 'upMbps: fast'));
  d.child.kill('SIGHUP');
  await waitFor(() => d.out().includes('reload: refused'), 'refusal log line');
  const s3 = await client.request<{ configHash: string; health: string; warnings: Array<{ name: string; text: string }> }>('daemon.status');
  t.equal(s3.configHash, s2.configHash, 'a refused config leaves the running one');
  t.equal(s3.health, 'error');
  t.match(s3.warnings[0]?.text ?? '', /wans\[0\]\.upMbps/, 'the warning names the key path');

  // A config the daemon itself refuses is refused too, through the bus.
  fs.writeFileSync(b.config, example.replace('description: Head office, rack 1, PAIR member A', 'description: refuse'));
  const err = await client.request('daemon.reload').then(() => undefined, (e: unknown) => e as { code?: string; message?: string });
  t.ok(err, 'daemon.reload with a refused config fails');
  t.equal((await client.request<{ configHash: string }>('daemon.status')).configHash, s2.configHash);

  // Fixed again: the warning clears.
  fs.writeFileSync(b.config, example);
  await client.request('daemon.reload');
  const s4 = await client.request<{ health: string; configHash: string }>('daemon.status');
  t.equal(s4.health, 'ok');
  t.equal(s4.configHash, s1.configHash);

  d.child.kill('SIGTERM');
  t.equal(await d.exited, 0, 'SIGTERM exits 0');
  for (const f of ['example.sock', 'example.pid', 'example.ready']) {
    t.notOk(fs.existsSync(path.join(b.runDir, f)), `${f} removed at stop`);
  }
  t.notMatch(d.out(), /PRIVATE|privateKey"\s*:\s*"[A-Za-z0-9+/]{43}=/, 'no key material in logs');
});

// Issue 15: a reload must refuse a FIFO or an oversized file at once (before,
// SIGHUP with a FIFO there blocked the read for good) and keep the old config.
t.test('reload refuses a FIFO and a file over 1 MiB, and keeps the running config', async (t) => {
  const b = box(t);
  const d = start(b);
  t.teardown(() => { d.child.kill('SIGKILL'); });
  await waitFor(() => fs.existsSync(path.join(b.runDir, 'example.ready')), 'example.ready');
  const client = new BusClient({ socketPath: path.join(b.runDir, 'example.sock') });
  await client.connect();
  t.teardown(() => client.close());
  type Status = { configHash: string; health: string; reloads: number; warnings: Array<{ name: string; text: string }> };
  const s1 = await client.request<Status>('daemon.status');

  // SIGHUP with a FIFO where the config was.
  fs.rmSync(b.config);
  const made = spawnSync('mkfifo', [b.config]);
  t.equal(made.status, 0, `mkfifo: got ${made.status}; want 0`);
  d.child.kill('SIGHUP');
  await waitFor(() => d.out().includes('reload: refused'), 'refusal of the FIFO');
  const s2 = await client.request<Status>('daemon.status');
  t.equal(s2.configHash, s1.configHash, `configHash: got ${s2.configHash}; want the running ${s1.configHash}`);
  t.equal(s2.reloads, 0, `reloads: got ${s2.reloads}; want 0`);
  t.match(s2.warnings[0]?.text ?? '', /is a FIFO \(named pipe\)/, 'the warning says the config is a FIFO');

  // daemon.reload with a valid config padded past 1 MiB.
  fs.rmSync(b.config);
  fs.writeFileSync(b.config, `${example}# ${'x'.repeat(1024 * 1024)}\n`);
  const err = await client.request('daemon.reload').then(() => undefined, (e: unknown) => e as { code?: string; message?: string });
  t.match(err, { code: 'TERN_E_CONFIG_READ', message: /bytes, over the limit/ }, `got ${JSON.stringify(err)}; want TERN_E_CONFIG_READ over the limit`);
  const s3 = await client.request<Status>('daemon.status');
  t.equal(s3.configHash, s1.configHash, `configHash: got ${s3.configHash}; want the running ${s1.configHash}`);
  t.same(await client.request('example.echo', { still: 'serving' }), { still: 'serving' }, 'the daemon still serves its bus');

  // Back to a good file: applied, the warning clears.
  fs.writeFileSync(b.config, example.replace('description: Head office, rack 1, PAIR member A', 'description: after the refusals'));
  await client.request('daemon.reload');
  const s4 = await client.request<Status>('daemon.status');
  t.equal(s4.health, 'ok', `health: got ${s4.health}; want ok`);
  t.equal(s4.reloads, 1, `reloads: got ${s4.reloads}; want 1`);
});

t.test('start failures exit 1 and say what was wrong', async (t) => {
  const cases = [
    { name: 'missing config', prep: (b: Box) => fs.rmSync(b.config), env: {}, want: /TERN_E_CONFIG_READ|tern\.yaml/ },
    { name: 'invalid config', prep: (b: Box) => fs.writeFileSync(b.config, 'version: 1\nwans: 3\n'), env: {}, want: /wans/ },
    { name: 'start hook throws', prep: () => undefined, env: { TERN_EXAMPLE_FAIL_START: '1' }, want: /refusing to start/ },
  ];
  for (const c of cases) {
    const b = box(t);
    c.prep(b);
    const d = start(b, c.env);
    const code = await d.exited;
    t.equal(code, 1, `${c.name}: got exit ${code}; want 1`);
    t.match(d.out(), c.want, `${c.name}: the log says what was wrong`);
    t.notOk(fs.existsSync(path.join(b.runDir, 'example.sock')), `${c.name}: no socket left`);
  }
});

t.test('under systemd: READY, STATUS, WATCHDOG pings and STOPPING reach NOTIFY_SOCKET', async (t) => {
  const b = box(t);
  const sock = path.join(b.dir, 'notify.sock');
  const socat = spawn('socat', ['-u', `UNIX-RECV:${sock}`, 'STDOUT'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let got = '';
  socat.stdout.on('data', (d: Buffer) => { got += d.toString(); });
  t.teardown(() => { socat.kill('SIGTERM'); });
  await waitFor(() => fs.existsSync(sock), 'notify socket');
  const d = start(b, { NOTIFY_SOCKET: sock, WATCHDOG_USEC: '100000' });
  t.teardown(() => { d.child.kill('SIGKILL'); });
  await waitFor(() => (got.match(/WATCHDOG=1/g) ?? []).length >= 3, 'three watchdog pings');
  t.match(got, /READY=1/);
  t.match(got, new RegExp(`MAINPID=${d.child.pid}`));
  t.match(got, /STATUS=example: ok/);
  d.child.kill('SIGTERM');
  t.equal(await d.exited, 0);
  await waitFor(() => got.includes('STOPPING=1'), 'STOPPING=1');
  t.pass('STOPPING=1 sent');
});

t.test('watchdog interval follows WATCHDOG_USEC and WATCHDOG_PID', async (t) => {
  const cases: Array<{ env: NodeJS.ProcessEnv; want: number | undefined }> = [
    { env: {}, want: undefined },
    { env: { WATCHDOG_USEC: '20000000' }, want: 10000 },
    { env: { WATCHDOG_USEC: '20000000', WATCHDOG_PID: '1' }, want: undefined },
    { env: { WATCHDOG_USEC: '20000000', WATCHDOG_PID: '77' }, want: 10000 },
    { env: { WATCHDOG_USEC: 'soon' }, want: undefined },
    { env: { WATCHDOG_USEC: '-5' }, want: undefined },
  ];
  for (const c of cases) {
    const got = watchdogIntervalMs(c.env, 77);
    t.equal(got, c.want, `${JSON.stringify(c.env)}: got ${got}; want ${c.want}`);
  }
});

t.test('TERN_DEBUG_HANG=1: SIGUSR2 stops the event loop (the image test hangs a daemon with it)', async (t) => {
  const cases = [
    { name: 'armed', env: { [hangHookEnv]: '1' }, wantHang: true },
    { name: 'not armed', env: {}, wantHang: false },
  ];
  for (const c of cases) {
    const b = box(t);
    const sock = path.join(b.dir, 'notify.sock');
    const socat = spawn('socat', ['-u', `UNIX-RECV:${sock}`, 'STDOUT'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let got = '';
    socat.stdout.on('data', (d: Buffer) => { got += d.toString(); });
    t.teardown(() => { socat.kill('SIGTERM'); });
    await waitFor(() => fs.existsSync(sock), 'notify socket');
    const d = start(b, { ...c.env, NOTIFY_SOCKET: sock, WATCHDOG_USEC: '100000' });
    t.teardown(() => { d.child.kill('SIGKILL'); });
    await waitFor(() => (got.match(/WATCHDOG=1/g) ?? []).length >= 2, `${c.name}: two watchdog pings`);
    d.child.kill('SIGUSR2');
    if (!c.wantHang) {
      // Node's default for SIGUSR2 is to terminate: the hook must not be there.
      const code = await d.exited;
      t.equal(d.child.signalCode, 'SIGUSR2', `${c.name}: got exit ${code}/${d.child.signalCode}; want killed by SIGUSR2`);
      continue;
    }
    await new Promise((r) => setTimeout(r, 150));
    const before = (got.match(/WATCHDOG=1/g) ?? []).length;
    await new Promise((r) => setTimeout(r, 600));
    const after = (got.match(/WATCHDOG=1/g) ?? []).length;
    t.equal(after, before, `${c.name}: got ${after - before} watchdog pings after SIGUSR2; want 0`);
    t.equal(d.child.exitCode, null, `${c.name}: the process is still there`);
    d.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    t.equal(d.child.exitCode, null, `${c.name}: a hung loop does not even handle SIGTERM`);
    d.child.kill('SIGKILL');
    await d.exited;
  }
});
