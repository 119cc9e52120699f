// Secrets never leave the box in a diagnostics bundle: every WireGuard
// private and preshared key the appliance holds is replaced wherever it
// appears, and anything labelled as a private or preshared key is replaced
// even when its value is not one we know.
import fs from 'node:fs';
import path from 'node:path';
import type { TernConfig } from '../../lib/config/index.js';

export const redactedMark = '[redacted]';

/** Key-shaped values: 32 bytes in base64 (what wg genkey/genpsk print). */
const keyShape = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

/** Files under dir (recursively), for the key store. */
function filesUnder(dir: string): string[] {
  let out: string[] = [];
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out = out.concat(filesUnder(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** Every secret the appliance holds: the key store's files and the files the config names (*KeyFile). */
export function knownSecrets(keysDir: string, cfg: TernConfig | undefined): string[] {
  const files = new Set(filesUnder(keysDir));
  if (cfg) {
    if (cfg.overlay.privateKeyFile) files.add(cfg.overlay.privateKeyFile);
    for (const s of cfg.overlay.sites) if (s.presharedKeyFile) files.add(s.presharedKeyFile);
    for (const u of cfg.remoteUsers) if (u.presharedKeyFile) files.add(u.presharedKeyFile);
  }
  const out = new Set<string>();
  for (const f of files) {
    try {
      for (const line of fs.readFileSync(f, 'utf8').split('\n')) {
        const v = line.trim();
        if (v.length >= 16) out.add(v);
      }
    } catch {
      // An unreadable file cannot leak through us either.
    }
  }
  return [...out];
}

const labelled: RegExp[] = [
  // wg-quick / wg showconf: PrivateKey = ..., PresharedKey = ...
  /\b((?:Private|Preshared)Key\s*=\s*)(\S+)/gi,
  // wg set / UAPI: private_key=..., preshared_key=...
  /\b((?:private|preshared)_key[=:]\s*)([^\s"',}]+)/gi,
  // YAML / JSON / logs: privateKey: ..., "presharedKey": "...", secret, password, token
  /((?:"|\b)(?:\w*private\w*key|\w*preshared\w*key|psk|secret|password|token)"?\s*[:=]\s*"?)([^\s"',}]+)/gi,
];

export class Redactor {
  private readonly secrets: string[];
  /** How many replacements were made (for the manifest). */
  replaced = 0;

  constructor(secrets: string[]) {
    // Longest first, so a secret that contains another is replaced whole.
    this.secrets = [...new Set(secrets.filter((s) => s.length >= 16))].sort((a, b) => b.length - a.length);
  }

  get known(): number {
    return this.secrets.length;
  }

  redact(text: string): string {
    let out = text;
    for (const s of this.secrets) {
      if (!out.includes(s)) continue;
      const parts = out.split(s);
      this.replaced += parts.length - 1;
      out = parts.join(redactedMark);
    }
    for (const re of labelled) {
      out = out.replace(re, (m, label: string, value: string) => {
        if (value === redactedMark || /^\[redacted\]/.test(value)) return m;
        // Under a secret-like label, anything could be the secret except what
        // plainly is not one: a flag, a number, a file path, "(hidden)".
        if (!keyShape.test(value) && (/^(true|false|null|\(hidden\)|\(none\)|-?\d+(\.\d+)?)$/.test(value) || value.startsWith('/'))) return m;
        this.replaced++;
        return `${label}${redactedMark}`;
      });
    }
    return out;
  }
}
