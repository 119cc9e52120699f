import t, { type Test } from 'tap';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { Writable } from 'node:stream';
import { TernError } from '../errors.js';
import { FakeClock } from '../clock/index.js';
import { Health } from '../health/index.js';
import { createLogger } from '../log/index.js';
import { BusServer, sheddingWarning, type BusServerOptions } from './server.js';
import { BusClient } from './client.js';
import { invalidParams } from './protocol.js';
import { RawClient, deferred, tempSocketDir, until } from './testkit.js';

type Methods = {
  echo: { params: { text: string }; result: { text: string } };
  'fail.tern': { params: undefined; result: never };
  'fail.bug': { params: undefined; result: never };
  slow: { params: undefined; result: string };
  big: { params: undefined; result: string };
  blob: { params: { bytes: number }; result: string };
};

function echoParams(p: unknown): { text: string } {
  if (typeof p !== 'object' || p === null || typeof (p as { text?: unknown }).text !== 'string') {
    throw invalidParams('echo', 'want {"text": string}');
  }
  return p as { text: string };
}

/** A listening server with the test methods, torn down with the test. */
async function startServer(t: Tap, over: Partial<BusServerOptions> = {}): Promise<{ server: BusServer<Methods>; socketPath: string; slow: { started: Promise<AbortSignal>; release: () => void } }> {
  const { dir, cleanup } = tempSocketDir();
  const socketPath = path.join(dir, 'testd.sock');
  const server = new BusServer<Methods>({ socketPath, group: false, ...over });
  const started = deferred<AbortSignal>();
  const release = deferred();
  server
    .method('echo', (p) => ({ text: p.text }), echoParams)
    .method('fail.tern', () => {
      throw new TernError('TERN_E_CONFIG_KEY', 'config: wans[0].mtu: got 70000; want at most 9000', { details: { path: 'wans[0].mtu' } });
    })
    .method('fail.bug', () => {
      throw new Error('kaboom: private detail');
    })
    .method('slow', async (_p, ctx) => {
      started.resolve(ctx.signal);
      await release.promise;
      return 'done';
    })
    .method('big', () => 'x'.repeat(2 * 1024 * 1024))
    .method('blob', (p) => 'x'.repeat(p.bytes), (raw) => raw as { bytes: number });
  await server.listen();
  t.teardown(async () => {
    release.resolve();
    await server.close();
    cleanup();
  });
  return { server, socketPath, slow: { started: started.promise, release: () => release.resolve() } };
}

type Tap = Test;

async function raw(t: Tap, socketPath: string): Promise<RawClient> {
  const c = await RawClient.open(socketPath);
  t.teardown(() => c.destroy());
  return c;
}

async function ping(t: Tap, socketPath: string): Promise<void> {
  const c = await raw(t, socketPath);
  c.request({ jsonrpc: '2.0', id: 'p', method: 'rpc.ping' });
  const got = await c.next();
  t.equal(got?.result?.daemon, 'testd', `ping: got ${JSON.stringify(got)}; want a result naming daemon testd`);
  c.destroy();
}

t.test('request and response', async (t) => {
  const { socketPath } = await startServer(t);
  const c = await raw(t, socketPath);
  c.request({ jsonrpc: '2.0', id: 1, method: 'echo', params: { text: 'hi' } });
  const got = await c.next();
  t.same(got, { jsonrpc: '2.0', id: 1, result: { text: 'hi' } }, `got ${JSON.stringify(got)}`);
});

t.test('error replies', async (t) => {
  const { socketPath } = await startServer(t);
  const c = await raw(t, socketPath);
  const cases: { name: string; send: unknown; code: number; tern: string }[] = [
    { name: 'unknown method', send: { jsonrpc: '2.0', id: 1, method: 'nope' }, code: -32601, tern: 'TERN_E_BUS_METHOD_NOT_FOUND' },
    { name: 'invalid params', send: { jsonrpc: '2.0', id: 2, method: 'echo', params: { text: 5 } }, code: -32602, tern: 'TERN_E_BUS_INVALID_PARAMS' },
    { name: 'missing params', send: { jsonrpc: '2.0', id: 3, method: 'echo' }, code: -32602, tern: 'TERN_E_BUS_INVALID_PARAMS' },
    { name: 'handler TernError', send: { jsonrpc: '2.0', id: 4, method: 'fail.tern' }, code: -32000, tern: 'TERN_E_CONFIG_KEY' },
    { name: 'handler bug', send: { jsonrpc: '2.0', id: 5, method: 'fail.bug' }, code: -32603, tern: 'TERN_E_BUS_INTERNAL' },
    { name: 'wrong version', send: { jsonrpc: '1.0', id: 6, method: 'echo' }, code: -32600, tern: 'TERN_E_BUS_INVALID_REQUEST' },
    { name: 'string params', send: { jsonrpc: '2.0', id: 7, method: 'echo', params: 'hi' }, code: -32600, tern: 'TERN_E_BUS_INVALID_REQUEST' },
    { name: 'batch', send: [{ jsonrpc: '2.0', id: 8, method: 'echo' }], code: -32600, tern: 'TERN_E_BUS_INVALID_REQUEST' },
    { name: 'subscribe to a bad pattern', send: { jsonrpc: '2.0', id: 9, method: 'rpc.subscribe', params: { topics: ['a*b'] } }, code: -32602, tern: 'TERN_E_BUS_INVALID_PARAMS' },
  ];
  for (const cs of cases) {
    c.request(cs.send);
    const got = await c.next();
    t.equal(got?.error?.code, cs.code, `${cs.name}: got ${JSON.stringify(got)}; want code ${cs.code}`);
    t.equal(got?.error?.data?.code, cs.tern, `${cs.name}: got data ${JSON.stringify(got?.error?.data)}; want code ${cs.tern}`);
    t.type(got?.error?.message, 'string', `${cs.name}: want a message`);
  }
});

