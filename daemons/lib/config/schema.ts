// The shape of tern.yaml, defined once with TypeBox: the TypeScript types the
// daemons use and the JSON Schema that Ajv validates and editors load.
import { Type, type Static, type TSchema, type TProperties, type ObjectOptions, type SchemaOptions } from '@sinclair/typebox';
import { wanTableRange } from '../kernel/names.js';
import { patterns } from './formats.js';

/** The config file version this build reads. */
export const configVersion = 1;

/** The QoS classes, highest priority first. */
export const qosClassNames = ['realtime', 'interactive', 'besteffort', 'bulk'] as const;
export type QosClassName = (typeof qosClassNames)[number];

/** The app class that matches every flow no configured app class matched. */
export const defaultAppClass = 'default';

// Every object is closed: an unknown key is a typo to report, not data to ignore.
const Obj = <T extends TProperties>(properties: T, options: ObjectOptions = {}) =>
  Type.Object(properties, { ...options, additionalProperties: false });

// A string enum as a plain JSON Schema `enum`: one clear error ("must be one
// of ...") instead of the anyOf-of-const a TypeBox union of literals makes.
const StringEnum = <const T extends readonly string[]>(values: T, options: SchemaOptions = {}) =>
  Type.Unsafe<T[number]>({ ...options, type: 'string', enum: [...values] });

const Id = (description: string, maxLength = 31) =>
  Type.String({ pattern: patterns.id, minLength: 1, maxLength, description });
const IfName = (description: string) =>
  Type.String({ pattern: patterns.ifname, minLength: 1, maxLength: 15, description });
const WireguardKey = (description: string) => Type.String({ pattern: patterns.wireguardKey, maxLength: 44, description });
// PATH_MAX is 4096, but a key store path is short; 255 bounds what is logged and checked.
const KeyFile = (description: string) => Type.String({ pattern: patterns.absolutePath, maxLength: 255, description });
// The longest address text is an IPv6 address with an embedded IPv4 one, 45 characters, plus '/128'.
const Address = (description: string) => Type.String({ format: 'ip-address', maxLength: 45, description });
const Prefix = (description: string) => Type.String({ format: 'ip-prefix', maxLength: 49, description });
const InterfaceAddress = (description: string) => Type.String({ format: 'ip-interface', maxLength: 49, description });

/**
 * Upper bounds of the lists, so a file cannot make a daemon build millions of
 * kernel objects or probes: each is far above a real box's needs and is said
 * in words where it is set. (The file itself is at most 1 MiB.)
 */
export const limits = {
  /** Prefixes of one LAN, a remote site's, or a user's AllowedIPs: a route and an AllowedIPs entry each. */
  prefixes: 64,
  /** Remote sites: a full mesh of 512 sites is already up to 8192 WireGuard interfaces on this box. */
  sites: 512,
  /** WANs of a remote site (at most 4 are used; the semantic check says so). */
  siteWans: 16,
  /** Remote users: peers of one WireGuard interface; 1024 fills a /22 of the overlay. */
  remoteUsers: 1024,
  /** DNS servers handed to a client (wg-quick writes them into resolv.conf, which reads 3). */
  dns: 8,
  /** Probe targets per WAN, or for every WAN: each is probed up to 50/s on every WAN. */
  probeTargets: 16,
  /** Probe path classes, and path patterns per class. */
  pathClasses: 64,
  pathsPerClass: 256,
  /** App classes: each is a rule every new flow is matched against, in order. */
  appClasses: 256,
  /** Match values per app class (prefixes of a SaaS service can run to hundreds). */
  matchPrefixes: 1024,
  matchPorts: 64,
  /** Entries that name WANs (per-WAN overrides, pair tracking, preferences): a few per WAN. */
  perWan: 16,
  track: 64,
  /** Other appliances a PAIR sends adverts to: one, or a few while renumbering. */
  unicastPeers: 8,
  /** Domains of one app class (a SaaS service is a handful of domains). */
  matchDomains: 64,
  /** Port forwards and firewall rules: each is an nftables rule. */
  portForwards: 256,
  firewallRules: 256,
  /** DHCP ranges of the LAN, static leases (a /22 of hosts), DNS upstreams. */
  dhcpRanges: 16,
  staticLeases: 1024,
  dnsUpstreams: 8,
} as const;
const Port = (description: string, options: SchemaOptions = {}) =>
  Type.Integer({ ...options, minimum: 1, maximum: 65535, description });
const Mbps = (description: string, options: SchemaOptions = {}) =>
  Type.Number({ ...options, exclusiveMinimum: 0, maximum: 100000, description });
