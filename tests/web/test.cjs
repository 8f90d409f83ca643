// test.cjs - the page at / in a real headless Chromium (Debian's /usr/bin/chromium) driven by
// puppeteer-core, against real daemons; run by tests/web/run.sh.
//
// Shown: the page loads within its weight and time budgets and asks only its own origin;
// the demonstration banner; an ultrasound image uploaded through the file input comes back
// with an overlay pixel-identical to the API's overlay for the same request; moving the
// threshold slider (by keyboard) changes the mask; a text file shows the 415's title and
// detail; a volume job on the 3-D fixture is followed to done with the progress bar moving;
// with an API key file the page asks for a key and then succeeds; axe-core finds no serious
// or critical violation in any of these states; screenshots at 1280x800 and tablet width.
'use strict';
const { spawn } = require('child_process');
const fs = require('fs');
const http = require('http');
const net = require('net');
const path = require('path');
const puppeteer = require('puppeteer-core');
const { AxePuppeteer } = require('@axe-core/puppeteer');

const OUT = process.env.WEB_OUT;
const LGMSD = process.env.LGMSD_BIN;
let failures = 0;

function check(ok, what) {
  console.log((ok ? 'ok   ' : 'FAIL ') + what);
  if (!ok) failures++;
}

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

function get(url, headers = {}) {
  return new Promise((resolve, reject) => {
    http.get(url, { headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    }).on('error', reject);
  });
}

