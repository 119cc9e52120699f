// ternctl ra: remote-access users — add and rekey (the key pair is made
// here and the client's private key is printed once, never stored), list,
// show (the client config without its private key), revoke. Every change
// goes through the validated config apply. Why the box keeps no client
// private key: docs/ternctl.md, "Remote access and secrets".
import fs from 'node:fs';
import path from 'node:path';
import { parseDocument, isSeq, type Document } from 'yaml';
import { cidr, type RemoteUser, type TernConfig } from '../lib/config/index.js';
import { TernError, errorMessage } from '../lib/errors.js';
import { writeSecretFile } from '../lib/files/index.js';
import { generatePrivateKey, isKey, publicKeyOf } from '../lib/kernel/index.js';
import { clientConfig, clientQr, remoteAccessEndpoint } from '../lib/overlay/remote-access.js';
import { checkFileName, fileNameRule } from '../lib/paths/index.js';
import { readKeyFile, siteKeyFile, userKeyPath } from '../lib/keys/index.js';
import { ConfigApplier, type ApplyOutcome } from './config/index.js';
import type { CommandResult, CtlContext } from './context.js';
import { exitCodes, isPermissionError, permissionError, usageError } from './exit.js';
import { painter, stateColour, table } from './format.js';
import { parseDuration } from './time.js';
import { requireConfig } from './views.js';

/**
 * A free user address: in the /24 (/120 for IPv6) of the existing users
 * when there are any (other sites route that prefix here), else in the
 * overlay network; from host 100 up, then below it.
 */
export function freeUserAddress(cfg: TernConfig): string {
  const used = new Set<string>();
  const addr = (text: string): cidr.IpAddress | undefined => {
    const a = cidr.parseAddress(text.split('/')[0]!);
    return a.ok ? a.value : undefined;
  };
  for (const t of [cfg.overlay.address, ...cfg.overlay.sites.map((s) => s.overlayAddress), ...cfg.remoteUsers.map((u) => u.address)]) {
    const a = addr(t);
    if (a) used.add(`${a.family}:${a.value}`);
  }
  const lastUser = cfg.remoteUsers.length ? addr(cfg.remoteUsers[cfg.remoteUsers.length - 1]!.address) : undefined;
  let family: 4 | 6;
  let network: bigint;
  let length: number;
  if (lastUser) {
    family = lastUser.family;
    length = family === 4 ? 24 : 120;
    const width = family === 4 ? 32 : 128;
    network = (lastUser.value >> BigInt(width - length)) << BigInt(width - length);
  } else {
    const net = cidr.parsePrefix(cfg.overlay.address, 'allow');
    if (!net.ok) throw new TernError('TERN_E_CTL_APPLY', `ternctl: ra add: overlay.address ${cfg.overlay.address}: ${net.reason}`);
    ({ family, network, length } = net.value);
  }
  const width = family === 4 ? 32 : 128;
  const size = 1n << BigInt(width - length);
  const hosts: bigint[] = [];
  for (let h = 100n; h < size - 1n; h++) hosts.push(h);
  for (let h = 2n; h < 100n && h < size - 1n; h++) hosts.push(h);
  for (const h of hosts) {
    const v = network + h;
    if (!used.has(`${family}:${v}`)) return `${cidr.formatAddress({ family, value: v })}/${width}`;
  }
  throw new TernError('TERN_E_CTL_APPLY', `ternctl: ra add: no free user address left in ${cidr.formatAddress({ family, value: network })}/${length}; give one with --address`);
}

/** By default a user reaches every LAN: this site's and every remote site's. */
export function defaultAllowed(cfg: TernConfig): string[] {
  return [...new Set([...cfg.lan.prefixes, ...cfg.overlay.sites.flatMap((s) => s.lanPrefixes)])];
}

function usersSeq(doc: Document): { items: unknown[] } {
  let seq = doc.get('remoteUsers');
  if (!isSeq(seq)) {
    doc.set('remoteUsers', doc.createNode([]));
    seq = doc.get('remoteUsers');
  }
  return seq as { items: unknown[] };
}

function confirmMs(text: string | undefined): number {
  if (text === undefined) return 0;
  const v = parseDuration(text, '--confirm-within');
  if (v !== 0 && v < 1000) throw usageError('--confirm-within must be 0 or at least 1s', '--confirm-within 120s');
  return v;
}

/**
 * A user name from the command line, checked before anything else is done
 * with it: it names a config entry and, on boxes upgraded from releases
 * that kept client keys, a file (issue #15).
 */
