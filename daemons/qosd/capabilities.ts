// What traffic control the running kernel offers, found by really trying
// (as sqm-scripts does): a scratch IFB gets each qdisc in turn, then loses
// it. The result picks the shaping: cake, else HTB with fq_codel or FIFO
// leaves; it is cached for the boot in the run directory.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TernError, errorMessage } from '../lib/errors.js';
import { hasErrno, INGRESS_HANDLE, matchAll, TC_H_INGRESS, TC_H_ROOT, tcHandle, type LinkRef, type QdiscOptions } from '../lib/kernel/index.js';
import { scratchIfbPrefix } from '../lib/kernel/names.js';
import type { Logger } from '../lib/log/index.js';
import type { LinkOps, TcOps } from './kernel.js';

export const features = ['ifb', 'htb', 'cake', 'fq_codel', 'bfifo', 'tbf', 'ingress', 'mirred'] as const;
export type Feature = (typeof features)[number];
export type Capabilities = Record<Feature, boolean>;

/** Tries one feature; the kernel prober needs 'ifb' asked first (it makes the scratch device). */
export interface CapabilityProber {
  probe(feature: Feature): Promise<boolean>;
  close(): Promise<void>;
}

export interface ShapingChoice {
  /** cake when present, else htb; null: the kernel can shape nothing Tern knows. */
  mode: 'cake' | 'htb' | null;
  /** HTB leaves: fq_codel when present, else FIFOs sized to a latency budget. */
  leaf: 'fq_codel' | 'bfifo' | null;
  /** Ingress shaping needs an IFB, the ingress qdisc and mirred. */
  ingress: boolean;
}

export interface Detection {
  capabilities: Capabilities;
  choice: ShapingChoice;
  /** uname -r when detected. */
  kernel: string;
  detectedAt: number;
}

/** Asks the prober about every feature; a feature whose probe throws counts as absent. */
export async function detectCapabilities(prober: CapabilityProber, log?: Logger): Promise<Capabilities> {
  const caps = Object.fromEntries(features.map((f) => [f, false])) as Capabilities;
  try {
    for (const f of features) {
      try {
        caps[f] = await prober.probe(f);
      } catch (err) {
        log?.warn({ feature: f, err: errorMessage(err) }, 'qosd: capabilities: probe failed; counting the feature as absent');
      }
      if (f === 'ifb' && !caps.ifb) log?.warn('qosd: capabilities: no scratch device; qdiscs are probed on nothing and count as absent');
    }
  } finally {
    await prober.close();
  }
  return caps;
}

export function chooseShaping(c: Capabilities): ShapingChoice {
  const ingress = c.ifb && c.ingress && c.mirred;
  if (c.cake) return { mode: 'cake', leaf: null, ingress };
  if (c.htb) return { mode: 'htb', leaf: c.fq_codel ? 'fq_codel' : c.bfifo ? 'bfifo' : null, ingress };
  return { mode: null, leaf: null, ingress: false };
}

/** The minimal valid options each qdisc is tried with. */
const trials: Partial<Record<Feature, QdiscOptions>> = {
  htb: { kind: 'htb', defaultClass: 1 },
  cake: { kind: 'cake', bandwidthBps: 1e6 },
  fq_codel: { kind: 'fq_codel' },
  bfifo: { kind: 'bfifo', limit: 15000 },
  tbf: { kind: 'tbf', rateBps: 1e6, burstBytes: 15000, limitBytes: 15000 },
};

/** A qdisc kind the kernel lacks is refused with ENOENT (no module) or EOPNOTSUPP. */
const absent = (err: unknown): boolean => hasErrno(err, 'ENOENT') || hasErrno(err, 'EOPNOTSUPP') || hasErrno(err, 'EINVAL');

/**
 * Probes on a scratch IFB of its own (tqp-<random>), so no interface that
 * carries traffic is touched, and removes it on close().
 */
export class KernelProber implements CapabilityProber {
  private dev: LinkRef | undefined;
  private readonly name = `${scratchIfbPrefix}${crypto.randomBytes(3).toString('hex')}`;

  constructor(private readonly tc: TcOps, private readonly links: LinkOps) {}

