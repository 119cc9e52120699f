import t from 'tap';
import { parseConfig } from '../config/index.js';
import { edit } from '../config/testkit.js';
import { pairInterfaces, zoneInterfaces } from './index.js';

const load = (changes: Record<number, string | string[]> = {}) => parseConfig(edit(changes), 'tern.yaml').config;

t.test('zones of the base config: PAIR on the LAN interface', async (t) => {
  const z = zoneInterfaces(load());
  t.same(z, { wan: ['eth0'], lan: ['eth1'], pair: [], overlayPrefix: 'tn', remote: 'tnra1-0' });
});

t.test('PAIR on an interface of its own, and the virtual-MAC macvlan', async (t) => {
  const cases: Array<[string, Record<number, string | string[]>, string[], string[], string[]]> = [
    // name, changes, pairInterfaces, lan zone, pair zone
    ['own interface', { 39: ['  vrid: 10', '  interface: eth2'] }, ['eth2'], ['eth1'], ['eth2']],
    ['virtual MAC', { 39: ['  vrid: 10', '  virtualMac: true'] }, ['tpair10'], ['eth1', 'tpair10'], []],
    ['both', { 39: ['  vrid: 10', '  interface: eth2', '  virtualMac: true'] }, ['eth2', 'tpair10'], ['eth1', 'tpair10'], ['eth2']],
    ['pair disabled', { 39: ['  vrid: 10', '  enabled: false', '  interface: eth2'] }, [], ['eth1'], []],
  ];
  for (const [name, changes, pair, lan, own] of cases) {
    const cfg = load(changes);
    t.same(pairInterfaces(cfg), pair, `${name}: pairInterfaces`);
    const z = zoneInterfaces(cfg);
    t.same([z.lan, z.pair], [lan, own], `${name}: got lan ${z.lan.join(',')} pair ${z.pair.join(',')}; want lan ${lan.join(',')} pair ${own.join(',')}`);
  }
});
