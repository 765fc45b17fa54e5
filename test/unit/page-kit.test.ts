import { describe, expect, it } from 'vitest';
import { safeReturnTo } from '../../src/http/page-kit.ts';

describe('safeReturnTo: where /login may send the browser back to', () => {
  it('allows the authorize endpoint and the account area', () => {
    expect(safeReturnTo('/connect/authorize?client_id=a&response_type=code')).toBe('/connect/authorize?client_id=a&response_type=code');
    expect(safeReturnTo('/account')).toBe('/account');
    expect(safeReturnTo('/account/passkeys')).toBe('/account/passkeys');
    expect(safeReturnTo('/account?tab=sessions')).toBe('/account?tab=sessions');
  });

  it('refuses everything else, including look-alikes that browsers would take elsewhere', () => {
    for (const bad of [
      undefined,
      '',
      'https://evil.example/account',
      '//evil.example/account',
      '/accounts',
      '/account//evil.example',
      '/account/\\evil.example',
      '/admin/',
      '/connect/authorize',
      `/account/${'a'.repeat(9000)}`,
    ]) {
      expect(safeReturnTo(bad), String(bad)).toBeUndefined();
    }
  });
});
