import { chmodSync, closeSync, constants, mkdirSync, openSync, statSync } from 'node:fs';

/**
 * Files that hold secrets — the SQLite database (password hashes, hashed tokens, encrypted
 * signing keys) with its -wal, -shm and -journal files, and the key-encryption key file — are
 * owner-only: 0600 in directories Tessera creates 0700. Used by storage and by keys.
 */
export const PRIVATE_FILE_MODE = 0o600;
export const PRIVATE_DIRECTORY_MODE = 0o700;

/** Creates `dir` (and missing parents) owner-only. An existing directory is left as it is. */
export function createPrivateDirectory(dir: string): void {
  // mkdir applies the mode to every directory it creates; the umask can only narrow it.
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIRECTORY_MODE });
}

/** Creates an empty owner-only file at `path` unless one exists. */
export function createPrivateFile(path: string): void {
  try {
    closeSync(openSync(path, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, PRIVATE_FILE_MODE));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
}

/**
 * Makes each of `paths` that exists and is open to the group or others owner-only (0600), and
 * says so in one line per file for the operator (an earlier version created them 0644). A file
 * Tessera may not change (another owner) is reported instead. Missing files are skipped.
 */
export function tightenPrivateFiles(paths: string[]): string[] {
  const warnings: string[] = [];
  for (const path of paths) {
    let mode: number;
    try {
      mode = statSync(path).mode & 0o777;
    } catch {
      continue;
    }
    if ((mode & 0o077) === 0) continue;
    const was = mode.toString(8).padStart(4, '0');
    try {
      chmodSync(path, PRIVATE_FILE_MODE);
      warnings.push(`${path} was readable by other users (mode ${was}); changed it to 0600`);
    } catch (error) {
      warnings.push(`${path} is readable by other users (mode ${was}) and could not be changed (${(error as NodeJS.ErrnoException).code ?? 'error'}); make it 0600`);
    }
  }
  return warnings;
}
