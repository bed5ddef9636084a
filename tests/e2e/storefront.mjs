// Drives the storefront page in headless Chromium against a real server and
// checks what a shopper sees against the API's own answers.
//   node tests/e2e/storefront.mjs http://127.0.0.1:PORT http://127.0.0.1:DOWN SCREENSHOT.png \
//     http://localhost:OTHER ADMIN_TOKEN SCALES_JSON
// DOWN is a server whose store fails (every read is a 503); OTHER serves the
// same data under another origin. PORT's server lists both in --cors-origins
// and takes ADMIN_TOKEN on its admin routes. SCALES_JSON names the five
// labels of each characteristic's scale as the service defines them.
// Next to SCREENSHOT.png (a desktop-width page) it leaves SCREENSHOT-phone.png,
// SCREENSHOT-filtered.png (the widget filtered by a star and a word) and
// SCREENSHOT-characteristics.png (the product breakdown, a seller's response,
// and the form's characteristic questions with the API's refusal of one).
// It ends with an Atelier front end's calls made in the browser (the Atelier
// routes: the list, meta and its breakdown, a post, a vote, a report).
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';

const [base, down, screenshot, other, adminToken, scalesJson] = process.argv.slice(2);
const scales = JSON.parse(scalesJson);
const api = async (path, init) => {
  const res = await fetch(base + path, init);
  return { status: res.status, body: res.status === 204 ? null : await res.json() };
};
const json = (method, body, headers = {}) => ({
  method, headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body),
});
/** What the widget says of a characteristic's average (docs: README, "Try it"): "Size: 3.2 of 5, between Perfect and ½ a size too big". */
const scaleText = (name, average) => {
  if (average == null) return `${name}: no ratings yet`;
  const shown = Math.round(average * 10) / 10;
  const low = Math.floor(shown);
  const where = low === shown ? scales[name][low - 1] : `between ${scales[name][low - 1]} and ${scales[name][low]}`;
  return `${name}: ${shown.toFixed(1)} of 5, ${where}`;
};
/** A native meta average (2 decimals) of `sum` over `count`, as the service rounds it. */
const average2 = (sum, count) => Math.round((sum * 100) / count) / 100;
/** Each characteristic's exact sum, from the Atelier meta's 16-decimal averages and the native counts. */
const sums = (atelierMeta, nativeMeta) => Object.fromEntries(Object.entries(nativeMeta.characteristics)
  .map(([name, c]) => [name, c.count ? Math.round(parseFloat(atelierMeta.characteristics[name].value) * c.count) : 0]));
const step = (name) => console.log(`e2e: ${name}`);

