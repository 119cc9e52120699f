// Unit tests of the lab's web server (no root): arguments, and the answers
// it gives, served on loopback.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { echoHandler, parseEchoArgs, type EchoAnswer } from './http-echo.js';

t.test('arguments are validated', async (t) => {
  t.same(parseEchoArgs(['--name', 'saas1', '--listen', '198.18.100.21']), { name: 'saas1', listen: '198.18.100.21', port: 80 });
  t.same(parseEchoArgs(['--name', 'inet', '--listen', '127.0.0.1', '--port', '8080']), { name: 'inet', listen: '127.0.0.1', port: 8080 });
  const cases: Array<[string[], RegExp]> = [
    [['--listen', '127.0.0.1'], /want --name and --listen/],
    [['--name', 'Saas_1', '--listen', '127.0.0.1'], /--name "Saas_1"; want a lab node name/],
    [['--name', 'saas1', '--listen', 'example.test'], /--listen "example.test"; want an IPv4 address/],
    [['--name', 'saas1', '--listen', '127.0.0.1', '--port', '0'], /--port "0"; want 1 to 65535/],
    [['--name', 'saas1', '--listen', '127.0.0.1', '--port', '80x'], /--port "80x"/],
    [['--name', 'saas1', '--listen'], /--listen needs a value/],
    [['--name', 'saas1', '--bind', '127.0.0.1'], /unknown argument "--bind"/],
  ];
  for (const [argv, want] of cases) t.throws(() => parseEchoArgs(argv), { code: 'TERN_E_LAB_COMMAND', message: want }, `${argv.join(' ')}: want ${want}`);
});

t.test('answers: echo, bytes, 404, 405', async (t) => {
  const server = http.createServer(echoHandler('saas1'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.address() as AddressInfo).port;
  // http.request rather than fetch: fetch will not send a Host header of our choosing.
  const get = (p: string, method = 'GET'): Promise<{ status: number; body: Buffer }> => new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: p, method, headers: { host: 'x.saas1.example.test' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });

  const echo = await get('/');
  t.equal(echo.status, 200);
  const body = JSON.parse(echo.body.toString()) as EchoAnswer;
  t.same([body.server, body.client, body.local, body.host], ['saas1', '127.0.0.1', '127.0.0.1', 'x.saas1.example.test'], `got ${echo.body.toString().trim()}`);
  t.ok(body.clientPort > 0, `got clientPort ${body.clientPort}; want the client's port`);

  const table: Array<[string, string, number, number]> = [
    ['/bytes/0', 'GET', 200, 0],
    ['/bytes/100000', 'GET', 200, 100000],
    ['/bytes/100000', 'HEAD', 200, 0],
    ['/bytes/-1', 'GET', 404, -1],
    ['/bytes/99999999999', 'GET', 404, -1],
    ['/nope', 'GET', 404, -1],
    ['/', 'POST', 405, -1],
  ];
  for (const [p, method, status, length] of table) {
    const r = await get(p, method);
    t.equal(r.status, status, `${method} ${p}: got ${r.status}; want ${status}`);
    if (length >= 0) t.equal(r.body.length, length, `${method} ${p}: got ${r.body.length} bytes; want ${length}`);
  }
});
