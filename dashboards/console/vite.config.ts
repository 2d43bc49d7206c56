import vue from '@vitejs/plugin-vue';
import { defineConfig } from 'vite';

/** Builds the console into dashboards/console/dist (run by `npm run build:console`, which `npm install` runs). */
export default defineConfig({
  root: import.meta.dirname,
  base: '/',
  logLevel: 'warn',
  plugins: [vue()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    // No inline script anywhere (the CSP allows only 'self').
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 800,
  },
});
