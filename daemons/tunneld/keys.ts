// The appliance's WireGuard keys on disk: the site key (created on first
// start), preshared keys by reference, remote users' stored client keys.
// Files are 0600 in a 0700 directory; no key is ever logged.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TernError, errorMessage } from '../lib/errors.js';
import { generatePrivateKey, isKey, publicKeyOf } from '../lib/kernel/index.js';

const keyError = (file: string, what: string): TernError =>
  new TernError('TERN_E_TUNNEL_KEY', `tunneld: keys: ${file}: ${what}`);

/** Read a key file: one base64 key, owner-only permissions. */
export function readKeyFile(file: string): string {
  let st: fs.Stats;
  let text: string;
  try {
    st = fs.statSync(file);
    if (!st.isFile()) throw keyError(file, 'is not a regular file');
    if ((st.mode & 0o077) !== 0) {
      throw keyError(file, `mode ${(st.mode & 0o777).toString(8)} lets others read a secret; want 600 (chmod 600 ${file})`);
    }
    text = fs.readFileSync(file, 'utf8').trim();
  } catch (err) {
    if (err instanceof TernError) throw err;
    const denied = (err as NodeJS.ErrnoException).code === 'EACCES'
      ? `; want it (and its directories) owned by the user tunneld runs as, ${runningUser()} (chown ${runningUser()} ${file})`
      : '';
    throw keyError(file, `cannot read: ${errorMessage(err)}${denied}`);
  }
  if (!isKey(text)) throw keyError(file, 'does not hold a WireGuard key (want 44 characters of base64, as wg genkey writes)');
  return text;
}

/**
 * Write a key file atomically with mode 0600, creating its directory 0700.
 * Run as root (ternctl ra add), the file and the directories it creates
 * take the owner of the directory they are made in: the keys directory
 * belongs to the user tunneld runs as (tern-tunneld under systemd), which
 * must read them.
 */
export function writeKeyFile(file: string, key: string): void {
  const dir = path.dirname(file);
  const made = fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const owner = process.getuid?.() === 0 ? fs.statSync(made ? path.dirname(made) : dir) : undefined;
  const adopt = (p: string): void => {
    if (owner && (owner.uid !== 0 || owner.gid !== 0)) fs.chownSync(p, owner.uid, owner.gid);
  };
  if (made) {
    const created: string[] = [];
    for (let d = dir; d.length >= made.length && d !== path.dirname(d); d = path.dirname(d)) created.push(d);
    for (const d of created.reverse()) adopt(d);
  }
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${key}\n`, { mode: 0o600 });
  adopt(tmp);
  fs.renameSync(tmp, file);
}

/** This process's user name, or its uid where it has none. */
function runningUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return `uid ${process.getuid?.() ?? '?'}`;
  }
}

/**
 * The site's private key: the configured file, else <keysDir>/overlay.key,
 * generated on first start. A configured file that is missing is an error
 * (the operator pointed at a key we must not silently replace).
 */
export function loadOrCreateSiteKey(keysDir: string, configured: string | undefined): { privateKey: string; publicKey: string; file: string; created: boolean } {
  const file = configured ?? path.join(keysDir, 'overlay.key');
  let created = false;
  if (!configured && !fs.existsSync(file)) {
    writeKeyFile(file, generatePrivateKey());
    created = true;
  }
  const privateKey = readKeyFile(file);
  return { privateKey, publicKey: publicKeyOf(privateKey), file, created };
}

/** Where a remote user's client private key is kept, for re-issuing its config. */
export function userKeyPath(keysDir: string, user: string): string {
  return path.join(keysDir, 'users', `${user}.key`);
}