// Words as the API matches `q` (docs/api.md): apostrophes and accents
// removed, lowercased, runs of letters and digits.
const fold = (text) => text.replace(/['’]/g, '').normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();
const wordsOf = (text) => fold(text).match(/[\p{L}\p{N}]+/gu) || [];
/** Words as written (apostrophes inside kept), e.g. "Doesn't". */
const written = (text) => [...text.matchAll(/[\p{L}\p{N}\p{M}]+(?:['’]+[\p{L}\p{N}\p{M}]+)*/gu)].map((m) => m[0]);
const mentions = (r, word) => [r.summary, r.body].some((t) => wordsOf(t).includes(word));
/** Whether `a` may come before `b` in `sort` (stars, then newest, then review_id desc). */
const inOrder = (sort, a, b) => {
  if (a.rating !== b.rating) return sort === 'rating_high' ? a.rating > b.rating : a.rating < b.rating;
  if (a.date !== b.date) return a.date > b.date;
  return a.review_id > b.review_id;
};

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
  /** Waits until the list, settled, shows exactly `ids`; fails showing what it shows. */
  const shows = async (ids, what) => {
    try {
      await page.waitForFunction((want) => document.querySelector('#reviews').getAttribute('aria-busy') === 'false'
        && JSON.stringify([...document.querySelectorAll('#reviews li[data-review-id]')].map((e) => Number(e.dataset.reviewId))) === JSON.stringify(want),
      ids, { timeout: 5000 });
    } catch (e) {
      assert.deepEqual(await reviewIds(), ids, what);
      throw e;
    }
  };
  const shownStars = () => page.$$eval('#reviews li[data-review-id] .meta-line .stars', (els) => els.map((e) => Number(e.getAttribute('aria-label')[0])));
  const pressed = () => page.$$eval('#histogram button[data-stars]', (els) => Object.fromEntries(els.map((e) => [e.dataset.stars, e.getAttribute('aria-pressed')])));
  const nonePressed = { 1: 'false', 2: 'false', 3: 'false', 4: 'false', 5: 'false' };
  /** The product breakdown as `p` shows it, with where each marker sits on its track (0 to 1). */
  const breakdownOf = (p) => p.$$eval('#characteristics li', (els) => els.map((e) => {
    const marker = e.querySelector('.marker');
    const track = e.querySelector('.track').getBoundingClientRect();
    const m = marker && marker.getBoundingClientRect();
    return {
      name: e.dataset.name, id: Number(e.dataset.id), count: Number(e.dataset.count),
      average: e.dataset.average === '' ? null : Number(e.dataset.average),
      shown: e.querySelector('.characteristic-average').textContent,
      role: e.querySelector('.scale').getAttribute('role'),
      alt: e.querySelector('.scale').getAttribute('aria-label'),
      ends: [...e.querySelectorAll('.scale-ends span')].map((s) => s.textContent),
      at: m ? (m.left + m.width / 2 - track.left) / track.width : null,
      visible: track.width > 0,
    };
  }));
  /** Checks a breakdown against a native meta's characteristics. */
  const assertBreakdown = (shown, meta) => {
    assert.deepEqual(shown.map((c) => c.name), Object.keys(meta.characteristics), 'every characteristic, in the order of /meta');
    for (const c of shown) {
      const want = meta.characteristics[c.name];
      assert.deepEqual([c.id, c.average, c.count], [want.id, want.average, want.count], c.name);
      assert.equal(c.shown, want.average == null ? 'No ratings yet' : (Math.round(want.average * 10) / 10).toFixed(1));
      assert.equal(c.role, 'img');
      assert.equal(c.alt, scaleText(c.name, want.average), 'the text alternative');
      assert.deepEqual(c.ends, [scales[c.name][0], scales[c.name][4]], `${c.name}: the labels of the two ends`);
      assert.ok(c.visible);
      if (want.average != null) assert.ok(Math.abs(c.at - (want.average - 1) / 4) < 0.01, `${c.name}: marker at ${c.at} for ${want.average}`);
    }
  };
  /** Clicks "More reviews" until every review of the view shows (at most `pages` pages). */
  const pageToEnd = async (pages) => {
    for (let i = 1; i < pages && await page.isVisible('#more'); i++) {
      const n = (await reviewIds()).length;
      await page.click('#more');
      await page.waitForFunction((k) => document.querySelectorAll('#reviews li[data-review-id]').length > k
        && document.querySelector('#reviews').getAttribute('aria-busy') === 'false', n);
    }
  };
  /** Pages 1..n of a view of the API, concatenated. */
  const apiPages = async (query, n) => {
    const out = [];
    for (let p = 1; p <= n; p++) {
      const body = (await api(`${query}&page=${p}`)).body;
      out.push(...body.results);
      if (body.results.length < 5) break;
    }
    return out;
  };
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

  // A popular product whose first page of reviews has photos, with 1-star reviews.
  let product;
  for (let id = 1; id <= 200 && !product; id++) {
    const first = (await api(`/reviews/${id}?count=5&sort=relevant`)).body;
    if (first.total >= 10 && first.results.some((r) => r.photos.length)
      && (await api(`/reviews/${id}/meta`)).body.ratings['1'] > 0) product = id;
  }
  assert.ok(product, 'a product with photos on its first page and 1-star reviews');
  const target = (await api(`/products/${product}`)).body;

  // The seller answers a review of the first page that has no answer yet.
  const answered = (await api(`/reviews/${product}?count=5&sort=relevant`)).body.results.find((r) => !r.response);
  assert.ok(answered, 'a review without a response on the first page');
  const answer = 'Thank you, Zoë — we’re glad it fits. Our care guide is at example.com/care.';
  const admin = { Authorization: `Bearer ${adminToken}` };
  assert.equal((await api(`/admin/reviews/${answered.review_id}/response`, json('PUT', { response: answer }, admin))).status, 204);

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

  step('the product breakdown matches /meta: names, averages, markers, labels and text alternatives');
  const characteristics = Object.entries(meta.characteristics).map(([name, c]) => ({ name, ...c }));
  assert.ok(characteristics.length >= 3 && characteristics.length <= 4, JSON.stringify(meta.characteristics));
  assert.ok(characteristics.every((c) => c.count > 0), 'generated reviews rate every characteristic');
  assertBreakdown(await breakdownOf(page), meta);
  assert.equal(await page.textContent('#breakdown-title'), 'Product breakdown');

  step('the form asks for each characteristic: five labelled, required radio choices');
  const groups = await page.$$eval('#f-characteristics fieldset', (els) => els.map((g) => ({
    id: Number(g.dataset.id), legend: g.querySelector('legend').textContent, role: g.getAttribute('role'),
    required: g.getAttribute('aria-required'),
    name: document.getElementById(g.getAttribute('aria-labelledby')).textContent,
    choices: [...g.querySelectorAll('label')].map((l) => {
      const input = l.querySelector('input[type=radio]');
      return [input.value, l.querySelector('.choice-label').textContent, input.required, input.checked];
    }),
  })));
  assert.deepEqual(groups, characteristics.map((c) => ({
    id: c.id, legend: `${c.name} (required)`, role: 'radiogroup', required: 'true', name: `${c.name} (required)`,
    choices: scales[c.name].map((label, i) => [String(i + 1), label, true, false]),
  })));

  step('the first reviews match the API, in order, photos included');
  const relevant = (await api(`/reviews/${product}?count=5&sort=relevant`)).body;
  assert.deepEqual(await reviewIds(), relevant.results.map((r) => r.review_id));
  const first = relevant.results[0];
  const firstCard = page.locator(`#reviews li[data-review-id="${first.review_id}"]`);
  assert.equal(await firstCard.locator('h4').textContent(), first.summary);
  assert.equal(await firstCard.locator('.body').textContent(), first.body);
  const withPhotos = relevant.results.find((r) => r.photos.length);

  step('the seller\'s response shows under its review as "Response from the seller"');
  const responses = await page.$$eval('#reviews li[data-review-id]', (els) => els.map((e) => [Number(e.dataset.reviewId),
    e.querySelector('.response') && [e.querySelector('.response-title').textContent, e.querySelector('.response-text').textContent,
      e.querySelector('.response').previousElementSibling.matches('.body, .photos')]]));
  assert.deepEqual(responses, relevant.results.map((r) => [r.review_id, r.response && ['Response from the seller', r.response, true]]));
  assert.deepEqual(responses.find(([id]) => id === answered.review_id)[1], ['Response from the seller', answer, true]);
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

  // Every visible review of the product, to check the API's filters against.
  const everyReview = [];
  for (let p = 1; ; p++) {
    const body = (await api(`/reviews/${product}?count=100&sort=newest&page=${p}`)).body;
    everyReview.push(...body.results);
    if (body.results.length < 100) break;
  }
  assert.equal(everyReview.length, meta.total);

  step(`the 1-star bar shows only 1-star reviews, as many as /meta counts (${meta.ratings['1']})`);
  const oneStar = (await api(`/reviews/${product}?count=5&sort=relevant&rating=1`)).body;
  assert.equal(oneStar.total, meta.ratings['1'], 'total of rating=1 is ratings["1"] of /meta');
  assert.equal(oneStar.total, everyReview.filter((r) => r.rating === 1).length);
  await page.click('#histogram button[data-stars="1"]');
  await shows(oneStar.results.map((r) => r.review_id), 'the 1-star bar shows the API\'s rating=1');
  assert.deepEqual(await pressed(), { ...nonePressed, 1: 'true' });
  assert.equal(await page.textContent('#filter-summary'), `Showing 1-star reviews · ${meta.ratings['1']} of ${meta.total}`);
  await pageToEnd(6);
  const oneStarShown = await apiPages(`/reviews/${product}?count=5&sort=relevant&rating=1`, 6);
  assert.deepEqual(await reviewIds(), oneStarShown.map((r) => r.review_id));
  assert.ok((await shownStars()).every((n) => n === 1), `only 1-star cards: ${await shownStars()}`);
  if (meta.ratings['1'] <= 30) {
    assert.equal((await reviewIds()).length, meta.ratings['1'], 'paging on shows every 1-star review');
    assert.equal(await page.isHidden('#more'), true);
  }

  step('clear filters restores every review in one click');
  await page.click('#clear-filters');
  await shows(relevant.results.map((r) => r.review_id), 'cleared: the unfiltered first page');
  assert.deepEqual(await pressed(), nonePressed);
  assert.equal(await page.isHidden('#filters'), true);
  assert.equal(await page.evaluate(() => document.activeElement.id), 'review-search');

  step('"With photos" shows only reviews with photos (toggled by click, off by keyboard)');
  const photoOnly = (await api(`/reviews/${product}?count=5&sort=relevant&with_photos=true`)).body;
  assert.equal(photoOnly.total, everyReview.filter((r) => r.photos.length > 0).length, 'total of with_photos=true');
  assert.ok(photoOnly.results.length && photoOnly.results.every((r) => r.photos.length > 0));
  await page.check('#with-photos');
  await shows(photoOnly.results.map((r) => r.review_id), 'with photos: the API\'s with_photos=true');
  for (const r of photoOnly.results) {
    assert.equal(await page.locator(`#reviews li[data-review-id="${r.review_id}"] .photos img`).count(), r.photos.length);
  }
  assert.equal(await page.textContent('#filter-summary'), `Showing reviews with photos · ${photoOnly.total} of ${meta.total}`);
  await page.focus('#with-photos');
  await page.keyboard.press('Space');
  await shows(relevant.results.map((r) => r.review_id), 'photos toggled off');
  assert.equal(await page.isChecked('#with-photos'), false);
  assert.equal(await page.isHidden('#filters'), true);

  // A word of the first shown review's body that some but not all reviews use.
  const first5 = relevant.results[0];
  const candidates = [...new Map(written(first5.body).filter((w) => wordsOf(w).length === 1 && wordsOf(w)[0].length >= 4 && wordsOf(w)[0].length <= 32)
    .map((w) => [wordsOf(w)[0], w])).values()];
  assert.ok(candidates.length, `words in ${first5.body}`);
  const uses = (w) => everyReview.filter((r) => mentions(r, wordsOf(w)[0])).length;
  const rarity = (w) => (uses(w) >= 2 && uses(w) < meta.total ? uses(w) : 1e9);
  candidates.sort((a, b) => rarity(a) - rarity(b));
  const asWritten = candidates[0];
  const word = wordsOf(asWritten)[0];
  const searched = asWritten[0].toUpperCase() + asWritten.slice(1); // case does not matter

  step(`a search for a word of a shown review ("${searched}") shows only reviews containing it, marked`);
  const matching = (await api(`/reviews/${product}?count=5&sort=relevant&q=${encodeURIComponent(searched)}`)).body;
  assert.equal(matching.total, uses(asWritten), `total of q=${searched}: the reviews whose summary or body has the word`);
  assert.ok(matching.results.every((r) => mentions(r, word)), `every q=${searched} result has the word`);
  assert.ok(matching.results.some((r) => r.review_id === first5.review_id) || matching.total > 5);
  await page.fill('#review-search', searched);
  await page.press('#review-search', 'Enter');
  await shows(matching.results.map((r) => r.review_id), `the API's q=${searched}`);
  assert.equal(await page.textContent('#filter-summary'), `Showing reviews mentioning “${searched}” · ${matching.total} of ${meta.total}`);
  for (const r of matching.results) {
    const card = page.locator(`#reviews li[data-review-id="${r.review_id}"]`);
    assert.equal(await card.locator('h4').textContent(), r.summary, 'marks leave the text as it is');
    assert.equal(await card.locator('.body').textContent(), r.body);
    const marks = await card.locator('mark').evaluateAll((els) => els.map((e) => [e.parentElement.matches('h4, p.body'), e.textContent]));
    const expected = [...written(r.summary), ...written(r.body)].filter((w) => wordsOf(w).join(' ') === word);
    assert.deepEqual(marks, expected.map((w) => [true, w]), `the marks of review ${r.review_id}`);
    assert.ok(marks.length > 0);
  }
  assert.equal(await page.locator('#reviews .response mark, #reviews .meta-line mark').count(), 0);

  step('a one-letter search word gets the API message next to the box; the list stays');
  const refused = await api(`/reviews/${product}?q=${encodeURIComponent(`${searched} x`)}`);
  assert.equal(refused.status, 400);
  await page.fill('#review-search', `${searched} x`);
  await page.press('#review-search', 'Enter');
  await page.waitForFunction(() => document.querySelector('#review-search-error').textContent.length > 0);
  assert.equal(await page.textContent('#review-search-error'), refused.body.error);
  assert.equal(await page.getAttribute('#review-search', 'aria-invalid'), 'true');
  assert.deepEqual(await reviewIds(), matching.results.map((r) => r.review_id));
  assert.equal(await page.textContent('#status'), '');

  step('a search nothing matches says so');
  const nothing = 'zzyzxq';
  assert.equal((await api(`/reviews/${product}?q=${nothing}`)).body.total, 0);
  await page.fill('#review-search', nothing);
  await page.press('#review-search', 'Enter');
  await page.waitForFunction(() => document.querySelector('#reviews li.empty') && document.querySelector('#reviews').getAttribute('aria-busy') === 'false');
  assert.equal(await page.textContent('#reviews li.empty'), `No reviews mentioning “${nothing}”. Try another filter or clear them.`);
  assert.equal(await page.textContent('#filter-summary'), `Showing reviews mentioning “${nothing}” · 0 of ${meta.total}`);
  assert.equal(await page.textContent('#review-search-error'), '');
  await page.click('#review-search-clear');
  await shows(relevant.results.map((r) => r.review_id), 'the search cleared');
  assert.equal(await page.inputValue('#review-search'), '');
  assert.equal(await page.isHidden('#filters'), true);

  step('the rating sorts order the stars (lowest first, highest first, paging on)');
  const sorted = {};
  for (const sort of ['rating_low', 'rating_high']) {
    const ten = await apiPages(`/reviews/${product}?count=5&sort=${sort}`, 2);
    const oracle = [...everyReview].sort((a, b) => (inOrder(sort, a, b) ? -1 : 1)).slice(0, 10);
    assert.deepEqual(ten.map((r) => r.review_id), oracle.map((r) => r.review_id), `sort=${sort}: stars, then newest, then review_id`);
    await page.selectOption('#sort', sort);
    await shows(ten.slice(0, 5).map((r) => r.review_id), `sort=${sort}`);
    await page.click('#more');
    await shows(ten.map((r) => r.review_id), `sort=${sort}, page 2`);
    const stars = await shownStars();
    assert.deepEqual(stars, ten.map((r) => r.rating));
    assert.ok(stars.every((n, i) => i === 0 || (sort === 'rating_high' ? stars[i - 1] >= n : stars[i - 1] <= n)), `${sort}: ${stars}`);
    sorted[sort] = ten;
  }
  assert.equal(sorted.rating_low[0].rating, 1);
  assert.equal(sorted.rating_high[0].rating, Math.max(...everyReview.map((r) => r.rating)));

  step('keyboard: Tab reaches the star bars, Enter and Space toggle one');
  await page.focus('#product-name');
  for (let i = 0; i < 12 && !await page.evaluate(() => document.activeElement.matches('#histogram button')); i++) {
    await page.keyboard.press('Tab');
  }
  assert.equal(await page.evaluate(() => document.activeElement.dataset.stars), '5', 'Tab from the heading reaches the 5-star bar');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.dataset.stars), '4');
  const four = (await api(`/reviews/${product}?count=5&sort=rating_high&rating=4`)).body;
  assert.equal(four.total, meta.ratings['4']);
  await page.keyboard.press('Enter');
  await shows(four.results.map((r) => r.review_id), 'Enter on the 4-star bar');
  assert.deepEqual(await pressed(), { ...nonePressed, 4: 'true' });
  assert.equal(await page.textContent('#filter-summary'), `Showing 4-star reviews · ${meta.ratings['4']} of ${meta.total}`);
  await page.keyboard.press('Space');
  await shows(sorted.rating_high.slice(0, 5).map((r) => r.review_id), 'Space on the pressed bar lets go');
  assert.deepEqual(await pressed(), nonePressed);
  assert.equal(await page.evaluate(() => document.activeElement.dataset.stars), '4', 'focus stays on the bar');

  const star = matching.results[0].rating;
  step(`filters combine: ${star} stars and "${searched}"; screenshot of the filtered widget`);
  const both = (await api(`/reviews/${product}?count=5&sort=rating_high&rating=${star}&q=${encodeURIComponent(searched)}`)).body;
  assert.equal(both.total, everyReview.filter((r) => r.rating === star && mentions(r, word)).length, `total of rating=${star}&q=${searched}`);
  await page.click(`#histogram button[data-stars="${star}"]`);
  await page.fill('#review-search', searched);
  await page.press('#review-search', 'Enter');
  await shows(both.results.map((r) => r.review_id), `rating=${star}&q=${searched}`);
  assert.equal(await page.textContent('#filter-summary'), `Showing ${star}-star reviews mentioning “${searched}” · ${both.total} of ${meta.total}`);
  assert.ok(await page.locator('#reviews mark').count() >= both.results.length);
  const filteredShot = screenshot.replace(/\.png$/, '-filtered.png');
  await page.setViewportSize({ width: 1280, height: 1000 });
  await images('#reviews img');
  await page.locator('#reviews-title').scrollIntoViewIfNeeded();
  await page.screenshot({ path: filteredShot, fullPage: true });
  await page.setViewportSize({ width: 390, height: 1400 });
  await page.click('#clear-filters');
  await page.selectOption('#sort', 'relevant');
  await shows(relevant.results.map((r) => r.review_id), 'everything cleared');
  assert.equal(await page.inputValue('#review-search'), '');
  step(`screenshot of the filtered widget: ${filteredShot}`);
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

  step('keyboard: Tab from the star rating reaches the first characteristic; arrows choose');
  const checkedIn = (id) => page.evaluate((n) => document.querySelector(`input[name="ch-${n}"]:checked`)?.value ?? null, id);
  await page.focus('#review-form input[name=rating]:checked');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.name), `ch-${characteristics[0].id}`);
  await page.keyboard.press('Space');
  assert.equal(await checkedIn(characteristics[0].id), '1');
  await page.keyboard.press('ArrowRight');
  assert.equal(await checkedIn(characteristics[0].id), '2');

  // Ratings far from the averages, so the meta visibly moves.
  const given = characteristics.map((c, i) => [c, [1, 5, 2, 4][i]]);
  const last = characteristics[characteristics.length - 1];
  step(`a review without a rating of ${last.name} gets the API's 422 next to that group`);
  const body = 'Lovely fit and the fabric feels sturdy after a month of wear. Would happily buy it again.';
  await page.fill('#f-body', body);
  for (const [c, v] of given.slice(0, -1)) await page.check(`input[name="ch-${c.id}"][value="${v}"]`);
  const [refusedPost] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST'),
    page.click('#review-form button[type=submit]'),
  ]);
  assert.equal(refusedPost.status(), 422);
  assert.deepEqual(JSON.parse(refusedPost.request().postData()).characteristics,
    Object.fromEntries(given.slice(0, -1).map(([c, v]) => [String(c.id), v])), 'posted by id');
  const missing = await api(`/reviews/${product}`, json('POST', {
    rating: 5, summary: 'Great', body, recommend: true, name: 'Mia', email: 'mia@example.com', photos: [],
    characteristics: Object.fromEntries(given.slice(0, -1).map(([c, v]) => [String(c.id), v])),
  }));
  assert.equal(missing.status, 422);
  assert.match(missing.body.error, new RegExp(`^characteristics: missing a rating of ${last.id} \\(${last.name}\\)`));
  const lastGroup = `#f-characteristics fieldset[data-id="${last.id}"]`;
  await page.waitForFunction((g) => document.querySelector(`${g} .field-error`).textContent.length > 0, lastGroup);
  assert.equal(await page.textContent(`${lastGroup} .field-error`), missing.body.error, 'the API message, next to its group');
  assert.equal(await page.getAttribute(lastGroup, 'aria-invalid'), 'true');
  assert.equal(await page.getAttribute(lastGroup, 'aria-describedby'), `ch-${last.id}-error`);
  assert.equal(await page.textContent('#form-error'), `Please check your rating of ${last.name} above.`);
  for (const [c] of given.slice(0, -1)) {
    assert.equal(await page.textContent(`#f-characteristics fieldset[data-id="${c.id}"] .field-error`), '');
  }
  assert.equal(await page.evaluate(() => document.activeElement.name), `ch-${last.id}`, 'focus moves to that group');
  assert.equal((await api(`/reviews/${product}/meta`)).body.total, meta.total, 'nothing was written');

  step('screenshot of the breakdown, a seller\'s response and the form\'s characteristics');
  const characteristicsShot = screenshot.replace(/\.png$/, '-characteristics.png');
  await page.setViewportSize({ width: 1280, height: 1000 });
  await page.selectOption('#sort', 'relevant');
  await page.waitForFunction((id) => document.querySelector(`#reviews li[data-review-id="${id}"] .response`)
    && document.querySelector('#reviews').getAttribute('aria-busy') === 'false', answered.review_id);
  await images('#widget img');
  await page.locator('#widget').screenshot({ path: characteristicsShot });
  await page.setViewportSize({ width: 390, height: 1400 });
  step(`screenshot of the breakdown and the form: ${characteristicsShot}`);

  step('a response the seller clears is gone from the page');
  assert.equal((await api(`/admin/reviews/${answered.review_id}/response`, json('PUT', { response: null }, admin))).status, 204);
  await page.selectOption('#sort', 'newest');
  await page.selectOption('#sort', 'relevant');
  await page.waitForFunction((id) => document.querySelector(`#reviews li[data-review-id="${id}"]`)
    && !document.querySelector(`#reviews li[data-review-id="${id}"] .response`)
    && document.querySelector('#reviews').getAttribute('aria-busy') === 'false', answered.review_id);
  await page.selectOption('#sort', 'newest');
  await shows([...newest.results, ...second.results].slice(0, 5).map((r) => r.review_id), 'back to newest');

  // The arrow keys rate the group the API named; its error goes.
  await page.focus(`${lastGroup} input[value="1"]`);
  await page.keyboard.press('Space');
  for (let i = 1; i < given[given.length - 1][1]; i++) await page.keyboard.press('ArrowRight');
  assert.equal(await checkedIn(last.id), String(given[given.length - 1][1]));
  assert.equal(await page.getAttribute(lastGroup, 'aria-invalid'), null);
  assert.equal(await page.textContent(`${lastGroup} .field-error`), '');

  step('a valid review appears, its photo at the URL the shopper gave; the breakdown counts its ratings');
  const atelierBefore = (await api(`/reviews/meta?product_id=${product}`)).body;
  const sumsBefore = sums(atelierBefore, meta);
  const photoUrl = pictures[pictures.length - 1].src; // an absolute URL that serves an image
  await page.fill('#f-photos', photoUrl);
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
  assert.deepEqual(JSON.parse(postAnswer.request().postData()).characteristics,
    Object.fromEntries(given.map(([c, v]) => [String(c.id), v])), 'every characteristic, by id');
  const top = page.locator('#reviews li[data-review-id]').first();
  assert.equal(await top.locator('.body').textContent(), body);
  assert.match(await top.locator('.meta-line').textContent(), /Mia/);
  assert.equal(await page.textContent('#total'), `${meta.total + 1} reviews`);
  assert.equal(await page.textContent('#form-error'), '');
  const topId = await top.getAttribute('data-review-id');
  const [posted] = await images(`#reviews li[data-review-id="${topId}"] .photos img`);
  assert.equal(posted.src, photoUrl);
  assert.ok(posted.width > 0);
  const stored = (await api(`/reviews/${product}?count=1&sort=newest`)).body.results[0];
  assert.deepEqual(stored.photos.map((p) => p.url), [photoUrl], 'the API keeps the URL as given');
  assert.deepEqual(stored.characteristics, Object.fromEntries(given.map(([c, v]) => [c.name, v])), 'the review keeps its ratings');
  const metaAfter = (await api(`/reviews/${product}/meta`)).body;
  for (const [c, v] of given) {
    const moved = metaAfter.characteristics[c.name];
    assert.equal(moved.count, c.count + 1, `${c.name}: one more rating`);
    assert.equal(moved.average, average2(sumsBefore[c.name] + v, c.count + 1), `${c.name}: the average with ${v}`);
  }
  await page.waitForFunction((n) => document.querySelector('#characteristics li')?.dataset.count === String(n), characteristics[0].count + 1);
  assertBreakdown(await breakdownOf(page), metaAfter);
  assert.deepEqual(await page.$$eval('#f-characteristics input:checked', (els) => els.length), 0, 'the form is cleared');

  step('a star filter after a write reads at least that version (min_version) and shows the new review');
  const unfiltered = await reviewIds();
  const readsBefore = reads.length;
  await page.click('#histogram button[data-stars="5"]');
  await page.waitForFunction((id) => document.querySelector('#reviews li[data-review-id]')?.dataset.reviewId === id
    && document.querySelector('#reviews').getAttribute('aria-busy') === 'false', topId);
  const filteredReads = reads.slice(readsBefore).filter((u) => u.includes('rating=5'));
  assert.ok(filteredReads.length && filteredReads.every((u) => u.includes(asked)), `min_version on filtered reads: ${filteredReads}`);
  assert.equal(await page.textContent('#filter-summary'), `Showing 5-star reviews · ${meta.ratings['5'] + 1} of ${meta.total + 1}`);
  await page.click('#clear-filters');
  await shows(unfiltered, 'cleared after the write');

  step('an Atelier front end in the browser: list, meta and its breakdown, a post, a vote, a report');
  // As the surveyed front ends call the API: the whole list at once
  // (count=100) sorted in the browser, meta's strings coerced with Number()
  // and parseFloat(), a post by product_id and characteristic ids (numeric
  // strings), and votes with a small JSON body.
  const shopper = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  shopper.on('pageerror', (e) => pageErrors.push(String(e)));
  await shopper.goto(`${base}/?product=${product}`);
  await shopper.waitForSelector('#reviews li[data-review-id]');
  // Reads revalidate (`cache: 'no-cache'`): the answers carry max-age=10,
  // so a browser would otherwise answer a read right after a write from
  // its own cache, without asking.
  const atelierRead = () => shopper.evaluate(async (id) => {
    const get = async (path) => (await fetch(path, { cache: 'no-cache' })).json();
    const list = await get(`/reviews/?product_id=${id}&count=100&sort=newest`);
    const meta = await get(`/reviews/meta?product_id=${id}`);
    const counts = Object.entries(meta.ratings).map(([stars, n]) => [Number(stars), Number(n)]);
    const total = counts.reduce((sum, [, n]) => sum + n, 0);
    const yes = Number(meta.recommended.true);
    return {
      list, meta, total,
      average: counts.reduce((sum, [stars, n]) => sum + stars * n, 0) / total,
      recommended: Math.round((100 * yes) / (yes + Number(meta.recommended.false))),
      breakdown: Object.entries(meta.characteristics).map(([name, c]) => ({ name, id: c.id, value: parseFloat(c.value) })),
    };
  }, product);
  const nativeNow = (await api(`/reviews/${product}/meta`)).body;
  const before = await atelierRead();
  assert.equal(before.list.product, String(product));
  const nativeList = (await api(`/reviews/${product}?count=100&sort=newest`)).body.results;
  assert.deepEqual(before.list.results.map((r) => r.review_id), nativeList.map((r) => r.review_id), 'the same reviews as the native list');
  assert.equal(before.list.results.length, Math.min(100, nativeNow.total));
  for (const r of before.list.results) {
    assert.ok(typeof r.rating === 'number' && typeof r.helpfulness === 'number' && typeof r.recommend === 'boolean', JSON.stringify(r));
    assert.ok([r.summary, r.body, r.reviewer_name].every((t) => typeof t === 'string'), JSON.stringify(r));
    assert.ok(r.response === null || (typeof r.response === 'string' && r.response.length > 0), JSON.stringify(r));
    assert.match(r.date, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/);
    assert.equal(new Date(r.date).toISOString(), r.date);
    assert.ok(r.photos.every((p) => typeof p.id === 'number' && typeof p.url === 'string'));
  }
  assert.equal(before.total, nativeNow.total);
  assert.equal(Math.round(before.average * 100) / 100, nativeNow.average);
  assert.equal(before.recommended, Math.round((100 * nativeNow.recommended.true) / nativeNow.total));
  assert.deepEqual(before.breakdown.map((c) => [c.name, c.id, Math.round(c.value * 100) / 100]),
    Object.entries(nativeNow.characteristics).map(([name, c]) => [name, c.id, c.average]), 'the breakdown a front end computes');
  const widgetShows = await breakdownOf(shopper);
  assert.deepEqual(widgetShows.map((c) => c.name), before.breakdown.map((c) => c.name));
  for (const [i, c] of before.breakdown.entries()) {
    // One decimal of the native two: within 0.055 of the exact average.
    assert.ok(Math.abs(Number(widgetShows[i].shown) - c.value) <= 0.055, `${c.name}: the widget shows ${widgetShows[i].shown} for ${c.value}`);
  }

  const rated = Object.fromEntries(before.breakdown.map((c, i) => [String(c.id), String([5, 1, 4, 2][i])]));
  const atelierBody = 'Posted the way an Atelier storefront posts it: no summary, ids and ratings as strings.';
  const post = await shopper.evaluate(async (review) => {
    const res = await fetch('/reviews', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(review) });
    return { status: res.status, body: await res.json() };
  }, {
    product_id: String(product), rating: 3, summary: '', body: atelierBody, recommend: false,
    name: 'atelier_shopper', email: 'atelier@example.com', photos: [], characteristics: rated,
  });
  assert.equal(post.status, 201, JSON.stringify(post.body));
  const newId = post.body.review_id;
  const afterPost = await atelierRead();
  const mine = afterPost.list.results[0];
  assert.deepEqual([mine.review_id, mine.rating, mine.summary, mine.body, mine.recommend, mine.helpfulness, mine.response, mine.photos],
    [newId, 3, '', atelierBody, false, 0, null, []]);
  assert.equal(afterPost.total, before.total + 1);
  assert.equal(afterPost.meta.ratings['3'], String(Number(before.meta.ratings['3']) + 1), 'counts stay strings');
  assert.equal(afterPost.meta.recommended.false, String(Number(before.meta.recommended.false) + 1));
  const nativeSums = sums(before.meta, nativeNow);
  for (const c of afterPost.breakdown) {
    const n = nativeNow.characteristics[c.name].count;
    const want = (nativeSums[c.name] + Number(rated[String(c.id)])) / (n + 1);
    assert.ok(Math.abs(c.value - want) < 1e-12, `${c.name}: ${c.value} is ${want}`);
  }

  step('a review posted with an empty summary shows without a headline');
  await shopper.selectOption('#sort', 'newest');
  await shopper.waitForFunction((id) => document.querySelector('#reviews li[data-review-id]')?.dataset.reviewId === String(id)
    && document.querySelector('#reviews').getAttribute('aria-busy') === 'false', newId);
  const card = shopper.locator(`#reviews li[data-review-id="${newId}"]`);
  assert.equal(await card.locator('h4').count(), 0, 'no empty headline');
  assert.equal(await card.locator('.body').textContent(), atelierBody);
  assert.match(await card.locator('.meta-line').textContent(), /atelier_shopper/);
  assert.equal(await card.locator('.stars').getAttribute('aria-label'), '3 out of 5 stars');

  step('helpful and report with small JSON bodies, as Atelier clients send them');
  const put = (path, body) => shopper.evaluate(async ([p, b]) => {
    const res = await fetch(p, { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(b) });
    return res.status;
  }, [path, body]);
  assert.equal(await put(`/reviews/${newId}/helpful`, { helpfulness: mine.helpfulness + 1 }), 204);
  const voted2 = (await atelierRead()).list.results.find((r) => r.review_id === newId);
  assert.equal(voted2.helpfulness, 1, 'the vote counts once, the body ignored');
  assert.equal(await put(`/reviews/${newId}/report`, { review_id: newId }), 204);
  const afterReport = await atelierRead();
  assert.ok(!afterReport.list.results.some((r) => r.review_id === newId), 'a reported review is gone from the list');
  assert.deepEqual(afterReport.meta, before.meta, 'and from the meta: counts and averages as before the post');
  await shopper.close();

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