t.test('handler TernError keeps message and details; a bug leaks nothing', async (t) => {
  const { socketPath } = await startServer(t);
  const c = await raw(t, socketPath);
  c.request({ jsonrpc: '2.0', id: 1, method: 'fail.tern' });
  const tern = await c.next();
  t.same(tern.error, {
    code: -32000,
    message: 'config: wans[0].mtu: got 70000; want at most 9000',
    data: { code: 'TERN_E_CONFIG_KEY', details: { path: 'wans[0].mtu' } },
  }, `got ${JSON.stringify(tern)}`);
  c.request({ jsonrpc: '2.0', id: 2, method: 'fail.bug' });
  const bug = await c.next();
  const wire = JSON.stringify(bug);
  t.notMatch(wire, /kaboom|private|\bat\b|\.js:/, `got ${wire}; want no message or stack of the thrown error`);
});

t.test('weird ids and notifications from the client', async (t) => {
  const { socketPath } = await startServer(t);
  const c = await raw(t, socketPath);
  // Notifications get no reply, whether the method exists or not.
  c.request({ jsonrpc: '2.0', method: 'echo', params: { text: 'n' } });
  c.request({ jsonrpc: '2.0', method: 'nope' });
  c.request({ jsonrpc: '2.0', method: 'fail.bug' });
  c.request({ jsonrpc: '2.0', id: { x: 1 }, method: 'echo', params: { text: 'a' } });
  c.request({ jsonrpc: '2.0', id: 'str', method: 'echo', params: { text: 'b' } });
  c.request({ jsonrpc: '2.0', id: null, method: 'echo', params: { text: 'c' } });
  c.request({ jsonrpc: '2.0', id: 1.5, method: 'echo', params: { text: 'd' } });
  c.request({ jsonrpc: '2.0', id: 9, result: 'a response from a client is ignored' });
  const want = [
    { jsonrpc: '2.0', id: null, code: -32600 },
    { jsonrpc: '2.0', id: 'str', text: 'b' },
    { jsonrpc: '2.0', id: null, text: 'c' },
    { jsonrpc: '2.0', id: 1.5, text: 'd' },
  ];
  for (const w of want) {
    const got = await c.next();
    const view = { jsonrpc: got.jsonrpc, id: got.id, ...(got.error ? { code: got.error.code } : { text: got.result?.text }) };
    t.same(view, w, `got ${JSON.stringify(got)}; want ${JSON.stringify(w)}`);
  }
  c.request({ jsonrpc: '2.0', id: 'last', method: 'rpc.ping' });
  const last = await c.next();
  t.equal(last.id, 'last', `got ${JSON.stringify(last)}; want the ping reply next (no reply to notifications)`);
});

t.test('built-in methods', async (t) => {
  const { socketPath } = await startServer(t);
  const c = await raw(t, socketPath);
  c.request({ jsonrpc: '2.0', id: 1, method: 'rpc.ping' });
  const p = await c.next();
  t.equal(p.result.daemon, 'testd', `ping daemon: got ${p.result.daemon}; want testd`);
  t.equal(p.result.pid, process.pid, `ping pid: got ${p.result.pid}; want ${process.pid}`);
  t.type(p.result.uptimeMs, 'number', 'ping: want uptimeMs');
  c.request({ jsonrpc: '2.0', id: 2, method: 'rpc.methods' });
  const m = await c.next();
  const want = ['big', 'blob', 'echo', 'fail.bug', 'fail.tern', 'rpc.methods', 'rpc.ping', 'rpc.subscribe', 'rpc.unsubscribe', 'slow'];
  t.same(m.result.methods, want, `got ${JSON.stringify(m.result)}`);
});

t.test('method registration is checked', async (t) => {
  const server = new BusServer({ socketPath: '/nonexistent/x.sock' });
  server.method('a.b', () => 1);
  const cases: [string, string][] = [['a.b', 'twice'], ['rpc.mine', 'reserved'], ['', 'empty']];
  for (const [name, why] of cases) {
    t.throws(() => server.method(name, () => 1), { name: 'TernError', code: 'TERN_E_BUS_USAGE' }, `${why} name ${JSON.stringify(name)}: want TERN_E_BUS_USAGE`);
  }
  t.throws(() => server.publish('rpc.x', {}), { name: 'TernError', code: 'TERN_E_BUS_USAGE' }, 'publish on rpc.x: want TERN_E_BUS_USAGE');
  t.throws(() => server.publish('a', 5 as unknown as object), { name: 'TernError', code: 'TERN_E_BUS_USAGE' }, 'publish a number: want TERN_E_BUS_USAGE');
});

