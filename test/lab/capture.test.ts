// Unit tests of the capture reading: tcpdump's lines parsed, and each
// datagram put on its path by the appliance's end (address and listen
// port), whichever of the appliance's addresses it used (no root needed).
import t from 'tap';
import { classify, parseTcpdump, pathsOnWrongWan, pathsStillOnWrongWan, type PathPort, type UdpPacket } from './capture.js';

t.test('parseTcpdump: IPv4 UDP lines, other lines skipped', async (t) => {
  const text = [
    'reading from file x.pcap, link-type EN10MB (Ethernet), snapshot length 262144',
    '1765100000.123456 IP 198.18.1.2.51852 > 198.18.1.6.51836: UDP, length 148',
    '1765100000.223456 IP 198.18.1.6.51836 > 198.18.1.2.51852: UDP, length 92',
    '1765100000.323456 IP6 fe80::1.547 > ff02::1:2.547: UDP, length 40',
    '1765100000.423456 ARP, Request who-has 198.18.1.1 tell 198.18.1.2, length 28',
  ].join('\n');
  t.same(parseTcpdump(text), [
    { ts: 1765100000.123456, src: '198.18.1.2', sport: 51852, dst: '198.18.1.6', dport: 51836 },
    { ts: 1765100000.223456, src: '198.18.1.6', sport: 51836, dst: '198.18.1.2', dport: 51852 },
  ]);
});

t.test('classify: a path is known by its port on the appliance\'s end, whichever WAN address that end used', async (t) => {
  const paths: PathPort[] = [
    { name: 'ispa/home/ispa', localWan: 'ispa', listenPort: 51852 },
    { name: 'ispc/home/ispa', localWan: 'ispc', listenPort: 51860 },
  ];
  const local = new Set(['198.18.1.2', '198.18.3.2']);
  const pk = (ts: number, src: string, sport: number, dst: string, dport: number): UdpPacket => ({ ts, src, sport, dst, dport });
  const byWan = new Map<string, UdpPacket[]>([
    ['ispa', [
      pk(1, '198.18.1.2', 51852, '198.18.1.6', 51836), // own path, out
      pk(2, '198.18.1.2', 51860, '198.18.1.6', 51838), // ispc's path leaving by ispa: from ispa's address
      pk(3, '198.18.1.6', 51838, '198.18.1.2', 51860), // and the answer arriving there
      pk(4, '198.18.1.6', 51836, '198.18.1.2', 53), // a port of no path
      pk(5, '198.18.9.9', 51852, '198.18.9.8', 51860), // no end on the appliance
    ]],
    ['ispc', [
      pk(6, '198.18.3.2', 51860, '198.18.1.6', 51838),
      pk(7, '198.18.1.6', 51838, '198.18.3.2', 51860),
    ]],
  ]);
  const rows = classify(byWan, paths, local);
  t.same(rows.map((r) => `${r.path} ${r.wan} ${r.own} ${r.packets} ${r.first}-${r.last}`), [
    'ispa/home/ispa ispa true 1 1-1',
    'ispc/home/ispa ispa false 2 2-3',
    'ispc/home/ispa ispc true 2 6-7',
  ]);
  t.same(pathsOnWrongWan(rows), ['ispc/home/ispa']);
  t.same(pathsStillOnWrongWan(rows), [], 'its last packet was on its own WAN');
  t.same(pathsOnWrongWan(classify(byWan, paths, local, 4)), [], 'since 4: nothing on a wrong WAN');
  const stuck = classify(new Map([['ispa', byWan.get('ispa')!]]), paths, local);
  t.same(pathsStillOnWrongWan(stuck), ['ispc/home/ispa'], 'only ever on ispa: still there');
});
