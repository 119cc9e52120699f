// The WireGuard backend for kernels with WireGuard: interfaces are rtnetlink
// links of kind `wireguard`, configured through the `wireguard` generic
// netlink family (messages in genl.ts).
import { FlagsGet, createGenericNetlink, genl, type GenericNetlinkSocket } from 'netlink';
import { TernError } from '../../errors.js';
import { kernelError, hasErrno } from '../net/errno.js';
import { RequestQueue } from '../net/netlink-client.js';
import { checkIfname } from '../net/validate.js';
import { BaseBackend, type BaseBackendOptions } from './backend.js';
import {
  WG_CMD_GET_DEVICE, WG_CMD_SET_DEVICE, WG_GENL_NAME, WG_GENL_VERSION, decodeDevice, encodeGetDevice, encodeSetDevice,
} from './genl.js';
import type { DeviceChange, DeviceSnapshot, WireGuardBackend } from './types.js';

/** Carries WireGuard genetlink payloads (attributes after the genl header); tests pass a recorder. */
export interface WgGenlSocket {
  /** GET_DEVICE dump for the interface named in `request`; the payload of each reply. */
  getDevice(request: Buffer): Promise<Buffer[]>;
  /** One SET_DEVICE request. */
  setDevice(request: Buffer): Promise<void>;
  close(): void;
}

/** The real socket: resolves the `wireguard` family (loading the module if the kernel can). */
export async function openWgGenlSocket(timeoutMs = 5000): Promise<WgGenlSocket> {
  const s: GenericNetlinkSocket = createGenericNetlink();
  let familyId: number | undefined;
  try {
    const fams = await s.ctrlRequest(genl.Commands.GET_FAMILY, { familyName: WG_GENL_NAME }, { timeout: timeoutMs });
    familyId = fams.find((f) => f.familyName === WG_GENL_NAME)?.familyId;
  } catch (err) {
    s.socket.close();
    if (hasErrno(err, 'ENOENT')) {
      throw new TernError('TERN_E_KERNEL_WG_BACKEND', 'wireguard: open genetlink: the kernel has no wireguard family; want the wireguard module or the userspace backend', { cause: err });
    }
    throw kernelError('genetlink family lookup wireguard', err, { component: 'wireguard' });
  }
  if (familyId === undefined) {
    s.socket.close();
    throw new TernError('TERN_E_KERNEL_WG_BACKEND', 'wireguard: open genetlink: family lookup returned no id for wireguard');
  }
  const id = familyId;
  // One request at a time, for the same reasons as Rtnl: one dump per socket, one multipart slot.
  const queue = new RequestQueue();
  return {
    getDevice: (request) => queue.run(async () => {
      const [msgs] = await s.request(id, WG_CMD_GET_DEVICE, WG_GENL_VERSION, request, { flags: FlagsGet.DUMP, timeout: timeoutMs });
      return msgs.map((m) => m.data);
    }),
    setDevice: (request) => queue.run(async () => {
      await s.request(id, WG_CMD_SET_DEVICE, WG_GENL_VERSION, request, { timeout: timeoutMs });
    }),
    close: () => s.socket.close(),
  };
}

export interface KernelBackendOptions extends BaseBackendOptions {
  /** Default: openWgGenlSocket() on first use. */
  genl?: WgGenlSocket;
}

const KIND = 'wireguard';

export class KernelBackend extends BaseBackend implements WireGuardBackend {
  readonly kind = 'kernel' as const;
  private genl: WgGenlSocket | undefined;

  constructor(opts: KernelBackendOptions) {
    super('kernel', opts);
    this.genl = opts.genl;
  }

  override close(): void {
    this.genl?.close();
    this.genl = undefined;
    super.close();
  }

  private async socket(): Promise<WgGenlSocket> {
    this.genl ??= await openWgGenlSocket();
    return this.genl;
  }

  async create(ifname: string): Promise<void> {
    await this.checkNameFree(ifname);
    await this.rtnl.addLink(ifname, KIND);
    this.log.info({ ifname }, 'wireguard: interface created (kernel)');
  }

  async exists(ifname: string): Promise<boolean> {
    const link = await this.rtnl.link(checkIfname(ifname));
    return link !== null && link.kind === KIND;
  }

  async list(): Promise<string[]> {
    return (await this.rtnl.links()).filter((l) => l.kind === KIND && l.name.startsWith(this.prefix)).map((l) => l.name);
  }

  protected async read(ifname: string): Promise<DeviceSnapshot> {
    const s = await this.socket();
    let replies: Buffer[];
    try {
      replies = await s.getDevice(encodeGetDevice(checkIfname(ifname)));
    } catch (err) {
      throw kernelError(`get ${ifname}`, err, { component: 'wireguard', subject: ifname });
    }
    return decodeDevice(ifname, replies);
  }

  protected async send(ifname: string, change: DeviceChange): Promise<number> {
    const requests = encodeSetDevice(ifname, change);
    const s = await this.socket();
    for (const r of requests) {
      try {
        await s.setDevice(r);
      } catch (err) {
        throw kernelError(`set ${ifname}`, err, { component: 'wireguard', subject: ifname });
      }
    }
    return requests.length;
  }

  async destroy(ifname: string): Promise<void> {
    const link = await this.rtnl.link(checkIfname(ifname));
    if (!link) return;
    if (link.kind !== KIND) {
      throw new TernError('TERN_E_KERNEL_WG_BACKEND', `wireguard: destroy ${ifname}: got a link of kind ${link.kind ?? 'none'}; want kind ${KIND} (not removing someone else's interface)`);
    }
    await this.rtnl.deleteLink(ifname);
    this.log.info({ ifname }, 'wireguard: interface destroyed (kernel)');
  }
}
