/** esbuild bundles CSS imported from the entry (app-<hash>.css). */
declare module '*.css';
