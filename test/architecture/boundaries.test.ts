import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { cruise, type ICruiseResult, type IViolation } from 'dependency-cruiser';
import { describe, expect, it } from 'vitest';
import config, { LAYERS } from '../../.dependency-cruiser.mts';

const ROOT = join(import.meta.dirname, '../..');
const FIXTURE = join(import.meta.dirname, 'fixture');

async function cruiseSrc(baseDir: string): Promise<ICruiseResult> {
  const { output } = await cruise(['src'], {
    ...config.options,
    baseDir,
    validate: true,
    ruleSet: { forbidden: config.forbidden ?? [] },
  });
  if (typeof output === 'string') throw new Error('dependency-cruiser returned a report instead of a result');
  return output;
}

function describeViolation(v: IViolation): string {
  const path = v.cycle?.length ? [v.from, ...v.cycle.map((step) => step.name)].join(' → ') : `${v.from} → ${v.to}`;
  const rule = config.forbidden?.find((r) => r.name === v.rule.name);
  return `${v.rule.name}: ${path}${rule?.comment ? `\n    (${rule.comment})` : ''}`;
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => relative(ROOT, join(entry.parentPath, entry.name)));
}

describe('folder boundaries (.dependency-cruiser.mts)', () => {
  it('src/ follows the layering: no folder or module cycles, Fastify only in http', async () => {
    const result = await cruiseSrc(ROOT);
    // A parser that silently reads nothing would find no violations: every source file must have been read.
    const cruised = new Set(result.modules.map((m) => m.source));
    expect(tsFiles(join(ROOT, 'src')).filter((file) => !cruised.has(file))).toEqual([]);
    const violations = result.summary.violations.map(describeViolation);
    expect(violations, `dependency rules broken:\n${violations.join('\n')}\n`).toEqual([]);
  });

  it('every src/ folder has a place in the layering', () => {
    const placed = new Set(LAYERS.flat());
    const folders = readdirSync(join(ROOT, 'src'), { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name);
    expect(folders.filter((folder) => !placed.has(folder))).toEqual([]);
  });

  it('the rules catch a broken tree (test/architecture/fixture)', async () => {
    const result = await cruiseSrc(FIXTURE);
    // A cycle is reported once, from whichever of its modules is met first.
    const broken = new Set(result.summary.violations.map((v) => (v.cycle?.length ? v.rule.name : `${v.rule.name} ${v.from}`)));
    expect([...broken].sort()).toEqual([
      'fastify-only-in-http src/oauth/core.ts',
      'layer-oauth src/oauth/core.ts',
      'layer-storage src/storage/store.ts',
      'no-folder-cycles',
      'no-module-cycles',
    ]);
  });
});
