/**
 * The gradient registry is checked: an op claimed twice is refused, every rule file is named
 * after the ops it differentiates (so `ls src/autodiff/grads` lists every op), every registered
 * op is exercised by a finite-difference test (test/grad-*.test.ts names it), and the README
 * lists exactly the registered ops.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { differentiableOps, ruleTable } from '../src/autodiff/registry';
import { GRADIENT_RULES } from '../src/autodiff/grads';
import type { GradientRule } from '../src/autodiff/rule';
import { root } from './helpers/cli';

const GRADS = path.join(root, 'src', 'autodiff', 'grads');

describe('gradient registry', () => {
  it('refuses an op claimed by two rules', () => {
    const [first] = GRADIENT_RULES;
    assert.throws(() => ruleTable([first, { ...first }]), new RegExp(`op ${first.ops[0]} has two gradient rules`));
    assert.equal(ruleTable(GRADIENT_RULES).size, differentiableOps().length);
  });

  it('names every rule file after its ops: one file per rule, each rule in its file', () => {
    const files = fs.readdirSync(GRADS).filter((f) => f.endsWith('_grad.ts')).sort();
    const expected = GRADIENT_RULES.map((rule) => `${rule.ops.join('_')}_grad.ts`).sort();
    assert.deepEqual(files, expected);
    for (const file of files) {
      // the compiled module beside this test's build: its exported rule must be the listed one
      const compiled = path.join(__dirname, '..', 'src', 'autodiff', 'grads', file.replace(/\.ts$/, '.js'));
      const exported = Object.values(require(compiled) as Record<string, GradientRule>);
      assert.equal(exported.length, 1, `${file} exports one rule`);
      assert.equal(`${exported[0].ops.join('_')}_grad.ts`, file);
      assert.ok(GRADIENT_RULES.includes(exported[0]), `${file}: its rule is in GRADIENT_RULES`);
    }
  });

  it('every registered op is named by a finite-difference test', () => {
    const tests = fs.readdirSync(path.join(root, 'test')).filter((f) => /^grad-.*\.test\.ts$/.test(f) && f !== 'grad-registry.test.ts');
    const named = new Set<string>();
    for (const file of tests) {
      const source = fs.readFileSync(path.join(root, 'test', file), 'utf8');
      if (!source.includes('gradCheck(')) continue;
      for (const [, literal] of source.matchAll(/'([A-Za-z][A-Za-z0-9]*)'/g)) named.add(literal);
    }
    assert.deepEqual(differentiableOps().filter((op) => !named.has(op)), [], 'ops without a finite-difference test');
  });

  it('the README lists exactly the registered ops', () => {
    const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
    const list = /Ops with gradient rules: ([^—]+)—/.exec(readme.replace(/\s+/g, ' '));
    assert.ok(list, 'the README has the list "Ops with gradient rules: … —"');
    const listed = list[1].split(',').map((s) => s.trim()).filter(Boolean);
    assert.deepEqual(listed, differentiableOps());
  });
});
