// The lab's web server on the internet side (inet, saas1, saas2): every
// answer names the server and the client's source address as it arrived,
// so a test sees at the far end which WAN (and which NAT) a flow left by.
//
//   node dist/test/lab/http-echo.js --name saas1 --listen 198.18.100.21 [--port 80]
//
// GET /            → {"server":"saas1","client":"198.18.1.6","clientPort":40312,"local":"198.18.100.21","host":"saas1.example.test"}
// GET /bytes/N     → N bytes (at most 16 GiB) of zeros, streamed: a long download
// anything else    → 404; a method other than GET or HEAD → 405
import http from 'node:http';
import net from 'node:net';
import { pathToFileURL } from 'node:url';
import { TernError } from '../../daemons/lib/errors.js';

/** What GET / answers, as JSON. */
export interface EchoAnswer {
  server: string;
  client: string;
  clientPort: number;
  local: string;
  /** The Host header the client sent, or null. */
  host: string | null;
}

export interface EchoOptions {
  name: string;
  listen: string;
  port: number;
}

const maxBytes = 16 * 2 ** 30;
const chunk = Buffer.alloc(64 * 1024);

function bad(msg: string): TernError {
  return new TernError('TERN_E_LAB_COMMAND', `lab: http-echo: ${msg}`);
}

/** Parse `--name N --listen A [--port P]`; throws naming the bad argument. */
export function parseEchoArgs(argv: string[]): EchoOptions {
  const opts: Partial<EchoOptions> = { port: 80 };
  for (let i = 0; i < argv.length; i += 2) {
    const [key, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw bad(`${key} needs a value`);
    if (key === '--name') {
      if (!/^[a-z][a-z0-9]{0,14}$/.test(value)) throw bad(`--name ${JSON.stringify(value)}; want a lab node name`);
      opts.name = value;
    } else if (key === '--listen') {
      if (net.isIPv4(value) === false) throw bad(`--listen ${JSON.stringify(value)}; want an IPv4 address`);
      opts.listen = value;
    } else if (key === '--port') {
      const port = Number(value);
      if (!/^\d+$/.test(value) || port < 1 || port > 65535) throw bad(`--port ${JSON.stringify(value)}; want 1 to 65535`);
      opts.port = port;
    } else {
      throw bad(`unknown argument ${JSON.stringify(key)}; want --name, --listen or --port`);
    }
  }
  if (!opts.name || !opts.listen) throw bad('want --name and --listen');
  return opts as EchoOptions;
}

/** Strip the ::ffff: of an IPv4-mapped address. */
function plain(address: string | undefined): string {
  return (address ?? '').replace(/^::ffff:/, '');
}

/** The request handler: exported so a unit test can serve it on loopback. */
export function echoHandler(name: string): http.RequestListener {
  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    const url = req.url ?? '/';
    if (url === '/') {
      const answer: EchoAnswer = {
        server: name,
        client: plain(req.socket.remoteAddress),
        clientPort: req.socket.remotePort ?? 0,
        local: plain(req.socket.localAddress),
        host: req.headers.host ?? null,
      };
      res.writeHead(200, { 'content-type': 'application/json' }).end(`${JSON.stringify(answer)}\n`);
      return;
    }
    const m = /^\/bytes\/(\d{1,11})$/.exec(url);
    const n = m ? Number(m[1]) : NaN;
    if (!m || n > maxBytes) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`want / or /bytes/N (N at most ${maxBytes})\n`);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(n) });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    let left = n;
    const pump = (): void => {
      while (left > 0) {
        const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
        left -= piece.length;
        if (!res.write(piece)) {
          res.once('drain', pump);
          return;
        }
      }
      res.end();
    };
    res.on('close', () => { left = 0; });
    pump();
  };
}

function main(): void {
  let opts: EchoOptions;
  try {
    opts = parseEchoArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(2);
  }
  const server = http.createServer(echoHandler(opts.name));
  server.on('error', (err) => {
    process.stderr.write(`lab: http-echo: ${opts.name}: listen ${opts.listen}:${opts.port}: ${err.message}\n`);
    process.exit(1);
  });
  server.listen(opts.port, opts.listen, () => process.stderr.write(`lab: http-echo: ${opts.name} listening on ${opts.listen}:${opts.port}\n`));
  for (const s of ['SIGTERM', 'SIGINT'] as const) process.on(s, () => process.exit(0));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) main();
