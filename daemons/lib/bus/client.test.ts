import t, { type Test } from 'tap';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { TernError, isTernError } from '../errors.js';
import { FakeClock } from '../clock/index.js';
import { BusServer } from './server.js';
import { BusClient, backoffDelay, defaultReconnect } from './client.js';
import { deferred, tempSocketDir, until } from './testkit.js';

type Tap = Test;

/** The methods the test daemon declares, shared by server and client as a daemon would. */
type TestMethods = {
  'paths.list': { params: { site: string }; result: { paths: string[] } };
  'paths.count': { params: undefined; result: number };
  hang: { params: undefined; result: never };
  'fail.tern': { params: undefined; result: never };
};
type TestTopics = { 'paths.up': { path: string } };

function sockIn(t: Tap, name = 'testd.sock'): string {
  const { dir, cleanup } = tempSocketDir();
  t.teardown(cleanup);
  return path.join(dir, name);
}

async function startServer(t: Tap, socketPath: string): Promise<{ server: BusServer<TestMethods, TestTopics>; hung: Promise<void> }> {
  const server = new BusServer<TestMethods, TestTopics>({ socketPath, group: false });
  const hung = deferred();
  server
    .method('paths.list', (p) => ({ paths: [`${p.site}-a`, `${p.site}-b`] }), (p) => {
      if (typeof (p as { site?: unknown })?.site !== 'string') throw new Error('site: want a string');
      return p as { site: string };
    })
    .method('paths.count', () => 2)
    .method('hang', () => {
      hung.resolve();
      return new Promise<never>(() => {});
    })
    .method('fail.tern', () => {
      throw new TernError('TERN_E_PATHS', 'paths: runDir: got /nope; want an existing directory', { details: { runDir: '/nope' } });
    });
  await server.listen();
  t.teardown(() => server.close());
  return { server, hung: hung.promise };
}

function client(t: Tap, socketPath: string, over: Partial<ConstructorParameters<typeof BusClient>[0]> = {}): BusClient<TestMethods> {
  const c = new BusClient<TestMethods>({ socketPath, ...over });
  t.teardown(() => c.close());
  return c;
}

t.test('typed calls and untyped requests', async (t) => {
  const socketPath = sockIn(t);
  await startServer(t, socketPath);
  const c = client(t, socketPath);
  await c.connect();
  const list = await c.call('paths.list', { site: 'home' });
  t.same(list, { paths: ['home-a', 'home-b'] }, `call: got ${JSON.stringify(list)}`);
  const n: number = await c.call('paths.count');
  t.equal(n, 2, `call without params: got ${n}; want 2`);
  const ping = await c.request<{ daemon: string }>('rpc.ping');
  t.equal(ping.daemon, 'testd', `request: got ${JSON.stringify(ping)}`);
});

t.test('remote errors come back as TernError', async (t) => {
  const socketPath = sockIn(t);
  await startServer(t, socketPath);
  const c = client(t, socketPath);
  const cases: { name: string; run: () => Promise<unknown>; code: string; message?: RegExp }[] = [
    { name: 'handler TernError', run: () => c.call('fail.tern'), code: 'TERN_E_PATHS', message: /^paths: runDir: got \/nope/ },
    { name: 'unknown method', run: () => c.request('nope'), code: 'TERN_E_BUS_METHOD_NOT_FOUND', message: /nope/ },
    { name: 'validator plain Error', run: () => c.request('paths.list', { site: 1 }), code: 'TERN_E_BUS_INVALID_PARAMS', message: /site: want a string/ },
    { name: 'primitive params', run: () => c.request('paths.list', 5 as unknown as unknown[]), code: 'TERN_E_BUS_INVALID_PARAMS' },
    { name: 'request too large', run: () => c.request('paths.list', { site: 'x'.repeat(2 * 1024 * 1024) }), code: 'TERN_E_BUS_TOO_LARGE' },
  ];
  for (const cs of cases) {
    const err = await cs.run().then(() => undefined, (e: unknown) => e);
    t.ok(isTernError(err), `${cs.name}: got ${String(err)}; want a TernError`);
    t.equal((err as TernError).code, cs.code, `${cs.name}: got ${(err as TernError).code}; want ${cs.code}`);
    if (cs.message) t.match((err as Error).message, cs.message, `${cs.name}: got message ${(err as Error).message}`);
  }
  const err = await c.call('fail.tern').catch((e: unknown) => e as TernError);
  t.same(err.details, { runDir: '/nope' }, `details: got ${JSON.stringify(err.details)}`);
  const ok = await c.call('paths.count');
  t.equal(ok, 2, 'want the connection usable after errors');
});