t.test('notifications reach subscribers only, wildcards too', async (t) => {
  const { server, socketPath } = await startServer(t);
  const exact = await raw(t, socketPath);
  const wild = await raw(t, socketPath);
  const none = await raw(t, socketPath);
  exact.request({ jsonrpc: '2.0', id: 1, method: 'rpc.subscribe', params: { topics: ['paths.up'] } });
  wild.request({ jsonrpc: '2.0', id: 1, method: 'rpc.subscribe', params: { topics: ['paths.*', 'paths.up'] } });
  const subExact = await exact.next();
  t.same(subExact.result, { topics: ['paths.up'] }, `exact subscribe: got ${JSON.stringify(subExact)}`);
  const subWild = await wild.next();
  t.same(subWild.result, { topics: ['paths.*', 'paths.up'] }, `wild subscribe: got ${JSON.stringify(subWild)}`);

  const upCount = server.publish('paths.up', { path: 'a' });
  const downCount = server.publish('paths.down', { path: 'b' });
  const otherCount = server.publish('metrics.round', { n: 1 });
  t.same([upCount, downCount, otherCount], [2, 1, 0], `publish counts: got ${[upCount, downCount, otherCount]}; want 2,1,0`);

  // A ping after the publishes: anything received before its reply was a notification.
  for (const c of [exact, wild, none]) c.request({ jsonrpc: '2.0', id: 'end', method: 'rpc.ping' });
  const drain = async (c: RawClient): Promise<unknown[]> => {
    const got: unknown[] = [];
    for (;;) {
      const m = await c.next();
      if (m.id === 'end') return got;
      got.push(m);
    }
  };
  const gotExact = await drain(exact);
  const gotWild = await drain(wild);
  const gotNone = await drain(none);
  t.same(gotExact, [{ jsonrpc: '2.0', method: 'paths.up', params: { path: 'a' } }], `exact: got ${JSON.stringify(gotExact)}`);
  t.same(gotWild, [
    { jsonrpc: '2.0', method: 'paths.up', params: { path: 'a' } },
    { jsonrpc: '2.0', method: 'paths.down', params: { path: 'b' } },
  ], `wildcard (one copy each despite two matching patterns): got ${JSON.stringify(gotWild)}`);
  t.same(gotNone, [], `unsubscribed: got ${JSON.stringify(gotNone)}; want nothing`);

  wild.request({ jsonrpc: '2.0', id: 2, method: 'rpc.unsubscribe', params: { topics: ['paths.*'] } });
  const unsub = await wild.next();
  t.same(unsub.result, { topics: ['paths.up'] }, `after unsubscribe: got ${JSON.stringify(unsub)}`);
  wild.request({ jsonrpc: '2.0', id: 3, method: 'rpc.unsubscribe' });
  const unsubAll = await wild.next();
  t.same(unsubAll.result, { topics: [] }, `after unsubscribe all: got ${JSON.stringify(unsubAll)}`);
  const after = server.publish('paths.up', { path: 'c' });
  t.equal(after, 1, `after unsubscribing: got ${after} recipients; want 1 (exact only)`);
});

t.test('garbage bytes get parse errors and the connection stays usable', async (t) => {
  const { socketPath } = await startServer(t);
  const c = await raw(t, socketPath);
  c.send(Buffer.concat([Buffer.from([0x00, 0xff, 0xfe, 0x0a]), Buffer.from('{not json\r\n\n\n"just a string"\n')]));
  const wants = [-32700, -32700, -32600];
  for (const want of wants) {
    const got = await c.next();
    t.equal(got.error?.code, want, `got ${JSON.stringify(got)}; want code ${want}`);
    t.equal(got.id, null, `got id ${got.id}; want null`);
  }
  c.request({ jsonrpc: '2.0', id: 1, method: 'echo', params: { text: 'still here' } });
  const ok = await c.next();
  t.equal(ok.result?.text, 'still here', `got ${JSON.stringify(ok)}; want the echo`);
});

t.test('half a message then disconnect', async (t) => {
  const { server, socketPath } = await startServer(t);
  const c = await raw(t, socketPath);
  c.send('{"jsonrpc":"2.0","id":1,"meth');
  await until(() => server.stats().connections === 1, 'server sees the connection');
  c.destroy();
  await until(() => server.stats().connections === 0, 'server drops the connection');
  await ping(t, socketPath);
});

t.test('a request then EOF still gets its reply', async (t) => {
  const { socketPath } = await startServer(t);
  const c = await raw(t, socketPath);
  c.request({ jsonrpc: '2.0', id: 1, method: 'echo', params: { text: 'eof' } });
  c.sock.end();
  const got = await c.next();
  t.equal(got.result?.text, 'eof', `got ${JSON.stringify(got)}; want the echo`);
  await c.closed;
});

t.test('1000 messages in one write', async (t) => {
  const { socketPath } = await startServer(t);
  const c = await raw(t, socketPath);
  const n = 1000;
  let batch = '';
  for (let i = 0; i < n; i++) batch += JSON.stringify({ jsonrpc: '2.0', id: i, method: 'echo', params: { text: `m${i}` } }) + '\n';
  c.send(batch);
  await c.waitLines(n);
  const bad = (c.lines as { id: number; result?: { text: string } }[]).filter((m) => m.result?.text !== `m${m.id}`);
  const ids = new Set((c.lines as { id: number }[]).map((m) => m.id));
  t.equal(ids.size, n, `got ${ids.size} distinct replies; want ${n}`);
  t.same(bad, [], `got mismatched replies ${JSON.stringify(bad.slice(0, 3))}`);
});

t.test('a message split byte by byte', async (t) => {
  const { socketPath } = await startServer(t);
  const c = await raw(t, socketPath);
  const bytes = Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 'bb', method: 'echo', params: { text: 'ünïcödé' } }) + '\r\n');
  for (const byte of bytes) {
    await new Promise<void>((resolve) => c.sock.write(Buffer.from([byte]), () => resolve()));
  }
  const got = await c.next();
  t.same(got, { jsonrpc: '2.0', id: 'bb', result: { text: 'ünïcödé' } }, `got ${JSON.stringify(got)}`);
});

t.test('a huge message closes that connection only, without buffering it', async (t) => {
  const max = 1024 * 1024;
  const { server, socketPath } = await startServer(t, { maxMessageBytes: max });
  const bystander = await raw(t, socketPath);
  const c = await raw(t, socketPath);
  const memBefore = process.memoryUsage();
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  const total = 50 * 1024 * 1024;
  let written = 0;
  while (written < total && !c.ended && !c.error) {
    const ok = await new Promise<boolean>((resolve) => c.sock.write(chunk, (err) => resolve(!err)));
    if (!ok) break;
    written += chunk.length;
  }
  await c.closed;
  const memAfter = process.memoryUsage();
  const growth = memAfter.arrayBuffers + memAfter.heapUsed - (memBefore.arrayBuffers + memBefore.heapUsed);
  t.ok(written < total, `got ${written} bytes accepted; want the server to close before 50 MiB`);
  t.ok(growth < 25 * 1024 * 1024, `got memory growth ${growth} bytes; want well under the 50 MiB sent`);
  const reply = c.lines[0] as { id: unknown; error?: { code: number; data?: { code: string } } } | undefined;
  t.equal(reply?.id, null, `got ${JSON.stringify(reply)}; want an error with id null`);
  t.equal(reply?.error?.code, -32001, `got code ${reply?.error?.code}; want -32001`);
  t.equal(reply?.error?.data?.code, 'TERN_E_BUS_TOO_LARGE', `got data ${JSON.stringify(reply?.error?.data)}`);
  t.equal(server.stats().closedTooLarge, 1, `got ${server.stats().closedTooLarge} closed for size; want 1`);
  bystander.request({ jsonrpc: '2.0', id: 1, method: 'echo', params: { text: 'fine' } });
  const other = await bystander.next();
  t.equal(other.result?.text, 'fine', `bystander: got ${JSON.stringify(other)}; want the echo`);
  await ping(t, socketPath);
});

