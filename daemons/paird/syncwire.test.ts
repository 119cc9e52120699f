import t from 'tap';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import {
  decodeSync, deriveSyncKey, encodeSync, maxSyncBytes, syncHeaderBytes, syncMacBytes,
  type SyncBody, type SyncHeader, type SyncKey,
} from './syncwire.js';

// RFC 7748 section 6.1, Alice's private key: any fixed 32 bytes would do.
const siteKey = Buffer.from('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a', 'hex');
const key = deriveSyncKey(siteKey, 'office', 1);
const body: SyncBody = {
  site: 'office', box: 'office2', role: 'backup', priority: 100, lanAddress: '10.1.0.3', wans: [{ name: 'ispb', up: true }], intervalMs: 100,
};
const header: SyncHeader = { vrid: 1, boot: '0123456789abcdef', counter: 42, echoBoot: 'fedcba9876543210', echoCounter: 7 };
const expect = { key, vrid: 1, site: 'office' };

/** HKDF-SHA256 (RFC 5869) written out with HMAC, to check deriveSyncKey against the RFC rather than against itself. */
function hkdf(ikm: Buffer, salt: Buffer, info: Buffer, length: number): Buffer {
  const prk = createHmac('sha256', salt.length ? salt : Buffer.alloc(32)).update(ikm).digest();
  const out: Buffer[] = [];
  let prev = Buffer.alloc(0);
  for (let i = 1; Buffer.concat(out).length < length; i++) {
    prev = createHmac('sha256', prk).update(Buffer.concat([prev, info, Buffer.from([i])])).digest();
    out.push(prev);
  }
  return Buffer.concat(out).subarray(0, length);
}

/** Signs bytes as a sender with `k` would: for crafting datagrams the encoder refuses to make. */
const sign = (bytes: Buffer, k: SyncKey = key): Buffer =>
  Buffer.concat([bytes, createHmac('sha256', k.secret).update(bytes).digest().subarray(0, syncMacBytes)]);
/** The signed part of an encoded datagram. */
const unsigned = (b: Buffer): Buffer => Buffer.from(b.subarray(0, b.length - syncMacBytes));

t.test('deriveSyncKey: HKDF-SHA256 of the site key, bound to site and VRID', async (t) => {
  const want = hkdf(siteKey, Buffer.alloc(0), Buffer.from('tern pair-sync v2\0office\x001'), 32);
  t.equal(key.secret.toString('hex'), want.toString('hex'), 'RFC 5869 with info "tern pair-sync v2\\0<site>\\0<vrid>", no salt');
  // Pinned (Python's hmac module gives the same bytes): a change here breaks
  // pair sync between boxes of different versions.
  t.equal(key.secret.toString('hex'), '32dad2145bc50bacf0fd329fd9eaa001962820549478f2edb195001d62aaaefe', 'the derived key is stable across releases');
  t.equal(key.id, createHash('sha256').update('tern pair-sync key id\0').update(key.secret).digest('hex').slice(0, 8), 'key id: a hash of the derived key');
  t.not(key.secret.toString('hex'), siteKey.toString('hex'), 'not the site key itself');
  const others = [deriveSyncKey(siteKey, 'home', 1), deriveSyncKey(siteKey, 'office', 2), deriveSyncKey(randomBytes(32), 'office', 1)];
  for (const o of others) t.not(o.secret.toString('hex'), key.secret.toString('hex'), 'another site, VRID or site key: another key');
  const bad: Array<[string, () => unknown]> = [
    ['31-byte site key', () => deriveSyncKey(siteKey.subarray(1), 'office', 1)],
    ['empty site', () => deriveSyncKey(siteKey, '', 1)],
    ['vrid 0', () => deriveSyncKey(siteKey, 'office', 0)],
    ['vrid 256', () => deriveSyncKey(siteKey, 'office', 256)],
  ];
  for (const [name, fn] of bad) t.throws(fn, { code: 'TERN_E_PAIRD_ARG' }, name);
});

