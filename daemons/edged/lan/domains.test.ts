import t from 'tap';
import { parseSetElements } from './domains.js';

t.test('nft -j list set output', async (t) => {
  const out = JSON.stringify({ nftables: [
    { metainfo: { version: '1.0.6' } },
    { set: { family: 'inet', name: 'dom4_x', table: 'tern', type: 'ipv4_addr', flags: ['timeout'], timeout: 600, elem: [
      { elem: { val: '198.18.100.21', expires: 590 } },
      '198.18.100.22',
      { elem: { val: '2001:db8::1', expires: 5 } },
      { elem: { val: 'not-an-address', expires: 5 } },
      { elem: { val: '198.18.100.23', expires: -1 } },
      { elem: { val: { prefix: { addr: '10.0.0.0', len: 8 } } } },
    ] } },
  ] });
  t.same(parseSetElements(out, 4), [
    { address: '198.18.100.21', expiresSec: 590 },
    { address: '198.18.100.22' },
    { address: '198.18.100.23' },
  ]);
  t.same(parseSetElements(JSON.stringify({ nftables: [{ set: { name: 's' } }] }), 4), [], 'an empty set');
  t.equal(parseSetElements('Error: No such file', 4), 'nft printed no JSON');
  t.equal(parseSetElements('{"nftables": 3}', 4), 'nft JSON without an nftables array');
  t.equal(parseSetElements('{"nftables": []}', 4), 'nft JSON without a set');
});
