import t from 'tap';
import type { AddressInfo, LinkInfo, LinkRef } from '../lib/kernel/index.js';
import { VipManager, announcementFrames, macvlanLinkInfo, virtualMacIfname, type VipKernel } from './vip.js';

class FakeKernel implements VipKernel {
  addrs = new Map<string, Set<string>>();
  links = new Map<string, LinkInfo>();
  log: string[] = [];
  /** Netlink round trips in order: `link <name>` and `add <cidr> <name or #index>`. */
  trips: string[] = [];
  async link(name: string): Promise<LinkInfo | null> {
    this.trips.push(`link ${name}`);
    return this.links.get(name) ?? null;
  }
  setLink(name: string, index: number): void {
    this.links.set(name, { name, index, kind: null, up: true, mtu: 1500 });
  }
  async addresses(ifname?: string): Promise<AddressInfo[]> {
    return [...(this.addrs.get(ifname ?? '') ?? [])].map((cidr) => ({ ifname: ifname ?? '', index: 2, family: cidr.includes(':') ? 6 : 4, cidr }));
  }
  async addAddress(link: string | LinkRef, cidr: string, opts: { nodad?: boolean } = {}): Promise<void> {
    this.trips.push(`add ${cidr} ${typeof link === 'string' ? link : `#${link.ifindex}`}`);
    const ifname = typeof link === 'string' ? link : [...this.links.values()].find((l) => l.index === link.ifindex)?.name;
    if (ifname === undefined || !this.links.has(ifname)) throw new Error('Request rejected: ENODEV');
    this.log.push(`add ${cidr} ${ifname}${opts.nodad ? ' nodad' : ''}`);
    if (!this.addrs.has(ifname)) this.addrs.set(ifname, new Set());
    this.addrs.get(ifname)!.add(cidr);
  }
  async deleteAddress(ifname: string, cidr: string): Promise<void> {
    this.log.push(`del ${cidr} ${ifname}`);
    this.addrs.get(ifname)?.delete(cidr);
  }
  async setLinkUp(name: string, up: boolean): Promise<void> {
    this.log.push(`${name} ${up ? 'up' : 'down'}`);
    this.links.get(name)!.up = up;
  }
}

t.test('IFLA_LINKINFO of a private-mode macvlan, byte for byte', async (t) => {
  // kind "macvlan\0" (len 12), then IFLA_INFO_DATA (len 12) holding IFLA_MACVLAN_MODE = 1 (len 8).
  const want = Buffer.from([
    12, 0, 1, 0, 0x6d, 0x61, 0x63, 0x76, 0x6c, 0x61, 0x6e, 0,
    12, 0, 2, 0, 8, 0, 1, 0, 1, 0, 0, 0,
  ]);
  t.same(macvlanLinkInfo(), want, `got ${macvlanLinkInfo().toString('hex')}; want ${want.toString('hex')}`);
  t.equal(virtualMacIfname(51), 'tpair51');
});

t.test('VIPs on the pair interface: add, present, remove', async (t) => {
  const k = new FakeKernel();
  k.setLink('lan0', 2);
  k.addrs.set('lan0', new Set(['10.1.0.2/24']));
  const v = new VipManager({ kernel: k, interface: 'lan0', vips: ['10.1.0.1/24'], family: 4, sysctl: () => { throw new Error('no sysctl without virtualMac'); } });
  await v.prepare();
  t.same(await v.present(), []);
  await v.add();
  await v.add();
  t.same(await v.present(), ['10.1.0.1/24']);
  await v.remove();
  await v.remove();
  t.same(k.log, ['add 10.1.0.1/24 lan0', 'add 10.1.0.1/24 lan0', 'del 10.1.0.1/24 lan0'], 'adds replace in place; a remove of what is gone does nothing');
  t.same(v.counters, { added: 2, removed: 1, errors: 0, linkLookups: 1 });
  const v6 = new VipManager({ kernel: k, interface: 'lan0', vips: ['fe80::200:5eff:fe00:233/64', '2001:DB8::1/64'], family: 6 });
  await v6.add();
  t.same(k.log.slice(-2), ['add fe80::200:5eff:fe00:233/64 lan0 nodad', 'add 2001:db8::1/64 lan0 nodad'], 'IPv6 VIPs skip DAD; addresses canonical');
});

t.test('virtual MAC: macvlan made once, up only while master, ARP kept apart', async (t) => {
  const k = new FakeKernel();
  const made: string[] = [];
  const sysctls: string[] = [];
  const v = new VipManager({
    kernel: k, interface: 'lan0', vips: ['10.1.0.1/24'], family: 4, virtualMac: { ifname: 'tpair7', mac: '00:00:5e:00:01:07' },
    makeMacvlan: async (name, parent, mac) => {
      made.push(`${name} on ${parent} ${mac}`);
      k.links.set(name, { name, index: 9, kind: 'macvlan', up: false, mtu: 1500 });
    },
    sysctl: (key, value) => sysctls.push(`${key}=${value}`),
  });
  t.equal(v.device, 'tpair7');
  t.same(await v.present(), [], 'no macvlan yet: no VIPs');
  await v.prepare();
  await v.prepare();
  t.same(made, ['tpair7 on lan0 00:00:5e:00:01:07'], 'created once');
  t.same([...new Set(sysctls)], ['net.ipv4.conf.lan0.arp_ignore=1', 'net.ipv4.conf.tpair7.arp_ignore=1', 'net.ipv4.conf.lan0.arp_announce=2', 'net.ipv4.conf.tpair7.rp_filter=0', 'net.ipv6.conf.tpair7.disable_ipv6=1']);
  await v.add();
  t.same(k.log, ['tpair7 up', 'add 10.1.0.1/24 tpair7']);
  await v.remove();
  t.same(k.log.slice(2), ['del 10.1.0.1/24 tpair7', 'tpair7 down'], 'down again, so the backup never sends from the virtual MAC');
});

t.test('a kernel failure becomes TERN_E_PAIRD_VIP and does not block later operations', async (t) => {
  const k = new FakeKernel();
  k.setLink('lan0', 2);
  k.addAddress = async () => { throw new Error('EPERM'); };
  const v = new VipManager({ kernel: k, interface: 'lan0', vips: ['10.1.0.1/24'], family: 4 });
  await t.rejects(v.add(), { code: 'TERN_E_PAIRD_VIP' });
  t.equal(v.lastError, 'EPERM');
  await v.remove();
  t.equal(v.lastError, null, 'the next operation ran and cleared it');
});

t.test('announcement frames: one per VIP, of the family', async (t) => {
  const arp = announcementFrames(['10.1.0.1/24', '10.1.0.254/24'], 4, '00:00:5e:00:01:07');
  t.same(arp.map((f) => [f.length, f.readUInt16BE(12), [...f.subarray(28, 32)].join('.')]), [[42, 0x0806, '10.1.0.1'], [42, 0x0806, '10.1.0.254']]);
  const na = announcementFrames(['2001:db8::1/64'], 6, '00:00:5e:00:02:07');
  t.same(na.map((f) => [f.length, f.readUInt16BE(12)]), [[86, 0x86dd]]);
});

t.test('the VIP add is one round trip by the cached index; a re-created link is looked up again, once', async (t) => {
  const k = new FakeKernel();
  k.setLink('lan0', 2);
  const v = new VipManager({ kernel: k, interface: 'lan0', vips: ['10.1.0.1/24'], family: 4 });
  const trips = async (op: () => Promise<void>): Promise<string[]> => {
    k.trips.length = 0;
    await op();
    return [...k.trips];
  };
  const cases: Array<{ name: string; before?: () => void; op: 'prepare' | 'add'; want: string[]; index: number | undefined }> = [
    { name: 'start: the index is looked up', op: 'prepare', want: ['link lan0'], index: 2 },
    { name: 'takeover: one round trip', op: 'add', want: ['add 10.1.0.1/24 #2'], index: 2 },
    { name: 'again: still one', op: 'add', want: ['add 10.1.0.1/24 #2'], index: 2 },
    { name: 'link re-created unseen: ENODEV, lookup, one retry', before: () => k.setLink('lan0', 5), op: 'add', want: ['add 10.1.0.1/24 #2', 'link lan0', 'add 10.1.0.1/24 #5'], index: 5 },
    { name: 'after the retry: one round trip', op: 'add', want: ['add 10.1.0.1/24 #5'], index: 5 },
    { name: 'link re-created, seen by the link monitor: no lookup', before: () => { k.setLink('lan0', 8); v.linkChanged('lan0', 8); }, op: 'add', want: ['add 10.1.0.1/24 #8'], index: 8 },
    { name: 'other links are ignored', before: () => v.linkChanged('wan0', 3), op: 'add', want: ['add 10.1.0.1/24 #8'], index: 8 },
    { name: 'link gone (monitor): the next add looks it up', before: () => v.linkChanged('lan0', null), op: 'add', want: ['link lan0', 'add 10.1.0.1/24 #8'], index: 8 },
  ];
  for (const c of cases) {
    c.before?.();
    const got = await trips(() => (c.op === 'add' ? v.add() : v.prepare()));
    t.same(got, c.want, `${c.name}: got ${JSON.stringify(got)}; want ${JSON.stringify(c.want)}`);
    t.equal(v.deviceIndex, c.index, `${c.name}: cached index: got ${v.deviceIndex}; want ${c.index}`);
  }
  t.same([...k.addrs.get('lan0')!], ['10.1.0.1/24'], 'the VIP is on lan0');
  t.equal(v.counters.linkLookups, 3, `lookups: got ${v.counters.linkLookups}; want 3`);

  // Gone for good: one retry, then a TERN_E_PAIRD_VIP naming the device.
  k.links.delete('lan0');
  const gone = await trips(() => t.rejects(v.add(), { code: 'TERN_E_PAIRD_VIP', message: /ENODEV: no such interface lan0/ }).then(() => undefined));
  t.same(gone, ['add 10.1.0.1/24 #8', 'link lan0'], `gone: got ${JSON.stringify(gone)}`);
  t.equal(v.deviceIndex, undefined, 'no index cached for a missing link');
  // ENODEV every time (the kernel disagrees with the lookup): retried once only.
  k.setLink('lan0', 9);
  k.addAddress = async (link, cidr) => { k.trips.push(`add ${cidr} #${(link as LinkRef).ifindex}`); throw new Error('Request rejected: ENODEV'); };
  const stuck = await trips(() => t.rejects(v.add(), { code: 'TERN_E_PAIRD_VIP', message: /ENODEV/ }).then(() => undefined));
  t.same(stuck.filter((x) => x.startsWith('add')).length, 2, `adds when ENODEV persists: got ${JSON.stringify(stuck)}; want 2`);
  // Another error is not retried.
  k.addAddress = async (link, cidr) => { k.trips.push(`add ${cidr} #${(link as LinkRef).ifindex}`); throw new Error('Request rejected: EPERM'); };
  const perm = await trips(() => t.rejects(v.add()).then(() => undefined));
  t.same(perm, ['add 10.1.0.1/24 #9'], `EPERM: got ${JSON.stringify(perm)}; want one add`);
});

t.test('prepare without the interface: no index, no error; the first add looks it up', async (t) => {
  const k = new FakeKernel();
  const v = new VipManager({ kernel: k, interface: 'lan0', vips: ['10.1.0.1/24'], family: 4 });
  await v.prepare();
  t.equal(v.deviceIndex, undefined);
  t.same(v.counters, { added: 0, removed: 0, errors: 0, linkLookups: 1 });
  k.setLink('lan0', 4);
  await v.add();
  t.same(k.trips, ['link lan0', 'link lan0', 'add 10.1.0.1/24 #4']);
});
