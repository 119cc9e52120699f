// Package exporter is tern-exporter: a Prometheus scrape endpoint (prom-client) that asks the daemons on every scrape (daemons/lib/metrics); bound to 127.0.0.1:9273 unless metrics.listen says otherwise.
import http from 'node:http';
import { TernError, errorMessage } from '../lib/errors.js';
import { collectMetrics, type MetricsContext, type Scrape } from '../lib/metrics/index.js';
import { runningConfig } from '../lib/views/index.js';

export { collectMetrics, type Scrape } from '../lib/metrics/index.js';

/** What the exporter runs with: a scrape's context, a stop signal, and where its lines go. */
export interface ExporterContext extends MetricsContext {
  /** Aborted on SIGINT/SIGTERM: the server closes. */
  signal: AbortSignal;
  out(text: string): void;
  err(text: string): void;
}

export const defaultListen = '127.0.0.1:9273';

/** "127.0.0.1:9273" or "[::1]:9273" → host and port (0: any free port). */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    throw new TernError('TERN_E_CTL_USAGE', `tern-exporter: listen address ${JSON.stringify(text)} is not address:port\nhint: 127.0.0.1:9273 or [::1]:9273`, { details: { hint: '127.0.0.1:9273 or [::1]:9273' } });
  }
  return { host: m[1] ?? m[2]!, port };
}

/** Serve /metrics until ctx.signal aborts; resolves once closed. onListening gets the bound address. */
export async function serveMetrics(ctx: MetricsContext & { signal: AbortSignal }, listen: string, onListening?: (addr: { host: string; port: number }) => void): Promise<void> {
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
      `tern-exporter: listen on ${listen}: ${err.code === 'EADDRINUSE' ? 'address in use (another exporter running?)' : err.code === 'EADDRNOTAVAIL' ? 'no such address on this box' : err.code === 'EACCES' ? 'permission denied' : errorMessage(err)}`,
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

/**
 * Run the exporter: --once prints one scrape to out and returns; otherwise
 * serve metrics.listen (or listen) until ctx.signal aborts. metrics.enabled
 * false serves nothing unless listen is given.
 */
export async function runExporter(ctx: ExporterContext, opts: { listen?: string; once?: boolean }): Promise<void> {
  if (opts.once) {
    const s = await collectMetrics(ctx);
    ctx.out(s.text.endsWith('\n') ? s.text : `${s.text}\n`);
    return;
  }
  const cfg = (await runningConfig(ctx)).loaded?.config;
  if (!opts.listen && cfg && !cfg.metrics.enabled) {
    ctx.err('tern-exporter: metrics.enabled is false in the config: nothing to serve\n');
    return;
  }
  const listen = opts.listen ?? cfg?.metrics.listen ?? defaultListen;
  await serveMetrics(ctx, listen, (a) => {
    ctx.err(`tern-exporter: serving http://${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}/metrics\n`);
  });
}
