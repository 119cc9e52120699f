import t from 'tap';
import { HealthInputs } from './health.js';

t.test('WANs: carrier and probed; paths: probed, else tunneld', async (t) => {
  const changes: string[] = [];
  const h = new HealthInputs({
    items: [{ name: 'ispa', kind: 'wan', interface: 'wan0' }, { name: 'ispa/home/ispa', kind: 'path' }],
    onChange: (name, up, why) => changes.push(`${name} ${up ? 'up' : 'down'} (${why})`),
  });
  const state = (): string => h.all().map((i) => `${i.name}=${i.up ? 'up' : 'down'}/${i.source}`).join(' ');
  t.equal(state(), 'ispa=up/none ispa/home/ispa=up/none', 'no report yet counts as up');
  const steps: Array<{ name: string; do: () => void; want: string }> = [
    { name: 'carrier up', do: () => h.setCarrier('wan0', true), want: 'ispa=up/carrier ispa/home/ispa=up/none' },
    { name: 'tunnel connecting', do: () => h.setTunnel('ispa/home/ispa', 'connecting'), want: 'ispa=up/carrier ispa/home/ispa=down/tunneld' },
    { name: 'tunnel up', do: () => h.setTunnel('ispa/home/ispa', 'up'), want: 'ispa=up/carrier ispa/home/ispa=up/tunneld' },
    { name: 'probed: path down overrides tunneld', do: () => h.setProbed('ispa/home/ispa', 'down'), want: 'ispa=up/carrier ispa/home/ispa=down/probed' },
    { name: 'probed: WAN degraded is still up', do: () => h.setProbed('ispa', 'degraded'), want: 'ispa=up/probed ispa/home/ispa=down/probed' },
    { name: 'probed: WAN down', do: () => h.setProbed('ispa', 'down'), want: 'ispa=down/probed ispa/home/ispa=down/probed' },
    { name: 'probed: WAN up, carrier lost: carrier wins', do: () => { h.setProbed('ispa', 'up'); h.setCarrier('wan0', false); }, want: 'ispa=down/carrier ispa/home/ispa=down/probed' },
    { name: 'interface gone', do: () => h.setCarrier('wan0', null), want: 'ispa=down/carrier ispa/home/ispa=down/probed' },
    { name: 'carrier back', do: () => h.setCarrier('wan0', true), want: 'ispa=up/probed ispa/home/ispa=down/probed' },
    { name: 'probed gone: tunneld decides again', do: () => h.clearProbed(), want: 'ispa=up/carrier ispa/home/ispa=up/tunneld' },
    { name: 'probed unknown does not decide', do: () => h.setProbed('ispa/home/ispa', 'unknown'), want: 'ispa=up/carrier ispa/home/ispa=up/tunneld' },
  ];
  for (const s of steps) {
    s.do();
    t.equal(state(), s.want, `${s.name}: got ${state()}; want ${s.want}`);
  }
  t.same(changes, [
    'ispa/home/ispa down (tunneld: connecting)',
    'ispa/home/ispa up (tunneld: up)',
    'ispa/home/ispa down (probed: down)',
    'ispa down (probed: down)',
    'ispa up (probed: up)',
    'ispa down (no carrier on wan0)',
    'ispa up (probed: up)',
    'ispa/home/ispa up (tunneld: up)',
  ], 'one change per flip, with the deciding source');
  t.equal(h.get('nope'), undefined);
});
