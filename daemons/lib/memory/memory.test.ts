import t from 'tap';
import { fullCollection, reclaimMemory } from './index.js';

t.test('a full collection is available without --expose-gc', async (t) => {
  t.equal(typeof fullCollection(), 'function', `got ${typeof fullCollection()}; want a function`);
});

t.test('memory freed after a burst of 64 KiB buffers goes back to the kernel', async (t) => {
  const mib = 1024 * 1024;
  // The size of Node's socket read buffers: below glibc's mmap threshold,
  // so they come from the C heap, which keeps freed pages without a trim.
  let burst: Buffer[] | undefined = Array.from({ length: 2048 }, () => Buffer.alloc(64 * 1024, 1));
  const held = process.memoryUsage.rss();
  t.ok(burst.length === 2048, 'the burst is held');
  burst = undefined;
  const r = await reclaimMemory();
  t.equal(r.collected, true, 'want a full collection');
  t.equal(r.trimmed, true, 'want the C heap to give pages back');
  t.ok(r.rssAfter < held - 64 * mib, `got RSS ${(r.rssAfter / mib).toFixed(1)} MiB after, ${(held / mib).toFixed(1)} MiB while holding 128 MiB; want at least 64 MiB given back`);
});

t.test('reports what it did when nothing could be trimmed', async (t) => {
  const r = await reclaimMemory({ trim: () => false, rss: () => 2 });
  t.same(r, { rssBefore: 2, rssAfter: 2, collected: true, trimmed: false }, `got ${JSON.stringify(r)}; want collected, not trimmed`);
});
