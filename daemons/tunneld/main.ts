// tern-tunneld: the WireGuard overlay daemon.
import { main } from '../lib/runner/index.js';
import { spec } from './index.js';

await main(spec);
