// String formats and patterns of tern.yaml values: the checks Ajv runs, and
// the words an error uses to say what was expected and why a value failed.
import type { Ajv } from 'ajv';
import { parseAddress, parsePrefix } from '../ip/index.js';

/** A string format: what it looks like, and why a given text is not one. */
export interface StringFormat {
  /** Expected value in words, as in "must be <expected>". */
  expected: string;
  /** Why text is not of this format, or undefined when it is. */
  problem(text: string): string | undefined;
}

function portProblem(text: string): string | undefined {
  if (!/^[0-9]{1,5}$/.test(text)) return `port '${text}' is not a number`;
  const n = Number(text);
  if (n < 1 || n > 65535) return `port ${n} is outside 1-65535`;
  return undefined;
}

function hostnameProblem(text: string): string | undefined {
  const name = text.endsWith('.') ? text.slice(0, -1) : text;
  if (name.length === 0 || name.length > 253) return 'a hostname has 1-253 characters';
  for (const label of name.split('.')) {
    if (!/^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(label)) {
      return `'${label}' is not a hostname label (letters, digits and inner '-', at most 63)`;
    }
  }
  return undefined;
}

function hostProblem(text: string): string | undefined {
  if (text.includes(':')) {
    const a = parseAddress(text);
    return a.ok ? undefined : a.reason;
  }
  // Dotted numbers are an IPv4 address, never a hostname: 300.1.1.1 is a typo.
  if (/^[0-9.]+$/.test(text)) {
    const a = parseAddress(text);
    return a.ok ? undefined : a.reason;
  }
  return hostnameProblem(text);
}

/** Host and port of `host:port` or `[v6]:port`, or why the text is not one. */
export function splitHostPort(text: string): { host: string; port: string } | string {
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0 || text[close + 1] !== ':') return "write an IPv6 endpoint as [address]:port";
    return { host: text.slice(1, close), port: text.slice(close + 2) };
  }
  const colon = text.lastIndexOf(':');
  if (colon < 0) return 'missing :port';
  if (text.indexOf(':') !== colon) return 'write an IPv6 endpoint as [address]:port';
  return { host: text.slice(0, colon), port: text.slice(colon + 1) };
}

/** Every custom `format` the schema uses, keyed by format name. */
export const stringFormats = {
  'ip-address': {
    expected: 'an IP address, like 192.0.2.1 or 2001:db8::1',
    problem: (t: string) => { const a = parseAddress(t); return a.ok ? undefined : a.reason; },
  },
  'ip-prefix': {
    expected: 'a network prefix in CIDR notation, like 10.1.0.0/24 or 2001:db8:1::/48',
    problem: (t: string) => { const p = parsePrefix(t, 'reject'); return p.ok ? undefined : p.reason; },
  },
  'ip-interface': {
    expected: 'an address with its prefix length, like 10.1.0.2/24 or 2001:db8:1::2/64',
    problem: (t: string) => { const p = parsePrefix(t, 'allow'); return p.ok ? undefined : p.reason; },
  },
  host: {
    expected: 'a hostname or IP address, like vpn.example.net or 203.0.113.7',
    problem: hostProblem,
  },
  endpoint: {
    expected: 'host:port, like vpn.example.net:51820, 203.0.113.7:51820 or [2001:db8::7]:51820',
    problem: (t: string) => {
      const hp = splitHostPort(t);
      if (typeof hp === 'string') return hp;
      return hostProblem(hp.host) ?? portProblem(hp.port);
    },
  },
  'listen-address': {
    expected: 'address:port to listen on, like 127.0.0.1:9273 or [::1]:9273',
    problem: (t: string) => {
      const hp = splitHostPort(t);
      if (typeof hp === 'string') return hp;
      const a = parseAddress(hp.host);
      return a.ok ? portProblem(hp.port) : a.reason;
    },
  },
  'port-range': {
    expected: "a port range 'low-high', like 5060-5061",
    problem: (t: string) => {
      const m = /^([0-9]+)-([0-9]+)$/.exec(t);
      if (!m) return "not of the form 'low-high'";
      const bad = portProblem(m[1] as string) ?? portProblem(m[2] as string);
      if (bad) return bad;
      return Number(m[1]) > Number(m[2]) ? `low ${m[1]} is above high ${m[2]}` : undefined;
    },
  },
} satisfies Record<string, StringFormat>;

export type FormatName = keyof typeof stringFormats;

/** Register every Tern format with an Ajv instance (strict mode rejects unknown formats). */
export function addTernFormats(ajv: Ajv): Ajv {
  for (const [name, f] of Object.entries(stringFormats)) {
    ajv.addFormat(name, { type: 'string', validate: (t: string) => f.problem(t) === undefined });
  }
  return ajv;
}

/** Regular expressions the schema uses as `pattern`, so editors check them too. */
export const patterns = {
  /** Site ids and names of WANs, app classes, remote users. */
  id: '^[a-z][a-z0-9-]*$',
  /** Linux interface names: no whitespace, '/' or ':', not '.' or '..' (length via maxLength). */
  ifname: '^(?!\\.\\.?$)[^\\s/:]+$',
  /** A WireGuard key: base64 of 32 bytes is 43 characters and '='; the last one carries 2 zero bits. */
  wireguardKey: '^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$',
  /** An overlay path: localWan/site/remoteWan. */
  pathId: '^[a-z][a-z0-9-]*/[a-z][a-z0-9-]*/[a-z][a-z0-9-]*$',
  /** A set of overlay paths: localWan/site/remoteWan where * stands for any one part. */
  pathPattern: '^([a-z][a-z0-9-]*|\\*)/([a-z][a-z0-9-]*|\\*)/([a-z][a-z0-9-]*|\\*)$',
  /** An absolute file path in plain form: no '.' or '..' parts, no empty parts, no control characters. */
  absolutePath: '^(/(?!\\.\\.?(/|$))[^/\\x00-\\x1f]+)+$',
  /** A DNS domain of at least two labels, optionally '*.' first (its subdomains only). */
  domain: '^(\\*\\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)+[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$',
  /** An Ethernet MAC address, colon-separated. */
  mac: '^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$',
} as const;

/** The words for each pattern, as in "must be <expected>". */
export const patternExpected: Record<string, string> = {
  [patterns.id]: "lowercase letters, digits and '-', starting with a letter",
  [patterns.ifname]: "a Linux interface name (no spaces, '/' or ':')",
  [patterns.wireguardKey]: 'a WireGuard key: 44 characters of base64 ending in = (as printed by wg pubkey)',
  [patterns.pathId]: 'an overlay path written localWan/site/remoteWan, like isp1/cloud/inet',
  [patterns.pathPattern]: 'overlay paths written localWan/site/remoteWan, * for any one part, like lte/*/* or isp1/cloud/inet',
  [patterns.absolutePath]: "an absolute file path (starting with /, without '.', '..' or empty parts)",
  [patterns.domain]: "a DNS domain of two or more labels, like slack.com (it and its subdomains)",
  [patterns.mac]: 'a MAC address like 52:54:00:12:34:56',
};
