// The WireGuard backend for kernels without WireGuard: one wireguard-go
// process per interface, configured over its UAPI socket. It keeps no state
// of its own: interfaces, processes and configuration are read back from
// the kernel, /proc and the socket, so a restarted daemon finds them as
// they were (see wggo.ts for why the process outlives the daemon).
import fs from 'node:fs';
import { TernError } from '../../errors.js';
import { hasErrno } from '../net/errno.js';
import { checkIfname } from '../net/validate.js';
import { BaseBackend, type BaseBackendOptions } from './backend.js';
import { GET_REQUEST, parseGetReply, parseSetReply, serializeSet } from './uapi.js';
import { DEFAULT_UAPI_DIR, createUapiTransport, uapiSocketPath, type UapiTransport } from './uapi-socket.js';
import { WireguardGo, type WireguardGoOptions } from './wggo.js';
import type { DeviceChange, DeviceSnapshot, WireGuardBackend } from './types.js';

export interface UserspaceBackendOptions extends BaseBackendOptions {
  /** Default: Unix sockets in uapiDir. */
  uapi?: UapiTransport;
  /** Default /var/run/wireguard (where wireguard-go puts them; not configurable there). */
  uapiDir?: string;
  /** Default: a WireguardGo with its defaults. */
  wireguardGo?: WireguardGo | WireguardGoOptions;
}

// wireguard-go's interfaces are TUN devices; a link of another kind with a Tern name is not ours.
const TUN = 'tun';

export class UserspaceBackend extends BaseBackend implements WireGuardBackend {
  readonly kind = 'userspace' as const;
  private readonly uapi: UapiTransport;
  private readonly uapiDir: string;
  private readonly wggo: WireguardGo;

  constructor(opts: UserspaceBackendOptions) {
    super('userspace', opts);
    this.uapiDir = opts.uapiDir ?? DEFAULT_UAPI_DIR;
    this.uapi = opts.uapi ?? createUapiTransport({ dir: this.uapiDir });
    this.wggo = opts.wireguardGo instanceof WireguardGo ? opts.wireguardGo : new WireguardGo(opts.wireguardGo ?? {});
  }

  private socketPath(ifname: string): string {
    return uapiSocketPath(this.uapiDir, ifname);
  }

  async create(ifname: string): Promise<void> {
    await this.checkNameFree(ifname);
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
  protected async read(ifname: string): Promise<DeviceSnapshot> {
    const link = await this.rtnl.link(checkIfname(ifname));
    if (!link || link.kind !== TUN) {
      throw new TernError('TERN_E_KERNEL_WG_BACKEND', `wireguard: get ${ifname}: no wireguard-go interface of that name in this namespace`);
    }
    return parseGetReply(ifname, await this.uapi(ifname, GET_REQUEST));
  }

  protected async send(ifname: string, change: DeviceChange): Promise<number> {
    parseSetReply(ifname, await this.uapi(ifname, serializeSet(change)));
    return 1;
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