t.test('a reply over the size limit becomes an error', async (t) => {
  const { socketPath } = await startServer(t);
  const c = await raw(t, socketPath);
  c.request({ jsonrpc: '2.0', id: 1, method: 'big' });
  const got = await c.next();
  t.equal(got.error?.data?.code, 'TERN_E_BUS_TOO_LARGE', `got ${JSON.stringify(got).slice(0, 200)}; want TERN_E_BUS_TOO_LARGE`);
});

t.test('client vanishing mid-request leaves the server fine', async (t) => {
  // With data still queued to it, a vanishing client breaks the connection
  // at once and the handler sees ctx.signal abort; without, the server only
  // sees EOF and finds out when the late reply cannot be delivered.
  for (const unread of [true, false]) {
    await t.test(unread ? 'with unread data' : 'clean close', async (t) => {
      const { server, socketPath, slow } = await startServer(t);
      const c = await raw(t, socketPath);
      if (unread) {
        c.request({ jsonrpc: '2.0', id: 0, method: 'rpc.subscribe', params: { topics: ['x'] } });
        await c.next();
      }
      c.request({ jsonrpc: '2.0', id: 1, method: 'slow' });
      const signal = await slow.started;
      if (unread) {
        // More than the client's stream buffer, so some stays unread in the kernel.
        c.sock.pause();
        for (let i = 0; i < 4; i++) server.publish('x', { pad: 'u'.repeat(250 * 1024) });
        await new Promise((r) => setTimeout(r, 10));
      }
      c.destroy();
      if (unread) await until(() => signal.aborted, 'the handler sees the abort');
      else await new Promise((r) => setTimeout(r, 10));
      slow.release();
      await until(() => server.stats().connections === 0, 'server drops the connection');
      t.equal(signal.aborted, true, 'want ctx.signal aborted once the connection is gone');
      await ping(t, socketPath);
    });
  }
});

t.test('socket file: mode, group, stale file, second instance, close', async (t) => {
  const { dir, cleanup } = tempSocketDir();
  t.teardown(cleanup);
  const socketPath = path.join(dir, 'sub', 'run', 'x.sock');
  const a = new BusServer({ socketPath, group: 4242 });
  await a.listen();
  const st = fs.statSync(socketPath);
  t.equal(st.mode & 0o777, 0o660, `mode: got ${(st.mode & 0o777).toString(8)}; want 660`);
  t.equal(st.gid, 4242, `gid: got ${st.gid}; want 4242`);
  t.ok(st.isSocket(), 'want a socket file');

  const b = new BusServer({ socketPath, group: false });
  await t.rejects(b.listen(), { name: 'TernError', code: 'TERN_E_BUS_LISTEN', message: /another instance/ }, 'second server on a live socket: want TERN_E_BUS_LISTEN naming another instance');
  await ping2(socketPath, t, 'the first server still answers after the second failed');

  await a.close();
  t.notOk(fs.existsSync(socketPath), 'close: want the socket file removed');
  await a.close();
});

// Issue 15: the daemons' units forbid chown (SystemCallFilter=~@privileged)
// and run with Group=tern, so the socket is born in its group: listen must
// then make no chown call at all, or the daemon fails to start.
t.test('socket file: no chown when the socket is born in its group', async (t) => {
  const { dir, cleanup } = tempSocketDir();
  t.teardown(cleanup);
  const calls: number[] = [];
  const chown = fsp.chown;
  fsp.chown = (async (p: fs.PathLike, uid: number, gid: number) => { calls.push(gid); return chown(p, uid, gid); }) as typeof fsp.chown;
  t.teardown(() => { fsp.chown = chown; });
  const own = process.getegid!();
  for (const [group, wantCalls] of [[own, 0], [own + 4242, 1]] as const) {
    calls.length = 0;
    const socketPath = path.join(dir, `g${group}.sock`);
    const server = new BusServer({ socketPath, group });
    await server.listen();
    const gid = fs.statSync(socketPath).gid;
    await server.close();
    t.equal(gid, group, `group ${group}: socket gid: got ${gid}; want ${group}`);
    t.equal(calls.length, wantCalls, `group ${group} (process group ${own}): chown calls: got ${calls.length} (${calls.join(', ')}); want ${wantCalls}`);
  }
});

async function ping2(socketPath: string, t: Tap, what: string): Promise<void> {
  const c = new BusClient({ socketPath, reconnect: false });
  try {
    const got = await c.request<{ pid: number }>('rpc.ping');
    t.equal(got.pid, process.pid, `${what}: got ${JSON.stringify(got)}`);
  } finally {
    await c.close();
  }
}

t.test('a stale socket file left by a dead process is replaced', async (t) => {
  const { dir, cleanup } = tempSocketDir();
  t.teardown(cleanup);
  const socketPath = path.join(dir, 'stale.sock');
  const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(socketPath)}, () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`child exited early with ${code}`)));
  });
  const exited = new Promise((r) => child.once('exit', r));
  process.kill(child.pid!, 'SIGKILL');
  await exited;
  t.ok(fs.lstatSync(socketPath).isSocket(), 'want the dead process to have left its socket file');
  const server = new BusServer({ socketPath, group: false });
  await server.listen();
  t.teardown(() => server.close());
  await ping2(socketPath, t, 'after replacing the stale socket');
});

