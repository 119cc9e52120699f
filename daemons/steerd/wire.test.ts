// The record layouts: flows round-trip through a record, addresses through
// their 16 bytes, and wire.ts refuses exactly the records Rust refuses, with
// the same words.
import t from 'tap';
import { formatAddress } from '../lib/ip/index.js';
import { loadNative } from '../lib/native/index.js';
import { FLOW_RECORD_SIZE, addressBytes, decodeFlow, encodeFlow, flowRecordProblem, formatAddressBytes, makeFlow, readTuple } from './wire.js';
import { Rng, randomFlows } from './workload.fixture.js';

t.test('addresses round-trip through their record bytes', async (t) => {
  const cases = ['0.0.0.0', '10.10.0.1', '255.255.255.255', '::', '::1', '2001:db8::1', 'fe80::1:2:3:4', '2001:db8:0:1:1:1:1:1'];
  for (const text of cases) {
    const { family, bytes } = addressBytes(text);
    const got = formatAddressBytes(family, bytes);
    t.equal(got, text, `${text}: got ${got} (family ${family})`);
  }
  // Against the config's formatter, which works on integers.
  const rng = new Rng(3);
  for (let i = 0; i < 2000; i++) {
    const bytes = new Uint8Array(16);
    // Mostly zero groups, so that runs of zeros of every length occur.
    for (let g = 0; g < 8; g++) if (rng.chance(0.4)) { bytes[2 * g] = rng.int(256); bytes[2 * g + 1] = rng.int(256); }
    let value = 0n;
    for (const b of bytes) value = (value << 8n) | BigInt(b);
    const want = formatAddress({ family: 6, value });
    const got = formatAddressBytes(6, bytes);
    if (got !== want) {
      t.fail(`formatAddressBytes(${Buffer.from(bytes).toString('hex')}): got ${got}; want ${want}`);
      break;
    }
  }
  t.throws(() => addressBytes('10.0.0.256'), /steerd: address: "10.0.0.256": 256 is over 255/, 'bad address refused');
  t.throws(() => makeFlow({ src: '10.0.0.1', dst: '::1', protocol: 6 }), /is IPv4 but ::1 is IPv6/, 'mixed families refused');
});

t.test('flows round-trip through records', async (t) => {
  for (const flow of randomFlows(new Rng(5), 500)) {
    const record = encodeFlow(flow);
    const problem = flowRecordProblem(record);
    t.equal(problem, undefined, `record of a generated flow: got problem ${problem}`);
    const back = decodeFlow(record);
    t.same({ ...back, src: [...back.src], dst: [...back.dst] }, { ...flow, src: [...flow.src], dst: [...flow.dst] }, 'decoded flow equals the original');
  }
  const f = makeFlow({ src: '2001:db8::1', dst: '2001:db8::2', protocol: 17, srcPort: 5060, dstPort: 5061, dscp: 46, bytes: 1400 });
  t.same(readTuple(encodeFlow(f)), { family: 6, protocol: 17, src: '2001:db8::1', dst: '2001:db8::2', srcPort: 5060, dstPort: 5061 }, 'readTuple');
});

t.test('corrupt records: wire.ts and Rust refuse the same ones alike', async (t) => {
  const native = loadNative();
  const s = native.selectorCreate(JSON.stringify({ classes: [], default: { sla: {}, mode: 'best', preferWans: [], hysteresisPct: 20, holdMs: 0 }, flows: { max: 10, idleTimeoutMs: 60000 } }));
  const rng = new Rng(11);
  const flows = randomFlows(rng, 200);
  let refused = 0;
  for (let i = 0; i < 20_000; i++) {
    const record = Buffer.from(encodeFlow(rng.pick(flows)));
    for (let n = rng.range(1, 3); n > 0; n--) record[rng.int(FLOW_RECORD_SIZE)] = rng.pick([0, 1, 2, 4, 6, 63, 64, 255, rng.int(256)]);
    const ts = flowRecordProblem(record);
    let rs: string | undefined;
    try {
      native.selectorDecide(s, record, 0);
    } catch (err) {
      rs = (err as Error).message.replace(/^native: selectorDecide: flow: /, '');
    }
    if (ts !== rs) {
      t.fail(`record ${record.toString('hex')}: wire.ts ${JSON.stringify(ts)}; Rust ${JSON.stringify(rs)}; want the same`);
      return;
    }
    if (ts) refused++;
  }
  t.ok(refused > 5000, `refused ${refused} of 20000 corrupted records; want > 5000`);
});
