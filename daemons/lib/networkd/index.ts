// Package networkd is the box's own addressing (tern.yaml wans, lan, the
// PAIR interface) as systemd-networkd files: rendered from the config
// (render.ts) and written into systemd's runtime directory, which networkd
// reads besides /etc and /usr/lib. At boot tern-networkd.service writes them
// (`ternctl config networkd`) before networkd starts; the config transaction
// re-renders and reloads networkd when the box's addressing changed.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { TernConfig } from '../config/index.js';
import { TernError, errorMessage, isPermissionError, permissionError } from '../errors.js';
import { replaceFile } from '../files/index.js';
import { ownFileName, renderNetworkd, type NetworkdDir, type NetworkdFile } from './render.js';

export { ownFileName, renderNetworkd, unmanagedGlobs, wanPreference, type NetworkdDir, type NetworkdFile } from './render.js';

/** systemd's runtime configuration directory: .network files go to <it>/network, drop-ins to <it>/networkd.conf.d. */
export const defaultNetworkdRoot = '/run/systemd';

const dirs: readonly NetworkdDir[] = ['network', 'networkd.conf.d'];

export interface NetworkdWrite {
  root: string;
  /** Every rendered file with what happened to it. */
  files: Array<{ path: string; state: 'written' | 'unchanged' }>;
  /** Tern's files from an earlier render that this one no longer has. */
  removed: string[];
  /** Something was written or removed: networkd must reload to see it. */
  changed: boolean;
  /**
   * Addresses a rewritten file no longer has on a link that keeps foreign
   * addresses (KeepConfiguration=static, for paird's VIPs): networkd keeps
   * them too once they are not its own, so the reload is followed by
   * deleting them (lan.address changed).
   */
  dropped: Array<{ ifname: string; address: string }>;
}

/** What a .network file of ours says about addresses: its interface, Address= lines, and whether it keeps foreign ones. */
function addressing(text: string): { ifname: string | undefined; addresses: string[]; keepsForeign: boolean } {
  const values = (key: string): string[] => [...text.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((m) => m[1]!.trim());
  return {
    ifname: values('Name')[0],
    addresses: values('Address'),
    keepsForeign: values('KeepConfiguration').some((v) => v === 'static' || v === 'yes'),
  };
}

function fail(what: string, file: string, err: unknown): TernError {
  if (isPermissionError(err)) return permissionError(`config networkd: ${what}`, file, err);
  return new TernError('TERN_E_CTL_APPLY', `ternctl: config networkd: ${what} ${file}: ${errorMessage(err)}`, { cause: err, details: { file } });
}

/**
 * Replace file with text so networkd (reading as systemd-network) sees the
 * old file or the new one, mode 0644 whatever the umask.
 */
function writeAtomic(file: string, text: string): void {
  try {
    replaceFile(file, text, { mode: 0o644 });
  } catch (err) {
    throw fail('write', file, err);
  }
}

function readOrUndefined(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** Tern's files (NN-tern-*) in root's networkd directories, as paths. */
export function ownNetworkdFiles(root: string): string[] {
  return dirs.flatMap((d) => {
    const dir = path.join(root, d);
    let names: fs.Dirent[];
    try {
      names = fs.readdirSync(dir, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw fail('read', dir, err);
    }
    return names.filter((e) => !e.isDirectory() && ownFileName.test(e.name)).map((e) => path.join(dir, e.name)).sort();
  });
}

/**
 * Write files under root (creating root/network and root/networkd.conf.d),
 * leaving a file whose text is already right untouched (networkd's reload
 * reconfigures only links whose file changed), and remove Tern's files an
 * earlier render left that this one has not. Nothing else in the
 * directories is touched.
 */
export function writeNetworkd(root: string, files: readonly NetworkdFile[]): NetworkdWrite {
  const out: NetworkdWrite = { root, files: [], removed: [], changed: false, dropped: [] };
  for (const d of dirs) {
    const dir = path.join(root, d);
    try {
      fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    } catch (err) {
      throw fail('create', dir, err);
    }
  }
  const keep = new Set<string>();
  for (const f of files) {
    const file = path.join(root, f.dir, f.name);
    keep.add(file);
    const before = readOrUndefined(file);
    if (before === f.text) {
      out.files.push({ path: file, state: 'unchanged' });
      continue;
    }
    if (before !== undefined && f.dir === 'network') {
      const [was, now] = [addressing(before), addressing(f.text)];
      if (was.keepsForeign && was.ifname !== undefined && was.ifname === now.ifname) {
        for (const address of was.addresses) if (!now.addresses.includes(address)) out.dropped.push({ ifname: was.ifname, address });
      }
    }
    writeAtomic(file, f.text);
    out.files.push({ path: file, state: 'written' });
    out.changed = true;
  }
  for (const file of ownNetworkdFiles(root)) {
    if (keep.has(file)) continue;
    try {
      fs.rmSync(file, { force: true });
    } catch (err) {
      throw fail('remove', file, err);
    }
    out.removed.push(file);
    out.changed = true;
  }
  return out;
}

function run(argv: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(argv[0]!, argv.slice(1), { timeout: 30_000 }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`${argv.join(' ')}: ${String(stderr).trim() || err.message}`));
      else resolve();
    });
  });
}

