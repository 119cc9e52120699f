// What dnsmasq is told: its config file and argv, rendered only from
// config values that pass a strict check here (dnsmasq gives ',', '/', '#',
// '@', '=' and whitespace meanings of their own), and the nft script of the
// DNS intercept chain.
import { createHash } from 'node:crypto';
import path from 'node:path';
import { TernError } from '../../lib/errors.js';
import { formatAddress, parseAddress, parsePrefix, type IpAddress } from '../../lib/ip/index.js';
import { domainSetName, edgeChainPrefix, nftTable } from '../../lib/kernel/names.js';
import type { TernConfig } from '../../lib/config/schema.js';

/** The chain that redirects LAN hosts' DNS to the box. */
export const interceptChain = `${edgeChainPrefix}dns_intercept`;

/** Where dnsmasq's files live. */
export interface LanPaths {
  /** Rendered config and the record of the running dnsmasq (tmpfs: /run/tern/edged). */
  runDir: string;
  /** The lease file, kept across restarts and reboots (/var/lib/tern/edged). */
  stateDir: string;
  /** The dnsmasq binary. */
  dnsmasq: string;
}

export const confFile = (p: LanPaths): string => path.join(p.runDir, 'dnsmasq.conf');
export const pidFile = (p: LanPaths): string => path.join(p.runDir, 'dnsmasq.pid');
export const leaseFile = (p: LanPaths): string => path.join(p.stateDir, 'dnsmasq.leases');

/** dnsmasq's config and command line, and their hash (adoption compares it). */
export interface DnsmasqPlan {
  conf: string;
  argv: string[];
  hash: string;
  /** Domain app classes and the sets dnsmasq fills for them. */
  domainSets: Array<{ appClass: string; set4: string; set6: string; domains: string[] }>;
}

const refuse = (key: string, value: string, expected: string): never => {
  throw new TernError('TERN_E_LAN_CONFIG', `edged: lan: render dnsmasq config: ${key} ${JSON.stringify(value.slice(0, 80))} cannot be written into dnsmasq's config; expected ${expected}`);
};

// Linux allows almost any byte in an interface name; dnsmasq's config does not.
const ifnamePattern = /^[A-Za-z0-9_.-]{1,15}$/;
const label = '[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const hostnamePattern = new RegExp(`^${label}$`);
const domainPattern = new RegExp(`^(${label}\\.)*${label}$`);
const macPattern = /^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$/;

function safeIfname(key: string, v: string): string {
  return ifnamePattern.test(v) ? v : refuse(key, v, "an interface name of letters, digits, '.', '_' and '-'");
}

/** The address in canonical form: parsing and formatting it again leaves nothing dnsmasq could misread. */
function safeAddress(key: string, v: string): IpAddress {
  const a = parseAddress(v);
  return a.ok ? a.value : refuse(key, v, 'an IP address');
}

function safeDomain(key: string, v: string): string {
  const d = v.endsWith('.') ? v.slice(0, -1) : v;
  return d.length <= 253 && domainPattern.test(d) ? d.toLowerCase() : refuse(key, v, 'a DNS name of letters, digits and inner -');
}

/** The host address of an interface address (10.1.0.2/24 → 10.1.0.2). */
function hostOf(key: string, v: string): IpAddress {
  const p = parsePrefix(v, 'allow');
  return p.ok ? { family: p.value.family, value: p.value.address } : refuse(key, v, 'an address with its prefix length');
}

function netmask4(length: number): string {
  const bits = length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0;
  return [24, 16, 8, 0].map((s) => (bits >>> s) & 0xff).join('.');
}

/**
 * How a domain of an app class is written in an nftset= line. dnsmasq
 * (2.89, 2.90) matches an nftset domain against the queried name and every
 * name below it, and picks the longest matching domain of all nftset lines;
 * a leading '.' is dropped, and '*' is no wildcard there (server= knows
 * '*.x', nftset= does not). So 'slack.com' renders as is, and '*.x' — its
 * subdomains only — has no nftset form: it is refused, not widened.
 */
export function nftsetDomain(key: string, domain: string): string {
  if (domain.startsWith('*.')) {
    throw new TernError('TERN_E_LAN_CONFIG', `edged: lan: render dnsmasq config: ${key} '${domain}': dnsmasq's nftset matches a domain and all its subdomains and cannot leave the domain itself out; write '${domain.slice(2)}' (it and its subdomains) or list the subdomains`);
  }
  return safeDomain(key, domain);
}

