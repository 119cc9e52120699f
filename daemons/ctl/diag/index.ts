// Package diag is `ternctl diag`: one tar.gz with what support needs — config, daemon state, recent logs, metrics, host facts, ip/wg/nft output — with every secret redacted.
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { readConfigText } from '../../lib/config/index.js';
import { TernError, errorMessage } from '../../lib/errors.js';
import { readEvents } from '../../lib/events/index.js';
import { writeSecretFile } from '../../lib/files/index.js';
import { redactFields } from '../../lib/secrets/index.js';
import { ConfigHistory, pendingIn } from '../config/index.js';
import type { CommandResult, CtlContext } from '../context.js';
import { knownDaemons } from '../../lib/views/daemons.js';
import { isPermissionError, permissionError } from '../exit.js';
import { collectMetrics } from '../../lib/metrics/index.js';
import { bytes } from '../format.js';
import { hostFacts, hostInterfaces } from '../hostinfo.js';
import { readLogs } from '../logs.js';
import { ReadOnlyDb } from '../state.js';
import { gatherStatus } from '../status.js';
import { parseTime } from '../time.js';
import { versionInfo } from '../version.js';
import { methods, runningConfig } from '../views.js';
import { Redactor, knownSecrets, redactedMark } from './redact.js';
import { tar, type TarEntry } from './tar.js';

export { Redactor, knownSecrets, redactedMark } from './redact.js';
export { tar, type TarEntry } from './tar.js';

/** Bus methods copied into the bundle, per daemon, when the daemon serves them (contract names only). */
const dumps: Record<string, readonly string[]> = {
  tunneld: ['paths.list', 'tunnels.list', 'overlay.info', 'ra.list'],
  probed: [methods.probedPaths, methods.probedWans],
  paird: [methods.pair],
  qosd: [methods.qos],
  steerd: [methods.steering, methods.flows],
};

/** Commands whose output goes into net/, run in the appliance's namespace. */
const netCommands: Array<[string, string[]]> = [
  ['ip-addr.txt', ['ip', '-d', 'addr', 'show']],
  ['ip-route.txt', ['ip', 'route', 'show', 'table', 'all']],
  ['ip6-route.txt', ['ip', '-6', 'route', 'show', 'table', 'all']],
  ['ip-rule.txt', ['ip', 'rule', 'show']],
  ['ip6-rule.txt', ['ip', '-6', 'rule', 'show']],
  ['ip-link-stats.txt', ['ip', '-s', 'link', 'show']],
  ['wg-show.txt', ['wg', 'show', 'all']],
  ['nft-ruleset.txt', ['nft', 'list', 'ruleset']],
  ['tc-qdisc.txt', ['tc', '-s', 'qdisc', 'show']],
];

export interface DiagOptions {
  out?: string;
  since: string;
  logDir?: string;
}

export interface DiagItem {
  path: string;
  bytes: number;
  error?: string;
}

const stamp = (t: number): string => new Date(t).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');