t.test('listen refuses a path that is not a socket, and unknown groups', async (t) => {
  const { dir, cleanup } = tempSocketDir();
  t.teardown(cleanup);
  const file = path.join(dir, 'file.sock');
  fs.writeFileSync(file, 'not a socket');
  await t.rejects(new BusServer({ socketPath: file, group: false }).listen(), { name: 'TernError', code: 'TERN_E_BUS_LISTEN' }, 'regular file: want TERN_E_BUS_LISTEN');
  t.equal(fs.readFileSync(file, 'utf8'), 'not a socket', 'regular file: want it left alone');

  const groupFile = path.join(dir, 'group');
  fs.writeFileSync(groupFile, 'root:x:0:\ntern:x:4343:alice\n');
  const named = new BusServer({ socketPath: path.join(dir, 'g.sock'), group: 'nosuchgroup', groupFile });
  await t.rejects(named.listen(), { name: 'TernError', code: 'TERN_E_BUS_LISTEN', message: /nosuchgroup/ }, 'unknown group: want TERN_E_BUS_LISTEN naming it');

  const dflt = new BusServer({ socketPath: path.join(dir, 'd.sock'), groupFile });
  await dflt.listen();
  t.teardown(() => dflt.close());
  const gid = fs.statSync(path.join(dir, 'd.sock')).gid;
  t.equal(gid, 4343, `default group: got gid ${gid}; want 4343 (tern in the group file)`);

  const long = path.join(dir, 'x'.repeat(120) + '.sock');
  await t.rejects(new BusServer({ socketPath: long, group: false }).listen(), { name: 'TernError', code: 'TERN_E_BUS_LISTEN', message: /at most 107/ }, 'too long path: want TERN_E_BUS_LISTEN');
});

t.test('a subscriber that stops reading is dropped; others are not', async (t) => {
  const { server, socketPath } = await startServer(t, { maxMessageBytes: 128 * 1024, maxWriteBufferBytes: 256 * 1024 });
  const stuck = await raw(t, socketPath);
  stuck.request({ jsonrpc: '2.0', id: 1, method: 'rpc.subscribe', params: { topics: ['bulk'] } });
  await stuck.next();
  stuck.sock.pause();

  const healthy = new BusClient({ socketPath, reconnect: false, maxMessageBytes: 128 * 1024 });
  t.teardown(() => healthy.close());
  await healthy.connect();
  let received = 0;
  await healthy.subscribe(['bulk'], () => { received++; });

  const pad = 'x'.repeat(60 * 1024);
  let published = 0;
  for (let i = 0; i < 400 && server.stats().droppedSlowConsumers === 0; i++) {
    server.publish('bulk', { i, pad });
    published++;
    await until(() => received === published, `healthy subscriber gets notification ${i}`);
  }
  t.equal(server.stats().droppedSlowConsumers, 1, `got ${server.stats().droppedSlowConsumers} dropped; want 1 (the stuck one)`);
  t.ok(published < 400, `got ${published} publishes before the drop; want the drop to happen within bounds`);
  await until(() => server.stats().connections === 1, 'only the healthy connection remains');
  server.publish('bulk', { i: -1, pad: '' });
  await until(() => received === published + 1, 'healthy subscriber still receives');
  t.equal(healthy.connected, true, 'healthy subscriber: want still connected');
});

t.test('a connection with maxInFlight requests running is not read further', async (t) => {
  const { socketPath, slow } = await startServer(t, { maxInFlight: 1 });
  const c = await raw(t, socketPath);
  c.request({ jsonrpc: '2.0', id: 'slow', method: 'slow' });
  await slow.started;
  c.request({ jsonrpc: '2.0', id: 'echo', method: 'echo', params: { text: 'later' } });
  // Were the echo read while slow runs, its reply would come first.
  await new Promise((r) => setTimeout(r, 20));
  slow.release();
  const first = await c.next();
  const second = await c.next();
  t.same([first.id, second.id], ['slow', 'echo'], `got replies ${first.id}, ${second.id}; want slow then echo`);
});

t.test('subscriptions per connection are bounded', async (t) => {
  const { socketPath } = await startServer(t, { maxTopicsPerConnection: 2 });
  const c = await raw(t, socketPath);
  c.request({ jsonrpc: '2.0', id: 1, method: 'rpc.subscribe', params: { topics: ['a', 'b'] } });
  const ok = await c.next();
  t.same(ok.result, { topics: ['a', 'b'] }, `got ${JSON.stringify(ok)}`);
  c.request({ jsonrpc: '2.0', id: 2, method: 'rpc.subscribe', params: { topics: ['a', 'c'] } });
  const over = await c.next();
  t.equal(over.error?.code, -32602, `got ${JSON.stringify(over)}; want -32602`);
  c.request({ jsonrpc: '2.0', id: 3, method: 'rpc.subscribe', params: { topics: ['a'] } });
  const again = await c.next();
  t.same(again.result, { topics: ['a', 'b'] }, `resubscribing a held pattern: got ${JSON.stringify(again)}`);
});

// Limits against abuse (issue #15): a client must not be able to grow the
// daemon's memory or keep other clients out. Timeouts run on a FakeClock.

type Reply = { id: unknown; error?: { code: number; message: string; data?: { code: string } } };

/** The error line a connection closed by the server got, once it is closed. */
async function closedWith(c: RawClient): Promise<Reply | undefined> {
  await c.closed;
  return c.lines[0] as Reply | undefined;
}

function wantClosedWith(t: Tap, got: Reply | undefined, rpc: number, code: string, what: string): void {
  t.equal(got?.id, null, `${what}: got ${JSON.stringify(got)}; want an error with id null`);
  t.equal(got?.error?.code, rpc, `${what}: got JSON-RPC code ${got?.error?.code}; want ${rpc}`);
  t.equal(got?.error?.data?.code, code, `${what}: got ${got?.error?.data?.code}; want ${code}`);
}

