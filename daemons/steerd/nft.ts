// steerd's part of the nftables table `inet tern`: restore each packet's
// path mark from the conntrack mark, send the first packet of a flow to the
// NFQUEUE workers (with bypass), and save the verdict's mark into the
// conntrack mark. The kernel's nft `queue` expression is used where it
// exists; where it does not (the development sandbox), the restore chain
// flags the packet and an iptables-nft NFQUEUE rule in Tern's own chain of
// the mangle table queues it (iptables.ts).
//
// nft is driven by its command line (`nft -f -` to load, `nft -j` to read):
// npm has no well-kept netlink nftables library, and `nft -f` gives what
// matters here for free: one atomic transaction per load. steerd replaces
// only its own chains and sets in one transaction and never touches other
// tables or other daemons' chains in `inet tern`.
import { createHash } from 'node:crypto';
import { TernError } from '../lib/errors.js';
import {
  domainHintMask, domainHintShift, maxDomainClasses, nftProbeTable, nftTable, pathMarkBase, pathMarkMask, queueFlagMark, steerChains, steerSets,
} from '../lib/kernel/names.js';
import { runCommand, type CommandRunner } from './command.js';

// Chains and sets steerd owns in `inet tern` (lib/kernel/names.ts); nothing else there is touched.
export { nftTable, steerChains, steerSets, pathMarkMask, queueFlagMark };
/** Path marks are pathMarkBase + index: pathMarkMask and this value pick them out. */
export const pathMarkValue = pathMarkBase;
/** Restore runs before iptables' mangle PREROUTING (-150), save after it. */
export const priorities = { restore: -160, save: -140 } as const;

/** How the first packet of a flow reaches the queue. */
export type QueueMethod = 'nft' | 'iptables';

export interface SteerRuleset {
  /** The LAN interface: packets arriving on it are steered. */
  lanInterface: string;
  /**
   * With PAIR, the other interfaces LAN hosts' packets arrive on: the pair
   * interface when it is not the LAN one, and the virtual-MAC macvlan, which
   * is where a frame sent to the virtual MAC comes in (sites.ts
   * pairInterfaces). Matched by name, so a macvlan paird creates after
   * steerd loaded its rules is steered without a reload.
   */
  pairInterfaces?: readonly string[];
  /** Destinations that are steered: every remote site's prefixes. */
  prefixes: readonly string[];
  /** Queue numbers the workers listen on: [first, last]. */
  queues: readonly [number, number];
  method: QueueMethod;
  /**
   * Internet breakout: new flows from the LAN to unicast destinations that
   * are none of `own` (this site's LAN, overlay network, remote users) are
   * queued too, after the sites' rules. Absent: only sites are steered.
   */
  internet?: { own: readonly string[] };
  /** App classes matched by domains, in policy order: their sets, and the hint their packets carry to the worker. */
  domainClasses?: readonly DomainClassRule[];
  /** Timeout of the domain sets' elements, s (lan.dns.maxSetTtlSec). */
  domainTimeoutSec?: number;
}

/** One domain app class in the restore chain. */
export interface DomainClassRule {
  appClass: string;
  /** 1..maxDomainClasses: the worker's domainHint for the class. */
  hint: number;
  set4: string;
  set6: string;
}

/** steerd's domain sets in `inet tern` (lib/kernel/names.ts domainSetName): dom4_<class>, dom6_<class>. */
export const domainSetPattern = /^dom[46]_[A-Za-z0-9_]{1,60}$/;
/** Marks a bypassed packet may carry from the restore chain: the queue flag and a domain hint. */
const restoreOnlyBits = (queueFlagMark | domainHintMask) >>> 0;

const hex = (n: number): string => `0x${n.toString(16).padStart(8, '0')}`;

function queueStatement(queues: readonly [number, number]): string {
  const [a, b] = queues;
  return a === b ? `queue flags bypass to ${a}` : `queue flags bypass,fanout to ${a}-${b}`;
}

/** Every interface steered packets may arrive on, LAN first, each once. */
export function ingressInterfaces(r: Pick<SteerRuleset, 'lanInterface' | 'pairInterfaces'>): string[] {
  return [...new Set([r.lanInterface, ...(r.pairInterfaces ?? [])])];
}

