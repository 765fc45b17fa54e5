/**
 * Every email Tessera sends, its text in one place per message: the subject, the plain text
 * and the simple HTML, with `{{variable}}` placeholders. The operator may replace any part
 * from TESSERA_EMAIL_TEMPLATES_DIR (templates.ts); docs/email.md lists the variables. The
 * branding/translation work (issue 15) moves these texts into catalogues.
 *
 * Every message also has `issuer` (Tessera's URL), `username` and `product_name` (the brand's
 * name, docs/branding.md).
 */
export interface MessageText {
  /** Variables besides `issuer`, `username` and `product_name`. */
  variables: readonly string[];
  subject: string;
  text: string;
  html: string;
}

const footer = {
  text: '\n\n-- \n{{product_name}} at {{issuer}}',
  html: '<p style="color:#666;font-size:12px">{{product_name}} at {{issuer}}</p>',
};

const IF_NOT_YOU = 'If this was not you, change your password now and tell your administrator.';

const notice = (what: string, extra: string, closing = IF_NOT_YOU) => ({
  text: `Hello {{username}},\n\n${what}\n\n${extra ? `${extra}\n\n` : ''}${closing}${footer.text}`,
  html: `<p>Hello {{username}},</p><p>${what}</p>${extra ? `<p>${extra}</p>` : ''}<p>${closing}</p>${footer.html}`,
});

export const MESSAGES = {
  password_reset: {
    variables: ['link', 'expires_minutes'],
    subject: 'Reset your {{product_name}} password',
    text: `Hello {{username}},\n\nSomeone (hopefully you) asked to reset the password of your account. Open this link to choose a new one:\n\n{{link}}\n\nThe link works once, for {{expires_minutes}} minutes. If you did not ask, ignore this email: your password stays as it is.${footer.text}`,
    html: `<p>Hello {{username}},</p><p>Someone (hopefully you) asked to reset the password of your account.</p><p><a href="{{link}}">Choose a new password</a></p><p>The link works once, for {{expires_minutes}} minutes. If you did not ask, ignore this email: your password stays as it is.</p>${footer.html}`,
  },
  email_verify: {
    variables: ['link', 'email', 'expires_hours'],
    subject: 'Confirm your email address',
    text: `Hello {{username}},\n\nPlease confirm that {{email}} is your email address by opening this link:\n\n{{link}}\n\nThe link works once, for {{expires_hours}} hours.${footer.text}`,
    html: `<p>Hello {{username}},</p><p>Please confirm that {{email}} is your email address.</p><p><a href="{{link}}">Confirm my address</a></p><p>The link works once, for {{expires_hours}} hours.</p>${footer.html}`,
  },
  invite: {
    variables: ['link', 'email', 'expires_days', 'invited_by'],
    subject: 'You are invited to {{product_name}}',
    text: `Hello,\n\n{{invited_by}} invited you ({{email}}) to an account at {{issuer}}. Open this link to choose a username and a password or passkey:\n\n{{link}}\n\nThe link works once, for {{expires_days}} days.${footer.text}`,
    html: `<p>Hello,</p><p>{{invited_by}} invited you ({{email}}) to an account at {{issuer}}.</p><p><a href="{{link}}">Accept the invitation</a></p><p>The link works once, for {{expires_days}} days.</p>${footer.html}`,
  },
  notice_password_change: {
    variables: ['time', 'ip'],
    subject: 'Your {{product_name}} password was changed',
    ...notice('The password of your account was changed at {{time}} (from {{ip}}).', ''),
  },
  notice_password_reset: {
    variables: ['time', 'ip', 'by'],
    subject: 'Your {{product_name}} password was reset',
    ...notice('The password of your account was reset at {{time}} ({{by}}, from {{ip}}). Every session was signed out.', ''),
  },
  notice_factor_add: {
    variables: ['time', 'ip', 'factor_type', 'factor_name'],
    subject: 'A sign-in method was added to your {{product_name}} account',
    ...notice('A new sign-in method ({{factor_type}}: {{factor_name}}) was added to your account at {{time}} (from {{ip}}).', ''),
  },
  notice_factor_remove: {
    variables: ['time', 'ip', 'factor_type', 'factor_name'],
    subject: 'A sign-in method was removed from your {{product_name}} account',
    ...notice('A sign-in method ({{factor_type}}: {{factor_name}}) was removed from your account at {{time}} (from {{ip}}).', ''),
  },
  notice_factors_reset: {
    variables: ['time', 'ip', 'by'],
    subject: 'The second factors of your {{product_name}} account were reset',
    ...notice(
      'An administrator ({{by}}) removed every second factor, passkey and recovery code of your account at {{time}} (from {{ip}}).',
      'Until you set up a new one, you sign in with your password alone.',
      'If you did not ask for this, tell your administrator.',
    ),
  },
  notice_recovery_codes: {
    variables: ['time', 'ip'],
    subject: 'New recovery codes for your {{product_name}} account',
    ...notice('New recovery codes were made for your account at {{time}} (from {{ip}}). The earlier ones no longer work.', ''),
  },
  notice_new_device: {
    variables: ['time', 'ip'],
    subject: 'New sign-in to your {{product_name}} account',
    ...notice('Your account was signed in to from a new device or browser at {{time}} (from {{ip}}).', ''),
  },
} as const satisfies Record<string, MessageText>;

export type MessageName = keyof typeof MESSAGES;
export const MESSAGE_NAMES = Object.keys(MESSAGES) as MessageName[];
/** Variables every message has. */
export const COMMON_VARIABLES = ['issuer', 'username', 'product_name'] as const;
