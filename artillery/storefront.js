// Artillery processor for storefront.yml: the storefront traffic mix.
// 80% of product views go to the hot 1% of products (ids 1..P/100, the most
// reviewed); the rest are uniform over the last 10% of ids (cold reads).
'use strict';

const products = Number(process.env.PRODUCTS || 100000);
const records = Number(process.env.RECORDS || products * 10);
const uniform = (lo, hi) => lo + Math.floor(Math.random() * (hi - lo + 1));

function pickProduct(context, events, done) {
  const hot = Math.max(1, Math.floor(products / 100));
  context.vars.productId = Math.random() < 0.8
    ? uniform(1, hot)
    : uniform(Math.floor(products * 0.9) + 1, products);
  return done();
}

function pickPage(context, events, done) {
  const r = Math.random();
  context.vars.page = r < 0.6 ? 1 : r < 0.85 ? 2 : 3;
  const s = Math.random();
  context.vars.sort = s < 0.6 ? 'relevant' : s < 0.85 ? 'newest' : 'helpful';
  return done();
}

// About 1 view in 100 votes a review helpful, 1 in 100 writes a review
// (WRITE_SHARE sets each share; a short smoke raises it to be sure to write).
const writeShare = Number(process.env.WRITE_SHARE || 0.01);

function maybeWrite(context, events, done) {
  const r = Math.random();
  context.vars.vote = r < writeShare;
  context.vars.post = r >= writeShare && r < 2 * writeShare;
  context.vars.reviewId = uniform(1, records);
  context.vars.rating = uniform(1, 5);
  return done();
}

// A new review rates each characteristic of its product (1 to 5 at
// random), by id: the scenario captured them from the product's meta.
function rateCharacteristics(requestParams, context, events, done) {
  let captured = context.vars.characteristics || {};
  if (typeof captured === 'string') captured = JSON.parse(captured);
  requestParams.json.characteristics = Object.fromEntries(
    Object.values(captured).map((c) => [String(c.id), uniform(1, 5)]),
  );
  return done();
}

// What the mix expects: reads 200, posts 201, votes 204 (or 404 for the ~2%
// of reviews that are reported, hence hidden). Every response adds to the
// counter storefront.unexpected_status (0 or 1, so the counter exists even
// when nothing went wrong), which the scenario's ensure condition reads.
function expected(method, url) {
  if (method === 'POST') return [201];
  if (method === 'PUT' && /\/helpful$/.test(url)) return [204, 404];
  return [200];
}

function checkStatus(req, res, context, events, done) {
  const path = new URL(req.url, 'http://target').pathname;
  const ok = expected(String(req.method).toUpperCase(), path).includes(res.statusCode);
  events.emit('counter', 'storefront.unexpected_status', ok ? 0 : 1);
  return done();
}

module.exports = { pickProduct, pickPage, maybeWrite, rateCharacteristics, checkStatus };
