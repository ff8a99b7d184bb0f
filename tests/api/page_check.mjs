// Drive the verification page (GET /) in Debian's headless Chromium through playwright-core,
// one case per file, and print what the page showed as one JSON report on stdout; the
// assertions are in tests/api/test_page.py, which starts the server and runs this script.
//
//   node tests/api/page_check.mjs '{"url": "http://127.0.0.1:PORT", "files": {...}, "screenshot": "out.png"}'
//
// files: copy (a re-encoding of a certified picture), other (an unrelated picture), big (over
// the server's max_file_bytes), open (certified bytes whose epoch is still open). The
// screenshot is of the page after the `copy` case (regenerate docs/api-page.png with
// `ROSVD_PAGE_SCREENSHOT=docs/api-page.png pytest tests/api/test_page.py`, see docs/api.md).
// playwright-core never downloads a browser: it runs /usr/bin/chromium (or $CHROMIUM).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const config = JSON.parse(process.argv[2]);
const FINAL = ['verified', 'failed', 'unchecked', 'none', 'error'];
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

// Everything the page shows that the tests look at, read from the DOM.
function facts() {
  const text = (node, selector) => { const found = node.querySelector(selector); return found ? found.textContent : null; };
  const plot = document.getElementById('plot');
  const threshold = plot.querySelector('line.threshold');
  const error = document.getElementById('error');
  return {
    verdict: { state: document.getElementById('verdict').dataset.state, text: document.getElementById('verdict').textContent },
    error: error.hidden ? null : error.textContent,
    plot: {
      shown: !document.getElementById('plot-box').hidden,
      threshold: plot.dataset.threshold === undefined ? null : Number(plot.dataset.threshold),
      threshold_x: threshold ? Number(threshold.getAttribute('x1')) : null,
      axis: [...plot.querySelectorAll('text.tick-label')].map((node) => node.textContent),
      ticks_x: [...plot.querySelectorAll('text.tick-label')].map((node) => Number(node.getAttribute('x'))),
      empty: text(plot, 'text.empty'),
      points: [...plot.querySelectorAll('circle.point')].map((node) => ({
        certificate_id: node.dataset.certificateId, distance: Number(node.dataset.distance),
        cx: Number(node.getAttribute('cx')), exact: node.classList.contains('exact') })),
    },
    matches: [...document.querySelectorAll('#matches li.match')].map((card) => ({
      certificate_id: card.dataset.certificateId, distance: Number(card.dataset.distance),
      exact: card.dataset.exact === 'true', verdict: card.dataset.verdict || null,
      heading: text(card, 'h2'),
      facts: Object.fromEntries([...card.querySelectorAll('dl.facts dt')].map((dt) => [dt.textContent, dt.nextElementSibling.textContent])),
      check_verdict: text(card, '.check-verdict'), caption: text(card, '.check-table caption'),
      chain_unchecked: text(card, '.chain-unchecked'), problem: text(card, '.checks .problem'),
      unchecked: text(card, '.checks .unchecked'),
      checks: [...card.querySelectorAll('tr.check')].map((row) => ({
        name: row.dataset.name, ok: row.dataset.ok, mark: row.querySelector('.mark').textContent,
        detail: row.querySelector('.detail').textContent })),
    })),
    command: document.getElementById('trust').hidden ? null : document.getElementById('command').textContent,
    trust_note: document.getElementById('trust').hidden ? null : document.getElementById('trust-note').textContent,
  };
}

// The file dropped on the drop zone instead of picked (a DataTransfer made in the page).
async function drop(page, file) {
  const bytes = fs.readFileSync(file).toString('base64');
  await page.evaluate(([name, data]) => {
    const transfer = new DataTransfer();
    transfer.items.add(new File([Uint8Array.from(atob(data), (c) => c.charCodeAt(0))], name));
    document.getElementById('drop').dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
  }, [path.basename(file), bytes]);
}

async function pick(page, file, { setup, dropped } = {}) {
  const started = Date.now();
  await page.goto(config.url + '/');
  await page.waitForFunction(() => document.body.dataset.ready === 'true');
  if (setup) await setup(page);
  const verifications = [];
  const listener = (request) => { if (request.url().endsWith('/verification')) verifications.push(request.url()); };
  page.on('request', listener);
  if (dropped) await drop(page, file);
  else await page.setInputFiles('#file', file);
  // A page that never reaches a verdict is reported as it stands (the test's assertions say what is
  // missing) rather than ending the run.
  const timedOut = await page.waitForFunction((final) => final.includes(document.getElementById('verdict').dataset.state),
    FINAL, { timeout: 10000 }).then(() => false, () => true);
  page.off('request', listener);
  return { ...(await page.evaluate(facts)), verification_requests: verifications.length, timed_out: timedOut,
           elapsed_ms: Date.now() - started };
}

const problem = (status, detail) => ({ status, contentType: 'application/problem+json', body: JSON.stringify({
  type: 'urn:rosvd:problem:injected', title: status === 500 ? 'Internal error' : 'Too many requests', status,
  detail, instance: '/injected' }) });

const launched = Date.now();
const userData = fs.mkdtempSync(path.join(os.tmpdir(), 'rosvd-chromium-'));
const context = await chromium.launchPersistentContext(userData, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true, args: ARGS,
  viewport: { width: 1000, height: 900 } });
const report = { requests: [], page_errors: [], console: [] };
try {
  const page = await context.newPage();
  report.launch_ms = Date.now() - launched;
  page.on('request', (request) => report.requests.push(request.url()));
  page.on('pageerror', (error) => report.page_errors.push(String(error)));
  page.on('console', (message) => report.console.push(`${message.type()}: ${message.text()}`));

  report.copy = await pick(page, config.files.copy);
  if (config.screenshot) await page.screenshot({ path: config.screenshot, fullPage: true });
  report.other = await pick(page, config.files.other);
  report.dropped = await pick(page, config.files.other, { dropped: true });
  report.big = await pick(page, config.files.big);
  report.open = await pick(page, config.files.open);
  report.server_error = await pick(page, config.files.copy, { setup: (p) => p.route('**/v1/query',
    (route) => route.fulfill(problem(500, 'injected: the server failed to answer this request'))) });
  await page.unroute('**/v1/query');
  report.bad_gateway = await pick(page, config.files.copy, { setup: (p) => p.route('**/v1/query',
    (route) => route.fulfill({ status: 502, contentType: 'text/html', body: '<h1>Bad Gateway</h1>' })) });
  await page.unroute('**/v1/query');
  report.verification_refused = await pick(page, config.files.copy, { setup: (p) => p.route('**/verification',
    (route) => route.fulfill(problem(429, 'injected: slow down'))) });
  await page.unroute('**/verification');
} finally {
  await context.close();
  fs.rmSync(userData, { recursive: true, force: true });
}
process.stdout.write(JSON.stringify(report) + '\n');