/** Open a raw client and wait until the server counts it. */
async function counted(t: Tap, server: BusServer<Methods>, socketPath: string): Promise<RawClient> {
  const before = server.stats().connections;
  const c = await raw(t, socketPath);
  await until(() => server.stats().connections > before || c.ended, 'the server counts the connection');
  return c;
}

t.test('options for the limits are checked', async (t) => {
  const { dir, cleanup } = tempSocketDir();
  t.teardown(cleanup);
  const socketPath = path.join(dir, 'x.sock');
  const cases: { name: string; opts: Partial<BusServerOptions>; want: RegExp }[] = [
    { name: 'maxConnections 0', opts: { maxConnections: 0 }, want: /maxConnections is 0; want a positive integer/ },
    { name: 'maxRequestBytes over maxMessageBytes', opts: { maxMessageBytes: 1000, maxRequestBytes: 1001 }, want: /maxRequestBytes is 1001; want .* at most maxMessageBytes \(1000\)/ },
    { name: 'maxBufferedBytes under one request', opts: { maxRequestBytes: 1000, maxBufferedBytes: 1000 }, want: /maxBufferedBytes is 1000; want .* at least maxRequestBytes \+ 1 \(1001\)/ },
    { name: 'maxUnsentBytes under maxWriteBufferBytes', opts: { maxWriteBufferBytes: 2 << 20, maxUnsentBytes: 1 << 20 }, want: /maxUnsentBytes is 1048576; want .* at least maxWriteBufferBytes/ },
    { name: 'incompleteTimeoutMs 0', opts: { incompleteTimeoutMs: 0 }, want: /incompleteTimeoutMs is 0/ },
    { name: 'idleEvictMs fractional', opts: { idleEvictMs: 1.5 }, want: /idleEvictMs is 1.5/ },
  ];
  for (const c of cases) {
    t.throws(() => new BusServer({ socketPath, group: false, ...c.opts }), { code: 'TERN_E_BUS_USAGE', message: c.want }, `${c.name}: want TERN_E_BUS_USAGE matching ${c.want}`);
  }
  const small = new BusServer({ socketPath, group: false, maxMessageBytes: 1000 });
  t.ok(small, 'maxMessageBytes under 64 KiB: maxRequestBytes follows it down');
});

t.test('requests over maxRequestBytes (64 KiB by default) close the connection; replies may be larger', async (t) => {
  const { server, socketPath } = await startServer(t);
  const fits = await raw(t, socketPath);
  const text = 'y'.repeat(60 * 1024);
  fits.request({ jsonrpc: '2.0', id: 1, method: 'echo', params: { text } });
  const ok = await fits.next();
  t.equal(ok.result?.text?.length, text.length, `60 KiB request: got ${JSON.stringify(ok).slice(0, 120)}; want the echo`);
  fits.request({ jsonrpc: '2.0', id: 2, method: 'blob', params: { bytes: 512 * 1024 } });
  const blob = await fits.next();
  t.equal(blob.result?.length, 512 * 1024, `512 KiB reply: got ${String(blob.result?.length)} chars; want 524288`);
  const over = await raw(t, socketPath);
  over.request({ jsonrpc: '2.0', id: 3, method: 'echo', params: { text: 'z'.repeat(65 * 1024) } });
  wantClosedWith(t, await closedWith(over), -32001, 'TERN_E_BUS_TOO_LARGE', '65 KiB request');
  t.match(over.lines[0] as Reply, { error: { message: /passed 65536 bytes/ } }, 'the error names the limit');
  t.equal(server.stats().closedTooLarge, 1, `got ${server.stats().closedTooLarge} closed for size; want 1`);
});

t.test('connections over maxConnections are refused with TERN_E_BUS_BUSY; the others are untouched', async (t) => {
  const clock = new FakeClock();
  const { server, socketPath } = await startServer(t, { clock, maxConnections: 2 });
  const a = await counted(t, server, socketPath);
  const b = await counted(t, server, socketPath);
  const refused: RawClient[] = [];
  for (let i = 0; i < 5; i++) refused.push(await raw(t, socketPath));
  for (const [i, c] of refused.entries()) wantClosedWith(t, await closedWith(c), -32003, 'TERN_E_BUS_BUSY', `connection ${i + 3}`);
  t.match(refused[0]!.lines[0] as Reply, { error: { message: /limit of 2 connections/ } }, 'the error names the limit');
  const st = server.stats();
  t.equal(st.refusedConnections, 5, `got ${st.refusedConnections} refused; want 5`);
  t.equal(st.peakConnections, 2, `got a peak of ${st.peakConnections} connections; want 2`);
  for (const c of [a, b]) {
    c.request({ jsonrpc: '2.0', id: 'still', method: 'rpc.ping' });
    const got = await c.next();
    t.equal(got.result?.daemon, 'testd', `an accepted connection: got ${JSON.stringify(got)}; want its ping answered`);
  }
  a.destroy();
  await until(() => server.stats().connections === 1, 'a closes');
  const c = await counted(t, server, socketPath);
  c.request({ jsonrpc: '2.0', id: 'after', method: 'rpc.ping' });
  t.equal((await c.next()).id, 'after', 'a freed place is taken by the next connection');
});

