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

// About 1 view in 100 votes a review helpful, 1 in 100 writes a review.
function maybeWrite(context, events, done) {
  const r = Math.random();
  context.vars.vote = r < 0.01;
  context.vars.post = r >= 0.01 && r < 0.02;
  context.vars.reviewId = uniform(1, records);
  context.vars.rating = uniform(1, 5);
  return done();
}

module.exports = { pickProduct, pickPage, maybeWrite };