/**
 * The lifetime of a learned address, and the TTLs that keep clients within
 * it. dnsmasq adds set elements without a timeout, so each lives the set's
 * timeout (lan.dns.maxSetTtlSec, steerd declares it) from the answer that
 * added it; adding a present element does not extend it. Answers to clients
 * and dnsmasq's own cache are capped at a tenth of that, so an address still
 * in use is learned again within a tenth of the set timeout after it
 * expires, and a client holds an answer no longer than that.
 */
export function answerTtlCap(maxSetTtlSec: number): number {
  return Math.max(1, Math.floor(maxSetTtlSec / 10));
}

/** The LAN services a config asks for: DHCP, DNS, both or neither. */
export function wanted(cfg: TernConfig): { dhcp: boolean; dns: boolean } {
  return { dhcp: cfg.lan.dhcp?.enabled === true, dns: cfg.lan.dns?.enabled === true };
}

/** dnsmasq's config, argv and hash for cfg; a TernError (TERN_E_LAN_CONFIG) when a value cannot be written safely. */
export function renderDnsmasq(cfg: TernConfig, paths: LanPaths): DnsmasqPlan {
  const { dhcp, dns } = wanted(cfg);
  const lanIf = safeIfname('lan.interface', cfg.lan.interface);
  const lanHost = hostOf('lan.address', cfg.lan.address);
  const lanPrefix = parsePrefix(cfg.lan.address, 'allow');
  const lines: string[] = [
    '# Written by tern-edged from tern.yaml on every start and reload; edits are lost.',
    // The LAN only: never answer DHCP or DNS on a WAN. bind-dynamic follows
    // the LAN's addresses as they come and go (a PAIR VIP moves).
    `interface=${lanIf}`,
    'bind-dynamic',
    'user=dnsmasq',
    // The box's /etc/hosts and resolv.conf are not the LAN's business.
    'no-hosts',
    'no-resolv',
    'no-poll',
  ];
  const domainSets: DnsmasqPlan['domainSets'] = [];
  if (!dns) {
    lines.push('port=0');
  } else {
    const d = cfg.lan.dns!;
    lines.push('domain-needed', 'bogus-priv', `cache-size=${d.cacheSize}`);
    d.upstreams.forEach((u, i) => {
      const a = formatAddress(safeAddress(`lan.dns.upstreams[${i}].address`, u.address));
      if (u.wan === undefined) { lines.push(`server=${a}`); return; }
      const wan = cfg.wans.find((w) => w.name === u.wan);
      if (!wan) refuse(`lan.dns.upstreams[${i}].wan`, u.wan, 'the name of a WAN');
      lines.push(`server=${a}@${safeIfname(`wans[${cfg.wans.indexOf(wan!)}].interface`, wan!.interface)}`);
    });
    cfg.appClasses.forEach((c, i) => {
      const domains = c.match.domains ?? [];
      if (domains.length === 0) return;
      const set4 = domainSetName(c.name, 4);
      const set6 = domainSetName(c.name, 6);
      const ds = domains.map((dom, j) => nftsetDomain(`appClasses[${i}].match.domains[${j}]`, dom));
      domainSets.push({ appClass: c.name, set4, set6, domains: ds });
      lines.push(`nftset=/${ds.join('/')}/4#inet#${nftTable}#${set4},6#inet#${nftTable}#${set6}`);
    });
    if (domainSets.length > 0) {
      const cap = answerTtlCap(d.maxSetTtlSec);
      lines.push(`max-ttl=${cap}`, `max-cache-ttl=${cap}`);
    }
  }
  if (dhcp) {
    const h = cfg.lan.dhcp!;
    if (!lanPrefix.ok || lanHost.family !== 4) refuse('lan.address', cfg.lan.address, 'an IPv4 address: DHCP serves IPv4 (IPv6 hosts use SLAAC)');
    const mask = netmask4((lanPrefix as { value: { length: number } }).value.length);
    const ranges = h.ranges.map((r, i) => {
      const s = safeAddress(`lan.dhcp.ranges[${i}].start`, r.start);
      const e = safeAddress(`lan.dhcp.ranges[${i}].end`, r.end);
      if (s.family !== 4 || e.family !== 4) refuse(`lan.dhcp.ranges[${i}]`, `${r.start}-${r.end}`, 'an IPv4 range');
      return { s, e };
    });
    // dnsmasq's own default (1000) would leave part of a large range unused: allow every address offered.
    const offered = ranges.reduce((n, r) => n + Number(r.e.value - r.s.value + 1n), 0) + h.staticLeases.length;
    lines.push('dhcp-authoritative', `dhcp-lease-max=${Math.min(65536, Math.max(1, offered))}`);
    for (const r of ranges) lines.push(`dhcp-range=${formatAddress(r.s)},${formatAddress(r.e)},${mask},${h.leaseSec}`);
    h.staticLeases.forEach((l, i) => {
      const at = `lan.dhcp.staticLeases[${i}]`;
      if (!macPattern.test(l.mac)) refuse(`${at}.mac`, l.mac, 'a MAC address like 52:54:00:12:34:56');
      const a = safeAddress(`${at}.address`, l.address);
      const name = l.hostname === undefined ? '' : `,${hostnamePattern.test(l.hostname) ? l.hostname : refuse(`${at}.hostname`, l.hostname, 'one DNS label (letters, digits, inner -)')}`;
      lines.push(`dhcp-host=${l.mac.toLowerCase()},${formatAddress(a)}${name}`);
    });
    const router = h.router !== undefined
      ? safeAddress('lan.dhcp.router', h.router)
      // The VIP only while paird runs the election (a disabled pair holds no VIP).
      : cfg.pair?.enabled ? hostOf('pair.vips[0]', cfg.pair.vips[0]!) : lanHost;
    lines.push(`dhcp-option=option:router,${formatAddress(router)}`);
    const dnsServers = h.dnsServers?.map((a, i) => safeAddress(`lan.dhcp.dnsServers[${i}]`, a)) ?? (dns ? [router] : []);
    const v4 = (list: IpAddress[]): string[] => list.filter((a) => a.family === 4).map(formatAddress);
    // Without lan.dns and dnsServers no option 6 goes out (port=0 also keeps dnsmasq from offering itself).
    if (v4(dnsServers).length) lines.push(`dhcp-option=option:dns-server,${v4(dnsServers).join(',')}`);
    const ntp = v4(h.ntpServers.map((a, i) => safeAddress(`lan.dhcp.ntpServers[${i}]`, a)));
    if (ntp.length) lines.push(`dhcp-option=option:ntp-server,${ntp.join(',')}`);
  }
  const domain = cfg.lan.dhcp?.domain;
  if (domain !== undefined && (dhcp || dns)) {
    const dn = safeDomain('lan.dhcp.domain', domain);
    // domain= hands out option 15 and names leases; local= keeps the LAN's names off the upstreams.
    lines.push(`domain=${dn}`);
    if (dns) lines.push(`local=/${dn}/`);
  }
  const conf = `${lines.join('\n')}\n`;
  const argv = [
    paths.dnsmasq,
    '--keep-in-foreground',
    `--conf-file=${confFile(paths)}`,
    `--pid-file=${pidFile(paths)}`,
    `--dhcp-leasefile=${leaseFile(paths)}`,
  ];
  const hash = createHash('sha256').update(argv.join('\0')).update('\0').update(conf).digest('hex').slice(0, 16);
  return { conf, argv, hash, domainSets };
}

/**
 * The nft script that puts the intercept chain in its wanted state: LAN
 * hosts' DNS (UDP and TCP 53) to any address that is not the box's is
 * redirected to the box's own port 53. With intercept off the chain is
 * removed. Idempotent: the chain is created, flushed and refilled in one
 * transaction, so a restart never leaves a gap or a duplicate rule.
 */
export function renderIntercept(cfg: TernConfig): string {
  const t = `inet ${nftTable}`;
  const on = cfg.lan.dns?.enabled === true && cfg.lan.dns.interceptPort53;
  const head = [
    `add table ${t}`,
    `add chain ${t} ${interceptChain} { type nat hook prerouting priority dstnat - 5; policy accept; }`,
  ];
  if (!on) return `${[...head, `delete chain ${t} ${interceptChain}`].join('\n')}\n`;
  const lanIf = safeIfname('lan.interface', cfg.lan.interface);
  return `${[
    ...head,
    `flush chain ${t} ${interceptChain}`,
    `add rule ${t} ${interceptChain} iifname "${lanIf}" fib daddr type != local meta l4proto { tcp, udp } th dport 53 counter redirect to :53`,
  ].join('\n')}\n`;
}
