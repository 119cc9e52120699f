// The VIPs on the pair interface: put on when master, taken off when not,
// found when a crashed paird left them; with virtualMac they live on a
// macvlan carrying the VRRP MAC. Also the announcements (gratuitous ARP,
// unsolicited NA) a new master sends for them.
import fs from 'node:fs';
import { createRtNetlink, FlagsNew, type RtNetlinkSocket } from 'netlink';
import { TernError, errorMessage } from '../lib/errors.js';
import { hasErrno, type AddressInfo, type LinkInfo, type LinkRef } from '../lib/kernel/index.js';
import { virtualMacIfname } from '../lib/kernel/names.js';
import { silentLogger, type Logger } from '../lib/log/index.js';
import { addressBytes, formatAddressBytes, type Family } from './addr.js';
import { gratuitousArp, unsolicitedNa } from './garp.js';
import { loadNative, type NativeModule } from '../lib/native/index.js';

/** The part of the kernel library VIP handling uses (Rtnl has it); tests pass a fake. */
export interface VipKernel {
  link(name: string): Promise<LinkInfo | null>;
  addresses(ifname?: string): Promise<AddressInfo[]>;
  /** By LinkRef: one netlink round trip (by name: two, the lookup first). */
  addAddress(link: string | LinkRef, cidr: string, opts?: { nodad?: boolean }): Promise<void>;
  deleteAddress(ifname: string, cidr: string): Promise<void>;
  setLinkUp(name: string, up: boolean): Promise<void>;
}

/** Creates the virtual-MAC interface; tests pass a fake. */
export type MacvlanMaker = (name: string, parent: string, mac: string) => Promise<void>;

/** Writes one sysctl (path under /proc/sys/, dotted or slashed); tests pass a fake. */
export type SysctlWriter = (key: string, value: string) => void;

/** The real sysctl writer: /proc/sys of this process's network namespace. */
export const procSysctl: SysctlWriter = (key, value) => {
  fs.writeFileSync(`/proc/sys/${key.replace(/\./g, '/')}`, value);
};

/** Name of the virtual-MAC interface of a VRID: tpair<vrid> (lib/kernel/names.ts). */
export { virtualMacIfname };

// rtnetlink attribute numbers for a macvlan (linux/if_link.h).
const IFLA_INFO_KIND = 1;
const IFLA_INFO_DATA = 2;
const IFLA_MACVLAN_MODE = 1;
/** MACVLAN_MODE_PRIVATE: the macvlan talks to the wire only, as keepalived's VMAC does. */
const MACVLAN_MODE_PRIVATE = 1;

function nla(type: number, data: Buffer): Buffer {
  const len = 4 + data.length;
  const out = Buffer.alloc((len + 3) & ~3);
  out.writeUInt16LE(len, 0);
  out.writeUInt16LE(type, 2);
  data.copy(out, 4);
  return out;
}

/** IFLA_LINKINFO of a private-mode macvlan (byte layout tested in vip.test.ts). */
export function macvlanLinkInfo(): Buffer {
  const mode = Buffer.alloc(4);
  mode.writeUInt32LE(MACVLAN_MODE_PRIVATE, 0);
  return Buffer.concat([nla(IFLA_INFO_KIND, Buffer.from('macvlan\0', 'latin1')), nla(IFLA_INFO_DATA, nla(IFLA_MACVLAN_MODE, mode))]);
}

/** The real maker: RTM_NEWLINK macvlan on parent with the given MAC, created down. */
export function netlinkMacvlanMaker(): MacvlanMaker {
  return async (name, parent, mac) => {
    let s: RtNetlinkSocket | undefined;
    try {
      s = createRtNetlink();
      const p = await s.getLink({}, { ifname: parent }, { timeout: 2000 });
      const index = p.find((m) => m.kind === 'link' && m.attrs.ifname === parent)?.data.index;
      if (typeof index !== 'number') throw new Error(`no interface ${parent}`);
      const link = Buffer.alloc(4);
      link.writeUInt32LE(index, 0);
      await s.newLink({}, { ifname: name, link, address: Buffer.from(mac.split(':').map((h) => parseInt(h, 16))), linkinfo: macvlanLinkInfo() },
        { flags: FlagsNew.CREATE | FlagsNew.EXCL, timeout: 2000 });
    } catch (err) {
      throw new TernError('TERN_E_PAIRD_VIP', `paird: vip: create ${name} (macvlan on ${parent}, MAC ${mac}): ${errorMessage(err)}`, { cause: err });
    } finally {
      s?.socket.close();
    }
  };
}

export interface VipManagerOptions {
  kernel: VipKernel;
  /** The pair interface. */
  interface: string;
  /** address/length, one family. */
  vips: string[];
  family: Family;
  /** With virtualMac: the macvlan's name and MAC; the VIPs live on it. */
  virtualMac?: { ifname: string; mac: string };
  makeMacvlan?: MacvlanMaker;
  sysctl?: SysctlWriter;
  logger?: Logger;
}