async function daemon(...args) {
  const port = await freePort();
  const proc = spawn(LGMSD, ['serve', '--port', String(port), '--workers', '2', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stdout.on('data', (d) => { log += d; });
  proc.stderr.on('data', (d) => { log += d; });
  const url = 'http://127.0.0.1:' + port;
  for (let i = 0; i < 300; i++) {
    try { if ((await get(url + '/readyz')).status === 200) return { url, proc, log: () => log }; } catch (e) { /* not yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('lgmsd did not start:\n' + log);
}

async function axe(page, state) {
  const r = await new AxePuppeteer(page).analyze();
  const bad = r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  check(bad.length === 0, 'axe-core: no serious or critical violation (' + state + ')'
    + (bad.length ? ': ' + bad.map((v) => v.id + ' ' + v.nodes.map((n) => n.target).join(' ')).join('; ') : ''));
}

// The pixels of an image element as the page shows it, and of the API's overlay for the
// same request, both decoded by Chromium: equal arrays or not.
async function overlayMatchesApi(page, query, file) {
  return page.evaluate(async (q, bytes) => {
    const pixels = async (source) => {
      const bmp = await createImageBitmap(source);
      const c = new OffscreenCanvas(bmp.width, bmp.height);
      const g = c.getContext('2d');
      g.drawImage(bmp, 0, 0);
      return g.getImageData(0, 0, bmp.width, bmp.height).data;
    };
    const shown = await pixels(document.getElementById('img-overlay'));
    const body = Uint8Array.from(atob(bytes), (ch) => ch.charCodeAt(0));
    const res = await fetch('/v1/segment?' + q, { method: 'POST', headers: { 'Content-Type': 'image/png' }, body });
    const reply = await res.json();
    const raw = Uint8Array.from(atob(reply.overlay.base64), (ch) => ch.charCodeAt(0));
    const api = await pixels(new Blob([raw], { type: 'image/png' }));
    if (shown.length !== api.length) return 'sizes differ: ' + shown.length + ' vs ' + api.length;
    let diff = 0;
    for (let i = 0; i < api.length; i++) diff += shown[i] !== api[i];
    return diff === 0 ? 'identical' : diff + ' values differ';
  }, query, fs.readFileSync(file).toString('base64'));
}

async function maskSum(page) {
  return page.evaluate(async () => {
    const bmp = await createImageBitmap(document.getElementById('img-mask'));
    const c = new OffscreenCanvas(bmp.width, bmp.height);
    const g = c.getContext('2d');
    g.drawImage(bmp, 0, 0);
    const d = g.getImageData(0, 0, bmp.width, bmp.height).data;
    let s = 0;
    for (let i = 0; i < d.length; i += 4) s += d[i] > 0;
    return s;
  });
}

async function main() {
  const a = await daemon('--model', 'default=models/lgmsnet-phantom.lgms', '--model', 'ct=tests/fixtures/small3d-14class.lgms');
  const b = await daemon('--api-key-file', path.join(OUT, 'keys'));
  const browser = await puppeteer.launch({
    executablePath: '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
  });
  try {
    // ---- headers, gzip, caching, weight
    const page0 = await get(a.url + '/');
    const csp = page0.headers['content-security-policy'] || '';
    check(page0.status === 200 && /text\/html/.test(page0.headers['content-type']), 'GET / serves the page');
    check(/script-src 'self'/.test(csp) && /frame-ancestors 'none'/.test(csp) && !/unsafe-inline/.test(csp),
      'a strict Content-Security-Policy: ' + csp);
    check(page0.headers['referrer-policy'] === 'no-referrer' && page0.headers['x-content-type-options'] === 'nosniff',
      'Referrer-Policy no-referrer, nosniff');
    const etag = page0.headers.etag;
    check(!!etag && (await get(a.url + '/', { 'If-None-Match': etag })).status === 304, 'ETag revalidates with 304');
    const gz = await get(a.url + '/ui/app.js', { 'Accept-Encoding': 'gzip' });
    check(gz.headers['content-encoding'] === 'gzip', 'gzip when the client accepts it');
    let weight = 0;
    for (const f of ['index.html', 'app.js', 'app.css']) weight += fs.statSync(path.join('web', f)).size;
    check(weight < 100 * 1024, 'all assets together: ' + weight + ' bytes (< 100 KB)');

    // ---- the page, interactive
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 800 });
    const foreign = [];
    await page.setRequestInterception(true);
    page.on('request', (req) => {
      const u = req.url();
      if (u.startsWith(a.url) || u.startsWith(b.url) || u.startsWith('blob:') || u.startsWith('data:')) req.continue();
      else { foreign.push(u); req.abort(); }
    });
    const t0 = Date.now();
    await page.goto(a.url + '/', { waitUntil: 'domcontentloaded' });
    await page.waitForFunction(() => !document.getElementById('model').disabled);
    const interactive = Date.now() - t0;
    const nav = await page.evaluate(() => JSON.stringify(performance.getEntriesByType('navigation')[0].toJSON()));
    const domInteractive = JSON.parse(nav).domInteractive;
    check(interactive < 200, 'navigation to interactive (models listed, controls enabled): ' + interactive
      + ' ms (DOM interactive at ' + domInteractive.toFixed(1) + ' ms)');
    check(await page.$eval('#banner', (e) => !e.hidden && /not for clinical use/.test(e.textContent)),
      'the demonstration banner shows for the shipped model');
    await axe(page, 'loaded');
    await page.screenshot({ path: path.join(OUT, 'page-loaded.png') });

    // ---- an image through the file input
    const input = await page.$('#file');
    await input.uploadFile(path.join(OUT, 'scan.png'));
    await page.waitForFunction(() => !document.getElementById('result').hidden && document.getElementById('img-overlay').complete
      && document.getElementById('img-overlay').naturalWidth > 0);
    const same = await overlayMatchesApi(page, 'outputs=mask,overlay&threshold=0.5&alpha=0.4', path.join(OUT, 'scan.png'));
    check(same === 'identical', 'the overlay shown is pixel-identical to the API\'s (' + same + ')');
    check(await page.$eval('#classes tbody', (t) => t.rows.length === 1 && /lesion/.test(t.textContent)), 'the class table');
    const before = await maskSum(page);
    await axe(page, 'result');
    await page.screenshot({ path: path.join(OUT, 'page-result.png') });
    // the threshold, by keyboard: 0.50 -> 0.85
    await page.focus('#threshold');
    for (let i = 0; i < 7; i++) await page.keyboard.press('ArrowRight');
    await page.waitForFunction(() => /threshold 0\.85/.test(document.getElementById('timings').textContent), { timeout: 20000 });
    const after = await maskSum(page);
    check(after !== before, 'moving the threshold slider re-runs: lesion pixels ' + before + ' -> ' + after);
    const same2 = await overlayMatchesApi(page, 'outputs=mask,overlay&threshold=0.85&alpha=0.4', path.join(OUT, 'scan.png'));
    check(same2 === 'identical', 'and the new overlay is the API\'s too (' + same2 + ')');

    // ---- a text file: the 415 in plain words
    await input.uploadFile(path.join(OUT, 'notes.txt'));
    await page.waitForFunction(() => !document.getElementById('error').hidden);
    const err = await page.$eval('#error', (e) => e.textContent.replace(/\s+/g, ' ').trim());
    check(/\(415\)/.test(err) && /neither PNG/.test(err), 'a text file shows the 415: ' + err);
    await axe(page, 'error');
    await page.screenshot({ path: path.join(OUT, 'page-error.png') });

    // ---- tablet width
    await page.setViewport({ width: 768, height: 1024 });
    await input.uploadFile(path.join(OUT, 'scan.png'));
    await page.waitForFunction(() => document.getElementById('error').hidden && !document.getElementById('result').hidden);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
    check(!overflow, 'no horizontal scrolling at tablet width (768 px)');
    await page.screenshot({ path: path.join(OUT, 'page-tablet.png'), fullPage: true });
    await page.setViewport({ width: 1280, height: 800 });

    // ---- a volume job on the 3-D fixture
    await page.select('#model', 'ct');
    check(await page.$eval('#model-info', (e) => /3-D/.test(e.textContent)), 'the 3-D model is described as such');
    await input.uploadFile(path.join(OUT, 'ct.nii.gz'));
    const seen = new Set();
    const deadline = Date.now() + 180000;
    let state = '';
    while (Date.now() < deadline) {
      const s = await page.evaluate(() => {
        const p = document.getElementById('job-progress');
        return { v: p.hasAttribute('value') ? p.value : -1, max: p.max, state: document.getElementById('job-state').textContent };
      });
      if (s.v >= 0) seen.add(s.v + '/' + s.max);
      state = s.state;
      if (/^done/.test(state) || /^failed|^cancelled/.test(state)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    check(/^done/.test(state), 'the volume job is followed to done: ' + state);
    check(seen.size >= 3, 'the progress bar moved: ' + [...seen].join(', '));
    await page.waitForFunction(() => !document.getElementById('job-montage-fig').hidden
      && document.getElementById('job-montage').naturalWidth > 0);
    check(await page.$eval('#dl-labels', (e) => !e.hidden), 'the labels can be downloaded');
    await axe(page, 'volume done');
    await page.screenshot({ path: path.join(OUT, 'page-volume.png'), fullPage: true });
    check(foreign.length === 0, 'no request left the daemon\'s origin' + (foreign.length ? ': ' + foreign.join(' ') : ''));

    // ---- a server with API keys: the page asks, then works
    const kp = await browser.newPage();
    await kp.setViewport({ width: 1280, height: 800 });
    await kp.goto(b.url + '/', { waitUntil: 'domcontentloaded' });
    await kp.waitForFunction(() => !document.getElementById('key-section').hidden);
    await axe(kp, 'key prompt');
    await kp.screenshot({ path: path.join(OUT, 'page-key.png') });
    await kp.type('#key', 'web-test-key-0123456789');
    await kp.click('#key-form button');
    await kp.waitForFunction(() => !document.getElementById('model').disabled);
    const kin = await kp.$('#file');
    await kin.uploadFile(path.join(OUT, 'scan.png'));
    await kp.waitForFunction(() => !document.getElementById('result').hidden);
    check(await kp.$eval('#key-section', (e) => e.hidden), 'with the key the page works and the prompt is gone');

    // ---- --ui false
    const c = await daemon('--ui', 'false');
    check((await get(c.url + '/')).status === 404, '--ui false: no page');
    c.proc.kill('SIGTERM');
    console.log('web: assets ' + weight + ' bytes (gzip ' + gz.body.length + ' for app.js), interactive in '
      + interactive + ' ms; screenshots in ' + OUT);
  } finally {
    await browser.close();
    a.proc.kill('SIGTERM');
    b.proc.kill('SIGTERM');
  }
  if (failures) {
    console.log(failures + ' check(s) failed');
    process.exit(1);
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
