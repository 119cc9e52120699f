import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { createLogger } from '../log/index.js';
import { readKeyFile, userKeyPath, writeKeyFile } from './index.js';

// Issue #15: a key tunneld read from disk was logged as soon as it sat under a name the redaction did not know.
t.test('a key read from a key file is never logged, in any encoding', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tern-keys-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'cloud.psk');
  // Written by hand, as an operator would: the process never generated it.
  fs.writeFileSync(file, 'v1n2Qm0xO2c8/7wKgS4bP3H+Zt5lY6RzE8uJdA9fXkI=\n', { mode: 0o600 });
  const key = readKeyFile(file);
  const raw = Buffer.from(key, 'base64');
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (b: Buffer) => { text += b.toString('utf8'); });
  const log = createLogger({ name: 'test', destination: stream });
  for (const v of [key, raw.toString('base64url'), raw.toString('hex'), raw.toString('hex').toUpperCase()]) {
    text = '';
    log.info({ peer: { blob: v } }, `loaded ${v}`);
    await new Promise((r) => setImmediate(r));
    t.notOk(text.includes(v), `got ${text.trim()}; want ${v} redacted`);
  }
});

t.test('user key paths: only plain names, always inside the key store', async (t) => {
  const keys = '/var/lib/tern/keys';
  t.equal(userKeyPath(keys, 'alice'), '/var/lib/tern/keys/users/alice.key');
  for (const bad of ['../../../etc/ssl/private/foo', '..', 'a/b', 'Alice', '', 'x'.repeat(33), 'alice.key']) {
    t.throws(() => userKeyPath(keys, bad), { code: 'TERN_E_PATHS_NAME' }, `userKeyPath(${JSON.stringify(bad)}): want TERN_E_PATHS_NAME`);
  }
});

t.test('writeKeyFile: 0600 even where a world-readable file or temp file was left', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tern-keys-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'overlay.key');
  fs.writeFileSync(file, 'old\n', { mode: 0o644 });
  fs.writeFileSync(`${file}.${process.pid}.tmp`, 'stale\n', { mode: 0o644 });
  writeKeyFile(file, 'v1n2Qm0xO2c8/7wKgS4bP3H+Zt5lY6RzE8uJdA9fXkI=');
  t.equal(fs.statSync(file).mode & 0o777, 0o600, `got mode ${(fs.statSync(file).mode & 0o777).toString(8)}; want 600`);
  t.equal(readKeyFile(file), 'v1n2Qm0xO2c8/7wKgS4bP3H+Zt5lY6RzE8uJdA9fXkI=');
});
