// Package secrets keeps the box's secrets out of logs and diagnostics: a
// secret is recognised by its value in every encoding a tool or a person
// writes it in (base64, base64url, padded or not, hex in either case), and
// by the name it sits under, in any case and at any depth.

export const redactedMark = '[redacted]';

/** Shorter values are not treated as secrets: replacing them would blank ordinary text. */
const minSecretLength = 16;

/**
 * Names whose values are secrets: private and preshared keys in any
 * spelling (PrivateKey, private_key, private-key, presharedKey, psk) and
 * anything ending in secret, password, passphrase or token. Anchored at
 * the end so privateKeyFile (a path) or presharedKeyDigest stay readable.
 */
const secretName = /(?:private[_-]?key|pre[_-]?shared[_-]?key|psk|secret|password|passphrase|passwd|token)$/i;

/** True when a field called name holds a secret. */
export function isSecretName(name: string): boolean {
  return secretName.test(name);
}

/** A value under a secret name is replaced unless it plainly is not a secret (a flag, a count, nothing). */
const replaceable = (v: unknown): boolean => v !== null && v !== undefined && typeof v !== 'boolean' && typeof v !== 'number';

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** A hex string matched in any letter case. */
const anyCase = (hex: string): string => [...hex].map((c) => (/[a-f]/i.test(c) ? `[${c.toLowerCase()}${c.toUpperCase()}]` : c)).join('');