const Pct = (description: string, options: SchemaOptions = {}) =>
  Type.Number({ ...options, minimum: 0, maximum: 100, description });
const Dscp = () => Type.Integer({ minimum: 0, maximum: 63, description: 'DSCP value 0-63 (EF = 46, AF41 = 34, CS1 = 8)' });

export const IdentitySchema = Obj({
  site: Id('Site id, shared by both appliances of a PAIR; other sites name this site by it'),
  name: Id('Name of this appliance (e.g. office-a)', 63),
  description: Type.Optional(Type.String({ maxLength: 200, description: 'Free text for people' })),
}, { description: 'Who this appliance is' });

export const WanSchema = Obj({
  name: Id('WAN name, used by policies, probes, QoS and pair tracking', 15),
  interface: IfName('Linux interface of this WAN'),
  address: Type.Optional(InterfaceAddress('Static address with prefix length; set this or dhcp: true')),
  dhcp: Type.Boolean({ default: false, description: 'Take address and gateway from DHCP (then leave address and gateway out)' }),
  gateway: Type.Optional(Address('Next hop for this WAN; required with a static address')),
  publicHost: Type.Optional(Type.String({ format: 'host', maxLength: 253, description: 'Hostname or address remote sites and remote users reach this WAN at, when it is not the interface address (NAT, dynamic DNS)' })),
  upMbps: Type.Optional(Mbps('Upstream bandwidth in Mbit/s; required when QoS shapes this WAN')),
  downMbps: Type.Optional(Mbps('Downstream bandwidth in Mbit/s; required when QoS shapes this WAN')),
  metered: Type.Boolean({ default: false, description: 'Billed by volume (LTE, satellite): used only when nothing else meets the SLA' }),
  cost: Type.Integer({ minimum: 0, maximum: 1000, default: 10, description: 'Relative cost; lower is preferred between paths that meet the SLA equally' }),
  table: Type.Optional(Type.Integer({ minimum: wanTableRange.min, maximum: wanTableRange.max, description: `Routing table for this WAN (${wanTableRange.min}-${wanTableRange.max}); default: the lowest free one, in WAN order` })),
  mtu: Type.Optional(Type.Integer({ minimum: 576, maximum: 9216, description: 'Interface MTU; default: leave the interface as it is' })),
  nat: StringEnum(['masquerade', 'snat', 'off'], { default: 'masquerade', description: "Source NAT of internet-bound LAN flows leaving through this WAN: masquerade (the interface's address, follows DHCP), snat (the static address; needs address), off (the ISP routes the LAN prefixes)" }),
}, { description: 'One internet uplink' });

export const DhcpRangeSchema = Obj({
  start: Address('First address handed out'),
  end: Address('Last address handed out (same family, not below start)'),
}, { description: 'One pool of addresses (IPv4; IPv6 hosts use SLAAC)' });

export const StaticLeaseSchema = Obj({
  mac: Type.String({ pattern: patterns.mac, maxLength: 17, description: 'The host\'s MAC address' }),
  address: Address('The address it always gets, inside the LAN and outside every range'),
  hostname: Type.Optional(Type.String({ format: 'host', maxLength: 63, description: 'Name it gets in the LAN\'s DNS' })),
}, { description: 'A host that always gets the same address' });

export const DhcpSchema = Obj({
  enabled: Type.Boolean({ default: true, description: 'Serve DHCP on the LAN (false keeps the section)' }),
  ranges: Type.Array(DhcpRangeSchema, { minItems: 1, maxItems: limits.dhcpRanges, description: 'Pools inside the LAN, not overlapping each other' }),
  leaseSec: Type.Integer({ minimum: 120, maximum: 604800, default: 43200, description: 'Lease time in seconds' }),
  staticLeases: Type.Array(StaticLeaseSchema, { default: [], maxItems: limits.staticLeases, description: 'Fixed addresses by MAC' }),
  router: Type.Optional(Address("Default gateway handed out; default the PAIR's first VIP, else lan.address")),
  dnsServers: Type.Optional(Type.Array(Address('A DNS server'), { minItems: 1, maxItems: limits.dns, description: "DNS servers handed out; default the gateway address (the box's DNS forwarder) when lan.dns is on" })),
  ntpServers: Type.Array(Address('An NTP server'), { default: [], maxItems: limits.dns, description: 'NTP servers handed out (option 42)' }),
  domain: Type.Optional(Type.String({ format: 'host', maxLength: 253, description: 'Domain name handed out (option 15) and served for LAN hosts by name' })),
}, { description: "DHCP for the LAN (Debian's dnsmasq, supervised by tern-edged); leases kept across restarts" });

