// The kernel as qosd uses it: the parts of the tc and rtnetlink clients it
// calls, as interfaces, so logic tests can pass an in-memory kernel.
import type { LinkInfo, Rtnl, Tc } from '../lib/kernel/index.js';

/** What qosd needs of Tc (daemons/lib/kernel/tc). */
export type TcOps = Pick<Tc, 'qdiscs' | 'classes' | 'filters' | 'replaceQdisc' | 'changeQdisc' | 'addQdisc' | 'deleteQdisc' | 'setClass' | 'deleteClass' | 'addFilter' | 'deleteFilter'>;

/** What qosd needs of Rtnl: links only (IFBs and the WAN interfaces). */
export interface LinkOps {
  links(): Promise<LinkInfo[]>;
  link(name: string): Promise<LinkInfo | null>;
  addLink(name: string, kind: string): Promise<void>;
  setLinkUp(name: string, up: boolean): Promise<void>;
  deleteLink(name: string): Promise<void>;
}

export type { Rtnl, Tc };
