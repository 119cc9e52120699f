// A fake kernel for tunneld's tests: links, addresses, routes and rules as
// rtnetlink shows them, and WireGuard devices that keep what they were
// configured with (configure() takes the smallest change, as both real
// backends do, through planChange). Every change is recorded in ops, so a
// test can say what a pass, a start or a restart asked of the kernel.
import {
  canonicalNetwork, isEmptyChange, planChange, publicKeyOf, publicState, summarize,
  type ConfigureResult, type DesiredDevice, type DeviceChange, type DeviceSnapshot, type DeviceState, type LinkInfo, type RouteInfo, type RouteSpec,
  type RuleInfo, type RuleSpec, type WireGuardBackend,
} from '../lib/kernel/index.js';
import { keyBytes, keyDigest } from '../lib/kernel/wireguard/keys.js';
import type { TunneldRtnl } from './daemon.js';

/** A device's state after a change, as the kernel would hold it. */
function applyChange(cur: DeviceSnapshot, c: DeviceChange): DeviceSnapshot {
  const next: DeviceSnapshot = { ...cur, peers: cur.peers.map((p) => ({ ...p, allowedIps: [...p.allowedIps] })) };
  if (c.privateKey !== undefined) Object.assign(next, { hasPrivateKey: true, publicKey: publicKeyOf(c.privateKey) });
  if (c.listenPort !== undefined) next.listenPort = c.listenPort;
  if (c.fwmark !== undefined) next.fwmark = c.fwmark;
  for (const pc of c.peers) {
    if (pc.remove) {
      next.peers = next.peers.filter((p) => p.publicKey !== pc.publicKey);
      continue;
    }
    let peer = next.peers.find((p) => p.publicKey === pc.publicKey);
    if (!peer) {
      peer = { publicKey: pc.publicKey, endpoint: null, allowedIps: [], persistentKeepalive: 0, lastHandshakeMs: null, rxBytes: 0, txBytes: 0, hasPresharedKey: false, presharedKeyDigest: null };
      next.peers.push(peer);
    }
    if (pc.endpoint !== undefined) peer.endpoint = pc.endpoint;
    if (pc.persistentKeepalive !== undefined) peer.persistentKeepalive = pc.persistentKeepalive;
    if (pc.allowedIps !== undefined) peer.allowedIps = [...pc.allowedIps];
    if (pc.presharedKey !== undefined) {
      peer.hasPresharedKey = pc.presharedKey !== null;
      peer.presharedKeyDigest = pc.presharedKey === null ? null : keyDigest(keyBytes(pc.presharedKey));
    }
  }
  return next;
}

/** The kernel as far as tunneld sees it: links, addresses, routes, rules and WireGuard devices, with every change counted. */
export class FakeKernel {
  links = new Map<string, LinkInfo>();
  addrs: Array<{ ifname: string; cidr: string }> = [];
  routes: RouteInfo[] = [];
  rulesList: RuleInfo[] = [];
  /** WireGuard devices by name, as configured. */
  devices = new Map<string, DeviceSnapshot>();
  ops: string[] = [];
  /** close() calls on the rtnetlink handle and on the WireGuard backend. */
  closed = { rtnl: 0, wg: 0 };

  constructor(devices: string[]) {
    for (const d of devices) this.addLink(d, null);
  }

  /** A new WireGuard interface is down until brought up, as both backends create it. */
  addLink(name: string, kind: string | null): void {
    this.links.set(name, { name, index: this.links.size + 1, kind, up: kind !== 'wireguard', mtu: 1420 });
  }

  /** Route changes (what `ip monitor route` would print), but for the WAN guards: they have a test of their own. */
  routeOps(): string[] { return this.ops.filter((o) => o.startsWith('route') && !o.includes('unreachable')); }

  /** Changes of WAN guard routes. */
  guardOps(): string[] { return this.ops.filter((o) => o.startsWith('route') && o.includes('unreachable')); }

  /** A completed handshake on a device's first peer at wall-clock ms (what the far end answering does). */
  handshake(ifname: string, atMs: number): void {
    const peer = this.devices.get(ifname)?.peers[0];
    if (!peer) throw new Error(`kernel.fixture: handshake: no peer on ${ifname}`);
    peer.lastHandshakeMs = atMs;
  }

  private static metricOf(spec: { dst: string; metric?: number }): number {
    // The kernel stores an IPv6 route without a metric at 1024.
    return spec.metric ?? (spec.dst.includes(':') ? 1024 : 0);
  }