export const DnsUpstreamSchema = Obj({
  address: Address('An upstream resolver'),
  wan: Type.Optional(Id('Ask it only through this WAN (its queries leave by this WAN)', 15)),
}, { description: 'A resolver the LAN\'s DNS forwarder asks' });

export const DnsSchema = Obj({
  enabled: Type.Boolean({ default: true, description: 'Answer DNS on the LAN (false keeps the section)' }),
  upstreams: Type.Array(DnsUpstreamSchema, { minItems: 1, maxItems: limits.dnsUpstreams, uniqueItems: true, description: 'Resolvers asked, any that answers' }),
  interceptPort53: Type.Boolean({ default: false, description: 'Redirect LAN hosts\' DNS to other servers to the box, so domain app classes see every lookup (false: such hosts bypass domain classes, their flows match by address only)' }),
  cacheSize: Type.Integer({ minimum: 0, maximum: 100000, default: 1000, description: 'Names cached (0: no cache)' }),
  maxSetTtlSec: Type.Integer({ minimum: 10, maximum: 86400, default: 3600, description: 'Longest time an address learned for a domain app class stays in its set without a new lookup' }),
}, { description: 'A DNS forwarder for the LAN; it also learns the addresses of domain app classes' });

export const LanSchema = Obj({
  interface: IfName('Linux interface facing the LAN'),
  address: InterfaceAddress("This appliance's LAN address with prefix length"),
  prefixes: Type.Array(Prefix('A LAN prefix'), { minItems: 1, maxItems: limits.prefixes, description: "This site's LAN prefixes, advertised to the other sites" }),
  dhcp: Type.Optional(DhcpSchema),
  dns: Type.Optional(DnsSchema),
}, { description: 'The LAN behind this appliance' });

/** Firewall zones: where a packet comes from or goes to. */
export const firewallZones = ['wan', 'lan', 'overlay', 'remote', 'pair'] as const;
export type FirewallZone = (typeof firewallZones)[number];

const Protocols = (description: string) => Type.Array(Type.Union([
  StringEnum(['tcp', 'udp', 'icmp', 'any']),
  Type.Integer({ minimum: 0, maximum: 255 }),
]), { minItems: 1, maxItems: 16, description });
const Ports = (description: string) => Type.Array(Type.Union([
  Type.Integer({ minimum: 1, maximum: 65535 }),
  Type.String({ format: 'port-range', maxLength: 11 }),
]), { minItems: 1, maxItems: limits.matchPorts, description });

export const PortForwardSchema = Obj({
  name: Id('Name of the forward, for counters and logs'),
  wans: Type.Array(Id('A WAN of this appliance', 15), { default: [], uniqueItems: true, maxItems: limits.perWan, description: 'WANs it is open on; empty: every WAN' }),
  protocol: StringEnum(['tcp', 'udp'], { default: 'tcp', description: 'tcp or udp' }),
  port: Type.Union([Port('The WAN port'), Type.String({ format: 'port-range', maxLength: 11 })], { description: "The WAN port, or a range 'low-high' (forwarded to the same ports)" }),
  to: Address('The LAN host it goes to'),
  toPort: Type.Optional(Port('Port on the LAN host; default the same port (not with a range)')),
  sources: Type.Array(Prefix('A source prefix'), { default: [], maxItems: limits.prefixes, description: 'Only from these sources; empty: any' }),
}, { description: 'A service on a LAN host reachable from the internet' });

export const FirewallRuleSchema = Obj({
  name: Id('Name of the rule, for counters and logs'),
  from: StringEnum(firewallZones, { description: 'Zone the packet arrives from' }),
  to: StringEnum([...firewallZones, 'box'], { description: 'Zone it goes to, or box for the appliance itself' }),
  protocols: Type.Optional(Protocols('IP protocols; with ports, default tcp and udp')),
  ports: Type.Optional(Ports("Destination ports: a number or a range 'low-high'")),
  sources: Type.Array(Prefix('A source prefix'), { default: [], maxItems: limits.prefixes, description: 'Source prefixes; empty: any' }),
  destinations: Type.Array(Prefix('A destination prefix'), { default: [], maxItems: limits.prefixes, description: 'Destination prefixes; empty: any' }),
  action: StringEnum(['accept', 'drop', 'reject'], { default: 'accept', description: 'What happens to a new connection that matches' }),
}, { description: 'A rule for new connections between zones, checked before the defaults' });

