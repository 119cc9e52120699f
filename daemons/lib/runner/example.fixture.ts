// Test fixture for runner.test.ts: the smallest daemon, run by the real
// runner. It serves one method and counts reloads.
import { main } from './index.js';

let reloads = 0;
await main({
  name: 'example',
  async start(ctx) {
    ctx.bus.method('example.echo', (params) => params);
    if (process.env.TERN_EXAMPLE_FAIL_START) throw new Error('refusing to start, as asked');
    return {
      async reload(config) {
        if (config.identity.description === 'refuse') throw new Error('this daemon refuses description=refuse');
        reloads++;
      },
      status: () => ({ reloads }),
    };
  },
});
