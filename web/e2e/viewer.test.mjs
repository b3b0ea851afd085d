// End-to-end tests of the viewer in real headless Chromium (SwiftShader WebGL) against the real
// tensor-trace server (see server.mjs for the environment variables). Every test saves
// screenshots under web/test-results/ for a person to look at.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launch } from './browser.mjs';
import { binaryPath, smollm2Path, startServer } from './server.mjs';

const OUT = new URL('../test-results/', import.meta.url).pathname;
mkdirSync(OUT, { recursive: true });

/** Pixel statistics of a PNG screenshot, decoded in the page. `colors`: name → [r,g,b]. */
async function pixels(page, png, colors = {}, region = null) {
  return page.evaluate(
    async ({ b64, colors, region }) => {
      const blob = await (await fetch(`data:image/png;base64,${b64}`)).blob();
      const bmp = await createImageBitmap(blob);
      const c = new OffscreenCanvas(bmp.width, bmp.height);
      const ctx = c.getContext('2d');
      ctx.drawImage(bmp, 0, 0);
      const [x0, y0, w, h] = region ?? [0, 0, bmp.width, bmp.height];
      const d = ctx.getImageData(x0, y0, w, h).data;
      const bg = [13, 17, 23];
      let lit = 0;
      const buckets = new Set();
      const counts = Object.fromEntries(Object.keys(colors).map((k) => [k, 0]));
      for (let i = 0; i < d.length; i += 4) {
        const [r, g, b] = [d[i], d[i + 1], d[i + 2]];
        if (Math.abs(r - bg[0]) + Math.abs(g - bg[1]) + Math.abs(b - bg[2]) > 40) {
          lit++;
          buckets.add(`${r >> 5},${g >> 5},${b >> 5}`);
        }
        for (const [k, [cr, cg, cb]] of Object.entries(colors)) {
          // hue match: the lit colour is the palette colour scaled by lighting
          const s = (r + g + b) / (cr + cg + cb);
          if (s > 0.25 && Math.abs(r - cr * s) + Math.abs(g - cg * s) + Math.abs(b - cb * s) < 40) counts[k]++;
        }
      }
      return { total: d.length / 4, lit, distinctColors: buckets.size, counts };
    },
    { b64: png.toString('base64'), colors, region },
  );
}

async function shot(page, name) {
  const png = await page.screenshot({ path: `${OUT}${name}.png` });
  return png;
}

async function ready(page) {
  await page.waitForFunction(() => window.__tt && window.__tt.ready(), null, { timeout: 60_000 });
}

async function settle(page) {
  await page.waitForFunction(() => !window.__tt.flying(), null, { timeout: 10_000 });
  await page.waitForTimeout(300);
}

/** The SmolLM2 test model, or a clear failure saying how to get it. */
function requireSmollm2() {
  const model = smollm2Path();
  if (!existsSync(model))
    throw new Error(`SmolLM2 test model missing at ${model}: run scripts/fetch-test-data (CI always fetches it)`);
  return model;
}

