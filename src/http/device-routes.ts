import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Tessera } from '../app/tessera.ts';
import { epochSeconds } from '../clock.ts';
import type { SignedIn } from '../identity/session-service.ts';
import type { DeviceAuthorization } from '../oauth/device-store.ts';
import type { Client } from '../clients/client.ts';
import { deviceCodePage, deviceConsentPage } from '../pages/device-pages.ts';
import { appName, t } from '../pages/i18n-html.ts';
import { messagePage } from '../pages/pages.ts';
import { noStore } from './oauth-reply.ts';
import { pageForm, pageHeaders, queryParams, type PageKit } from './page-kit.ts';
import { waitText } from './page-routes.ts';
import { scopesInWords } from './scope-words.ts';

/**
 * /device, the device flow's verification page (RFC 8628 §3.3, docs/device-flow.md): the user
 * enters the code (or arrives with it from verification_uri_complete), signs in as for any app
 * (second factor included when the policy asks), and approves or denies on a consent page.
 * Every lookup of a code is a throttled guess (src/oauth/device-verification.ts).
 */
export function registerDeviceRoutes(app: FastifyInstance, tessera: Tessera, kit: PageKit): void {
  const { devices, clock } = tessera.interactive;
  const now = () => epochSeconds(clock);

  const codeForm = (request: FastifyRequest, reply: FastifyReply, status: number, userCode?: string, error?: string) =>
    pageHeaders(reply).code(status).send(deviceCodePage({ csrf: kit.csrfToken(request, reply), userCode, error }));

  const throttled = (request: FastifyRequest, reply: FastifyReply, retryAfter: number, userCode: string) => {
    reply.header('retry-after', String(retryAfter));
    return codeForm(request, reply, 429, userCode, t('device.throttled', { wait: waitText(retryAfter) }));
  };

  /** The step after a valid code: sign in (and the second factor), then the consent page. */
  async function consentOrSignIn(request: FastifyRequest, reply: FastifyReply, found: { auth: DeviceAuthorization; client: Client; userCode: string }) {
    const back = `/device?${new URLSearchParams({ user_code: found.userCode })}`;
    const signedIn: SignedIn | undefined = await kit.requireSignedIn(request, reply, back);
    if (!signedIn) return reply;
    const need = await devices.mfaNeeded(found.client, signedIn);
    if (need === 'unavailable') return pageHeaders(reply).code(403).send(messagePage(t('error.title'), t('device.mfaUnavailable')));
    // Signing in again is how a session gains its second factor (as /connect/authorize does).
    if (need !== 'no') return noStore(reply).redirect(`/login?${new URLSearchParams({ return_to: back })}`, 303);
    return pageHeaders(reply).send(
      deviceConsentPage({
        csrf: kit.csrfToken(request, reply, signedIn.session.sid),
        userCode: found.userCode,
        clientName: appName(found.client),
        username: signedIn.principal.user.username,
        scopes: await scopesInWords(tessera, found.auth.scope.split(' ').filter(Boolean)),
      }),
    );
  }

  app.get('/device', async (request, reply) => {
    const typed = queryParams(request).get('user_code')?.[0]?.slice(0, 100);
    if (!typed) return codeForm(request, reply, 200);
    const found = await devices.lookUp(typed, request.ip, now());
    if (found.kind === 'throttled') return throttled(request, reply, found.retryAfter, typed);
    if (found.kind === 'invalid') return codeForm(request, reply, 400, typed, t('device.invalid'));
    return consentOrSignIn(request, reply, found);
  });

  app.post('/device', async (request, reply) => {
    const form = pageForm(request);
    const typed = (form.get('user_code') ?? '').slice(0, 100);
    if (!kit.csrfOk(request, form)) return kit.csrfRefused(reply);
    const found = await devices.lookUp(typed, request.ip, now());
    if (found.kind === 'throttled') return throttled(request, reply, found.retryAfter, typed);
    if (found.kind === 'invalid') return codeForm(request, reply, 400, typed, t('device.invalid'));
    // The code goes into the URL (as verification_uri_complete has it) so sign-in can come back to it.
    return noStore(reply).redirect(`/device?${new URLSearchParams({ user_code: found.userCode })}`, 303);
  });

  app.post('/device/decision', async (request, reply) => {
    const form = pageForm(request);
    const typed = (form.get('user_code') ?? '').slice(0, 100);
    const signedIn = await kit.requireSignedIn(request, reply, `/device?${new URLSearchParams({ user_code: typed })}`);
    if (!signedIn) return reply;
    if (!kit.csrfOk(request, form, signedIn.session.sid)) return kit.csrfRefused(reply);
    const decision = form.get('decision');
    if (decision !== 'allow' && decision !== 'deny') return codeForm(request, reply, 400, typed, t('device.invalid'));
    const result = await devices.decide(typed, signedIn, decision === 'allow', request.ip, now());
    switch (result.kind) {
      case 'throttled':
        return throttled(request, reply, result.retryAfter, typed);
      case 'invalid':
        return codeForm(request, reply, 400, typed, t('device.invalid'));
      case 'not_allowed':
        return pageHeaders(reply).code(403).send(messagePage(t('device.denied.title'), t('device.notAllowed.message')));
      case 'denied':
        return pageHeaders(reply).send(messagePage(t('device.denied.title'), t('device.denied.message')));
      case 'approved':
        return pageHeaders(reply).send(messagePage(t('device.approved.title'), t('device.approved.message')));
    }
  });
}
