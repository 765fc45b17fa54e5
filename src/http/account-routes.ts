import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Tessera } from '../app/tessera.ts';
import type { AccountMeta } from '../identity/account-service.ts';
import type { SignedIn } from '../identity/session-service.ts';
import { profileBody, securityBody } from '../pages/account-pages.ts';
import { noStore } from './oauth-reply.ts';
import { pageForm, queryParams, type PageKit } from './page-kit.ts';

/** One-line confirmations after a change (`?done=<key>` on the page it redirects to): fixed texts, never echoed input. */
const NOTICES = {
  profile: 'Your profile was saved.',
  email: 'Your profile was saved. Your new email address is not verified yet.',
} as const;

/**
 * The account area (/account): the user's own profile, password, sign-in factors, sessions and
 * connected apps, signed in through Tessera's own session. Adapters only: the rules live in
 * AccountService and the services it calls. Every form is CSRF-checked against the session.
 */
export function registerAccountRoutes(app: FastifyInstance, tessera: Tessera, kit: PageKit): void {
  const account = tessera.interactive.account;
  const meta = (request: FastifyRequest): AccountMeta => ({ ip: request.ip, userAgent: request.headers['user-agent'] ?? null });
  const notice = (request: FastifyRequest): string | undefined => {
    const done = queryParams(request).get('done')?.[0];
    return done !== undefined && Object.hasOwn(NOTICES, done) ? NOTICES[done as keyof typeof NOTICES] : undefined;
  };
  const after = (reply: FastifyReply, path: string, done: keyof typeof NOTICES) => noStore(reply).redirect(`${path}?done=${done}`, 303);

  /** The signed-in user and a form whose CSRF token is theirs; else the answer was sent. */
  async function signedInForm(request: FastifyRequest, reply: FastifyReply, back: string): Promise<{ signedIn: SignedIn; form: Map<string, string> } | undefined> {
    const signedIn = await kit.requireSignedIn(request, reply, back);
    if (!signedIn) return undefined;
    const form = pageForm(request);
    if (!kit.csrfOk(request, form, signedIn.session.sid)) {
      kit.csrfRefused(reply);
      return undefined;
    }
    return { signedIn, form };
  }

  function profilePage(request: FastifyRequest, reply: FastifyReply, signedIn: SignedIn, shown: { name: string; email: string }, errors: Partial<Record<string, string>>) {
    const { user } = signedIn.principal;
    return kit.account.send(request, reply, signedIn, {
      title: 'Profile',
      current: 'profile',
      status: Object.keys(errors).length ? 400 : 200,
      notice: Object.keys(errors).length ? undefined : notice(request),
      body: profileBody({
        csrf: kit.csrfToken(request, reply, signedIn.session.sid),
        username: user.username,
        name: shown.name,
        email: shown.email,
        storedEmail: user.email,
        emailVerified: user.emailVerified,
        errors,
      }),
    });
  }

  app.get('/account', async (request, reply) => {
    const signedIn = await kit.requireSignedIn(request, reply, '/account');
    if (!signedIn) return reply;
    const { user } = signedIn.principal;
    return profilePage(request, reply, signedIn, { name: user.name ?? '', email: user.email ?? '' }, {});
  });

  app.post('/account/profile', async (request, reply) => {
    const got = await signedInForm(request, reply, '/account');
    if (!got) return reply;
    const { signedIn, form } = got;
    const input = { name: form.get('name') ?? '', email: form.get('email') ?? '' };
    const result = await account.updateProfile(signedIn, input, meta(request));
    if (!result.ok) return profilePage(request, reply, signedIn, input, result.errors);
    return after(reply, '/account', result.emailChanged ? 'email' : 'profile');
  });

  app.get('/account/security', async (request, reply) => {
    const signedIn = await kit.requireSignedIn(request, reply, '/account/security');
    if (!signedIn) return reply;
    const entries = await kit.account.securityEntries(signedIn);
    return kit.account.send(request, reply, signedIn, { title: 'Security', current: 'security', notice: notice(request), body: securityBody({ entries }) });
  });
}
