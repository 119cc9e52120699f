// qosd's bus API: shaping per WAN (egress, ingress), autorate, the
// kernel's capabilities, and the rate changes.
import { Type } from '@sinclair/typebox';
import { defineContract } from './contract.js';
import { Count, Figure, Open, Opt, Params, Reply } from './schema.js';

const Unknowns = Open();

const kernelCounters = {
  bytes: Opt(Count()), packets: Opt(Count()), drops: Opt(Count()), backlog: Opt(Count('bytes queued now')),
};

export const QosDirection = Reply({
  dev: Type.String({ description: 'the device shaped: the WAN, or its IFB for ingress' }),
  rateMbps: Type.Number({ description: 'the rate shaped now (autorate\'s when it runs)' }),
  configuredMbps: Type.Number(),
  kernelRateMbps: Type.Union([Type.Number(), Type.Null()], { description: 'what the kernel reports; null when Tern\'s root qdisc is not found' }),
  ...kernelCounters,
  classes: Type.Array(Reply({
    name: Type.String(),
    dscp: Type.Array(Type.Integer()),
    classid: Opt(Type.String({ description: 'HTB: the class' })),
    tin: Opt(Type.Integer({ description: 'cake: the tin' })),
    prio: Opt(Type.Integer()),
    rateMbps: Opt(Type.Number()),
    ceilMbps: Opt(Type.Number()),
    leaf: Opt(Type.String()),
    ...kernelCounters,
  })),
}, { title: 'QosDirection', description: 'one direction of a WAN\'s shaping, with the kernel\'s counters' });

const AutorateDirection = Reply({
  rateMbps: Type.Number(), minMbps: Type.Number(), maxMbps: Type.Number(),
  steps: Count('rate changes so far'),
  last: Type.Union([Open('the last decision: direction, rates, reason, RTT figures'), Type.Null()]),
});

export const QosWan = Reply({
  wan: Type.String(),
  interface: Type.String(),
  ifb: Type.Union([Type.String(), Type.Null()]),
  mode: Type.String({ description: 'cake or htb' }),
  leaf: Type.Union([Type.String(), Type.Null()]),
  overheadBytes: Type.Number(),
  state: Type.Union([Type.Literal('shaped'), Type.Literal('error'), Type.Literal('waiting')]),
  error: Type.Union([Type.String(), Type.Null()]),
  egress: QosDirection,
  ingress: Type.Union([QosDirection, Type.Null()]),
  autorate: Type.Union([Reply({
    intervalMs: Type.Number(),
    latencyTargetMs: Type.Number(),
    reading: Type.Union([Open('the latency autorate read: rttMs, baselineMs, deltaMs, samples'), Type.Null()]),
    sampleAgeMs: Type.Union([Type.Number(), Type.Null()]),
    up: AutorateDirection,
    down: AutorateDirection,
  }), Type.Null()]),
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