/** The bytes a text secret stands for, when it is base64, base64url or hex of at least 16 bytes. */
function decoded(s: string): Buffer | undefined {
  if (/^(?:[0-9a-fA-F]{2}){16,}$/.test(s)) return Buffer.from(s, 'hex');
  if (/^[A-Za-z0-9+/_-]{22,}={0,2}$/.test(s)) {
    const b = Buffer.from(s.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    // Only a canonical encoding: a word that merely looks like base64 is left alone.
    if (b.length >= minSecretLength && b.toString('base64').replace(/=+$/, '') === s.replace(/-/g, '+').replace(/_/g, '/').replace(/=+$/, '')) return b;
  }
  return undefined;
}

/** The regular-expression alternatives that match secret s in every encoding. */
function alternatives(s: string): string[] {
  const out = new Set<string>([escape(s)]);
  const b = decoded(s);
  if (b) {
    const b64 = b.toString('base64').replace(/=+$/, '');
    const url = b.toString('base64url');
    // Padding is optional in both alphabets; the '=' goes with the value when present.
    out.add(`${escape(b64)}=*`);
    out.add(`${escape(url)}=*`);
    out.add(anyCase(b.toString('hex')));
  }
  return [...out];
}

/** Characters of base64, base64url and hex: a secret in those encodings is a run of them. */
const encodedRun = /[A-Za-z0-9+/_=-]+/g;
const onlyEncoded = /^[A-Za-z0-9+/_=-]+$/;

/** The substrings that show secret s is there: base64 and base64url without padding, lowercase hex. */
function needles(s: string): Array<{ text: string; hex: boolean }> {
  const out = [{ text: s, hex: false }];
  const b = decoded(s);
  if (b) {
    out.push({ text: b.toString('base64').replace(/=+$/, ''), hex: false }, { text: b.toString('base64url'), hex: false }, { text: b.toString('hex'), hex: true });
  }
  return out;
}

/**
 * A set of secret values and the matcher for all their encodings. add()
 * takes a secret as it is stored (a wg key in base64, a token as text).
 * Lines without a secret (nearly all) cost one scan for runs of encoding
 * characters and a few substring checks on the long ones; the full
 * matcher runs only on a line that holds a secret.
 */
export class SecretSet {
  private readonly values = new Set<string>();
  private matcher: RegExp | undefined;
  private dirty = false;
  /** Secrets written in encoding characters only, found inside runs of them. */
  private runNeedles: Array<{ text: string; hex: boolean }> = [];
  private shortestRun = Infinity;
  /** Secrets with other characters (a password with '!'), looked for in the whole text. */
  private otherNeedles: string[] = [];

  constructor(values: Iterable<string> = []) {
    for (const v of values) this.add(v);
  }

  /** Remember a secret; values shorter than 16 characters are ignored. */
  add(value: string): this {
    const v = value.trim();
    if (v.length < minSecretLength || this.values.has(v)) return this;
    this.values.add(v);
    this.dirty = true;
    return this;
  }

  /** How many secrets are known (each counted once, whatever its encodings). */
  get size(): number {
    return this.values.size;
  }

  private regex(): RegExp | undefined {
    if (this.dirty) {
      // Longest first, so a secret that contains another is replaced whole.
      const alts = [...this.values].flatMap(alternatives).sort((a, b) => b.length - a.length);
      this.matcher = alts.length ? new RegExp(alts.join('|'), 'g') : undefined;
      const all = [...this.values].flatMap(needles);
      this.runNeedles = all.filter((n) => onlyEncoded.test(n.text));
      this.otherNeedles = all.filter((n) => !onlyEncoded.test(n.text)).map((n) => n.text);
      this.shortestRun = Math.min(...this.runNeedles.map((n) => n.text.length));
      this.dirty = false;
    }
    return this.matcher;
  }

  /** The cheap first look: could text hold a known secret? (No false negatives.) */
  private mayHold(text: string): boolean {
    for (const n of this.otherNeedles) if (text.includes(n)) return true;
    if (!this.runNeedles.length || text.length < this.shortestRun) return false;
    encodedRun.lastIndex = 0;
    for (let m = encodedRun.exec(text); m; m = encodedRun.exec(text)) {
      const run = m[0];
      if (run.length < this.shortestRun) continue;
      let lower: string | undefined;
      for (const n of this.runNeedles) {
        if (run.includes(n.text)) return true;
        if (n.hex && (lower ??= run.toLowerCase()).includes(n.text)) return true;
      }
    }
    return false;
  }

  /** True when text holds a known secret in any encoding. */
  test(text: string): boolean {
    const re = this.regex();
    if (!re || !this.mayHold(text)) return false;
    re.lastIndex = 0;
    return re.test(text);
  }

  /** text with every known secret, in every encoding, replaced by the mark; count is how many were replaced. */
  redactText(text: string): { text: string; count: number } {
    const re = this.regex();
    if (!re || !this.mayHold(text)) return { text, count: 0 };
    let count = 0;
    re.lastIndex = 0;
    const out = text.replace(re, () => {
      count++;
      return redactedMark;
    });
    return { text: out, count };
  }
}

/**
 * The secrets this process holds: keys it generated or read from a key
 * file register here, and the process's loggers never write them.
 */
export const processSecrets = new SecretSet();

/**
 * A deep copy of v with every value under a secret name replaced by the
 * mark (flags, numbers and absent values stay, so "no key" is still
 * visible) and, when secrets is given, every string holding a known secret
 * redacted. Any depth; arrays, Maps, cycles; Errors and Buffers are kept as
 * they are (their text is redacted where they are written).
 */
export function redactFields<T>(v: T, secrets?: SecretSet): T {
  const seen = new WeakMap<object, unknown>();
  const walk = (x: unknown): unknown => {
    if (typeof x === 'string') return secrets && secrets.size ? secrets.redactText(x).text : x;
    if (x === null || typeof x !== 'object') return x;
    if (Buffer.isBuffer(x) || x instanceof Uint8Array || x instanceof Error || x instanceof Date) return x;
    if (seen.has(x)) return seen.get(x);
    if (Array.isArray(x)) {
      const out: unknown[] = [];
      seen.set(x, out);
      for (const e of x) out.push(walk(e));
      return out;
    }
    if (x instanceof Map) {
      const out = new Map<unknown, unknown>();
      seen.set(x, out);
      for (const [k, e] of x) out.set(k, typeof k === 'string' && isSecretName(k) && replaceable(e) ? redactedMark : walk(e));
      return out;
    }
    const out: Record<string, unknown> = {};
    seen.set(x, out);
    for (const [k, e] of Object.entries(x)) out[k] = isSecretName(k) && replaceable(e) ? redactedMark : walk(e);
    return out;
  };
  return walk(v) as T;
}

/** True when v holds, at any depth, a field with a secret name or (with secrets) a known secret. */
export function hasSecrets(v: unknown, secrets?: SecretSet): boolean {
  const seen = new WeakSet<object>();
  const look = (x: unknown): boolean => {
    if (typeof x === 'string') return secrets !== undefined && secrets.test(x);
    if (x === null || typeof x !== 'object' || seen.has(x)) return false;
    if (Buffer.isBuffer(x) || x instanceof Uint8Array || x instanceof Error || x instanceof Date) return false;
    seen.add(x);
    const entries: Array<[unknown, unknown]> = Array.isArray(x) ? x.map((e) => [undefined, e]) : x instanceof Map ? [...x] : Object.entries(x);
    for (const [k, e] of entries) {
      if (typeof k === 'string' && isSecretName(k) && replaceable(e)) return true;
      if (look(e)) return true;
    }
    return false;
  };
  return look(v);
}
