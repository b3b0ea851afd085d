// Entry point: styles, then the app on #app. Any startup failure is shown in the page.
import './style.css';
import { App } from './app';

const root = document.getElementById('app')!;
try {
  const app = new App(root);
  void app.start();
} catch (e) {
  root.textContent = `tensor-trace viewer failed to start: ${e instanceof Error ? e.message : String(e)}`;
  root.style.cssText = 'padding:2em;color:#ff6b6b;font:16px sans-serif';
}
