import { defineConfig } from "vitest/config";

// The bundle is embedded into the souk binary and served by its static handler, which caches
// /assets/<name>-<hash>.<ext> forever when the hash is >= 8 alphanumerics: hex hashes never
// contain the '-' that would split them. No inline script or style (strict CSP).
export default defineConfig({
  base: "/",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
    target: "es2022",
    rolldownOptions: {
      output: {
        hashCharacters: "hex",
        entryFileNames: "assets/[name]-[hash:12].js",
        chunkFileNames: "assets/[name]-[hash:12].js",
        assetFileNames: "assets/[name]-[hash:12][extname]",
      },
    },
  },
  server: {
    proxy: { "/api": "http://127.0.0.1:8080" },
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.ts"],
  },
});