/** The fingerprint of a ruleset: carried as a rule comment so a restart can tell it is already in place. */
export function fingerprint(r: SteerRuleset): string {
  // The LAN alone hashes as a string, as before PAIR interfaces were
  // steered, so an upgrade adopts a box's rules instead of reloading them.
  const ingress = ingressInterfaces(r);
  const key = ingress.length === 1 ? ingress[0] : [ingress[0], ...ingress.slice(1).sort()];
  const internet = r.internet ? [...r.internet.own].sort() : null;
  const domains = (r.domainClasses ?? []).map((d) => [d.hint, d.set4, d.set6]);
  const h = createHash('sha256').update(JSON.stringify([key, [...r.prefixes].sort(), r.queues, r.method, 'internet', internet, domains, r.domainTimeoutSec ?? null])).digest('hex');
  return `tern-steerd ${h.slice(0, 16)}`;
}

function quote(s: string): string {
  if (!/^[A-Za-z0-9_.:@+-]{1,15}$/.test(s)) {
    throw new TernError('TERN_E_STEER_RULES', `steerd: nft: interface ${JSON.stringify(s)}: expected an interface name of 1-15 letters, digits and _.:@+-`);
  }
  return `"${s}"`;
}

/**
 * The nft script that puts steerd's chains and sets in place, replacing
 * what steerd had there, in one transaction: `add` creates what is missing,
 * `flush` empties steerd's own chains and sets, then they are filled.
 */
export function renderRuleset(r: SteerRuleset, staleDomainSets: readonly string[] = []): string {
  const v4 = r.prefixes.filter((p) => !p.includes(':'));
  const v6 = r.prefixes.filter((p) => p.includes(':'));
  // iifname compares names at packet time (iif would resolve an index at
  // load and refuse a device that does not exist yet, such as the macvlan
  // paird makes when it starts after steerd).
  const ingress = ingressInterfaces(r).map(quote);
  const iif = ingress.length === 1 ? ingress[0]! : `{ ${ingress.join(', ')} }`;
  // With iptables the flag is ORed in, so a domain hint set before it stays;
  // a site's packet returns at once, so the internet rules never see it.
  const toQueue = r.method === 'nft' ? queueStatement(r.queues) : `meta mark set meta mark | ${hex(queueFlagMark)}`;
  const toQueueSite = r.method === 'nft' ? toQueue : `meta mark set ${hex(queueFlagMark)} return`;
  const domains = r.domainClasses ?? [];
  for (const d of domains) {
    if (!Number.isInteger(d.hint) || d.hint < 1 || d.hint > maxDomainClasses) {
      throw new TernError('TERN_E_STEER_RULES', `steerd: nft: domain class ${JSON.stringify(d.appClass)}: hint ${d.hint}: expected an integer 1-${maxDomainClasses}`);
    }
    for (const set of [d.set4, d.set6]) {
      if (!domainSetPattern.test(set)) throw new TernError('TERN_E_STEER_RULES', `steerd: nft: domain class ${JSON.stringify(d.appClass)}: set ${JSON.stringify(set)}: expected dom4_/dom6_ and letters, digits, _`);
    }
  }
  const timeout = r.domainTimeoutSec ?? 3600;
  if (!Number.isInteger(timeout) || timeout < 1) throw new TernError('TERN_E_STEER_RULES', `steerd: nft: domain sets: timeout ${timeout}: expected whole seconds`);
  const t = `inet ${nftTable}`;
  const lines = [
    `add table ${t}`,
    `add set ${t} ${steerSets.dst4} { type ipv4_addr; flags interval; }`,
    `add set ${t} ${steerSets.dst6} { type ipv6_addr; flags interval; }`,
    `add chain ${t} ${steerChains.restore} { type filter hook prerouting priority ${priorities.restore}; policy accept; }`,
    `add chain ${t} ${steerChains.save} { type filter hook prerouting priority ${priorities.save}; policy accept; }`,
    `flush set ${t} ${steerSets.dst4}`,
    `flush set ${t} ${steerSets.dst6}`,
    `flush chain ${t} ${steerChains.restore}`,
    `flush chain ${t} ${steerChains.save}`,
    // Domain sets: declared (add is idempotent), never flushed — dnsmasq
    // fills them and their elements expire by timeout; deleted only when
    // their class went away (after the flush above, no rule refers to them).
    ...domains.flatMap((d) => [
      `add set ${t} ${d.set4} { type ipv4_addr; flags timeout; timeout ${timeout}s; }`,
      `add set ${t} ${d.set6} { type ipv6_addr; flags timeout; timeout ${timeout}s; }`,
    ]),
    ...staleDomainSets.filter((s) => domainSetPattern.test(s)).map((s) => `delete set ${t} ${s}`),
  ];
  if (v4.length) lines.push(`add element ${t} ${steerSets.dst4} { ${v4.join(', ')} }`);
  if (v6.length) lines.push(`add element ${t} ${steerSets.dst6} { ${v6.join(', ')} }`);
  lines.push(
    // A flow with a path: its packets take the path's mark, in the kernel.
    `add rule ${t} ${steerChains.restore} iifname ${iif} ct mark & ${hex(pathMarkMask)} == ${hex(pathMarkValue)} meta mark set ct mark return comment "${fingerprint(r)}"`,
    // A flow without one, to a remote site: its packet goes to a worker.
    `add rule ${t} ${steerChains.restore} iifname ${iif} ip daddr @${steerSets.dst4} ${toQueueSite}`,
    `add rule ${t} ${steerChains.restore} iifname ${iif} ip6 daddr @${steerSets.dst6} ${toQueueSite}`,
  );
  if (r.internet) {
    // A destination in a domain class's set: the class's hint in the mark,
    // read by the worker (the first class in policy order wins).
    for (const d of domains) {
      const hint = hex((d.hint << domainHintShift) >>> 0);
      lines.push(
        `add rule ${t} ${steerChains.restore} iifname ${iif} meta mark & ${hex(domainHintMask)} == 0x00000000 ip daddr @${d.set4} meta mark set meta mark | ${hint}`,
        `add rule ${t} ${steerChains.restore} iifname ${iif} meta mark & ${hex(domainHintMask)} == 0x00000000 ip6 daddr @${d.set6} meta mark set meta mark | ${hint}`,
      );
    }
    // Internet: a new flow to a unicast destination that is not this site's.
    const own4 = r.internet.own.filter((p) => !p.includes(':'));
    const own6 = r.internet.own.filter((p) => p.includes(':'));
    const not4 = own4.length ? `ip daddr != { ${own4.join(', ')} }` : 'meta nfproto ipv4';
    const not6 = own6.length ? `ip6 daddr != { ${own6.join(', ')} }` : 'meta nfproto ipv6';
    lines.push(
      `add rule ${t} ${steerChains.restore} iifname ${iif} fib daddr type unicast ${not4} ${toQueue}`,
      `add rule ${t} ${steerChains.restore} iifname ${iif} fib daddr type unicast ${not6} ${toQueue}`,
    );
  }
  lines.push(
    // After the verdict: a packet the queue bypassed loses the flag and any
    // hint (a mark of those bits only); a path mark becomes the flow's
    // conntrack mark, so later packets never leave the kernel.
    `add rule ${t} ${steerChains.save} meta mark & ${hex(~restoreOnlyBits >>> 0)} == 0x00000000 meta mark != 0x00000000 meta mark set 0x00000000`,
    `add rule ${t} ${steerChains.save} ct mark 0x00000000 meta mark & ${hex(pathMarkMask)} == ${hex(pathMarkValue)} ct mark set meta mark`,
  );
  return `${lines.join('\n')}\n`;
}

