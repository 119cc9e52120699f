// dnsmasq's lease file, read field by field: a lease's hostname and client
// id come from the DHCP client, so every field is checked before it is
// shown anywhere, and a line that fails is counted, never passed on.
import { formatAddress, parseAddress } from '../../lib/ip/index.js';

/** One DHCP lease (IPv4) as dnsmasq holds it. */
export interface Lease {
  mac: string;
  address: string;
  /** The name the client asked for, when it is one DNS label. */
  hostname?: string;
  /** The client identifier (option 61), hex bytes joined by ':'. */
  clientId?: string;
  /** When the lease ends, in seconds since the epoch; null: never (a static lease with infinite time). */
  expiresAt: number | null;
}

export interface LeaseFile {
  leases: Lease[];
  /** Lines that were not a valid lease: line number and why. */
  rejected: Array<{ line: number; reason: string }>;
}

/** The most of the lease file read: 64 Ki leases of ~100 bytes; past it the rest is rejected. */
export const maxLeaseFileBytes = 8 * 1024 * 1024;

const macPattern = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const hostnamePattern = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const clientIdPattern = /^[0-9a-f]{2}(:[0-9a-f]{2}){0,254}$/;
// Whole seconds since the epoch, at most 12 digits (year 33658).
const expiryPattern = /^[0-9]{1,12}$/;

/**
 * The leases in text (the lease file's contents). IPv4 lines are
 * `<expiry> <mac> <address> <hostname|*> <client-id|*>`; the DHCPv6 part
 * after a `duid` line is skipped (Tern serves DHCP for IPv4 only).
 */
export function parseLeases(text: string): LeaseFile {
  const leases: Lease[] = [];
  const rejected: LeaseFile['rejected'] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i] as string;
    if (raw === '') continue;
    const n = i + 1;
    const reject = (reason: string): void => { rejected.push({ line: n, reason }); };
    if (raw.length > 1024) { reject('longer than 1024 characters'); continue; }
    const f = raw.split(' ');
    if (f[0] === 'duid') break;
    if (f.length !== 5) { reject(`${f.length} fields; want 5`); continue; }
    const [expiry, mac, addr, host, cid] = f as [string, string, string, string, string];
    if (!expiryPattern.test(expiry)) { reject('expiry is not a whole number of seconds'); continue; }
    const m = mac.toLowerCase();
    if (!macPattern.test(m)) { reject('not an Ethernet MAC address'); continue; }
    const a = parseAddress(addr);
    if (!a.ok || a.value.family !== 4) { reject('not an IPv4 address'); continue; }
    if (host !== '*' && !hostnamePattern.test(host)) { reject('hostname is not one DNS label'); continue; }
    const c = cid.toLowerCase();
    if (cid !== '*' && !clientIdPattern.test(c)) { reject('client id is not hex bytes'); continue; }
    const e = Number(expiry);
    leases.push({
      mac: m,
      address: formatAddress(a.value),
      ...(host !== '*' ? { hostname: host } : {}),
      ...(cid !== '*' ? { clientId: c } : {}),
      expiresAt: e === 0 ? null : e,
    });
  }
  return { leases, rejected };
}
