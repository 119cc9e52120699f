import t from 'tap';
import { TernError, type ErrorCode } from '../errors.js';
import { fromErrorObject, parseMessage, rpcCodeFor, rpcCodes, successResponse, toErrorObject, type Incoming } from './protocol.js';

/** A compact view of parseMessage's answer, for table comparisons. */
function summary(m: Incoming): Record<string, unknown> {
  if (m.kind === 'invalid') return { kind: m.kind, id: m.id, code: m.error.code };
  return { kind: m.kind, ...m.message };
}

t.test('parseMessage classifies and validates', async (t) => {
  const cases: { name: string; text: string; want: Record<string, unknown> }[] = [
    { name: 'request', text: '{"jsonrpc":"2.0","id":1,"method":"a.b","params":{"x":1}}', want: { kind: 'request', jsonrpc: '2.0', id: 1, method: 'a.b', params: { x: 1 } } },
    { name: 'request without params', text: '{"jsonrpc":"2.0","id":"q","method":"a"}', want: { kind: 'request', jsonrpc: '2.0', id: 'q', method: 'a' } },
    { name: 'request with null id', text: '{"jsonrpc":"2.0","id":null,"method":"a"}', want: { kind: 'request', jsonrpc: '2.0', id: null, method: 'a' } },
    { name: 'request with array params', text: '{"jsonrpc":"2.0","id":2.5,"method":"a","params":[1]}', want: { kind: 'request', jsonrpc: '2.0', id: 2.5, method: 'a', params: [1] } },
    { name: 'notification', text: '{"jsonrpc":"2.0","method":"paths.up","params":{"p":1}}', want: { kind: 'notification', jsonrpc: '2.0', method: 'paths.up', params: { p: 1 } } },
    { name: 'success response', text: '{"jsonrpc":"2.0","id":3,"result":null}', want: { kind: 'response', jsonrpc: '2.0', id: 3, result: null } },
    {
      name: 'error response',
      text: '{"jsonrpc":"2.0","id":3,"error":{"code":-32601,"message":"m","data":{"code":"TERN_E_BUS_METHOD_NOT_FOUND"}}}',
      want: { kind: 'response', jsonrpc: '2.0', id: 3, error: { code: -32601, message: 'm', data: { code: 'TERN_E_BUS_METHOD_NOT_FOUND' } } },
    },
    { name: 'not JSON', text: '{"jsonrpc":', want: { kind: 'invalid', id: null, code: 'TERN_E_BUS_PARSE' } },
    { name: 'garbage', text: '\u0000\u0001zz', want: { kind: 'invalid', id: null, code: 'TERN_E_BUS_PARSE' } },
    { name: 'batch', text: '[{"jsonrpc":"2.0","id":1,"method":"a"}]', want: { kind: 'invalid', id: null, code: 'TERN_E_BUS_INVALID_REQUEST' } },
    { name: 'empty batch', text: '[]', want: { kind: 'invalid', id: null, code: 'TERN_E_BUS_INVALID_REQUEST' } },
    { name: 'number', text: '42', want: { kind: 'invalid', id: null, code: 'TERN_E_BUS_INVALID_REQUEST' } },
    { name: 'null', text: 'null', want: { kind: 'invalid', id: null, code: 'TERN_E_BUS_INVALID_REQUEST' } },
    { name: 'wrong version keeps id', text: '{"jsonrpc":"1.0","id":7,"method":"a"}', want: { kind: 'invalid', id: 7, code: 'TERN_E_BUS_INVALID_REQUEST' } },
    { name: 'missing version', text: '{"id":7,"method":"a"}', want: { kind: 'invalid', id: 7, code: 'TERN_E_BUS_INVALID_REQUEST' } },
    { name: 'object id', text: '{"jsonrpc":"2.0","id":{"a":1},"method":"a"}', want: { kind: 'invalid', id: null, code: 'TERN_E_BUS_INVALID_REQUEST' } },
    { name: 'array id', text: '{"jsonrpc":"2.0","id":[1],"method":"a"}', want: { kind: 'invalid', id: null, code: 'TERN_E_BUS_INVALID_REQUEST' } },
    { name: 'boolean id', text: '{"jsonrpc":"2.0","id":true,"method":"a"}', want: { kind: 'invalid', id: null, code: 'TERN_E_BUS_INVALID_REQUEST' } },
    { name: 'infinite id', text: '{"jsonrpc":"2.0","id":1e400,"method":"a"}', want: { kind: 'invalid', id: null, code: 'TERN_E_BUS_INVALID_REQUEST' } },
    { name: 'method not a string', text: '{"jsonrpc":"2.0","id":1,"method":5}', want: { kind: 'invalid', id: 1, code: 'TERN_E_BUS_INVALID_REQUEST' } },
    { name: 'string params', text: '{"jsonrpc":"2.0","id":1,"method":"a","params":"x"}', want: { kind: 'invalid', id: 1, code: 'TERN_E_BUS_INVALID_REQUEST' } },
    { name: 'null params', text: '{"jsonrpc":"2.0","id":1,"method":"a","params":null}', want: { kind: 'invalid', id: 1, code: 'TERN_E_BUS_INVALID_REQUEST' } },
    { name: 'number params on notification', text: '{"jsonrpc":"2.0","method":"a","params":3}', want: { kind: 'invalid', id: null, code: 'TERN_E_BUS_INVALID_REQUEST' } },
    { name: 'no method, no result', text: '{"jsonrpc":"2.0","id":1}', want: { kind: 'invalid', id: 1, code: 'TERN_E_BUS_INVALID_REQUEST' } },
    { name: 'response without id', text: '{"jsonrpc":"2.0","result":1}', want: { kind: 'invalid', id: null, code: 'TERN_E_BUS_INVALID_REQUEST' } },
    { name: 'response with result and error', text: '{"jsonrpc":"2.0","id":1,"result":1,"error":{"code":1,"message":"m"}}', want: { kind: 'invalid', id: 1, code: 'TERN_E_BUS_INVALID_REQUEST' } },
    { name: 'response with bad error', text: '{"jsonrpc":"2.0","id":1,"error":{"code":"x","message":"m"}}', want: { kind: 'invalid', id: 1, code: 'TERN_E_BUS_INVALID_REQUEST' } },
  ];
  for (const c of cases) {
    const got = summary(parseMessage(c.text));
    t.same(got, c.want, `${c.name}: got ${JSON.stringify(got)}; want ${JSON.stringify(c.want)}`);
  }
});