export const FirewallSchema = Obj({
  enabled: Type.Boolean({ default: true, description: 'The zone firewall (false: no filtering at all — only for a box behind another firewall)' }),
  icmpRatePerSec: Type.Integer({ minimum: 1, maximum: 10000, default: 20, description: 'ICMP and ICMPv6 errors and echo requests accepted per second and source zone (RFC 4890 types only)' }),
  portForwards: Type.Array(PortForwardSchema, { default: [], maxItems: limits.portForwards, description: 'Services of LAN hosts opened on the WANs (DNAT)' }),
  rules: Type.Array(FirewallRuleSchema, { default: [], maxItems: limits.firewallRules, description: 'Extra rules between zones, in order, before the defaults' }),
}, { default: {}, description: 'Zones and a stateful firewall (nftables, both families); tern-edged owns it' });

export const InternetSchema = Obj({
  enabled: Type.Boolean({ default: true, description: 'NAT breakout: LAN hosts reach the internet through the WANs, their flows steered by app class like overlay flows' }),
  failback: Obj({
    holdSec: Type.Integer({ minimum: 0, maximum: 86400, default: 60, description: 'A WAN that came back must stay up this long before new flows use it again' }),
    moveMetered: Type.Boolean({ default: true, description: 'After the hold, clear flows still on a metered WAN that their policy would now put elsewhere, so their clients reconnect through the recovered WAN' }),
  }, { default: {}, description: 'Returning to a recovered WAN' }),
  clearOnDown: Type.Boolean({ default: true, description: 'Clear flows NATed through a WAN that went down, so their clients reconnect at once instead of timing out' }),
}, { default: {}, description: 'Internet breakout per WAN' });

export const RemoteSiteWanSchema = Obj({
  name: Id("Name of the remote site's WAN", 15),
  endpoint: Type.String({ format: 'endpoint', maxLength: 261, description: 'Where its tunnels are reached: host:port (hostnames allowed)' }),
  behindNat: Type.Boolean({ default: false, description: 'The WAN sits behind NAT: accept it from any source address and keep the mapping open' }),
  weight: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: "Relative share of new flows the paths to this WAN get in modes weighted, affinity and spray when the policy has no weights (default 1)" })),
}, { description: 'One WAN of a remote site' });

export const RemoteSiteSchema = Obj({
  id: Id('Site id of the remote site'),
  publicKey: WireguardKey("The remote site's WireGuard public key"),
  presharedKeyFile: Type.Optional(KeyFile('File holding the WireGuard preshared key for this site (0600, never in this file)')),
  overlayAddress: Address("The remote site's overlay address, inside overlay.address's prefix"),
  lanPrefixes: Type.Array(Prefix('A LAN prefix of the remote site'), { default: [], maxItems: limits.prefixes, description: 'LAN prefixes reachable through this site' }),
  wans: Type.Array(RemoteSiteWanSchema, { minItems: 1, maxItems: limits.siteWans, description: "The remote site's WANs; one tunnel per (local WAN, remote WAN)" }),
}, { description: 'A site this one builds tunnels to' });

export const OverlaySchema = Obj({
  topology: StringEnum(['mesh', 'hub-spoke'], { default: 'mesh', description: 'mesh: tunnels to every site; hub-spoke: spokes reach each other through the hub' }),
  hub: Type.Optional(Id('Site id of the hub; required with topology hub-spoke')),
  listenPort: Port('Base UDP port of the site tunnels: the tunnel to site n (its overlay host number) from local WAN slot a to remote slot b listens on listenPort + 16n + 4a + b', { default: 51820 }),
  remoteUserPort: Port('UDP port remote users connect to; below listenPort so the tunnel ports never collide with it', { default: 51819 }),
  address: InterfaceAddress("This site's overlay address; its prefix is the overlay network (e.g. 100.64.0.1/24)"),
  privateKeyFile: Type.Optional(KeyFile('WireGuard private key of this appliance; default <state dir>/keys/overlay.key')),
  mtu: Type.Integer({ minimum: 1280, maximum: 9000, default: 1420, description: 'Tunnel MTU (1420 fits WireGuard over IPv4 and IPv6 on a 1500 link)' }),
  keepaliveSec: Type.Integer({ minimum: 0, maximum: 3600, default: 25, description: 'WireGuard persistent keepalive in seconds (0 = off)' }),
  sites: Type.Array(RemoteSiteSchema, { default: [], maxItems: limits.sites, description: 'The other sites' }),
}, { description: 'The WireGuard overlay between sites' });

export const RemoteUserSchema = Obj({
  name: Id('User name'),
  publicKey: WireguardKey("The user's WireGuard public key"),
  presharedKeyFile: Type.Optional(KeyFile('File holding the WireGuard preshared key for this user')),
  address: InterfaceAddress("The user's overlay address, a host prefix (/32 or /128)"),
  allowedPrefixes: Type.Array(Prefix('A prefix the user may reach'), { minItems: 1, maxItems: limits.prefixes, description: "Prefixes the user may reach (the client's AllowedIPs)" }),
  dns: Type.Optional(Type.Array(Address('A DNS server'), { maxItems: limits.dns, description: 'DNS servers for the client config' })),
  revoked: Type.Boolean({ default: false, description: 'Revoked users keep their entry (and address) but cannot connect' }),
}, { description: 'A remote-access client (stock WireGuard apps)' });

