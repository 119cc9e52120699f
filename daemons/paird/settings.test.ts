import t from 'tap';
import type { PairConfig } from '../lib/config/schema.js';
import { pairSettings, virtualLinkLocal } from './settings.js';
import { encode } from './packet.js';

const pair = (over: Partial<PairConfig> = {}): PairConfig => ({
  enabled: true, vrid: 51, vips: ['192.168.10.1/24'], priority: 150, advertIntervalMs: 100, preempt: true, preemptDelayMs: 0,
  unicastPeers: [], peerWans: [], checksum: 'rfc9568', garp: { count: 3, spacingMs: 100 }, virtualMac: false,
  track: [{ wan: 'isp-a', weight: 60 }, { path: 'isp-a/home/isp-b', weight: 30 }], holdDownMs: 2000, ...over,
});

t.test('IPv4 settings', async (t) => {
  const s = pairSettings(pair());
  t.same(s.vips, ['192.168.10.1/24']);
  t.same(s.advertAddresses, ['192.168.10.1']);
  t.equal(s.family, 4);
  t.same(s.machine, { priority: 150, advertIntervalMs: 100, preempt: true, preemptDelayMs: 0, garp: { count: 3, spacingMs: 100 } });
  t.same(s.tracker, { basePriority: 150, items: [{ name: 'isp-a', weight: 60 }, { name: 'isp-a/home/isp-b', weight: 30 }], holdDownMs: 2000 });
});

t.test('IPv6: a link-local virtual address comes first, derived when none is configured', async (t) => {
  const cases = [
    { name: 'derived', vips: ['2001:db8::1/64'], want: ['fe80::200:5eff:fe00:233/64', '2001:db8::1/64'] },
    { name: 'configured, moved first', vips: ['2001:db8::1/64', 'fe80::1/64'], want: ['fe80::1/64', '2001:db8::1/64'] },
    { name: 'configured first', vips: ['FE80::1/64', '2001:DB8::1/64'], want: ['fe80::1/64', '2001:db8::1/64'] },
  ];
  for (const c of cases) {
    const s = pairSettings(pair({ vips: c.vips }));
    t.same(s.vips, c.want, `${c.name}: got ${s.vips}; want ${c.want}`);
    // The result is what encode accepts for IPv6 (link-local first).
    t.ok(encode({ vrid: 51, priority: 100, intervalMs: 100, addresses: s.advertAddresses }, { src: 'fe80::2', dst: 'ff02::12', mode: s.checksum }).length > 0);
  }
  t.equal(virtualLinkLocal(1), 'fe80::200:5eff:fe00:201');
  t.equal(virtualLinkLocal(255), 'fe80::200:5eff:fe00:2ff');
  t.throws(() => pairSettings(pair({ vips: ['192.168.10.1/24', '2001:db8::1/64'] })), { code: 'TERN_E_PAIRD_ARG' });
});
