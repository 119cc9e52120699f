// Run by ctclear-netns.test.ts inside one of its namespaces: the router's
// ctClear/ctDump, one end of a long TCP download (server streams, client
// reads), or an NFQUEUE worker with a selector (the domain hint read from a
// queued packet's mark), each driven by calls and answering its state.
import net from 'node:net';
import { serveAgent } from '../kernel/testing/netns-agent.js';
import { loadNative } from './index.js';

/** What one end of the download saw. */
interface EndState {
  connected: boolean;
  bytes: number;
  /** The socket error's code (ECONNRESET…), null while none. */
  error: string | null;
  closed: boolean;
}

const state: EndState = { connected: false, bytes: 0, error: null, closed: false };
let server: net.Server | undefined;
let client: net.Socket | undefined;
let pump: NodeJS.Timeout | undefined;

function watch(sock: net.Socket): void {
  sock.on('data', (d) => { state.bytes += d.length; });
  sock.on('error', (err: NodeJS.ErrnoException) => { state.error = err.code ?? err.message; });
  sock.on('close', () => {
    state.closed = true;
    if (pump) clearInterval(pump);
  });
}

const chunk = Buffer.alloc(4096, 0x61);
let queue: ReturnType<ReturnType<typeof loadNative>['nfqOpen']> | undefined;
let selector: ReturnType<ReturnType<typeof loadNative>['selectorCreate']> | undefined;

serveAgent({
  ct: {
    clear: (mark: number, mask: number, provoke: boolean) => loadNative().ctClear(mark, mask, provoke),
    count: (mark: number, mask: number) => loadNative().ctDump(mark, mask, 100_000).length / 80,
  },
  fastpath: {
    /** Opens queue `num` and routes `prefixes` to a selector of `policy` over `paths`. */
    open: (num: number, policy: unknown, paths: unknown, prefixes: string[]) => {
      const native = loadNative();
      selector = native.selectorCreate(JSON.stringify(policy));
      native.selectorSetPaths(selector, JSON.stringify(paths));
      queue = native.nfqOpen(num, 64);
      native.nfqRoute(queue, selector, JSON.stringify(prefixes));
    },
    stats: () => ({ queue: loadNative().nfqStats(queue!), selector: loadNative().selectorStats(selector!) }),
  },
  tcp: {
    /** Listens on address:port; each connection gets 4 KiB every 5 ms, without end (paced, not a test of speed). */
    listen: (address: string, port: number) => new Promise<void>((resolve, reject) => {
      server = net.createServer((sock) => {
        state.connected = true;
        watch(sock);
        pump = setInterval(() => { if (!sock.destroyed) sock.write(chunk); }, 5);
      });
      server.once('error', reject);
      server.listen(port, address, () => resolve());
    }),
    connect: (address: string, port: number) => new Promise<void>((resolve, reject) => {
      client = net.connect({ host: address, port }, () => {
        state.connected = true;
        resolve();
      });
      client.once('error', reject);
      watch(client);
    }),
    state: (): EndState => ({ ...state }),
  },
}, () => {
  if (queue) loadNative().nfqClose(queue);
  if (pump) clearInterval(pump);
  client?.destroy();
  server?.close();
});
