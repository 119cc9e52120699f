import t from 'tap';
import { diffieHellman, createPrivateKey, createPublicKey } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  generatePresharedKey, generatePrivateKey, hexToKey, isKey, keyBytes, keyDigest, keyFromBytes, keyToHex, publicKeyOf, readKeyFile, redact,
} from './keys.js';

const hex2b64 = (h: string): string => Buffer.from(h, 'hex').toString('base64');

// RFC 7748 section 6.1 (X25519 Diffie-Hellman test vector).
const alicePriv = '77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a';
const alicePub = '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a';
const bobPriv = '5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb';
const bobPub = 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f';

t.test('publicKeyOf matches RFC 7748 section 6.1', async (t) => {
  for (const [priv, pub] of [[alicePriv, alicePub], [bobPriv, bobPub]] as const) {
    const got = keyToHex(publicKeyOf(hex2b64(priv)));
    t.equal(got, pub, `public of ${priv.slice(0, 8)}…: got ${got}; want ${pub}`);
  }
});

t.test('generated keys are clamped, valid, and agree on a shared secret', async (t) => {
  const seen = new Set<string>();
  for (let i = 0; i < 20; i++) {
    const k = generatePrivateKey();
    t.ok(isKey(k), `generated key: got ${k.length} characters; want a 44-character key`);
    const b = keyBytes(k);
    t.equal((b[0] as number) & 7, 0, 'low 3 bits clear');
    t.equal((b[31] as number) & 0xc0, 0x40, 'top bit clear, next set');
    seen.add(k);
  }
  t.equal(seen.size, 20, 'keys differ');
  const a = generatePrivateKey();
  const b = generatePrivateKey();
  const pkcs8 = (k: string) => createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b656e04220420', 'hex'), keyBytes(k)]), format: 'der', type: 'pkcs8' });
  const spki = (k: string) => createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b656e032100', 'hex'), keyBytes(k)]), format: 'der', type: 'spki' });
  const ab = diffieHellman({ privateKey: pkcs8(a), publicKey: spki(publicKeyOf(b)) });
  const ba = diffieHellman({ privateKey: pkcs8(b), publicKey: spki(publicKeyOf(a)) });
  t.ok(ab.equals(ba), 'X25519(a, pub(b)) = X25519(b, pub(a))');
  t.ok(isKey(generatePresharedKey()));
});

t.test('base64 <-> hex', async (t) => {
  t.equal(hexToKey(alicePub), hex2b64(alicePub));
  t.equal(keyToHex(hex2b64(alicePub)), alicePub);
  t.equal(hexToKey(alicePub.toUpperCase()), hex2b64(alicePub), 'upper-case hex is accepted');
  t.equal(keyFromBytes(Buffer.from(alicePub, 'hex')), hex2b64(alicePub));
  t.throws(() => hexToKey(alicePub.slice(2)), { code: 'TERN_E_KERNEL_ARG' });
  t.throws(() => hexToKey(`${alicePub.slice(1)}g`), { code: 'TERN_E_KERNEL_ARG' });
  t.throws(() => keyFromBytes(Buffer.alloc(31)), { code: 'TERN_E_KERNEL_ARG' });
});

t.test('isKey accepts only the canonical 44-character form', async (t) => {
  const good = hex2b64(alicePub);
  const cases: [unknown, boolean][] = [
    [good, true],
    [good.slice(0, 43), false],
    [`${good.slice(0, 43)}==`, false],
    [good.replace('=', 'A'), false],
    // A last character with its low bits set would decode to bits past the 32 bytes: not canonical.
    [`${good.slice(0, 42)}p=`, false],
    [`${good.slice(0, 42)}-=`, false],
    [Buffer.alloc(32).toString('base64url'), false],
    [42, false],
    [undefined, false],
  ];
  for (const [k, want] of cases) t.equal(isKey(k), want, `isKey(${JSON.stringify(k)}): got ${isKey(k)}; want ${want}`);
  t.throws(() => keyBytes('short'), /got 5 characters; want 44 characters/);
  const msg = (() => { try { keyBytes(`${good}x`); return ''; } catch (e) { return (e as Error).message; } })();
  t.notMatch(msg, good, 'the malformed key is not echoed in the error');
});

