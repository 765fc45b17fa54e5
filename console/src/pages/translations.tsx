import type { App } from '../api.ts';

/** Language → text, as the admin API takes an app's name or a scope's description in other languages. */
export type Translations = NonNullable<App['name_translations']>;
type Language = keyof Translations;

/** The languages Tessera's pages ship in (the keys the admin API accepts), in its order. */
export const LANGUAGES = ['en', 'de', 'fr', 'es'] as const satisfies readonly Language[];
// A language the API accepts but this list misses would be a type error here.
const complete: Exclude<Language, (typeof LANGUAGES)[number]> extends never ? true : never = true;
void complete;

const names = new Intl.DisplayNames(['en'], { type: 'language' });

/** Only the languages with text, as the admin API stores them (an empty text is no translation). */
export function filled(values: Translations): Translations {
  return Object.fromEntries(LANGUAGES.map((l) => [l, values[l]?.trim() ?? '']).filter(([, v]) => v)) as Translations;
}

/**
 * A small table of the same words in each language (docs/languages.md): the pages show the
 * text for the reader's language and fall back to the text as entered where a row is empty.
 */
export function TranslationsTable({ id, caption, values, onChange, maxLength, placeholder }: { id: string; caption: string; values: Translations; onChange: (v: Translations) => void; maxLength?: number; placeholder?: string }) {
  return (
    <table className="translations" id={id}>
      <caption>{caption}</caption>
      <tbody>
        {LANGUAGES.map((l) => (
          <tr key={l}>
            <th scope="row">
              <label htmlFor={`${id}-${l}`}>
                {names.of(l)} <span className="muted">({l})</span>
              </label>
            </th>
            <td>
              <input id={`${id}-${l}`} type="text" lang={l} maxLength={maxLength} placeholder={placeholder} value={values[l] ?? ''} onChange={(e) => onChange({ ...values, [l]: e.target.value })} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/**
 * The language mail to a user (or an invitation) is written in: one of the shipped languages,
 * or "" — not known, so the server's default applies (docs/languages.md).
 */
export function LanguageSelect({ id, value, onChange, describedBy, unknownLabel }: { id: string; value: string; onChange: (v: string) => void; describedBy?: string | undefined; unknownLabel: string }) {
  return (
    <select id={id} aria-describedby={describedBy} value={value} onChange={(e) => onChange(e.target.value)}>
      <option value="">{unknownLabel}</option>
      {LANGUAGES.map((l) => (
        <option key={l} value={l}>
          {names.of(l)} ({l})
        </option>
      ))}
    </select>
  );
}
