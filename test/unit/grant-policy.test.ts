import { describe, expect, test } from 'vitest';
import { ANY_SCOPES, decideGrant, decideTokenExchange, type GrantOutcome } from '../../src/clients/grant-policy.ts';
import type { Principal } from '../../src/identity/user.ts';

function principal(roles: string[], permissions: string[], disabled = false): Principal {
  return {
    user: {
      id: '6f1c2a52-0000-4000-8000-000000000001',
      username: 'alice',
      email: null,
      emailVerified: false,
      name: null,
      givenName: null,
      familyName: null,
      passwordHash: null,
      passwordChangedAt: null,
      disabled,
      tokensValidAfter: 0,
      createdAt: 0,
      updatedAt: 0,
    },
    roles,
    permissions,
  };
}

const app = { requirePermission: 'developer_api' };
const developer = principal(['developer'], ['developer_api']);
// The admin role holds every permission (UserStore.principal expands all_permissions).
const admin = principal(['admin'], ['developer_api', 'reports']);
const noRoles = principal([], []);
const disabledAdmin = principal(['admin'], ['developer_api'], true);
const reportsOnly = principal(['reporter'], ['reports']);

type Expected = { allowed: true } | { allowed: false; reason: string; permission?: string };

describe('decideGrant: may tokens for this app be issued to this user', () => {
  // [case, user (null: the app acts as itself, undefined: user deleted), scopes, outcome]
  const cases: Array<[string, Principal | null | undefined, readonly string[], Expected]> = [
    ['app on its own, no scopes', null, ANY_SCOPES, { allowed: true }],
    ['app on its own, an API scope', null, ['orders.read'], { allowed: true }],
    ['app on its own asks for tessera.admin', null, ['tessera.admin'], { allowed: false, reason: 'admin_role_required' }],
    ['user holding the app’s permission', developer, ['openid', 'orders.read'], { allowed: true }],
    ['user holding the app’s permission, no scopes', developer, ANY_SCOPES, { allowed: true }],
    ['admin asks for tessera.admin', admin, ['openid', 'tessera.admin'], { allowed: true }],
    ['non-admin asks for tessera.admin', developer, ['openid', 'tessera.admin'], { allowed: false, reason: 'admin_role_required' }],
    ['user lacking the app’s permission', reportsOnly, ['openid'], { allowed: false, reason: 'permission_missing', permission: 'developer_api' }],
    ['user with no roles', noRoles, ANY_SCOPES, { allowed: false, reason: 'permission_missing', permission: 'developer_api' }],
    // The permission is reported before the admin role: the user cannot have the app at all.
    ['user lacking both permission and admin role', noRoles, ['tessera.admin'], { allowed: false, reason: 'permission_missing', permission: 'developer_api' }],
    ['disabled user, even an admin', disabledAdmin, ['tessera.admin'], { allowed: false, reason: 'user_disabled' }],
    ['deleted user', undefined, ANY_SCOPES, { allowed: false, reason: 'user_missing' }],
    ['deleted user asking for tessera.admin', undefined, ['tessera.admin'], { allowed: false, reason: 'user_missing' }],
  ];

  test.each(cases)('%s', (_name, user, scopes, expected) => {
    const outcome: GrantOutcome = decideGrant(app, user, scopes);
    expect(outcome).toMatchObject(expected);
    if (!outcome.allowed && 'principal' in outcome) expect(outcome.principal).toBe(user);
  });

  test('the app’s own permission is the one checked', () => {
    expect(decideGrant({ requirePermission: 'reports' }, reportsOnly, ANY_SCOPES)).toEqual({ allowed: true });
    expect(decideGrant({ requirePermission: 'reports' }, developer, ANY_SCOPES)).toMatchObject({ reason: 'permission_missing', permission: 'reports' });
  });

  test('an allowed decision allocates nothing: the same frozen outcome every time', () => {
    const first = decideGrant(app, developer, ['orders.read']);
    expect(decideGrant(app, null, ANY_SCOPES)).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
  });
});

describe('decideTokenExchange: may this app exchange this token for this audience (RFC 8693)', () => {
  const orders = ['https://api.example.com/orders', 'orders-service'];
  const billing = ['https://api.example.com/billing'];
  const open = { tokenExchange: { audiences: ['https://api.example.com/orders'], scopes: null, subjectClients: null } };
  const narrow = { tokenExchange: { audiences: ['orders-service'], scopes: ['orders.read'], subjectClients: ['frontend'] } };
  const req = (subjectClientId: string, targetAudiences: string[], scopes: string[]) => ({ subjectClientId, targetAudiences, scopes });
  // [case, app, request, outcome]
  const cases: Array<[string, Parameters<typeof decideTokenExchange>[0], ReturnType<typeof req>, Expected | { allowed: false; reason: string; scopes?: string[]; clientId?: string }]> = [
    ['no policy: the grant is off', { tokenExchange: null }, req('frontend', orders, ['orders.read']), { allowed: false, reason: 'exchange_not_allowed' }],
    ['policy field absent (app stored before it)', {}, req('frontend', orders, []), { allowed: false, reason: 'exchange_not_allowed' }],
    ['listed audience, any scope, any app', open, req('anyone', orders, ['orders.read', 'orders.write']), { allowed: true }],
    ['listed audience differing by a trailing slash', open, req('anyone', ['https://api.example.com/orders/'], []), { allowed: true }],
    ['audience not listed', open, req('frontend', billing, ['orders.read']), { allowed: false, reason: 'audience_not_allowed' }],
    ['listed by the API’s own audience', narrow, req('frontend', orders, ['orders.read']), { allowed: true }],
    ['scope beyond the policy', narrow, req('frontend', orders, ['orders.read', 'orders.write']), { allowed: false, reason: 'scope_not_allowed', scopes: ['orders.write'] }],
    ['token of an app not listed', narrow, req('other-app', orders, ['orders.read']), { allowed: false, reason: 'subject_client_not_allowed', clientId: 'other-app' }],
    ['no scopes asked, narrow policy', narrow, req('frontend', orders, []), { allowed: true }],
  ];

  test.each(cases)('%s', (_name, policyApp, request, expected) => {
    expect(decideTokenExchange(policyApp, request)).toEqual(expected);
  });
});