t.test('timeout on fake time: TERN_E_BUS_TIMEOUT naming method and socket', async (t) => {
  const socketPath = sockIn(t);
  const { hung } = await startServer(t, socketPath);
  const clock = new FakeClock();
  const c = client(t, socketPath, { clock, timeoutMs: 2000 });
  await c.connect();
  const pending = c.call('hang').then(() => undefined, (e: unknown) => e);
  await hung;
  clock.advance(1999);
  let settled = false;
  void pending.then(() => { settled = true; });
  await new Promise((r) => setImmediate(r));
  t.equal(settled, false, 'at 1999 ms: want the request still pending');
  clock.advance(1);
  const err = await pending;
  t.ok(isTernError(err, 'TERN_E_BUS_TIMEOUT'), `got ${String(err)}; want TERN_E_BUS_TIMEOUT`);
  t.match((err as Error).message, 'hang', 'want the method named');
  t.match((err as Error).message, socketPath, 'want the socket named');
  const perCall = c.call('hang', undefined, { timeoutMs: 50 }).then(() => undefined, (e: unknown) => e);
  await new Promise((r) => setImmediate(r));
  clock.advance(50);
  t.ok(isTernError(await perCall, 'TERN_E_BUS_TIMEOUT'), 'per-call timeoutMs: want TERN_E_BUS_TIMEOUT after 50 ms');
  t.equal(await c.call('paths.count'), 2, 'want the connection usable after a timeout');
});

t.test('connection drop fails pending requests with TERN_E_BUS_CLOSED', async (t) => {
  const socketPath = sockIn(t);
  const { server, hung } = await startServer(t, socketPath);
  const c = client(t, socketPath, { reconnect: false });
  const pending = c.call('hang').then(() => undefined, (e: unknown) => e);
  await hung;
  await server.close();
  const err = await pending;
  t.ok(isTernError(err, 'TERN_E_BUS_CLOSED'), `got ${String(err)}; want TERN_E_BUS_CLOSED`);
  t.match((err as Error).message, /hang/, 'want the method named');
  await c.close();
  const afterClose = await c.request('rpc.ping').catch((e: unknown) => e);
  t.ok(isTernError(afterClose, 'TERN_E_BUS_CLOSED'), `request after close: got ${String(afterClose)}; want TERN_E_BUS_CLOSED`);
});

t.test('connect errors say what to check', async (t) => {
  const dir = path.dirname(sockIn(t));
  const missing = path.join(dir, 'missing.sock');
  const c1 = client(t, missing, { reconnect: false });
  const e1 = await c1.connect().catch((e: unknown) => e);
  t.ok(isTernError(e1, 'TERN_E_BUS_CONNECT'), `absent: got ${String(e1)}; want TERN_E_BUS_CONNECT`);
  t.match((e1 as Error).message, /is the daemon running\?/, `absent: got ${(e1 as Error).message}`);

  // A socket file nothing listens on: bind without listen.
  const refusedPath = path.join(dir, 'refused.sock');
  const holder = net.createServer();
  await new Promise<void>((r) => holder.listen(refusedPath, r));
  const stale = path.join(dir, 'stale.sock');
  fs.renameSync(refusedPath, stale);
  await new Promise<void>((r) => holder.close(() => r()));
  const c2 = client(t, stale, { reconnect: false });
  const e2 = await c2.connect().catch((e: unknown) => e);
  t.ok(isTernError(e2, 'TERN_E_BUS_CONNECT'), `refused: got ${String(e2)}; want TERN_E_BUS_CONNECT`);
  t.match((e2 as Error).message, /refused/, `refused: got ${(e2 as Error).message}`);

  const c3 = client(t, path.join(dir, 'y'.repeat(120)), { reconnect: false });
  const e3 = await c3.request('rpc.ping').catch((e: unknown) => e);
  t.ok(isTernError(e3, 'TERN_E_BUS_CONNECT'), `long path: got ${String(e3)}; want TERN_E_BUS_CONNECT`);
});

