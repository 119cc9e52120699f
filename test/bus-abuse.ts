// What test/bus-abuse.test.ts and test/bench/bus-abuse.bench.ts share: a
// real daemon process (the runner's example daemon, with the real runner
// and BusServer on a real socket), its RSS, and attackers that park
// unfinished messages on its bus.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const fixture = path.join(repo, 'dist/daemons/lib/runner/example.fixture.js');

export const mib = 1024 * 1024;
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
export const fmtMiB = (bytes: number): string => (bytes / mib).toFixed(1);

/** The bus counters and memory facts daemon.status carries (absent before issue #15). */
export interface AbuseStatus {
  health: string;
  warnings: { name: string }[];
  bus?: {
    connections: number; peakConnections: number; bufferedBytes: number; peakBufferedBytes: number; shedding: boolean;
    refusedConnections: number; evictedConnections: number; closedIncomplete: number; closedOverBuffer: number; closedTooLarge: number;
  };
  memory?: { rss: number; reclaims: number };
}

export interface ExampleDaemon {
  child: ChildProcess;
  pid: number;
  socketPath: string;
  stderr: () => string;
  /** Resolves once the daemon wrote its ready file (false: gave up). */
  ready: Promise<boolean>;
  stop(): Promise<void>;
}

/** Start the example daemon in a temporary etc/run/state tree of its own. */
export function startExampleDaemon(): ExampleDaemon {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tern-bus-abuse-'));
  const env: NodeJS.ProcessEnv = { ...process.env, TERN_ETC_DIR: path.join(dir, 'etc'), TERN_RUN_DIR: path.join(dir, 'run'), TERN_STATE_DIR: path.join(dir, 'state'), TERN_LOG_LEVEL: 'warn' };

  fs.mkdirSync(env.TERN_ETC_DIR!, { recursive: true });
  fs.copyFileSync(path.join(repo, 'docs/examples/tern.yaml'), path.join(env.TERN_ETC_DIR!, 'tern.yaml'));
  // As deployed: without the loaders tap puts in NODE_OPTIONS, which add
  // their own 30 MiB to every figure. tap adds them to whatever it spawns,
  // so env(1) drops them and execs node (same pid).
  const child = spawn('env', ['-u', 'NODE_OPTIONS', process.execPath, fixture], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return {
    child,
    pid: child.pid!,
    socketPath: path.join(env.TERN_RUN_DIR!, 'example.sock'),
    stderr: () => stderr,
    ready: waitFor(() => fs.existsSync(path.join(env.TERN_RUN_DIR!, 'example.ready'))),
    async stop() {
      child.kill('SIGKILL');
      await exited;
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The process's resident set in bytes, from /proc/<pid>/status. */
export function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`bus-abuse: /proc/${pid}/status has no VmRSS`);
  return Number(m[1]) * 1024;
}

/** Poll cond every 250 ms, at most tries times; returns whether it held. */
export async function waitFor(cond: () => boolean | Promise<boolean>, tries = 240): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    if (await cond()) return true;
    await sleep(250);
  }
  return false;
}

/** bytes of a request whose params never end: no newline. */
export function parkedLine(bytes: number): Buffer {
  const head = Buffer.from('{"jsonrpc":"2.0","id":1,"method":"example.echo","params":{"pad":"');
  return Buffer.concat([head, Buffer.alloc(bytes - head.length, 0x61)]);
}

export interface Attacker {
  socket: net.Socket;
  /** Resolves once the payload was written, or the connection failed or closed. */
  settled: Promise<void>;
  connected: boolean;
  /** data.code of the first line the daemon sent, if it was read before the socket failed. */
  toldWhy: string | undefined;
}

/** Connect and write payload; never end, never read past the first line. */
export function attack(socketPath: string, payload: Buffer): Attacker {
  const socket = net.createConnection(socketPath);
  const a: Attacker = { socket, settled: Promise.resolve(), connected: false, toldWhy: undefined };
  a.settled = new Promise<void>((resolve) => {
    socket.on('connect', () => {
      a.connected = true;
      socket.write(payload, () => resolve());
    });
    socket.once('data', (d: Buffer) => {
      try {
        a.toldWhy = (JSON.parse(d.toString().split('\n')[0]!) as { error?: { data?: { code?: string } } }).error?.data?.code;
      } catch {
        a.toldWhy = 'unreadable';
      }
    });
    socket.on('error', () => resolve());
    socket.on('close', () => resolve());
  });
  return a;
}

/** Open n attackers at once; resolves with them once all settled (or tries ran out). */
export async function crowd(socketPath: string, n: number, payloadOf: (i: number) => Buffer): Promise<{ attackers: Attacker[]; settled: boolean }> {
  const attackers = Array.from({ length: n }, (_, i) => attack(socketPath, payloadOf(i)));
  let done = 0;
  for (const a of attackers) void a.settled.then(() => { done++; });
  const settled = await waitFor(() => done === n, 480);
  return { attackers, settled };
}
