import { expect, test } from 'vitest';
import { timeOrderedUuid } from '../../src/lib/crypto.ts';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('a version 7 UUID (RFC 9562 §5.7): the time in ms in its first 48 bits, the version and variant bits, random bits after', () => {
  const ms = Date.UTC(2026, 11, 7, 4, 50, 0, 123);
  const id = timeOrderedUuid(ms);
  expect(id).toMatch(UUID_V7);
  expect(parseInt(id.slice(0, 8) + id.slice(9, 13), 16)).toBe(ms);
  // The random part differs from one id to the next, in the same millisecond too.
  const ids = new Set(Array.from({ length: 10_000 }, () => timeOrderedUuid(ms)));
  expect(ids.size).toBe(10_000);
  for (const other of ids) expect(other.slice(0, 14)).toBe(id.slice(0, 14));
});

test('ids made later sort after earlier ones, as strings (what the B-tree indexes compare)', () => {
  const earlier = timeOrderedUuid(1_700_000_000_000);
  const later = timeOrderedUuid(1_700_000_000_001);
  expect(earlier < later).toBe(true);
  const now = timeOrderedUuid();
  expect(now).toMatch(UUID_V7);
  expect(later < now).toBe(true);
});
