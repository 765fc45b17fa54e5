import { SYSTEM } from '../audit/actor.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import type { User } from '../identity/user.ts';
import type { FederatedAccounts } from './federated-accounts.ts';
import type { FederationFailure } from './failures.ts';
import type { IdentityProvider } from './provider.ts';
import type { CallbackInput, StartInput, StartResult, UpstreamSignIn } from './upstream-sign-in.ts';

export type FederatedSignInResult =
  | { ok: true; user: User; returnTo: string | null }
  | { ok: false; failure: FederationFailure; returnTo: string | null }
  /** The upstream sign-in was good, but it may not sign in to Tessera (issue #11, "Accounts"). */
  | { ok: false; refused: 'user_disabled' | 'email_in_use'; returnTo: string | null };

/**
 * A whole sign-in through a provider: the protocol (UpstreamSignIn), the account it is
 * (FederatedAccounts), and the audit trail of every outcome (`provider.sign_in`,
 * `provider.sign_in_failed` with the reason). The page routes only adapt HTTP.
 */
export class FederatedSignIn {
  readonly #d: { protocol: UpstreamSignIn; accounts: FederatedAccounts; audit: AuditLog };
  constructor(deps: { protocol: UpstreamSignIn; accounts: FederatedAccounts; audit: AuditLog }) {
    this.#d = deps;
  }

  start(input: StartInput): Promise<StartResult> {
    return this.#d.protocol.start(input);
  }

  async finish(input: CallbackInput & { provider: IdentityProvider | undefined }): Promise<FederatedSignInResult> {
    const result = await this.#d.protocol.finish(input);
    const provider = input.provider;
    if (!result.ok) {
      // A callback for an unknown slug has no provider to file it under.
      if (provider) await this.#failed(provider, result.failure.kind, result.failure.reason);
      return { ok: false, failure: result.failure, returnTo: result.returnTo };
    }
    const account = await this.#d.accounts.resolve(provider!, result.profile);
    if (!account.ok) {
      await this.#failed(provider!, account.reason, `upstream subject ${result.profile.subject.slice(0, 100)}: ${account.reason}`);
      return { ok: false, refused: account.reason, returnTo: result.returnTo };
    }
    await this.#d.audit.record(
      { action: 'provider.sign_in', targetId: provider!.slug, details: { user_id: account.user.id, username: account.user.username, how: account.how } },
      SYSTEM,
    );
    return { ok: true, user: account.user, returnTo: result.returnTo };
  }

  #failed(provider: IdentityProvider, failure: string, reason: string): Promise<void> {
    return this.#d.audit.record({ action: 'provider.sign_in_failed', targetId: provider.slug, details: { failure, reason } }, SYSTEM);
  }
}
