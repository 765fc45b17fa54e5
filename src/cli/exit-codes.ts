/** The CLI's exit codes (docs/operations.md "Exit codes" lists them for operators). */
export const EXIT = {
  /** Done. */
  ok: 0,
  /** Refused: validation, not found, conflict, not confirmed. Also an unexpected error (a bug; its stack follows). */
  refused: 1,
  /** Usage: unknown command or option, malformed flag value, an invalid setting (TESSERA_* variable or flag). */
  usage: 2,
  /** The database cannot be used: does not exist, unreachable, wrong credentials, or not writable (read-only data directory). */
  database: 3,
  /** The schema does not match this code: upgraded by a newer Tessera, or not migrated for a command that never migrates. */
  schema: 4,
  /** The key-encryption key cannot decrypt the signing keys (restore it, or `tessera keys recover`). */
  keys: 5,
  /** The server cannot listen: the address is in use, not permitted or not on this machine. */
  listen: 6,
} as const;
