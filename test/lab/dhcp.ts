// LAN hosts that take their address by DHCP with a stock client: ISC
// dhclient (Debian's isc-dhcp-client) and its stock dhclient-script, run in
// a host's namespace as a lab process, against whatever DHCP server the LAN
// has (Tern's dnsmasq under tern-edged, or a test's own).
//
// Why dhclient: it runs in the foreground without systemd (-d), takes its
// lease and pid files as arguments (-lf, -pf), so each lab host keeps its
// own under the lab's directory, and its stock script configures the
// interface with ip(8) the way a Debian host does, writing the DNS servers
// it learned to /etc/resolv.conf, which `ip netns exec` binds to the node's
// own file. udhcpc needs a script of our own to do anything, dhcpcd keeps
// its leases in fixed system directories, systemd-networkd needs systemd.
//
// What dhclient-script would touch outside the node is fenced off in the
// client's private mount namespace: /etc is an overlay whose writes land in
// the client's directory (its temporary resolv.conf), the node's
// resolv.conf is bound back on top, /run/systemd is an empty tmpfs so the
// timesyncd hook cannot reconfigure the machine's time service, and the
// client has a UTS namespace of its own, as the script sets the hostname
// from the lease when the machine's is unset or localhost.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { TernError } from '../../daemons/lib/errors.js';
import type { Lab, LabProcess } from './lab.js';
import { findNode } from './topology.js';
import { patience, waitFor, type WaitOptions } from './wait.js';

/** A lease as dhclient recorded it (its lease file's last lease for the interface). */
export interface DhcpLease {
  interface: string;
  address: string;
  /** From the subnet mask option; undefined when the server sent none. */
  prefixLength?: number;
  routers: string[];
  dnsServers: string[];
  ntpServers: string[];
  domain?: string;
  leaseSec?: number;
  serverId?: string;
}

export interface DhcpClient {
  node: string;
  ifname: string;
  process: LabProcess;
  /** <runDir>/dhcp/<node>.<ifname>/: the lease and pid files, the overlay's upper layer. */
  dir: string;
  leaseFile: string;
  pidFile: string;
}

export interface DhcpClientOptions {
  /**
   * Keep the interface's static IPv4 addresses and routes (default: flush
   * them first, as a host configured by DHCP alone has none).
   */
  keepStatic?: boolean;
}

function bad(msg: string): TernError {
  return new TernError('TERN_E_LAB_COMMAND', `lab: dhcp: ${msg}`);
}

const ifnamePattern = /^[a-z][a-z0-9_-]{0,14}$/;

function ipv4(what: string, v: string): string {
  if (net.isIPv4(v)) return v;
  throw bad(`lease: ${what} ${JSON.stringify(v)}; want an IPv4 address`);
}

function maskLength(mask: string): number {
  const n = mask.split('.').reduce((acc, o) => (acc << 8) | Number(o), 0) >>> 0;
  const len = 32 - Math.log2((~n >>> 0) + 1);
  if (!Number.isInteger(len)) throw bad(`lease: subnet-mask ${mask}; want a contiguous mask`);
  return len;
}

/**
 * The last lease for ifname in dhclient's lease file text (dhclient appends
 * a block per lease it takes; the last is current). undefined when there is
 * none yet. Values are checked: addresses must be IPv4, numbers numbers.
 */
export function parseDhclientLeases(text: string, ifname: string): DhcpLease | undefined {
  const blocks = [...text.matchAll(/^lease \{\n([\s\S]*?)^\}/gm)].map((m) => m[1]!);
  let found: DhcpLease | undefined;
  for (const block of blocks) {
    const stmts = new Map<string, string>();
    for (const line of block.split('\n')) {
      const m = /^\s*(option\s+)?([a-z0-9-]+)\s+(.*?);\s*$/.exec(line);
      if (m) stmts.set(m[2]!, m[3]!);
    }
    const iface = /^"(.*)"$/.exec(stmts.get('interface') ?? '')?.[1];
    if (iface !== ifname) continue;
    const list = (k: string): string[] => (stmts.get(k) ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '').map((s) => ipv4(k, s));
    const address = stmts.get('fixed-address');
    if (!address) throw bad(`lease for ${ifname}: no fixed-address; want the address the server offered`);
    const mask = stmts.get('subnet-mask');
    const leaseTime = stmts.get('dhcp-lease-time');
    if (leaseTime !== undefined && !/^\d+$/.test(leaseTime)) throw bad(`lease: dhcp-lease-time ${JSON.stringify(leaseTime)}; want seconds`);
    const domain = /^"(.*)"$/.exec(stmts.get('domain-name') ?? '')?.[1];
    const serverId = stmts.get('dhcp-server-identifier');
    found = {
      interface: ifname,
      address: ipv4('fixed-address', address),
      ...(mask ? { prefixLength: maskLength(ipv4('subnet-mask', mask)) } : {}),
      routers: list('routers'),
      dnsServers: list('domain-name-servers'),
      ntpServers: list('ntp-servers'),
      ...(domain !== undefined ? { domain } : {}),
      ...(leaseTime !== undefined ? { leaseSec: Number(leaseTime) } : {}),
      ...(serverId ? { serverId: ipv4('dhcp-server-identifier', serverId) } : {}),
    };
  }
  return found;
}