t.test('at maxConnections a newcomer takes the place of the oldest unfinished message, else of a quiet connection', async (t) => {
  const clock = new FakeClock();
  const { server, socketPath } = await startServer(t, { clock, maxConnections: 3, idleEvictMs: 30_000 });
  const subscriber = await counted(t, server, socketPath);
  subscriber.request({ jsonrpc: '2.0', id: 's', method: 'rpc.subscribe', params: { topics: ['a'] } });
  await subscriber.next();
  const parkedOld = await counted(t, server, socketPath);
  parkedOld.send('{"jsonrpc":"2.0","id":1,');
  await until(() => server.stats().bufferedBytes > 0, 'the first partial message is held');
  clock.advance(10);
  const parkedNew = await counted(t, server, socketPath);
  parkedNew.send('{"jsonrpc":"2.0","id":2,');
  await until(() => server.stats().bufferedBytes >= 512, 'the second partial message is held');

  const newcomer1 = await raw(t, socketPath);
  wantClosedWith(t, await closedWith(parkedOld), -32003, 'TERN_E_BUS_BUSY', 'the oldest unfinished message');
  t.match(parkedOld.lines[0] as Reply, { error: { message: /gave its place.*still unfinished/ } });
  newcomer1.request({ jsonrpc: '2.0', id: 'n1', method: 'rpc.ping' });
  t.equal((await newcomer1.next()).id, 'n1', 'the newcomer is served');

  const newcomer2 = await raw(t, socketPath);
  wantClosedWith(t, await closedWith(parkedNew), -32003, 'TERN_E_BUS_BUSY', 'the next unfinished message');
  newcomer2.request({ jsonrpc: '2.0', id: 'n2', method: 'rpc.ping' });
  t.equal((await newcomer2.next()).id, 'n2', 'the second newcomer is served');

  // Nothing parked and nobody quiet long enough: refused.
  wantClosedWith(t, await closedWith(await raw(t, socketPath)), -32003, 'TERN_E_BUS_BUSY', 'no place to give');
  // Quiet long enough: the one quiet longest without a subscription goes,
  // never the subscriber.
  clock.advance(30_000);
  newcomer2.request({ jsonrpc: '2.0', id: 'busy', method: 'rpc.ping' });
  await newcomer2.next();
  const newcomer3 = await raw(t, socketPath);
  wantClosedWith(t, await closedWith(newcomer1), -32003, 'TERN_E_BUS_BUSY', 'the connection quiet longest');
  t.match(newcomer1.lines[0] as Reply, { error: { message: /quiet for 30\d\d\d ms with no subscription/ } });
  newcomer3.request({ jsonrpc: '2.0', id: 'n3', method: 'rpc.ping' });
  t.equal((await newcomer3.next()).id, 'n3', 'the third newcomer is served');
  t.equal(subscriber.ended, false, 'the subscriber: want still connected');
  const st = server.stats();
  t.same([st.evictedConnections, st.refusedConnections, st.peakConnections], [3, 1, 3], `got evicted/refused/peak ${st.evictedConnections}/${st.refusedConnections}/${st.peakConnections}; want 3/1/3`);
});

t.test('an unfinished message is given incompleteTimeoutMs, then the connection is closed', async (t) => {
  const clock = new FakeClock();
  const { server, socketPath } = await startServer(t, { clock, incompleteTimeoutMs: 5000 });
  const slowButOk = await counted(t, server, socketPath);
  const parked = await counted(t, server, socketPath);
  parked.send('{"jsonrpc":"2.0","id":1,"method":"rpc.ping"');
  slowButOk.send('{"jsonrpc":"2.0","id":"ok",');
  await until(() => server.stats().bufferedBytes === 512, 'both partial messages held');
  clock.advance(4000);
  slowButOk.send('"method":"rpc.ping"}\n');
  t.equal((await slowButOk.next()).id, 'ok', 'a message finished within the timeout is answered');
  clock.advance(999);
  t.equal(parked.ended, false, 'at 4999 ms: want the parked connection still open');
  clock.advance(1);
  wantClosedWith(t, await closedWith(parked), -32002, 'TERN_E_BUS_INCOMPLETE', 'at 5000 ms');
  t.match(parked.lines[0] as Reply, { error: { message: /begun 5000 ms ago is not finished \(\d+ bytes, no newline\)/ } });
  // The clock of the finished message was stopped: it is not closed later.
  clock.advance(10_000);
  slowButOk.request({ jsonrpc: '2.0', id: 'later', method: 'rpc.ping' });
  t.equal((await slowButOk.next()).id, 'later', 'the connection that finished its message stays open');
  const st = server.stats();
  t.same([st.closedIncomplete, st.bufferedBytes], [1, 0], `got closedIncomplete/bufferedBytes ${st.closedIncomplete}/${st.bufferedBytes}; want 1/0`);
});

t.test('memory for unfinished messages is capped across connections: the biggest holder is closed', async (t) => {
  const clock = new FakeClock();
  const { server, socketPath } = await startServer(t, { clock, maxRequestBytes: 4096, maxBufferedBytes: 4097 });
  const big = await counted(t, server, socketPath);
  big.send('{"jsonrpc":"2.0","id":1,"params":{"pad":"' + 'p'.repeat(3000));
  await until(() => server.stats().bufferedBytes === 4096, 'the big partial message held (4096 bytes of buffer)');
  const small = await counted(t, server, socketPath);
  small.send('{"jsonrpc":"2.0","id":"small",');
  wantClosedWith(t, await closedWith(big), -32003, 'TERN_E_BUS_BUSY', 'the biggest holder');
  t.match(big.lines[0] as Reply, { error: { message: /unfinished messages, over its limit of 4097/ } });
  small.send('"method":"rpc.ping"}\n');
  t.equal((await small.next()).id, 'small', 'the small holder finishes its message and is answered');
  const st = server.stats();
  t.equal(st.closedOverBuffer, 1, `got ${st.closedOverBuffer} closed over the buffer cap; want 1`);
  t.ok(st.peakBufferedBytes <= 4097, `got a peak of ${st.peakBufferedBytes} buffered bytes; want at most maxBufferedBytes (4097)`);
  t.equal(st.bufferedBytes, 0, `got ${st.bufferedBytes} bytes held after; want 0`);
});

