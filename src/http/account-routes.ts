import type { MessageKey } from '../i18n/index.ts';
import { t, tEntered, tText } from '../pages/i18n-html.ts';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Tessera } from '../app/tessera.ts';
import type { AccountMeta, FieldErrors } from '../identity/account-service.ts';
import type { SignedIn } from '../identity/session-service.ts';
import { DEVICE_COOKIE, SESSION_COOKIE } from '../lib/cookie-names.ts';
import { appsBody, passwordBody, profileBody, securityBody, sessionsBody } from '../pages/account-pages.ts';
import { deviceName } from '../pages/device-name.ts';
import { agoText, dateText, dateTimeText } from '../pages/when.ts';
import { epochSeconds } from '../clock.ts';
import { scopesInWords } from './scope-words.ts';
import { waitText } from './page-routes.ts';
import { noStore } from './oauth-reply.ts';
import { pageForm, queryParams, type PageKit } from './page-kit.ts';

/** One-line confirmations after a change (`?done=<key>` on the page it redirects to): fixed texts, never echoed input. */
const NOTICES = {
  profile: 'account.notice.profile',
  email: 'account.notice.email',
  password: 'account.notice.password',
  session: 'account.notice.session',
  'session-gone': 'account.notice.sessionGone',
  others: 'account.notice.others',
  removed: 'account.notice.removed',
  'removed-gone': 'account.notice.removedGone',
} as const satisfies Record<string, MessageKey>;

/**
 * The account area (/account): the user's own profile, password, sign-in factors, sessions and
 * connected apps, signed in through Tessera's own session. Adapters only: the rules live in
 * AccountService and the services it calls. Every form is CSRF-checked against the session.
 */