const canonical = (cidr: string): string => {
  const [a, l] = cidr.split('/');
  const b = addressBytes(a);
  return b ? `${formatAddressBytes(b)}/${l}` : cidr;
};

/**
 * Puts the VIPs on and off the pair interface. Operations run one at a
 * time in the order asked, so a quick master → backup → master leaves the
 * addresses as the last call says.
 */
export class VipManager {
  private readonly kernel: VipKernel;
  private readonly ifname: string;
  private readonly vips: string[];
  private readonly family: Family;
  private readonly vmac: { ifname: string; mac: string } | undefined;
  private readonly makeMacvlan: MacvlanMaker;
  private readonly sysctl: SysctlWriter;
  private readonly log: Logger;
  private chain: Promise<void> = Promise.resolve();
  /**
   * The device's ifindex, so that a takeover's add is one netlink round
   * trip instead of two (lookup by name, then add): the announcement waits
   * for the add. Set from the link monitor (linkChanged) or a lookup;
   * undefined when unknown. A link re-created since has another index: the
   * add fails with ENODEV and is retried once with the index looked up again.
   */
  private index: number | undefined;
  /**
   * Adds and removals done (a restart that adopts its VIPs shows 0
   * removals); linkLookups: the device's index looked up by name.
   */
  readonly counters = { added: 0, removed: 0, errors: 0, linkLookups: 0 };
  lastError: string | null = null;

  constructor(opts: VipManagerOptions) {
    this.kernel = opts.kernel;
    this.ifname = opts.interface;
    this.vips = opts.vips.map(canonical);
    this.family = opts.family;
    this.vmac = opts.virtualMac;
    this.makeMacvlan = opts.makeMacvlan ?? netlinkMacvlanMaker();
    this.sysctl = opts.sysctl ?? procSysctl;
    this.log = opts.logger ?? silentLogger();
  }

  /** Where the VIPs live: the macvlan with virtualMac, else the pair interface. */
  get device(): string { return this.vmac?.ifname ?? this.ifname; }

  /** The configured VIPs (address/length). */
  get addresses(): string[] { return [...this.vips]; }

  /**
   * Makes sure the virtual-MAC interface exists (created down) and that
   * neither interface answers ARP for the other's addresses: arp_ignore=1,
   * so the parent never claims a VIP with its own MAC and the macvlan never
   * claims the parent's address with the virtual one.
   */
  async prepare(): Promise<void> {
    if (!this.vmac) {
      await this.serial(() => this.learnIndex());
      return;
    }
    const v = this.vmac;
    await this.serial(async () => {
      if (!(await this.kernel.link(v.ifname))) {
        await this.makeMacvlan(v.ifname, this.ifname, v.mac);
        this.log.info({ ifname: v.ifname, parent: this.ifname, mac: v.mac }, 'paird: vip: virtual-MAC interface created');
      }
      for (const dev of [this.ifname, v.ifname]) {
        this.trySysctl(`net.ipv4.conf.${dev}.arp_ignore`, '1');
      }
      // ARP requests the parent sends (e.g. to reach a host it answers from
      // a VIP) must not name a VIP as sender: hosts would learn the parent's
      // MAC for it.
      this.trySysctl(`net.ipv4.conf.${this.ifname}.arp_announce`, '2');
      // Replies to LAN hosts may leave by the parent: strict reverse-path
      // checks on the macvlan would drop what arrives for the virtual MAC.
      this.trySysctl(`net.ipv4.conf.${v.ifname}.rp_filter`, '0');
      // No IPv6 autoconfiguration on an IPv4 virtual MAC: its link-local
      // address and DAD would show the MAC from both boxes.
      if (this.family === 4) this.trySysctl(`net.ipv6.conf.${v.ifname}.disable_ipv6`, '1');
      await this.learnIndex();
    });
  }

  /**
   * What the link monitor read of a link: a new index (the link was
   * re-created) replaces the cached one; null (gone) forgets it. Other
   * links are ignored.
   */
  linkChanged(name: string, index: number | null): void {
    if (name !== this.device) return;
    this.index = index ?? undefined;
  }

  /** The cached index of the device (undefined: looked up by the next add). */
  get deviceIndex(): number | undefined { return this.index; }

  /** Which configured VIPs are on the device now. */
  async present(): Promise<string[]> {
    if (this.vmac && !(await this.kernel.link(this.vmac.ifname))) return [];
    const have = new Set((await this.kernel.addresses(this.device)).map((a) => canonical(a.cidr)));
    return this.vips.filter((v) => have.has(v));
  }

