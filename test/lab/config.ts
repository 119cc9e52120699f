// tern.yaml for each lab appliance, derived from the topology (WANs, LAN,
// overlay sites, PAIR, remote users), in the shape of docs/examples/tern.yaml,
// plus the WireGuard keys the configs refer to.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { TernError } from '../../daemons/lib/errors.js';
import {
  applianceLan, applianceWans, findNode, hostOf, type Topology,
} from './topology.js';

/** A WireGuard key pair, base64 as `wg` writes it. */
export interface KeyPair {
  privateKey: string;
  publicKey: string;
}

/** The lab's keys: one per site (shared by a PAIR) and one per remote user. */
export interface LabKeys {
  sites: Map<string, KeyPair>;
  users: Map<string, KeyPair>;
}

/** A fresh X25519 key pair (what `wg genkey | wg pubkey` gives). */
export function generateKeyPair(): KeyPair {
  const { privateKey } = crypto.generateKeyPairSync('x25519');
  const jwk = privateKey.export({ format: 'jwk' });
  return {
    privateKey: Buffer.from(jwk.d!, 'base64url').toString('base64'),
    publicKey: Buffer.from(jwk.x!, 'base64url').toString('base64'),
  };
}

function loadOrCreate(dir: string, name: string): KeyPair {
  const priv = path.join(dir, `${name}.key`);
  const pub = path.join(dir, `${name}.pub`);
  if (fs.existsSync(priv) && fs.existsSync(pub)) {
    return { privateKey: fs.readFileSync(priv, 'utf8').trim(), publicKey: fs.readFileSync(pub, 'utf8').trim() };
  }
  const kp = generateKeyPair();
  fs.writeFileSync(priv, `${kp.privateKey}\n`, { mode: 0o600 });
  fs.writeFileSync(pub, `${kp.publicKey}\n`);
  return kp;
}

/**
 * The keys of every site and remote user of topo, kept in dir
 * (site-<name>.key/.pub, user-<name>.key/.pub) so every config written for
 * one lab run agrees on them.
 */
export function labKeys(topo: Topology, dir: string): LabKeys {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  return {
    sites: new Map(topo.sites.map((s) => [s.name, loadOrCreate(dir, `site-${s.name}`)])),
    users: new Map(topo.remoteUsers.map((u) => [u.name, loadOrCreate(dir, `user-${u.name}`)])),
  };
}

/**
 * App classes of every lab appliance, by destination port: voice (UDP
 * 5000-5099; at most 1 % loss and 150 ms RTT), bulk (UDP/TCP 6000-6999),
 * affinity (UDP/TCP 7000-7999). Everything else is default.
 */
export const labAppClasses = [
  { name: 'voice', match: { protocols: ['udp'], ports: ['5000-5099'] }, sla: { maxLossPct: 1, maxLatencyMs: 150 }, qosClass: 'realtime' },
  { name: 'bulk', match: { protocols: ['udp', 'tcp'], ports: ['6000-6999'] }, qosClass: 'bulk' },
  { name: 'affinity', match: { protocols: ['udp', 'tcp'], ports: ['7000-7999'] } },
];

/** The base UDP port of site tunnels in lab configs (the schema's default). */
export const labListenPort = 51820;

export interface RenderOptions {
  /** Where the appliance finds its site's WireGuard private key. */
  privateKeyFile: string;
  /** Put into identity.description so a config names its lab run. */
  labName?: string;
}

/** The tern.yaml text of one appliance of topo. */
export function renderApplianceConfig(topo: Topology, node: string, keys: LabKeys, opts: RenderOptions): string {
  const n = findNode(topo, node);
  const site = topo.sites.find((s) => s.appliances.includes(node));
  if (n?.role !== 'appliance' || !site) {
    throw new TernError('TERN_E_LAB_TOPOLOGY', `lab: config: ${node} is not an appliance of any site; want one of ${topo.sites.flatMap((s) => s.appliances).join(', ')}`);
  }
  const wans = applianceWans(topo, node);
  const lan = applianceLan(topo, node)!;
  const peer = site.appliances.find((a) => a !== node);

  const remoteSites = topo.sites.filter((s) => s.name !== site.name).map((s) => ({
    id: s.name,
    publicKey: keys.sites.get(s.name)!.publicKey,
    overlayAddress: hostOf(s.overlayAddress),
    lanPrefixes: [s.lanPrefix, ...(s.remoteUserPrefix ? [s.remoteUserPrefix] : [])],
    wans: s.appliances.flatMap((a) => applianceWans(topo, a)).map((w) => ({
      name: w.name,
      endpoint: `${hostOf(w.address)}:${labListenPort}`,
      // New flows of weighted classes split in proportion to the remote
      // WAN's downstream bandwidth (office: ispa 100, ispb 200).
      ...(w.downMbps ? { weight: Math.min(1000, Math.max(1, Math.round(w.downMbps))) } : {}),
    })),
  }));

  let pair: Record<string, unknown> | undefined;
  if (peer && site.vip) {
    const first = site.appliances[0] === node;
    pair = {
      vrid: 1,
      vips: [site.vip],
      // The first appliance listed is the preferred master.
      priority: first ? 150 : 100,
      advertIntervalMs: 100,
      peerWans: applianceWans(topo, peer).map((w) => w.name),
      // Losing its WAN drops the master below the backup (150 - 60 < 100).
      track: wans.map((w) => ({ wan: w.name, weight: 60 })),
    };
  }
  // Key order follows docs/examples/tern.yaml.
  const config: Record<string, unknown> = {
    version: 1,
    identity: {
      site: site.name,
      name: node,
      description: `${n.description}${opts.labName ? ` (lab ${opts.labName})` : ''}`,
    },
    wans: wans.map((w) => ({
      name: w.name,
      interface: w.ifname,
      address: w.address,
      gateway: w.gateway,
      upMbps: w.upMbps,
      downMbps: w.downMbps,
      ...(w.metered ? { metered: true } : {}),
      ...(w.cost !== undefined ? { cost: w.cost } : {}),
    })),
    lan: { interface: lan.ifname, address: lan.address, prefixes: [site.lanPrefix] },
    overlay: {
      topology: 'mesh',
      listenPort: labListenPort,
      address: site.overlayAddress,
      privateKeyFile: opts.privateKeyFile,
      sites: remoteSites,
    },
    remoteUsers: topo.remoteUsers.filter((u) => u.site === site.name).map((u) => ({
      name: u.name,
      publicKey: keys.users.get(u.name)!.publicKey,
      address: u.address,
      allowedPrefixes: topo.sites.map((s) => s.lanPrefix),
    })),
    ...(pair ? { pair } : {}),
    probes: { pathRatePerSec: 5, wanRatePerSec: 1 },
    // Steering (test/steerd.test.ts): voice takes the best path meeting its
    // SLA; bulk spreads by the remote WANs' weights; affinity keeps each
    // source host on one path. Short holds so a test can repeat a failover.
    appClasses: labAppClasses,
    policies: [
      { appClass: 'voice', mode: 'best', sticky: { hysteresisPct: 20, holdSec: 2 } },
      { appClass: 'bulk', mode: 'weighted' },
      { appClass: 'affinity', mode: 'affinity' },
      { appClass: 'default', mode: 'best' },
    ],
    log: { level: 'info' },
  };
  const header = [
    `# tern.yaml of ${node}, written by the Tern lab from its topology.`,
    `# Site ${site.name}${peer ? ` (PAIR with ${peer})` : ''}; see docs/lab.md for the address plan.`,
  ].join('\n');
  return `${header}\n${stringify(config, { lineWidth: 0 })}`;
}
