// Lab test of tern-edged (issue #17, the zone firewall): the real daemons on
// every appliance of the default topology with the lab's internet, home1
// watched from the internet side. A real scanner (nmap) finds exactly the
// ports Tern serves (and a port forward) on home1's WAN, IPv4 and IPv6; a
// route to home1's LAN planted on its ISP reaches nothing; packets from the
// WAN with a LAN source are dropped and counted; a port forward works; LAN
// hosts reach the internet NATed to the WAN address; and kill -9 of edged
// during a NATed download leaves the download running and the WAN closed,
// the restarted edged adopting the rules (same fingerprint, counters kept).
//
// The nmap wrapper here is minimal (greppable output, states per port); the
// lab's shared wrapper (test/lab/scan.ts) is written by another change.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { defaultTopology, Lab, repoRoot, startDaemons, startInternet, httpEcho, iperfPort } from './lab/index.js';
import { busCall, patience, waitFor } from './lab/wait.js';

const home = 'home1';
const homeWan = '198.18.1.6';
/** home1's second, metered WAN (ispd, the LTE). */
const homeWanLte = '198.18.4.2';
/** An address in the overlay network (100.64.0.0/24) that is no site's: it can never come from a WAN. */
const overlaySpoof = '100.64.0.99';
const homeHost = '10.2.0.10';
const homeWan6 = '2001:db8:1::6';
const ispa6 = '2001:db8:1::5';
const forwardPort = 8080;
/** A real service on the box itself, on a port Tern does not serve: the firewall must hide it. */
const boxPort = 2222;

interface Counter { name: string; packets: number; bytes: number; kind: string; zone: string | null; wan: string | null }
interface EdgeStatus { fingerprint: string; outcome: string; loads: number; peers: { v4: string[] }; lastError: string | null }
interface NatWan { wan: string; sessions: number; addresses: string[] }

const lab = await Lab.up(defaultTopology());
t.teardown(() => lab.down());
const inet = await startInternet(lab);
const web = inet.servers.find((s) => s.node === 'inet')!;

const sock = (node: string, daemon: string): string => path.join(lab.applianceEnv(node).TERN_RUN_DIR!, `${daemon}.sock`);
const edge = <T>(method: string, node = home): Promise<T> => busCall<T>(sock(node, 'edged'), method);
const counters = async (): Promise<Record<string, Counter>> => Object.fromEntries((await edge<{ counters: Counter[] }>('edge.firewall')).counters.map((c) => [c.name, c]));
const packets = async (name: string): Promise<number> => (await counters())[name]?.packets ?? -1;

interface PortState { port: number; proto: string; state: string }
/** nmap's greppable output: every port it reported, and the state of the ones it folded into "Ignored State". */
function parseNmap(out: string): { ports: PortState[]; ignored: string | undefined } {
  const line = out.split('\n').find((l) => l.includes('Ports:') || l.includes('Ignored State:')) ?? '';
  const ports = (/Ports: ([^\t]*)/.exec(line)?.[1] ?? '').split(',').map((s) => s.trim()).filter(Boolean).map((p) => {
    const [port, state, proto] = p.split('/');
    return { port: Number(port), state: state!, proto: proto! };
  });
  return { ports, ignored: /Ignored State: (\S+)/.exec(line)?.[1] };
}

