import type { Clock } from '../clock.ts';
import { epochSeconds } from '../clock.ts';
import { randomToken, sha256 } from '../lib/crypto.ts';
import type { EmailLink, EmailLinkStore, LinkPurpose } from './email-link-store.ts';

/** How long each kind of link works, seconds (docs/email.md). */
export const LINK_TTL: Readonly<Record<LinkPurpose, number>> = {
  password_reset: 30 * 60,
  email_verify: 24 * 3600,
  invite: 7 * 86_400,
};

/** Longest token a link may carry (ours are 43 characters); anything longer is not ours. */
const MAX_TOKEN_LENGTH = 100;

/** Makes and reads the single-use links: a 256-bit random token in the mail, its SHA-256 in the database. */
export class Links {
  readonly #store: EmailLinkStore;
  readonly #clock: Clock;
  constructor(store: EmailLinkStore, clock: Clock) {
    this.#store = store;
    this.#clock = clock;
  }

  /** A new link; the token is returned once, for the mail, and never stored. */
  async create(purpose: LinkPurpose, fields: { userId: string | null; email: string; data?: Record<string, unknown>; createdBy: string }): Promise<{ token: string; link: EmailLink }> {
    const token = randomToken();
    const now = epochSeconds(this.#clock);
    const link: EmailLink = { tokenHash: sha256(token), purpose, userId: fields.userId, email: fields.email, data: fields.data ?? {}, createdBy: fields.createdBy, createdAt: now, expiresAt: now + LINK_TTL[purpose], usedAt: null };
    await this.#store.insert(link);
    return { token, link };
  }

  /** The link if it is of `purpose` and still usable (unused, unexpired); reads only. */
  async peek(token: string | undefined, purpose: LinkPurpose): Promise<EmailLink | undefined> {
    if (!token || token.length > MAX_TOKEN_LENGTH) return undefined;
    const link = await this.#store.find(sha256(token));
    const now = epochSeconds(this.#clock);
    // The lookup is by hash, so no comparison of secrets happens in JavaScript.
    if (!link || link.purpose !== purpose || link.usedAt !== null || link.expiresAt <= now) return undefined;
    return link;
  }

  /** Uses the link: exactly one caller gets it, and only while it is usable. */
  consume(token: string | undefined, purpose: LinkPurpose): Promise<EmailLink | undefined> {
    if (!token || token.length > MAX_TOKEN_LENGTH) return Promise.resolve(undefined);
    return this.#store.consume(sha256(token), purpose, epochSeconds(this.#clock));
  }

  useAllForUser(userId: string, purpose: LinkPurpose): Promise<number> {
    return this.#store.useAllForUser(userId, purpose, epochSeconds(this.#clock));
  }
}
