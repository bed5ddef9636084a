// Drives the storefront page in headless Chromium against a real server and
// checks what a shopper sees against the API's own answers.
//   node tests/e2e/storefront.mjs http://127.0.0.1:PORT http://127.0.0.1:DOWN SCREENSHOT.png http://localhost:OTHER
// DOWN is a server whose store fails (every read is a 503); OTHER serves the
// same data under another origin. PORT's server lists both in --cors-origins.
// Next to SCREENSHOT.png (a desktop-width page) it leaves SCREENSHOT-phone.png.
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
  /** Every image matching `selector`: scrolled to, loaded, and its natural size and URL. */
  const images = async (selector) => {
    const all = page.locator(selector);
    const out = [];
    for (let i = 0; i < await all.count(); i++) {
      const img = all.nth(i);
      await img.scrollIntoViewIfNeeded();
      await img.evaluate((e) => (e.complete ? null : new Promise((done) => {
        e.addEventListener('load', done);
        e.addEventListener('error', done);
      })));
      out.push(await img.evaluate((e) => ({ src: e.src, width: e.naturalWidth, height: e.naturalHeight })));
    }
    return out;
  };

  step('an unknown product gets a plain message');
  await page.goto(`${base}/?product=999999999`);
  await page.waitForFunction(() => document.querySelector('#status').textContent.includes("couldn't find"));
  assert.match(await page.textContent('#status'), /We couldn't find product 999999999\./);
  assert.equal(await page.isHidden('#product'), true);

  step('an overloaded or failing service gets a plain message');
  await page.goto(`${base}/?product=3&api=${encodeURIComponent(down)}`);
  await page.waitForFunction(() => document.querySelector('#status').classList.contains('error'));
  assert.equal(await page.textContent('#status'), 'Reviews are busy right now. Please try again in a moment.');
  assert.equal(await page.isHidden('#summary'), true);
  assert.equal(await page.isHidden('#product'), true);

  step('a crafted api link is refused');
  const unlisted = other.replace('localhost', '127.0.0.1');
  const sentThere = [];
  page.on('request', (r) => { if (r.url().startsWith(unlisted)) sentThere.push(r.url()); });
  await page.goto(`${base}/?product=2&api=${encodeURIComponent(unlisted)}`);
  await page.waitForFunction(() => document.querySelector('#status').classList.contains('error'));
  assert.match(await page.textContent('#status'), /does not trust/);
  assert.deepEqual(sentThere, [], 'nothing was sent to an unlisted origin');

  step('the API works from another origin the server lists (CORS), pictures included');
  const otherOrigin = other;
  await page.goto(`${base}/?product=2&api=${encodeURIComponent(otherOrigin)}`);
  await page.waitForSelector('#reviews li[data-review-id]');
  const cross = (await api('/reviews/2?count=5')).body;
  assert.deepEqual(await reviewIds(), cross.results.map((r) => r.review_id));
  const [crossImage] = await images('#product-image');
  assert.ok(crossImage.src.startsWith(`${otherOrigin}/photos/`), crossImage.src);
  assert.ok(crossImage.width > 0, 'the product picture loads from the API origin');

  step('the form takes its limits from the OpenAPI document');
  const spec = (await api('/openapi.json')).body;
  const rules = spec.components.schemas.NewReview.properties;
  assert.equal(await page.getAttribute('#f-summary', 'maxlength'), String(rules.summary.maxLength));
  assert.equal(await page.getAttribute('#f-body', 'maxlength'), String(rules.body.maxLength));
  assert.equal(await page.getAttribute('#f-name', 'maxlength'), String(rules.name.maxLength));
  assert.equal(await page.textContent('.limit[data-field="summary"]'), `(${rules.summary.minLength}–${rules.summary.maxLength} characters)`);
  await page.fill('#f-summary', '');
  await page.type('#f-summary', 'x'.repeat(rules.summary.maxLength + 10));
  assert.equal((await page.inputValue('#f-summary')).length, rules.summary.maxLength);
  assert.equal(await page.textContent('#c-summary'), `${rules.summary.maxLength} / ${rules.summary.maxLength}`);

  // A popular product whose first page of reviews has photos.
  let product;
  for (let id = 1; id <= 200 && !product; id++) {
    const first = (await api(`/reviews/${id}?count=5&sort=relevant`)).body;
    if (first.total >= 10 && first.results.some((r) => r.photos.length)) product = id;
  }
  assert.ok(product, 'a product with photos on its first page');
  const target = (await api(`/products/${product}`)).body;

  step(`search a product by name (${target.name})`);
  await page.goto(`${base}/`);
  await page.waitForSelector('#reviews li[data-review-id]'); // the default product
  const typed = target.name.split(/[\s,]+/).slice(0, 3).join(' ');
  await page.focus('#product-search');
  await page.keyboard.type(typed, { delay: 15 });
  const found = (await api(`/products?query=${encodeURIComponent(typed)}&count=8`)).body;
  assert.ok(found.results.some((p) => p.product_id === product), `${typed} finds ${target.name}`);
  await page.waitForFunction((n) => document.querySelectorAll('#product-options [data-product-id]').length === n
    && document.querySelector('#product-search').getAttribute('aria-expanded') === 'true', found.results.length);
  const options = await page.$$eval('#product-options [data-product-id]', (els) => els.map((e) => [Number(e.dataset.productId), e.querySelector('.option-name').textContent]));
  assert.deepEqual(options, found.results.map((p) => [p.product_id, p.name]), 'the options are the API\'s search results, in order');
  const position = found.results.findIndex((p) => p.product_id === product);
  for (let i = 0; i <= position; i++) await page.keyboard.press('ArrowDown');
  const active = await page.getAttribute('#product-search', 'aria-activedescendant');
  assert.equal(await page.getAttribute(`#${active}`, 'data-product-id'), String(product));
  assert.equal(await page.getAttribute(`#${active}`, 'aria-selected'), 'true');
  await page.keyboard.press('Enter');
  await page.waitForFunction((name) => document.querySelector('#product-name').textContent === name
    && document.querySelectorAll('#reviews li[data-review-id]').length > 0, target.name);

  step('the heading shows the product name');
  assert.equal(await page.textContent('h1'), target.name);
  assert.equal(await page.textContent('#product-category'), target.category);
  assert.equal(await page.getAttribute('#product-search', 'aria-expanded'), 'false');
  assert.ok((await page.title()).startsWith(target.name));
  assert.equal(new URL(page.url()).searchParams.get('product'), String(product));
  assert.equal(await page.evaluate(() => document.activeElement.id), 'product-name');

  step('the histogram and summary match /meta');
  const meta = (await api(`/reviews/${product}/meta`)).body;
  const bars = await page.$$eval('#histogram li', (els) => els.map((e) => [e.dataset.stars, Number(e.dataset.count)]));
  assert.deepEqual(Object.fromEntries(bars), meta.ratings);
  assert.equal(await page.textContent('#average'), meta.average.toFixed(1));
  assert.equal(await page.textContent('#total'), `${meta.total} reviews`);
  const pct = Math.round((100 * meta.recommended.true) / meta.total);
  assert.equal(await page.textContent('#recommended'), `${pct}% recommend this product`);

  step('the first reviews match the API, in order, photos included');
  const relevant = (await api(`/reviews/${product}?count=5&sort=relevant`)).body;
  assert.deepEqual(await reviewIds(), relevant.results.map((r) => r.review_id));
  const first = relevant.results[0];
  const firstCard = page.locator(`#reviews li[data-review-id="${first.review_id}"]`);
  assert.equal(await firstCard.locator('h4').textContent(), first.summary);
  assert.equal(await firstCard.locator('.body').textContent(), first.body);
  const withPhotos = relevant.results.find((r) => r.photos.length);
  const shown = await images(`#reviews li[data-review-id="${withPhotos.review_id}"] .photos img`);
  assert.deepEqual(shown.map((i) => i.src), withPhotos.photos.map((p) => new URL(p.url, `${base}/`).href));

  step('photos load (natural width > 0)');
  const pictures = [
    ...await images('#product-image'),
    ...await images('#gallery-photos img'),
    ...await images('#reviews .photos img'),
  ];
  assert.ok(pictures.length >= 3, `${pictures.length} pictures`);
  for (const p of pictures) assert.ok(p.width > 0 && p.height > 0, `${p.src} loaded`);
  const photo = await fetch(pictures[pictures.length - 1].src);
  assert.equal(photo.headers.get('content-type'), 'image/svg+xml');
  assert.match(photo.headers.get('cache-control'), /max-age=31536000/);
  await page.evaluate(() => window.scrollTo(0, 0));

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
  const voted = newest.results[0];
  const helpful = page.locator(`#reviews li[data-review-id="${voted.review_id}"] button.helpful`);
  assert.equal(await helpful.textContent(), `Yes (${voted.helpfulness})`);
  const [vote] = await Promise.all([
    page.waitForRequest((r) => r.method() === 'PUT'),
    helpful.click(),
  ]);
  assert.match(vote.headers()['idempotency-key'] || '', /^[0-9a-f-]{32,36}$/, 'a write carries an Idempotency-Key');
  await page.waitForFunction((id) => document.querySelector(`#reviews li[data-review-id="${id}"] button.helpful`).disabled, voted.review_id);
  assert.equal(await helpful.textContent(), `Yes (${voted.helpfulness + 1})`);
  const after = (await api(`/reviews/${product}?count=5&sort=newest`)).body;
  assert.equal(after.results.find((r) => r.review_id === voted.review_id).helpfulness, voted.helpfulness + 1);

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

  step('a valid review appears, its photo at the URL the shopper gave');
  const body = 'Lovely fit and the fabric feels sturdy after a month of wear. Would happily buy it again.';
  const given = pictures[pictures.length - 1].src; // an absolute URL that serves an image
  await page.fill('#f-body', body);
  await page.fill('#f-photos', given);
  const reads = [];
  page.on('request', (r) => { if (r.method() === 'GET') reads.push(r.url()); });
  const [postAnswer] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && r.status() === 201),
    page.click('#review-form button[type=submit]'),
  ]);
  const token = postAnswer.headers()['x-reviews-version'] || '';
  assert.match(token, new RegExp(`^${product}:\\d+$`), 'a write answers its version');
  await page.waitForFunction(() => document.querySelector('#status').textContent.includes('posted'));
  const asked = `min_version=${encodeURIComponent(token)}`;
  assert.ok(
    reads.some((u) => u.includes(`/reviews/${product}/meta?${asked}`)) &&
      reads.some((u) => u.includes(`/reviews/${product}?`) && u.includes(asked)),
    `the widget reads its own write back with min_version: ${reads.join(' ')}`,
  );
  const top = page.locator('#reviews li[data-review-id]').first();
  assert.equal(await top.locator('.body').textContent(), body);
  assert.match(await top.locator('.meta-line').textContent(), /Mia/);
  assert.equal(await page.textContent('#total'), `${meta.total + 1} reviews`);
  assert.equal(await page.textContent('#form-error'), '');
  const topId = await top.getAttribute('data-review-id');
  const [posted] = await images(`#reviews li[data-review-id="${topId}"] .photos img`);
  assert.equal(posted.src, given);
  assert.ok(posted.width > 0);
  const stored = (await api(`/reviews/${product}?count=1&sort=newest`)).body.results[0];
  assert.deepEqual(stored.photos.map((p) => p.url), [given], 'the API keeps the URL as given');

  assert.deepEqual(pageErrors, [], 'no script errors');
  await page.evaluate(() => window.scrollTo(0, 0));
  const phone = screenshot.replace(/\.png$/, '-phone.png');
  await page.screenshot({ path: phone, fullPage: true });
  await page.setViewportSize({ width: 1280, height: 1000 });
  await page.evaluate(() => window.scrollTo(0, 0));
  await images('img'); // a wider layout may load more
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: screenshot, fullPage: true });
  step(`screenshots: ${screenshot}, ${phone}`);
} finally {
  await browser.close();
}