t.test('a client that does not read its replies gets no more requests handled (back-pressure), and all replies once it reads', async (t) => {
  const { server, socketPath } = await startServer(t, { maxMessageBytes: 128 * 1024, maxWriteBufferBytes: 1024 * 1024 });
  const c = await raw(t, socketPath);
  c.sock.pause();
  const n = 1000;
  let requests = '';
  for (let i = 0; i < n; i++) requests += JSON.stringify({ jsonrpc: '2.0', id: i, method: 'blob', params: { bytes: 10 * 1024 } }) + '\n';
  // 1000 replies of 10 KiB are 10 MiB: handled all at once they would pass
  // maxWriteBufferBytes (1 MiB) and the client would be dropped.
  c.send(requests);
  await until(() => server.stats().unsentBytes > 128 * 1024, 'replies back up');
  for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
  const st = server.stats();
  t.ok(st.unsentBytes <= 1024 * 1024, `got ${st.unsentBytes} bytes waiting; want at most maxWriteBufferBytes`);
  t.equal(st.droppedSlowConsumers, 0, `got ${st.droppedSlowConsumers} dropped; want 0`);
  c.sock.resume();
  await c.waitLines(n);
  const ids = (c.lines as Reply[]).map((l) => l.id);
  t.same(ids, [...Array(n).keys()], `got ${ids.length} replies; want all ${n}, in order`);
});

t.test('bytes waiting across connections are capped: the connection with the most waiting is dropped', async (t) => {
  const cap = 4 * 1024 * 1024;
  const { server, socketPath } = await startServer(t, { maxMessageBytes: 128 * 1024, maxWriteBufferBytes: cap, maxUnsentBytes: cap });
  const stuck: RawClient[] = [];
  for (let i = 0; i < 4; i++) {
    const c = await raw(t, socketPath);
    c.request({ jsonrpc: '2.0', id: 1, method: 'rpc.subscribe', params: { topics: ['bulk'] } });
    await c.next();
    c.sock.pause();
    stuck.push(c);
  }
  const pad = 'x'.repeat(60 * 1024);
  let published = 0;
  for (let i = 0; i < 400 && server.stats().droppedSlowConsumers === 0; i++) {
    server.publish('bulk', { i, pad });
    published++;
    await new Promise((r) => setImmediate(r));
  }
  const st = server.stats();
  t.equal(st.droppedSlowConsumers, 1, `got ${st.droppedSlowConsumers} dropped; want 1 once ${cap} bytes wait across connections`);
  // Everything ever sent to one connection is under its own cap: the drop
  // came from the total.
  t.ok(published * pad.length < cap, `got the drop after ${published} notifications of ${pad.length} bytes; want it before any one connection could pass ${cap}`);
  t.ok(st.unsentBytes <= cap, `got ${st.unsentBytes} bytes waiting after; want at most ${cap}`);
  t.equal(st.connections, 3, `got ${st.connections} connections; want the 3 others kept`);
});

t.test('shedding raises bus.shedding, logs once per interval, and clears when it stops', async (t) => {
  const clock = new FakeClock();
  const health = new Health({ clock });
  const lines: { level: number; msg: string; shed?: Record<string, number> }[] = [];
  const destination = new Writable({ write(chunk: Buffer, _enc, done) { lines.push(JSON.parse(chunk.toString())); done(); } });
  const logger = createLogger({ name: 'test', level: 'info', destination });
  let ends = 0;
  const { server, socketPath } = await startServer(t, { clock, health, logger, maxConnections: 1, shedReportMs: 10_000, onSheddingEnd: () => { ends++; } });
  await counted(t, server, socketPath);
  const shedLines = (): typeof lines => lines.filter((l) => /shedding/.test(l.msg));
  for (let i = 0; i < 10; i++) await closedWith(await raw(t, socketPath));
  t.equal(shedLines().length, 1, `got ${shedLines().length} log lines for 10 refusals; want 1`);
  t.equal(health.get(sheddingWarning)?.severity, 'warning', `got ${JSON.stringify(health.get(sheddingWarning))}; want the warning raised`);
  t.equal(server.stats().shedding, true, 'stats: want shedding');
  clock.advance(10_000);
  const summary = shedLines()[1];
  t.same(summary?.shed, { refused: 9 }, `got summary ${JSON.stringify(summary)}; want the 9 further refusals summed`);
  t.ok(health.get(sheddingWarning), 'want the warning kept while shedding went on in the last interval');
  t.equal(ends, 0, `got onSheddingEnd called ${ends} times while shedding; want 0`);
  clock.advance(10_000);
  t.equal(ends, 1, `got onSheddingEnd called ${ends} times after a quiet interval; want 1`);
  t.equal(health.get(sheddingWarning), undefined, 'want the warning cleared after a quiet interval');
  t.equal(server.stats().shedding, false, 'stats: want not shedding');
  t.ok(lines.some((l) => l.msg === 'bus server: no longer shedding'), 'want the end of shedding logged');
  t.equal(clock.pending(), 0, `got ${clock.pending()} timers left; want 0`);
});

t.test('a BusClient with reconnect keeps working through parked connections', async (t) => {
  const clock = new FakeClock();
  const { server, socketPath } = await startServer(t, { clock, maxConnections: 4 });
  const client = new BusClient<Methods>({ socketPath, reconnect: { initialMs: 10, maxMs: 10 } });
  t.teardown(() => client.close());
  await client.connect();
  const attackers: RawClient[] = [];
  for (let i = 0; i < 20; i++) {
    const a = await raw(t, socketPath);
    a.send('{"jsonrpc":"2.0","pad":"' + 'q'.repeat(1000));
    attackers.push(a);
    const got = await client.call('echo', { text: `during ${i}` });
    t.equal(got.text, `during ${i}`, `call ${i} during the attack`);
  }
  t.ok(server.stats().peakConnections <= 4, `got a peak of ${server.stats().peakConnections} connections; want at most 4`);
  clock.advance(5000);
  await until(() => server.stats().connections === 1, 'every parked connection closed');
  t.equal((await client.call('echo', { text: 'after' })).text, 'after', 'after the attack');
  t.equal(server.stats().bufferedBytes, 0, 'nothing held after');
});
