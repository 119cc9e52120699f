// ternctl ra: remote-access users — add (key pair generated here, client
// key kept for re-issuing), list, show (wg-quick config and QR from
// tunneld), revoke. Every change goes through the validated config apply.
import fs from 'node:fs';
import { parseDocument, isSeq, type Document } from 'yaml';
import { cidr, type TernConfig } from '../lib/config/index.js';
import { TernError, errorMessage, isTernError } from '../lib/errors.js';
import { generatePrivateKey, isKey, publicKeyOf } from '../lib/kernel/index.js';
import { userKeyPath, writeKeyFile } from '../tunneld/keys.js';
import { ConfigApplier, type ApplyOutcome } from './config/index.js';
import type { CommandResult, CtlContext } from './context.js';
import { exitCodes, usageError } from './exit.js';
import { painter, stateColour, table } from './format.js';
import { parseDuration } from './time.js';
import { requireConfig } from './views.js';

/** What tunneld's ra.config returns. */
interface RaConfig { name: string; config: string; qr: string }

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

function writeOut(file: string, text: string): void {
  fs.writeFileSync(file, text, { mode: 0o600 });
  fs.chmodSync(file, 0o600);
}

async function issued(ctx: CtlContext, name: string): Promise<{ ra?: RaConfig; error?: TernError }> {
  try {
    return { ra: await ctx.daemons.call<RaConfig>('tunneld', 'ra.config', { name }) };
  } catch (err) {
    return { error: isTernError(err) ? err : new TernError('TERN_E_CTL_DAEMON', errorMessage(err)) };
  }
}

function showText(ra: RaConfig, qr: boolean): string {
  return `${ra.config.trimEnd()}\n${qr ? `\n${ra.qr}` : ''}`;
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
export async function raAdd(ctx: CtlContext, name: string, opts: RaAddOptions): Promise<CommandResult> {
  const loaded = await requireConfig(ctx);
  const cfg = loaded.config;
  if (cfg.remoteUsers.some((u) => u.name === name)) {
    throw new TernError('TERN_E_CTL_APPLY', `ternctl: ra add: user '${name}' exists already${cfg.remoteUsers.find((u) => u.name === name)!.revoked ? ' (revoked; names stay reserved)' : ''}; pick another name`);
  }
  if (opts.publicKey !== undefined && !isKey(opts.publicKey)) throw usageError('--public-key is not a WireGuard key', 'the 44 characters wg pubkey prints');
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
  const keyFile = userKeyPath(ctx.paths.keysDir, name);
  if (privateKey) {
    try {
      writeKeyFile(keyFile, privateKey);
    } catch (err) {
      throw new TernError('TERN_E_CTL_APPLY', `ternctl: ra add: cannot store the client key at ${keyFile}: ${errorMessage(err)}`, { cause: err });
    }
  }
  let outcome: ApplyOutcome;
  try {
    outcome = await new ConfigApplier(ctx).apply(doc.toString(), `ra add ${name}`, { confirmWithinMs: confirmMs(opts.confirmWithin), source: `ternctl ra add ${name}` });
  } catch (err) {
    if (privateKey) fs.rmSync(keyFile, { force: true });
    throw err;
  }
  const head = `added remote user ${name}: address ${user.address}, may reach ${(user.allowedPrefixes as string[]).join(', ')} (config version #${outcome.id}, ${outcome.state})`;
  const pairNote = cfg.pair?.enabled ? `\nthis box is one of a PAIR: add the user on the other box too, with the same key and address:\n  ternctl ra add ${name} --public-key ${publicKey} --address ${user.address} --allow ${(user.allowedPrefixes as string[]).join(' --allow ')}` : '';
  const data = { user, apply: outcome, keyFile: privateKey ? keyFile : null, config: null as string | null, qr: null as string | null };
  if (!privateKey) return { data, text: `${head}\nthe user brings their own key: no client config is issued here${pairNote}` };
  const r = await issued(ctx, name);
  if (!r.ra) {
    return { data, text: `${head}\nbut the client config is not available: ${r.error!.message}\nrun ternctl ra show ${name} once tunneld runs${pairNote}`, exitCode: exitCodes.unreachable };
  }
  if (opts.out) writeOut(opts.out, r.ra.config);
  data.config = r.ra.config;
  data.qr = r.ra.qr;
  return { data, text: `${head}${opts.out ? `\nwrote ${opts.out} (mode 600)` : ''}\n\n${showText(r.ra, opts.qr !== false)}${pairNote}` };
}

/** ternctl ra show NAME: the client config and QR again. */
export async function raShow(ctx: CtlContext, name: string, opts: { out?: string; qr?: boolean }): Promise<CommandResult> {
  const cfg = (await requireConfig(ctx)).config;
  const user = cfg.remoteUsers.find((u) => u.name === name);
  if (!user) throw new TernError('TERN_E_CTL_NOT_FOUND', `ternctl: ra show: no remote user '${name}' (see ternctl ra list)`);
  const r = await issued(ctx, name);
  if (!r.ra) throw r.error!;
  if (opts.out) writeOut(opts.out, r.ra.config);
  return { data: { user, config: r.ra.config, qr: r.ra.qr }, text: `${opts.out ? `wrote ${opts.out} (mode 600)\n` : ''}${showText(r.ra, opts.qr !== false)}` };
}

/** ternctl ra list. */
export async function raList(ctx: CtlContext): Promise<CommandResult> {
  const cfg = (await requireConfig(ctx)).config;
  const paint = painter(ctx.color);
  const users = cfg.remoteUsers.map((u) => ({
    name: u.name, address: u.address, allowedPrefixes: u.allowedPrefixes, revoked: u.revoked,
    publicKey: u.publicKey, clientKeyStored: fs.existsSync(userKeyPath(ctx.paths.keysDir, u.name)),
  }));
  return {
    data: { users },
    text: table(users, [
      { header: 'USER', get: (u) => u.name },
      { header: 'STATE', get: (u) => paint(u.revoked ? 'revoked' : 'active', stateColour(u.revoked ? 'revoked' : 'active')) },
      { header: 'ADDRESS', get: (u) => u.address },
      { header: 'ISSUED HERE', get: (u) => (u.clientKeyStored ? 'yes' : 'no') },
      { header: 'MAY REACH', get: (u) => u.allowedPrefixes.join(', ') },
    ]),
  };
}

/** ternctl ra revoke NAME: revoked: true through apply; the stored client key is deleted. */
export async function raRevoke(ctx: CtlContext, name: string, opts: { confirmWithin?: string }): Promise<CommandResult> {
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
  // The key only served to re-issue the config; a revoked user gets none.
  fs.rmSync(keyFile, { force: true });
  return { data: { name, revoked: true, apply: outcome }, text: `revoked remote user ${name} (config version #${outcome.id}, ${outcome.state}); its stored client key is deleted` };
}
