// The pair-sync datagram: a fixed binary header (version, VRID, key id,
// the sender's boot id and counter, the echo of the peer's), the sender's
// facts as JSON, and HMAC-SHA256 over all of it with a key both boxes
// derive from the site's WireGuard private key. No I/O; decodeSync never
// throws, whatever the bytes.
import { createHash, createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { TernError } from '../lib/errors.js';
import { addressBytes, formatAddressBytes } from './addr.js';

/** 'T' 'P': tells a pair-sync datagram from stray UDP and from the v1 JSON ('{'). */
export const syncMagic = Buffer.from('TP', 'latin1');
export const syncVersion = 2;
/** Bytes before the JSON body. */
export const syncHeaderBytes = 40;
/** HMAC-SHA256 truncated to 128 bits (RFC 2104 section 5: at least half the hash, and 80 bits). */
export const syncMacBytes = 16;
/** Largest sync datagram accepted. */
export const maxSyncBytes = 4096;
/** A boot id: 8 random bytes, as 16 hex digits. */
export const bootIdBytes = 8;

export type SyncRole = 'initialize' | 'backup' | 'master' | 'fault';
const roles: readonly SyncRole[] = ['initialize', 'backup', 'master', 'fault'];
const nameRe = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const bootRe = /^[0-9a-f]{16}$/;

/** What one box says about itself (the JSON body). */
export interface SyncBody {
  site: string;
  /** identity.name of the box. */
  box: string;
  role: SyncRole;
  priority: number;
  /**
   * Its address on the LAN, as it says. Only an IPv6 instance's peer-WAN
   * routes use it (its datagrams come from a link-local address); an IPv4
   * instance routes via the datagram's source.
   */
  lanAddress: string;
  /** Its own WANs and whether each is up. */
  wans: Array<{ name: string; up: boolean }>;
  /** How often it sends, ms. */
  intervalMs: number;
}

/** The header fields the sender chooses (the key id comes with the key). */
export interface SyncHeader {
  vrid: number;
  /** Random per run of the sender's pair sync (16 hex digits, never all zero). */
  boot: string;
  /** Per boot from 1, one more each message. */
  counter: number;
  /** The boot of the newest message the sender heard from its peer; null before any. */
  echoBoot: string | null;
  /** That message's counter (0 with no echo). */
  echoCounter: number;
}

/** A message after decoding: header (with the key id it names) and body. */
export interface SyncFrame {
  header: SyncHeader & { keyId: string };
  body: SyncBody;
}

/** The pair-sync key: 32 bytes for HMAC, and a public 4-byte fingerprint to tell "another key" from "forged". */
export interface SyncKey {
  readonly secret: Buffer;
  /** 8 hex digits; both boxes of a pair show the same. */
  readonly id: string;
}

/** HKDF "info" label: binds the key to this use and version. */
export const syncKeyLabel = 'tern pair-sync v2';

/**
 * The pair-sync key of a site and VRID from the site's WireGuard private
 * key (32 raw bytes), which both boxes of a PAIR hold: HKDF-SHA256 (RFC
 * 5869), no salt, info = label NUL site NUL vrid. One-way: the HMAC key
 * tells nothing of the WireGuard key, and another site or VRID gets another key.
 */
export function deriveSyncKey(sitePrivateKey: Uint8Array, site: string, vrid: number): SyncKey {
  if (sitePrivateKey.length !== 32) {
    throw new TernError('TERN_E_PAIRD_ARG', `paird: sync key: got a ${sitePrivateKey.length}-byte site key; want 32`);
  }
  if (!nameRe.test(site)) throw new TernError('TERN_E_PAIRD_ARG', `paird: sync key: got site ${JSON.stringify(site)}; want a site id`);
  if (!Number.isInteger(vrid) || vrid < 1 || vrid > 255) throw new TernError('TERN_E_PAIRD_ARG', `paird: sync key: got vrid ${vrid}; want 1-255`);
  const secret = Buffer.from(hkdfSync('sha256', sitePrivateKey, Buffer.alloc(0), Buffer.from(`${syncKeyLabel}\0${site}\0${vrid}`), 32));
  const id = createHash('sha256').update('tern pair-sync key id\0').update(secret).digest('hex').slice(0, 8);
  return { secret, id };
}

const mac = (key: SyncKey, signed: Uint8Array): Buffer => createHmac('sha256', key.secret).update(signed).digest().subarray(0, syncMacBytes);

/**
 * The datagram:
 *
 *   0  'T' 'P'           2  version (2)     3  VRID
 *   4  key id (4)        8  boot id (8)    16  counter (u64, big-endian)
 *  24  echo boot (8, zeros: none)          32  echo counter (u64)
 *  40  body: JSON of SyncBody (UTF-8)      end-16  HMAC-SHA256[0..16) of bytes [0, end-16)
 */
export function encodeSync(header: SyncHeader, body: SyncBody, key: SyncKey): Buffer {
  const bad = (what: string): TernError => new TernError('TERN_E_PAIRD_ARG', `paird: sync encode: ${what}`);
  if (!Number.isInteger(header.vrid) || header.vrid < 1 || header.vrid > 255) throw bad(`got vrid ${header.vrid}; want 1-255`);
  if (!bootRe.test(header.boot) || /^0+$/.test(header.boot)) throw bad(`got boot ${JSON.stringify(header.boot)}; want 16 hex digits, not all zero`);
  if (header.echoBoot !== null && (!bootRe.test(header.echoBoot) || /^0+$/.test(header.echoBoot))) throw bad(`got echo boot ${JSON.stringify(header.echoBoot)}; want 16 hex digits or null`);
  for (const [k, v] of [['counter', header.counter], ['echo counter', header.echoCounter]] as const) {
    if (!Number.isSafeInteger(v) || v < 0) throw bad(`got ${k} ${v}; want an integer >= 0`);
  }
  const json = Buffer.from(JSON.stringify({
    site: body.site, box: body.box, role: body.role, priority: body.priority, lanAddress: body.lanAddress, wans: body.wans, intervalMs: body.intervalMs,
  }));
  if (syncHeaderBytes + json.length + syncMacBytes > maxSyncBytes) throw bad(`got a ${json.length}-byte body; want the datagram within ${maxSyncBytes} bytes`);
  const out = Buffer.alloc(syncHeaderBytes + json.length + syncMacBytes);
  syncMagic.copy(out, 0);
  out[2] = syncVersion;
  out[3] = header.vrid;
  Buffer.from(key.id, 'hex').copy(out, 4);
  Buffer.from(header.boot, 'hex').copy(out, 8);
  out.writeBigUInt64BE(BigInt(header.counter), 16);
  if (header.echoBoot) Buffer.from(header.echoBoot, 'hex').copy(out, 24);
  out.writeBigUInt64BE(BigInt(header.echoCounter), 32);
  json.copy(out, syncHeaderBytes);
  mac(key, out.subarray(0, out.length - syncMacBytes)).copy(out, out.length - syncMacBytes);
  return out;
}

/** Why a datagram was refused before it could be used; the PairSync counters add wrongSource and replay. */
export type SyncDecodeReason = 'malformed' | 'version' | 'vrid' | 'badAuth';

export type SyncDecode = { ok: true; frame: SyncFrame } | { ok: false; reason: SyncDecodeReason; detail: string };

export interface SyncExpect {
  key: SyncKey;
  vrid: number;
  site: string;
}

/**
 * Reads one datagram. Checked in this order, the first failure naming the
 * reason: size and framing (malformed; a v1 JSON message is `version`),
 * version, VRID (another pair on this LAN), key id and HMAC (badAuth),
 * then the body (malformed: a box with the key sent nonsense).
 */
export function decodeSync(bytes: Uint8Array, expect: SyncExpect): SyncDecode {
  const fail = (reason: SyncDecodeReason, detail: string): SyncDecode => ({ ok: false, reason, detail });
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length > maxSyncBytes) return fail('malformed', `got ${b.length} bytes; want at most ${maxSyncBytes}`);
  if (b[0] === 0x7b) return v1(b);
  if (b.length < syncHeaderBytes + syncMacBytes + 2) {
    return fail('malformed', `got ${b.length} bytes; want at least ${syncHeaderBytes + syncMacBytes + 2} (header, body, HMAC)`);
  }
  if (!b.subarray(0, 2).equals(syncMagic)) return fail('malformed', `got ${b.subarray(0, 2).toString('hex')} first; want 5450 ("TP", pair sync)`);
  if (b[2] !== syncVersion) return fail('version', `got pair-sync version ${b[2]}; want ${syncVersion}`);
  if (b[3] !== expect.vrid) return fail('vrid', `got vrid ${b[3]}; want ${expect.vrid} (another pair on this LAN?)`);
  const keyId = b.subarray(4, 8).toString('hex');
  if (keyId !== expect.key.id) {
    return fail('badAuth', `signed with key id ${keyId}, ours is ${expect.key.id}: forged, or the other box holds another site key (overlay.privateKeyFile must hold the same key on both)`);
  }
  const end = b.length - syncMacBytes;
  if (!timingSafeEqual(mac(expect.key, b.subarray(0, end)), b.subarray(end))) {
    return fail('badAuth', 'the HMAC does not verify: forged or altered');
  }
  const boot = b.subarray(8, 16).toString('hex');
  const echo = b.subarray(24, 32).toString('hex');
  const counter = b.readBigUInt64BE(16);
  const echoCounter = b.readBigUInt64BE(32);
  if (/^0+$/.test(boot)) return fail('malformed', 'got boot id 0; want a random one');
  if (counter > BigInt(Number.MAX_SAFE_INTEGER) || echoCounter > BigInt(Number.MAX_SAFE_INTEGER)) return fail('malformed', 'got a counter above 2^53');
  const body = readBody(b.subarray(syncHeaderBytes, end), expect.site);
  if ('detail' in body) return fail('malformed', body.detail);
  return {
    ok: true,
    frame: {
      header: {
        vrid: expect.vrid, keyId, boot, counter: Number(counter),
        echoBoot: /^0+$/.test(echo) ? null : echo, echoCounter: Number(echoCounter),
      },
      body,
    },
  };
}