/** Tell the running networkd to re-read its files; rejects with what networkctl said. */
export const networkctlReload = (): Promise<void> => run(['networkctl', 'reload']);

/** Where the networkd files go, and how networkd is told; tests pass a temp dir and fakes. */
export interface NetworkdTarget {
  root: string;
  /** This box runs systemd as init (sd_booted: /run/systemd/system exists). */
  booted(): boolean;
  reload(): Promise<void>;
  deleteAddress(ifname: string, address: string): Promise<void>;
}

export const systemNetworkd: NetworkdTarget = {
  root: defaultNetworkdRoot,
  booted: () => fs.existsSync('/run/systemd/system'),
  reload: networkctlReload,
  deleteAddress: (ifname, address) => run(['ip', 'address', 'del', address, 'dev', ifname]),
};

/**
 * networkctl reload after a write that changed something, then delete the
 * addresses networkd keeps but no file has any more. Throws when the reload
 * fails; returns notes on addresses that could not be deleted.
 */
export async function reloadNetworkd(w: NetworkdWrite, target: NetworkdTarget): Promise<string[]> {
  await target.reload();
  const notes: string[] = [];
  for (const d of w.dropped) {
    try {
      await target.deleteAddress(d.ifname, d.address);
      notes.push(`deleted old ${d.address} from ${d.ifname}`);
    } catch (err) {
      notes.push(`old ${d.address} left on ${d.ifname}: ${errorMessage(err)}`);
    }
  }
  return notes;
}

/** What a config apply or rollback did to networkd's files. */
export interface NetworkdSync {
  result: 'skipped' | 'unchanged' | 'reloaded' | 'failed';
  detail: string;
  written: string[];
  removed: string[];
}

/**
 * Re-render cfg's networkd files and reload networkd when they changed;
 * best effort, never throws (the daemons' reload decides an apply).
 * Skipped without systemd, and where tern-networkd.service never wrote
 * the files (the lab, a development machine): there networkd, if any, is
 * not Tern's to configure.
 */
export async function syncNetworkd(cfg: TernConfig, target: NetworkdTarget = systemNetworkd): Promise<NetworkdSync> {
  const none = { written: [], removed: [] };
  try {
    if (!target.booted()) return { result: 'skipped', detail: 'not booted with systemd', ...none };
    if (ownNetworkdFiles(target.root).length === 0) {
      return { result: 'skipped', detail: `no Tern files in ${target.root}/network (tern-networkd.service did not run)`, ...none };
    }
    const w = writeNetworkd(target.root, renderNetworkd(cfg));
    const changes = { written: w.files.filter((f) => f.state === 'written').map((f) => f.path), removed: w.removed };
    if (!w.changed) return { result: 'unchanged', detail: 'addressing unchanged', ...changes };
    let notes: string[];
    try {
      notes = await reloadNetworkd(w, target);
    } catch (err) {
      return { result: 'failed', detail: `files written; ${errorMessage(err)}`, ...changes };
    }
    return { result: 'reloaded', detail: [...[...changes.written, ...changes.removed].map((f) => path.basename(f)), ...notes].join(', '), ...changes };
  } catch (err) {
    return { result: 'failed', detail: errorMessage(err), ...none };
  }
}

/** One line for apply and rollback output. */
export function networkdLine(s: NetworkdSync): string {
  return `networkd: ${s.result}${s.detail ? ` (${s.detail})` : ''}`;
}
