// tern-qosd: QoS on every WAN, adaptive to the link.
import { main } from '../lib/runner/index.js';
import { spec } from './index.js';

await main(spec);
