// The box's own interface addressing (tern.yaml wans and lan, and the PAIR
// interface) as systemd-networkd configuration. Pure: config in, files out;
// `ternctl config networkd` and the config transaction write them (index.ts).
//
// networkd configures the links it matches and, unless told otherwise,
// removes what it did not configure itself: every route and policy rule
// (tunneld's WAN and path tables, its metric-50 main-table routes, the
// fwmark rules of tunneld and steerd) and the addresses on its links
// (paird's VIPs). The files keep it off all of that: a networkd.conf.d
// drop-in turns foreign route and rule management off, the links carrying
// VIPs keep foreign addresses, and the interfaces Tern creates are Unmanaged.
import type { TernConfig, WanConfig } from '../config/index.js';
import { cidr, formatKeyPath, ownInterfaceGlobs } from '../config/index.js';
import { TernError } from '../errors.js';

/** Where a file goes, under systemd's runtime directory (/run/systemd): .network files, or networkd.conf drop-ins. */
export type NetworkdDir = 'network' | 'networkd.conf.d';

export interface NetworkdFile {
  dir: NetworkdDir;
  /** NN-tern-<what>.network or .conf */
  name: string;
  text: string;
}

/**
 * Interfaces Tern's daemons make and configure themselves (lib/config
 * ownInterfaceGlobs, which the config checks keep box interfaces out of).
 * Unmanaged, so no catch-all .network file ever grabs them.
 */
export const unmanagedGlobs = ownInterfaceGlobs;

/**
 * Metric of the main-table default route of the preferred WAN; the next
 * WANs get 1001, 1002... Far above tunneld's 50 (tunneld/desired.ts
 * mainRouteMetric), so a default route tunneld puts in the main table (a
 * hub that carries every site's internet) always wins, and distinct, so two
 * WANs never make a multipath route.
 */
export const wanRouteMetricBase = 1000;

/** A file this renderer writes (and so may remove when it is no longer rendered). */
export const ownFileName = /^[0-9]{2}-tern-[^/]+\.(network|conf)$/;

type Section = [name: string, entries: Array<[key: string, value: string | number]>];

function ini(comment: string[], sections: Section[]): string {
  const head = comment.map((l) => `# ${l}`.trimEnd()).join('\n');
  const body = sections
    .filter(([, entries]) => entries.length > 0)
    .map(([name, entries]) => `[${name}]\n${entries.map(([k, v]) => `${k}=${v}`).join('\n')}`)
    .join('\n\n');
  return `${head}\n${body}\n`;
}

const written = 'Written by `ternctl config networkd` from tern.yaml at boot and by `ternctl config apply`; edit tern.yaml, not this file.';

/** fnmatch(3) reads these in a networkd Name= (and a leading '!' inverts it); Linux allows them in names. */
const globChars = /[*?[\]\\]/;

function globMatches(glob: string, name: string): boolean {
  const re = new RegExp(`^${glob.split('*').map((p) => p.replace(/[.+^${}()|[\]\\?-]/g, '\\$&')).join('.*')}$`);
  return re.test(name);
}

/** A configured interface networkd would match wrongly: refused with the key that names it. */
function checkName(ifname: string, at: Array<string | number>): void {
  const where = `ternctl: config networkd: ${formatKeyPath(at)}`;
  if (globChars.test(ifname) || ifname.startsWith('!')) {
    throw new TernError('TERN_E_CONFIG_SEMANTIC',
      `${where}: interface '${ifname}' has characters networkd's Name= reads as a pattern (* ? [ ] \\ or a leading !); it would match other interfaces. Name the interface exactly`,
      { details: { path: formatKeyPath(at), interface: ifname } });
  }
  const glob = unmanagedGlobs.find((g) => globMatches(g, ifname));
  if (glob !== undefined) {
    throw new TernError('TERN_E_CONFIG_SEMANTIC',
      `${where}: interface '${ifname}' has a name Tern's daemons give their own interfaces (${glob}); its file would clash with ${unmanagedFileName}, which leaves them unmanaged. Rename the interface`,
      { details: { path: formatKeyPath(at), interface: ifname, clashesWith: glob } });
  }
}

