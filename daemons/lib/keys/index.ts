// Package keys is the appliance's WireGuard keys on disk: the site key
// (created on first start by tunneld, read by ternctl ra for its public
// half) and preshared keys by reference. Files are 0600 in a 0700
// directory; every key read or written here joins processSecrets, so no
// logger of the process writes it. Remote users' private keys are not kept
// (docs/ternctl.md, "Remote access and secrets"); userKeyPath only finds
// the ones older releases left, to delete them.
import fs from 'node:fs';
import path from 'node:path';
import { writeSecretFile } from '../files/index.js';
import { generatePrivateKey, publicKeyOf, readKeyFile as readWireguardKeyFile } from '../kernel/index.js';
import { fileIn } from '../paths/index.js';
import { processSecrets } from '../secrets/index.js';

/** Read a key file: one base64 key, owner-only permissions. */
export const readKeyFile = (file: string): string => readWireguardKeyFile(file, 'tunneld: keys');

/** Write a key file atomically with mode 0600 (whatever was there), creating its directory 0700. */
export function writeKeyFile(file: string, key: string): void {
  processSecrets.add(key);
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  writeSecretFile(file, `${key}\n`);
}

/** The site's private key file: the configured one (overlay.privateKeyFile), else <keysDir>/overlay.key. */
export function siteKeyFile(keysDir: string, configured: string | undefined): string {
  return configured ?? path.join(keysDir, 'overlay.key');
}

/**
 * The site's private key: siteKeyFile, generated on first start unless
 * configured. A configured file that is missing is an error (the operator
 * pointed at a key we must not silently replace).
 */
export function loadOrCreateSiteKey(keysDir: string, configured: string | undefined): { privateKey: string; publicKey: string; file: string; created: boolean } {
  const file = siteKeyFile(keysDir, configured);
  let created = false;
  if (!configured && !fs.existsSync(file)) {
    writeKeyFile(file, generatePrivateKey());
    created = true;
  }
  const privateKey = readKeyFile(file);
  return { privateKey, publicKey: publicKeyOf(privateKey), file, created };
}

/**
 * Where releases before issue #15 kept a remote user's client private key
 * (<keys>/users/<user>.key). The name is checked before any path is made.
 */
export function userKeyPath(keysDir: string, user: string): string {
  return fileIn(path.join(keysDir, 'users'), user, '.key', 'remote user name');
}
