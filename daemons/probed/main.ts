// tern-probed: WAN and overlay-path health probing.
import { main } from '../lib/runner/index.js';
import { spec } from './index.js';

await main(spec);
