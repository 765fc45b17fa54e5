import { hiddenFields } from './user-agent.ts';

/** The hidden fields of the form posting to `action` (pages carry several forms: sign-out, per-row buttons). */
export function formFields(page: string, action: string, index = 0): Record<string, string> {
  const forms = [...page.matchAll(/<form [^>]*action="([^"]*)"[^>]*>([\s\S]*?)<\/form>/g)].filter((m) => m[1] === action.replace(/&/g, '&amp;'));
  const form = forms[index];
  if (!form) throw new Error(`no form posting to ${action} on the page`);
  return hiddenFields(form[2]!);
}
