import t from 'tap';
import { parseLeases } from './leases.js';

t.test('lease file lines, good and hostile', async (t) => {
  const text = [
    '1765200000 52:54:00:aa:00:01 10.10.0.101 laptop 01:52:54:00:aa:00:01',
    '0 52:54:00:AA:00:02 10.10.0.50 printer *',
    '1765200000 52:54:00:aa:00:03 10.10.0.102 * *',
    '1765200000 52:54:00:aa:00:04 10.10.0.103 evil\u001b[31mname *',
    '1765200000 52:54:00:aa:00:05 10.10.0.104 $(reboot) *',
    '1765200000 52:54:00:aa:00:06 10.10.0.105 a b *',
    '1765200000 06-52:54:00:aa:00:07 10.10.0.106 tokenring *',
    '1765200000 52:54:00:aa:00:08 10.10.0.300 bad-ip *',
    '-5 52:54:00:aa:00:09 10.10.0.107 neg *',
    '1765200000 52:54:00:aa:00:0a 2001:db8::1 v6 *',
    '1765200000 52:54:00:aa:00:0b 10.10.0.108 ok zz:zz',
    `1765200000 52:54:00:aa:00:0c 10.10.0.109 ${'x'.repeat(64)} *`,
    `1765200000 52:54:00:aa:00:0d 10.10.0.110 h ${'ab:'.repeat(400)}ab`,
    'duid 00:01:00:01:2c:00:00:00:52:54:00:aa:00:01',
    '1765200000 1234 2001:db8::5 v6host 00:01',
    '',
  ].join('\n');
  const got = parseLeases(text);
  t.same(got.leases, [
    { mac: '52:54:00:aa:00:01', address: '10.10.0.101', hostname: 'laptop', clientId: '01:52:54:00:aa:00:01', expiresAt: 1765200000 },
    { mac: '52:54:00:aa:00:02', address: '10.10.0.50', hostname: 'printer', expiresAt: null },
    { mac: '52:54:00:aa:00:03', address: '10.10.0.102', expiresAt: 1765200000 },
  ]);
  t.same(got.rejected.map((r) => `${r.line}: ${r.reason}`), [
    '4: hostname is not one DNS label',
    '5: hostname is not one DNS label',
    '6: 6 fields; want 5',
    '7: not an Ethernet MAC address',
    '8: not an IPv4 address',
    '9: expiry is not a whole number of seconds',
    '10: not an IPv4 address',
    '11: client id is not hex bytes',
    '12: hostname is not one DNS label',
    '13: longer than 1024 characters',
  ]);
});

t.test('empty and binary input', async (t) => {
  t.same(parseLeases(''), { leases: [], rejected: [] });
  const bin = parseLeases('\u0000\u0001\u0002 \n\uffff');
  t.equal(bin.leases.length, 0);
  t.equal(bin.rejected.length, 2);
});
