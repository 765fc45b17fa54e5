import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

/**
 * The admin console: a single-page app served by Tessera at /admin/ (src/http/console-routes.ts).
 * Everything it loads comes from /admin/assets/ with hashed names, so the strict CSP
 * (script-src 'self'; style-src 'self') holds: no inline script or style anywhere.
 */
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/admin/',
  plugins: [react()],
  logLevel: 'warn',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    // The preload polyfill would be inlined; every supported browser has modulepreload.
    modulePreload: { polyfill: false },
    // Small assets as files, never data: URLs inside CSS or JS.
    assetsInlineLimit: 0,
    sourcemap: false,
    target: 'es2022',
  },
});
