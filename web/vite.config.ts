import { defineConfig } from "vite";

/**
 * The dashboard's build: `npm run build:web` (`vite build web`) bundles web/src into web/dist, which the
 * API serves at `/`. Preact's automatic JSX runtime through esbuild; no plugin, no CDN.
 */
export default defineConfig({
  base: "/",
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    modulePreload: { polyfill: false },
  },
  // `npx vite web` serves the sources with hot reload against an API on port 3000.
  server: { proxy: { "/v1": "http://127.0.0.1:3000" } },
});