t.test('encodeSync: the bytes, field by field', async (t) => {
  const b = encodeSync(header, body, key);
  const json = Buffer.from(JSON.stringify(body));
  const want = Buffer.concat([
    Buffer.from('5450', 'hex'), Buffer.from([2, 1]), Buffer.from(key.id, 'hex'),
    Buffer.from('0123456789abcdef', 'hex'), Buffer.from('000000000000002a', 'hex'),
    Buffer.from('fedcba9876543210', 'hex'), Buffer.from('0000000000000007', 'hex'),
    json,
  ]);
  t.equal(b.length, syncHeaderBytes + json.length + syncMacBytes, `length: got ${b.length}; want 40 + ${json.length} + 16`);
  t.equal(unsigned(b).toString('hex'), want.toString('hex'), 'header then body');
  t.equal(b.toString('hex'), sign(want).toString('hex'), 'HMAC-SHA256 over everything before it, first 16 bytes');
  const none = encodeSync({ ...header, echoBoot: null, echoCounter: 0 }, body, key);
  t.equal(none.subarray(24, 40).toString('hex'), '0'.repeat(32), 'no echo: zeros');
  const cases: Array<[string, SyncHeader]> = [
    ['vrid 0', { ...header, vrid: 0 }],
    ['boot not hex', { ...header, boot: 'x123456789abcdef' }],
    ['boot zero', { ...header, boot: '0000000000000000' }],
    ['echo boot short', { ...header, echoBoot: 'abc' }],
    ['negative counter', { ...header, counter: -1 }],
    ['counter past 2^53', { ...header, counter: 2 ** 53 }],
  ];
  for (const [name, h] of cases) t.throws(() => encodeSync(h, body, key), { code: 'TERN_E_PAIRD_ARG' }, name);
  t.throws(() => encodeSync(header, { ...body, wans: Array.from({ length: 300 }, (_, i) => ({ name: `wan-with-a-long-name-${i}`, up: true })) }, key),
    { code: 'TERN_E_PAIRD_ARG' }, 'a body that would pass maxSyncBytes');
});

t.test('decodeSync: round trip', async (t) => {
  const r = decodeSync(encodeSync(header, body, key), expect);
  t.same(r, { ok: true, frame: { header: { ...header, keyId: key.id }, body } });
  const none = decodeSync(encodeSync({ ...header, echoBoot: null, echoCounter: 0 }, body, key), expect);
  t.equal(none.ok && none.frame.header.echoBoot, null, 'zero echo reads as null');
  const big = decodeSync(encodeSync({ ...header, counter: Number.MAX_SAFE_INTEGER }, body, key), expect);
  t.equal(big.ok && big.frame.header.counter, Number.MAX_SAFE_INTEGER, 'the largest counter');
  const v6 = decodeSync(encodeSync(header, { ...body, lanAddress: '2001:DB8::0:1' }, key), expect);
  t.equal(v6.ok && v6.frame.body.lanAddress, '2001:db8::1', 'addresses come out canonical');
});

