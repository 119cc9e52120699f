import t from 'tap';
import { TernError } from '../../errors.js';
import { keyDigest, publicKeyOf } from './keys.js';
import { GET_REQUEST, MAX_LINE, parseGetReply, parseSetReply, serializeSet } from './uapi.js';

const hex = (c: string): string => c.repeat(64);
const b64 = (h: string): string => Buffer.from(h, 'hex').toString('base64');
// RFC 7748 6.1 Alice: private and public key.
const privHex = '77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a';
const pubHex = '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a';

t.test('GET request bytes', async (t) => {
  t.equal(Buffer.from(GET_REQUEST).toString('hex'), Buffer.from('get=1\n\n').toString('hex'));
});

t.test('serializeSet writes exactly the protocol lines', async (t) => {
  const text = serializeSet({
    privateKey: b64(privHex),
    listenPort: 51820,
    fwmark: 0,
    peers: [
      { publicKey: b64(hex('a')), remove: true },
      {
        publicKey: b64(hex('b')), presharedKey: b64(hex('c')), endpoint: '[2001:DB8::1]:51820',
        persistentKeepalive: 25, allowedIps: ['10.2.0.77/24', '2001:db8:2::/64'],
      },
      { publicKey: b64(hex('d')), presharedKey: null, allowedIps: [] },
      { publicKey: b64(hex('e')), endpoint: '192.0.2.1:1' },
    ],
  });
  const want = [
    'set=1',
    `private_key=${privHex}`,
    'listen_port=51820',
    'fwmark=0',
    `public_key=${hex('a')}`,
    'remove=true',
    `public_key=${hex('b')}`,
    `preshared_key=${hex('c')}`,
    'endpoint=[2001:db8::1]:51820',
    'persistent_keepalive_interval=25',
    'replace_allowed_ips=true',
    'allowed_ip=10.2.0.0/24',
    'allowed_ip=2001:db8:2::/64',
    `public_key=${hex('d')}`,
    `preshared_key=${hex('0')}`,
    'replace_allowed_ips=true',
    `public_key=${hex('e')}`,
    'endpoint=192.0.2.1:1',
    '',
    '',
  ].join('\n');
  t.equal(text, want);
  t.equal(serializeSet({ peers: [] }), 'set=1\n\n', 'an empty change is a bare set');
});

t.test('serializeSet refuses values that could break the framing', async (t) => {
  const bad: [string, Parameters<typeof serializeSet>[0]][] = [
    ['newline in a key', { privateKey: 'abc\nlisten_port=1', peers: [] }],
    ['port above 65535', { listenPort: 70000, peers: [] }],
    ['negative fwmark', { fwmark: -1, peers: [] }],
    ['endpoint with newline', { peers: [{ publicKey: b64(hex('a')), endpoint: '1.2.3.4:5\nremove=true' }] }],
    ['allowed ip garbage', { peers: [{ publicKey: b64(hex('a')), allowedIps: ['10.0.0.0/24\n'] }] }],
    ['keepalive above 65535', { peers: [{ publicKey: b64(hex('a')), persistentKeepalive: 65536 }] }],
  ];
  for (const [name, c] of bad) t.throws(() => serializeSet(c), { code: 'TERN_E_KERNEL_ARG' }, `${name}: got no TERN_E_KERNEL_ARG; want one`);
});

const reply = (...lines: string[]): string => `${lines.join('\n')}\n\n`;

t.test('parseGetReply reads a wireguard-go reply', async (t) => {
  const text = reply(
    `private_key=${privHex}`,
    'listen_port=51820',
    'fwmark=4096',
    `public_key=${hex('b')}`,
    `preshared_key=${hex('c')}`,
    'protocol_version=1',
    'endpoint=[2001:db8::1]:51820',
    'last_handshake_time_sec=1700000000',
    'last_handshake_time_nsec=123456789',
    'tx_bytes=9007199254740991',
    'rx_bytes=77',
    'persistent_keepalive_interval=25',
    'allowed_ip=10.2.0.0/24',
    'allowed_ip=2001:db8:2::/64',
    `public_key=${hex('d')}`,
    `preshared_key=${hex('0')}`,
    'protocol_version=1',
    'last_handshake_time_sec=0',
    'last_handshake_time_nsec=0',
    'tx_bytes=0',
    'rx_bytes=0',
    'persistent_keepalive_interval=0',
    'a_future_key=whatever',
    'errno=0',
  );
  const d = parseGetReply('tn0', text);
  t.same(d, {
    ifname: 'tn0',
    hasPrivateKey: true,
    publicKey: b64(pubHex),
    listenPort: 51820,
    fwmark: 4096,
    peers: [
      {
        publicKey: b64(hex('b')), endpoint: '[2001:db8::1]:51820', allowedIps: ['10.2.0.0/24', '2001:db8:2::/64'],
        persistentKeepalive: 25, lastHandshakeMs: 1700000000123, rxBytes: 77, txBytes: 9007199254740991,
        hasPresharedKey: true, presharedKeyDigest: keyDigest(Buffer.from(hex('c'), 'hex')),
      },
      {
        publicKey: b64(hex('d')), endpoint: null, allowedIps: [], persistentKeepalive: 0, lastHandshakeMs: null,
        rxBytes: 0, txBytes: 0, hasPresharedKey: false, presharedKeyDigest: null,
      },
    ],
  });
  t.notMatch(JSON.stringify(d), privHex, 'no private key in the snapshot');
  t.notMatch(JSON.stringify(d), b64(privHex), 'no private key (base64) in the snapshot');
  t.notMatch(JSON.stringify(d), hex('c'), 'no preshared key in the snapshot');
  t.equal(d.publicKey, publicKeyOf(b64(privHex)));
});

