// Package exporter is `ternctl exporter`: a Prometheus scrape endpoint (prom-client) that asks the daemons on every scrape; bound to 127.0.0.1:9273 unless metrics.listen says otherwise.
import http from 'node:http';
import { TernError, errorMessage } from '../../lib/errors.js';
import type { CommandResult, CtlContext } from '../context.js';
import { usageError } from '../exit.js';
import { runningConfig } from '../views.js';
import { collectMetrics, type Scrape } from './collect.js';

export { collectMetrics, type Scrape } from './collect.js';

export const defaultListen = '127.0.0.1:9273';

/** "127.0.0.1:9273" or "[::1]:9273" → host and port (0: any free port). */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw usageError(`listen address ${JSON.stringify(text)} is not address:port`, '127.0.0.1:9273 or [::1]:9273');
  return { host: m[1] ?? m[2]!, port };
}

/** Serve /metrics until ctx.signal aborts; resolves once closed. onListening gets the bound address. */
export async function serveMetrics(ctx: CtlContext, listen: string, onListening?: (addr: { host: string; port: number }) => void): Promise<void> {
  const { host, port } = parseListen(listen);
  // One scrape at a time: Prometheus retrying on a slow scrape must not pile up requests to the daemons.
  let inflight: Promise<Scrape> | undefined;
  const scrape = (): Promise<Scrape> => (inflight ??= collectMetrics(ctx).finally(() => { inflight = undefined; }));
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    if (url === '/metrics') {
      scrape().then((s) => {
        res.writeHead(200, { 'Content-Type': s.registry.contentType }).end(req.method === 'HEAD' ? undefined : s.text);
      }, (err: unknown) => {
        res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`scrape failed: ${errorMessage(err)}\n`);
      });
      return;
    }
    if (url === '/') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' })
        .end('<html><head><title>Tern exporter</title></head><body><h1>Tern exporter</h1><p><a href="/metrics">/metrics</a></p></body></html>\n');
      return;
    }
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found; metrics are at /metrics\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new TernError('TERN_E_CTL_EXPORTER',
      `ternctl: exporter: listen on ${listen}: ${err.code === 'EADDRINUSE' ? 'address in use (another exporter running?)' : err.code === 'EADDRNOTAVAIL' ? 'no such address on this box' : err.code === 'EACCES' ? 'permission denied' : errorMessage(err)}`,
      { cause: err, details: { listen, errno: err.code } })));
    server.listen(port, host, () => resolve());
  });
  const addr = server.address();
  onListening?.({ host, port: typeof addr === 'object' && addr ? addr.port : port });
  await new Promise<void>((resolve) => {
    if (ctx.signal.aborted) resolve();
    else ctx.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

export async function exporterCommand(ctx: CtlContext, opts: { listen?: string; once?: boolean }): Promise<CommandResult> {
  if (opts.once) {
    const s = await collectMetrics(ctx);
    return { data: { problems: s.problems, metrics: await s.registry.getMetricsAsJSON() }, text: s.text.trimEnd() };
  }
  const cfg = (await runningConfig(ctx)).loaded?.config;
  if (!opts.listen && cfg && !cfg.metrics.enabled) {
    return { data: { listening: null, reason: 'metrics.enabled is false' }, text: 'metrics.enabled is false in the config: nothing to serve' };
  }
  const listen = opts.listen ?? cfg?.metrics.listen ?? defaultListen;
  await serveMetrics(ctx, listen, (a) => {
    ctx.io.err(`ternctl exporter: serving http://${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}/metrics (Ctrl-C to stop)\n`);
  });
  return { data: { listening: listen, stopped: true }, text: '', streamed: true };
}