export const PairTrackSchema = Obj({
  wan: Type.Optional(Id('A WAN of this appliance; set wan or path', 15)),
  path: Type.Optional(Type.String({ pattern: patterns.pathId, maxLength: 63, description: 'An overlay path as localWan/site/remoteWan; set wan or path' })),
  weight: Type.Integer({ minimum: 1, maximum: 254, default: 50, description: 'Priority subtracted while the WAN or path is down' }),
}, { description: 'Something whose health lowers the VRRP priority' });

export const PairSchema = Obj({
  enabled: Type.Boolean({ default: true, description: 'Run the election; false keeps the section but acts as a standalone box' }),
  vrid: Type.Integer({ minimum: 1, maximum: 255, description: 'VRRP virtual router id, the same on both appliances' }),
  interface: Type.Optional(IfName('Interface carrying the VIPs and adverts; default lan.interface')),
  vips: Type.Array(InterfaceAddress('A virtual address with prefix length'), { minItems: 1, maxItems: 20, description: 'Gateway addresses that move to the active appliance (one address family)' }),
  priority: Type.Integer({ minimum: 1, maximum: 255, default: 100, description: 'Higher wins; 255 only on the owner of the VIP address' }),
  advertIntervalMs: Type.Integer({ minimum: 10, maximum: 40950, multipleOf: 10, default: 100, description: 'Advert interval in ms (VRRPv3 carries centiseconds); failover takes about 3 intervals' }),
  preempt: Type.Boolean({ default: true, description: 'A higher priority appliance takes the VIPs back' }),
  preemptDelayMs: Type.Integer({ minimum: 0, maximum: 3600000, default: 0, description: 'Wait this long after start before preempting' }),
  unicastPeers: Type.Array(Address('Address of the other appliance'), { default: [], maxItems: limits.unicastPeers, description: 'Send adverts by unicast to these instead of multicast (networks that drop multicast)' }),
  peerWans: Type.Array(Id('A WAN name of the other appliance', 15), { default: [], maxItems: limits.perWan, description: "The other appliance's WANs, which policies may name: flows can leave through them" }),
  checksum: StringEnum(['rfc9568', 'keepalived'], { default: 'rfc9568', description: 'Checksum of IPv4 adverts: rfc9568 covers the VRRP message only (RFC 9568 5.2.8); keepalived puts an IPv4 pseudo-header with the real destination first, as keepalived and older FRR do' }),
  garp: Obj({
    count: Type.Integer({ minimum: 1, maximum: 20, default: 3, description: 'Gratuitous ARPs / unsolicited NAs sent on becoming active' }),
    spacingMs: Type.Integer({ minimum: 0, maximum: 10000, default: 100, description: 'Gap between them' }),
  }, { default: {}, description: 'Announcements after taking the VIPs' }),
  virtualMac: Type.Boolean({ default: false, description: 'Carry the VIPs on the VRRP MAC 00:00:5e:00:01:<vrid> (a macvlan), so hosts never relearn the gateway MAC' }),
  track: Type.Array(PairTrackSchema, { default: [], maxItems: limits.track, description: 'WANs and paths whose failure hands the VIPs to the other appliance' }),
  holdDownMs: Type.Integer({ minimum: 0, maximum: 600000, default: 2000, description: 'A tracked WAN or path must stay up this long before its weight is given back' }),
}, { description: 'Two appliances on one LAN sharing the gateway addresses (VRRPv3)' });

export const ProbeWanSchema = Obj({
  wan: Id('The WAN these settings apply to', 15),
  targets: Type.Optional(Type.Array(Address('A probe target'), { minItems: 1, maxItems: limits.probeTargets, uniqueItems: true, description: 'Probe targets for this WAN instead of probes.wanTargets' })),
  ratePerSec: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 50, description: 'WAN probes per second per target for this WAN' })),
  dscp: Type.Optional(Type.Integer({ minimum: 0, maximum: 63, description: "DSCP of this WAN's probes (0-63); default 46 (EF), so they measure the ISP's queue and not QoS's own lower-priority queues" })),
}, { description: 'Probe settings of one WAN' });

