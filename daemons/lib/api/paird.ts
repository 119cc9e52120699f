// paird's bus API: the PAIR election's state, the peer's WANs as paths,
// and the role and priority changes.
import { Type } from '@sinclair/typebox';
import { defineContract } from './contract.js';
import { Count, Open, Opt, Reply } from './schema.js';

export const PeerWan = Reply({
  usable: Type.Boolean({ description: 'the routes through the peer are in place' }),
  why: Type.String(),
  role: Type.String({ description: 'this box\'s role' }),
  interface: Type.String(),
  rulePriority: Type.Integer(),
  peer: Type.Union([Type.Null(), Reply({
    box: Type.String(), address: Type.String(), role: Type.String(), priority: Type.Integer(), alive: Type.Boolean(), heardAt: Type.Number(),
  })]),
  wans: Type.Array(Reply({ up: Type.Boolean(), via: Type.Union([Type.String(), Type.Null()]) })),
}, { title: 'PeerWan', description: 'the PAIR peer\'s WANs as this box uses them' });

const Role = Type.String({ description: 'initialize, backup, master or fault' });

const Lit = <T extends string>(...xs: T[]) => Type.Union(xs.map((x) => Type.Literal(x)));

const Transition = Reply({
  at: Type.Number({ description: 'wall-clock ms' }), from: Type.String(), to: Type.String(), reason: Type.String(), detail: Type.String(),
}, { title: 'PairTransition' });

/** The peer as last heard: what it says of itself, and where its messages come from. */
const PeerHeard = Reply({
  site: Type.String(),
  box: Type.String(),
  role: Type.String(),
  priority: Type.Integer(),
  lanAddress: Type.String({ description: 'its LAN address, as it says' }),
  wans: Type.Array(Reply({ name: Type.String(), up: Type.Boolean() })),
  intervalMs: Type.Number(),
  vrid: Type.Integer(),
  from: Type.String({ description: 'source address of its last accepted message' }),
  via: Type.String({ description: 'next hop of the routes through it' }),
  boot: Type.String({ description: 'its boot id' }),
  counter: Type.Integer({ description: 'the counter of its last accepted message' }),
  heardAt: Type.Number({ description: 'wall-clock ms of its last accepted message' }),
  alive: Type.Boolean(),
}, { title: 'PairPeer' });

const refusalCounts = Reply({
  malformed: Count(), version: Count(), vrid: Count(), badAuth: Count(), wrongSource: Count(), replay: Count(),
}, { description: 'datagrams refused, by reason' });

const PairSyncStatus = Type.Union([
  Reply({ running: Type.Literal(false), problem: Type.Union([Type.String(), Type.Null()]) }, { description: 'no pair sync: why' }),
  Reply({
    keyId: Type.String({ description: 'which site key authenticates it (a fingerprint, never the key)' }),
    boot: Type.String({ description: 'this run\'s boot id' }),
    counter: Count('messages sent this run'),
    session: Type.Union([Reply({ boot: Type.String(), counter: Type.Integer() }), Type.Null()], { description: 'the peer run we answer' }),
    destinations: Type.Array(Type.String()),
    sent: Count(), sendErrors: Count(), received: Count(), accepted: Count(), unconfirmed: Count(), sessions: Count(), staleSilence: Count(),
    refused: refusalCounts,
    lastRefused: Type.Union([Reply({ reason: Type.String(), from: Type.String(), detail: Type.String(), at: Type.Number() }), Type.Null()]),
  }),
], { title: 'PairSyncStatus' });

export const PairStatus = Type.Union([
  Reply({
    enabled: Type.Literal(false),
    box: Type.String(),
    role: Type.Literal('standalone'),
  }, { description: 'PAIR is off' }),
  Reply({
    enabled: Type.Literal(true),
    box: Type.String(),
    vrid: Type.Integer(),
    role: Lit('initialize', 'backup', 'master', 'fault'),
    priority: Type.Integer({ description: 'the effective priority: basePriority less what tracking takes' }),
    basePriority: Type.Integer(),
    why: Type.Array(Type.String(), { description: 'why the priority is below basePriority, one line per tracked item' }),
    tracking: Type.Array(Reply({
      name: Type.String(), weight: Type.Integer(), state: Lit('up', 'down', 'holding'), holdRemainingMs: Opt(Type.Number()),
    })),
    health: Type.Array(Reply({
      name: Type.String(), kind: Lit('wan', 'path'), up: Type.Boolean(), source: Lit('carrier', 'probed', 'tunneld', 'none'), detail: Type.String(),
    })),
    lastTransition: Type.Union([Transition, Type.Null()]),
    instance: Type.Union([Open('the VRRP instance: state machine counters, VIPs, socket (paird README)'), Type.Null()]),
    peer: Type.Union([PeerHeard, Type.Null()]),
    sync: PairSyncStatus,
    peerWan: PeerWan,
    hooks: Reply({ dir: Type.String(), found: Type.Array(Type.String()), runs: Count(), failures: Count() }),
  }, { description: 'PAIR is on' }),
], { title: 'PairStatus' });

export const pairdApi = defineContract({
  daemon: 'paird',
  summary: 'PAIR: VRRP-style election of the gateway VIPs between two boxes, and the peer\'s WANs.',
  methods: {
    'pair.status': { summary: 'role, priority and why, the peer as last heard, sync and hooks', result: PairStatus },
    'pair.peerWan': { summary: 'the peer\'s WANs as this box uses them; null when PAIR is off', result: Type.Union([PeerWan, Type.Null()]) },
  },
  topics: {
    'pair.role': {
      when: 'at once, on every role change',
      payload: Reply({
        box: Type.String(), vrid: Type.Integer(), at: Type.Number(), from: Role, to: Role,
        reason: Type.String(), detail: Type.String(), priority: Type.Integer(),
      }),
    },
    'pair.priority': {
      when: 'the effective priority changed (tracked WANs and paths)',
      payload: Reply({ box: Type.String(), vrid: Type.Integer(), priority: Type.Integer(), why: Type.Array(Type.String()) }),
    },
    'pair.peerWan': { when: 'the peer\'s WANs as paths changed', payload: Type.Intersect([Reply({ box: Type.String(), vrid: Type.Integer() }), PeerWan]) },
  },
});
