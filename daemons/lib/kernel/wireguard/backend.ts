// What the kernel and wireguard-go backends share: the prefix check, the
// Rtnl they own or borrow, the name check before create, and configure():
// read the device, plan the smallest change, send it, report it. Each
// backend supplies how a device is read and how a change is sent.
import { TernError } from '../../errors.js';
import { silentLogger, type Logger } from '../../log/index.js';
import { Rtnl } from '../rtnl/rtnl.js';
import { checkIfname } from '../net/validate.js';
import { isEmptyChange, planChange, publicState, summarize } from './plan.js';
import type { ConfigureResult, DesiredDevice, DeviceChange, DeviceSnapshot, DeviceState, WireGuardBackend } from './types.js';

export interface BaseBackendOptions {
  /** Interface name prefix of Tern's tunnels, e.g. 'tn'; list() returns only these. */
  prefix: string;
  /** Default: a new Rtnl in this process's namespace, closed by close(). */
  rtnl?: Rtnl;
  logger?: Logger;
}

export abstract class BaseBackend {
  protected readonly prefix: string;
  protected readonly rtnl: Rtnl;
  private readonly ownRtnl: boolean;
  protected readonly log: Logger;

  /** kind names the backend in the prefix error (the subclass's `kind` field is not set yet here). */
  constructor(kind: WireGuardBackend['kind'], opts: BaseBackendOptions) {
    if (typeof opts.prefix !== 'string' || !/^[A-Za-z0-9_-]{1,8}$/.test(opts.prefix)) {
      throw new TernError('TERN_E_KERNEL_ARG', `wireguard: ${kind} backend: got prefix ${JSON.stringify(opts.prefix)}; want 1-8 letters, digits, '-' or '_'`);
    }
    this.prefix = opts.prefix;
    this.ownRtnl = opts.rtnl === undefined;
    this.rtnl = opts.rtnl ?? new Rtnl();
    this.log = opts.logger ?? silentLogger();
  }

  close(): void {
    if (this.ownRtnl) this.rtnl.close();
  }

  /** Before create: refuses a bad name, or one a link of this namespace already has. */
  protected async checkNameFree(ifname: string): Promise<void> {
    checkIfname(ifname);
    if (await this.rtnl.link(ifname)) {
      throw new TernError('TERN_E_KERNEL_WG_BACKEND', `wireguard: create ${ifname}: an interface of that name already exists in this namespace`);
    }
  }

  /** The device as it is, preshared key digests included (for the comparison). */
  protected abstract read(ifname: string): Promise<DeviceSnapshot>;

  /** Sends a non-empty change; returns how many requests it took. */
  protected abstract send(ifname: string, change: DeviceChange): Promise<number>;

  async get(ifname: string): Promise<DeviceState> {
    return publicState(await this.read(ifname));
  }

  async configure(ifname: string, desired: DesiredDevice): Promise<ConfigureResult> {
    const current = await this.read(ifname);
    const change = planChange(ifname, current, desired);
    if (isEmptyChange(change)) return summarize(change, current, 0);
    const result = summarize(change, current, await this.send(ifname, change));
    this.log.info({ ifname, ...result }, 'wireguard: interface configured');
    return result;
  }
}
