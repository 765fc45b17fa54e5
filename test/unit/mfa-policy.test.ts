import { expect, test } from 'vitest';
import { afterPassword, mfaNeed, type MfaContext, type MfaPolicy } from '../../src/identity/mfa/mfa-policy.ts';

const base = (policy: MfaPolicy, over: Partial<MfaContext> = {}): MfaContext => ({ policy, roleRequires: false, appRequires: false, acrAsks: false, ...over });

test.each([
  ['optional', {}, 'no'],
  ['required', {}, 'yes'],
  ['optional', { roleRequires: true }, 'yes'],
  ['optional', { appRequires: true }, 'yes'],
  ['optional', { acrAsks: true }, 'yes'],
  ['off', {}, 'no'],
  ['off', { acrAsks: true }, 'unavailable'],
  ['off', { roleRequires: true }, 'unavailable'],
] as const)('policy %s with %j → MFA needed: %s', (policy, over, expected) => {
  expect(mfaNeed(base(policy, over))).toBe(expected);
});

test.each([
  ['optional', false, {}, 'done'],
  ['optional', true, {}, 'second_factor'],
  ['required', false, {}, 'enrol'],
  ['required', true, {}, 'second_factor'],
  ['optional', false, { roleRequires: true }, 'enrol'],
  ['optional', false, { appRequires: true }, 'enrol'],
  ['off', true, { roleRequires: true }, 'done'],
] as const)('after the password: policy %s, has a factor %s, %j → %s', (policy, hasFactor, over, expected) => {
  expect(afterPassword({ ...base(policy, over), hasFactor })).toBe(expected);
});
