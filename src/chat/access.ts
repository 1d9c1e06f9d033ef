/** Who may use the bot where: set by the operator. Empty lists allow everyone. */
export interface AccessPolicy {
  /** channel ids where commands are taken (threads count as their parent channel) */
  allowedChannels: string[];
  /** role ids (Discord) of which a person needs one */
  allowedRoles: string[];
  /** user ids who may stop anyone's run */
  operators: string[];
  /** role ids (Discord) whose members are operators */
  operatorRoles: string[];
}

/** A person acting somewhere, as the platform adapter describes them. */
export interface Actor {
  userId: string;
  userName?: string;
  /** the channel, or the channel a thread belongs to */
  channelId: string;
  /** role ids, on platforms that have roles */
  roles?: string[];
}

export type AccessRefusal = { kind: 'channel' } | { kind: 'role'; roles: string[] };

/** Why `actor` may not start runs here, or undefined when they may. */
export function accessRefusal(policy: AccessPolicy, actor: Actor): AccessRefusal | undefined {
  if (policy.allowedChannels.length > 0 && !policy.allowedChannels.includes(actor.channelId))
    return { kind: 'channel' };
  if (policy.allowedRoles.length === 0 || isOperator(policy, actor)) return undefined;
  const roles = actor.roles ?? [];
  if (policy.allowedRoles.some((r) => roles.includes(r))) return undefined;
  return { kind: 'role', roles: policy.allowedRoles };
}

/** True for the operator's user ids and members of the operator roles. */
export function isOperator(policy: AccessPolicy, actor: Actor): boolean {
  if (policy.operators.includes(actor.userId)) return true;
  return policy.operatorRoles.some((r) => (actor.roles ?? []).includes(r));
}

/** A policy that lets everyone in everywhere and names no operator. */
export const OPEN_ACCESS: AccessPolicy = {
  allowedChannels: [],
  allowedRoles: [],
  operators: [],
  operatorRoles: [],
};