const unmanagedFileName = '00-tern-unmanaged.network';

/**
 * The order WANs are preferred in when nothing steers (steerd gone, or
 * the box's own traffic): unmetered before metered, then cheaper, then
 * config order, as tunneld chooses the unsteered overlay path.
 */
export function wanPreference(wans: readonly WanConfig[]): WanConfig[] {
  return wans.map((w, i) => ({ w, i }))
    .sort((a, b) => Number(a.w.metered) - Number(b.w.metered) || a.w.cost - b.w.cost || a.i - b.i)
    .map(({ w }) => w);
}

interface Role {
  ifname: string;
  wan?: { wan: WanConfig; index: number; metric: number; dns: boolean };
  lan?: true;
  /** paird puts its VIPs here. */
  pair?: true;
}

function wanSections(r: Role): Section[] {
  const { wan: w, metric, dns } = r.wan!;
  const keepForeign = r.pair === true;
  if (w.dhcp) {
    return [
      ['Link', [...(w.mtu !== undefined ? [['MTUBytes', w.mtu] as [string, number]] : []),
        // A DHCP server that does not answer must not hold the daemons (After=network-online.target) back.
        ['RequiredForOnline', 'no']]],
      ['Network', [
        ['DHCP', 'yes'],
        ['LinkLocalAddressing', 'ipv6'],
        // A forwarding box ignores RAs unless told; the WAN's IPv6 default route comes from them.
        ['IPv6AcceptRA', 'yes'],
        // A networkd restart keeps the lease's address and routes: tunnels and probes run from them.
        // With VIPs on it too, keep foreign addresses as well (yes = static + dhcp).
        ['KeepConfiguration', keepForeign ? 'yes' : 'dhcp-on-stop'],
      ]],
      ['DHCPv4', [['RouteMetric', metric], ['UseDNS', dns ? 'yes' : 'no']]],
      ['DHCPv6', [['UseDNS', dns ? 'yes' : 'no']]],
      ['IPv6AcceptRA', [['RouteMetric', metric], ['UseDNS', dns ? 'yes' : 'no']]],
    ];
  }
  const address = w.address!;
  const gateway = w.gateway!;
  const a = cidr.parsePrefix(address, 'allow');
  const g = cidr.parseAddress(gateway);
  // A gateway outside the WAN's subnet (some ISPs hand out a /32) is reachable only as on-link.
  const onLink = a.ok && g.ok && !cidr.prefixContains(a.value, g.value);
  return [
    ['Link', [...(w.mtu !== undefined ? [['MTUBytes', w.mtu] as [string, number]] : []),
      // Configured without carrier (below): online as soon as the address is set.
      ['RequiredForOnline', 'no-carrier']]],
    ['Network', [
      ['Address', address],
      ['DHCP', 'no'],
      ['LinkLocalAddressing', 'ipv6'],
      ['IPv6AcceptRA', 'no'],
      // The address and gateway stay through a modem's carrier flap and exist
      // at boot with the cable out: tunneld's WAN-table route needs them.
      ['ConfigureWithoutCarrier', 'yes'],
      ...(keepForeign ? [['KeepConfiguration', 'static'] as [string, string]] : []),
    ]],
    ['Route', [['Gateway', gateway], ...(onLink ? [['GatewayOnLink', 'yes'] as [string, string]] : []), ['Metric', metric]]],
  ];
}

function lanSections(cfg: TernConfig): Section[] {
  return [
    // Configured without carrier: online once the address is set, switch or not.
    ['Link', [['RequiredForOnline', 'no-carrier']]],
    ['Network', [
      ['Address', cfg.lan.address],
      ['DHCP', 'no'],
      // VRRPv3 over IPv6 and neighbour discovery need the link-local address.
      ['LinkLocalAddressing', 'ipv6'],
      ['IPv6AcceptRA', 'no'],
      // The LAN address exists from boot, cable or not: tunneld's routes use it as their source.
      ['ConfigureWithoutCarrier', 'yes'],
      // paird's VIPs are addresses networkd did not configure: keep them when it reconfigures the link.
      ['KeepConfiguration', 'static'],
    ]],
  ];
}

