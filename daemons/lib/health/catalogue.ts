// Every health warning a Tern daemon can raise: its name, what it means and
// what to do about it (docs/health.md lists the same; health.test.ts keeps
// the two in agreement). Health.set/check/clear take only these names, so a
// warning nobody documented is a type error. `<wan>` in a name stands for a
// WAN's name from tern.yaml.

export interface WarningInfo {
  /** The daemon (or lib component) that raises it. */
  raisedBy: string;
  severity: 'warning' | 'error' | 'warning or error';
  /** What is wrong, in a sentence. */
  meaning: string;
  /** What the field engineer does about it. */
  remedy: string;
}

export const healthWarnings = {
  'config.reload': {
    raisedBy: 'every daemon (runner)',
    severity: 'error',
    meaning: 'a reload (SIGHUP or daemon.reload) was refused: the new tern.yaml is invalid for this daemon; it runs on the previous configuration',
    remedy: 'ternctl config validate shows what is wrong; fix tern.yaml and apply again (ternctl config apply rolls the other daemons back by itself)',
  },
  'bus.shedding': {
    raisedBy: 'every daemon (bus server)',
    severity: 'warning',
    meaning: "the daemon's bus socket is refusing or closing connections at its limits (too many clients, oversized or slow requests)",
    remedy: "daemon.status shows the bus counters; find the client that floods the socket (a script in a loop, a scraper too often) and stop it",
  },
  'tunneld.config': {
    raisedBy: 'tunneld',
    severity: 'warning',
    meaning: 'parts of the overlay config cannot be built (a peer, WAN or key the config names is unusable); the rest runs',
    remedy: 'the warning text names the keys; fix them in tern.yaml and apply',
  },
  'tunneld.dhcp': {
    raisedBy: 'tunneld',
    severity: 'warning',
    meaning: "the main routing table could not be read for DHCP WANs' gateways; the WAN tables keep the last ones known",
    remedy: 'usually passes by itself; if it stays, check the kernel log and that tunneld still holds CAP_NET_ADMIN',
  },
  'tunneld.wireguard-go': {
    raisedBy: 'tunneld',
    severity: 'warning',
    meaning: "userspace WireGuard (no kernel module): the box's inotify limit is too low for the number of tunnel interfaces",
    remedy: 'raise fs.inotify.max_user_instances as the text says, or boot a kernel with WireGuard',
  },
  'tunneld.reconcile': {
    raisedBy: 'tunneld',
    severity: 'error',
    meaning: 'the last reconcile pass could not put some tunnels, addresses or routes in place',
    remedy: 'the text holds the first errors (netlink or WireGuard); the journal has all of them; tunneld tries again on every pass',
  },
  'tunneld.endpoint': {
    raisedBy: 'tunneld',
    severity: 'warning',
    meaning: "a peer's endpoint keeps moving away from the remote WAN address the config names (WireGuard roaming to another address)",
    remedy: 'if that remote WAN is behind NAT, say so in overlay.sites[].wans[].behindNat; else check its address in the config',
  },
  'probed.tunneld': {
    raisedBy: 'probed',
    severity: 'warning',
    meaning: "tunneld has not answered paths.list; probed probes the paths the config plans",
    remedy: 'check tern-tunneld (ternctl status); the warning clears when tunneld answers',
  },
  'probed.paths': {
    raisedBy: 'probed',
    severity: 'warning',
    meaning: 'tunneld lists paths this config does not plan; they are not probed',
    remedy: "the two daemons run different configs: ternctl status shows each daemon's config hash; reload them (ternctl config apply)",
  },
  'probed.history': {
    raisedBy: 'probed',
    severity: 'error',
    meaning: 'probe samples cannot be written to the state database; the loss report has a gap for as long as this lasts',
    remedy: 'check /var/lib/tern (disk full, read-only, permissions) and the journal of tern-probed',
  },
  'probed.routes': {
    raisedBy: 'probed',
    severity: 'error',
    meaning: "the kernel's routes cannot be read to find DHCP gateways; DHCP WANs cannot be probed",
    remedy: 'check the kernel log and that probed may read routes; it tries again',
  },
  'probed.wan.<wan>': {
    raisedBy: 'probed',
    severity: 'warning or error',
    meaning: 'this WAN is not probed: waiting for its DHCP gateway (warning), no usable probe target (warning), or its probe sockets failed (error)',
    remedy: "the text says which; check the WAN's lease (networkctl status), probes.wanTargets, and the journal of tern-probed",
  },
  'steerd.rules': {
    raisedBy: 'steerd',
    severity: 'error',
    meaning: "not all of steerd's nftables/iptables rules or routing rules are in place; unsteered traffic follows the main table",
    remedy: 'the text names what failed; check nft list table inet tern and the journal of tern-steerd',
  },
  'steerd.accounting': {
    raisedBy: 'steerd',
    severity: 'warning',
    meaning: 'conntrack accounting could not be turned on; steer.flows lists flows without byte counters',
    remedy: 'sysctl net.netfilter.nf_conntrack_acct=1 (steerd retries by itself)',
  },
  'paird.socket': {
    raisedBy: 'paird',
    severity: 'error',
    meaning: 'the VRRP socket on the pair interface cannot be opened or sends fail: this box takes no part in the election',
    remedy: "check pair.interface exists and is up, and paird's capabilities (CAP_NET_RAW)",
  },
  'paird.vip': {
    raisedBy: 'paird',
    severity: 'error',
    meaning: 'the gateway address (VIP) could not be added or removed on the LAN interface',
    remedy: 'the text has the netlink error; check the LAN interface and that no one else manages that address',
  },
  'paird.checksum': {
    raisedBy: 'paird',
    severity: 'error',
    meaning: "adverts from the peer fail the VRRP checksum this box expects: the two boxes disagree on pair.checksum (or the peer's version)",
    remedy: 'give both boxes the same pair settings',
  },
  'paird.addresses': {
    raisedBy: 'paird',
    severity: 'warning',
    meaning: 'IPv6 adverts from the peer do not start with a link-local address (RFC 9568 5.2.9)',
    remedy: "check the peer's pair interface addresses and its VRRP implementation",
  },
  'paird.sync': {
    raisedBy: 'paird',
    severity: 'warning',
    meaning: "pair sync is not running (no key or no socket): the election runs, but the peer's WANs are not offered as paths",
    remedy: 'the text says why (usually the pair key file); paird retries by itself',
  },
  'paird.fault': {
    raisedBy: 'paird',
    severity: 'error',
    meaning: 'the pair instance is in fault: the pair interface lost its carrier; the VIPs are off this box and it sends no adverts',
    remedy: 'check the cable and link of the pair interface (ip link), then ternctl pair',
  },
  'qos.capabilities': {
    raisedBy: 'qosd',
    severity: 'error',
    meaning: 'QoS is enabled but this kernel has no qdisc qosd can shape with: nothing is shaped',
    remedy: 'load sch_cake or sch_htb (or boot a kernel that has them), or set qos.enabled false',
  },
  'qos.ingress': {
    raisedBy: 'qosd',
    severity: 'warning',
    meaning: 'no IFB, ingress qdisc or mirred in this kernel: downstream traffic is not shaped',
    remedy: 'load the ifb, sch_ingress and act_mirred modules or boot a kernel that has them',
  },
  'qos.config': {
    raisedBy: 'qosd',
    severity: 'warning',
    meaning: 'parts of the QoS config cannot be used (the text names the keys); the rest is shaped',
    remedy: 'fix the keys named in tern.yaml and apply',
  },
  'qos.wan.<wan>': {
    raisedBy: 'qosd',
    severity: 'warning or error',
    meaning: "this WAN is not shaped as configured: its interface is missing (warning, qosd waits for it) or the kernel refused the shaper (error)",
    remedy: "the text has the reason; ternctl qos shows the WAN's state",
  },
  'qos.autorate.<wan>': {
    raisedBy: 'qosd',
    severity: 'warning',
    meaning: 'autorate has no latency reading of this WAN from probed; the shaping rate is held where it is',
    remedy: 'check tern-probed and that the WAN is probed (ternctl status)',
  },
  'edged.rules': {
    raisedBy: 'edged',
    severity: 'error',
    meaning: "edged could not load its nftables rules (zone firewall, NAT, port forwards); the rules the kernel had before stay in place, and with none, nothing is filtered or NATed",
    remedy: 'the text has nft\'s error; check nft list table inet tern and the journal of tern-edged',
  },
  'edged.peers': {
    raisedBy: 'edged',
    severity: 'warning',
    meaning: "edged could not refresh the set of remote sites' WAN addresses STAMP is accepted from; the previous set stays",
    remedy: 'the text has nft\'s error; ternctl firewall and the journal of tern-edged show the rest',
  },
  'edged.lan': {
    raisedBy: 'edged',
    severity: 'error',
    meaning: "edged could not put the LAN services (DHCP and DNS by dnsmasq) in place; the firewall and NAT are not affected, and edged keeps restarting dnsmasq with backoff",
    remedy: "the text has dnsmasq's own words (a port taken, the LAN interface missing); ternctl leases and the journal of tern-edged show the rest",
  },
} as const satisfies Record<string, WarningInfo>;

export type WarningPattern = keyof typeof healthWarnings;

/** 'qos.wan.<wan>' → `qos.wan.${string}`. */
type Fill<P extends string> = P extends `${infer A}<${string}>${infer B}` ? `${A}${string}${Fill<B>}` : P;

/** A name Health accepts: a catalogue entry, its <placeholders> filled in. */
export type WarningName = Fill<WarningPattern>;

const patterns = Object.keys(healthWarnings).map((p) => ({
  pattern: p as WarningPattern,
  re: new RegExp(`^${p.split(/<[^>]+>/).map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('[^\\s]+')}$`),
}));

/** The catalogue entry name belongs to, or undefined when it is not registered. */
export function warningPattern(name: string): WarningPattern | undefined {
  return patterns.find((p) => p.re.test(name))?.pattern;
}