export const ProbePathClassSchema = Obj({
  name: Id('Name of the class, for logs and ternctl'),
  paths: Type.Array(Type.String({ pattern: patterns.pathPattern, maxLength: 63, description: 'A path id localWan/site/remoteWan; * stands for any one part (lte/*/*)' }), { minItems: 1, maxItems: limits.pathsPerClass, description: 'The paths in this class' }),
  ratePerSec: Type.Number({ exclusiveMinimum: 0, maximum: 50, description: 'Probes per second on each path of this class' }),
}, { description: 'Probe settings of a class of overlay paths' });

export const ProbesSchema = Obj({
  pathRatePerSec: Type.Number({ exclusiveMinimum: 0, maximum: 50, default: 5, description: 'Probes per second on each overlay path' }),
  pathClasses: Type.Array(ProbePathClassSchema, { default: [], maxItems: limits.pathClasses, description: 'Probe rates of classes of paths (metered LTE, satellite); the first class listing a path wins, the others use pathRatePerSec' }),
  wanRatePerSec: Type.Number({ exclusiveMinimum: 0, maximum: 50, default: 5, description: 'Probes per second to each WAN target (5: a dead WAN is down after downAfter 3 lost probes, about 0.6 s, so new internet flows fail for under a second)' }),
  port: Port('UDP port of the probe reflector (STAMP, RFC 8762)', { default: 862 }),
  wanTargets: Type.Array(Address('A probe target'), { default: [], maxItems: limits.probeTargets, uniqueItems: true, description: "Addresses probed over every WAN to judge the WAN itself; empty: each WAN's gateway" }),
  wans: Type.Array(ProbeWanSchema, { default: [], maxItems: limits.perWan, description: 'Per-WAN overrides' }),
  downAfter: Type.Integer({ minimum: 1, maximum: 100, default: 3, description: 'Consecutive lost probes that mark a WAN or path down' }),
  upAfter: Type.Integer({ minimum: 1, maximum: 1000, default: 10, description: 'Consecutive answered probes that mark it up again' }),
  windowSec: Type.Integer({ minimum: 1, maximum: 300, default: 10, description: 'Window over which loss, latency and jitter are measured' }),
  degraded: Obj({
    lossPct: Pct('Loss above which a path is degraded', { default: 5 }),
    latencyMs: Type.Number({ exclusiveMinimum: 0, maximum: 10000, default: 250, description: 'Round-trip time above which a path is degraded' }),
    jitterMs: Type.Number({ exclusiveMinimum: 0, maximum: 10000, default: 50, description: 'Jitter (RFC 3550) above which a path is degraded' }),
  }, { default: {}, description: 'When an up path counts as degraded' }),
  history: Obj({
    rawHours: Type.Integer({ minimum: 1, maximum: 720, default: 24, description: 'Keep every probe round this long' }),
    minuteDays: Type.Integer({ minimum: 1, maximum: 366, default: 31, description: 'Keep 1-minute summaries this long' }),
    hourDays: Type.Integer({ minimum: 1, maximum: 3660, default: 365, description: 'Keep 1-hour summaries this long' }),
  }, { default: {}, description: 'How long metric history is kept, per tier' }),
}, { default: {}, description: 'Health probing of WANs and overlay paths' });

export const AutorateSchema = Obj({
  enabled: Type.Boolean({ default: false, description: 'Adapt the shaper rate to measured latency under load' }),
  minUpMbps: Type.Optional(Mbps('Lowest upstream rate')),
  maxUpMbps: Type.Optional(Mbps('Highest upstream rate')),
  minDownMbps: Type.Optional(Mbps('Lowest downstream rate')),
  maxDownMbps: Type.Optional(Mbps('Highest downstream rate')),
  latencyTargetMs: Type.Number({ exclusiveMinimum: 0, maximum: 1000, default: 15, description: 'Added latency under load above which the rate is cut' }),
  intervalMs: Type.Integer({ minimum: 50, maximum: 60000, default: 500, description: 'How often the rate is adjusted' }),
}, { default: {}, description: 'Autorate: needs all four min/max rates when enabled' });

export const QosWanSchema = Obj({
  wan: Id('The WAN these settings apply to', 15),
  enabled: Type.Boolean({ default: true, description: 'Shape this WAN (false leaves it unshaped)' }),
  upMbps: Type.Optional(Mbps("Shaped upstream rate; default the WAN's upMbps")),
  downMbps: Type.Optional(Mbps("Shaped downstream rate; default the WAN's downMbps")),
  autorate: AutorateSchema,
}, { description: 'QoS settings of one WAN' });