function pairSections(): Section[] {
  return [
    ['Link', [['RequiredForOnline', 'no']]],
    ['Network', [
      ['DHCP', 'no'],
      ['LinkLocalAddressing', 'ipv6'],
      ['IPv6AcceptRA', 'no'],
      ['ConfigureWithoutCarrier', 'yes'],
      ['KeepConfiguration', 'static'],
    ]],
  ];
}

const foreignDropIn = ini([
  written,
  '',
  'networkd removes routes and policy rules it did not configure whenever it',
  'starts or (re)configures a link. Tern\'s daemons own theirs: tunneld\'s WAN',
  'and path tables, its main-table routes (metric 50) and fwmark rules,',
  'steerd\'s and paird\'s. Left on, a networkd restart or `networkctl reload`',
  'would cut every tunnel and steered flow until the daemons noticed.',
], [['Network', [['ManageForeignRoutingPolicyRules', 'no'], ['ManageForeignRoutes', 'no']]]]);

/**
 * The networkd files for cfg: one .network per interface Tern addresses
 * (10-tern-<if> for WANs, 20- for the LAN, 30- for a PAIR interface of its
 * own), 00-tern-unmanaged.network for the interfaces the daemons own, and
 * networkd.conf.d/90-tern-foreign.conf. Throws TERN_E_CONFIG_SEMANTIC for
 * an interface name networkd would match wrongly.
 */
export function renderNetworkd(cfg: TernConfig): NetworkdFile[] {
  cfg.wans.forEach((w, i) => checkName(w.interface, ['wans', i, 'interface']));
  checkName(cfg.lan.interface, ['lan', 'interface']);
  const pair = cfg.pair?.enabled ? cfg.pair : undefined;
  if (pair?.interface !== undefined) checkName(pair.interface, ['pair', 'interface']);

  const preferred = wanPreference(cfg.wans);
  const dnsWan = preferred.find((w) => w.dhcp);
  const roles = new Map<string, Role>();
  const role = (ifname: string): Role => {
    let r = roles.get(ifname);
    if (!r) { r = { ifname }; roles.set(ifname, r); }
    return r;
  };
  cfg.wans.forEach((w, index) => {
    role(w.interface).wan = { wan: w, index, metric: wanRouteMetricBase + preferred.indexOf(w), dns: w === dnsWan };
  });
  role(cfg.lan.interface).lan = true;
  if (pair) role(pair.interface ?? cfg.lan.interface).pair = true;

  const files: NetworkdFile[] = [{
    dir: 'network',
    name: unmanagedFileName,
    text: ini([written, '', 'Interfaces Tern\'s daemons create and configure themselves (tunneld, paird, qosd).'],
      [['Match', [['Name', unmanagedGlobs.join(' ')]]], ['Link', [['Unmanaged', 'yes']]]]),
  }];
  for (const r of roles.values()) {
    const match: Section = ['Match', [['Name', r.ifname]]];
    if (r.wan) {
      const w = r.wan.wan;
      const what = `WAN ${w.name} (${formatKeyPath(['wans', r.wan.index])}), ${w.dhcp ? 'DHCP' : 'static'}, default route metric ${r.wan.metric}${r.pair ? '; carries the PAIR VIPs' : ''}`;
      files.push({ dir: 'network', name: `10-tern-${r.ifname}.network`, text: ini([written, '', what], [match, ...wanSections(r)]) });
    } else if (r.lan) {
      const what = `The LAN (lan)${r.pair ? '; carries the PAIR VIPs' : ''}`;
      files.push({ dir: 'network', name: `20-tern-${r.ifname}.network`, text: ini([written, '', what], [match, ...lanSections(cfg)]) });
    } else {
      files.push({ dir: 'network', name: `30-tern-${r.ifname}.network`, text: ini([written, '', 'The PAIR interface (pair.interface): up, no addresses of its own; paird adds the VIPs'], [match, ...pairSections()]) });
    }
  }
  files.push({ dir: 'networkd.conf.d', name: '90-tern-foreign.conf', text: foreignDropIn });
  return files;
}