t.test('Tern codes map to JSON-RPC codes', async (t) => {
  const cases: [ErrorCode, number][] = [
    ['TERN_E_BUS_PARSE', -32700],
    ['TERN_E_BUS_INVALID_REQUEST', -32600],
    ['TERN_E_BUS_METHOD_NOT_FOUND', -32601],
    ['TERN_E_BUS_INVALID_PARAMS', -32602],
    ['TERN_E_BUS_INTERNAL', -32603],
    ['TERN_E_BUS_TOO_LARGE', rpcCodes.tooLarge],
    ['TERN_E_CONFIG_KEY', rpcCodes.ternError],
  ];
  for (const [code, want] of cases) {
    const got = rpcCodeFor(code);
    t.equal(got, want, `${code}: got ${got}; want ${want}`);
  }
  t.ok(rpcCodes.tooLarge <= -32000 && rpcCodes.tooLarge >= -32099, 'want the too-large code in the implementation-defined range');
});

t.test('a TernError keeps its code, message and details', async (t) => {
  const err = new TernError('TERN_E_CONFIG_KEY', 'config: wans[0].gateway: got "x"; want an IP address', { details: { path: 'wans[0].gateway' } });
  const { error, expected } = toErrorObject(err, 'config.check');
  t.equal(expected, true, 'want a TernError to count as expected');
  t.same(error, { code: -32000, message: err.message, data: { code: 'TERN_E_CONFIG_KEY', details: { path: 'wans[0].gateway' } } }, `got ${JSON.stringify(error)}`);
  const back = fromErrorObject(error, 'config.check');
  t.equal(back.code, 'TERN_E_CONFIG_KEY', `round trip: got ${back.code}; want TERN_E_CONFIG_KEY`);
  t.equal(back.message, err.message, `round trip: got message ${back.message}`);
  t.same(back.details, err.details, `round trip: got details ${JSON.stringify(back.details)}`);
});

t.test('an unexpected error leaks nothing', async (t) => {
  const err = new Error('secret internals at /var/lib/tern/keys/x');
  const { error, expected } = toErrorObject(err, 'paths.list');
  t.equal(expected, false, 'want a plain Error to count as unexpected');
  t.equal(error.code, -32603, `got code ${error.code}; want -32603`);
  const wire = JSON.stringify(error);
  t.notMatch(wire, /secret|keys|at /, `got ${wire}; want neither the message nor the stack`);
  t.same(error.data, { code: 'TERN_E_BUS_INTERNAL' }, `got data ${JSON.stringify(error.data)}`);
});

t.test('remote errors without a Tern code map by JSON-RPC code', async (t) => {
  const cases: [number, unknown, ErrorCode][] = [
    [-32700, undefined, 'TERN_E_BUS_PARSE'],
    [-32601, undefined, 'TERN_E_BUS_METHOD_NOT_FOUND'],
    [-32602, { code: 'NOT_A_TERN_CODE' }, 'TERN_E_BUS_INVALID_PARAMS'],
    [-32001, undefined, 'TERN_E_BUS_TOO_LARGE'],
    [-1, undefined, 'TERN_E_BUS_INTERNAL'],
  ];
  for (const [code, data, want] of cases) {
    const got = fromErrorObject({ code, message: 'm', ...(data === undefined ? {} : { data }) }, 'a.b');
    t.equal(got.code, want, `rpc code ${code}: got ${got.code}; want ${want}`);
    t.match(got.message, /^bus client: a\.b: remote error/, `rpc code ${code}: got message ${got.message}`);
  }
});

t.test('a handler returning nothing still sends a result', async (t) => {
  const got = successResponse(1, undefined);
  t.ok(Object.hasOwn(got, 'result') && got.result === null, `got ${JSON.stringify(got)}; want result null`);
});