t.test('permission denied names group tern', { skip: process.getuid?.() !== 0 ? 'needs root to run a client as another user' : false }, async (t) => {
  const socketPath = sockIn(t);
  fs.chmodSync(path.dirname(socketPath), 0o755);
  await startServer(t, socketPath);
  const clientJs = path.join(path.dirname(fileURLToPath(import.meta.url)), 'client.js');
  const script = `
    import { BusClient } from ${JSON.stringify(clientJs)};
    const c = new BusClient({ socketPath: ${JSON.stringify(socketPath)}, reconnect: false });
    c.connect().then(() => console.log(JSON.stringify({ ok: true })), (e) => console.log(JSON.stringify({ code: e.code, message: e.message })));
  `;
  // Without tap's NODE_OPTIONS hooks, which would write to root's files as nobody.
  const child = spawn('env', ['-u', 'NODE_OPTIONS', process.execPath, '--input-type=module', '-e', script], {
    uid: 65534,
    gid: 65534,
    cwd: '/',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  await new Promise((r) => child.once('exit', r));
  const got = JSON.parse(out.trim() || '{}') as { code?: string; message?: string };
  t.equal(got.code, 'TERN_E_BUS_CONNECT', `got ${out}; want TERN_E_BUS_CONNECT`);
  t.match(got.message ?? '', /permission denied: are you in group tern\?/, `got ${got.message}`);
});

t.test('subscriptions: delivery, unsubscribe, subscribe before connect', async (t) => {
  const socketPath = sockIn(t);
  const { server } = await startServer(t, socketPath);
  const c = client(t, socketPath);
  const early: unknown[] = [];
  await c.subscribe(['paths.*'], (p, topic) => { early.push([topic, p]); });
  t.equal(server.stats().subscribers, 0, 'not connected yet: want no subscriber on the server');
  await c.connect();
  t.equal(server.stats().subscribers, 1, 'after connect: want the early subscription applied');

  const exact: unknown[] = [];
  const unsubscribe = await c.subscribe(['paths.up'], (p) => { exact.push(p); });
  server.publish('paths.up', { path: 'p1' });
  await until(() => early.length === 1 && exact.length === 1, 'both subscriptions get paths.up');
  t.same(early, [['paths.up', { path: 'p1' }]], `wildcard: got ${JSON.stringify(early)}`);
  t.same(exact, [{ path: 'p1' }], `exact: got ${JSON.stringify(exact)}`);

  await unsubscribe();
  await unsubscribe();
  server.publish('paths.up', { path: 'p2' });
  await until(() => early.length === 2, 'wildcard still gets paths.up');
  t.same(exact, [{ path: 'p1' }], `after unsubscribe: got ${JSON.stringify(exact)}; want no new notification`);

  // A throwing handler is logged, never crashes the client.
  await c.subscribe(['paths.up'], () => { throw new Error('handler bug'); });
  server.publish('paths.up', { path: 'p3' });
  await until(() => early.length === 3, 'delivery continues past a throwing handler');
  t.equal(await c.call('paths.count'), 2, 'want the client usable');

  await t.rejects(c.subscribe(['bad*pattern'], () => {}), { name: 'TernError', code: 'TERN_E_BUS_USAGE' }, 'bad pattern: want TERN_E_BUS_USAGE');
});

t.test('server restart: the client reconnects and re-subscribes', async (t) => {
  const socketPath = sockIn(t);
  const first = await startServer(t, socketPath);
  const c = client(t, socketPath, { reconnect: { initialMs: 5, maxMs: 50 } });
  const got: unknown[] = [];
  await c.subscribe(['paths.*'], (p) => { got.push(p); });
  let connects = 0;
  const reasons: string[] = [];
  c.on('connected', () => { connects++; });
  c.on('disconnected', (reason) => { reasons.push(reason.code); });
  await c.connect();
  first.server.publish('paths.up', { path: 'before' });
  await until(() => got.length === 1, 'notification before the restart');

  await first.server.close();
  await until(() => reasons.length === 1, 'client notices the restart');
  t.same(reasons, ['TERN_E_BUS_CLOSED'], `disconnected reasons: got ${JSON.stringify(reasons)}; want one TERN_E_BUS_CLOSED`);
  const down = await c.request('rpc.ping').catch((e: unknown) => e);
  t.ok(isTernError(down, 'TERN_E_BUS_CONNECT'), `request while down: got ${String(down)}; want TERN_E_BUS_CONNECT`);

  const second = await startServer(t, socketPath);
  await until(() => connects === 2, 'client reconnects');
  t.equal(second.server.stats().subscribers, 1, 'want the subscription restored on the new server');
  second.server.publish('paths.up', { path: 'after' });
  await until(() => got.length === 2, 'notification after the restart');
  t.same(got, [{ path: 'before' }, { path: 'after' }], `got ${JSON.stringify(got)}`);
});

t.test('reconnection backs off on the injected clock', async (t) => {
  const socketPath = sockIn(t);
  const clock = new FakeClock();
  const sockets: net.Socket[] = [];
  const c = client(t, socketPath, {
    clock,
    random: () => 0.5,
    reconnect: { initialMs: 100, maxMs: 400, factor: 2, jitter: 0.2 },
    connectSocket: (p) => {
      const s = net.createConnection(p);
      sockets.push(s);
      return s;
    },
  });
  const first = await c.connect().catch((e: unknown) => e);
  t.ok(isTernError(first, 'TERN_E_BUS_CONNECT'), `got ${String(first)}; want TERN_E_BUS_CONNECT`);
  const steps: [number, number][] = [[99, 1], [1, 2], [199, 2], [1, 3], [399, 3], [1, 4], [400, 5]];
  for (const [ms, want] of steps) {
    clock.advance(ms);
    // Each attempt is over (and the next one scheduled) once its socket has closed.
    await until(() => sockets.every((s) => s.closed), `attempt ${sockets.length} finished`);
    t.equal(sockets.length, want, `after +${ms} ms: got ${sockets.length} attempts; want ${want}`);
  }
  await startServer(t, socketPath);
  const connected = new Promise<void>((r) => c.once('connected', r));
  clock.advance(400);
  await connected;
  t.equal(await c.call('paths.count'), 2, 'want requests to work once connected');
});

t.test('backoffDelay', async (t) => {
  const o = defaultReconnect;
  const cases: [number, number, number][] = [
    [0, 0.5, 100], [1, 0.5, 200], [2, 0.5, 400], [10, 0.5, 5000], [0, 0, 80], [0, 1, 120], [10, 1, 5000], [10, 0, 4000],
  ];
  for (const [attempt, r, want] of cases) {
    const got = backoffDelay(attempt, o, () => r);
    t.equal(got, want, `attempt ${attempt}, random ${r}: got ${got}; want ${want}`);
  }
});

t.test('options are checked', async (t) => {
  const bad: [string, object][] = [
    ['timeoutMs 0', { timeoutMs: 0 }],
    ['maxMessageBytes -1', { maxMessageBytes: -1 }],
    ['factor below 1', { reconnect: { factor: 0.5 } }],
    ['maxMs below initialMs', { reconnect: { initialMs: 10, maxMs: 5 } }],
  ];
  for (const [name, over] of bad) {
    t.throws(() => new BusClient({ socketPath: '/x.sock', ...over }), { name: 'TernError', code: 'TERN_E_BUS_USAGE' }, `${name}: want TERN_E_BUS_USAGE`);
  }
});

/** Keep this process's event loop busy for ms (a slow box, a long synchronous start-up). */
function blockLoop(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) { /* busy */ }
}

t.test('a loop blocked past the deadline does not turn a connect that succeeded into a timeout', async (t) => {
  const socketPath = sockIn(t);
  await startServer(t, socketPath);
  const c = client(t, socketPath, { connectTimeoutMs: 20, reconnect: false });
  const connecting = c.connect().then(() => 'connected', (e: unknown) => String(e));
  // The kernel completes a Unix socket connect at once (the listener's
  // backlog); only this loop is late to see it.
  blockLoop(150);
  t.equal(await connecting, 'connected', 'want connected: the connect completed within 20 ms, the loop just read it late');
  t.equal(await c.call('paths.count'), 2, 'want the connection usable');
});

t.test('a loop blocked past the deadline does not turn a reply that arrived into a timeout', async (t) => {
  const socketPath = sockIn(t);
  // The daemon in another process, so it answers while this loop is blocked.
  const server = spawn(process.execPath, ['-e', `
    const net = require('node:net');
    net.createServer((s) => {
      let buf = '';
      s.on('error', () => {});
      s.on('data', (d) => {
        buf += d;
        let i;
        while ((i = buf.indexOf('\\n')) >= 0) {
          const req = JSON.parse(buf.slice(0, i)); buf = buf.slice(i + 1);
          s.write(JSON.stringify({ jsonrpc: '2.0', id: req.id, result: 'pong' }) + '\\n');
        }
      });
    }).listen(process.argv[1], () => console.log('ready'));
  `, socketPath], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => { server.kill(); });
  await new Promise<void>((resolve, reject) => {
    server.stdout.once('data', () => resolve());
    server.once('exit', (code) => reject(new Error(`test server exited ${code}`)));
  });
  const c = client(t, socketPath, { timeoutMs: 30, reconnect: false });
  await c.connect();
  // Sent from one check-phase callback (its microtasks write it) and the loop
  // blocked in the next, so the next loop turn meets the expired timer
  // before it polls for the reply.
  const answer = await new Promise<unknown>((resolve) => {
    setImmediate(() => resolve(c.request('ping').then((r) => r, (e: unknown) => String(e))));
    setImmediate(() => blockLoop(400));
  });
  t.equal(await answer, 'pong', 'want the reply that arrived while the loop was blocked, not TERN_E_BUS_TIMEOUT');
  // A daemon that really does not answer still times out.
  server.kill('SIGSTOP');
  t.teardown(() => { server.kill('SIGCONT'); });
  const never = await c.request('ping', undefined, { timeoutMs: 100 }).then(() => 'answered', (e: unknown) => e);
  t.ok(isTernError(never, 'TERN_E_BUS_TIMEOUT'), `got ${String(never)}; want TERN_E_BUS_TIMEOUT from a stopped daemon`);
});
