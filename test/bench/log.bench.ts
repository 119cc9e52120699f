// Logger benchmark: lines per second through Tern's logger (redaction by
// field name at any depth, by value on every line), against a baseline
// measured in the same run: pino as Tern configured it before issue #15
// (fixed redact paths, depth 2, exact names). Lines go to a stream that
// drops them, so the figure is the logger's own cost. It reports; it never
// fails on time.
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { generatePresharedKey, generatePrivateKey } from '../../daemons/lib/kernel/index.js';
import { createLogger } from '../../daemons/lib/log/index.js';
import { SecretSet } from '../../daemons/lib/secrets/index.js';

const N = Number(process.env.BENCH_N ?? 100_000);

const sink = (): Writable => new Writable({ write(_chunk, _enc, done) { done(); } });

/** The logger Tern had before: pino's redact with fixed paths. */
function before(): Logger {
  const keys = ['privateKey', 'private_key', 'presharedKey', 'preshared_key', 'psk', 'secret', 'password', 'token'];
  return pino({
    level: 'info', base: { daemon: 'bench', pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: keys.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]), censor: '[redacted]' },
  }, sink());
}

type Line = [string, (log: Logger, i: number) => void];
const lines: Line[] = [
  ['message only', (log, i) => log.info(`path isp-a/home/inet up ${i}`)],
  ['flat fields', (log, i) => log.info({ path: 'isp-a/home/inet', state: 'up', rttMs: 12.5, lossPct: 0, n: i }, 'path state')],
  ['nested fields (depth 3)', (log, i) => log.info({ reconcile: { created: ['tn1-2-00'], configured: { 'tn1-2-00': ['peers', 'listenPort'] }, n: i } }, 'reconcile done')],
  ['a secret-named field', (log, i) => log.info({ peer: { publicKey: 'yEmZ9YUSURDdEs5dQycM+X3KUk+KBvq6UFhiowFCTHU=', presharedKey: 'x'.repeat(44) }, n: i }, 'peer set')],
];

function rate(log: Logger, line: Line[1]): number {
  for (let i = 0; i < 2000; i++) line(log, i);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) line(log, i);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  return (N / ms) * 1000;
}

// What a tunneld holds: the site key and a few preshared keys.
const boxSecrets = new SecretSet([generatePrivateKey(), generatePresharedKey(), generatePresharedKey(), generatePresharedKey()]);
const loggers: Array<[string, () => Logger]> = [
  ['before #15 (pino redact paths)', before],
  ['Tern, no secrets known', () => createLogger({ name: 'bench', destination: sink(), secrets: new SecretSet() })],
  ['Tern, 4 secrets known (tunneld)', () => createLogger({ name: 'bench', destination: sink(), secrets: boxSecrets })],
];

const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
console.log(`logger lines/s, ${N} lines a round, median of ${rounds} interleaved rounds (higher is better); ratio against "before #15" in the same run`);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
for (const [what, line] of lines) {
  // Interleaved, so load from elsewhere on the machine falls on every logger alike.
  const got = loggers.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++) loggers.forEach(([, make], i) => got[i]!.push(rate(make(), line)));
  const [base, ...rest] = got.map(median);
  console.log([`${what.padEnd(26)} ${base!.toFixed(0).padStart(9)}`, ...rest.map((x) => `${x.toFixed(0).padStart(9)} (${(x / base!).toFixed(2)}x)`)].join('  '));
}
console.log(`columns: ${loggers.map(([w]) => w).join(' | ')}`);