/** The nft script that removes steerd's chains and sets, and the table when nothing else is left in it. */
export function renderRemoval(present: NftState, dropTable: boolean): string {
  const t = `inet ${nftTable}`;
  if (dropTable) return `delete table ${t}\n`;
  const lines = [
    ...present.chains.filter((c) => (Object.values(steerChains) as string[]).includes(c)).map((c) => `delete chain ${t} ${c}`),
    ...present.sets.filter((s) => (Object.values(steerSets) as string[]).includes(s) || domainSetPattern.test(s)).map((s) => `delete set ${t} ${s}`),
  ];
  return lines.length ? `${lines.join('\n')}\n` : '';
}

/** What `nft -j list table inet tern` shows. */
export interface NftState {
  exists: boolean;
  chains: string[];
  sets: string[];
  /** Rule comments of steerd's restore chain (the fingerprint is among them). */
  comments: string[];
}

/** Reads `nft -j list table inet tern` output; a missing table is `exists: false`. */
export function parseNftState(json: string): NftState {
  const state: NftState = { exists: false, chains: [], sets: [], comments: [] };
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch (err) {
    throw new TernError('TERN_E_STEER_RULES', `steerd: nft: read table: expected nft -j JSON; got ${JSON.stringify(json.slice(0, 80))}`, { cause: err });
  }
  const items = (doc as { nftables?: unknown }).nftables;
  if (!Array.isArray(items)) throw new TernError('TERN_E_STEER_RULES', 'steerd: nft: read table: expected an object with an nftables array');
  for (const item of items as Array<Record<string, Record<string, unknown>>>) {
    if (item.table?.name === nftTable && item.table.family === 'inet') state.exists = true;
    if (item.chain?.table === nftTable && typeof item.chain.name === 'string') state.chains.push(item.chain.name);
    if (item.set?.table === nftTable && typeof item.set.name === 'string') state.sets.push(item.set.name);
    if (item.rule?.table === nftTable && item.rule.chain === steerChains.restore && typeof item.rule.comment === 'string') {
      state.comments.push(item.rule.comment);
    }
  }
  return state;
}