t.test('keyDigest is stable and does not contain the key', async (t) => {
  const raw = Buffer.from(alicePriv, 'hex');
  t.equal(keyDigest(raw), keyDigest(Buffer.from(raw)));
  t.not(keyDigest(raw), keyDigest(Buffer.from(bobPriv, 'hex')));
  t.notMatch(keyDigest(raw), alicePriv.slice(0, 16));
});

t.test('redact hides secrets wherever they are and keeps the rest', async (t) => {
  const priv = generatePrivateKey();
  const psk = generatePresharedKey();
  const cyclic: Record<string, unknown> = { name: 'c', privateKey: priv };
  cyclic.self = cyclic;
  const input = {
    ifname: 'tn0',
    privateKey: priv,
    peers: [
      { publicKey: publicKeyOf(priv), presharedKey: psk, allowedIps: ['10.0.0.0/24'] },
      { publicKey: 'x', presharedKey: undefined },
    ],
    nested: { deeper: { private_key: 'aa', preshared_key: null } },
    map: new Map<string, unknown>([['privateKey', priv], ['other', 1]]),
    cyclic,
  };
  const out = redact(input);
  const text = JSON.stringify({ ...out, map: [...out.map], cyclic: undefined });
  t.notMatch(text, priv, 'no private key in the output');
  t.notMatch(text, psk, 'no preshared key in the output');
  t.equal(out.privateKey, '[redacted]');
  t.equal(out.peers[0]!.presharedKey, '[redacted]');
  t.equal(out.peers[1]!.presharedKey, undefined, 'an absent key stays absent');
  t.equal(out.nested.deeper.private_key, '[redacted]');
  t.equal(out.nested.deeper.preshared_key, null, 'a null key stays null');
  t.equal(out.map.get('privateKey'), '[redacted]');
  t.equal(out.map.get('other'), 1);
  t.equal((out.cyclic as Record<string, unknown>).privateKey, '[redacted]');
  t.equal((out.cyclic as Record<string, unknown>).self, out.cyclic, 'cycles are kept, not followed forever');
  t.equal(out.peers[0]!.publicKey, publicKeyOf(priv), 'public keys are kept');
  t.equal(input.privateKey, priv, 'the input is not modified');
});

t.test('readKeyFile: a regular file, mode 600, one key; errors name the file and the reader, never the key', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tern-keys-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const key = generatePrivateKey();
  const file = (name: string, text: string, mode: number): string => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, text, { mode });
    fs.chmodSync(f, mode);
    return f;
  };
  const good = file('good.key', `${key}\n`, 0o600);
  t.equal(readKeyFile(good, 'paird: sync key'), key, 'the key, trimmed');
  t.equal(readKeyFile(file('owner-only.key', key, 0o400), 'x'), key, 'mode 400 is fine too');
  const cases: Array<{ name: string; file: string; want: RegExp }> = [
    { name: 'missing', file: path.join(dir, 'none.key'), want: /^paird: sync key: .*none\.key: cannot read: ENOENT/ },
    { name: 'a directory', file: dir, want: /is not a regular file/ },
    { name: 'group-readable', file: file('open.key', key, 0o640), want: /open\.key: mode 640 lets others read a secret; want 600 \(chmod 600 / },
    { name: 'not a key', file: file('junk.key', `${key.slice(0, 20)}\n`, 0o600), want: /junk\.key: does not hold a WireGuard key/ },
  ];
  for (const c of cases) {
    let err: unknown;
    try {
      readKeyFile(c.file, 'paird: sync key');
    } catch (e) {
      err = e;
    }
    const e = err as { code?: string; message?: string } | undefined;
    t.equal(e?.code, 'TERN_E_KEY_FILE', `${c.name}: code got ${e?.code}; want TERN_E_KEY_FILE`);
    t.match(e?.message ?? '', c.want, `${c.name}: got "${e?.message}"; want ${c.want}`);
    t.notMatch(e?.message ?? '', key.slice(0, 20), `${c.name}: the message does not carry the key`);
  }
});
