// Run by ctclear-netns.test.ts inside one of its namespaces: the router's
// ctClear/ctDump, or one end of a long TCP download (server streams, client
// reads), each driven by calls and answering its state when asked.
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

serveAgent({
  ct: {
    clear: (mark: number, mask: number, provoke: boolean) => loadNative().ctClear(mark, mask, provoke),
    count: (mark: number, mask: number) => loadNative().ctDump(mark, mask, 100_000).length / 80,
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
  if (pump) clearInterval(pump);
  client?.destroy();
  server?.close();
});
