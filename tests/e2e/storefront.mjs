// Drives the storefront widget in headless Chromium against a real server
// and checks what a shopper sees against the API's own answers.
//   node tests/e2e/storefront.mjs http://127.0.0.1:PORT http://127.0.0.1:DOWN SCREENSHOT.png http://localhost:OTHER
// DOWN is a server whose store fails (every read is a 503); OTHER serves the
// same data under another origin. PORT's server lists both in --cors-origins.
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';

const [base, down, screenshot, other] = process.argv.slice(2);
const api = async (path, init) => {
  const res = await fetch(base + path, init);
  return { status: res.status, body: res.status === 204 ? null : await res.json() };
};
const step = (name) => console.log(`e2e: ${name}`);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
});
try {
  const page = await browser.newPage({ viewport: { width: 390, height: 1400 } }); // a phone-width screen
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  const reviewIds = () => page.$$eval('#reviews li[data-review-id]', (els) => els.map((e) => Number(e.dataset.reviewId)));

  step('an unknown product gets a plain message');
  await page.goto(`${base}/?product=999999999`);
  await page.waitForFunction(() => document.querySelector('#status').textContent.includes("couldn't find"));
  assert.match(await page.textContent('#status'), /We couldn't find product 999999999\./);

  step('an overloaded or failing service gets a plain message');
  await page.goto(`${base}/?product=3&api=${encodeURIComponent(down)}`);
  await page.waitForFunction(() => document.querySelector('#status').classList.contains('error'));
  assert.equal(await page.textContent('#status'), 'Reviews are busy right now. Please try again in a moment.');
  assert.equal(await page.isHidden('#summary'), true);

  step('a crafted api link is refused');
  const unlisted = other.replace('localhost', '127.0.0.1');
  const sentThere = [];
  page.on('request', (r) => { if (r.url().startsWith(unlisted)) sentThere.push(r.url()); });
  await page.goto(`${base}/?product=2&api=${encodeURIComponent(unlisted)}`);
  await page.waitForFunction(() => document.querySelector('#status').classList.contains('error'));
  assert.match(await page.textContent('#status'), /does not trust/);
  assert.deepEqual(sentThere, [], 'nothing was sent to an unlisted origin');

  step('the API works from another origin the server lists (CORS)');
  await page.goto(`${base}/?product=2&api=${encodeURIComponent(other)}`);
  await page.waitForSelector('#reviews li[data-review-id]');
  const cross = (await api('/reviews/2?count=5')).body;
  assert.deepEqual(await reviewIds(), cross.results.map((r) => r.review_id));

  step('pick a product');
  await page.goto(`${base}/`);
  const product = 3;
  await page.fill('#product-id', String(product));
  await page.press('#product-id', 'Enter');
  await page.waitForSelector('#reviews li[data-review-id]');

  step('the histogram and summary match /meta');
  const meta = (await api(`/reviews/${product}/meta`)).body;
  const bars = await page.$$eval('#histogram li', (els) => els.map((e) => [e.dataset.stars, Number(e.dataset.count)]));
  assert.deepEqual(Object.fromEntries(bars), meta.ratings);
  assert.equal(await page.textContent('#average'), meta.average.toFixed(1));
  assert.equal(await page.textContent('#total'), `${meta.total} reviews`);
  const pct = Math.round((100 * meta.recommended.true) / meta.total);
  assert.equal(await page.textContent('#recommended'), `${pct}% recommend this product`);

  step('the first reviews match the API, in order');
  const relevant = (await api(`/reviews/${product}?count=5&sort=relevant`)).body;
  assert.deepEqual(await reviewIds(), relevant.results.map((r) => r.review_id));
  const first = relevant.results[0];
  const firstCard = page.locator(`#reviews li[data-review-id="${first.review_id}"]`);
  assert.equal(await firstCard.locator('h3').textContent(), first.summary);
  assert.equal(await firstCard.locator('.body').textContent(), first.body);

  step('change the sort');
  await page.selectOption('#sort', 'newest');
  const newest = (await api(`/reviews/${product}?count=5&sort=newest`)).body;
  await page.waitForFunction((id) => document.querySelector('#reviews li')?.dataset.reviewId === String(id), newest.results[0].review_id);
  assert.deepEqual(await reviewIds(), newest.results.map((r) => r.review_id));

  step('page on');
  await page.click('#more');
  const second = (await api(`/reviews/${product}?count=5&sort=newest&page=2`)).body;
  await page.waitForFunction((n) => document.querySelectorAll('#reviews li[data-review-id]').length === n, 5 + second.results.length);
  assert.deepEqual(await reviewIds(), [...newest.results, ...second.results].map((r) => r.review_id));

  step('mark one helpful and see the count change');
  const target = newest.results[0];
  const helpful = page.locator(`#reviews li[data-review-id="${target.review_id}"] button.helpful`);
  assert.equal(await helpful.textContent(), `Yes (${target.helpfulness})`);
  const [vote] = await Promise.all([
    page.waitForRequest((r) => r.method() === 'PUT'),
    helpful.click(),
  ]);
  assert.match(vote.headers()['idempotency-key'] || '', /^[0-9a-f-]{32,36}$/, 'a write carries an Idempotency-Key');
  await page.waitForFunction((id) => document.querySelector(`#reviews li[data-review-id="${id}"] button.helpful`).disabled, target.review_id);
  assert.equal(await helpful.textContent(), `Yes (${target.helpfulness + 1})`);
  const after = (await api(`/reviews/${product}?count=5&sort=newest`)).body;
  assert.equal(after.results.find((r) => r.review_id === target.review_id).helpfulness, target.helpfulness + 1);

  step('an invalid review shows the API message');
  await page.fill('#f-summary', 'Great');
  await page.fill('#f-body', 'Too short.');
  await page.fill('#f-name', 'Mia');
  await page.fill('#f-email', 'mia@example.com');
  await page.click('#review-form button[type=submit]');
  await page.waitForFunction(() => document.querySelector('#form-error').textContent.length > 0);
  const message = await page.textContent('#form-error');
  const expected = await api(`/reviews/${product}`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ rating: 5, summary: 'Great', body: 'Too short.', recommend: true, name: 'Mia', email: 'mia@example.com', photos: [] }),
  });
  assert.equal(expected.status, 422);
  assert.equal(message, expected.body.error);
  assert.equal(await page.getAttribute('#f-body', 'aria-invalid'), 'true');

  step('a valid review appears');
  const body = 'Lovely fit and the fabric feels sturdy after a month of wear. Would happily buy it again.';
  await page.fill('#f-body', body);
  await page.fill('#f-photos', 'https://img.example/mia-1.jpg');
  await page.click('#review-form button[type=submit]');
  await page.waitForFunction(() => document.querySelector('#status').textContent.includes('posted'));
  const top = page.locator('#reviews li[data-review-id]').first();
  assert.equal(await top.locator('.body').textContent(), body);
  assert.match(await top.locator('.meta-line').textContent(), /Mia/);
  assert.equal(await page.textContent('#total'), `${meta.total + 1} reviews`);
  assert.equal(await page.textContent('#form-error'), '');

  assert.deepEqual(pageErrors, [], 'no script errors');
  await page.screenshot({ path: screenshot, fullPage: true });
  step(`screenshot: ${screenshot}`);
} finally {
  await browser.close();
}
