/** Gradient rules by op type (default domain); an op claimed by two rules is refused at load. */
import { WnError } from '../errors';
import type { GradientRule } from './rule';
import { GRADIENT_RULES } from './grads';

/** The rules by op type; throws when two rules claim one op (a registry must not pick silently). */
export function ruleTable(rules: readonly GradientRule[]): ReadonlyMap<string, GradientRule> {
  const byOp = new Map<string, GradientRule>();
  for (const rule of rules) {
    for (const op of rule.ops) {
      if (byOp.has(op)) throw new WnError(`internal: op ${op} has two gradient rules (ops [${byOp.get(op)!.ops}] and [${rule.ops}])`);
      byOp.set(op, rule);
    }
  }
  return byOp;
}

const byOp = ruleTable(GRADIENT_RULES);

export function gradientRule(opType: string): GradientRule | undefined {
  return byOp.get(opType);
}

/** Op types that have a gradient rule, sorted (for messages and docs). */
export function differentiableOps(): string[] {
  return [...byOp.keys()].sort();
}
