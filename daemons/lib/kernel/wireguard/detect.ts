// Chooses the WireGuard backend: the kernel's when this kernel can create a
// link of kind `wireguard` in the current namespace, wireguard-go otherwise.
// The probe is injectable so both branches are tested on any machine.
import fs from 'node:fs';
import path from 'node:path';
import { TernError } from '../../errors.js';
import { silentLogger, type Logger } from '../../log/index.js';
import { wireguardProbeIfname } from '../names.js';
import { hasErrno } from '../net/errno.js';
import { Rtnl } from '../rtnl/rtnl.js';
import { KernelBackend, type WgGenlSocket } from './kernel.js';
import { UserspaceBackend } from './userspace.js';
import { WireguardGo, type WireguardGoOptions } from './wggo.js';
import type { WireGuardBackend } from './types.js';

export type WireGuardKind = 'kernel' | 'userspace';

/** Resolves true when kernel WireGuard is usable here. */
export type WireGuardProbe = () => Promise<boolean>;

/**
 * The real probe: create a `wireguard` link (which also makes the kernel
 * load the module if it has one) and delete it again. EOPNOTSUPP means no
 * WireGuard; any other failure (EPERM without CAP_NET_ADMIN) is an error,
 * because guessing would pick a backend that then fails later and less
 * clearly.
 */
export function kernelProbe(rtnl: Rtnl, name = wireguardProbeIfname(process.pid)): WireGuardProbe {
  return async () => {
    try {
      await rtnl.addLink(name, 'wireguard');
    } catch (err) {
      if (hasErrno(err, 'EOPNOTSUPP')) return false;
      // A probe link left by a crashed run of this same probe proves the kernel has WireGuard.
      if (hasErrno(err, 'EEXIST') && (await rtnl.link(name))?.kind === 'wireguard') {
        await rtnl.deleteLink(name);
        return true;
      }
      throw new TernError('TERN_E_KERNEL_WG_BACKEND', `wireguard: detect: probing for kernel WireGuard failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    await rtnl.deleteLink(name);
    return true;
  };
}

/** Which backend this namespace needs. */
export async function detectWireGuard(probe: WireGuardProbe): Promise<WireGuardKind> {
  return (await probe()) ? 'kernel' : 'userspace';
}

/** The full path of a program, looked up in PATH when it has no slash; undefined when not executable. */
export function findProgram(program: string, envPath = process.env.PATH ?? ''): string | undefined {
  const candidates = program.includes('/') ? [program] : envPath.split(':').filter(Boolean).map((d) => path.join(d, program));
  return candidates.find((p) => {
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return fs.statSync(p).isFile();
    } catch {
      return false;
    }
  });
}

export interface CreateBackendOptions {
  /** Tern's interface name prefix. */
  prefix: string;
  rtnl?: Rtnl;
  /** Default kernelProbe(rtnl). */
  probe?: WireGuardProbe;
  logger?: Logger;
  /** Options of the userspace backend's wireguard-go. */
  wireguardGo?: WireguardGoOptions;
  /** Genetlink socket for the kernel backend (tests). */
  genl?: WgGenlSocket;
  /** Where UAPI sockets live (tests). */
  uapiDir?: string;
}

/** Detects and builds the backend; TernError when neither kind is available. */
export async function createWireGuardBackend(opts: CreateBackendOptions): Promise<WireGuardBackend> {
  const log = opts.logger ?? silentLogger();
  let kind: WireGuardKind;
  if (opts.probe) {
    kind = await detectWireGuard(opts.probe);
  } else {
    const probeRtnl = opts.rtnl ?? new Rtnl({ logger: log });
    try {
      kind = await detectWireGuard(kernelProbe(probeRtnl));
    } finally {
      if (!opts.rtnl) probeRtnl.close();
    }
  }
  // A backend given no Rtnl opens and closes its own.
  const rtnl = opts.rtnl ? { rtnl: opts.rtnl } : {};
  if (kind === 'kernel') {
    log.info('wireguard: using kernel WireGuard (genetlink)');
    return new KernelBackend({ prefix: opts.prefix, ...rtnl, logger: log, ...(opts.genl ? { genl: opts.genl } : {}) });
  }
  const command = opts.wireguardGo?.command ?? ['wireguard-go'];
  const program = command.find((a) => path.basename(a).startsWith('wireguard-go')) ?? command[0];
  if (!program || !findProgram(program)) {
    throw new TernError('TERN_E_KERNEL_WG_BACKEND', `wireguard: detect: this kernel has no WireGuard and ${program ?? 'wireguard-go'} is not installed; want one of them`);
  }
  log.info({ program }, 'wireguard: kernel has no WireGuard; using wireguard-go (userspace)');
  return new UserspaceBackend({
    prefix: opts.prefix, ...rtnl, logger: log, wireguardGo: new WireguardGo(opts.wireguardGo ?? {}),
    ...(opts.uapiDir ? { uapiDir: opts.uapiDir } : {}),
  });
}
