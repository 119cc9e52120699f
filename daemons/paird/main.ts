// tern-paird: the VRRPv3 election of the gateway VIPs between the two boxes of a PAIR.
import { main } from '../lib/runner/index.js';
import { spec } from './index.js';

await main(spec);
