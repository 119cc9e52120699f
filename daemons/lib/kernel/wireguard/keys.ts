// WireGuard keys: X25519 generation and public-from-private through
// node:crypto, the base64 and hex forms, and redaction. Keys are secrets:
// nothing here logs one, every key made here joins processSecrets (so this
// process's loggers never write it), and redact() is for anything that
// might be logged.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import { TernError, errorMessage } from '../../errors.js';
import { processSecrets, redactFields } from '../../secrets/index.js';

export const KEY_LEN = 32;

// The canonical base64 of 32 bytes: 43 characters, the last carrying only
// 4 bits (so one of 16 letters), then one '='.
const KEY_RE = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

// PKCS#8 / SPKI DER prefixes for X25519 (OID 1.3.101.110); the raw 32 bytes follow.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

/** True for the 44-character base64 form of a 32-byte key. */
export function isKey(s: unknown): s is string {
  return typeof s === 'string' && KEY_RE.test(s);
}

/** The raw bytes of a base64 key; TernError when malformed (the key is not echoed). */
export function keyBytes(s: string, what = 'key'): Buffer {
  if (!isKey(s)) {
    const got = typeof s === 'string' ? `${(s as string).length} characters` : typeof s;
    throw new TernError('TERN_E_KERNEL_ARG', `wireguard: parse ${what}: got ${got}; want 44 characters of base64 (32 bytes)`);
  }
  return Buffer.from(s, 'base64');
}

/**
 * Reads a key file: one base64 key, a regular file only its owner may read.
 * `component` starts the error message (`tunneld: keys`, `paird: sync key`);
 * the message names the file, never the key.
 */
export function readKeyFile(file: string, component: string): string {
  const fail = (what: string): TernError => new TernError('TERN_E_KEY_FILE', `${component}: ${file}: ${what}`);
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (err) {
    // Under systemd each daemon is its own user (systemd/README.md): say which must own it.
    const denied = (err as NodeJS.ErrnoException).code === 'EACCES'
      ? `; want it (and its directories) readable by the user ${component.split(':')[0]} runs as, ${runningUser()}` : '';
    throw fail(`cannot read: ${errorMessage(err)}${denied}`);
  }
  if (!st.isFile()) throw fail('is not a regular file');
  if ((st.mode & 0o077) !== 0) {
    throw fail(`mode ${(st.mode & 0o777).toString(8)} lets others read a secret; want 600 (chmod 600 ${file})`);
  }
  const text = fs.readFileSync(file, 'utf8').trim();
  // Registered before it is checked: a malformed secret is still a secret.
  processSecrets.add(text);
  if (!isKey(text)) throw fail('does not hold a WireGuard key (want 44 characters of base64, as wg genkey writes)');
  return text;
}

/** This process's user name, or its uid where it has none. */
function runningUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return `uid ${process.getuid?.() ?? '?'}`;
  }
}

/** The base64 form of 32 raw bytes. */
export function keyFromBytes(b: Uint8Array): string {
  if (b.length !== KEY_LEN) throw new TernError('TERN_E_KERNEL_ARG', `wireguard: key from bytes: got ${b.length} bytes; want ${KEY_LEN}`);
  return Buffer.from(b).toString('base64');
}

/** base64 → lowercase hex, as UAPI wants keys. */
export const keyToHex = (s: string, what?: string): string => keyBytes(s, what).toString('hex');

/** UAPI hex → base64; TernError when not 64 hex digits. */
export function hexToKey(hex: string, what = 'key'): string {
  if (typeof hex !== 'string' || !/^[0-9a-fA-F]{64}$/.test(hex)) {
    const got = typeof hex === 'string' ? `${hex.length} characters` : typeof hex;
    throw new TernError('TERN_E_KERNEL_ARG', `wireguard: parse ${what}: got ${got}; want 64 hex digits`);
  }
  return Buffer.from(hex, 'hex').toString('base64');
}

/** Clamps a scalar as X25519 (RFC 7748 section 5) and `wg genkey` do. */
function clamp(b: Buffer): Buffer {
  const out = Buffer.from(b);
  out[0] = (out[0] as number) & 248;
  out[31] = ((out[31] as number) & 127) | 64;
  return out;
}

/** A new private key (base64), clamped like `wg genkey`. */
export function generatePrivateKey(): string {
  const { privateKey } = generateKeyPairSync('x25519');
  const der = privateKey.export({ format: 'der', type: 'pkcs8' });
  const key = keyFromBytes(clamp(der.subarray(der.length - KEY_LEN)));
  processSecrets.add(key);
  return key;
}

/** The public key (base64) of a private key (base64). */
export function publicKeyOf(privateKey: string): string {
  return keyFromBytes(publicKeyBytesOf(keyBytes(privateKey, 'private key')));
}

/** The public key bytes of raw private key bytes. */
export function publicKeyBytesOf(privateKey: Uint8Array): Buffer {
  if (privateKey.length !== KEY_LEN) {
    throw new TernError('TERN_E_KERNEL_ARG', `wireguard: public key: got a ${privateKey.length}-byte private key; want ${KEY_LEN}`);
  }
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, privateKey]), format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(key).export({ format: 'der', type: 'spki' });
  if (!spki.subarray(0, SPKI_PREFIX.length).equals(SPKI_PREFIX) || spki.length !== SPKI_PREFIX.length + KEY_LEN) {
    throw new TernError('TERN_E_KERNEL_ARG', 'wireguard: public key: node:crypto returned an unexpected SPKI encoding');
  }
  return spki.subarray(SPKI_PREFIX.length);
}

/** A new preshared key (base64): 32 random bytes, as `wg genpsk`. */
export function generatePresharedKey(): string {
  const key = randomBytes(KEY_LEN).toString('base64');
  processSecrets.add(key);
  return key;
}

/**
 * A one-way fingerprint of a secret key, for telling "the key changed"
 * without keeping the key. Not reversible: the input is 256 random bits.
 */
export const keyDigest = (raw: Uint8Array): string => createHash('sha256').update(raw).digest('hex').slice(0, 32);

/**
 * A deep copy of v with every secret field's value (privateKey,
 * presharedKey, ... in any spelling, at any depth) replaced by
 * '[redacted]'; absent and null values stay, so "no key" is still visible.
 */
export const redact = <T>(v: T): T => redactFields(v);
