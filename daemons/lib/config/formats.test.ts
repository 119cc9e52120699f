import t from 'tap';
import { stringFormats, type FormatName } from './formats.js';

t.test('string formats accept good values and say why bad ones fail', async (t) => {
  const cases: Array<[FormatName, string, RegExp | undefined]> = [
    ['endpoint', 'vpn.example.net:51820', undefined],
    ['endpoint', '203.0.113.7:51820', undefined],
    ['endpoint', '[2001:db8::7]:51820', undefined],
    ['endpoint', 'vpn.example.net.:1', undefined],
    ['endpoint', 'vpn.example.net', /missing :port/],
    ['endpoint', '2001:db8::7:51820', /\[address\]:port/],
    ['endpoint', '[2001:db8::7]51820', /\[address\]:port/],
    ['endpoint', 'vpn.example.net:0', /outside 1-65535/],
    ['endpoint', 'vpn.example.net:http', /not a number/],
    ['endpoint', '300.1.1.1:51820', /300 is over 255/],
    ['endpoint', 'vpn_1.example.net:51820', /hostname label/],
    ['endpoint', '-vpn.example.net:51820', /hostname label/],
    ['host', 'home.example.net', undefined],
    ['host', '2001:db8::1', undefined],
    ['host', 'a..b', /hostname label/],
    ['listen-address', '127.0.0.1:9273', undefined],
    ['listen-address', '[::1]:9273', undefined],
    ['listen-address', 'localhost:9273', /not an IPv4 or IPv6/],
    ['port-range', '5060-5061', undefined],
    ['port-range', '10-10', undefined],
    ['port-range', '5061-5060', /above high/],
    ['port-range', '0-10', /outside 1-65535/],
    ['port-range', '5060', /low-high/],
    ['ip-address', '10.1.0.1', undefined],
    ['ip-address', '10.1.0.1/32', /not a number/],
    ['ip-prefix', '10.1.0.0/16', undefined],
    ['ip-prefix', '10.1.0.1/16', /host bits/],
    ['ip-interface', '10.1.0.1/16', undefined],
    ['ip-interface', '10.1.0.1', /missing \/length/],
  ];
  for (const [format, text, want] of cases) {
    const got = stringFormats[format].problem(text);
    if (want === undefined) t.equal(got, undefined, `${format} ${text}: got problem ${got}; want none`);
    else t.match(got ?? '(none)', want, `${format} ${text}: got ${got ?? 'no problem'}; want ${want}`);
  }
});