const QosClassSchema = (sharePct: number, dscp: number[], what: string) => Obj({
  sharePct: Pct('Bandwidth guaranteed to this class under load', { default: sharePct }),
  ceilPct: Pct('Most bandwidth this class may use', { default: 100 }),
  dscp: Type.Array(Dscp(), { default: dscp, uniqueItems: true, maxItems: 64, description: 'DSCP values put in this class when no app class matched' }),
}, { default: {}, description: what });

export const QosSchema = Obj({
  enabled: Type.Boolean({ default: false, description: 'Shape every WAN (egress, and ingress via IFB)' }),
  overheadBytes: Type.Integer({ minimum: 0, maximum: 256, default: 44, description: 'Per-packet link-layer overhead the shaper adds (44 covers PPPoE, VDSL2 and DOCSIS framing)' }),
  wans: Type.Array(QosWanSchema, { default: [], maxItems: limits.perWan, description: 'Per-WAN settings' }),
  classes: Obj({
    realtime: QosClassSchema(25, [46, 44, 40], 'Voice and other loss- and delay-critical traffic'),
    interactive: QosClassSchema(30, [34, 36, 38, 32, 26, 28, 30, 24], 'Video, remote desktop, transactional traffic'),
    besteffort: QosClassSchema(35, [0], 'Everything else'),
    bulk: QosClassSchema(10, [8, 1], 'Backups and updates: yields to all other classes'),
  }, { default: {}, description: 'The four classes and the share each gets' }),
}, { default: {}, description: 'Shaping per WAN with DSCP classes' });

export const AppClassSchema = Obj({
  name: Id('App class name, used by policies'),
  match: Obj({
    prefixes: Type.Optional(Type.Array(Prefix('A destination prefix'), { minItems: 1, maxItems: limits.matchPrefixes, description: 'Destination prefixes' })),
    protocols: Type.Optional(Protocols('IP protocols by name (tcp, udp, icmp, any) or number; with ports, default tcp and udp')),
    ports: Type.Optional(Ports("Destination ports: a number or a range 'low-high'")),
    dscp: Type.Optional(Type.Array(Dscp(), { minItems: 1, maxItems: 64, description: 'DSCP values set by the sender' })),
    domains: Type.Optional(Type.Array(Type.String({ pattern: patterns.domain, maxLength: 253 }), { minItems: 1, maxItems: limits.matchDomains, uniqueItems: true, description: "Destination domains, each with its subdomains (slack.com: slack.com and *.slack.com): the addresses the box's DNS answered for them, each kept in the class's set for lan.dns.maxSetTtlSec (needs lan.dns; a '*.' form, subdomains only, is refused: dnsmasq cannot leave the domain itself out)" })),
  }, { description: 'A flow matches when it matches every criterion given (and any value within one)' }),
  sla: Obj({
    maxLossPct: Type.Optional(Pct('Highest acceptable loss')),
    maxLatencyMs: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 10000, description: 'Highest acceptable round-trip time' })),
    maxJitterMs: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 10000, description: 'Highest acceptable jitter' })),
    minMos: Type.Optional(Type.Number({ minimum: 1, maximum: 5, description: 'Lowest acceptable MOS estimate (1-5; G.711 tops out near 4.4)' })),
  }, { default: {}, description: 'What a path must deliver for this class; empty: any up path' }),
  qosClass: StringEnum(qosClassNames, { default: 'besteffort', description: 'QoS class of its packets' }),
  dscpMark: Type.Optional(Type.Integer({ minimum: 0, maximum: 63, description: 'Rewrite the DSCP of its packets to this value' })),
}, { description: 'A kind of traffic: how to recognise it and what it needs' });

export const PolicySchema = Obj({
  appClass: Id(`App class this policy steers (${defaultAppClass} = traffic no app class matched)`),
  mode: StringEnum(['best', 'weighted', 'affinity', 'spray'], { default: 'best', description: 'best: the best path meeting the SLA; weighted: flows spread by weight; affinity: by source address; spray: per packet' }),
  preferWans: Type.Array(Id('A WAN name (this appliance or pair.peerWans)', 15), { default: [], uniqueItems: true, maxItems: 2 * limits.perWan, description: 'WANs in order of preference among paths that meet the SLA' }),
  weights: Type.Optional(Type.Record(Type.String(), Type.Integer({ minimum: 1, maximum: 1000 }), {
    additionalProperties: false,
    maxProperties: 2 * limits.perWan,
    description: 'Mode weighted: WAN name to relative weight; unlisted WANs get none',
  })),
  sticky: Obj({
    hysteresisPct: Pct('A path must be this much better before new flows prefer it', { default: 20 }),
    holdSec: Type.Integer({ minimum: 0, maximum: 86400, default: 30, description: 'After leaving a path, do not return to it for this long' }),
  }, { default: {}, description: 'Keep flows and preferences from flapping' }),
}, { description: 'How the flows of one app class choose their path' });

