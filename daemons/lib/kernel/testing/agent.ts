// The process tests start inside a network namespace (`ip netns exec NS node
// agent.js`): it serves calls on an Rtnl and a UserspaceBackend made there,
// one JSON line per call on stdin, one JSON line per reply on stdout. It also
// records UAPI requests (verb and peer public keys, never private keys), so
// tests can count what configure() sent.
import readline from 'node:readline';
import { TernError } from '../../errors.js';
import { ifnamePrefix } from '../names.js';
import { Rtnl } from '../rtnl/rtnl.js';
import { hexToKey } from '../wireguard/keys.js';
import { createUapiTransport, type UapiTransport } from '../wireguard/uapi-socket.js';
import { UserspaceBackend } from '../wireguard/userspace.js';
import { detectWireGuard, kernelProbe } from '../wireguard/detect.js';

/** One UAPI request as recorded: its verb and the peers it named. */
export interface UapiRecord {
  ifname: string;
  verb: string;
  peers: string[];
  lines: number;
}

const records: UapiRecord[] = [];
const real = createUapiTransport();
const recording: UapiTransport = (ifname, request) => {
  const lines = request.split('\n').filter(Boolean);
  records.push({
    ifname,
    verb: lines[0] ?? '',
    peers: lines.filter((l) => l.startsWith('public_key=')).map((l) => hexToKey(l.slice('public_key='.length))),
    lines: lines.length,
  });
  return real(ifname, request);
};

const rtnl = new Rtnl();
const wg = new UserspaceBackend({ prefix: process.env.TERN_TEST_WG_PREFIX ?? ifnamePrefix, rtnl, uapi: recording });
const agent = {
  pid: () => process.pid,
  /** The UAPI requests since the last call, then forgets them. */
  uapiLog: () => records.splice(0),
  detect: () => detectWireGuard(kernelProbe(rtnl)),
};
const targets: Record<string, Record<string, unknown>> = {
  rtnl: rtnl as unknown as Record<string, unknown>,
  wg: wg as unknown as Record<string, unknown>,
  agent,
};

interface Call {
  id: number;
  target: string;
  method: string;
  args: unknown[];
}

const reply = (o: unknown): void => { process.stdout.write(`${JSON.stringify(o)}\n`); };

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  let call: Call;
  try {
    call = JSON.parse(line) as Call;
  } catch {
    return reply({ id: -1, error: { code: 'TERN_E_KERNEL_ARG', message: 'agent: bad request line' } });
  }
  const target = targets[call.target];
  const fn = target?.[call.method];
  if (typeof fn !== 'function') {
    return reply({ id: call.id, error: { code: 'TERN_E_KERNEL_ARG', message: `agent: no method ${call.target}.${call.method}` } });
  }
  Promise.resolve()
    .then(() => (fn as (...a: unknown[]) => unknown).apply(target, call.args))
    .then(
      (result) => reply({ id: call.id, result: result === undefined ? null : result }),
      (err: unknown) => reply({
        id: call.id,
        error: err instanceof TernError
          ? { code: err.code, message: err.message, details: err.details ?? {} }
          : { code: 'UNEXPECTED', message: err instanceof Error ? err.stack ?? err.message : String(err) },
      }),
    );
}).on('close', () => {
  wg.close();
  rtnl.close();
});
