// The WireGuard backend for kernels without WireGuard: one wireguard-go
// process per interface, configured over its UAPI socket. It keeps no state
// of its own: interfaces, processes and configuration are read back from
// the kernel, /proc and the socket, so a restarted daemon finds them as
// they were (see wggo.ts for why the process outlives the daemon).
import fs from 'node:fs';
import { TernError } from '../../errors.js';
import { silentLogger, type Logger } from '../../log/index.js';
import { hasErrno } from '../net/errno.js';
import { Rtnl } from '../rtnl/rtnl.js';
import { checkIfname } from '../net/validate.js';
import { isEmptyChange, planChange, publicState, summarize } from './plan.js';
import { GET_REQUEST, parseGetReply, parseSetReply, serializeSet } from './uapi.js';
import { DEFAULT_UAPI_DIR, createUapiTransport, uapiSocketPath, type UapiTransport } from './uapi-socket.js';
import { WireguardGo, type WireguardGoOptions } from './wggo.js';
import type { ConfigureResult, DesiredDevice, DeviceSnapshot, DeviceState, WireGuardBackend } from './types.js';

export interface UserspaceBackendOptions {
  /** Interface name prefix of Tern's tunnels, e.g. 'tn'; list() returns only these. */
  prefix: string;
  /** Default: a new Rtnl in this process's namespace. */
  rtnl?: Rtnl;
  /** Default: Unix sockets in uapiDir. */
  uapi?: UapiTransport;
  /** Default /var/run/wireguard (where wireguard-go puts them; not configurable there). */
  uapiDir?: string;
  /** Default: a WireguardGo with its defaults. */
  wireguardGo?: WireguardGo | WireguardGoOptions;
  logger?: Logger;
}

// wireguard-go's interfaces are TUN devices; a link of another kind with a Tern name is not ours.
const TUN = 'tun';

export class UserspaceBackend implements WireGuardBackend {
  readonly kind = 'userspace' as const;
  private readonly prefix: string;
  private readonly rtnl: Rtnl;
  private readonly ownRtnl: boolean;
  private readonly uapi: UapiTransport;
  private readonly uapiDir: string;
  private readonly wggo: WireguardGo;
  private readonly log: Logger;

  constructor(opts: UserspaceBackendOptions) {
    if (typeof opts.prefix !== 'string' || !/^[A-Za-z0-9_-]{1,8}$/.test(opts.prefix)) {
      throw new TernError('TERN_E_KERNEL_ARG', `wireguard: userspace backend: got prefix ${JSON.stringify(opts.prefix)}; want 1-8 letters, digits, '-' or '_'`);
    }
    this.prefix = opts.prefix;
    this.ownRtnl = opts.rtnl === undefined;
    this.rtnl = opts.rtnl ?? new Rtnl();
    this.uapiDir = opts.uapiDir ?? DEFAULT_UAPI_DIR;
    this.uapi = opts.uapi ?? createUapiTransport({ dir: this.uapiDir });
    this.wggo = opts.wireguardGo instanceof WireguardGo ? opts.wireguardGo : new WireguardGo(opts.wireguardGo ?? {});
    this.log = opts.logger ?? silentLogger();
  }

  close(): void {
    if (this.ownRtnl) this.rtnl.close();
  }

  private socketPath(ifname: string): string {
    return uapiSocketPath(this.uapiDir, ifname);
  }

  async create(ifname: string): Promise<void> {
    checkIfname(ifname);
    if (await this.rtnl.link(ifname)) {
      throw new TernError('TERN_E_KERNEL_WG_BACKEND', `wireguard: create ${ifname}: an interface of that name already exists in this namespace`);
    }
    // The socket path is shared by every namespace: a live socket means the name is taken elsewhere.
    if (fs.existsSync(this.socketPath(ifname))) {
      const live = await this.uapi(ifname, GET_REQUEST).then(() => true, () => false);
      if (live) {
        throw new TernError('TERN_E_KERNEL_WG_BACKEND', `wireguard: create ${ifname}: the name is in use by wireguard-go in another namespace; want a machine-wide unique name`);
      }
    }
    await this.wggo.start(ifname);
    const link = await this.rtnl.link(ifname);
    if (!link || link.kind !== TUN) {
      throw new TernError('TERN_E_KERNEL_WG_BACKEND', `wireguard: create ${ifname}: wireguard-go started but no TUN interface ${ifname} is in this namespace`);
    }
    this.log.info({ ifname, pids: this.wggo.find(ifname).map((r) => r.pid) }, 'wireguard: interface created (wireguard-go)');
  }

  async exists(ifname: string): Promise<boolean> {
    const link = await this.rtnl.link(checkIfname(ifname));
    return link !== null && link.kind === TUN && fs.existsSync(this.socketPath(ifname));
  }

  async list(): Promise<string[]> {
    const links = await this.rtnl.links();
    return links
      .filter((l) => l.name.startsWith(this.prefix) && l.kind === TUN && fs.existsSync(this.socketPath(l.name)))
      .map((l) => l.name);
  }

  /**
   * Reads the device, after checking it is in this namespace: the socket
   * path is machine-wide, so without the check a wrong name would read (and
   * configure() would change) another namespace's interface.
   */
  private async read(ifname: string): Promise<DeviceSnapshot> {
    const link = await this.rtnl.link(checkIfname(ifname));
    if (!link || link.kind !== TUN) {
      throw new TernError('TERN_E_KERNEL_WG_BACKEND', `wireguard: get ${ifname}: no wireguard-go interface of that name in this namespace`);
    }
    return parseGetReply(ifname, await this.uapi(ifname, GET_REQUEST));
  }

  async get(ifname: string): Promise<DeviceState> {
    return publicState(await this.read(ifname));
  }

  async configure(ifname: string, desired: DesiredDevice): Promise<ConfigureResult> {
    const current = await this.read(ifname);
    const change = planChange(ifname, current, desired);
    if (isEmptyChange(change)) return summarize(change, current, 0);
    parseSetReply(ifname, await this.uapi(ifname, serializeSet(change)));
    const result = summarize(change, current, 1);
    this.log.info({ ifname, ...result }, 'wireguard: interface configured');
    return result;
  }

  async destroy(ifname: string): Promise<void> {
    checkIfname(ifname);
    const procs = this.wggo.find(ifname);
    const link = await this.rtnl.link(ifname);
    if (link && link.kind !== TUN) {
      throw new TernError('TERN_E_KERNEL_WG_BACKEND', `wireguard: destroy ${ifname}: got a link of kind ${link.kind ?? 'none'}; want a wireguard-go TUN (not removing someone else's interface)`);
    }
    // SIGTERM makes wireguard-go remove its socket and its TUN device on the way out.
    if (procs.length > 0) await this.wggo.stop(procs);
    // A TUN device goes with its process; this covers one whose process was not found.
    // It may vanish between the look and the delete, which is the outcome wanted.
    if (link && (await this.rtnl.link(ifname))) {
      await this.rtnl.deleteLink(ifname).catch((err: unknown) => { if (!hasErrno(err, 'ENODEV')) throw err; });
    }
    const sock = this.socketPath(ifname);
    if (fs.existsSync(sock)) {
      // Only a dead socket is ours to remove: a live one belongs to another namespace's interface.
      const live = await this.uapi(ifname, GET_REQUEST).then(() => true, () => false);
      if (!live) fs.rmSync(sock, { force: true });
    }
    this.log.info({ ifname, pids: procs.map((r) => r.pid) }, 'wireguard: interface destroyed (wireguard-go)');
  }
}
