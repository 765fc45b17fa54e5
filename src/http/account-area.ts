import type { FastifyReply, FastifyRequest } from 'fastify';
import type { SignedIn } from '../identity/session-service.ts';
import { accountLayout, type AccountSection } from '../pages/account-layout.ts';
import type { SafeHtml } from '../pages/html.ts';

/** What the area needs from the PageKit that owns it (passed in: the kit imports this module). */
export interface AccountAreaDeps {
  /** A CSRF token for the header's sign-out form (bound to 'logout', as /logout checks). */
  signOutCsrf(request: FastifyRequest, reply: FastifyReply): string;
  /** The pages' headers: strict CSP, no framing, no caching. */
  pageHeaders(reply: FastifyReply): FastifyReply;
}

/**
 * One entry of the Security page (/account/security): a kind of sign-in factor (password,
 * authenticator app, recovery codes, passkeys), what the user has of it, and links to the
 * pages where they manage it. The area that owns the factor registers a source; the Security
 * page asks every source on each request, in `order`.
 */
export interface SecurityEntry {
  /** The factor's name as users know it: "Authenticator app", "Passkeys". */
  title: string;
  /** One line on its state: "On since 6 December 2026", "Not set up", "7 of 10 left". */
  status: string;
  /** Whether the factor is in use (shown as a badge: "On" / "Off"). */
  active: boolean;
  /** What the user has of it, one row each (e.g. each passkey: name and "added 3 Dec 2026"). */
  items?: Array<{ name: string; detail?: string }>;
  /** Links to the factor's own pages: add, rename, remove, regenerate… (GET pages; their forms do the change). */
  actions: Array<{ label: string; href: string }>;
}

export interface SecuritySource {
  /** Stable id, e.g. 'totp', 'recovery-codes', 'passkeys' (one registration per id). */
  id: string;
  /** Position on the page: password 0, authenticator app 10, recovery codes 20, passkeys 30. */
  order: number;
  /** The entry for this user, or undefined to show nothing (e.g. a feature switched off). */
  entry(signedIn: SignedIn): Promise<SecurityEntry | undefined>;
}

/** The account area as other page modules use it: render inside the account layout, add Security entries. */
export class AccountArea {
  readonly #d: AccountAreaDeps;
  readonly #sources = new Map<string, SecuritySource>();

  constructor(deps: AccountAreaDeps) {
    this.#d = deps;
  }

  /** Adds (or replaces, by id) an entry source of the Security page. Call it from your register…Routes. */
  addSecuritySource(source: SecuritySource): void {
    this.#sources.set(source.id, source);
  }

  /** Every Security entry for this user, in order (sources answering undefined left out). */
  async securityEntries(signedIn: SignedIn): Promise<SecurityEntry[]> {
    const sources = [...this.#sources.values()].sort((a, b) => a.order - b.order || a.id.localeCompare(b.id));
    const entries = await Promise.all(sources.map((s) => s.entry(signedIn)));
    return entries.filter((e): e is SecurityEntry => e !== undefined);
  }

  /**
   * Answers with a page inside the account layout (header, nav, sign-out; page headers with
   * the strict CSP). `status` defaults to 200; a form shown again with errors says 400.
   */
  send(
    request: FastifyRequest,
    reply: FastifyReply,
    signedIn: SignedIn,
    page: { title: string; current: AccountSection; body: SafeHtml; notice?: string; status?: number },
  ): FastifyReply {
    const { user } = signedIn.principal;
    return this.#d
      .pageHeaders(reply)
      .code(page.status ?? 200)
      .send(
        accountLayout({
          title: page.title,
          current: page.current,
          body: page.body,
          notice: page.notice,
          user: { username: user.username, name: user.name },
          signOutCsrf: this.#d.signOutCsrf(request, reply),
        }),
      );
  }
}
