import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';

/**
 * docs/conformance.md maps each MUST to a test as `dir/file.test.ts › test name` (a name may
 * be shortened with "…", and `›` alone continues with the file named before it). Every file
 * it names must exist and every name must be the start of a test in one of them, so renaming
 * or removing a test without updating the table fails here.
 */
const root = new URL('../../', import.meta.url);
const doc = readFileSync(new URL('docs/conformance.md', root), 'utf8');
const normal = (s: string) => s.replaceAll('’', "'").replace(/\s+/g, ' ');

describe('docs/conformance.md names tests that exist', () => {
  const files = [...new Set([...doc.matchAll(/`([a-z0-9-]+\/[a-z0-9-]+\.test\.ts)`/g)].map((m) => m[1]!))];
  const sources = new Map(files.map((f) => [f, normal(readFileSync(new URL(`test/${f}`, root), 'utf8'))]));

  test('it names test files', () => {
    expect(files.length).toBeGreaterThan(8);
  });

  const names = [...new Set([...doc.matchAll(/› ([^;|›(`]+)/g)].map((m) => normal(m[1]!).trim()))].filter((n) => n.length > 0);
  test.each(names)('› %s', (name) => {
    const prefix = name.split('…')[0]!.trim();
    const found = [...sources.values()].some((source) => source.includes(`test('${prefix}`) || source.includes(`test("${prefix}`) || source.includes(`'${prefix}`) || source.includes(`"${prefix}`));
    expect(found, `no test starts with "${prefix}" in ${files.join(', ')}`).toBe(true);
  });
});
