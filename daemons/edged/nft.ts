// edged's rules in `inet tern` through the nft command line: load in one
// transaction, adopt what a previous edged left when its fingerprint
// matches, refill the peer sets alone, read the named counters, remove
// edged's objects (and nothing else) on uninstall.
import { TernError } from '../lib/errors.js';
import { nftTable } from '../lib/kernel/names.js';
import { runCommand, type CommandRunner } from '../lib/kernel/nft/index.js';
import { edgeChains, edgeSets, fingerprint, isEdgeObject, renderRuleset } from './ruleset.js';
import type { EdgePlan } from './plan.js';

/** What `nft -j list table inet tern` shows of edged's objects. */
export interface EdgeNftState {
  exists: boolean;
  chains: string[];
  sets: string[];
  counters: string[];
  /** Other daemons' chains and sets in the table (kept, and they keep the table). */
  others: number;
  /** Comments of the input chain's rules: the fingerprint is among them. */
  comments: string[];
}

const empty = (): EdgeNftState => ({ exists: false, chains: [], sets: [], counters: [], others: 0, comments: [] });

/** Reads `nft -j list table inet tern`; throws TERN_E_EDGE_RULES on anything else than nft's JSON. */
export function parseState(json: string): EdgeNftState {
  const state = empty();
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch (err) {
    throw new TernError('TERN_E_EDGE_RULES', `edged: nft: read table: expected nft -j JSON; got ${JSON.stringify(json.slice(0, 80))}`, { cause: err });
  }
  const items = (doc as { nftables?: unknown }).nftables;
  if (!Array.isArray(items)) throw new TernError('TERN_E_EDGE_RULES', 'edged: nft: read table: expected an object with an nftables array');
  for (const item of items as Array<Record<string, Record<string, unknown> | undefined>>) {
    if (item.table?.name === nftTable && item.table.family === 'inet') state.exists = true;
    for (const kind of ['chain', 'set', 'counter'] as const) {
      const o = item[kind];
      if (o?.table !== nftTable || o.family !== 'inet' || typeof o.name !== 'string') continue;
      if (!isEdgeObject(o.name)) { state.others++; continue; }
      ({ chain: state.chains, set: state.sets, counter: state.counters })[kind].push(o.name);
    }
    const r = item.rule;
    if (r?.table === nftTable && r.family === 'inet' && r.chain === edgeChains.input && typeof r.comment === 'string') state.comments.push(r.comment);
  }
  return state;
}

/** Named counters as `nft -j list counters table inet tern` shows them, edged's only. */
export function parseCounters(json: string): Record<string, { packets: number; bytes: number }> {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch (err) {
    throw new TernError('TERN_E_EDGE_RULES', `edged: nft: read counters: expected nft -j JSON; got ${JSON.stringify(json.slice(0, 80))}`, { cause: err });
  }
  const out: Record<string, { packets: number; bytes: number }> = {};
  const items = (doc as { nftables?: unknown }).nftables;
  if (!Array.isArray(items)) throw new TernError('TERN_E_EDGE_RULES', 'edged: nft: read counters: expected an object with an nftables array');
  for (const item of items as Array<{ counter?: Record<string, unknown> }>) {
    const c = item.counter;
    if (!c || c.table !== nftTable || typeof c.name !== 'string' || !isEdgeObject(c.name)) continue;
    out[c.name] = { packets: Number(c.packets) || 0, bytes: Number(c.bytes) || 0 };
  }
  return out;
}

/** What apply did: loaded (replaced or created) or adopted as it was. */
export type ApplyOutcome = 'loaded' | 'adopted';

export class EdgeNft {
  private readonly run: CommandRunner;

  constructor(opts: { run?: CommandRunner } = {}) {
    this.run = opts.run ?? runCommand;
  }

  async state(): Promise<EdgeNftState> {
    const r = await this.run(['nft', '-j', 'list', 'table', 'inet', nftTable]);
    if (r.code !== 0) {
      if (/No such file or directory/.test(r.stderr)) return empty();
      throw new TernError('TERN_E_EDGE_RULES', `edged: nft: list table inet ${nftTable}: ${r.stderr.trim() || `exit ${r.code}`}`);
    }
    return parseState(r.stdout);
  }

  /**
   * Puts the plan in place in one transaction, unless exactly this plan is
   * there already (its fingerprint on the input chain and every chain and
   * set present): then it is adopted and nothing, counters included, changes.
   */
  async apply(plan: EdgePlan, peers: { v4: readonly string[]; v6: readonly string[] }): Promise<ApplyOutcome> {
    const current = await this.state();
    const chains = [edgeChains.spoof, edgeChains.input, edgeChains.forward, edgeChains.dnat, edgeChains.snat];
    if (current.comments.includes(fingerprint(plan))
      && chains.every((c) => current.chains.includes(c))
      && Object.values(edgeSets).every((s) => current.sets.includes(s))) {
      await this.setPeers(peers);
      return 'adopted';
    }
    await this.load(renderRuleset(plan, peers), 'apply');
    return 'loaded';
  }

  /** Refills the peer sets alone, in one transaction: the chains are not touched. */
  async setPeers(peers: { v4: readonly string[]; v6: readonly string[] }): Promise<void> {
    const t = `inet ${nftTable}`;
    const lines = [`flush set ${t} ${edgeSets.peers4}`, `flush set ${t} ${edgeSets.peers6}`];
    if (peers.v4.length) lines.push(`add element ${t} ${edgeSets.peers4} { ${peers.v4.join(', ')} }`);
    if (peers.v6.length) lines.push(`add element ${t} ${edgeSets.peers6} { ${peers.v6.join(', ')} }`);
    await this.load(`${lines.join('\n')}\n`, 'peers');
  }

  async counters(): Promise<Record<string, { packets: number; bytes: number }>> {
    const r = await this.run(['nft', '-j', 'list', 'counters', 'table', 'inet', nftTable]);
    if (r.code !== 0) {
      if (/No such file or directory/.test(r.stderr)) return {};
      throw new TernError('TERN_E_EDGE_RULES', `edged: nft: list counters: ${r.stderr.trim() || `exit ${r.code}`}`);
    }
    return parseCounters(r.stdout);
  }

  /** Removes edged's chains, sets and counters; the table too when nothing else is in it. */
  async remove(): Promise<void> {
    const s = await this.state();
    if (!s.exists) return;
    const t = `inet ${nftTable}`;
    if (s.others === 0) {
      await this.load(`delete table ${t}\n`, 'remove');
      return;
    }
    // Base chains first (they jump to the zone chains), then the rest.
    const baseNames: string[] = [edgeChains.input, edgeChains.forward, edgeChains.spoof, edgeChains.dnat, edgeChains.snat];
    const base = s.chains.filter((c) => baseNames.includes(c));
    const lines = [
      ...s.chains.map((c) => `flush chain ${t} ${c}`),
      ...base.map((c) => `delete chain ${t} ${c}`),
      ...s.chains.filter((c) => !base.includes(c)).map((c) => `delete chain ${t} ${c}`),
      ...s.sets.map((x) => `delete set ${t} ${x}`),
      ...s.counters.map((x) => `delete counter ${t} ${x}`),
    ];
    if (lines.length) await this.load(`${lines.join('\n')}\n`, 'remove');
  }

  private async load(script: string, what: string): Promise<void> {
    const r = await this.run(['nft', '-f', '-'], script);
    if (r.code !== 0) {
      throw new TernError('TERN_E_EDGE_RULES', `edged: nft: ${what}: nft -f refused the ruleset: ${r.stderr.trim() || `exit ${r.code}`}`, { details: { script } });
    }
  }
}
