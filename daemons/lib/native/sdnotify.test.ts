// sdNotify end to end: a fresh node process with NOTIFY_SOCKET set sends the
// exact state bytes to a datagram socket, by path and by @abstract name.
// Node has no AF_UNIX datagram sockets, so socat is the receiver.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';

const loaderUrl = new URL('./index.js', import.meta.url).href;

type ChildOutcome = { result: boolean } | { code: string; message: string };

/** Calls sdNotify(state) in a fresh node whose NOTIFY_SOCKET is `socket` (unset when undefined). */
function notifyFromChild(socket: string | undefined, state: string): ChildOutcome {
  const env = { ...process.env };
  delete env.NOTIFY_SOCKET;
  if (socket !== undefined) env.NOTIFY_SOCKET = socket;
  const script = `import { loadNative } from ${JSON.stringify(loaderUrl)};
try { console.log(JSON.stringify({ result: loadNative().sdNotify(process.argv[1]) })); }
catch (err) { console.log(JSON.stringify({ code: err.code, message: err.message })); }`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script, state], { env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`sdnotify.test: child: got status ${r.status}, stderr ${r.stderr}; want 0`);
  return JSON.parse(r.stdout) as ChildOutcome;
}

/** A socat process bound to a datagram address, copying what it receives to stdout. */
interface Receiver {
  /** Resolves with everything received, once the first datagram arrived and socat exited. */
  received: Promise<Buffer>;
  stop(): void;
}

/** Starts socat on `address` (UNIX-RECV:<path> or ABSTRACT-RECV:<name>) and resolves once it is bound. */
function startReceiver(address: string): Promise<Receiver> {
  return new Promise((resolve, reject) => {
    // -d -d makes socat say "starting data transfer loop" once the socket is bound.
    const socat = spawn('socat', ['-d', '-d', '-u', address, 'STDOUT'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let stderr = '';
    let ready = false;
    const received = new Promise<Buffer>((resolveData) => {
      socat.stdout.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        // socat writes each datagram with one write; stop after the first and
        // collect whatever is still in flight before comparing.
        socat.kill('SIGTERM');
      });
      socat.on('close', () => resolveData(Buffer.concat(chunks)));
    });
    socat.on('error', (err) => reject(new Error(`sdnotify.test: spawn socat: ${err.message}; want socat installed (make deps)`)));
    socat.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (!ready && stderr.includes('starting data transfer loop')) {
        ready = true;
        resolve({ received, stop: () => socat.kill('SIGTERM') });
      }
    });
    socat.on('exit', (code) => {
      if (!ready) reject(new Error(`sdnotify.test: socat ${address}: exited ${code} before binding; stderr ${stderr}`));
    });
  });
}

t.test('sdNotify delivers the exact bytes to a path and to an @abstract name', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tern-sdnotify-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const abstractName = `tern-sdnotify-test-${process.pid}`;
  const state = 'READY=1\nSTATUS=paths 3/3 up \u2713\nMAINPID=4242';
  const cases = [
    { name: 'path', address: `UNIX-RECV:${path.join(dir, 'notify.sock')}`, socket: path.join(dir, 'notify.sock') },
    { name: 'abstract', address: `ABSTRACT-RECV:${abstractName}`, socket: `@${abstractName}` },
  ];
  for (const c of cases) {
    const receiver = await startReceiver(c.address);
    t.teardown(() => receiver.stop());
    const outcome = notifyFromChild(c.socket, state);
    t.same(outcome, { result: true }, `${c.name}: sdNotify with NOTIFY_SOCKET=${c.socket}: got ${JSON.stringify(outcome)}; want {"result":true}`);
    if (!('result' in outcome)) continue;
    const got = await receiver.received;
    const want = Buffer.from(state, 'utf8');
    t.ok(got.equals(want), `${c.name}: datagram bytes: got ${got.toString('hex')}; want ${want.toString('hex')} (${JSON.stringify(state)})`);
  }
});

t.test('sdNotify without NOTIFY_SOCKET returns false', async (t) => {
  const outcome = notifyFromChild(undefined, 'READY=1');
  t.same(outcome, { result: false }, `sdNotify with NOTIFY_SOCKET unset: got ${JSON.stringify(outcome)}; want {"result":false}`);
});

t.test('sdNotify failures throw TERN_E_NATIVE_IO with the reason', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tern-sdnotify-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const cases = [
    { socket: path.join(dir, 'nobody.sock'), want: 'No such file or directory (os error 2)' },
    { socket: `@tern-sdnotify-nobody-${process.pid}`, want: 'Connection refused (os error 111)' },
    { socket: 'relative/notify.sock', want: 'expected an absolute path or an @abstract name' },
    { socket: '', want: 'expected an absolute path or an @abstract name' },
    { socket: `/${'a'.repeat(200)}`, want: 'NOTIFY_SOCKET "/aaa' },
  ];
  for (const c of cases) {
    const outcome = notifyFromChild(c.socket, 'READY=1');
    const ok = 'code' in outcome && outcome.code === 'TERN_E_NATIVE_IO' && outcome.message.startsWith('native: sdNotify: ') && outcome.message.includes(c.want);
    t.ok(ok, `NOTIFY_SOCKET=${JSON.stringify(c.socket)}: got ${JSON.stringify(outcome)}; want TERN_E_NATIVE_IO "native: sdNotify: ..." containing ${JSON.stringify(c.want)}`);
  }
});
