// Secrets never leave the box in a diagnostics bundle: every secret the
// appliance holds is replaced wherever it appears and in every encoding
// (lib/secrets: base64, base64url, padded or not, hex in either case), and
// anything labelled as a private or preshared key, secret, password or
// token is replaced even when its value is not one we know.
import fs from 'node:fs';
import path from 'node:path';
import type { TernConfig } from '../../lib/config/index.js';
import { SecretSet, redactedMark } from '../../lib/secrets/index.js';

export { redactedMark };

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

// The label is matched in any case and spelling (PrivateKey, private_key,
// "private-key", presharedKey, psk, clientSecret, enrolToken,
// etcdPassword); the text of a JSON document is flat, so depth does not matter.
const labelled: RegExp[] = [
  // wg-quick / wg showconf / UAPI / YAML / JSON / logs: label, optional quote, = or :, optional quote, value
  /((?:"|\b)\w*(?:private[_-]?key|pre[_-]?shared[_-]?key|psk|secret|password|passphrase|passwd|token)"?\s*[:=]\s*"?)([^\s"',}]+)/gi,
];

export class Redactor {
  private readonly secrets: SecretSet;
  /** How many replacements were made (for the manifest). */
  replaced = 0;

  /** secrets: the values the box holds (knownSecrets), as stored. */
  constructor(secrets: string[]) {
    this.secrets = new SecretSet(secrets);
  }

  get known(): number {
    return this.secrets.size;
  }

  /** The known secrets, for redacting structured data before it is written (redactFields). */
  get set(): SecretSet {
    return this.secrets;
  }

  redact(text: string): string {
    const byValue = this.secrets.redactText(text);
    this.replaced += byValue.count;
    let out = byValue.text;
    for (const re of labelled) {
      out = out.replace(re, (m, label: string, value: string) => {
        if (value.startsWith(redactedMark)) return m;
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