  rtnl(): TunneldRtnl {
    const k = this;
    const same = (r: RouteInfo, spec: RouteSpec): boolean =>
      r.table === spec.table && r.dst === canonicalNetwork(spec.dst) && (spec.type === undefined || r.type === spec.type) && (spec.metric === undefined && !spec.dst.includes(':') ? true : r.metric === FakeKernel.metricOf(spec));
    const fake = {
      links: async () => [...k.links.values()],
      link: async (name: string) => k.links.get(name),
      addresses: async (ifname?: string) => k.addrs.filter((a) => ifname === undefined || a.ifname === ifname).map((a) => ({ ...a, index: 0, family: a.cidr.includes(':') ? 6 : 4 })),
      addAddress: async (ifname: string, cidr: string) => { k.addrs.push({ ifname, cidr }); },
      deleteAddress: async (ifname: string, cidr: string) => { k.addrs = k.addrs.filter((a) => !(a.ifname === ifname && a.cidr === cidr)); },
      setLinkMtu: async () => undefined,
      setLinkUp: async (name: string) => { k.links.get(name)!.up = true; k.ops.push(`up ${name}`); },
      routesIn: async (tables: Iterable<number>) => {
        const want = new Set(tables);
        return k.routes.filter((r) => want.has(r.table)).map((r) => ({ ...r }));
      },
      replaceRoute: async (spec: RouteSpec) => {
        if (spec.dev !== undefined && !k.links.has(spec.dev)) throw new Error(`kernel: route replace ${spec.dst}: ENODEV`);
        // As the kernel: a gateway must be on the link by the table itself
        // (a host route) or by main's connected routes (here: none of the
        // gateways); IPv6 link-local gateways are taken as they are.
        if (spec.gateway && !/^fe80:/i.test(spec.gateway) && !k.routes.some((r) => r.table === spec.table && r.gateway === null && r.dev === spec.dev && r.dst.split('/')[0] === spec.gateway)) {
          throw new Error(`kernel: route replace ${spec.dst} table ${spec.table}: Nexthop has invalid gateway`);
        }
        const type = spec.type ?? 'unicast';
        const v6 = spec.dst.includes(':');
        const r: RouteInfo = {
          family: v6 ? 6 : 4, dst: canonicalNetwork(spec.dst), table: spec.table, type,
          // As the kernel lists it: an IPv6 route with no next hop is on lo.
          dev: spec.dev ?? (v6 && type !== 'unicast' ? 'lo' : null), gateway: spec.gateway ?? null, src: spec.src ?? null, metric: FakeKernel.metricOf(spec),
        };
        k.routes = k.routes.filter((x) => !(x.table === r.table && x.dst === r.dst && x.metric === r.metric));
        k.routes.push(r);
        k.ops.push(`route replace ${type === 'unicast' ? '' : `${type} `}${r.dst} table ${r.table} via ${r.gateway} dev ${r.dev}`);
      },
      deleteRoute: async (spec: RouteSpec) => {
        const hit = k.routes.find((r) => same(r, spec));
        if (!hit) throw new Error(`kernel: route delete ${spec.dst}: ESRCH`);
        k.routes = k.routes.filter((r) => r !== hit);
        k.ops.push(`route delete ${hit.type === 'unicast' ? '' : `${hit.type} `}${hit.dst} table ${hit.table}`);
      },
      rules: async (family?: 4 | 6) => k.rulesList.filter((r) => family === undefined || r.family === family).map((r) => ({ ...r })),
      addRule: async (spec: RuleSpec) => {
        const family = spec.family ?? 4;
        if (k.rulesList.some((r) => r.family === family && r.priority === spec.priority && r.fwmark === (spec.fwmark ?? null) && r.table === spec.table)) return false;
        k.rulesList.push({ family, priority: spec.priority, action: 'lookup', table: spec.table, fwmark: spec.fwmark ?? null, fwmask: null, from: null, to: null });
        k.ops.push(`rule add v${family} fwmark 0x${spec.fwmark?.toString(16)} table ${spec.table}`);
        return true;
      },
      deleteRule: async (spec: RuleSpec) => {
        const before = k.rulesList.length;
        k.rulesList = k.rulesList.filter((r) => !(r.family === spec.family && r.priority === spec.priority && r.fwmark === (spec.fwmark ?? null) && r.table === spec.table));
        if (k.rulesList.length === before) throw new Error('kernel: rule delete: ENOENT');
        k.ops.push(`rule delete v${spec.family} fwmark 0x${spec.fwmark?.toString(16)} table ${spec.table}`);
      },
      close: () => { k.closed.rtnl++; },
    };
    return fake as unknown as TunneldRtnl;
  }

  wg(): WireGuardBackend {
    const k = this;
    const device = (ifname: string): DeviceSnapshot => {
      const d = k.devices.get(ifname);
      if (!d) throw new Error(`kernel: wireguard ${ifname}: ENODEV`);
      return d;
    };
    return {
      kind: 'kernel',
      exists: async (ifname: string) => k.devices.has(ifname),
      list: async () => [...k.links.values()].filter((l) => l.kind === 'wireguard').map((l) => l.name),
      create: async (ifname: string) => {
        if (k.links.has(ifname)) throw new Error(`kernel: wireguard create ${ifname}: EEXIST`);
        k.addLink(ifname, 'wireguard');
        k.devices.set(ifname, { ifname, hasPrivateKey: false, publicKey: null, listenPort: 0, fwmark: 0, peers: [] });
        k.ops.push(`create ${ifname}`);
      },
      destroy: async (ifname: string) => {
        k.links.delete(ifname);
        k.devices.delete(ifname);
        k.addrs = k.addrs.filter((a) => a.ifname !== ifname);
        k.routes = k.routes.filter((r) => r.dev !== ifname);
        k.ops.push(`destroy ${ifname}`);
      },
      configure: async (ifname: string, d: DesiredDevice): Promise<ConfigureResult> => {
        k.ops.push(`configure ${ifname} fwmark 0x${(d.fwmark ?? 0).toString(16)} endpoint ${d.peers.map((p) => p.endpoint ?? 'none').join(',')}`);
        const cur = device(ifname);
        const change = planChange(ifname, cur, d);
        k.devices.set(ifname, applyChange(cur, change));
        return summarize(change, cur, isEmptyChange(change) ? 0 : 1);
      },
      get: async (ifname: string): Promise<DeviceState> => publicState(structuredClone(device(ifname))),
      close: () => { k.closed.wg++; },
    };
  }
}
