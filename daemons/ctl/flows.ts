// ternctl flows: the top flows steerd is steering, with their app class and path.
import type { CommandResult, CtlContext } from './context.js';
import { exitCodes, usageError } from './exit.js';
import { brief, bytes, table } from './format.js';
import { collectRaw, listOf, methods, num, str } from './views.js';

type Obj = Record<string, unknown>;

const protocols: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 58: 'icmpv6', 47: 'gre', 50: 'esp', 132: 'sctp' };
const protoName = (n: number | null): string => (n === null ? '-' : protocols[n] ?? String(n));

/** One flow of steer.flows (FlowRow in daemons/lib/api/steerd.ts), as ternctl shows it. */
export interface FlowLine {
  src: string;
  dst: string;
  proto: string;
  appClass: string;
  path: string;
  bytes: number | null;
  packets: number | null;
  raw: Obj;
}

export function flowLine(o: Obj): FlowLine {
  const port = (k: 'srcPort' | 'dstPort'): string => (num(o, k) === null ? '' : `:${num(o, k)}`);
  return {
    src: `${str(o, 'src') ?? '?'}${port('srcPort')}`,
    dst: `${str(o, 'dst') ?? '?'}${port('dstPort')}`,
    proto: protoName(num(o, 'protocol')),
    appClass: str(o, 'class') ?? '-',
    path: str(o, 'path') ?? '-',
    bytes: num(o, 'bytes'),
    packets: num(o, 'packets'),
    raw: o,
  };
}

export async function flowsCommand(ctx: CtlContext, opts: { limit?: string; path?: string; class?: string }): Promise<CommandResult> {
  const limit = opts.limit === undefined ? 20 : Number(opts.limit);
  if (!Number.isInteger(limit) || limit <= 0) throw usageError(`--limit ${opts.limit} is not a positive whole number`, '--limit 20');
  const { value, method, sources } = await collectRaw(ctx, 'steerd', methods.flows, { limit });
  if (value === undefined) {
    return { data: { flows: [], sources }, text: `no flows: ${sources.steerd ?? 'steerd did not answer'}`, exitCode: /not running|not responding/.test(sources.steerd ?? '') ? exitCodes.unreachable : exitCodes.failed };
  }
  let flows = listOf(value, 'flows').map(flowLine);
  if (opts.path) flows = flows.filter((f) => f.path === opts.path);
  if (opts.class) flows = flows.filter((f) => f.appClass === opts.class);
  flows = flows.slice(0, limit);
  const text = table(flows, [
    { header: 'PROTO', get: (f) => f.proto },
    { header: 'SOURCE', get: (f) => f.src },
    { header: 'DESTINATION', get: (f) => f.dst },
    { header: 'CLASS', get: (f) => f.appClass },
    { header: 'PATH', get: (f) => f.path },
    { header: 'BYTES', get: (f) => bytes(f.bytes), right: true },
    { header: 'PACKETS', get: (f) => brief(f.packets), right: true },
  ]);
  const total = value && typeof value === 'object' && !Array.isArray(value) ? num(value as Obj, 'total') : null;
  return { data: { method, total, flows, sources }, text: `${text}${total !== null ? `\n${flows.length} of ${total} steered flows` : ''}` };
}
