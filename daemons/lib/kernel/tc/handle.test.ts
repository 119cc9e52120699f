import t from 'tap';
import { formatHandle, formatU32Handle, parseHandle, tcHandle, TC_H_INGRESS, TC_H_ROOT, u32Node } from './handle.js';

t.test('handles print and parse as tc writes them', async (t) => {
  const cases: Array<[number, string]> = [
    [tcHandle(0x7471), '7471:'],
    [tcHandle(0x7471, 0x11), '7471:11'],
    [tcHandle(0xffff), 'ffff:'],
    [TC_H_ROOT, 'root'],
    [TC_H_INGRESS, 'ingress'],
  ];
  for (const [h, s] of cases) {
    t.equal(formatHandle(h), s, `format 0x${h.toString(16)}: got ${formatHandle(h)}; want ${s}`);
    t.equal(parseHandle(s), h, `parse ${s}`);
  }
  t.equal(tcHandle(0x7471, 0x11), 0x74710011);
  for (const bad of ['7471', 'x:1', '10000:', '1:10000', '']) {
    t.throws(() => parseHandle(bad), { code: 'TERN_E_KERNEL_ARG' }, `parse ${JSON.stringify(bad)} fails`);
  }
  t.throws(() => tcHandle(0x10000), { code: 'TERN_E_KERNEL_ARG' });
});

t.test('u32 handles: ask by node, read back htid:hash:node', async (t) => {
  t.equal(u32Node(1), 1, 'the hash table is left for the kernel to fill in');
  t.equal(formatU32Handle(0x80000001), '800::1');
  t.equal(formatU32Handle(0x80100001), '801::1');
  t.equal(formatU32Handle(0x80000000), '800::');
  t.throws(() => u32Node(0), { code: 'TERN_E_KERNEL_ARG' });
  t.throws(() => u32Node(0x1000), { code: 'TERN_E_KERNEL_ARG' });
});
