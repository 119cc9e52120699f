import t from 'tap';
import { PassThrough } from 'node:stream';
import { generatePresharedKey, generatePrivateKey } from '../kernel/index.js';
import { componentLogger, createLogger, type Logger } from './index.js';

/** A logger writing into a string, and the lines written so far. */
function capture(): { log: Logger; text(): string } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (b: Buffer) => { text += b.toString('utf8'); });
  return { log: createLogger({ name: 'test', level: 'debug', destination: stream }), text: () => text };
}

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

/** A secret whose base64 and base64url differ, so both forms are really tried. */
function urlDistinctKey(make: () => string): string {
  for (;;) {
    const k = make();
    if (/[+/]/.test(k)) return k;
  }
}

function encodings(key: string): Array<[string, string]> {
  const raw = Buffer.from(key, 'base64');
  return [
    ['base64', raw.toString('base64')],
    ['base64 unpadded', raw.toString('base64').replace(/=+$/, '')],
    ['base64url', raw.toString('base64url')],
    ['base64url padded', `${raw.toString('base64url')}=`],
    ['hex', raw.toString('hex')],
    ['HEX', raw.toString('hex').toUpperCase()],
  ];
}

// Issue #15: pino's redact paths stopped at depth 2 and matched names exactly.
t.test('by name: any case and spelling, at any depth', async (t) => {
  const unknown = 'not-a-key-but-a-secret-all-the-same';
  const names = ['privateKey', 'PrivateKey', 'PRIVATE_KEY', 'private_key', 'privatekey', 'private-key', 'presharedKey', 'PresharedKey', 'preshared_key', 'psk', 'secret', 'clientSecret', 'password', 'Password', 'token', 'enrolToken'];
  const wrap = (depth: number, name: string): Record<string, unknown> => {
    let v: Record<string, unknown> = { [name]: unknown };
    for (let i = 0; i < depth; i++) v = i % 2 ? { level: v } : { list: [v] };
    return v;
  };
  for (const name of names) {
    for (const depth of [0, 1, 2, 3, 6]) {
      const c = capture();
      c.log.info(wrap(depth, name), 'config loaded');
      await flush();
      t.notOk(c.text().includes(unknown), `${name} at depth ${depth}: got ${c.text().trim()}; want its value redacted`);
      t.match(c.text(), /\[redacted\]/, `${name} at depth ${depth}: the key stays, its value reads [redacted]`);
    }
  }
  const c = capture();
  c.log.info({ presharedKeyFile: '/var/lib/tern/keys/cloud.psk', hasPresharedKey: true, publicKey: 'yEmZ9YUSURDdEs5dQycM+X3KUk+KBvq6UFhiowFCTHU=', tokens: 12 }, 'kept');
  await flush();
  const line = JSON.parse(c.text()) as Record<string, unknown>;
  t.same([line.presharedKeyFile, line.hasPresharedKey, line.publicKey, line.tokens], ['/var/lib/tern/keys/cloud.psk', true, 'yEmZ9YUSURDdEs5dQycM+X3KUk+KBvq6UFhiowFCTHU=', 12], 'file names, flags, public keys and counts are not secrets');
});

// Issue #15: a key the process holds was logged as soon as it sat under another name, or in the message.
t.test('by value: every key this process generated, in every encoding, wherever it is', async (t) => {
  const keys = [['private key', urlDistinctKey(generatePrivateKey)], ['preshared key', urlDistinctKey(generatePresharedKey)]] as const;
  const places: Array<[string, (log: Logger, v: string) => void]> = [
    ['the message', (log, v) => log.info(`peer configured with ${v}`)],
    ['a neutral field', (log, v) => log.info({ blob: v }, 'x')],
    ['an array five levels down', (log, v) => log.warn({ a: { b: [{ c: { d: [v] } }] } }, 'x')],
    ['an error message', (log, v) => log.error({ err: new Error(`bad key ${v}`) }, 'x')],
    ['a child binding', (log, v) => componentLogger(log, 'c').child({ peer: v }).info('x')],
    ['printf arguments', (log, v) => log.info('peer %s up', v)],
  ];
  for (const [what, key] of keys) {
    for (const [enc, v] of encodings(key)) {
      for (const [where, write] of places) {
        const c = capture();
        write(c.log, v);
        await flush();
        t.notOk(c.text().includes(v), `${what} as ${enc} in ${where}: got ${c.text().trim()}; want it redacted`);
        t.match(c.text(), /\[redacted\]/, `${what} as ${enc} in ${where}: replaced by [redacted]`);
      }
    }
  }
  const c = capture();
  c.log.info({ note: 'a line without secrets', n: 3 }, 'plain');
  await flush();
  t.match(JSON.parse(c.text()), { note: 'a line without secrets', n: 3, msg: 'plain' }, 'other lines are untouched');
});
