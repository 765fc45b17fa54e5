/** Vite bundles imported stylesheets into the hashed CSS asset. */
declare module '*.css';
