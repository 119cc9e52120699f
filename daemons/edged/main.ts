// tern-edged: zone firewall, NAT per WAN, port forwards. `--uninstall`
// removes edged's chains, sets and counters from nftables `inet tern` and
// exits; the package's removal runs it. Stopping or killing tern-edged
// removes nothing: the WANs stay closed.
import { errorMessage } from '../lib/errors.js';
import { main } from '../lib/runner/index.js';
import { uninstall } from './daemon.js';
import { spec } from './index.js';

if (process.argv.includes('--uninstall')) {
  try {
    await uninstall();
    process.stdout.write('tern-edged: removed the edge_ chains, sets and counters from inet tern\n');
  } catch (err) {
    process.stderr.write(`tern-edged: uninstall: ${errorMessage(err)}\n`);
    process.exit(1);
  }
} else {
  await main(spec);
}