/** A server started with `args`, a browser page on it (page errors collected), ready. */
async function openViewer(args) {
  const server = await startServer(args);
  const browser = await launch();
  const page = await browser.context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${server.url}/`);
  await ready(page);
  return {
    server,
    page,
    errors,
    close: async () => {
      await browser.close();
      await server.stop();
    },
  };
}

/** Hovers a block by name; returns the screen point. */
async function hover(page, ref) {
  await page.evaluate((r) => window.__tt.view(r), ref);
  await page.waitForTimeout(200);
  const p = await page.evaluate((r) => window.__tt.project(r), ref);
  assert.ok(p, `block ${ref} is not pickable on screen`);
  await page.mouse.move(p.x - 5, p.y - 5);
  await page.mouse.move(p.x, p.y);
  return p;
}

describe('viewer on the default graph', () => {
  let server;
  let browser;
  let page;
  const errors = [];

  before(async () => {
    server = await startServer();
    browser = await launch();
    page = await browser.context.newPage();
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${server.url}/`);
    await ready(page);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('loads the LLaMA 3.1 8B graph and draws it (canvas not blank)', async () => {
    const g = await page.evaluate(() => window.__tt.graph());
    assert.match(g.model, /8B/i, `default graph is ${g.model}`);
    assert.ok(g.nodes > 900, `only ${g.nodes} nodes`);
    await page.waitForTimeout(300);
    const png = await shot(page, '01-default');
    const px = await pixels(page, png, {}, [220, 60, 900, 680]);
    assert.ok(px.lit / px.total > 0.05, `canvas looks blank: ${px.lit} of ${px.total} pixels lit`);
    assert.ok(px.distinctColors > 20, `canvas has only ${px.distinctColors} colours`);
    assert.deepEqual(errors, []);
    assert.deepEqual(await page.evaluate(() => window.__tt.messages()), []);
  });

  it('shows the hover card of a block with its name and shape', async () => {
    await hover(page, 'attn_out-2');
    const card = page.getByTestId('hover-card');
    await card.waitFor({ state: 'visible' });
    assert.equal(await card.getByTestId('card-name').textContent(), 'attn_out-2');
    const what = await card.getByTestId('card-what').textContent();
    assert.match(what, /4096×4096 attention output weight/);
    assert.match(await card.textContent(), /\[4096×\d+\] f32/);
    await shot(page, '02-hover-card');
  });

  it('opens the code panel at the line that built the clicked block', async () => {
    const p = await hover(page, 'ffn_gate-1');
    await page.mouse.click(p.x, p.y);
    const side = page.getByTestId('side');
    await side.waitFor({ state: 'visible' });
    const id = await page.evaluate(() => window.__tt.selected());
    assert.equal(id, await page.evaluate(() => window.__tt.find('ffn_gate-1')));
    const refs = await (await fetch(`${server.url}/api/code/${id}`)).json();
    const expected = refs.ours.text.split('\n')[refs.ours.line - 1];
    const hl = page.locator('.cm-hl');
    await hl.waitFor({ state: 'visible', timeout: 10_000 });
    assert.equal((await hl.textContent()).trim(), expected.trim());
    assert.equal(await page.getByTestId('code-where').textContent(), `${refs.ours.file}:${refs.ours.line}`);
    await settle(page);
    await shot(page, '03-code-panel');
    await page.keyboard.press('Escape');
  });

  it('hides the blocks of a group from the legend', async () => {
    await page.keyboard.press('Escape');
    await page.getByTestId('side').waitFor({ state: 'hidden' });
    await page.keyboard.press('r');
    await settle(page);
    const green = { mlp: [0x5c, 0xc6, 0x6b] };
    const before = await pixels(page, await shot(page, '04a-all-groups'), green, [220, 60, 900, 680]);
    const counts0 = await page.evaluate(() => window.__tt.visibleCounts());
    await page.locator('.legend .row[data-group="mlp"] input').click();
    await page.waitForTimeout(300);
    const after = await pixels(page, await shot(page, '04b-mlp-hidden'), green, [220, 60, 900, 680]);
    const counts1 = await page.evaluate(() => window.__tt.visibleCounts());
    const total = (c) => Object.values(c).reduce((a, b) => a + b, 0);
    assert.ok(total(counts1) < total(counts0), 'no block was hidden');
    assert.ok(before.counts.mlp > 200, `few MLP-green pixels before hiding: ${before.counts.mlp}`);
    assert.ok(after.counts.mlp < before.counts.mlp / 10, `MLP still visible: ${after.counts.mlp} of ${before.counts.mlp} green pixels`);
    await page.locator('.legend .row[data-group="mlp"] input').click();
  });

  it('searches (Ctrl-K) and flies to the node', async () => {
    await page.locator('canvas').click({ position: { x: 5, y: 790 } });
    await page.keyboard.press('Escape');
    await page.keyboard.press('Control+k');
    await page.getByTestId('search-input').fill('ffn_swiglu-7');
    await page.keyboard.press('Enter');
    await settle(page);
    const want = await page.evaluate(() => window.__tt.find('ffn_swiglu-7'));
    assert.equal(await page.evaluate(() => window.__tt.selected()), want);
    const p = await page.evaluate(() => window.__tt.project('ffn_swiglu-7'));
    // in the part of the canvas between the legend and the side panel
    const side = await page.getByTestId('side').boundingBox();
    assert.ok(p && p.x > 220 && p.x < side.x && p.y > 100 && p.y < 700, `node not in view after flying: ${JSON.stringify(p)}, panel at ${side.x}`);
    await hashHas(page, 'node=ffn_swiglu-7');
    await shot(page, '05-search-flew');
  });

  it('steps along the data flow and jumps to layers with the keyboard', async () => {
    const id = (r) => page.evaluate((x) => window.__tt.find(x), r);
    const selected = () => page.evaluate(() => window.__tt.selected());
    assert.equal(await selected(), await id('ffn_swiglu-7'));
    await page.keyboard.press(']');
    assert.equal(await selected(), await id('ffn_out-7'));
    await page.keyboard.press('[');
    assert.equal(await selected(), await id('ffn_swiglu-7'));
    await page.keyboard.press('{'); // upstream: the gate projection (src0)
    assert.equal(await selected(), await id('ffn_gate-7'));
    await page.keyboard.press('}'); // downstream: its first reader
    assert.equal(await selected(), await id('ffn_swiglu-7'));
    await page.keyboard.press('Escape');
    for (const k of ['g', '1', '2', 'Enter']) await page.keyboard.press(k);
    await settle(page);
    assert.equal(await page.getByTestId('where').textContent(), 'layer 12');
    await shot(page, '05b-layer-12');
    const cam0 = await page.evaluate(() => window.__tt.camera());
    await page.keyboard.press('f');
    await page.keyboard.down('w');
    await page.waitForTimeout(400);
    await page.keyboard.up('w');
    await page.keyboard.press('f');
    const cam1 = await page.evaluate(() => window.__tt.camera());
    assert.ok(Math.hypot(...cam1.position.map((v, i) => v - cam0.position[i])) > 1, 'free flight did not move the camera');
    await page.keyboard.press('r');
    await settle(page);
    assert.match(await page.getByTestId('where').textContent(), /^(embedding|layer 0)$/);
    // the hash follows selection and camera: `]` with nothing selected goes to the first node
    const doc = await (await fetch(`${server.url}/api/graph`)).json();
    const first = doc.tensors[doc.nodes[0]].name;
    await page.keyboard.press(']');
    assert.equal(await page.evaluate(() => window.__tt.selected()), doc.nodes[0]);
    const unique = doc.tensors.filter((t) => t.name === first).length === 1;
    await hashHas(page, `node=${unique ? first : doc.nodes[0]}`);
    // leave ffn_swiglu-7 selected for the deep-link test below
    await page.evaluate(() => window.__tt.focus('ffn_swiglu-7'));
    await hashHas(page, 'node=ffn_swiglu-7');
  });

  it('switches to another preset from the selector', async () => {
    const presets = await (await fetch(`${server.url}/api/presets`)).json();
    const other = presets.find((p) => /405b/i.test(p.id));
    assert.ok(other, `no 405B preset in ${JSON.stringify(presets.map((p) => p.id))}`);
    const p2 = await browser.context.newPage();
    await p2.goto(`${server.url}/`);
    await ready(p2);
    await p2.getByTestId('presets').selectOption(other.id);
    await p2.waitForFunction(() => /405B/i.test(window.__tt.graph()?.model ?? ''), null, { timeout: 60_000 });
    await ready(p2);
    assert.ok((await p2.evaluate(() => window.__tt.graph().nodes)) > 3500);
    await hashHas(p2, `preset=${other.id}`);
    await shot(p2, '05c-preset-405b');
    // an unknown preset in a link: a clear message and the server's graph, not a blank page
    await p2.goto(`${server.url}/#preset=no-such-preset`);
    await p2.reload();
    await ready(p2);
    const msgs = await p2.evaluate(() => window.__tt.messages());
    assert.ok(msgs.some((m) => m.includes('no-such-preset')), JSON.stringify(msgs));
    await shot(p2, '05d-unknown-preset');
    await p2.close();
  });

  it('restores a deep link, and says so clearly when its node is unknown', async () => {
    const link = new URL(page.url());
    const fresh = await browser.context.newPage();
    await fresh.goto(link.toString());
    await ready(fresh);
    await settle(fresh);
    assert.equal(await fresh.evaluate(() => window.__tt.selected()), await fresh.evaluate(() => window.__tt.find('ffn_swiglu-7')));
    await fresh.goto(`${server.url}/#node=no-such-node&cam=1,2,3,0,0,0`);
    await fresh.reload();
    await ready(fresh);
    const msgs = await fresh.evaluate(() => window.__tt.messages());
    assert.ok(msgs.some((m) => m.includes('no-such-node')), `no message about the unknown node: ${JSON.stringify(msgs)}`);
    const px = await pixels(fresh, await shot(fresh, '06-unknown-node'));
    assert.ok(px.lit / px.total > 0.02, 'page is blank after an unknown deep link');
    await fresh.close();
  });
});