/** Build the bundle in memory: entries, manifest, and the redactor's counts. */
export async function buildBundle(ctx: CtlContext, opts: DiagOptions): Promise<{ root: string; entries: TarEntry[]; manifest: Record<string, unknown> }> {
  const now = ctx.clock.now();
  const since = parseTime(opts.since, now, '--since');
  const cfgR = await runningConfig(ctx);
  const cfg = cfgR.loaded?.config;
  const name = cfg?.identity.name ?? os.hostname();
  const root = `tern-diag-${name}-${stamp(now)}`;
  const redactor = new Redactor(knownSecrets(ctx.paths.keysDir, cfg));
  const entries: TarEntry[] = [];
  const items: DiagItem[] = [];
  const mtime = Math.floor(now / 1000);
  const add = (p: string, text: string, error?: string): void => {
    const clean = redactor.redact(text);
    entries.push({ name: `${root}/${p}`, data: clean, mtime });
    items.push({ path: p, bytes: Buffer.byteLength(clean), ...(error ? { error } : {}) });
  };
  // Structured data is redacted by field name first (any depth, any case), then as text like everything else.
  const json = (v: unknown): string => `${JSON.stringify(redactFields(v), null, 2)}\n`;
  const attempt = async (p: string, fn: () => Promise<string> | string): Promise<void> => {
    try {
      add(p, await fn());
    } catch (err) {
      add(p.replace(/\.[a-z]+$/, '.error.txt'), `${errorMessage(err)}\n`, errorMessage(err));
    }
  };

  // Config: the running file, its history (no texts: they are in the file's versions) and the pending apply.
  // Bounded like every config read: a FIFO or a huge file there must not hang or bloat the bundle.
  await attempt('config/tern.yaml', () => readConfigText(ctx.paths.configFile));
  if (cfgR.error) add('config/validation.txt', `${cfgR.error.message}\n`);
  await attempt('config/history.json', async () => {
    const db = await ReadOnlyDb.open(ctx.paths.dbFile);
    if (!db) return json({ versions: [], pending: null, note: 'no state database yet' });
    try {
      if (!(await db.hasTable('config_history'))) return json({ versions: [], pending: null });
      return json({ versions: await new ConfigHistory(db).list(100), pending: (await pendingIn(db)) ?? null });
    } finally {
      await db.close();
    }
  });

  // State: status, each daemon's own view, events.
  await attempt('state/status.json', async () => json(await gatherStatus(ctx)));
  for (const d of knownDaemons) {
    await attempt(`state/daemons/${d}.json`, async () => {
      const live = await ctx.daemons.liveness(d);
      const out: Record<string, unknown> = { liveness: live };
      if (live.state === 'running') {
        const have = await ctx.daemons.methods(d);
        out.methods = [...have].sort();
        for (const m of dumps[d] ?? []) {
          if (!have.has(m)) continue;
          try {
            out[m] = await ctx.daemons.call(d, m);
          } catch (err) {
            out[m] = { error: errorMessage(err) };
          }
        }
      }
      return json(out);
    });
  }
  await attempt('state/events.json', async () => {
    const db = await ReadOnlyDb.open(ctx.paths.dbFile);
    if (!db) return json([]);
    try {
      return json((await db.hasTable('events')) ? await readEvents(db, since, now + 1, 20_000) : []);
    } finally {
      await db.close();
    }
  });

  // Metrics as Prometheus would scrape them now.
  await attempt('metrics/metrics.prom', async () => (await collectMetrics(ctx)).text);

  // Logs, raw JSON lines (redacted), from the lab's files or journald.
  try {
    const logs = await readLogs(ctx, { files: [], dir: opts.logDir, since, host: cfg?.identity.name });
    const byDaemon = new Map<string, string[]>();
    for (const l of logs.lines) {
      if (l.time !== null && l.time < since) continue;
      const k = l.daemon ?? l.source.replace(/\.log$/, '');
      const line = JSON.stringify({ time: l.time === null ? null : new Date(l.time).toISOString(), level: l.level, daemon: l.daemon, component: l.component, msg: l.msg, ...l.fields });
      byDaemon.set(k, [...(byDaemon.get(k) ?? []), line]);
    }
    for (const [k, ls] of byDaemon) add(`logs/${k.replace(/[^A-Za-z0-9_.-]/g, '_')}.log`, `${ls.slice(-50_000).join('\n')}\n`);
    add('logs/SOURCE.txt', `${logs.source}\n`);
  } catch (err) {
    add('logs/error.txt', `${errorMessage(err)}\n`, errorMessage(err));
  }

  // Host and network.
  await attempt('host/facts.json', async () => json({ version: versionInfo(), facts: await hostFacts(3000), network: await hostInterfaces() }));
  for (const [file, argv] of netCommands) {
    const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 10_000, maxBuffer: 64 * 1024 * 1024 });
    const error = r.error ? errorMessage(r.error) : r.status !== 0 ? `exit ${r.status}: ${r.stderr.trim()}` : undefined;
    add(`net/${file}`, `$ ${argv.join(' ')}\n${r.stdout ?? ''}${r.stderr ? `\n# stderr:\n${r.stderr}` : ''}`, error);
  }

  const manifest = {
    tern: versionInfo(),
    appliance: cfg ? { site: cfg.identity.site, name: cfg.identity.name } : null,
    createdAt: new Date(now).toISOString(),
    since: new Date(since).toISOString(),
    paths: ctx.paths,
    redaction: { knownSecrets: redactor.known, replaced: redactor.replaced, mark: redactedMark },
    items,
  };
  entries.push({ name: `${root}/manifest.json`, data: `${JSON.stringify(manifest, null, 2)}\n`, mtime });
  entries.unshift({
    name: `${root}/README.txt`,
    mtime,
    data: [
      `Tern diagnostics bundle of ${name}, made ${new Date(now).toISOString()} by ternctl diag.`,
      'config/   the running tern.yaml and the history of applied versions',
      'state/    ternctl status, every daemon\'s status and tables, events since ' + new Date(since).toISOString(),
      'metrics/  the Prometheus metrics at the time of the bundle',
      'logs/     the daemons\' log lines (JSON), from ' + (items.find((i) => i.path === 'logs/SOURCE.txt') ? 'the source in logs/SOURCE.txt' : 'nowhere (see logs/error.txt)'),
      'host/     host facts; net/ ip, wg, nft and tc output',
      `Every secret this box holds (${redactor.known} known: WireGuard private and preshared keys), in base64, base64url or hex, and anything labelled as a private key, preshared key, secret, password or token is replaced by ${redactedMark}. Public keys are kept: they identify peers.`,
      '',
    ].join('\n'),
  });
  return { root, entries, manifest };
}

export async function diagCommand(ctx: CtlContext, opts: DiagOptions): Promise<CommandResult> {
  const { root, entries, manifest } = await buildBundle(ctx, opts);
  const out = path.resolve(opts.out ?? `${root}.tar.gz`);
  const gz = zlib.gzipSync(tar(entries), { level: 9 });
  try {
    // A temporary 0600 file renamed over the target: an existing 0644 bundle does not keep its mode.
    writeSecretFile(out, gz);
  } catch (err) {
    if (isPermissionError(err)) throw permissionError('write the bundle', out, err);
    throw new TernError('TERN_E_CTL_REPORT', `ternctl: diag: write ${out}: ${errorMessage(err)}`, { cause: err });
  }
  const items = manifest.items as DiagItem[];
  const failed = items.filter((i) => i.error);
  const r = manifest.redaction as { knownSecrets: number; replaced: number };
  return {
    data: { file: out, bytes: gz.length, manifest },
    text: [
      `wrote ${out} (${bytes(gz.length)}, ${entries.length} files; mode 600)`,
      `secrets: ${r.knownSecrets} known keys, ${r.replaced} occurrence(s) redacted`,
      ...(failed.length ? [`not collected (see the *.error.txt files inside): ${failed.map((i) => `${i.path}: ${i.error}`).join('; ')}`] : []),
    ].join('\n'),
  };
}