export const TernConfigSchema = Obj({
  version: Type.Literal(configVersion, { description: 'Config format version' }),
  identity: IdentitySchema,
  wans: Type.Array(WanSchema, { minItems: 1, maxItems: 16, description: 'Internet uplinks of this appliance' }),
  lan: LanSchema,
  overlay: OverlaySchema,
  remoteUsers: Type.Array(RemoteUserSchema, { default: [], maxItems: limits.remoteUsers, description: 'Remote-access clients of this site' }),
  pair: Type.Optional(PairSchema),
  probes: ProbesSchema,
  qos: QosSchema,
  appClasses: Type.Array(AppClassSchema, { default: [], maxItems: limits.appClasses, description: 'App classes, matched in order: the first match wins' }),
  policies: Type.Array(PolicySchema, { default: [], maxItems: limits.appClasses + 1, description: 'One policy per app class (and default)' }),
  firewall: FirewallSchema,
  internet: InternetSchema,
  metrics: Obj({
    enabled: Type.Boolean({ default: true, description: 'Serve Prometheus metrics' }),
    listen: Type.String({ format: 'listen-address', maxLength: 53, default: '127.0.0.1:9273', description: 'Where to serve them' }),
  }, { default: {}, description: 'Prometheus metrics endpoint' }),
  log: Obj({
    level: StringEnum(['trace', 'debug', 'info', 'warn', 'error', 'fatal'], { default: 'info', description: 'Lowest level logged (TERN_LOG_LEVEL overrides)' }),
  }, { default: {}, description: 'Logging' }),
}, { title: 'Tern appliance configuration (tern.yaml)' });

/** The whole configuration after loading: every key with a default is present. */
export type TernConfig = Static<typeof TernConfigSchema>;
export type IdentityConfig = Static<typeof IdentitySchema>;
export type WanConfig = Static<typeof WanSchema>;
export type LanConfig = Static<typeof LanSchema>;
export type OverlayConfig = Static<typeof OverlaySchema>;
export type RemoteSite = Static<typeof RemoteSiteSchema>;
export type RemoteSiteWan = Static<typeof RemoteSiteWanSchema>;
export type RemoteUser = Static<typeof RemoteUserSchema>;
export type PairConfig = Static<typeof PairSchema>;
export type PairTrack = Static<typeof PairTrackSchema>;
export type ProbesConfig = Static<typeof ProbesSchema>;
export type QosConfig = Static<typeof QosSchema>;
export type QosWan = Static<typeof QosWanSchema>;
export type AutorateConfig = Static<typeof AutorateSchema>;
export type AppClass = Static<typeof AppClassSchema>;
export type Policy = Static<typeof PolicySchema>;
export type DhcpConfig = Static<typeof DhcpSchema>;
export type DnsConfig = Static<typeof DnsSchema>;
export type FirewallConfig = Static<typeof FirewallSchema>;
export type FirewallRule = Static<typeof FirewallRuleSchema>;
export type PortForward = Static<typeof PortForwardSchema>;
export type InternetConfig = Static<typeof InternetSchema>;

// A key with a default is required in the TypeScript type (it is always
// there after loading) but optional in the file. TypeBox lists such keys in
// `required`; the JSON Schema that Ajv and editors see drops them from it.
function optionalDefaults(node: unknown): void {
  if (Array.isArray(node)) { node.forEach(optionalDefaults); return; }
  if (node === null || typeof node !== 'object') return;
  const obj = node as Record<string, unknown>;
  const props = obj.properties as Record<string, Record<string, unknown>> | undefined;
  if (props && Array.isArray(obj.required)) {
    const required = (obj.required as string[]).filter((k) => !(props[k] && 'default' in props[k]));
    if (required.length > 0) obj.required = required;
    else delete obj.required;
  }
  for (const value of Object.values(obj)) optionalDefaults(value);
}

/** The JSON Schema (draft-07) of tern.yaml: plain JSON, a fresh copy on every call. */
export function jsonSchema(): Record<string, unknown> {
  // JSON round trip drops TypeBox's symbol keys, leaving plain JSON Schema.
  const plain = JSON.parse(JSON.stringify(TernConfigSchema as TSchema)) as Record<string, unknown>;
  optionalDefaults(plain);
  return { $schema: 'http://json-schema.org/draft-07/schema#', ...plain };
}

/** docs/tern.schema.json as it must read: jsonSchema() as 2-space JSON and a final newline. */
export function jsonSchemaText(): string {
  return `${JSON.stringify(jsonSchema(), null, 2)}\n`;
}
