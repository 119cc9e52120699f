import t from 'tap';
import { TernError } from '../../errors.js';
import { errnoName, kernelError, netlinkErrno } from './errno.js';

t.test('netlinkErrno reads what the netlink package throws', async (t) => {
  const cases: [unknown, string | undefined][] = [
    [new Error('Request rejected: EEXIST'), 'EEXIST'],
    [new Error('Request rejected: ENOTSUP'), 'EOPNOTSUPP'],
    [new Error('Request rejected: -19'), 'ENODEV'],
    [new Error('Timeout has been reached'), 'ETIMEDOUT'],
    [Object.assign(new Error('send failed'), { code: 'ENOBUFS' }), 'ENOBUFS'],
    [new Error('Invalid attribute length (3)'), undefined],
    ['a string', undefined],
    [new TernError('TERN_E_KERNEL_NETLINK', 'x', { details: { errno: 'EPERM' } }), 'EPERM'],
  ];
  for (const [err, want] of cases) {
    t.equal(netlinkErrno(err), want, `netlinkErrno(${String(err)}): got ${netlinkErrno(err)}; want ${want}`);
  }
  t.equal(errnoName(-17), 'EEXIST');
  t.equal(errnoName(95), 'EOPNOTSUPP');
});

t.test('kernelError names the operation, errno and subject', async (t) => {
  const e = kernelError('route replace 10.2.0.0/24 table 1101', new Error('Request rejected: ENODEV'), { subject: 'wg-o1-h1' });
  t.equal(e.code, 'TERN_E_KERNEL_NETLINK');
  t.equal(e.message, 'kernel: route replace 10.2.0.0/24 table 1101: ENODEV: no such interface wg-o1-h1');
  t.same(e.details, { op: 'route replace 10.2.0.0/24 table 1101', errno: 'ENODEV' });
  const m = kernelError('link list', new Error('Unexpected address message received'));
  t.match(m.message, /^kernel: link list: malformed or failed netlink exchange: Unexpected address message received$/);
  const same = new TernError('TERN_E_KERNEL_ARG', 'kernel: x: bad');
  t.equal(kernelError('x', same), same, 'a TernError passes through unchanged');
});