function userName(cmd: string, name: string): string {
  try {
    return checkFileName(name, 'user name');
  } catch {
    throw usageError(`ra ${cmd}: user name ${JSON.stringify(name)}: ${fileNameRule}`, `ternctl ra ${cmd} alice`);
  }
}

/** Write a client config for the operator: 0600 even over an existing file (it may hold a private key). */
function writeOut(cmd: string, file: string, text: string): void {
  try {
    writeSecretFile(path.resolve(file), text);
  } catch (err) {
    if (isPermissionError(err)) throw permissionError(`ra ${cmd}: write the client config`, file, err);
    throw new TernError('TERN_E_CTL_APPLY', `ternctl: ra ${cmd}: write ${file}: ${errorMessage(err)}`, { cause: err });
  }
}

/**
 * The box's public key, which the client config names as its peer:
 * tunneld's overlay.info, else the site key file (root may read it).
 * Asked before any change, so a user is never added without a config to
 * hand over.
 */
async function boxPublicKey(ctx: CtlContext, cmd: string, cfg: TernConfig): Promise<string> {
  let why: string;
  try {
    const info = await ctx.daemons.call<{ publicKey?: unknown }>('tunneld', 'overlay.info');
    if (isKey(info.publicKey)) return info.publicKey;
    why = 'tunneld\'s overlay.info has no public key';
  } catch (err) {
    why = errorMessage(err);
  }
  const file = siteKeyFile(ctx.paths.keysDir, cfg.overlay.privateKeyFile);
  if (fs.existsSync(file)) {
    try {
      return publicKeyOf(readKeyFile(file));
    } catch (err) {
      if (isPermissionError(err)) throw permissionError(`ra ${cmd}: read the site key for its public key`, file, err);
      why += `; ${errorMessage(err)}`;
    }
  } else {
    why += `; no site key at ${file} yet`;
  }
  throw new TernError('TERN_E_CTL_DAEMON', `ternctl: ra ${cmd}: the box's public key is unknown (${why}); start tunneld first, or add a user who brings a key with --public-key`);
}

/** What the operator hands to the user: the config (with the new private key when one was made) and its QR. */
interface Issued { config: string; qr: string | null }

async function issue(cmd: string, cfg: TernConfig, user: RemoteUser, serverPublicKey: string, clientPrivateKey: string | undefined): Promise<Issued> {
  let presharedKey: string | undefined;
  if (clientPrivateKey && user.presharedKeyFile) {
    try {
      presharedKey = readKeyFile(user.presharedKeyFile);
    } catch (err) {
      if (isPermissionError(err)) throw permissionError(`ra ${cmd}: read the user's preshared key`, user.presharedKeyFile, err);
      throw err;
    }
  }
  const config = clientConfig({
    user, serverPublicKey, endpoint: remoteAccessEndpoint(cfg),
    ...(clientPrivateKey ? { clientPrivateKey } : {}), ...(presharedKey ? { presharedKey } : {}),
  });
  return { config, qr: clientPrivateKey ? await clientQr(config) : null };
}

/**
 * Print (and with --out write) a config that holds a new private key. It is
 * the only copy: when --out cannot be written the config is still printed.
 */
function handOver(cmd: string, head: string, issued: Issued, opts: { out?: string; qr?: boolean }, tail: string): { text: string; failed?: string } {
  let wrote = '';
  let failed: string | undefined;
  if (opts.out) {
    try {
      writeOut(cmd, opts.out, issued.config);
      wrote = `\nwrote ${opts.out} (mode 600)`;
    } catch (err) {
      failed = errorMessage(err);
      wrote = `\n${failed}; the config below is the only copy of the client's private key`;
    }
  }
  const qr = opts.qr !== false && issued.qr ? `\n${issued.qr}` : '';
  return {
    text: `${head}${wrote}\nthe client's private key is shown this once: this box keeps only its public key\n\n${issued.config.trimEnd()}\n${qr}${tail}`,
    ...(failed ? { failed } : {}),
  };
}

export interface RaAddOptions {
  address?: string;
  allow?: string[];
  dns?: string[];
  publicKey?: string;
  out?: string;
  qr?: boolean;
  confirmWithin?: string;
}

