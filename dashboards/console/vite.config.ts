import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
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

/** Files worth compressing (fonts and images are compressed already). */
const TEXT = new Set(['.html', '.js', '.css', '.svg', '.json']);

/**
 * Writes each text file's brotli (best quality) and gzip forms beside it (`name.br`, `name.gz`) once, at build
 * time: the service serves them as they are instead of compressing at every start (dashboards/serve-console.ts).
 */
function precompress(): Plugin {
  let outDir = '';
  return {
    name: 'careflow-precompress',
    apply: 'build',
    configResolved(config) {
      outDir = resolve(config.root, config.build.outDir);
    },
    closeBundle() {
      const walk = (dir: string) => {
        for (const name of readdirSync(dir)) {
          const path = join(dir, name);
          if (statSync(path).isDirectory()) walk(path);
          else if (TEXT.has(extname(name))) {
            const raw = readFileSync(path);
            const br = brotliCompressSync(raw, {
              params: {
                [constants.BROTLI_PARAM_QUALITY]: 11,
                [constants.BROTLI_PARAM_SIZE_HINT]: raw.length,
              },
            });
            writeFileSync(`${path}.br`, br);
            writeFileSync(`${path}.gz`, gzipSync(raw, { level: 9 }));
          }
        }
      };
      walk(outDir);
    },
  };
}

/** Builds the console into dashboards/console/dist (run by `npm run build:console`, which `npm install` runs). */
export default defineConfig({
  root: import.meta.dirname,
  base: '/',
  logLevel: 'warn',
  plugins: [vue(), noRemoteFonts(), precompress()],
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
