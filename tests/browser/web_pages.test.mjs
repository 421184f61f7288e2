// Browser test of the web page (emotion and story tabs) and the dashboard in headless Chromium (playwright-core from web/node_modules).
// usage: node web_pages.test.mjs BASE_URL SCREENSHOT_DIR   (run by tests/integration/monitor_browser.sh)
import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const [base, shots] = process.argv.slice(2);
if (!base || !shots) {
  console.error('usage: node web_pages.test.mjs BASE_URL SCREENSHOT_DIR');
  process.exit(2);
}
const require = createRequire(fileURLToPath(new URL('../../web/package.json', import.meta.url)));
const { chromium } = require('playwright-core');
mkdirSync(shots, { recursive: true });

function check(condition, what) {
  if (!condition) throw new Error('FAIL: ' + what);
  console.log('ok: ' + what);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--no-first-run'],
  timeout: 60000,
});
const requestsOutside = [];
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  context.setDefaultTimeout(30000);
  const page = await context.newPage();
  // The pages must work offline: nothing but the server itself may be fetched.
  page.on('request', (r) => { if (!r.url().startsWith(base) && !r.url().startsWith('data:')) requestsOutside.push(r.url()); });
  const consoleErrors = [];
  page.on('pageerror', (e) => consoleErrors.push(String(e)));

  // --- the try-it page
  await page.goto(base + '/');
  await page.waitForFunction(() => document.getElementById('endpoint').textContent.startsWith('POST '));
  check((await page.textContent('#endpoint')) === 'POST /sentimentAnalysisONNX', 'the page found the route in /api/info');
  const css = await page.evaluate(() => getComputedStyle(document.getElementById('submit')).backgroundColor);
  check(css !== 'rgba(0, 0, 0, 0)' && css !== '', `Tailwind styles are applied (button ${css})`);

  await page.click('#submit');
  await page.waitForSelector('#error:not(.hidden)');
  check((await page.textContent('#error')).includes('Please type a sentence'), 'empty input is refused plainly');
  await page.screenshot({ path: join(shots, 'index-empty-error.png'), fullPage: true });

  const sentence = 'I am so happy today, everything went wonderfully!';
  await page.fill('#sentence', sentence);
  const answered = page.waitForResponse((r) => r.url().endsWith('/sentimentAnalysisONNX'));
  await page.click('#submit');
  const response = await answered;
  const body = await response.json();
  await page.waitForSelector('#result:not(.hidden)');
  const label = (await page.textContent('#label')).trim();
  check(label === body.predicted_label && ['happy', 'sad', 'angry', 'others'].includes(label),
        `the label is shown (${label})`);
  check(label === 'happy', 'a clearly happy sentence is classified happy');
  const bars = await page.$$eval('#bars > div', (rows) => rows.map((r) => ({
    label: r.dataset.label, width: parseFloat(r.querySelector('.h-3 .h-3').style.width),
    text: r.querySelector('.font-mono').textContent })));
  check(bars.length === 4, 'one bar per label');
  check(bars[0].label === label && bars[0].width > 0, 'the widest bar is the predicted label');
  check(Math.abs(bars.reduce((s, b) => s + b.width, 0) - 100) < 1, 'bar widths add up to 100%');
  check(/^\d+\.\d ms$/.test((await page.textContent('#latency')).trim()), 'the latency is shown');
  check(await page.isHidden('#error'), 'no error after a good answer');
  await page.screenshot({ path: join(shots, 'index-result.png'), fullPage: true });

  // A server error (API Gateway's 502 on a function error) is shown plainly, not as a result.
  await page.route('**/sentimentAnalysisONNX', (route) => route.fulfill({
    status: 502, contentType: 'application/json', body: '{"message":"Internal server error"}' }));
  await page.click('#submit');
  await page.waitForSelector('#error:not(.hidden)');
  check((await page.textContent('#error')).includes('502') &&
        (await page.textContent('#error')).includes('Internal server error'), 'a 502 is shown as an error');
  check(await page.isHidden('#result'), 'the old result is hidden on an error');
  await page.screenshot({ path: join(shots, 'index-server-error.png'), fullPage: true });
  await page.unroute('**/sentimentAnalysisONNX');

  // --- the story tab: /v1/completions streamed into the page
  check(await page.isHidden('#panel-story'), 'the story tab starts hidden');
  await page.click('#tab-story');
  check(await page.isVisible('#panel-story') && await page.isHidden('#panel-emotion'), 'the story tab opens');
  await page.fill('#prompt', '');
  await page.click('#generate');
  await page.waitForSelector('#story-error:not(.hidden)');
  check((await page.textContent('#story-error')).includes('400'), 'an empty prompt shows the 400 plainly');
  await page.fill('#prompt', 'Once upon a time');
  await page.fill('#temperature', '0');
  const storyResponse = page.waitForResponse((r) => r.url().endsWith('/v1/completions'));
  await page.click('#generate');
  check((await storyResponse).headers()['content-type'].startsWith('text/event-stream'), 'the tab asks for a stream');
  await page.waitForFunction(() => document.getElementById('story').dataset.done === 'true', null, { timeout: 60000 });
  check(await page.isHidden('#story-error'), 'no error after a streamed story');
  const shown = await page.textContent('#story');
  const chunks = Number(await page.getAttribute('#story', 'data-chunks'));
  const whole = await page.evaluate(async () => (await (await fetch('/v1/completions', { method: 'POST',
    body: JSON.stringify({ prompt: 'Once upon a time', temperature: 0, max_tokens: 256 }) })).json()).choices[0].text);
  check(shown === whole && shown.length > 100, `the streamed story equals the non-streamed greedy text (${shown.length} chars)`);
  check(chunks > 10, `the story arrived in pieces (${chunks} chunks)`);
  check(/finish_reason (stop|length)/.test(await page.textContent('#story-status')), 'the status shows how it ended');
  await page.screenshot({ path: join(shots, 'index-story.png'), fullPage: true });
  await page.click('#tab-emotion');
  check(await page.isVisible('#panel-emotion'), 'back to the emotion tab');

  // --- the dashboard
  await page.goto(base + '/dashboard');
  await page.waitForFunction(() => document.querySelectorAll('#invocations tr').length > 0);
  const rows = await page.$$eval('#invocations tr', (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
  const emotion = rows.filter((r) => r[1] === 'EmotionFunction');
  check(emotion.length >= 1, `the invocation is listed in Last invocations (${rows.length} rows)`);
  check(emotion.some((r) => r[9] === 'OK' && /ms$/.test(r[3]) && r[5] === '512 MB'), 'with its REPORT fields');
  check(emotion.some((r) => r[7] !== ''), 'the cold start shows its init duration');
  const alarms = await page.$$eval('#alarms tr', (trs) => trs.map((tr) => [tr.children[0].textContent, tr.children[1].textContent]));
  const names = alarms.map((a) => a[0]);
  for (const n of ['EmotionFunction-ConcurrentExecutions', 'EmotionFunction-Throttles', 'EmotionFunction-Errors'])
    check(names.includes(n), `alarm ${n} is shown`);
  check(alarms.every((a) => ['OK', 'ALARM', 'INSUFFICIENT_DATA'].includes(a[1])), 'each alarm shows its state');
  const cards = await page.$$eval('#cards > div', (ds) => ds.map((d) => d.children[0].textContent + '=' + d.children[1].textContent));
  check(cards.some((c) => /^Invocations=[1-9]/.test(c)), `the cards count the invocation (${cards.join(', ')})`);
  check(await page.evaluate(() => typeof window.Chart === 'function' && document.querySelectorAll('canvas').length >= 4),
        'Chart.js (served locally) draws the charts');
  await page.waitForTimeout(500);  // let the charts finish their animation before the picture
  await page.screenshot({ path: join(shots, 'dashboard.png'), fullPage: true });
  check(consoleErrors.length === 0, 'no script errors: ' + consoleErrors.join('; '));
  check(requestsOutside.length === 0, 'nothing fetched from outside the server: ' + requestsOutside.join(', '));
  console.log('PASS: web page and dashboard');
} finally {
  await browser.close();
}
