import { hiddenFields, location, UserAgent } from './user-agent.ts';

/**
 * The user's part of an authorization code flow over HTTP, as a browser would do it:
 * GET the authorization URL → sign in on /login → allow on /consent (when asked) → the
 * redirect to the app. Answers the callback URL (with `code`, or `error`).
 */
export async function approveAuthorization(baseUrl: string, authorizeUrl: string, username: string, password: string): Promise<URL> {
  const ua = new UserAgent(baseUrl);
  const start = new URL(authorizeUrl, baseUrl);
  let res = await ua.get(start.pathname + start.search);
  let target = location(res);
  if (target.startsWith('/login')) {
    const page = await ua.get(target);
    res = await ua.post('/login', { ...hiddenFields(await page.text()), username, password });
    res = await ua.get(location(res));
    target = location(res);
  }
  if (target.startsWith('/consent')) {
    res = await ua.get(target);
    res = await ua.post('/consent', { ...hiddenFields(await res.text()), decision: 'allow' });
    target = location(res);
  }
  return new URL(target);
}
