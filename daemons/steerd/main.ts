// tern-steerd: per-flow path selection over the overlay. `--uninstall`
// removes what it put in the kernel (nft chains and sets, the iptables
// chain, the path rules) and exits; the package's removal runs it.
import { errorMessage } from '../lib/errors.js';
import { main } from '../lib/runner/index.js';
import { uninstall } from './daemon.js';
import { spec } from './index.js';

if (process.argv.includes('--uninstall')) {
  try {
    await uninstall();
    process.stdout.write('tern-steerd: removed nft chains and sets, the TERN-STEER chain and the path rules\n');
  } catch (err) {
    process.stderr.write(`tern-steerd: uninstall: ${errorMessage(err)}\n`);
    process.exit(1);
  }
} else {
  await main(spec);
}