t.test('parseGetReply of a fresh device', async (t) => {
  t.same(parseGetReply('tn0', 'listen_port=39898\nerrno=0\n\n'), {
    ifname: 'tn0', hasPrivateKey: false, publicKey: null, listenPort: 39898, fwmark: 0, peers: [],
  });
  t.equal(parseGetReply('tn0', `private_key=${hex('0')}\nerrno=0\n\n`).hasPrivateKey, false, 'an all-zero key is no key');
});

t.test('malformed replies are TernErrors, never crashes', async (t) => {
  const cases: [string, string, RegExp][] = [
    ['empty', '', /not ending in a blank line/],
    ['no blank line', 'errno=0\n', /not ending in a blank line/],
    ['missing errno', reply('listen_port=1'), /without errno=N/],
    ['errno not last', reply('errno=0', 'listen_port=1'), /without errno=N/],
    ['errno twice', reply('errno=0', 'errno=0'), /errno before the end/],
    ['errno garbage', reply('errno=abc'), /errno: got "abc"/],
    ['garbage line', reply('this is not a pair', 'errno=0'), /line 1: got "this is not a pair"; want key=value/],
    ['empty key', reply('=1', 'errno=0'), /line 1/],
    ['blank line inside', 'listen_port=1\n\nerrno=0\n\n', /line 2: got ""; want key=value/],
    ['binary', reply('listen_port=1\u0000', 'errno=0'), /line 1/],
    ['huge port', reply('listen_port=99999999999999999999', 'errno=0'), /listen_port: got 99999999999999999999; want at most 65535/],
    ['negative port', reply('listen_port=-1', 'errno=0'), /want a decimal number/],
    ['huge counter', reply(`public_key=${hex('b')}`, 'rx_bytes=18446744073709551615', 'errno=0'), /rx_bytes: got 18446744073709551615; want at most/],
    ['huge nsec', reply(`public_key=${hex('b')}`, 'last_handshake_time_nsec=1000000000', 'errno=0'), /want at most 999999999/],
    ['short key', reply('private_key=abcd', 'errno=0'), /64 hex digits/],
    ['peer field before peer', reply('allowed_ip=10.0.0.0/8', 'errno=0'), /before any public_key/],
    ['private key in a peer', reply(`public_key=${hex('b')}`, `private_key=${hex('a')}`, 'errno=0'), /inside a peer/],
    ['bad endpoint', reply(`public_key=${hex('b')}`, 'endpoint=nowhere', 'errno=0'), /endpoint: got "nowhere"/],
    ['bad allowed ip', reply(`public_key=${hex('b')}`, 'allowed_ip=10.0.0.0/99', 'errno=0'), /allowed_ip: got/],
    ['line too long', reply(`listen_port=${'1'.repeat(MAX_LINE)}`, 'errno=0'), /bytes; want at most 1024/],
    ['device error', reply('errno=-22'), /EINVAL: the device refused/],
    ['device error positive', reply('errno=98'), /EADDRINUSE/],
  ];
  for (const [name, text, msg] of cases) {
    let err: unknown;
    try {
      parseGetReply('tn0', text);
    } catch (e) {
      err = e;
    }
    t.ok(err instanceof TernError && err.code === 'TERN_E_KERNEL_WG_UAPI', `${name}: got ${String(err)}; want TERN_E_KERNEL_WG_UAPI`);
    t.match((err as Error | undefined)?.message ?? '', msg, `${name}: message`);
  }
  t.throws(() => parseSetReply('tn0', reply('errno=-98')), { code: 'TERN_E_KERNEL_WG_UAPI', details: { errno: 'EADDRINUSE' } });
  t.doesNotThrow(() => parseSetReply('tn0', 'errno=0\n\n'));
});
