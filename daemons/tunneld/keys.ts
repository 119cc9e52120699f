// The appliance's WireGuard keys on disk: the site key (created on first
// start), preshared keys by reference, remote users' stored client keys.
// Files are 0600 in a 0700 directory; no key is ever logged.
import fs from 'node:fs';
import path from 'node:path';
import { generatePrivateKey, publicKeyOf, readKeyFile as readWireguardKeyFile } from '../lib/kernel/index.js';

/** Read a key file: one base64 key, owner-only permissions. */
export const readKeyFile = (file: string): string => readWireguardKeyFile(file, 'tunneld: keys');

/** Write a key file atomically with mode 0600, creating its directory 0700. */
export function writeKeyFile(file: string, key: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${key}\n`, { mode: 0o600 });
  fs.renameSync(tmp, file);
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
