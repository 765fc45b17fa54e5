import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';

/** A logo's type from its file name; the bytes must agree (checked by the service). */
const TYPES_BY_EXTENSION: Record<string, string> = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.gif': 'image/gif',
  '.svg': 'image/svg+xml',
};

/**
 * A logo file for `tessera branding logo` and `tessera clients logo`: its bytes and its type
 * (from --type, else its name), or the problem in one line (the caller makes it a usage error).
 */
export async function readLogo(file: string, declared: string | undefined): Promise<{ data: Buffer; type: string } | { problem: string }> {
  const type = declared ?? TYPES_BY_EXTENSION[extname(file).toLowerCase()];
  if (!type) return { problem: `cannot tell the type of ${file} from its name: give --type image/png (or jpeg, webp, gif, svg+xml)` };
  try {
    return { data: await readFile(file), type };
  } catch (error) {
    return { problem: `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}` };
  }
}
