import t from 'tap';
import { randomBytes } from 'node:crypto';
import { SecretSet, isSecretName, redactFields, redactedMark } from './index.js';

t.test('SecretSet: a secret in every encoding, and nothing else', async (t) => {
  let raw: Buffer;
  do raw = randomBytes(32); while (!/[+/]/.test(raw.toString('base64')));
  const stored = raw.toString('base64');
  const hex = raw.toString('hex');
  // Stored in any one form, it is recognised in all of them.
  for (const form of [stored, raw.toString('base64url'), hex, hex.toUpperCase()]) {
    const s = new SecretSet([form]);
    const written: Array<[string, string]> = [
      ['base64', stored], ['base64 unpadded', stored.replace(/=$/, '')], ['base64url', raw.toString('base64url')], ['base64url padded', `${raw.toString('base64url')}=`],
      ['hex', hex], ['HEX', hex.toUpperCase()], ['Mixed hex', hex.slice(0, 32) + hex.slice(32).toUpperCase()],
    ];
    for (const [enc, v] of written) {
      const got = s.redactText(`a ${v} b`);
      t.equal(got.text, `a ${redactedMark} b`, `stored as ${form.slice(0, 8)}..., written as ${enc}: got ${got.text}`);
      t.equal(got.count, 1);
    }
  }
  const s = new SecretSet([stored, 'short', 'an-enrolment-token-0123']);
  t.equal(s.size, 2, 'values under 16 characters are not secrets');
  t.equal(s.redactText('the token an-enrolment-token-0123 expired').text, `the token ${redactedMark} expired`, 'a text secret, as it is');
  t.equal(s.redactText('short and plain').text, 'short and plain');
  const other = randomBytes(32).toString('base64');
  t.equal(s.redactText(other).text, other, 'another key stays');
  t.equal(new SecretSet().redactText('x').count, 0, 'an empty set changes nothing');
});

t.test('isSecretName and redactFields: names in any case, at any depth; flags and paths kept', async (t) => {
  for (const n of ['privateKey', 'PrivateKey', 'PRIVATE_KEY', 'private-key', 'presharedKey', 'preshared_key', 'psk', 'secret', 'clientSecret', 'Password', 'etcdPasswd', 'token', 'enrolToken', 'passphrase']) t.ok(isSecretName(n), `${n} is a secret name`);
  for (const n of ['publicKey', 'privateKeyFile', 'presharedKeyFile', 'presharedKeyDigest', 'tokens', 'name', 'keysDir']) t.notOk(isSecretName(n), `${n} is not`);
  const cyclic: Record<string, unknown> = { PrivateKey: 'x'.repeat(44) };
  cyclic.self = cyclic;
  const input = { a: [{ b: { c: { d: { PRESHARED_KEY: 'p'.repeat(44), hasPresharedKey: true, count: 3, privateKey: null } } } }], m: new Map([['token', 'tttttttttttttttttttt']]), cyclic };
  const out = redactFields(input);
  t.equal(out.a[0]!.b.c.d.PRESHARED_KEY, redactedMark);
  t.equal(out.a[0]!.b.c.d.hasPresharedKey, true);
  t.equal(out.a[0]!.b.c.d.count, 3);
  t.equal(out.a[0]!.b.c.d.privateKey, null, 'an absent key stays visible as absent');
  t.equal(out.m.get('token'), redactedMark);
  t.equal((out.cyclic as Record<string, unknown>).PrivateKey, redactedMark);
  t.equal((out.cyclic as Record<string, unknown>).self, out.cyclic, 'cycles kept');
  t.equal(input.a[0]!.b.c.d.PRESHARED_KEY, 'p'.repeat(44), 'the input is not modified');
  const known = new SecretSet(['k'.repeat(20)]);
  t.same(redactFields({ note: `x ${'k'.repeat(20)} y` }, known), { note: `x ${redactedMark} y` }, 'with a SecretSet, values too');
});
