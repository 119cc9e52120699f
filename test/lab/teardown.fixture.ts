// A process that builds a lab and then dies without calling down(), the way
// a crashed test does: teardown.test.ts runs it and checks what is left.
// Usage: node teardown.fixture.js <throw|reject|exit|wait> <runDir>
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab } from './lab.js';
import { defaultTopology } from './topology.js';

const [mode, runDir] = process.argv.slice(2);
if (!mode || !runDir || !['throw', 'reject', 'exit', 'wait'].includes(mode)) {
  process.stderr.write('usage: teardown.fixture.js <throw|reject|exit|wait> <runDir>\n');
  process.exit(2);
}

const lab = await Lab.up(defaultTopology(), { runDir });
lab.spawn('cloudsrv', 'sleeper', ['sleep', '600']);
// One relay started here (dies with this process), one started by the CLI
// (a separate process: it must notice on its own that this owner is gone).
await lab.impair('office1:wan0').delay(5);
const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), 'cli.js');
execFileSync(process.execPath, [cli, 'impair', lab.prefix, 'office2:wan0', 'delay', '5'], { stdio: 'ignore' });
process.stdout.write(`${JSON.stringify({ prefix: lab.prefix })}\n`);

switch (mode) {
  case 'throw':
    setTimeout(() => { throw new Error('fixture: deliberate uncaught error'); }, 10);
    break;
  case 'reject':
    setTimeout(() => { void Promise.reject(new Error('fixture: deliberate unhandled rejection')); }, 10);
    break;
  case 'exit':
    process.exit(3);
    break;
  default:
    // Wait for the test's signal (SIGTERM, SIGINT or SIGKILL).
    setInterval(() => undefined, 1 << 30);
}
