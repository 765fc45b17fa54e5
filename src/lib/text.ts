import { validationError } from '../errors.ts';

/** A trimmed single-line text field of `min`..`max` characters without control characters, or a validation error. */
export function text(value: string, field: string, min: number, max: number): string {
  const v = value.trim();
  if (v.length < min) throw validationError(`${field} must not be empty`, field, { key: 'validation.text.empty' });
  if (v.length > max) throw validationError(`${field} must be at most ${max} characters`, field, { key: 'validation.text.tooLong', values: { max } });
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(v)) throw validationError(`${field} contains control characters`, field, { key: 'validation.text.controlCharacters' });
  return v;
}

export function isUuid(s: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s);
}
