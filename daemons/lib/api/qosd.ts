// qosd's bus API: shaping per WAN (egress, ingress), autorate, the
// kernel's capabilities, and the rate changes.
import { Type } from '@sinclair/typebox';
import { defineContract } from './contract.js';
import { Figure, Open, Opt, Params, Reply } from './schema.js';

const Unknowns = Open();

export const QosWan = Reply({
  wan: Type.String(),
  interface: Type.String(),
  ifb: Type.Union([Type.String(), Type.Null()]),
  mode: Type.String({ description: 'cake or htb' }),
  leaf: Type.Union([Type.String(), Type.Null()]),
  overheadBytes: Type.Number(),
  state: Type.Union([Type.Literal('shaped'), Type.Literal('error'), Type.Literal('waiting')]),
  error: Type.Union([Type.String(), Type.Null()]),
  egress: Unknowns,
  ingress: Type.Union([Unknowns, Type.Null()]),
  autorate: Type.Union([Unknowns, Type.Null()]),
  lastApply: Type.Union([Unknowns, Type.Null()]),
}, { title: 'QosWan' });

export const QosCapabilities = Reply({ capabilities: Unknowns, choice: Unknowns }, { title: 'QosCapabilities' });

export const qosdApi = defineContract({
  daemon: 'qosd',
  summary: 'Shaping per WAN with DSCP classes, and autorate from probed\'s latency.',
  methods: {
    'qos.status': {
      summary: 'every WAN\'s shaping with the kernel\'s counters, autorate, the DSCP map, the probed feed',
      result: Reply({
        enabled: Type.Boolean(),
        capabilities: Unknowns,
        choice: Unknowns,
        wans: Type.Array(QosWan),
        unshaped: Type.Array(Type.String()),
        dscp: Unknowns,
        notes: Type.Array(Type.Unknown()),
        problems: Type.Array(Type.Unknown()),
        probed: Reply({ connected: Type.Boolean(), rejected: Type.Integer() }),
      }),
    },
    'qos.capabilities': {
      summary: 'what the kernel offers for shaping and what qosd chose; refresh: detect again (and reshape if the choice changed)',
      params: Type.Union([Params({ refresh: Opt(Type.Boolean()) }), Type.Undefined()]),
      result: QosCapabilities,
    },
  },
  topics: {
    'qos.applied': { when: 'shaping on a WAN changed in the kernel', payload: Reply({ wan: Type.String(), why: Type.String() }) },
    'qos.rate': {
      when: 'autorate changed a WAN\'s rate in one direction',
      payload: Reply({
        wan: Type.String(),
        direction: Type.Union([Type.Literal('up'), Type.Literal('down')]),
        fromMbps: Type.Number(),
        toMbps: Type.Number(),
        reason: Type.String(),
        step: Type.Integer(),
        rttMs: Figure('the RTT autorate read (wan.metrics)'),
        baselineMs: Figure(),
        deltaMs: Figure(),
        achievedMbps: Figure(),
        ts: Type.Number(),
      }),
    },
  },
});