  async probe(f: Feature): Promise<boolean> {
    if (f === 'ifb') {
      try {
        await this.links.addLink(this.name, 'ifb');
      } catch (err) {
        if (absent(err) || hasErrno(err, 'EOPNOTSUPP')) return false;
        throw err;
      }
      const l = await this.links.link(this.name);
      if (!l) return false;
      this.dev = { name: this.name, ifindex: l.index };
      return true;
    }
    const dev = this.dev;
    if (!dev) return false;
    const trial = trials[f];
    if (trial) return this.tryQdisc(dev, TC_H_ROOT, tcHandle(0x7470), trial);
    if (f === 'ingress') return this.tryQdisc(dev, TC_H_INGRESS, INGRESS_HANDLE, { kind: 'ingress' });
    // mirred: a u32 filter on the ingress qdisc redirecting to the scratch device itself.
    try {
      await this.tc.replaceQdisc({ dev, parent: TC_H_INGRESS, handle: INGRESS_HANDLE, options: { kind: 'ingress' } });
      await this.tc.addFilter({
        dev, parent: INGRESS_HANDLE, prio: 1, protocol: 'all',
        options: { kind: 'u32', keys: [matchAll], actions: [{ kind: 'mirred', mode: 'redirect', direction: 'egress', ifindex: dev.ifindex }] },
      });
      return true;
    } catch (err) {
      if (absent(err)) return false;
      throw err;
    } finally {
      await this.tc.deleteQdisc(dev, TC_H_INGRESS);
    }
  }

  /** Adds the qdisc and takes it away again: true when the kernel took it. */
  private async tryQdisc(dev: LinkRef, parent: number, handle: number, options: QdiscOptions): Promise<boolean> {
    try {
      await this.tc.replaceQdisc({ dev, parent, handle, options });
    } catch (err) {
      if (absent(err)) return false;
      throw err;
    }
    await this.tc.deleteQdisc(dev, parent);
    return true;
  }

  async close(): Promise<void> {
    if (this.dev) await this.links.deleteLink(this.name).catch(() => undefined);
    this.dev = undefined;
  }
}

/** This boot's id: a cache from another boot (or kernel) is not trusted. */
function bootId(): string {
  try {
    return fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

interface CacheFile extends Detection { bootId: string }

/** <runDir>/qosd.capabilities.json: detection survives daemon restarts, not reboots. */
export function cachePath(runDir: string): string {
  return path.join(runDir, 'qosd.capabilities.json');
}

export function readCache(file: string): Detection | undefined {
  try {
    const c = JSON.parse(fs.readFileSync(file, 'utf8')) as CacheFile;
    if (c.bootId !== bootId() || c.kernel !== os.release() || typeof c.capabilities !== 'object') return undefined;
    const capabilities = Object.fromEntries(features.map((f) => [f, c.capabilities[f] === true])) as Capabilities;
    return { capabilities, choice: chooseShaping(capabilities), kernel: c.kernel, detectedAt: c.detectedAt };
  } catch {
    return undefined;
  }
}

export function writeCache(file: string, d: Detection): void {
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify({ ...d, bootId: bootId() }, null, 2)}\n`);
  fs.renameSync(tmp, file);
}

/** Detection through the cache: probe only when this boot has no answer yet (or when asked to). */
export async function detect(opts: { runDir: string; prober: () => CapabilityProber; refresh?: boolean; now: number; log?: Logger }): Promise<Detection & { cached: boolean }> {
  const file = cachePath(opts.runDir);
  if (!opts.refresh) {
    const c = readCache(file);
    if (c) return { ...c, cached: true };
  }
  const capabilities = await detectCapabilities(opts.prober(), opts.log);
  const d: Detection = { capabilities, choice: chooseShaping(capabilities), kernel: os.release(), detectedAt: opts.now };
  try {
    writeCache(file, d);
  } catch (err) {
    opts.log?.warn({ file, err: errorMessage(err) }, 'qosd: capabilities: could not cache the detection; it will run again at the next start');
  }
  if (!d.choice.mode) {
    opts.log?.error({ capabilities }, 'qosd: capabilities: the kernel has neither cake nor htb; WANs stay unshaped');
  }
  return { ...d, cached: false };
}

/** The error for a kernel that cannot shape. */
export function noShaperError(c: Capabilities): TernError {
  const have = features.filter((f) => c[f]);
  return new TernError('TERN_E_QOS_CAPABILITY', `qosd: capabilities: got ${have.length ? have.join(', ') : 'nothing'}; want cake or htb (modules sch_cake / sch_htb) to shape any WAN`);
}
