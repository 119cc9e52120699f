// Measuring across the lab: fping for loss and RTT, iperf3 for throughput,
// both run inside lab nodes towards lab addresses only.
import { TernError } from '../../daemons/lib/errors.js';
import type { CommandResult, RunOptions } from './command.js';
import { waitFor } from './wait.js';

/** What measuring needs of a lab (Lab implements it). */
export interface MeasureHost {
  exec(node: string, argv: string[], opts?: RunOptions): Promise<CommandResult>;
}

export interface PingResult {
  target: string;
  sent: number;
  received: number;
  lossPct: number;
  /** Per-probe RTT in ms; NaN for a lost probe. */
  rtts: number[];
  min: number;
  avg: number;
  median: number;
  max: number;
  /** Population standard deviation of the answered probes' RTT. */
  stddev: number;
}

export interface PingOptions {
  /** Probes per target; default 20. */
  count?: number;
  /** Gap between probes to one target in ms (fping -p); default 10. */
  periodMs?: number;
  /**
   * Per-probe timeout in ms (fping -t); default 500. Pass it: in count mode
   * fping otherwise waits only as long as the period.
   */
  timeoutMs?: number;
}

function summarize(target: string, rtts: number[]): PingResult {
  const ok = rtts.filter((r) => !Number.isNaN(r)).sort((a, b) => a - b);
  const sum = ok.reduce((s, r) => s + r, 0);
  const avg = ok.length ? sum / ok.length : NaN;
  const mid = ok.length >> 1;
  const median = ok.length === 0 ? NaN : ok.length % 2 ? ok[mid]! : (ok[mid - 1]! + ok[mid]!) / 2;
  const variance = ok.length ? ok.reduce((s, r) => s + (r - avg) ** 2, 0) / ok.length : NaN;
  return {
    target,
    sent: rtts.length,
    received: ok.length,
    lossPct: rtts.length ? (100 * (rtts.length - ok.length)) / rtts.length : NaN,
    rtts,
    min: ok.length ? ok[0]! : NaN,
    avg,
    median,
    max: ok.length ? ok[ok.length - 1]! : NaN,
    stddev: Math.sqrt(variance),
  };
}

/** Parse `fping -C N -q` output: one "target : rtt rtt - rtt" line per target. */
export function parseFpingC(output: string, targets: string[]): PingResult[] {
  return targets.map((target) => {
    // fping pads targets to one width: "10.1.0.2   : 0.05 - 0.04".
    const line = output.split('\n').find((l) => l.split(/\s+/)[0] === target && /^\S+\s+:/.test(l) && !l.includes('xmt/rcv'));
    if (!line) throw new TernError('TERN_E_LAB_COMMAND', `lab: ping: no fping result for ${target}; want a "${target} : ..." line in: ${output.trim()}`);
    const rtts = line.slice(line.indexOf(':') + 1).trim().split(/\s+/).filter((x) => x.length > 0).map((x) => (x === '-' ? NaN : Number(x)));
    return summarize(target, rtts);
  });
}

/** Ping targets from node with fping and return per-target loss and RTT. */
export async function ping(host: MeasureHost, node: string, targets: string[], opts: PingOptions = {}): Promise<PingResult[]> {
  const count = opts.count ?? 20;
  const period = opts.periodMs ?? 10;
  const timeout = opts.timeoutMs ?? 500;
  const argv = ['fping', '-C', String(count), '-p', String(period), '-t', String(timeout), '-q', ...targets];
  // fping exits 1 when some probes were lost and 2 for unknown hosts: only
  // the output says what happened, so read it whatever the code.
  const r = await host.exec(node, argv, { timeoutMs: count * period + timeout + 30_000 });
  if (r.code !== 0 && r.code !== 1) {
    throw new TernError('TERN_E_LAB_COMMAND', `lab: ping: ${argv.join(' ')} in ${node} exited ${r.code}; want 0 or 1: ${r.stderr.trim()}`);
  }
  return parseFpingC(r.stderr, targets);
}

/** One target: ping() for a single address. */
export async function pingOne(host: MeasureHost, node: string, target: string, opts: PingOptions = {}): Promise<PingResult> {
  return (await ping(host, node, [target], opts))[0]!;
}

export interface IperfOptions {
  /** Seconds of traffic; default 3. */
  seconds?: number;
  /** Server sends, client receives (iperf3 -R). */
  reverse?: boolean;
  port?: number;
  /** A server already listens there (the internet's inet runs one): start none. */
  serverRunning?: boolean;
}

export interface IperfResult {
  /** Received goodput in bit/s. */
  bitsPerSecond: number;
  retransmits: number;
}

/**
 * TCP throughput from client node to a server started on serverNode at
 * serverAddress (or already running there, opts.serverRunning). iperf3 -J exits 0 even when it failed, so the result's
 * `error` field is what decides.
 */
export async function iperf(host: MeasureHost, serverNode: string, serverAddress: string, clientNode: string, opts: IperfOptions = {}): Promise<IperfResult> {
  const port = String(opts.port ?? 5201);
  const seconds = opts.seconds ?? 3;
  const server = opts.serverRunning
    ? Promise.resolve()
    : host.exec(serverNode, ['iperf3', '-s', '-1', '-B', serverAddress, '-p', port], { timeoutMs: (seconds + 60) * 1000 });
  // The server needs a moment to listen: the client starts once it does.
  await waitFor(`iperf3 listening on ${serverAddress}:${port} in ${serverNode}`, async () => {
    const ss = await host.exec(serverNode, ['ss', '-Hltn', `sport = :${port}`]);
    return ss.code === 0 && ss.stdout.trim() !== '';
  }, { tries: 300, everyMs: 100 });
  let out: { error?: string; end?: { sum_received?: { bits_per_second: number }; sum_sent?: { retransmits?: number } } };
  const argv = ['iperf3', '-c', serverAddress, '-p', port, '-t', String(seconds), '-J', ...(opts.reverse ? ['-R'] : [])];
  const r = await host.exec(clientNode, argv, { timeoutMs: (seconds + 30) * 1000 });
  try {
    out = JSON.parse(r.stdout) as typeof out;
  } catch {
    out = { error: `unparsable output: ${r.stdout.slice(0, 200)} ${r.stderr.slice(0, 200)}` };
  }
  await server;
  if (out.error || !out.end?.sum_received) {
    throw new TernError('TERN_E_LAB_COMMAND', `lab: iperf: ${clientNode} → ${serverAddress}: ${out.error ?? 'no end.sum_received'}; want a finished test`);
  }
  return { bitsPerSecond: out.end.sum_received.bits_per_second, retransmits: out.end.sum_sent?.retransmits ?? 0 };
}
