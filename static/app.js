// The storefront's Ratings & Reviews widget. It calls the reviews API like
// any other client: fetch + JSON, If-None-Match with the ETags it has seen.
// The API's origin is this page's, or the `api` query parameter
// (e.g. /?api=https://reviews.example.com) when it names this page's origin
// or one this page's server lists (GET /widget.json): a crafted link must
// not send a shopper's name and email anywhere else.
(() => {
  'use strict';

  const params = new URLSearchParams(location.search);
  let api = '';
  const apiTrusted = trustApi(params.get('api'));

  /** Whether the `api` parameter (if any) may be used; sets `api`. */
  async function trustApi(requested) {
    if (!requested) return true;
    let origin;
    try {
      origin = new URL(requested, location.href).origin;
    } catch (e) {
      return false;
    }
    if (origin !== location.origin) {
      const res = await fetch('/widget.json').catch(() => null);
      const listed = res && res.ok ? (await res.json()).api_origins : [];
      if (!listed.includes(origin)) return false;
    }
    api = requested.replace(/\/$/, '');
    return true;
  }

  /** A fresh Idempotency-Key: one per shopper action, reused by its retry. */
  function newKey() {
    if (crypto.randomUUID) return crypto.randomUUID();
    return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
  }
  const pageSize = 5;
  const $ = (id) => document.getElementById(id);
  const state = { product: null, sort: 'relevant', page: 0, shown: 0, total: 0 };
  const etags = new Map(); // url -> { etag, body }

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === 'class') node.className = v;
      else if (k.startsWith('data-')) node.setAttribute(k, v);
      else node[k] = v;
    }
    for (const child of children) if (child != null) node.append(child);
    return node;
  }

  function say(message, isError = false) {
    const status = $('status');
    status.textContent = message;
    status.classList.toggle('error', isError);
  }

  /** GET with If-None-Match; a 304 reuses the body seen with that ETag. */
  async function getJSON(path) {
    const url = api + path;
    const seen = etags.get(url);
    const res = await fetch(url, { headers: seen ? { 'If-None-Match': seen.etag } : {} });
    if (res.status === 304 && seen) return { status: 200, body: seen.body };
    const body = await res.json().catch(() => null);
    const etag = res.headers.get('ETag');
    if (res.ok && etag) etags.set(url, { etag, body });
    return { status: res.status, body };
  }

  async function send(method, path, payload) {
    const init = { method, headers: { 'Idempotency-Key': newKey() } };
    if (payload !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(payload);
    }
    // One retry when the network fails, with the same key: if the first
    // attempt was written after all, the server answers it again.
    const res = await fetch(api + path, init).catch(() => fetch(api + path, init));
    const body = res.status === 204 ? null : await res.json().catch(() => null);
    return { status: res.status, body };
  }

  /** The sentence a shopper sees for a failed call. */
  function problem(res, what) {
    if (res.status === 404) return `We couldn't find ${what}.`;
    if (res.status === 503) return 'Reviews are busy right now. Please try again in a moment.';
    if (res.status === 429) return "You're doing that a lot. Please wait a little and try again.";
    return (res.body && res.body.error) || `Something went wrong (${res.status}).`;
  }

  function starsText(value) {
    const full = Math.round(value || 0);
    return '★'.repeat(full) + '☆'.repeat(5 - full);
  }

  function renderMeta(meta) {
    $('average').textContent = meta.average == null ? '–' : meta.average.toFixed(1);
    const stars = $('stars');
    stars.textContent = starsText(meta.average);
    stars.setAttribute('aria-label', meta.average == null ? 'No ratings yet' : `${meta.average} out of 5 stars`);
    $('total').textContent = meta.total === 1 ? '1 review' : `${meta.total} reviews`;
    const yes = meta.recommended.true;
    $('recommended').textContent = meta.total ? `${Math.round((100 * yes) / meta.total)}% recommend this product` : '';
    const histogram = $('histogram');
    histogram.replaceChildren();
    for (let stars = 5; stars >= 1; stars--) {
      const count = meta.ratings[String(stars)];
      const pct = meta.total ? (100 * count) / meta.total : 0;
      const bar = el('span');
      bar.style.width = `${pct}%`;
      histogram.append(el('li', { 'data-stars': String(stars), 'data-count': String(count) },
        el('span', {}, `${stars} star${stars > 1 ? 's' : ''}`),
        el('span', { class: 'bar', title: `${count} reviews` }, bar),
        el('span', { class: 'count' }, String(count))));
    }
    $('summary').hidden = false;
  }

  function renderReview(r) {
    const helpful = el('button', { type: 'button', class: 'link helpful' }, `Yes (${r.helpfulness})`);
    helpful.dataset.count = String(r.helpfulness);
    helpful.setAttribute('aria-label', `Mark helpful, ${r.helpfulness} found this helpful`);
    const report = el('button', { type: 'button', class: 'link report' }, 'Report');
    const item = el('li', { class: 'review', 'data-review-id': String(r.review_id) },
      el('div', { class: 'meta-line' },
        el('span', { class: 'stars', role: 'img', ariaLabel: `${r.rating} out of 5 stars` }, starsText(r.rating)),
        ` ${r.reviewer_name} · ${r.date.slice(0, 10)}${r.recommend ? ' · Recommends' : ''}`),
      el('h3', {}, r.summary),
      el('p', { class: 'body' }, r.body),
      r.response ? el('div', { class: 'response' }, el('strong', {}, 'Response from the seller: '), r.response) : null,
      r.photos.length ? el('div', { class: 'photos' }, ...r.photos.map((p, i) =>
        el('a', { href: p.url, target: '_blank', rel: 'noopener noreferrer' },
          el('img', { src: p.url, alt: `Photo ${i + 1} from ${r.reviewer_name}`, loading: 'lazy', referrerPolicy: 'no-referrer' })))) : null,
      el('div', { class: 'actions' }, 'Helpful? ', helpful, report));
    helpful.addEventListener('click', async () => {
      const res = await send('PUT', `/reviews/${r.review_id}/helpful`);
      if (res.status !== 204) return say(problem(res, 'that review'), true);
      const count = Number(helpful.dataset.count) + 1;
      helpful.dataset.count = String(count);
      helpful.textContent = `Yes (${count})`;
      helpful.disabled = true;
      say('Thanks for your feedback.');
    });
    report.addEventListener('click', async () => {
      const res = await send('PUT', `/reviews/${r.review_id}/report`);
      if (res.status !== 204) return say(problem(res, 'that review'), true);
      item.remove();
      say('Thanks — the review was reported and is hidden.');
    });
    return item;
  }

  async function loadPage(append) {
    const page = append ? state.page + 1 : 1;
    const path = `/reviews/${state.product}?page=${page}&count=${pageSize}&sort=${state.sort}`;
    const res = await getJSON(path);
    if (res.status !== 200) {
      say(problem(res, `product ${state.product}`), true);
      return false;
    }
    const list = $('reviews');
    if (!append) {
      list.replaceChildren();
      state.shown = 0;
    }
    for (const r of res.body.results) list.append(renderReview(r));
    state.page = page;
    state.shown += res.body.results.length;
    state.total = res.body.total;
    $('more').hidden = state.shown >= state.total;
    $('reviews-section').hidden = false;
    if (!state.total) list.append(el('li', { class: 'review empty' }, 'No reviews yet. Be the first to write one.'));
    return true;
  }

  async function show(product) {
    if (!/^[1-9]\d{0,18}$/.test(product)) {
      say('Enter a product id: a whole number from 1.', true);
      return;
    }
    if (!(await apiTrusted)) {
      say('This page was opened with a reviews address it does not trust, so it will not use it.', true);
      return;
    }
    state.product = product;
    say('Loading reviews…');
    try {
      const meta = await getJSON(`/reviews/${product}/meta`);
      if (meta.status !== 200) {
        for (const id of ['summary', 'reviews-section', 'write']) $(id).hidden = true;
        say(problem(meta, `product ${product}`), true);
        return;
      }
      renderMeta(meta.body);
      if (await loadPage(false)) {
        $('write').hidden = false;
        say('');
      }
    } catch (e) {
      say('The reviews service cannot be reached. Please try again later.', true);
    }
  }

  $('picker').addEventListener('submit', (e) => {
    e.preventDefault();
    show($('product-id').value.trim());
  });
  $('sort').addEventListener('change', () => {
    state.sort = $('sort').value;
    loadPage(false).catch(() => say('The reviews service cannot be reached.', true));
  });
  $('more').addEventListener('click', () => {
    loadPage(true).catch(() => say('The reviews service cannot be reached.', true));
  });

  $('review-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const form = e.target;
    for (const input of form.querySelectorAll('[aria-invalid]')) input.removeAttribute('aria-invalid');
    const payload = {
      rating: Number(form.querySelector('input[name=rating]:checked').value),
      summary: $('f-summary').value,
      body: $('f-body').value,
      recommend: $('f-recommend').checked,
      name: $('f-name').value,
      email: $('f-email').value,
      photos: $('f-photos').value.split('\n').map((s) => s.trim()).filter(Boolean),
    };
    let res;
    try {
      res = await send('POST', `/reviews/${state.product}`, payload);
    } catch (err) {
      $('form-error').textContent = 'The reviews service cannot be reached. Please try again later.';
      return;
    }
    if (res.status !== 201) {
      const message = problem(res, `product ${state.product}`);
      $('form-error').textContent = message;
      // The API names the field first ("summary must be …", "missing field `email`").
      const field = (message.match(/^(?:missing field `)?(rating|summary|body|recommend|name|email|photos)/) || [])[1];
      const input = field && form.querySelector(`[name=${field}]`);
      if (input) {
        input.setAttribute('aria-invalid', 'true');
        input.focus();
      }
      return;
    }
    $('form-error').textContent = '';
    form.reset();
    // Show the shopper their review: newest first, fresh counts.
    $('sort').value = state.sort = 'newest';
    const meta = await getJSON(`/reviews/${state.product}/meta`);
    if (meta.status === 200) renderMeta(meta.body);
    await loadPage(false);
    say('Thanks! Your review was posted.');
  });

  const initial = params.get('product');
  if (initial) $('product-id').value = initial;
  show($('product-id').value.trim());
})();