/** ternctl ra add NAME. */
export async function raAdd(ctx: CtlContext, nameArg: string, opts: RaAddOptions): Promise<CommandResult> {
  const name = userName('add', nameArg);
  if (opts.publicKey !== undefined && !isKey(opts.publicKey)) throw usageError('--public-key is not a WireGuard key', 'the 44 characters wg pubkey prints');
  const loaded = await requireConfig(ctx);
  const cfg = loaded.config;
  if (cfg.remoteUsers.some((u) => u.name === name)) {
    throw new TernError('TERN_E_CTL_APPLY', `ternctl: ra add: user '${name}' exists already${cfg.remoteUsers.find((u) => u.name === name)!.revoked ? ' (revoked; names stay reserved)' : ''}; pick another name`);
  }
  // Everything the client config needs is known before the user is added.
  const serverPublicKey = opts.publicKey === undefined ? await boxPublicKey(ctx, 'add', cfg) : undefined;
  if (serverPublicKey) remoteAccessEndpoint(cfg);
  const privateKey = opts.publicKey === undefined ? generatePrivateKey() : undefined;
  const publicKey = opts.publicKey ?? publicKeyOf(privateKey!);
  const user: Record<string, unknown> = {
    name,
    publicKey,
    address: opts.address ?? freeUserAddress(cfg),
    allowedPrefixes: opts.allow && opts.allow.length ? opts.allow : defaultAllowed(cfg),
    ...(opts.dns && opts.dns.length ? { dns: opts.dns } : {}),
  };
  const doc = parseDocument(loaded.text);
  usersSeq(doc).items.push(doc.createNode(user));
  const outcome: ApplyOutcome = await new ConfigApplier(ctx).apply(doc.toString(), `ra add ${name}`, { confirmWithinMs: confirmMs(opts.confirmWithin), source: `ternctl ra add ${name}` });
  const head = `added remote user ${name}: address ${user.address}, may reach ${(user.allowedPrefixes as string[]).join(', ')} (config version #${outcome.id}, ${outcome.state})`;
  const pairNote = cfg.pair?.enabled ? `\nthis box is one of a PAIR: add the user on the other box too, with the same public key and address:\n  ternctl ra add ${name} --public-key ${publicKey} --address ${user.address} --allow ${(user.allowedPrefixes as string[]).join(' --allow ')}` : '';
  const data = { user, apply: outcome, config: null as string | null, qr: null as string | null };
  if (!privateKey) return { data, text: `${head}\nthe user brings their own key: no private key is issued here (ternctl ra show ${name} prints the rest of the config)${pairNote}` };
  const issued = await issue('add', cfg, user as unknown as RemoteUser, serverPublicKey!, privateKey);
  data.config = issued.config;
  data.qr = issued.qr;
  const r = handOver('add', head, issued, opts, pairNote);
  return { data, text: r.text, ...(r.failed ? { exitCode: exitCodes.failed } : {}) };
}

/** ternctl ra rekey NAME: a new key pair for a user (the old one stops working); printed once, like add. */
export async function raRekey(ctx: CtlContext, nameArg: string, opts: { publicKey?: string; out?: string; qr?: boolean; confirmWithin?: string }): Promise<CommandResult> {
  const name = userName('rekey', nameArg);
  if (opts.publicKey !== undefined && !isKey(opts.publicKey)) throw usageError('--public-key is not a WireGuard key', 'the 44 characters wg pubkey prints');
  const loaded = await requireConfig(ctx);
  const cfg = loaded.config;
  const i = cfg.remoteUsers.findIndex((u) => u.name === name);
  if (i < 0) throw new TernError('TERN_E_CTL_NOT_FOUND', `ternctl: ra rekey: no remote user '${name}' (see ternctl ra list)`);
  if (cfg.remoteUsers[i]!.revoked) throw new TernError('TERN_E_TUNNEL_REMOTE_ACCESS', `ternctl: ra rekey: user '${name}' is revoked; revoked users get no key (add a new user instead)`);
  const serverPublicKey = opts.publicKey === undefined ? await boxPublicKey(ctx, 'rekey', cfg) : undefined;
  if (serverPublicKey) remoteAccessEndpoint(cfg);
  const privateKey = opts.publicKey === undefined ? generatePrivateKey() : undefined;
  const publicKey = opts.publicKey ?? publicKeyOf(privateKey!);
  const doc = parseDocument(loaded.text);
  doc.setIn(['remoteUsers', i, 'publicKey'], publicKey);
  const outcome = await new ConfigApplier(ctx).apply(doc.toString(), `ra rekey ${name}`, { confirmWithinMs: confirmMs(opts.confirmWithin), source: `ternctl ra rekey ${name}` });
  // A key an older release kept for this user is stale now.
  fs.rmSync(userKeyPath(ctx.paths.keysDir, name), { force: true });
  const user = { ...cfg.remoteUsers[i]!, publicKey };
  const head = `new key pair for remote user ${name}: the old one no longer connects (config version #${outcome.id}, ${outcome.state})`;
  const pairNote = cfg.pair?.enabled ? `\nthis box is one of a PAIR: give the other box the same public key:\n  ternctl ra rekey ${name} --public-key ${publicKey}` : '';
  const data = { user, apply: outcome, config: null as string | null, qr: null as string | null };
  if (!privateKey) return { data, text: `${head}\nthe user brings their own key: no private key is issued here${pairNote}` };
  const issued = await issue('rekey', cfg, user, serverPublicKey!, privateKey);
  data.config = issued.config;
  data.qr = issued.qr;
  const r = handOver('rekey', head, issued, opts, pairNote);
  return { data, text: r.text, ...(r.failed ? { exitCode: exitCodes.failed } : {}) };
}