/** The addresses of `nft -j list set` output: plain values, or {elem: {val}} with a timeout. */
export function parseSetElements(json: string): string[] {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    return [];
  }
  const items = (doc as { nftables?: unknown }).nftables;
  if (!Array.isArray(items)) return [];
  const out: string[] = [];
  for (const item of items as Array<{ set?: { elem?: unknown } }>) {
    if (!Array.isArray(item.set?.elem)) continue;
    for (const e of item.set.elem as unknown[]) {
      if (typeof e === 'string') out.push(e);
      else {
        const val = (e as { elem?: { val?: unknown } }).elem?.val;
        if (typeof val === 'string') out.push(val);
      }
    }
  }
  return out;
}

const probeScript = [
  `table inet ${nftProbeTable} {`,
  '  chain probe {',
  '    queue flags bypass to 0',
  '  }',
  '}',
  '',
].join('\n');

/**
 * Whether this kernel has the nft `queue` expression: a scratch table with
 * a queue rule is checked by the kernel (`nft -c`: the transaction is
 * validated and aborted, so nothing is left behind and no packet sees it).
 */
export async function detectNftQueue(run: CommandRunner = runCommand): Promise<boolean> {
  const r = await run(['nft', '-c', '-f', '-'], probeScript);
  if (r.code === 0) return true;
  if (/No such file or directory|Operation not supported/.test(r.stderr)) return false;
  throw new TernError('TERN_E_STEER_RULES', `steerd: nft: detect queue: nft -c failed for another reason: ${r.stderr.trim() || `exit ${r.code}`}`);
}

export interface NftOptions {
  run?: CommandRunner;
}

/** steerd's rules in `inet tern`, through the nft command. */
export class Nft {
  private readonly run: CommandRunner;

  constructor(opts: NftOptions = {}) {
    this.run = opts.run ?? runCommand;
  }

  async state(): Promise<NftState> {
    const r = await this.run(['nft', '-j', 'list', 'table', 'inet', nftTable]);
    if (r.code !== 0) {
      if (/No such file or directory/.test(r.stderr)) return { exists: false, chains: [], sets: [], comments: [] };
      throw new TernError('TERN_E_STEER_RULES', `steerd: nft: list table inet ${nftTable}: ${r.stderr.trim() || `exit ${r.code}`}`);
    }
    return parseNftState(r.stdout);
  }

  /**
   * Puts the ruleset in place; returns false when exactly this ruleset was
   * already there (a restart adopts it without reloading anything).
   */
  async apply(rs: SteerRuleset): Promise<boolean> {
    const current = await this.state();
    const wanted = new Set((rs.domainClasses ?? []).flatMap((d) => [d.set4, d.set6]));
    const stale = current.sets.filter((s) => domainSetPattern.test(s) && !wanted.has(s));
    if (stale.length === 0 && [...wanted].every((s) => current.sets.includes(s)) && current.comments.includes(fingerprint(rs))
      && Object.values(steerChains).every((c) => current.chains.includes(c))
      && Object.values(steerSets).every((s) => current.sets.includes(s))) {
      return false;
    }
    await this.load(renderRuleset(rs, stale), 'apply');
    return true;
  }

  /**
   * The addresses a domain set holds now (dnsmasq's learning): `nft -j list
   * set`. A set that is not there holds nothing.
   */
  async setElements(name: string): Promise<string[]> {
    if (!domainSetPattern.test(name)) throw new TernError('TERN_E_STEER_RULES', `steerd: nft: list set ${JSON.stringify(name)}: expected a domain set name`);
    const r = await this.run(['nft', '-j', 'list', 'set', 'inet', nftTable, name]);
    if (r.code !== 0) return [];
    return parseSetElements(r.stdout);
  }

  /** Removes steerd's chains and sets; the table too when nothing else is in it. */
  async remove(): Promise<void> {
    const current = await this.state();
    if (!current.exists) return;
    const others = current.chains.some((c) => !(Object.values(steerChains) as string[]).includes(c))
      || current.sets.some((s) => !(Object.values(steerSets) as string[]).includes(s) && !domainSetPattern.test(s));
    const script = renderRemoval(current, !others);
    if (script) await this.load(script, 'remove');
  }

  private async load(script: string, what: string): Promise<void> {
    const r = await this.run(['nft', '-f', '-'], script);
    if (r.code !== 0) {
      throw new TernError('TERN_E_STEER_RULES', `steerd: nft: ${what}: nft -f refused the ruleset: ${r.stderr.trim() || `exit ${r.code}`}`, {
        details: { script },
      });
    }
  }
}