  /** Puts every VIP on (idempotent); with virtualMac, brings the macvlan up first. */
  add(): Promise<void> {
    return this.serial(async () => {
      if (this.vmac) {
        const l = await this.kernel.link(this.vmac.ifname);
        if (l) this.index = l.index;
        if (!l?.up) await this.kernel.setLinkUp(this.vmac.ifname, true);
      }
      // NLM_F_REPLACE: an address already there (adopted after a restart)
      // is updated in place, never removed, so it does not flap. No listing
      // first: a dump of every link and address costs more than the adds.
      for (const v of this.vips) {
        await this.addOne(v);
        this.counters.added++;
      }
      this.log.info({ device: this.device, vips: this.vips }, 'paird: vip: VIPs on');
    });
  }

  /** Takes every VIP off (idempotent); with virtualMac, the macvlan goes down so it sends nothing. */
  remove(): Promise<void> {
    return this.serial(async () => {
      const here = await this.present();
      for (const v of here) {
        await this.kernel.deleteAddress(this.device, v);
        this.counters.removed++;
      }
      if (this.vmac && (await this.kernel.link(this.vmac.ifname))?.up) await this.kernel.setLinkUp(this.vmac.ifname, false);
      if (here.length > 0) this.log.info({ device: this.device, vips: here }, 'paird: vip: VIPs off');
    });
  }

  /** One VIP on, by the cached index; on ENODEV (a re-created link) the index is looked up again and the add retried once. */
  private async addOne(cidr: string): Promise<void> {
    const opts = { nodad: this.family === 6 };
    const index = this.index ?? await this.lookupIndex();
    try {
      await this.kernel.addAddress({ ifindex: index, name: this.device }, cidr, opts);
    } catch (err) {
      if (!hasErrno(err, 'ENODEV')) throw err;
      this.log.info({ device: this.device, index }, 'paird: vip: the interface index is gone (link re-created?); looking it up again');
      this.index = undefined;
      await this.kernel.addAddress({ ifindex: await this.lookupIndex(), name: this.device }, cidr, opts);
    }
  }

  /** The device's index by name; throws TERN_E_PAIRD_VIP when there is no such link. */
  private async lookupIndex(): Promise<number> {
    this.counters.linkLookups++;
    const l = await this.kernel.link(this.device);
    if (!l) throw new TernError('TERN_E_PAIRD_VIP', `paird: vip: add on ${this.device}: ENODEV: no such interface ${this.device}`, { details: { errno: 'ENODEV' } });
    this.index = l.index;
    return l.index;
  }

  /** At start: the index if the device is there (a missing one is looked up by the first add). */
  private async learnIndex(): Promise<void> {
    if (this.index !== undefined) return;
    try {
      await this.lookupIndex();
    } catch (err) {
      this.log.debug({ device: this.device, err: errorMessage(err) }, 'paird: vip: interface index not known yet');
    }
  }

  /** Waits for the operations asked so far. */
  settled(): Promise<void> { return this.chain; }

  private serial(op: () => Promise<void>): Promise<void> {
    const run = this.chain.then(op).then(() => { this.lastError = null; }, (err: unknown) => {
      this.counters.errors++;
      this.lastError = errorMessage(err);
      throw err instanceof TernError ? err : new TernError('TERN_E_PAIRD_VIP', `paird: vip: ${this.device}: ${errorMessage(err)}`, { cause: err });
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  private trySysctl(key: string, value: string): void {
    try {
      this.sysctl(key, value);
    } catch (err) {
      this.log.warn({ key, value, err: errorMessage(err) }, 'paird: vip: cannot set sysctl');
    }
  }
}

/** Sends prebuilt Ethernet frames on one device; tests pass a fake. */
export interface FrameSender {
  send(frame: Buffer): void;
  close(): void;
}

export type FrameSenderFactory = (device: string) => FrameSender;

/** The real sender: native etherOpen. Throws TERN_E_PAIRD_SOCKET. */
export function nativeFrameSender(native: NativeModule = loadNative()): FrameSenderFactory {
  return (device) => {
    let h: ReturnType<NativeModule['etherOpen']>;
    try {
      h = native.etherOpen(device);
    } catch (err) {
      throw new TernError('TERN_E_PAIRD_SOCKET', `paird: announce: open packet socket on ${device}: ${errorMessage(err)}`, { cause: err });
    }
    return {
      send(frame) {
        try {
          native.etherSend(h, frame);
        } catch (err) {
          throw new TernError('TERN_E_PAIRD_SOCKET', `paird: announce: send on ${device}: ${errorMessage(err)}`, { cause: err });
        }
      },
      close() { native.etherClose(h); },
    };
  };
}

/** The frames of one announcement round: a gratuitous ARP or unsolicited NA per VIP. */
export function announcementFrames(vips: string[], family: Family, mac: string): Buffer[] {
  return vips.map((v) => {
    const address = v.split('/')[0]!;
    return family === 4 ? gratuitousArp({ mac, address }) : unsolicitedNa({ mac, target: address });
  });
}
