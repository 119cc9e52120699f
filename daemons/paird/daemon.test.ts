import t from 'tap';
import type { PairConfig } from '../lib/config/schema.js';
import { chooseLocalAddress } from './daemon.js';
import { pairSettings } from './settings.js';

const pair = (vips: string[]): PairConfig => ({
  enabled: true, vrid: 1, vips, priority: 100, advertIntervalMs: 100, preempt: true, preemptDelayMs: 0,
  unicastPeers: [], peerWans: [], checksum: 'rfc9568', garp: { count: 3, spacingMs: 100 }, virtualMac: false, track: [], holdDownMs: 2000,
});

t.test('the advert source address', async (t) => {
  const v4 = pairSettings(pair(['10.1.0.1/24']));
  const v6 = pairSettings(pair(['2001:db8::1/64']));
  const cases = [
    { name: 'the LAN address when on the interface', s: v4, lan: '10.1.0.2/24', on: ['10.1.0.1/24', '10.1.0.2/24'], want: '10.1.0.2' },
    { name: 'never a VIP', s: v4, lan: '10.9.9.9/24', on: ['10.1.0.1/24', '10.1.0.3/24'], want: '10.1.0.3' },
    { name: 'nothing but the VIP', s: v4, lan: '10.1.0.2/24', on: ['10.1.0.1/24'], want: undefined },
    { name: 'IPv6: the link-local address', s: v6, lan: '2001:db8::2/64', on: ['2001:db8::2/64', 'fe80::c4b6:9fff:fe15:d272/64', 'fe80::200:5eff:fe00:201/64'], want: 'fe80::c4b6:9fff:fe15:d272' },
    { name: 'IPv6 without link-local', s: v6, lan: '2001:db8::2/64', on: ['2001:db8::2/64'], want: undefined },
  ];
  for (const c of cases) {
    const got = chooseLocalAddress(c.s, c.lan, c.on);
    t.equal(got, c.want, `${c.name}: got ${got}; want ${c.want}`);
  }
});
