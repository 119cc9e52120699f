// tern-exporter: the Prometheus endpoint of the box (tern-exporter.service).
//   tern-exporter [--listen ADDRESS:PORT] [--once] [--timeout 2s]
import { Command, CommanderError, Option } from 'commander';
import { systemClock } from '../lib/clock/index.js';
import { TernError, errorMessage, isTernError } from '../lib/errors.js';
import { resolvePaths } from '../lib/paths/index.js';
import { Daemons } from '../lib/views/daemons.js';
import { runExporter } from './index.js';

/** "2s", "500ms" → ms; the per-request daemon timeout. */
function timeoutMs(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s)$/.exec(text.trim());
  const v = m ? Number(m[1]) * (m[2] === 's' ? 1000 : 1) : NaN;
  if (!(v > 0)) throw new TernError('TERN_E_CTL_USAGE', `tern-exporter: --timeout ${JSON.stringify(text)} is not a duration above 0\nhint: e.g. --timeout 2s or 500ms`);
  return v;
}

const program = new Command('tern-exporter')
  .description('serve Prometheus metrics (WAN, path, pair, QoS, steering, daemon liveness) until stopped')
  .option('--listen <address:port>', 'override metrics.listen from the config')
  .option('--once', 'print one scrape to stdout and exit')
  .addOption(new Option('--timeout <duration>', 'per-request daemon timeout').default('2s'))
  .exitOverride();

const abort = new AbortController();
const stop = (): void => abort.abort();
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

let daemons: Daemons | undefined;
let code = 0;
try {
  program.parse(process.argv);
  const o = program.opts<{ listen?: string; once?: boolean; timeout: string }>();
  const paths = resolvePaths({}, process.env);
  daemons = new Daemons({ paths, timeoutMs: timeoutMs(o.timeout), clock: systemClock });
  await runExporter({
    paths, daemons, clock: systemClock, signal: abort.signal,
    out: (t) => process.stdout.write(t),
    err: (t) => process.stderr.write(t),
  }, { ...(o.listen !== undefined ? { listen: o.listen } : {}), once: o.once === true });
} catch (err) {
  if (err instanceof CommanderError) {
    code = err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? 0 : 2;
  } else {
    process.stderr.write(`${errorMessage(err)}${isTernError(err) ? ` [${err.code}]` : ''}\n`);
    code = isTernError(err, 'TERN_E_CTL_USAGE') ? 2 : 1;
  }
} finally {
  await daemons?.close().catch(() => undefined);
  process.removeListener('SIGINT', stop);
  process.removeListener('SIGTERM', stop);
}
process.exitCode = code;