/** A v1 message (unauthenticated JSON, Tern before pair-sync v2) is told apart from junk. */
function v1(b: Buffer): SyncDecode {
  let o: unknown;
  try {
    o = JSON.parse(b.toString('utf8'));
  } catch {
    return { ok: false, reason: 'malformed', detail: 'got bytes starting with "{" that are not JSON; want a pair-sync v2 datagram' };
  }
  const m = o as Record<string, unknown> | null;
  if (m && typeof m === 'object' && m.tern === 'pair-sync') {
    return { ok: false, reason: 'version', detail: `got pair-sync v${JSON.stringify(m.v)} (unauthenticated JSON): the sender runs an older Tern; want v${syncVersion} (upgrade both boxes)` };
  }
  return { ok: false, reason: 'malformed', detail: 'got JSON that is not pair sync' };
}

function readBody(bytes: Buffer, site: string): SyncBody | { detail: string } {
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString('utf8'));
  } catch {
    return { detail: 'got a body that is not JSON' };
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) return { detail: 'got a body that is not a JSON object' };
  const o = v as Record<string, unknown>;
  const bad = (key: string, want: string): { detail: string } => ({ detail: `got ${key} ${JSON.stringify(o[key])}; want ${want}` });
  if (o.site !== site) return bad('site', JSON.stringify(site));
  if (typeof o.box !== 'string' || !nameRe.test(o.box)) return bad('box', 'a box name');
  if (typeof o.role !== 'string' || !roles.includes(o.role as SyncRole)) return bad('role', roles.join(' | '));
  if (!Number.isInteger(o.priority) || (o.priority as number) < 0 || (o.priority as number) > 255) return bad('priority', 'an integer 0-255');
  const lan = typeof o.lanAddress === 'string' ? addressBytes(o.lanAddress) : undefined;
  if (!lan) return bad('lanAddress', 'an IP address');
  if (!Number.isInteger(o.intervalMs) || (o.intervalMs as number) < 10 || (o.intervalMs as number) > 60_000) return bad('intervalMs', 'an integer 10-60000');
  if (!Array.isArray(o.wans) || o.wans.length > 16) return bad('wans', 'a list of at most 16 WANs');
  const wans: Array<{ name: string; up: boolean }> = [];
  for (const w of o.wans as unknown[]) {
    const x = w as Record<string, unknown> | null;
    if (!x || typeof x !== 'object' || typeof x.name !== 'string' || !nameRe.test(x.name) || typeof x.up !== 'boolean') return bad('wans', 'entries {name, up}');
    wans.push({ name: x.name, up: x.up });
  }
  return {
    site, box: o.box, role: o.role as SyncRole, priority: o.priority as number,
    lanAddress: formatAddressBytes(lan), wans, intervalMs: o.intervalMs as number,
  };
}
