import vue from '@vitejs/plugin-vue';
import { defineConfig, type Plugin } from 'vite';

/** Drops the UI kit's fallback icon-font URLs on a CDN (the embedded copy is used; nothing leaves the intranet). */
function noRemoteFonts(): Plugin {
  return {
    name: 'careflow-no-remote-fonts',
    transform(code, id) {
      if (!id.endsWith('.css')) return null;
      return code.replace(/,\s*url\((?:https?:)?\/\/[^)]*\)\s*format\([^)]*\)/g, '');
    },
  };
}

/** Builds the console into dashboards/console/dist (run by `npm run build:console`, which `npm install` runs). */
export default defineConfig({
  root: import.meta.dirname,
  base: '/',
  logLevel: 'warn',
  plugins: [vue(), noRemoteFonts()],
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
