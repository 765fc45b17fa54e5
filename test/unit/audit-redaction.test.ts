import { expect, test } from 'vitest';
import { redact } from '../../src/audit/audit-log.ts';

test('audit details: settings and lifetimes are recorded as they are; only the listed secret fields are redacted', () => {
  const details = {
    changed: { access_token_ttl: 600, refresh_token_ttl: 86_400, code_ttl: 60, token_endpoint_auth_method: 'client_secret_basic' },
    fields: ['access_token_ttl', 'client_secret'],
    password: 'hunter2 hunter2',
    client_secret: 's3cret',
    clientSecret: 's3cret',
    'Refresh-Token': 'rt',
    nested: [{ code_verifier: 'v', private_key: 'k', token: 't', username: 'ann' }],
  };
  expect(redact(details)).toEqual({
    changed: { access_token_ttl: 600, refresh_token_ttl: 86_400, code_ttl: 60, token_endpoint_auth_method: 'client_secret_basic' },
    fields: ['access_token_ttl', 'client_secret'],
    password: '[redacted]',
    client_secret: '[redacted]',
    clientSecret: '[redacted]',
    'Refresh-Token': '[redacted]',
    nested: [{ code_verifier: '[redacted]', private_key: '[redacted]', token: '[redacted]', username: 'ann' }],
  });
});