/** Waits until the URL hash (written a moment after the view settles) contains `text`. */
async function hashHas(page, text) {
  await page.waitForFunction((t) => decodeURIComponent(location.hash).includes(t), text, { timeout: 10_000 });
}

describe('frame times (8B and 405B presets)', () => {
  let server;
  let browser;
  const results = {};

  before(async () => {
    server = await startServer();
    browser = await launch();
  });
  after(async () => {
    writeFileSync(`${OUT}perf.json`, JSON.stringify(results, null, 2));
    await browser?.close();
    await server?.stop();
  });

  for (const preset of ['llama-3.1-8b', 'llama-3.1-405b']) {
    it(`${preset}: time to first frame and frame time while flying`, async () => {
      const presets = await (await fetch(`${server.url}/api/presets`)).json();
      assert.ok(presets.some((p) => p.id === preset), `server has no preset ${preset}: ${presets.map((p) => p.id)}`);
      const payload = await (await fetch(`${server.url}/api/graph?preset=${preset}`)).arrayBuffer();
      const page = await browser.context.newPage();
      const t0 = Date.now();
      // a deep link to a camera above the spine looking down the model
      await page.goto(`${server.url}/#preset=${preset}&cam=0,7,14,0,1,-60`);
      await ready(page);
      const wall = Date.now() - t0;
      const first = await page.evaluate(() => window.__tt.frameStats());
      await page.locator('canvas').click({ position: { x: 600, y: 790 } });
      await page.keyboard.press('Escape');
      await page.evaluate(() => window.__tt.resetFrameStats());
      await page.keyboard.down('Shift');
      await page.keyboard.down('w');
      await page.waitForTimeout(3000);
      await page.keyboard.up('w');
      await page.keyboard.up('Shift');
      const flying = await page.evaluate(() => window.__tt.frameStats());
      const renderMs = await page.evaluate(() => window.__tt.renderMs(20));
      await shot(page, `07-${preset}-flying`);
      results[preset] = {
        payloadBytes: payload.byteLength,
        firstFrameMs: Math.round(first.firstFrameMs),
        gotoToReadyMs: wall,
        framesWhileFlying: flying.frames,
        medianFrameMs: flying.medianFrameMs,
        p95FrameMs: flying.p95FrameMs,
        medianCpuMs: flying.medianCpuMs,
        renderMsReadback: Math.round(renderMs * 100) / 100,
        renderer: flying.renderer,
      };
      console.log(`# ${preset}: ${JSON.stringify(results[preset])}`);
      assert.ok(flying.frames > 10, `only ${flying.frames} frames while flying`);
      assert.ok(first.firstFrameMs < 15_000, `first frame after ${first.firstFrameMs} ms`);
      await page.close();
    });
  }
});