t.test('decodeSync: every refusal, with its reason', async (t) => {
  const good = encodeSync(header, body, key);
  const flip = (b: Buffer, at: number): Buffer => { const c = Buffer.from(b); c[at] = (c[at] as number) ^ 0x01; return c; };
  const withBody = (json: string, h: Buffer = unsigned(good).subarray(0, syncHeaderBytes)): Buffer => sign(Buffer.concat([h, Buffer.from(json)]));
  const headerWith = (at: number, bytes: Buffer): Buffer => { const h = Buffer.from(unsigned(good).subarray(0, syncHeaderBytes)); bytes.copy(h, at); return h; };
  const guessed = deriveSyncKey(randomBytes(32), 'office', 1);
  const sameIdOtherSecret: SyncKey = { secret: randomBytes(32), id: key.id };
  const v1 = Buffer.from(JSON.stringify({ tern: 'pair-sync', v: 1, ...body, vrid: 1, seq: 3 }));
  const cases: Array<{ name: string; bytes: Buffer; reason: string; want: RegExp }> = [
    { name: 'too long', bytes: Buffer.alloc(maxSyncBytes + 1, 0x54), reason: 'malformed', want: /at most 4096/ },
    { name: 'empty', bytes: Buffer.alloc(0), reason: 'malformed', want: /got 0 bytes; want at least 58/ },
    { name: 'header only', bytes: good.subarray(0, syncHeaderBytes), reason: 'malformed', want: /want at least/ },
    { name: 'not pair sync', bytes: Buffer.concat([Buffer.from('XX'), good.subarray(2)]), reason: 'malformed', want: /got 5858 first; want 5450/ },
    { name: 'v1 JSON (an older Tern)', bytes: v1, reason: 'version', want: /pair-sync v1 \(unauthenticated JSON\).*older Tern/ },
    { name: 'other JSON', bytes: Buffer.from('{"hello":1}'), reason: 'malformed', want: /not pair sync/ },
    { name: 'broken JSON', bytes: Buffer.from('{"tern":'), reason: 'malformed', want: /not JSON/ },
    { name: 'version 3', bytes: flip(good, 2), reason: 'version', want: /got pair-sync version 3; want 2/ },
    { name: 'vrid 2', bytes: encodeSync({ ...header, vrid: 2 }, body, key), reason: 'vrid', want: /got vrid 2; want 1/ },
    { name: 'guessed key', bytes: encodeSync(header, body, guessed), reason: 'badAuth', want: new RegExp(`key id ${guessed.id}, ours is ${key.id}.*another site key`) },
    { name: 'right key id, guessed secret', bytes: encodeSync(header, body, sameIdOtherSecret), reason: 'badAuth', want: /HMAC does not verify/ },
    { name: 'a body byte changed', bytes: flip(good, syncHeaderBytes + 5), reason: 'badAuth', want: /HMAC does not verify/ },
    { name: 'the counter changed', bytes: flip(good, 23), reason: 'badAuth', want: /HMAC does not verify/ },
    { name: 'the echo changed', bytes: flip(good, 39), reason: 'badAuth', want: /HMAC does not verify/ },
    { name: 'a MAC byte changed', bytes: flip(good, good.length - 1), reason: 'badAuth', want: /HMAC does not verify/ },
    { name: 'MAC cut short', bytes: good.subarray(0, good.length - 1), reason: 'badAuth', want: /HMAC does not verify/ },
    { name: 'signed, body not JSON', bytes: withBody('{nope'), reason: 'malformed', want: /body that is not JSON/ },
    { name: 'signed, body a list', bytes: withBody('[1]'), reason: 'malformed', want: /not a JSON object/ },
    { name: 'signed, other site', bytes: withBody(JSON.stringify({ ...body, site: 'home' })), reason: 'malformed', want: /got site "home"; want "office"/ },
    { name: 'signed, bad box', bytes: withBody(JSON.stringify({ ...body, box: '../x' })), reason: 'malformed', want: /box/ },
    { name: 'signed, bad role', bytes: withBody(JSON.stringify({ ...body, role: 'boss' })), reason: 'malformed', want: /role/ },
    { name: 'signed, priority 300', bytes: withBody(JSON.stringify({ ...body, priority: 300 })), reason: 'malformed', want: /priority/ },
    { name: 'signed, bad address', bytes: withBody(JSON.stringify({ ...body, lanAddress: '10.1.0' })), reason: 'malformed', want: /lanAddress/ },
    { name: 'signed, interval 0', bytes: withBody(JSON.stringify({ ...body, intervalMs: 0 })), reason: 'malformed', want: /intervalMs/ },
    { name: 'signed, wans not a list', bytes: withBody(JSON.stringify({ ...body, wans: 'ispb' })), reason: 'malformed', want: /wans/ },
    { name: 'signed, wan without up', bytes: withBody(JSON.stringify({ ...body, wans: [{ name: 'ispb' }] })), reason: 'malformed', want: /wans/ },
    { name: 'signed, wan null', bytes: withBody(JSON.stringify({ ...body, wans: [null] })), reason: 'malformed', want: /wans/ },
    { name: 'signed, boot id 0', bytes: withBody(JSON.stringify(body), headerWith(8, Buffer.alloc(8))), reason: 'malformed', want: /boot id 0/ },
    { name: 'signed, counter 2^64-1', bytes: withBody(JSON.stringify(body), headerWith(16, Buffer.alloc(8, 0xff))), reason: 'malformed', want: /above 2\^53/ },
  ];
  for (const c of cases) {
    const got = decodeSync(c.bytes, expect);
    if (got.ok) {
      t.fail(`${c.name}: got accepted; want ${c.reason}`);
      continue;
    }
    t.equal(got.reason, c.reason, `${c.name}: reason got ${got.reason}; want ${c.reason}`);
    t.match(got.detail, c.want, `${c.name}: got "${got.detail}"; want ${c.want}`);
  }
});

t.test('decodeSync never throws, whatever the bytes', async (t) => {
  const good = encodeSync(header, body, key);
  let thrown = 0;
  let forged = 0;
  for (let i = 0; i < 3000; i++) {
    let b = i % 3 === 0 ? randomBytes(i % 200) : Buffer.from(good);
    if (i % 3 !== 0) for (let k = 0; k < 1 + (i % 4); k++) b[(i * 7 + k * 13) % b.length] = i & 0xff;
    if (i % 5 === 0) b = b.subarray(0, i % b.length);
    try {
      if (decodeSync(b, expect).ok && !b.equals(good)) forged++;
    } catch {
      thrown++;
    }
  }
  t.equal(thrown, 0, `got ${thrown} throws; want 0`);
  t.equal(forged, 0, `got ${forged} altered datagrams accepted; want 0`);
});
