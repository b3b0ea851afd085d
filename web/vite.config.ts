// Vite build of the viewer into web/dist (embedded in the Rust binary with rust-embed).
// `--mode mock` serves a mock API (mock/api.ts) for development without the server;
// otherwise `vite` proxies /api to TT_SERVER (default http://127.0.0.1:8765, the server's default port).
import { defineConfig } from 'vite';
import { mockApiPlugin } from './mock/api.ts';

export default defineConfig(({ mode }) => ({
  base: './',
  plugins: mode === 'mock' ? [mockApiPlugin()] : [],
  server: {
    proxy: mode === 'mock' ? undefined : { '/api': process.env.TT_SERVER ?? 'http://127.0.0.1:8765' },
  },
  build: {
    outDir: 'dist',
    target: 'es2022',
    chunkSizeWarningLimit: 800,
  },
}));