async function nmap(from: string, args: string[]): Promise<{ ports: PortState[]; ignored: string | undefined; raw: string }> {
  const r = await lab.exec(from, ['nmap', '-n', '-Pn', '--max-retries', '1', '-T4', '-oG', '-', ...args], { timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`nmap ${args.join(' ')} from ${from}: exit ${r.code}: ${r.stderr.trim()}`);
  return { ...parseNmap(r.stdout), raw: r.stdout };
}

const open = (s: { ports: PortState[] }): number[] => s.ports.filter((p) => p.state === 'open').map((p) => p.port).sort((a, b) => a - b);

t.test('setup: a control without edged, then every daemon with home1\'s port forward', async (t) => {
  // A real listener on the box and the port forward's server on the LAN host.
  lab.spawn(home, 'boxsvc', ['socat', `TCP6-LISTEN:${boxPort},fork,reuseaddr,ipv6only=0`, 'SYSTEM:echo hi']);
  lab.spawn('homehost', 'http', [process.execPath, path.join(repoRoot, 'dist', 'test', 'lab', 'http-echo.js'), '--name', 'homehost', '--listen', homeHost, '--port', '80']);
  // IPv6 on home1's WAN link (documentation prefix): the lab's WANs are IPv4 only.
  await lab.mustExec(home, ['ip', '-6', 'addr', 'add', `${homeWan6}/64`, 'dev', 'wan0', 'nodad']);
  await lab.mustExec('ispa', ['ip', '-6', 'addr', 'add', `${ispa6}/64`, 'dev', home, 'nodad']);

  // Control, before any daemon runs: the scanner sees the box's listener,
  // and a route planted on the ISP reaches the LAN — so the assertions
  // after edged starts can fail.
  await waitFor('socat listening on home1', async () => (await lab.exec(home, ['ss', '-Htln', `sport = :${boxPort}`])).stdout.includes(String(boxPort)), patience(2000));
  const s = await nmap('inet', ['-sS', '-p', `${boxPort},${forwardPort}`, homeWan]);
  t.same(open(s), [boxPort], `control: got open ${open(s).join(',') || 'none'}; want ${boxPort}: no firewall yet`);
  await lab.mustExec('ispa', ['ip', 'route', 'replace', '10.2.0.0/24', 'via', homeWan]);
  const r = await lab.exec('ispa', ['fping', '-c', '2', '-t', '300', homeHost]);
  t.equal(r.code, 0, `control: ispa → ${homeHost} over the planted route: fping exit ${r.code}; want 0 before edged runs`);
  await lab.mustExec('ispa', ['ip', 'route', 'del', '10.2.0.0/24']);

  // Every appliance with home1's port forward in its config.
  for (const n of lab.nodes('appliance').map((x) => x.name)) lab.writeApplianceConfig(n);
  const file = lab.applianceEnv(home).TERN_CONFIG!;
  const cfg = parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  cfg.firewall = { portForwards: [{ name: 'web', port: forwardPort, to: homeHost, toPort: 80 }] };
  fs.writeFileSync(file, stringify(cfg, { lineWidth: 0 }));
  const daemons = startDaemons(lab);
  t.ok(daemons.daemons.includes('edged'), `got daemons ${daemons.daemons.join(', ')}; want edged among them`);
  for (const n of lab.nodes('appliance').map((x) => x.name)) {
    await waitFor(`${n} edged ready`, () => fs.existsSync(path.join(lab.applianceEnv(n).TERN_RUN_DIR!, 'edged.ready')), patience(10_000));
  }
});

t.test('the tunnels and their probes pass the firewall', async (t) => {
  const rows = await waitFor('home1: every tunnel up and probed up', async () => {
    const paths = await busCall<Array<{ name: string; state: string }>>(sock(home, 'tunneld'), 'paths.list');
    const probes = await busCall<Array<{ path: string; state: string }>>(sock(home, 'probed'), 'paths.metrics');
    return paths.length > 0 && paths.every((p) => p.state === 'up') && paths.every((p) => probes.find((m) => m.path === p.name)?.state === 'up') ? paths : undefined;
  }, patience(20_000));
  t.ok(rows.length >= 3, `got ${rows.length} paths up; want home1's 3 (office ×2, cloud)`);
  const st = await edge<EdgeStatus>('edge.status');
  for (const peer of ['198.18.1.2', '198.18.2.2', '198.18.3.2']) t.ok(st.peers.v4.includes(peer), `got peers ${st.peers.v4.join(', ')}; want ${peer} (a remote site's WAN)`);
});

t.test('TCP scan of each WAN from the internet: only the port forward is open', async (t) => {
  for (const wan of [homeWan, homeWanLte]) {
    const s = await nmap('inet', ['-sS', '-p-', '--min-rate', '5000', wan]);
    t.same(open(s), [forwardPort], `${wan}: got open TCP ${open(s).join(',') || 'none'}; want only the forward ${forwardPort}`);
    t.equal(s.ports.filter((p) => p.state === 'closed').length, 0, `${wan}: no TCP port answers closed (no RST from the box)`);
    t.equal(s.ignored, 'filtered', `${wan}: got ignored state ${s.ignored}; want filtered (dropped, no answer)`);
  }
});

t.test('UDP scan of each WAN: nothing answers, Tern\'s ports included', async (t) => {
  // open|filtered: no answer at all, which is what a dropped port and a
  // WireGuard port (silent to unauthenticated packets) both give; closed
  // would be an ICMP port unreachable from the box, open a UDP answer.
  const tern = '51819-51883,862';
  for (const args of [['-sU', '-p', tern, homeWan], ['-sU', '--top-ports', '100', homeWan], ['-sU', '-p', tern, homeWanLte], ['-sU', '--top-ports', '100', homeWanLte]]) {
    const s = await nmap('inet', args);
    const answered = s.ports.filter((p) => p.state === 'closed' || p.state === 'open');
    t.same(answered, [], `${args.join(' ')}: got ports answering ${JSON.stringify(answered)}; want none`);
  }
});

t.test('IPv6 is filtered the same way', async (t) => {
  const s = await nmap('ispa', ['-6', '-sS', '-p', `1-3000,${forwardPort},51819-51883`, homeWan6]);
  t.same(open(s), [], `got open TCP over IPv6 ${open(s).join(',') || 'none'}; want none (the box's listener on ${boxPort} hidden)`);
  const u = await nmap('ispa', ['-6', '-sU', '-p', '862,51819-51830', homeWan6]);
  t.same(u.ports.filter((p) => p.state === 'closed' || p.state === 'open'), [], 'no UDP port answers over IPv6');
  // Neighbour discovery passes the firewall: ispa resolved home1's address.
  const neigh = await lab.mustExec('ispa', ['ip', '-6', 'neigh', 'show', homeWan6]);
  t.match(neigh, /lladdr/, `got neighbour entry ${JSON.stringify(neigh.trim())}; want a resolved one (ND passes the firewall)`);
});

t.test('a route planted on the ISP to the LAN reaches nothing', async (t) => {
  await lab.mustExec('ispa', ['ip', 'route', 'replace', '10.2.0.0/24', 'via', homeWan]);
  t.teardown(() => lab.exec('ispa', ['ip', 'route', 'del', '10.2.0.0/24']).then(() => undefined));
  const before = await packets('edge_drop_fwd_wan');
  const ping = await lab.exec('ispa', ['fping', '-c', '3', '-t', '300', homeHost]);
  t.not(ping.code, 0, `ispa → ${homeHost}: fping exit ${ping.code}; want unanswered`);
  const tcp = await lab.exec('ispa', ['curl', '-sS', '--max-time', '2', `http://${homeHost}/`]);
  t.not(tcp.code, 0, `ispa → http://${homeHost}/: curl exit ${tcp.code}; want no connection`);
  const after = await packets('edge_drop_fwd_wan');
  t.ok(after - before >= 4, `edge_drop_fwd_wan rose by ${after - before}; want at least 4 (3 pings, 1 SYN)`);
});

t.test('packets from the WAN with a LAN or overlay source are dropped and counted', async (t) => {
  // 10.2.0.99: in home1's LAN; overlaySpoof: in the overlay network, not any site's address.
  for (const src of ['10.2.0.99', overlaySpoof]) {
    await lab.mustExec('ispa', ['ip', 'addr', 'add', `${src}/32`, 'dev', 'lo']);
    t.teardown(() => lab.exec('ispa', ['ip', 'addr', 'del', `${src}/32`, 'dev', 'lo']).then(() => undefined));
    const before = await packets('edge_spoof_ispa');
    const r = await lab.exec('ispa', ['fping', '-S', src, '-c', '5', '-t', '300', homeWan]);
    t.not(r.code, 0, `pings from ${src} to ${homeWan}: fping exit ${r.code}; want unanswered`);
    const after = await packets('edge_spoof_ispa');
    t.equal(after - before, 5, `source ${src}: edge_spoof_ispa rose by ${after - before}; want 5`);
  }
});

t.test('the port forward reaches the LAN host', async (t) => {
  const before = await packets('edge_forward_web');
  const r = await lab.exec('inet', ['curl', '-sS', '--max-time', '5', `http://${homeWan}:${forwardPort}/`]);
  t.equal(r.code, 0, `inet → ${homeWan}:${forwardPort}: curl exit ${r.code} ${r.stderr.trim()}; want the LAN host's answer`);
  const answer = JSON.parse(r.stdout) as { server: string; client: string };
  t.equal(answer.server, 'homehost', `got server ${answer.server}; want homehost`);
  t.equal(answer.client, web.address, `got client ${answer.client}; want the internet server's own ${web.address} (DNAT only)`);
  t.equal((await packets('edge_forward_web')) - before, 1, 'edge_forward_web counts the one new connection');
});

t.test('LAN hosts reach the internet NATed to the WAN address', async (t) => {
  const got = await httpEcho(lab, 'homehost', web.address);
  t.equal(got.client, homeWan, `the server saw ${got.client}; want home1's WAN ${homeWan}`);
  const nat = await edge<{ wans: NatWan[] }>('edge.nat');
  t.ok((nat.wans.find((w) => w.wan === 'ispa')?.addresses ?? []).includes(homeWan), `edge.nat: got ${JSON.stringify(nat.wans)}; want ispa with ${homeWan}`);
});

t.test('kill -9 of edged during a NATed download: the download goes on, the WAN stays closed, the restart adopts', async (t) => {
  const st0 = await edge<EdgeStatus>('edge.status');
  const out = path.join(lab.runDir, 'edge-iperf.json');
  const dl = lab.spawn('homehost', 'download', ['sh', '-c', `exec iperf3 -c ${web.address} -p ${iperfPort} -R -t 8 -i 1 -J > ${out}`]);
  await waitFor('the download is NATed', async () => ((await edge<{ wans: NatWan[] }>('edge.nat')).wans.find((w) => w.wan === 'ispa')?.sessions ?? 0) > 0, patience(2000));
  const spoofBefore = await packets('edge_spoof_ispa');
  await lab.kill(home, 'edged', 'SIGKILL');
  // With edged dead: the scan still finds only the forward.
  const dead = await nmap('inet', ['-sS', '-p', `1-1024,${boxPort},${forwardPort}`, homeWan]);
  t.same(open(dead), [forwardPort], `edged dead: got open ${open(dead).join(',') || 'none'}; want only ${forwardPort}`);
  lab.spawn(home, 'edged', [process.execPath, path.join(repoRoot, 'dist', 'daemons', 'edged', 'main.js')], { env: lab.applianceEnv(home) });
  // During the restart: scanned again while the new edged comes up.
  const during = await nmap('inet', ['-sS', '-p', `1-1024,${boxPort},${forwardPort}`, homeWan]);
  t.same(open(during), [forwardPort], `edged restarting: got open ${open(during).join(',') || 'none'}; want only ${forwardPort}`);
  const st1 = await waitFor('edged answers again', async () => edge<EdgeStatus>('edge.status').catch(() => undefined), patience(5000));
  t.equal(st1.outcome, 'adopted', `restart: got outcome ${st1.outcome}; want adopted`);
  t.equal(st1.fingerprint, st0.fingerprint, 'the fingerprint is unchanged');
  t.equal(st1.loads, 0, 'the restarted edged loaded nothing');
  const spoofAfter = await packets('edge_spoof_ispa');
  t.ok(spoofBefore > 0, `edge_spoof_ispa was ${spoofBefore} before the kill; want the earlier test's drops`);
  t.equal(spoofAfter, spoofBefore, `edge_spoof_ispa: got ${spoofAfter} after the restart; want ${spoofBefore} (not reset)`);
  const exit = await dl.exited;
  t.equal(exit.code, 0, `iperf3 exit ${exit.code}`);
  const report = JSON.parse(fs.readFileSync(out, 'utf8')) as { error?: string; intervals: Array<{ sum: { bytes: number } }> };
  t.notOk(report.error, `iperf3 error: ${report.error}`);
  const empty = report.intervals.filter((i) => i.sum.bytes === 0).length;
  t.equal(empty, 0, `got ${empty} one-second intervals without data of ${report.intervals.length}; want none`);
});

// The other daemons a NATed flow meets: steerd (its first packet was
// steered; later packets keep their mark in the kernel), tunneld (the WAN
// tables), probed (WAN health). Each is killed during a download and
// started again; the download goes on, and the WAN stays closed throughout.
for (const daemon of ['steerd', 'tunneld', 'probed']) {
  t.test(`kill -9 of ${daemon} during a NATed download: the download goes on, the WAN stays closed`, async (t) => {
    const out = path.join(lab.runDir, `edge-iperf-${daemon}.json`);
    const dl = lab.spawn('homehost', `download-${daemon}`, ['sh', '-c', `exec iperf3 -c ${web.address} -p ${iperfPort} -R -t 8 -i 1 -J > ${out}`]);
    await waitFor('the download is NATed', async () => ((await edge<{ wans: NatWan[] }>('edge.nat')).wans.find((w) => w.wan === 'ispa')?.sessions ?? 0) > 0, patience(2000));
    const ready = path.join(lab.applianceEnv(home).TERN_RUN_DIR!, `${daemon}.ready`);
    await lab.kill(home, daemon, 'SIGKILL');
    const dead = await nmap('inet', ['-sS', '-p', `1-1024,${boxPort},${forwardPort}`, homeWan]);
    t.same(open(dead), [forwardPort], `${daemon} dead: got open ${open(dead).join(',') || 'none'}; want only ${forwardPort}`);
    fs.rmSync(ready, { force: true });
    lab.spawn(home, daemon, [process.execPath, path.join(repoRoot, 'dist', 'daemons', daemon, 'main.js')], { env: lab.applianceEnv(home) });
    const during = await nmap('inet', ['-sS', '-p', `1-1024,${boxPort},${forwardPort}`, homeWan]);
    t.same(open(during), [forwardPort], `${daemon} restarting: got open ${open(during).join(',') || 'none'}; want only ${forwardPort}`);
    await waitFor(`${daemon} ready again`, () => fs.existsSync(ready) || undefined, patience(10_000));
    const exit = await dl.exited;
    t.equal(exit.code, 0, `iperf3 exit ${exit.code}`);
    const report = JSON.parse(fs.readFileSync(out, 'utf8')) as { error?: string; intervals: Array<{ sum: { bytes: number } }> };
    t.notOk(report.error, `iperf3 error: ${report.error}`);
    const empty = report.intervals.filter((i) => i.sum.bytes === 0).length;
    t.equal(empty, 0, `got ${empty} one-second intervals without data of ${report.intervals.length}; want none`);
  });
}

t.test('a reload with a new forward replaces the rules in one transaction, counters kept', async (t) => {
  const st0 = await edge<EdgeStatus>('edge.status');
  const fwdBefore = await packets('edge_forward_web');
  const file = lab.applianceEnv(home).TERN_CONFIG!;
  const cfg = parse(fs.readFileSync(file, 'utf8')) as { firewall: { portForwards: unknown[] } };
  cfg.firewall.portForwards.push({ name: 'web2', port: 8081, to: homeHost, toPort: 80 });
  fs.writeFileSync(file, stringify(cfg, { lineWidth: 0 }));
  await busCall(sock(home, 'edged'), 'daemon.reload');
  const st1 = await edge<EdgeStatus>('edge.status');
  t.not(st1.fingerprint, st0.fingerprint, 'a new fingerprint');
  t.equal(st1.outcome, 'loaded');
  t.equal(await packets('edge_forward_web'), fwdBefore, 'the web forward\'s counter survived the reload');
  const r = await lab.exec('inet', ['curl', '-sS', '--max-time', '5', `http://${homeWan}:8081/`]);
  t.equal(r.code, 0, `the new forward answers: curl exit ${r.code} ${r.stderr.trim()}`);
  t.equal(await packets('edge_forward_web2'), 1, 'edge_forward_web2 counts its one connection');
});