/** ternctl ra show NAME: the user's entry and client config without its private key (the box has none). */
export async function raShow(ctx: CtlContext, nameArg: string, opts: { out?: string }): Promise<CommandResult> {
  const name = userName('show', nameArg);
  const cfg = (await requireConfig(ctx)).config;
  const user = cfg.remoteUsers.find((u) => u.name === name);
  if (!user) throw new TernError('TERN_E_CTL_NOT_FOUND', `ternctl: ra show: no remote user '${name}' (see ternctl ra list)`);
  if (user.revoked) throw new TernError('TERN_E_TUNNEL_REMOTE_ACCESS', `ternctl: ra show: user '${name}' is revoked`);
  const issued = await issue('show', cfg, user, await boxPublicKey(ctx, 'show', cfg), undefined);
  if (opts.out) writeOut('show', opts.out, issued.config);
  const note = `the private key is not on this box: the user has it from ternctl ra add (or their own); if it is lost, ternctl ra rekey ${name} issues a new one`;
  return { data: { user, config: issued.config }, text: `${opts.out ? `wrote ${opts.out} (mode 600)\n` : ''}${issued.config.trimEnd()}\n\n${note}` };
}

/** ternctl ra list. */
export async function raList(ctx: CtlContext): Promise<CommandResult> {
  const cfg = (await requireConfig(ctx)).config;
  const paint = painter(ctx.color);
  const users = cfg.remoteUsers.map((u) => ({ name: u.name, address: u.address, allowedPrefixes: u.allowedPrefixes, revoked: u.revoked, publicKey: u.publicKey }));
  return {
    data: { users },
    text: table(users, [
      { header: 'USER', get: (u) => u.name },
      { header: 'STATE', get: (u) => paint(u.revoked ? 'revoked' : 'active', stateColour(u.revoked ? 'revoked' : 'active')) },
      { header: 'ADDRESS', get: (u) => u.address },
      { header: 'PUBLIC KEY', get: (u) => u.publicKey },
      { header: 'MAY REACH', get: (u) => u.allowedPrefixes.join(', ') },
    ]),
  };
}

/** ternctl ra revoke NAME: revoked: true through apply; a client key an older release kept is deleted. */
export async function raRevoke(ctx: CtlContext, nameArg: string, opts: { confirmWithin?: string }): Promise<CommandResult> {
  const name = userName('revoke', nameArg);
  const loaded = await requireConfig(ctx);
  const i = loaded.config.remoteUsers.findIndex((u) => u.name === name);
  if (i < 0) throw new TernError('TERN_E_CTL_NOT_FOUND', `ternctl: ra revoke: no remote user '${name}' (see ternctl ra list)`);
  const keyFile = userKeyPath(ctx.paths.keysDir, name);
  if (loaded.config.remoteUsers[i]!.revoked) {
    fs.rmSync(keyFile, { force: true });
    return { data: { name, revoked: true, apply: null }, text: `user ${name} is revoked already` };
  }
  const doc = parseDocument(loaded.text);
  doc.setIn(['remoteUsers', i, 'revoked'], true);
  const outcome = await new ConfigApplier(ctx).apply(doc.toString(), `ra revoke ${name}`, { confirmWithinMs: confirmMs(opts.confirmWithin), source: `ternctl ra revoke ${name}` });
  fs.rmSync(keyFile, { force: true });
  return { data: { name, revoked: true, apply: outcome }, text: `revoked remote user ${name} (config version #${outcome.id}, ${outcome.state})` };
}