/** The shell that fences dhclient-script in (see the file's head), then execs dhclient. Arguments: $0 = the client's directory, then dhclient's argv. */
const fence = [
  'set -e',
  'd="$0"',
  'mkdir -p "$d/etc" "$d/work"',
  ': >"$d/resolv.conf"',
  'mount --bind /etc/resolv.conf "$d/resolv.conf"',
  'mount -t overlay overlay -o "lowerdir=/etc,upperdir=$d/etc,workdir=$d/work" /etc',
  'mount --bind "$d/resolv.conf" /etc/resolv.conf',
  'if [ -d /run/systemd ]; then mount -t tmpfs -o mode=0755,size=1m tmpfs /run/systemd; fi',
  'exec unshare --uts "$@"',
].join('\n');

/**
 * Start dhclient on ifname of host node (a lab process named
 * dhclient-<ifname>: stopped by pid at lab.down(), or by stopDhcpClient).
 * Returns at once; waitForLease waits for the address.
 */
export async function startDhcpClient(lab: Lab, node: string, ifname: string, opts: DhcpClientOptions = {}): Promise<DhcpClient> {
  if (findNode(lab.topology, node)?.role !== 'host') throw bad(`${node} is not a host node; want a LAN host`);
  if (!ifnamePattern.test(ifname)) throw bad(`interface ${JSON.stringify(ifname)}; want an interface name like eth0`);
  const ifs = await lab.mustExec(node, ['ip', '-o', 'link', 'show', 'dev', ifname]).catch(() => '');
  if (!ifs) throw bad(`${node} has no interface ${ifname}`);
  if (!opts.keepStatic) {
    await lab.mustExec(node, ['ip', '-4', 'route', 'flush', 'dev', ifname]);
    await lab.mustExec(node, ['ip', '-4', 'address', 'flush', 'dev', ifname]);
  }
  const dir = path.join(lab.runDir, 'dhcp', `${node}.${ifname}`);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const leaseFile = path.join(dir, 'dhclient.leases');
  const pidFile = path.join(dir, 'dhclient.pid');
  // -d: foreground (the lab tracks the process); -4: DHCPv4; -v: the
  // exchange (DISCOVER, OFFER, REQUEST, ACK) in the process's log.
  const argv = ['sh', '-c', fence, dir, 'dhclient', '-4', '-d', '-v', '-lf', leaseFile, '-pf', pidFile, ifname];
  const process = lab.spawn(node, `dhclient-${ifname}`, argv);
  return { node, ifname, process, dir, leaseFile, pidFile };
}

/** The client's current lease, if it has one. */
export function currentLease(client: DhcpClient): DhcpLease | undefined {
  if (!fs.existsSync(client.leaseFile)) return undefined;
  return parseDhclientLeases(fs.readFileSync(client.leaseFile, 'utf8'), client.ifname);
}

/**
 * Wait until the client holds a lease and its address is on the
 * interface (dhclient-script ran); the lease. Throws if dhclient exits.
 */
export async function waitForLease(lab: Lab, client: DhcpClient, opts: WaitOptions = patience(15_000, 200)): Promise<DhcpLease> {
  return waitFor(`${client.node} ${client.ifname}: a DHCP lease configured`, async () => {
    if (client.process.child.exitCode !== null || client.process.child.signalCode !== null) {
      const log = fs.existsSync(client.process.log) ? fs.readFileSync(client.process.log, 'utf8').slice(-800) : '';
      throw bad(`${client.node}: dhclient exited (${client.process.child.exitCode ?? client.process.child.signalCode}); its log ends:\n${log}`);
    }
    const lease = currentLease(client);
    if (!lease) return undefined;
    const addrs = await lab.mustExec(client.node, ['ip', '-4', '-o', 'address', 'show', 'dev', client.ifname]);
    return addrs.includes(` ${lease.address}/`) ? lease : undefined;
  }, opts);
}

/** Stop the client by its pid (SIGTERM: it exits without releasing, as a host that goes away). */
export async function stopDhcpClient(lab: Lab, client: DhcpClient): Promise<void> {
  await lab.kill(client.node, `dhclient-${client.ifname}`);
}
