import { authorizationCodeGrant } from './authorization-code.ts';
import { clientCredentialsGrant } from './client-credentials.ts';
import { deviceCodeGrant } from './device-code.ts';
import type { GrantHandler } from './grant-handler.ts';
import { refreshTokenGrant } from './refresh-token.ts';
import { tokenExchangeGrant } from './token-exchange.ts';

/** Grant type → handler. A new grant is a new file and one line here. */
export const GRANT_HANDLERS: ReadonlyMap<string, GrantHandler> = new Map<string, GrantHandler>([
  [authorizationCodeGrant.grantType, authorizationCodeGrant],
  [clientCredentialsGrant.grantType, clientCredentialsGrant],
  [refreshTokenGrant.grantType, refreshTokenGrant],
  [deviceCodeGrant.grantType, deviceCodeGrant],
  [tokenExchangeGrant.grantType, tokenExchangeGrant],
]);