export function registerAccountRoutes(app: FastifyInstance, tessera: Tessera, kit: PageKit): void {
  const account = tessera.interactive.account;
  const meta = (request: FastifyRequest): AccountMeta => ({
    ip: request.ip,
    userAgent: request.headers['user-agent'] ?? null,
    deviceCookie: request.cookies[DEVICE_COOKIE],
  });
  const notice = (request: FastifyRequest): string | undefined => {
    const done = queryParams(request).get('done')?.[0];
    return done !== undefined && Object.hasOwn(NOTICES, done) ? t(NOTICES[done as keyof typeof NOTICES]) : undefined;
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
      title: t('account.profile.title'),
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
    if (!result.ok) return profilePage(request, reply, signedIn, input, fieldTexts(result.errors));
    return after(reply, '/account', result.emailChanged ? 'email' : 'profile');
  });

  app.get('/account/security', async (request, reply) => {
    const signedIn = await kit.requireSignedIn(request, reply, '/account/security');
    if (!signedIn) return reply;
    const entries = await kit.account.securityEntries(signedIn);
    return kit.account.send(request, reply, signedIn, { title: t('account.security.title'), current: 'security', notice: notice(request), body: securityBody({ entries }) });
  });

  // The first entry of the Security page: the password, changed at /account/password.
  kit.account.addSecuritySource({
    id: 'password',
    order: 0,
    async entry(signedIn) {
      const { user } = signedIn.principal;
      if (user.passwordHash === null) return { title: t('account.password.title'), active: false, status: t('account.password.noneShort'), actions: [] };
      return {
        title: t('account.password.title'),
        active: true,
        status: user.passwordChangedAt === null ? t('account.password.set') : t('account.password.lastChanged', { date: dateText(user.passwordChangedAt) }),
        actions: [{ label: t('account.password.change'), href: '/account/password' }],
      };
    },
  });

  function passwordPage(request: FastifyRequest, reply: FastifyReply, signedIn: SignedIn, errors: Partial<Record<string, string>>, status = 200) {
    const { user } = signedIn.principal;
    return kit.account.send(request, reply, signedIn, {
      title: t('account.password.change'),
      current: 'security',
      status,
      body: passwordBody({ csrf: kit.csrfToken(request, reply, signedIn.session.sid), username: user.username, hasPassword: user.passwordHash !== null, errors }),
    });
  }

  app.get('/account/password', async (request, reply) => {
    const signedIn = await kit.requireSignedIn(request, reply, '/account/password');
    if (!signedIn) return reply;
    return passwordPage(request, reply, signedIn, {});
  });

  app.post('/account/password', async (request, reply) => {
    const got = await signedInForm(request, reply, '/account/password');
    if (!got) return reply;
    const { signedIn, form } = got;
    const input = { current: form.get('current') ?? '', next: form.get('next') ?? '', confirm: form.get('confirm') ?? '' };
    const result = await account.changePassword(signedIn, input, meta(request));
    if (!result.ok) {
      if (result.retryAfter !== undefined) {
        reply.header('retry-after', String(result.retryAfter));
        return passwordPage(request, reply, signedIn, { current: t('wait.passwords', { wait: waitText(result.retryAfter) }) }, 429);
      }
      return passwordPage(request, reply, signedIn, fieldTexts(result.errors), 400);
    }
    // The old session ended with the others; this browser continues on a new one.
    reply.setCookie(SESSION_COOKIE, result.cookieValue, { ...kit.cookieOptions(), maxAge: result.session.expiresAt - result.session.createdAt });
    return after(reply, '/account/security', 'password');
  });

  app.get('/account/sessions', async (request, reply) => {
    const signedIn = await kit.requireSignedIn(request, reply, '/account/sessions');
    if (!signedIn) return reply;
    const now = epochSeconds(tessera.interactive.clock);
    const sessions = (await account.sessions(signedIn)).map((s) => ({
      sid: s.sid,
      current: s.current,
      device: deviceName(s.userAgent),
      ip: s.ip,
      signedIn: dateTimeText(s.signedInAt),
      lastSeen: s.current ? t('when.justNow') : agoText(s.lastSeenAt, now),
    }));
    // This device first, then the others newest first.
    sessions.sort((a, b) => Number(b.current) - Number(a.current));
    return kit.account.send(request, reply, signedIn, {
      title: t('account.sessions.title'),
      current: 'sessions',
      notice: notice(request),
      body: sessionsBody({ csrf: kit.csrfToken(request, reply, signedIn.session.sid), sessions }),
    });
  });

  app.post('/account/sessions/revoke', async (request, reply) => {
    const got = await signedInForm(request, reply, '/account/sessions');
    if (!got) return reply;
    const ended = await account.signOutSession(got.signedIn, got.form.get('sid') ?? '', meta(request));
    return after(reply, '/account/sessions', ended ? 'session' : 'session-gone');
  });

  app.post('/account/sessions/revoke-others', async (request, reply) => {
    const got = await signedInForm(request, reply, '/account/sessions');
    if (!got) return reply;
    await account.signOutOthers(got.signedIn, meta(request));
    return after(reply, '/account/sessions', 'others');
  });

  app.get('/account/apps', async (request, reply) => {
    const signedIn = await kit.requireSignedIn(request, reply, '/account/apps');
    if (!signedIn) return reply;
    const connected = await account.connectedApps(signedIn);
    // One lookup for every app's scopes, in the consent page's words.
    const words = new Map((await scopesInWords(tessera, [...new Set(connected.flatMap((a) => a.scopes))])).map((s) => [s.name, s]));
    // The name in the page's language when the operator translated it (docs/languages.md).
    const names = await Promise.all(connected.map(async (a) => tEntered(a.name, (await tessera.cache.client(a.clientId))?.nameTranslations)));
    const apps = connected.map((a, i) => ({ clientId: a.clientId, name: names[i]!, granted: dateText(a.grantedAt), scopes: a.scopes.map((n) => words.get(n) ?? { name: n, description: n }) }));
    return kit.account.send(request, reply, signedIn, {
      title: t('account.apps.title'),
      current: 'apps',
      notice: notice(request),
      body: appsBody({ csrf: kit.csrfToken(request, reply, signedIn.session.sid), apps }),
    });
  });

  app.post('/account/apps/revoke', async (request, reply) => {
    const got = await signedInForm(request, reply, '/account/apps');
    if (!got) return reply;
    const removed = await account.removeAccess(got.signedIn, got.form.get('client_id') ?? '', meta(request));
    return after(reply, '/account/apps', removed ? 'removed' : 'removed-gone');
  });
}

/** The account service's field errors in the page's language (docs/languages.md). */
function fieldTexts(errors: FieldErrors): Partial<Record<string, string>> {
  return Object.fromEntries(Object.entries(errors).flatMap(([field, text]) => (text === undefined ? [] : [[field, tText(text)]])));
}
