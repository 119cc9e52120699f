// The test side of agent.ts: starts it inside a namespace and turns calls
// into promises; kernel errors come back as TernErrors with their codes.
import { fileURLToPath } from 'node:url';
import { NetnsAgent } from './netns-agent.js';

const agentPath = fileURLToPath(new URL('./agent.js', import.meta.url));

/** A NetnsAgent running agent.ts, whose targets are rtnl, wg and agent. */
export class Agent {
  private constructor(private readonly agent: NetnsAgent) {}

  /** Starts the agent in namespace ns; env adds variables (TERN_TEST_WG_PREFIX). */
  static start(ns: string, env: Record<string, string> = {}): Agent {
    return new Agent(NetnsAgent.start(ns, agentPath, env));
  }

  /** The agent's pid (ip netns exec replaces itself with node, so it is the spawned pid). */
  get pid(): number {
    return this.agent.pid;
  }

  call<T = unknown>(target: 'rtnl' | 'wg' | 'agent', method: string, ...args: unknown[]): Promise<T> {
    return this.agent.call<T>(target, method, ...args);
  }

  /** SIGKILL, as a crash would; resolves once it is gone. */
  kill(): Promise<void> {
    return this.agent.kill();
  }

  /** Closes stdin so the agent exits by itself. */
  stop(): Promise<void> {
    return this.agent.stop();
  }
}
