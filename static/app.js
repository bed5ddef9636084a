// A storefront's product page around the Ratings & Reviews widget. It calls
// the reviews API like any other client: fetch + JSON, If-None-Match with
// the ETags it has seen. The API's origin is this page's, or the `api` query
// parameter (e.g. /?api=https://reviews.example.com) when it names this
// page's origin or one this page's server lists (GET /widget.json): a
// crafted link must not send a shopper's name and email anywhere else.
// URLs the API gives as paths (generated photos) are resolved against it.
// `?product=N` opens product N. A shopper narrows a product's reviews with
// the API's filters (a star bar, "With photos", a search within the
// reviews) and its sorts; searched words are marked in what is shown.
// Under the histogram, the product breakdown shows each of the product's
// characteristics (Size, Comfort, …: GET /reviews/:id/meta) on its labelled
// 1–5 scale, and the form asks the shopper to rate each of them.
(() => {
  'use strict';

  const params = new URLSearchParams(location.search);
  let api = '';
  let apiBase = `${location.origin}/`;
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
    apiBase = `${api}/`;
    return true;
  }

  /** A fresh Idempotency-Key: one per shopper action, reused by its retry. */
  function newKey() {
    if (crypto.randomUUID) return crypto.randomUUID();
    return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
  }
  const pageSize = 5;
  const defaultProduct = '1'; // the most reviewed product of a generated data set
  const $ = (id) => document.getElementById(id);
  const noFilter = Object.freeze({ rating: null, photos: false, q: '' });
  // `filter`: the star (1..5 or null), photos only, and the search words
  // of the list shown; `seq` numbers list loads so only the latest renders.
  const state = { product: null, sort: 'relevant', filter: noFilter, page: 0, shown: 0, total: 0, reviews: 0, seq: 0 };
  const etags = new Map(); // url -> { etag, body }

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === 'class') node.className = v;
      else if (k.startsWith('data-') || k.startsWith('aria-') || k === 'role') node.setAttribute(k, v);
      else node[k] = v;
    }
    for (const child of children) if (child != null) node.append(child);
    return node;
  }

  /** An absolute URL for one the API gave: generated photos come as paths on its origin. */
  const resolve = (url) => new URL(url, apiBase).href;

  function say(message, isError = false) {
    const status = $('status');
    status.textContent = message;
    status.classList.toggle('error', isError);
  }

  /**
   * The version each product was left at by this shopper's last write
   * (`X-Reviews-Version`), sent back as `min_version` on that product's
   * reads: whichever server answers, it shows the shopper's own write.
   */
  const written = new Map();

  /** `path` asking for at least the version this shopper's write left. */
  function atLeastWritten(path) {
    const product = /^\/reviews\/(\d+)(\/meta)?(\?|$)/.exec(path);
    const token = product && written.get(product[1]);
    if (!token) return path;
    return `${path}${path.includes('?') ? '&' : '?'}min_version=${encodeURIComponent(token)}`;
  }

  /** GET with If-None-Match; a 304 reuses the body seen with that ETag. */
  async function getJSON(path) {
    const url = api + atLeastWritten(path);
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
    const version = res.ok && res.headers.get('X-Reviews-Version');
    if (version) written.set(version.split(':')[0], version);
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

  /**
   * What each point of a characteristic's 1–5 scale means, as the service
   * names them (src/model/characteristics.rs; tests/widget.rs checks that
   * the page shows the same).
   */
  const SCALES = {
    Size: ['A size too small', '½ a size too small', 'Perfect', '½ a size too big', 'A size too wide'],
    Width: ['Too narrow', 'Slightly narrow', 'Perfect', 'Slightly wide', 'Too wide'],
    Comfort: ['Uncomfortable', 'Slightly uncomfortable', 'Ok', 'Comfortable', 'Perfect'],
    Quality: ['Poor', 'Below average', 'What I expected', 'Pretty great', 'Perfect'],
    Length: ['Runs short', 'Runs slightly short', 'Perfect', 'Runs slightly long', 'Runs long'],
    Fit: ['Runs tight', 'Runs slightly tight', 'Perfect', 'Runs slightly long', 'Runs long'],
  };
  /** The five labels of `name`'s scale; the bare points for a name this page does not know. */
  const scaleLabels = (name) => SCALES[name] || ['1', '2', '3', '4', '5'];

  /** An average to one decimal, as the breakdown shows it (the number and its words agree). */
  const tenths = (average) => Math.round(average * 10) / 10;

  /** A characteristic's average in words: "Size: 3.2 of 5, between Perfect and ½ a size too big". */
  function scaleText(name, average) {
    if (average == null) return `${name}: no ratings yet`;
    const labels = scaleLabels(name);
    const shown = tenths(average);
    const low = Math.floor(shown);
    const where = low === shown ? labels[low - 1] : `between ${labels[low - 1]} and ${labels[low]}`;
    return `${name}: ${shown.toFixed(1)} of 5, ${where}`;
  }

  function starsText(value) {
    const full = Math.round(value || 0);
    return '★'.repeat(full) + '☆'.repeat(5 - full);
  }

  // ---- The review form's limits, read from the API's own OpenAPI document.

  /** Sets the form's length limits and their labels from the NewReview schema. */
  async function loadLimits() {
    const res = await getJSON('/openapi.json');
    const schema = res.status === 200 && res.body.components && res.body.components.schemas.NewReview;
    if (!schema) return;
    const fields = { summary: 'f-summary', body: 'f-body', name: 'f-name', email: 'f-email' };
    for (const [field, id] of Object.entries(fields)) {
      const rule = schema.properties[field];
      const input = $(id);
      if (rule.maxLength) input.maxLength = rule.maxLength;
      if (rule.minLength) input.minLength = rule.minLength;
      const limit = document.querySelector(`.limit[data-field="${field}"]`);
      if (field === 'summary' || field === 'body') {
        limit.textContent = `(${rule.minLength || 0}–${rule.maxLength} characters)`;
      } else if (field === 'name') {
        limit.textContent = `(up to ${rule.maxLength} characters)`;
      }
    }
    const photos = schema.properties.photos;
    document.querySelector('.limit[data-field="photos"]').textContent = `(up to ${photos.maxItems})`;
    $('f-photos').dataset.maxItems = String(photos.maxItems);
    for (const counter of document.querySelectorAll('.counter')) updateCounter($(counter.dataset.for));
  }

  /** "12 / 60": characters as the API counts them (Unicode scalar values). */
  function updateCounter(input) {
    const counter = document.querySelector(`.counter[data-for="${input.id}"]`);
    if (!counter || input.maxLength < 0) return;
    counter.textContent = `${[...input.value].length} / ${input.maxLength}`;
  }

  // ---- Finding a product by name: a combobox over GET /products.

  const search = $('product-search');
  const listbox = $('product-options');
  const suggestions = { results: [], active: -1, seq: 0, timer: null };

  function openOptions(open) {
    listbox.hidden = !open;
    search.setAttribute('aria-expanded', String(open));
    if (!open) {
      suggestions.active = -1;
      search.removeAttribute('aria-activedescendant');
    }
  }

  async function suggest() {
    const query = search.value.trim();
    if (!query) return openOptions(false);
    const seq = ++suggestions.seq;
    let res;
    try {
      res = await getJSON(`/products?query=${encodeURIComponent(query)}&count=8`);
    } catch (e) {
      res = { status: 0, body: null };
    }
    if (seq !== suggestions.seq) return; // a later keystroke's answer wins
    suggestions.results = res.status === 200 ? res.body.results : [];
    suggestions.active = -1;
    search.removeAttribute('aria-activedescendant');
    const items = suggestions.results.map((p, i) => {
      const item = el('li', { id: `option-${i}`, class: 'option', role: 'option', 'aria-selected': 'false', 'data-product-id': String(p.product_id) },
        el('span', { class: 'option-name' }, p.name),
        el('span', { class: 'option-category' }, p.category));
      item.addEventListener('mousedown', (e) => e.preventDefault()); // keep focus in the box
      item.addEventListener('click', () => choose(i));
      return item;
    });
    if (!items.length) {
      const text = res.status === 200 ? `No products match “${query}”.` : problem(res, 'products');
      items.push(el('li', { class: 'option empty', role: 'option', 'aria-disabled': 'true' }, text));
    } else if (res.body.total > items.length) {
      items.push(el('li', { class: 'option more-results', role: 'presentation' }, `${res.body.total} products match; keep typing to narrow them down.`));
    }
    listbox.replaceChildren(...items);
    openOptions(true);
  }

  function highlight(index) {
    const count = suggestions.results.length;
    if (!count) return;
    suggestions.active = (index + count) % count;
    for (const item of listbox.querySelectorAll('[role=option]')) item.setAttribute('aria-selected', 'false');
    const item = $(`option-${suggestions.active}`);
    item.setAttribute('aria-selected', 'true');
    item.scrollIntoView({ block: 'nearest' });
    search.setAttribute('aria-activedescendant', item.id);
  }

  function choose(index) {
    const product = suggestions.results[index];
    if (!product) return;
    openOptions(false);
    search.value = '';
    const query = new URLSearchParams(location.search);
    query.set('product', String(product.product_id));
    history.replaceState(null, '', `?${query}`);
    show(String(product.product_id)).then(() => $('product-name').focus());
  }

  search.addEventListener('input', () => {
    clearTimeout(suggestions.timer);
    suggestions.timer = setTimeout(suggest, 120);
  });
  search.addEventListener('keydown', (e) => {
    const open = !listbox.hidden;
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      if (!open) {
        suggest();
        return;
      }
      const step = e.key === 'ArrowDown' ? 1 : -1;
      highlight(suggestions.active < 0 ? (step > 0 ? 0 : -1) : suggestions.active + step);
    } else if (e.key === 'Enter') {
      e.preventDefault();
      if (open && suggestions.results.length) choose(Math.max(suggestions.active, 0));
    } else if (e.key === 'Escape') {
      if (open) openOptions(false);
      else search.value = '';
    }
  });
  search.addEventListener('blur', () => setTimeout(() => openOptions(false), 150));

  // ---- The product and its reviews.

  function renderProduct(product) {
    $('product-name').textContent = product.name;
    $('product-category').textContent = product.category;
    const image = $('product-image');
    image.src = resolve(product.image);
    image.alt = product.name;
    document.title = `${product.name} – Northwind Market`;
    $('product').hidden = false;
  }

  function renderMeta(meta) {
    $('average').textContent = meta.average == null ? '–' : meta.average.toFixed(1);
    const label = meta.average == null ? 'No ratings yet' : `${meta.average} out of 5 stars`;
    for (const id of ['stars', 'product-stars']) {
      $(id).textContent = starsText(meta.average);
      $(id).setAttribute('aria-label', label);
    }
    const reviews = meta.total === 1 ? '1 review' : `${meta.total} reviews`;
    $('total').textContent = reviews;
    $('product-reviews-link').textContent = reviews;
    const yes = meta.recommended.true;
    $('recommended').textContent = meta.total ? `${Math.round((100 * yes) / meta.total)}% recommend this product` : '';
    state.reviews = meta.total;
    // Each bar is a toggle button: it shows only that star's reviews.
    const histogram = $('histogram');
    histogram.replaceChildren();
    for (let stars = 5; stars >= 1; stars--) {
      const count = meta.ratings[String(stars)];
      const pct = meta.total ? (100 * count) / meta.total : 0;
      const bar = el('span');
      bar.style.width = `${pct}%`;
      const label = `${stars} star${stars > 1 ? 's' : ''}`;
      histogram.append(el('li', { 'data-stars': String(stars), 'data-count': String(count) },
        el('button', {
          type: 'button', class: 'bar-filter', 'data-stars': String(stars), 'aria-pressed': 'false',
          'aria-label': `${label}: ${count} review${count === 1 ? '' : 's'}`, title: `Show only ${stars}-star reviews`,
        },
        el('span', { class: 'bar-label' }, label),
        el('span', { class: 'bar' }, bar),
        el('span', { class: 'count' }, String(count)))));
    }
    showFilterControls();
    renderBreakdown(meta.characteristics || {});
    $('summary').hidden = false;
  }

  /**
   * The product breakdown: each characteristic's average as a marker on its
   * 1–5 scale between the labels of its two ends. The scale is an image
   * whose text alternative says the average and where it lies in words.
   */
  function renderBreakdown(characteristics) {
    const rows = Object.entries(characteristics).map(([name, c]) => {
      const labels = scaleLabels(name);
      const scale = el('div', { class: 'scale', role: 'img', 'aria-label': scaleText(name, c.average) },
        el('span', { class: 'track' }, el('span'), el('span'), el('span'), el('span')));
      if (c.average != null) {
        const marker = el('span', { class: 'marker' });
        marker.style.left = `${((c.average - 1) / 4) * 100}%`;
        scale.append(marker);
      }
      return el('li', {
        class: 'characteristic', 'data-name': name, 'data-id': String(c.id),
        'data-average': c.average == null ? '' : String(c.average), 'data-count': String(c.count),
      },
      el('div', { class: 'characteristic-head', 'aria-hidden': 'true' },
        el('span', { class: 'characteristic-name' }, name),
        el('span', { class: 'characteristic-average' }, c.average == null ? 'No ratings yet' : tenths(c.average).toFixed(1))),
      scale,
      el('div', { class: 'scale-ends', 'aria-hidden': 'true' }, el('span', {}, labels[0]), el('span', {}, labels[4])));
    });
    $('characteristics').replaceChildren(...rows);
    $('breakdown').hidden = rows.length === 0;
  }

  /**
   * The form's questions about the product's characteristics: one group of
   * five labelled radio buttons each, none chosen, all required. A rating
   * the API refuses is explained in the group's own error line.
   */
  function renderChoices(characteristics) {
    const groups = Object.entries(characteristics).map(([name, c]) => {
      const id = `ch-${c.id}`;
      const choices = scaleLabels(name).map((label, i) => el('label', { class: 'choice' },
        el('input', { type: 'radio', name: id, value: String(i + 1), required: true }),
        el('span', { class: 'choice-point' }, String(i + 1)),
        el('span', { class: 'choice-label' }, label)));
      return el('fieldset', {
        class: 'characteristic-choice', role: 'radiogroup', 'aria-required': 'true',
        'aria-labelledby': `${id}-legend`, 'aria-describedby': `${id}-error`,
        'data-id': String(c.id), 'data-name': name,
      },
      el('legend', { id: `${id}-legend` }, name, el('span', { class: 'required' }, ' (required)')),
      el('div', { class: 'choices' }, ...choices),
      el('p', { id: `${id}-error`, class: 'error field-error' }));
    });
    $('f-characteristics').replaceChildren(...groups);
  }

  /** The form's characteristic groups without their errors. */
  function clearChoiceErrors() {
    for (const group of document.querySelectorAll('#f-characteristics fieldset')) {
      group.removeAttribute('aria-invalid');
      group.querySelector('.field-error').textContent = '';
    }
  }

  function thumbnail(photo, alt, lazy) {
    const url = resolve(photo.url);
    return el('a', { href: url, target: '_blank', rel: 'noopener noreferrer' },
      el('img', { src: url, alt, loading: lazy ? 'lazy' : 'eager', referrerPolicy: 'no-referrer', width: 72, height: 72 }));
  }

  /** Photos from the most helpful reviews, above the list. */
  async function loadGallery(product) {
    const res = await getJSON(`/reviews/${product}?count=50&sort=helpful`);
    if (state.product !== product) return;
    const photos = res.status === 200
      ? res.body.results.flatMap((r) => r.photos.map((p, i) => thumbnail(p, `Photo ${i + 1} from ${r.reviewer_name}`, false)))
      : [];
    $('gallery-photos').replaceChildren(...photos.slice(0, 8));
    $('gallery').hidden = photos.length === 0;
  }

  // ---- Searching within the reviews: words as the API matches them.

  /** Latin letters with no decomposition, spelled as the API spells them. */
  const SPELLED = { ø: 'o', ł: 'l', đ: 'd', ħ: 'h', ı: 'i', ß: 'ss', ẞ: 'ss', æ: 'ae', œ: 'oe', þ: 'th' };
  /** `text` as the API compares it: no apostrophes, no accents, lowercase. */
  const fold = (text) => text.replace(/['’]/g, '').normalize('NFD').replace(/\p{M}/gu, '')
    .replace(/[øØłŁđĐħĦıßẞæÆœŒþÞ]/g, (c) => SPELLED[c] || SPELLED[c.toLowerCase()]).toLowerCase();
  /** The words of `text`: runs of letters and digits once folded. */
  const wordsOf = (text) => fold(text).match(/[\p{L}\p{N}]+/gu) || [];

  /**
   * `text` as nodes with each occurrence of one of `terms` (folded words)
   * in a <mark>: text nodes only, so a review's text is never markup.
   */
  function marked(text, terms) {
    if (!terms.size) return [text];
    const out = [];
    let last = 0;
    // A word as written: letters, digits, marks, apostrophes inside it.
    for (const m of text.matchAll(/[\p{L}\p{N}\p{M}]+(?:['’]+[\p{L}\p{N}\p{M}]+)*/gu)) {
      const parts = wordsOf(m[0]);
      if (parts.length !== 1 || !terms.has(parts[0])) continue;
      if (m.index > last) out.push(text.slice(last, m.index));
      out.push(el('mark', {}, m[0]));
      last = m.index + m[0].length;
    }
    if (last < text.length) out.push(text.slice(last));
    return out;
  }

  function renderReview(r, terms) {
    const helpful = el('button', { type: 'button', class: 'link helpful' }, `Yes (${r.helpfulness})`);
    helpful.dataset.count = String(r.helpfulness);
    helpful.setAttribute('aria-label', `Mark helpful, ${r.helpfulness} found this helpful`);
    const report = el('button', { type: 'button', class: 'link report' }, 'Report');
    const item = el('li', { class: 'review', 'data-review-id': String(r.review_id) },
      el('div', { class: 'meta-line' },
        el('span', { class: 'stars', role: 'img', 'aria-label': `${r.rating} out of 5 stars` }, starsText(r.rating)),
        ` ${r.reviewer_name} · ${r.date.slice(0, 10)}${r.recommend ? ' · Recommends' : ''}`),
      // A review may have no headline (the Atelier routes take an empty summary).
      r.summary ? el('h4', {}, ...marked(r.summary, terms)) : null,
      el('p', { class: 'body' }, ...marked(r.body, terms)),
      r.photos.length ? el('div', { class: 'photos' }, ...r.photos.map((p, i) => thumbnail(p, `Photo ${i + 1} from ${r.reviewer_name}`, true))) : null,
      r.response ? el('div', { class: 'response' },
        el('strong', { class: 'response-title' }, 'Response from the seller'),
        el('p', { class: 'response-text' }, r.response)) : null,
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

  /** One page of the list as the shopper has sorted and filtered it. */
  function reviewsPath(page) {
    const { rating, photos, q } = state.filter;
    let path = `/reviews/${state.product}?page=${page}&count=${pageSize}&sort=${state.sort}`;
    if (rating) path += `&rating=${rating}`;
    if (photos) path += '&with_photos=true';
    if (q) path += `&q=${encodeURIComponent(q)}`;
    return path;
  }

  const filtered = () => Boolean(state.filter.rating || state.filter.photos || state.filter.q);

  /** What the filters keep, in words: "4-star reviews with photos mentioning “fit”". */
  function filterWords() {
    const { rating, photos, q } = state.filter;
    return `${rating ? `${rating}-star reviews` : 'reviews'}${photos ? ' with photos' : ''}${q ? ` mentioning “${q}”` : ''}`;
  }

  /** The controls (bars, toggle, search box) as `state.filter` says. */
  function showFilterControls() {
    for (const button of document.querySelectorAll('#histogram button[data-stars]')) {
      button.setAttribute('aria-pressed', String(Number(button.dataset.stars) === state.filter.rating));
    }
    $('with-photos').checked = state.filter.photos;
    $('review-search-clear').hidden = !$('review-search').value && !state.filter.q;
  }

  /**
   * Loads page 1 (or the next page) of the list. Answers the API's reply,
   * or null when a later load began meanwhile (only the latest renders).
   */
  async function loadPage(append) {
    const seq = ++state.seq;
    const page = append ? state.page + 1 : 1;
    const list = $('reviews');
    list.setAttribute('aria-busy', 'true');
    let res;
    try {
      res = await getJSON(reviewsPath(page));
    } finally {
      if (seq === state.seq) list.setAttribute('aria-busy', 'false');
    }
    if (seq !== state.seq) return null;
    if (res.status !== 200) return res;
    if (!append) {
      list.replaceChildren();
      state.shown = 0;
    }
    const terms = new Set(wordsOf(state.filter.q));
    for (const r of res.body.results) list.append(renderReview(r, terms));
    state.page = page;
    state.shown += res.body.results.length;
    state.total = res.body.total;
    $('more').hidden = state.shown >= state.total;
    $('reviews-section').hidden = false;
    $('filters').hidden = !filtered();
    $('filter-summary').textContent = filtered() ? `Showing ${filterWords()} · ${state.total} of ${state.reviews}` : '';
    if (!state.total) {
      list.append(el('li', { class: 'review empty' }, filtered()
        ? `No ${filterWords()}. Try another filter or clear them.`
        : 'No reviews yet. Be the first to write one.'));
    }
    return res;
  }

  /** Loads the list and says so if the API refuses; false when nothing was shown. */
  async function reload(append) {
    let res;
    try {
      res = await loadPage(append);
    } catch (e) {
      say('The reviews service cannot be reached.', true);
      return false;
    }
    if (res && res.status !== 200) say(problem(res, `product ${state.product}`), true);
    return Boolean(res && res.status === 200);
  }

  /**
   * Applies `change` to the filters and loads page 1. A search the API
   * refuses (400: a word too short, too many words) is explained next to
   * the box, and the list and filters stay as they were.
   */
  async function setFilter(change) {
    const before = state.filter;
    state.filter = { ...before, ...change };
    showFilterControls();
    let res;
    try {
      res = await loadPage(false);
    } catch (e) {
      say('The reviews service cannot be reached.', true);
      return;
    }
    if (!res) return;
    if (res.status === 400 && state.filter.q !== before.q) {
      state.filter = { ...state.filter, q: before.q };
      showFilterControls();
      $('review-search-error').textContent = problem(res, 'that search');
      $('review-search').setAttribute('aria-invalid', 'true');
      return;
    }
    if (res.status !== 200) say(problem(res, `product ${state.product}`), true);
  }

  /** No filters, and the controls showing none (no load). */
  function resetFilters() {
    state.filter = noFilter;
    $('review-search').value = '';
    $('review-search-error').textContent = '';
    $('review-search').removeAttribute('aria-invalid');
    $('filters').hidden = true;
    showFilterControls();
  }

  function hideProduct() {
    for (const id of ['product', 'widget', 'summary', 'gallery', 'reviews-section', 'write']) $(id).hidden = true;
  }

  async function show(product) {
    if (!/^[1-9]\d{0,18}$/.test(product)) {
      hideProduct();
      say('Enter a product id: a whole number from 1.', true);
      return;
    }
    if (!(await apiTrusted)) {
      say('This page was opened with a reviews address it does not trust, so it will not use it.', true);
      return;
    }
    state.product = product;
    resetFilters();
    say('Loading…');
    try {
      const [info, meta] = await Promise.all([getJSON(`/products/${product}`), getJSON(`/reviews/${product}/meta`)]);
      const failed = [info, meta].find((res) => res.status !== 200);
      if (failed) {
        hideProduct();
        say(problem(failed, `product ${product}`), true);
        return;
      }
      renderProduct(info.body);
      $('widget').hidden = false;
      renderMeta(meta.body);
      renderChoices(meta.body.characteristics || {});
      const [res] = await Promise.all([loadPage(false), loadGallery(product)]);
      if (res && res.status === 200) {
        $('write').hidden = false;
        say('');
      } else if (res) {
        say(problem(res, `product ${product}`), true);
      }
    } catch (e) {
      say('The reviews service cannot be reached. Please try again later.', true);
    }
  }

  $('sort').addEventListener('change', () => {
    state.sort = $('sort').value;
    reload(false);
  });
  $('more').addEventListener('click', () => reload(true));

  // ---- Filters: a star bar, "With photos", a search within the reviews.

  $('histogram').addEventListener('click', (e) => {
    const button = e.target.closest('button[data-stars]');
    if (!button) return;
    const stars = Number(button.dataset.stars);
    setFilter({ rating: state.filter.rating === stars ? null : stars });
  });
  $('with-photos').addEventListener('change', (e) => setFilter({ photos: e.target.checked }));
  $('review-search-form').addEventListener('submit', (e) => {
    e.preventDefault();
    $('review-search-error').textContent = '';
    $('review-search').removeAttribute('aria-invalid');
    setFilter({ q: $('review-search').value.trim() });
  });
  $('review-search').addEventListener('input', () => {
    $('review-search').removeAttribute('aria-invalid');
    $('review-search-error').textContent = '';
    showFilterControls();
  });
  $('review-search-clear').addEventListener('click', () => {
    $('review-search').value = '';
    $('review-search').focus();
    if (state.filter.q) setFilter({ q: '' });
    else {
      $('review-search-error').textContent = '';
      $('review-search').removeAttribute('aria-invalid');
      showFilterControls();
    }
  });
  $('clear-filters').addEventListener('click', () => {
    resetFilters();
    $('review-search').focus(); // the button is gone: the next thing to use
    reload(false);
  });
  for (const id of ['f-summary', 'f-body']) $(id).addEventListener('input', (e) => updateCounter(e.target));
  // A group the API refused is fixed once the shopper chooses in it.
  $('f-characteristics').addEventListener('change', (e) => {
    const group = e.target.closest('fieldset');
    group.removeAttribute('aria-invalid');
    group.querySelector('.field-error').textContent = '';
  });

  $('review-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const form = e.target;
    for (const input of form.querySelectorAll('[aria-invalid]')) input.removeAttribute('aria-invalid');
    clearChoiceErrors();
    // Each characteristic the shopper rated, by id; one left out gets the API's 422.
    const characteristics = {};
    for (const group of form.querySelectorAll('#f-characteristics fieldset')) {
      const chosen = group.querySelector('input:checked');
      if (chosen) characteristics[group.dataset.id] = Number(chosen.value);
    }
    const payload = {
      rating: Number(form.querySelector('input[name=rating]:checked').value),
      summary: $('f-summary').value,
      body: $('f-body').value,
      recommend: $('f-recommend').checked,
      name: $('f-name').value,
      email: $('f-email').value,
      photos: $('f-photos').value.split('\n').map((s) => s.trim()).filter(Boolean),
      characteristics,
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
      // "characteristics: missing a rating of 5 (Size); …": next to that group.
      const rated = /^characteristics: (?:missing a rating of |the rating of )?(\d+)\b/.exec(message);
      const group = rated && form.querySelector(`#f-characteristics fieldset[data-id="${rated[1]}"]`);
      if (group) {
        group.setAttribute('aria-invalid', 'true');
        group.querySelector('.field-error').textContent = message;
        $('form-error').textContent = `Please check your rating of ${group.dataset.name} above.`;
        (group.querySelector('input:checked') || group.querySelector('input')).focus();
        return;
      }
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
    clearChoiceErrors();
    for (const counter of document.querySelectorAll('.counter')) updateCounter($(counter.dataset.for));
    // Show the shopper their review: no filters, newest first, fresh counts.
    resetFilters();
    $('sort').value = state.sort = 'newest';
    const meta = await getJSON(`/reviews/${state.product}/meta`);
    if (meta.status === 200) renderMeta(meta.body);
    await reload(false);
    say('Thanks! Your review was posted.');
  });

  loadLimits().catch(() => {});
  show(params.get('product') || defaultProduct);
})();
