import t from 'tap';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { FakeClock } from '../../clock/index.js';
import { createUapiTransport } from './uapi-socket.js';

/** A UAPI server on a real Unix socket that answers each request with `answer`. */
async function server(t: { teardown(fn: () => unknown): void }, answer: (req: string, sock: net.Socket) => void): Promise<{ dir: string; requests: string[] }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tern-uapi-'));
  const requests: string[] = [];
  const srv = net.createServer((sock) => {
    let buf = '';
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      const end = buf.indexOf('\n\n');
      if (end >= 0) {
        requests.push(buf.slice(0, end + 2));
        answer(buf.slice(0, end + 2), sock);
        buf = buf.slice(end + 2);
      }
    });
    sock.on('error', () => {});
  });
  await new Promise<void>((r) => srv.listen(path.join(dir, 'tn0.sock'), r));
  t.teardown(() => new Promise<void>((r) => { srv.close(() => r()); fs.rmSync(dir, { recursive: true, force: true }); }));
  return { dir, requests };
}

t.test('reads a reply up to its blank line, split across writes', async (t) => {
  const { dir, requests } = await server(t, (_req, sock) => {
    sock.write('listen_port=1\npriv');
    setImmediate(() => sock.write('ate_key=00\n'));
    setImmediate(() => setImmediate(() => sock.write('errno=0\n')));
    setImmediate(() => setImmediate(() => setImmediate(() => sock.write('\ntrailing=ignored\n\n'))));
  });
  const uapi = createUapiTransport({ dir });
  const text = await uapi('tn0', 'get=1\n\n');
  t.equal(text, 'listen_port=1\nprivate_key=00\nerrno=0\n\n');
  t.same(requests, ['get=1\n\n'], 'the request arrives byte for byte');
});

t.test('the terminator split between two chunks is found', async (t) => {
  const { dir } = await server(t, (_req, sock) => {
    sock.write('errno=0\n');
    setImmediate(() => sock.write('\n'));
  });
  t.equal(await createUapiTransport({ dir })('tn0', 'set=1\n\n'), 'errno=0\n\n');
});

t.test('failures are TERN_E_KERNEL_WG_UAPI and never echo the request', async (t) => {
  const secret = 'private_key=' + 'ab'.repeat(32);
  const closes = await server(t, (_req, sock) => sock.end('errno=0\n'));
  await t.rejects(createUapiTransport({ dir: closes.dir })('tn0', `set=1\n${secret}\n\n`), {
    code: 'TERN_E_KERNEL_WG_UAPI',
    message: /^wireguard: uapi set tn0: connection closed before the reply ended/,
  });
  const big = await server(t, (_req, sock) => sock.write('x'.repeat(5000)));
  await t.rejects(createUapiTransport({ dir: big.dir, maxBytes: 4096 })('tn0', 'get=1\n\n'), {
    code: 'TERN_E_KERNEL_WG_UAPI', message: /reply exceeds 4096 bytes/,
  });
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'tern-uapi-'));
  t.teardown(() => fs.rmSync(empty, { recursive: true, force: true }));
  const err = await createUapiTransport({ dir: empty })('tn0', `set=1\n${secret}\n\n`).catch((e: Error) => e);
  t.match(err, { code: 'TERN_E_KERNEL_WG_UAPI', details: { errno: 'ENOENT' } });
  t.match((err as Error).message, /no UAPI socket \(is wireguard-go running for this interface\?\)/);
  t.notMatch((err as Error).message, secret, 'the request is not in the message');
  fs.writeFileSync(path.join(empty, 'tn1.sock'), '');
  await t.rejects(createUapiTransport({ dir: empty })('tn1', 'get=1\n\n'), { code: 'TERN_E_KERNEL_WG_UAPI' }, 'a plain file is no socket');
  await t.rejects(createUapiTransport({ dir: empty })('../etc', 'get=1\n\n'), { code: 'TERN_E_KERNEL_ARG' }, 'names are checked before building a path');
});

t.test('a silent peer times out on the injected clock', async (t) => {
  const { dir, requests } = await server(t, () => {});
  const clock = new FakeClock();
  const pending = createUapiTransport({ dir, clock, timeoutMs: 1000 })('tn0', 'get=1\n\n');
  const outcome = pending.then(() => 'resolved', (e: Error) => e.message);
  // Let the request reach the server (a bounded number of turns), then move time.
  for (let i = 0; i < 1000 && requests.length === 0; i++) await new Promise((r) => setImmediate(r));
  t.equal(requests.length, 1, 'the server got the request');
  clock.advance(999);
  t.equal(await Promise.race([outcome, new Promise((r) => setImmediate(() => r('pending')))]), 'pending', 'not timed out at 999 ms');
  clock.advance(1);
  t.match(await outcome, /no complete reply within 1000 ms/);
  t.equal(clock.pending(), 0, 'the timer is cleared');
});
