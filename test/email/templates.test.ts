import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/config.ts';
import { MESSAGE_NAMES, MESSAGES } from '../../src/email/messages.ts';
import { Templates } from '../../src/email/templates.ts';
import { SHIPPED_LOCALES } from '../../src/i18n/catalogues.ts';

/** The messages' texts: built in, replaceable from a folder, variables escaped in HTML (docs/email.md). */
function folder(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-templates-'));
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  return dir;
}

describe('email templates', () => {
  test('every built-in message, in every shipped language, fills every variable it declares', () => {
    const templates = new Templates(undefined);
    for (const locale of SHIPPED_LOCALES) {
      for (const name of MESSAGE_NAMES) {
        const vars = Object.fromEntries(['issuer', 'username', 'product_name', ...MESSAGES[name].variables].map((v) => [v, `<${v}>`]));
        const out = templates.render(name, locale, vars);
        // No placeholder left, nor a catalogue key shown instead of words.
        for (const part of [out.subject, out.text, out.html]) expect(part, `${locale} ${name}`).not.toMatch(/\{|\}|mail\.[a-z_]+\./);
        // Every declared variable is used somewhere (a declared but unused one would mislead operators).
        for (const v of MESSAGES[name].variables) expect(`${out.text}${out.html}${out.subject}`, `${locale} ${name} uses ${v}`).toMatch(new RegExp(`<${v}>|&lt;${v}&gt;`));
        expect(out.text, `${locale} ${name}`).toContain('\n-- \n<product_name>');
      }
    }
    // The words are the language's: German and English differ.
    const de = templates.render('password_reset', 'de', { issuer: 'https://id.example', username: 'anna', product_name: 'Acme', link: 'https://id.example/reset?token=t', expires_minutes: 30 });
    expect(de.subject).toBe('Ihr Acme-Passwort zurücksetzen');
    expect(de.text).toBe(
      'Hallo anna,\n\nJemand (hoffentlich Sie) hat verlangt, das Passwort Ihres Kontos zurückzusetzen.\n\nNeues Passwort wählen:\nhttps://id.example/reset?token=t\n\nDer Link funktioniert einmal, 30 Minuten lang. Falls Sie das nicht verlangt haben, ignorieren Sie diese E-Mail: Ihr Passwort bleibt, wie es ist.\n\n-- \nAcme unter https://id.example',
    );
    expect(de.html).toContain('<p><a href="https://id.example/reset?token=t">Neues Passwort wählen</a></p>');
  });

  test('values are escaped in HTML, left as they are in plain text, and never break the subject line', () => {
    const templates = new Templates(folder({ 'password_reset.subject.txt': 'Reset for {{username}}\n' }));
    const out = templates.render('password_reset', 'en', { issuer: 'https://id.example', username: '<b>"x"</b>\r\nBcc: evil@example', link: 'https://id.example/reset?token=a&b', expires_minutes: 30 });
    expect(out.html).toContain('&lt;b&gt;&quot;x&quot;&lt;/b&gt;');
    expect(out.html).toContain('href="https://id.example/reset?token=a&amp;b"');
    expect(out.html).not.toContain('<b>');
    expect(out.text).toContain('<b>"x"</b>');
    expect(out.subject).toBe('Reset for <b>"x"</b> Bcc: evil@example');
    expect(templates.overridden).toEqual(['password_reset.subject']);
  });

  test('the operator folder replaces parts; a typo in a file name or a variable is a configuration error', () => {
    const ok = new Templates(folder({ 'invite.html': '<p>Join us: <a href="{{link}}">here</a> ({{ email }})</p>', 'invite.txt': 'Join: {{link}}' }));
    const vars = { issuer: 'i', username: '', product_name: 'Acme', link: 'L', email: 'e@x', expires_days: 7, invited_by: 'admin' };
    const out = ok.render('invite', 'en', vars);
    expect(out.html).toBe('<p>Join us: <a href="L">here</a> (e@x)</p>');
    expect(out.text).toBe('Join: L');
    expect(out.subject).toBe('You are invited to Acme');
    // A file without a language is for every language; one with a language wins for it alone.
    const both = new Templates(folder({ 'invite.txt': 'Join: {{link}}', 'invite.de.txt': 'Mitmachen: {{link}}', 'invite.de.subject.txt': 'Willkommen bei {{product_name}}' }));
    expect(both.render('invite', 'de', vars)).toMatchObject({ subject: 'Willkommen bei Acme', text: 'Mitmachen: L' });
    expect(both.render('invite', 'fr', vars)).toMatchObject({ subject: 'Vous êtes invité à Acme', text: 'Join: L' });
    expect(both.overridden).toEqual(['invite.de.subject', 'invite.de.text', 'invite.text']);
    expect(() => new Templates(folder({ 'invite.xx.txt': 'x' }))).toThrow(/"invite.xx.txt" is not a template name/);

    expect(() => new Templates(folder({ 'invitation.html': 'x' }))).toThrow(ConfigError);
    expect(() => new Templates(folder({ 'invitation.html': 'x' }))).toThrow(/"invitation.html" is not a template name/);
    expect(() => new Templates(folder({ 'invite.txt': 'Hi {{name}}' }))).toThrow(/invite.txt uses \{\{name\}\}, which invite does not have/);
    expect(() => new Templates('/nonexistent/templates')).toThrow(/cannot read the folder/);
  });

  test('TESSERA_SMTP_URL and TESSERA_SMTP_FROM are checked when the configuration loads', () => {
    const load = (env: Record<string, string>) => loadConfig(env).email;
    expect(load({}).smtp).toBeUndefined();
    expect(load({ TESSERA_SMTP_URL: 'smtps://u:p@mail.example:465', TESSERA_SMTP_FROM: 'Tessera <id@example.com>' }).smtp).toEqual({ url: 'smtps://u:p@mail.example:465', from: 'Tessera <id@example.com>' });
    expect(() => load({ TESSERA_SMTP_URL: 'http://mail.example', TESSERA_SMTP_FROM: 'id@example.com' })).toThrow('TESSERA_SMTP_URL must start with smtp:// or smtps:// (got "http://")');
    expect(() => load({ TESSERA_SMTP_URL: 'not a url', TESSERA_SMTP_FROM: 'id@example.com' })).toThrow(/TESSERA_SMTP_URL must be a URL/);
    expect(() => load({ TESSERA_SMTP_URL: 'smtp://mail.example' })).toThrow(/TESSERA_SMTP_FROM is not/);
    expect(() => load({ TESSERA_SMTP_FROM: 'id@example.com' })).toThrow(/TESSERA_SMTP_URL is not/);
    expect(() => load({ TESSERA_SMTP_URL: 'smtp://mail.example', TESSERA_SMTP_FROM: 'nobody' })).toThrow(/TESSERA_SMTP_FROM must be an email address/);
    // The URL may hold a password: no message repeats it.
    try {
      load({ TESSERA_SMTP_URL: 'ftp://user:hunter2@mail.example', TESSERA_SMTP_FROM: 'id@example.com' });
    } catch (error) {
      expect(String(error)).not.toContain('hunter2');
    }
  });
});
