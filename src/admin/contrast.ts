/**
 * WCAG 2.x contrast (https://www.w3.org/TR/WCAG22/#dfn-contrast-ratio): the relative
 * luminance of two sRGB colours, and the ratio (L1 + 0.05) / (L2 + 0.05). Level AA asks for
 * 4.5:1 for normal text (success criterion 1.4.3).
 */
export const AA_TEXT_RATIO = 4.5;

/** `#rrggbb` → [r, g, b] in 0..255. The caller has validated the format. */
function rgb(hex: string): [number, number, number] {
  const n = Number.parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

export function relativeLuminance(hex: string): number {
  const [r, g, b] = rgb(hex).map((c) => {
    const s = c / 255;
    return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  }) as [number, number, number];
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

export function contrastRatio(a: string, b: string): number {
  const la = relativeLuminance(a);
  const lb = relativeLuminance(b);
  return (Math.max(la, lb) + 0.05) / (Math.min(la, lb) + 0.05);
}

/** Of the candidates, the one that reads best on `background` (the first on a tie). */
export function bestTextOn(background: string, candidates: readonly string[]): string {
  let best = candidates[0]!;
  for (const c of candidates) if (contrastRatio(c, background) > contrastRatio(best, background)) best = c;
  return best;
}

/** `#rrggbb` mixed towards black by `amount` (0..1): the primary colour's hover shade. */
export function darken(hex: string, amount: number): string {
  return `#${rgb(hex)
    .map((c) => Math.round(c * (1 - amount)).toString(16).padStart(2, '0'))
    .join('')}`;
}
