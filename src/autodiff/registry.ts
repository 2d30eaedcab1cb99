/** Gradient rules by op type (default domain). */
import type { GradientRule } from './rule';
import { GRADIENT_RULES } from './grads';

const byOp = new Map<string, GradientRule>();
for (const rule of GRADIENT_RULES) for (const op of rule.ops) byOp.set(op, rule);

export function gradientRule(opType: string): GradientRule | undefined {
  return byOp.get(opType);
}

/** Op types that have a gradient rule, sorted (for messages and docs). */
export function differentiableOps(): string[] {
  return [...byOp.keys()].sort();
}
