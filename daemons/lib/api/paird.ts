// paird's bus API: the PAIR election's state, the peer's WANs as paths,
// and the role and priority changes.
import { Type } from '@sinclair/typebox';
import { defineContract } from './contract.js';
import { Reply } from './schema.js';

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

export const PairStatus = Reply({
  enabled: Type.Boolean(),
  box: Type.String(),
  role: Type.String({ description: 'initialize, backup, master, fault; standalone when PAIR is off' }),
}, { title: 'PairStatus', description: 'with PAIR on also vrid, priority, basePriority, why, tracking, health, lastTransition, instance, peer, sync, peerWan, hooks' });

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