describe('a traced SmolLM2 run', () => {
  let server;
  let browser;
  let page;
  let model;

  before(async () => {
    model = requireSmollm2();
    server = await startServer(process.env.TT_MOCK === '1' ? [] : [model]);
    browser = await launch();
    page = await browser.context.newPage();
    await page.goto(`${server.url}/`);
    await ready(page);
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('traces a prompt from the prompt box and shows real statistics in a card', async () => {
    await page.getByTestId('prompt').fill('The capital of France is');
    await page.getByTestId('trace').click();
    await page.waitForFunction(() => window.__tt.graph()?.traced, null, { timeout: 180_000 });
    await ready(page);
    const doc = await (await fetch(`${server.url}/api/graph`)).json();
    assert.ok(doc.run, 'server graph has no run after tracing');
    assert.deepEqual(
      doc.run.tokens.map((t) => t.text),
      ['The', ' capital', ' of', ' France', ' is'],
    );
    const t = doc.tensors.find((x) => x.name === 'attn_out-1');
    assert.ok(t?.stats, 'attn_out-1 has no statistics');
    await hover(page, 'attn_out-1');
    const card = page.getByTestId('hover-card');
    await card.waitFor({ state: 'visible' });
    assert.equal(await card.getByTestId('card-name').textContent(), 'attn_out-1');
    const text = await card.textContent();
    const round = (v) => String(Math.round(v * 1e4) / 1e4);
    assert.ok(text.includes(round(t.stats.min)) && text.includes(round(t.stats.max)), `card lacks min/max ${t.stats.min}/${t.stats.max}: ${text}`);
    assert.equal(await card.getByTestId('naninf').textContent(), '0 / 0');
    await card.getByTestId('histogram').locator('canvas').waitFor({ state: 'visible', timeout: 10_000 });
    await card.getByTestId('heatmap').waitFor({ state: 'visible' });
    assert.match(await page.getByTestId('tokens').textContent(), /capital/);
    assert.match(await page.getByTestId('top5').textContent(), /Paris/);
    await shot(page, '08-traced-card');
    // the logit lens: one row per layer from GET /api/lens
    const lens = await (await fetch(`${server.url}/api/lens`)).json();
    await page.getByRole('button', { name: 'logit lens' }).click();
    await page.locator('.lens tr').first().waitFor({ state: 'visible', timeout: 20_000 });
    assert.equal(await page.locator('.lens tr').count(), lens.layers.length);
    await page.getByRole('button', { name: 'logit lens' }).click();
  });

  it('shows the attention pattern per head (GQA) of a softmax node traced without flash attention', async () => {
    await page.getByTestId('prompt').fill('The capital of France is');
    await page.locator('input[title="flash attention"]').uncheck();
    await page.getByTestId('trace').click();
    await page.waitForFunction(() => window.__tt.find('kq_soft_max-0') !== null && window.__tt.ready(), null, { timeout: 180_000 });
    await ready(page);
    const doc = await (await fetch(`${server.url}/api/graph`)).json();
    const nHead = doc.tensors.find((t) => t.name === 'kq_soft_max-0').ne[2];
    await page.keyboard.press('Control+k');
    await page.getByTestId('search-input').fill('kq_soft_max-0');
    await page.keyboard.press('Enter');
    const attn = page.getByTestId('attention');
    await attn.waitFor({ state: 'visible', timeout: 20_000 });
    const caps = await attn.locator('figcaption').allTextContents();
    assert.equal(caps.length, nHead);
    const a = await (await fetch(`${server.url}/api/attention/${await page.evaluate(() => window.__tt.selected())}`)).json();
    const group = a.n_head / a.n_head_kv;
    assert.equal(caps[nHead - 1], `q${nHead - 1} ← kv${Math.floor((nHead - 1) / group)}`);
    // causal: the first query token attends only to cell 0
    for (const head of a.heads) assert.ok(Math.abs(head[0] - 1) < 1e-5, `head row 0 = ${head.slice(0, 3)}`);
    await settle(page);
    await shot(page, '09-attention');
  });
});

describe('trace errors reach the page', { skip: process.env.TT_MOCK === '1' && 'the mock API has no memory budget' }, () => {
  let server;
  let browser;
  let page;

  before(async () => {
    const model = requireSmollm2();
    // a budget no trace fits in: the server refuses with 413 and says why
    server = await startServer([model, '--memory-budget', '64K']);
    browser = await launch();
    page = await browser.context.newPage();
    await page.goto(`${server.url}/`);
    await ready(page);
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('shows the server’s refusal and a missing prompt as messages, and keeps the graph', async () => {
    await page.getByTestId('prompt').fill('');
    await page.getByTestId('trace').click();
    await page.waitForFunction(() => window.__tt.messages().some((m) => m.includes('type a prompt')));
    await page.getByTestId('prompt').fill('The capital of France is');
    await page.getByTestId('trace').click();
    await page.waitForFunction(() => window.__tt.messages().some((m) => m.includes('budget')), null, { timeout: 30_000 });
    const msgs = await page.evaluate(() => window.__tt.messages());
    assert.ok(msgs.some((m) => m.startsWith('trace: /api/trace:') && m.includes('over the budget')), JSON.stringify(msgs));
    assert.ok((await page.evaluate(() => window.__tt.graph().nodes)) > 900, 'the graph went away after a failed trace');
    await shot(page, '10-trace-refused');
  });
});

describe('diff mode: flash attention on against off', { skip: process.env.TT_MOCK === '1' && 'the mock API has no diff' }, () => {
  let v;
  let page;
  let server;
  let dir;

  before(async () => {
    const model = requireSmollm2();
    // B: the same prompt without flash attention, saved by the CLI
    dir = mkdtempSync(join(tmpdir(), 'tt-e2e-diff-'));
    const b = join(dir, 'fa-off.ttrace');
    execFileSync(binaryPath(), ['trace', model, '--prompt', 'The capital of France is', '--flash-attn', 'off', '--out', b], { stdio: 'pipe' });
    v = await openViewer([model, '--prompt', 'The capital of France is', '--compare', b]);
    ({ page, server } = v);
    await page.getByTestId('diff').waitFor({ state: 'visible', timeout: 30_000 });
  });
  after(async () => {
    await v?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('names the first divergence, colours blocks by it, and explains a node in its card', async () => {
    const api = await (await fetch(`${server.url}/api/diff`)).json();
    const first = api.report.nodes[api.report.first_divergence];
    assert.equal(first.name, 'attn_out-0');
    const panel = page.getByTestId('diff');
    assert.equal(await panel.getByTestId('diff-first-divergence').textContent(), 'attn_out-0');
    const d = await page.evaluate(() => window.__tt.diff());
    assert.equal(d.coloring, true);
    assert.equal(d.firstDivergence, first.id_a);
    assert.equal(d.counts.diverged, api.report.nodes.filter((n) => n.diverged).length);
    assert.ok(d.counts.equal > 10, `only ${d.counts.equal} equal nodes`);
    // the panel's counts are the page's
    assert.match(await panel.getByTestId('diff-counts').textContent(), new RegExp(`diverges${d.counts.diverged}`));

    // the opening view (embedding, layers 0-7): a difference that grows through the layers
    // turns blocks orange-red; the same view in group colours has almost no orange
    await page.keyboard.press('r');
    await settle(page);
    const colors = { diverged: [0xf0, 0x8a, 0x24], mlp: [0x5c, 0xc6, 0x6b] };
    const on = await pixels(page, await shot(page, '11a-diff-colours'), colors, [220, 60, 900, 680]);
    assert.ok(on.counts.diverged > 500, `few diverged-orange pixels in diff mode: ${on.counts.diverged}`);
    await panel.getByTestId('diff-toggle').uncheck();
    await page.waitForTimeout(300);
    const off = await pixels(page, await shot(page, '11b-group-colours'), colors, [220, 60, 900, 680]);
    assert.ok(off.counts.diverged < on.counts.diverged / 5, `diff colours stay after switching off: ${off.counts.diverged} vs ${on.counts.diverged}`);
    assert.ok(off.counts.mlp > 200, `group colours did not come back: ${off.counts.mlp} MLP pixels`);
    await panel.getByTestId('diff-toggle').check();

    // fly to the first divergence: its pinned card says how far it is from B
    await panel.getByTestId('diff-first-divergence').click();
    await page.waitForFunction((id) => window.__tt.selected() === id, first.id_a);
    const card = page.getByTestId('pinned-card');
    assert.match(await card.getByTestId('diff-class').textContent(), /^diverges \(\d+ values\)$/);
    const text = await card.textContent();
    assert.ok(text.includes(`cos ${first.cosine.toFixed(6)}`), `card lacks the cosine ${first.cosine}: ${text}`);
    await settle(page);
    await shot(page, '11c-diff-first-divergence');
    assert.deepEqual(v.errors, []);
  });
});

describe('a run that produced NaN', { skip: process.env.TT_MOCK === '1' && 'the mock API has no NaN run' }, () => {
  let v;
  let page;
  let server;
  let dir;

  before(async () => {
    const model = requireSmollm2();
    // a copy of SmolLM2 with one NaN in layer 3's norm weight (written by the gguf package)
    dir = mkdtempSync(join(tmpdir(), 'tt-e2e-nan-'));
    const bad = join(dir, 'nan.gguf');
    copyFileSync(model, bad);
    execFileSync('python3', [
      '-c',
      [
        'import sys, numpy as np',
        'from gguf import GGUFReader',
        "r = GGUFReader(sys.argv[1], 'r+')",
        "t = next(t for t in r.tensors if t.name == 'blk.3.attn_norm.weight')",
        't.data[2] = np.nan',
        'r.data.flush()',
      ].join('\n'),
      bad,
    ]);
    const trace = join(dir, 'nan.ttrace');
    execFileSync(binaryPath(), ['trace', bad, '--prompt', 'The capital of France is', '--out', trace], { stdio: 'pipe' });
    v = await openViewer(['--trace', trace]);
    ({ page, server } = v);
  });
  after(async () => {
    await v?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('loads, counts the tensors with NaN, and shows a card without numbers to invent', async () => {
    const doc = await (await fetch(`${server.url}/api/graph`)).json();
    const bad = doc.nodes.filter((id) => doc.tensors[id].stats && doc.tensors[id].stats.nan + doc.tensors[id].stats.inf > 0);
    assert.ok(bad.length > 100, `only ${bad.length} tensors with NaN`);
    assert.equal(await page.getByTestId('nan-inf').textContent(), `⚠ ${bad.length} with NaN/Inf`);
    // the first tensor with NaN is layer 3's norm, which the button flies to
    await page.getByTestId('nan-inf').click();
    const first = await page.evaluate(() => window.__tt.selected());
    assert.equal(doc.tensors[first].name, 'attn_norm-3');
    assert.equal(await page.getByTestId('nan-inf').textContent(), `⚠ 1/${bad.length} with NaN/Inf`);
    // on to the next, and shift-click back
    await page.getByTestId('nan-inf').click();
    assert.equal(await page.evaluate(() => window.__tt.selected()), bad[1]);
    await page.getByTestId('nan-inf').click({ modifiers: ['Shift'] });
    assert.equal(await page.evaluate(() => window.__tt.selected()), first);
    await page.evaluate(() => window.__tt.focus('result_output'));
    const card = page.getByTestId('pinned-card');
    await card.getByTestId('naninf').waitFor({ state: 'visible' });
    assert.equal(await card.getByTestId('naninf').textContent(), '⚠ 49152 NaN, 0 Inf');
    const text = await card.textContent();
    assert.ok(text.includes('nan / nan'), `min / max of an all-NaN tensor: ${text}`);
    // the top-5 of a NaN run has no probabilities to show
    assert.match(await page.getByTestId('top5').textContent(), /no prediction: the logits are NaN/);
    await settle(page);
    await shot(page, '12-nan-run');
    assert.deepEqual(v.errors, []);
  });
});
