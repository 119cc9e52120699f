// Topic names and subscription patterns: `paths.up` names one topic,
// `paths.*` every topic starting with `paths.`, and `*` every topic.

/** Longest topic or pattern accepted, in characters. */
export const maxTopicLength = 200;

const topicRe = /^[A-Za-z0-9_][A-Za-z0-9_.:-]*$/;

/**
 * Why name is not a valid topic to publish on, or undefined when it is.
 * Topics are dotted names (`paths.up`); `rpc.` is reserved by JSON-RPC.
 */
export function topicProblem(name: unknown): string | undefined {
  if (typeof name !== 'string') return `got ${typeof name}; want a string`;
  if (name.length === 0 || name.length > maxTopicLength) {
    return `got ${name.length} characters; want 1 to ${maxTopicLength}`;
  }
  if (!topicRe.test(name)) return `got ${JSON.stringify(name)}; want letters, digits and _ . : - only`;
  if (name.startsWith('rpc.')) return `got ${JSON.stringify(name)}; names starting with rpc. are reserved`;
  return undefined;
}

/**
 * Why pattern is not a valid subscription pattern, or undefined when it is:
 * a topic name, optionally ending in `*`, or `*` alone.
 */
export function patternProblem(pattern: unknown): string | undefined {
  if (pattern === '*') return undefined;
  if (typeof pattern !== 'string') return `got ${typeof pattern}; want a string`;
  const star = pattern.indexOf('*');
  if (star !== -1 && star !== pattern.length - 1) {
    return `got ${JSON.stringify(pattern)}; want * only at the end`;
  }
  if (star === -1) return topicProblem(pattern);
  const prefix = pattern.slice(0, -1);
  if (prefix.length > maxTopicLength - 1) return `got ${pattern.length} characters; want at most ${maxTopicLength}`;
  if (!/^[A-Za-z0-9_.:-]*$/.test(prefix)) {
    return `got ${JSON.stringify(pattern)}; want letters, digits and _ . : - before the *`;
  }
  return undefined;
}

/** True when topic is covered by pattern (exact name or trailing-* prefix). */
export function topicMatches(pattern: string, topic: string): boolean {
  if (pattern.endsWith('*')) return topic.startsWith(pattern.slice(0, -1));
  return pattern === topic;
}

/** True when any of patterns covers topic. */
export function anyMatches(patterns: Iterable<string>, topic: string): boolean {
  for (const p of patterns) if (topicMatches(p, topic)) return true;
  return false;
}
