import type { UsersTable } from '../storage/schema.ts';

export interface User {
  id: string;
  username: string;
  email: string | null;
  emailVerified: boolean;
  name: string | null;
  givenName: string | null;
  familyName: string | null;
  passwordHash: string | null;
  passwordChangedAt: number | null;
  disabled: boolean;
  /** Tokens issued for this user with `iat` before this (epoch s) are invalid. */
  tokensValidAfter: number;
  createdAt: number;
  updatedAt: number;
  /**
   * The language mail to the user is written in (docs/languages.md): the locale of the pages
   * where they last signed in or chose one. Absent or null: not known (the operator's default).
   */
  locale?: string | null;
}

/** A user with what their roles grant: what tokens issued for them carry. */
export interface Principal {
  user: User;
  roles: string[];
  permissions: string[];
}

/** Usernames are unique case-insensitively ("Alice" and "alice" are one account). */
export function usernameKey(username: string): string {
  return username.normalize('NFKC').toLowerCase();
}

export function userFromRow(row: UsersTable): User {
  return {
    id: row.id,
    username: row.username,
    email: row.email,
    emailVerified: row.email_verified === 1,
    name: row.name,
    givenName: row.given_name,
    familyName: row.family_name,
    passwordHash: row.password_hash,
    passwordChangedAt: row.password_changed_at,
    disabled: row.disabled === 1,
    tokensValidAfter: row.tokens_valid_after,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    // Absent rather than null when not known, so a user made before it was known reads back the same.
    ...(row.locale ? { locale: row.locale } : {}),
  };
}

export function userToRow(user: User): UsersTable {
  return {
    id: user.id,
    username: user.username,
    username_key: usernameKey(user.username),
    email: user.email,
    email_verified: user.emailVerified ? 1 : 0,
    name: user.name,
    given_name: user.givenName,
    family_name: user.familyName,
    password_hash: user.passwordHash,
    password_changed_at: user.passwordChangedAt,
    disabled: user.disabled ? 1 : 0,
    tokens_valid_after: user.tokensValidAfter,
    created_at: user.createdAt,
    updated_at: user.updatedAt,
    locale: user.locale ?? null,
  };
}
