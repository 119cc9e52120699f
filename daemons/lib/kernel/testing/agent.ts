// The process tests start inside a network namespace (`ip netns exec NS node
// agent.js`): it serves calls on an Rtnl and a UserspaceBackend made there,
// one JSON line per call on stdin, one JSON line per reply on stdout. It also
// records UAPI requests (verb and peer public keys, never private keys), so
// tests can count what configure() sent.
import { ifnamePrefix } from '../names.js';
import { Rtnl } from '../rtnl/rtnl.js';
import { hexToKey } from '../wireguard/keys.js';
import { createUapiTransport, type UapiTransport } from '../wireguard/uapi-socket.js';
import { UserspaceBackend } from '../wireguard/userspace.js';
import { detectWireGuard, kernelProbe } from '../wireguard/detect.js';
import { serveAgent } from './netns-agent.js';

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
serveAgent({ rtnl, wg, agent }, () => {
  wg.close();
  rtnl.close();
});
