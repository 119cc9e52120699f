// An edged stand-in that starts LAN services and then waits to be killed
// (kill -9, the way a crashed daemon goes): lansvc.test.ts checks that
// dnsmasq keeps serving and the next LanServices adopts it.
// Usage: node lansvc.fixture.js <box namespace> <tern.yaml> <runDir> <stateDir>
import fs from 'node:fs';
import { parseConfig } from '../daemons/lib/config/index.js';
import { silentLogger } from '../daemons/lib/log/index.js';
import { LanServices, realProcessIo, runCommand } from '../daemons/edged/lan/index.js';

const [box, configFile, runDir, stateDir] = process.argv.slice(2);
if (!box || !configFile || !runDir || !stateDir) {
  process.stderr.write('usage: lansvc.fixture.js <box namespace> <tern.yaml> <runDir> <stateDir>\n');
  process.exit(2);
}
const lan = new LanServices({
  runDir, stateDir, log: silentLogger(),
  proc: { ...realProcessIo, spawn: (argv) => realProcessIo.spawn(['ip', 'netns', 'exec', box, ...argv]) },
  nft: (argv, input) => runCommand(['ip', 'netns', 'exec', box, ...argv], input),
});
await lan.start(parseConfig(fs.readFileSync(configFile, 'utf8'), configFile).config);
process.stdout.write(`${JSON.stringify(lan.status())}\n`);
setInterval(() => undefined, 60_000);
