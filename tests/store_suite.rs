//! One behavioural suite for the `Store` trait: the same inputs must give the
//! same outputs on every backend. It always runs on the embedded store; the
//! MongoDB case is `#[ignore]`d, so a run without MongoDB reports it as
//! ignored, and runs with `--ignored` against `MONGODB_URI` (in a fresh
//! database it drops after). `scripts/test.sh` does that when the variable
//! is set.
//!
//! Every backend is driven through two handles on the same data, as two
//! processes would be: writes through both at once, and each handle's
//! change log reporting the other's writes.

mod common;

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use reviews::generate::{DataSet, Generator};
use reviews::model::{Filter, Meta, NewReview, Page, PageQuery, Review, Sort, Words};
use reviews::seeding::Silent;
use reviews::store::embedded::EmbeddedStore;
use reviews::store::load::LoadOptions;
#[cfg(feature = "mongodb")]
use reviews::store::mongo::{MongoConfig, MongoStore};
use reviews::store::{Changes, IdempotencyKey, Outcome, Store, Voter, Write, WriteGuard};

const SET: DataSet = DataSet {
    seed: 9,
    records: 3000,
    products: 300,
};
const ORDERS: [Sort; 5] = Sort::ALL;

/// What the API shows of a review: the email and the flag stay in the store.
fn shown(mut r: Review) -> Review {
    r.reviewer_email.clear();
    r.reported = false;
    r
}

fn expected_ids(g: &Generator, product: u64, sort: Sort) -> Vec<u64> {
    let mut visible = common::visible_reviews(g, product);
    visible.sort_by(|a, b| {
        let (ka, kb) = (
            sort.key(a.rating, a.helpfulness, a.date),
            sort.key(b.rating, b.helpfulness, b.date),
        );
        kb.cmp(&ka).then(b.review_id.cmp(&a.review_id))
    });
    visible.iter().map(|s| s.review_id).collect()
}

/// New review number `n` of `product`, rating each of its
/// characteristics (the generator's).
fn new_review(product: u64, n: u64) -> NewReview {
    let scales = Generator::new(SET).characteristics(product);
    NewReview {
        rating: (n % 5) as u8 + 1,
        summary: format!("Review number {n}"),
        body: "It does the job well enough, though the strap is a little short for me.".into(),
        recommend: !n.is_multiple_of(3),
        name: "Søren".into(),
        email: "soren@example.com".into(),
        photos: vec![format!("https://img.example/{n}.jpg")],
        characteristics: (0..)
            .zip(scales.iter())
            .map(|(k, s)| (s.id, ((n + k) % 5) as u8 + 1))
            .collect(),
    }
}

/// An empty meta of `product`: no reviews, its characteristics as the
/// generator gives them (the oracle's own, not read from the store).
fn empty_meta(product: u64) -> Meta {
    Meta {
        characteristics: Generator::new(SET).characteristics(product),
        ..Meta::default()
    }
}

/// `meta` with a new review of `product` counted in: its stars, its
/// recommendation, its ratings of the characteristics.
fn count_new(meta: &mut Meta, product: u64, new: &NewReview) {
    let rated = empty_meta(product)
        .characteristics
        .resolve(&new.characteristics)
        .expect("the new review rates the product's characteristics");
    meta.add(new.rating, new.recommend, &rated);
}

fn query(product_id: u64, page: u32, count: u32, sort: Sort) -> PageQuery {
    PageQuery {
        product_id,
        page,
        count,
        sort,
        filter: Filter::default(),
    }
}

/// Every visible review of `product` in `sort` order, paged through.
async fn all_pages<S: Store>(store: &S, product: u64, sort: Sort) -> Vec<Review> {
    all_filtered(store, query(product, 1, 7, sort)).await
}

/// Every review `q` (from its page on) keeps, paged through with its
/// count; each page's `total` the same.
async fn all_filtered<S: Store>(store: &S, mut q: PageQuery) -> Vec<Review> {
    let mut all = Vec::new();
    let mut totals = BTreeSet::new();
    loop {
        let got: Page = store.page(q.clone()).await.unwrap().expect("known product");
        totals.insert(got.total);
        if got.reviews.is_empty() {
            assert_eq!(
                Vec::from_iter(totals),
                [all.len() as u64],
                "totals of {q:?}"
            );
            return all;
        }
        all.extend(got.reviews);
        q.page += 1;
    }
}

/// The oracle of filtered pages: the ids `q`'s filter keeps of `visible`
/// (a product's visible reviews), in its order.
fn oracle(visible: &[Review], q: &PageQuery) -> Vec<u64> {
    let f = &q.filter;
    let mut kept: Vec<&Review> = visible
        .iter()
        .filter(|r| f.stars == 0 || f.stars & (1 << (r.rating - 1)) != 0)
        .filter(|r| !f.with_photos || !r.photos.is_empty())
        .filter(|r| {
            let words = plain_words(&format!("{} {}", r.summary, r.body));
            f.words
                .as_ref()
                .is_none_or(|w| w.as_slice().iter().all(|w| words.contains(&**w)))
        })
        .collect();
    let key = |r: &Review| (q.sort.key(r.rating, r.helpfulness, r.date), r.review_id);
    kept.sort_by_key(|r| std::cmp::Reverse(key(r)));
    kept.iter().map(|r| r.review_id).collect()
}

/// The words of `text` as docs/api.md defines them, spelled out plainly
/// (not the service's code): accents off, lowercase, apostrophes gone,
/// runs of letters and digits.
fn plain_words(text: &str) -> HashSet<String> {
    use unicode_normalization::UnicodeNormalization;
    use unicode_normalization::char::is_combining_mark;
    let spelled = [
        ("ø", "o"),
        ("ł", "l"),
        ("đ", "d"),
        ("ħ", "h"),
        ("ı", "i"),
        ("ß", "ss"),
        ("æ", "ae"),
        ("œ", "oe"),
        ("þ", "th"),
    ];
    let mut plain: String = text
        .nfd()
        .filter(|&c| !is_combining_mark(c) && c != '\'' && c != '\u{2019}')
        .collect::<String>()
        .to_lowercase();
    for (letter, spelling) in spelled {
        plain = plain.replace(letter, spelling);
    }
    plain
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// Filters worth trying on a product whose visible reviews are `visible`:
/// each star alone and in sets, photos, words taken from its reviews
/// (respelled in other case and accents), and combinations.
fn filters_for(visible: &[Review]) -> Vec<Filter> {
    let stars = |stars| Filter {
        stars,
        ..Filter::default()
    };
    let mut filters: Vec<Filter> = (0..5).map(|r| stars(1 << r)).collect();
    filters.extend([stars(0b11000), stars(0b00011), stars(0b11111)]);
    filters.push(Filter {
        with_photos: true,
        ..Filter::default()
    });
    filters.push(Filter {
        stars: 0b10000,
        with_photos: true,
        ..Filter::default()
    });
    let words = |raw: &str| Words::parse(raw).unwrap();
    // A word of the first review's body, one of the last one's summary.
    let word_of = |text: &str, nth: usize| {
        let long: Vec<&str> = text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.chars().count() >= 4)
            .collect();
        long.get(nth % long.len().max(1)).map(|w| w.to_string())
    };
    if let (Some(first), Some(last)) = (visible.first(), visible.last()) {
        for (word, also) in [
            (word_of(&first.body, 1), None),
            (word_of(&last.summary, 0), word_of(&last.body, 2)),
        ] {
            let Some(word) = word else { continue };
            let shouted = word.to_uppercase().replace('E', "É");
            filters.push(Filter {
                words: words(&shouted),
                ..Filter::default()
            });
            if let Some(also) = also {
                filters.push(Filter {
                    words: words(&format!("{word} {also}")),
                    stars: 0b11100,
                    ..Filter::default()
                });
            }
        }
    }
    filters.push(Filter {
        words: words("zqxj nowhere"),
        ..Filter::default()
    });
    filters
}

/// Every filter of [`filters_for`] in every order, paged to the end in
/// pages of 3, against the [`oracle`] over `visible`; the same reviews as
/// the unfiltered pages show.
async fn filtered_agree<S: Store>(store: &S, product: u64, visible: &[Review]) {
    let by_id: std::collections::HashMap<u64, &Review> =
        visible.iter().map(|r| (r.review_id, r)).collect();
    let mut kept_some = 0;
    for filter in filters_for(visible) {
        for sort in ORDERS {
            let q = PageQuery {
                filter: filter.clone(),
                ..query(product, 1, 3, sort)
            };
            let expected = oracle(visible, &q);
            let got = all_filtered(store, q.clone()).await;
            let ids: Vec<u64> = got.iter().map(|r| r.review_id).collect();
            assert_eq!(ids, expected, "product {product}, {q:?}");
            for r in &got {
                assert_eq!(shown(r.clone()), shown((*by_id[&r.review_id]).clone()));
            }
            kept_some += usize::from(!ids.is_empty() && ids.len() < visible.len());
        }
        if filter.stars.count_ones() == 1 && !filter.with_photos && filter.words.is_none() {
            let rating = filter.stars.trailing_zeros() as usize;
            let meta = store.meta(product).await.unwrap().unwrap();
            let q = PageQuery {
                filter: filter.clone(),
                ..query(product, 1, 1, Sort::Relevant)
            };
            let page = store.page(q).await.unwrap().unwrap();
            assert_eq!(
                page.total,
                u64::from(meta.ratings[rating]),
                "rating={} of {product} against its meta",
                rating + 1
            );
        }
    }
    assert!(
        visible.len() < 3 || kept_some > 0,
        "product {product}: no filter kept some but not all"
    );
}

/// Pages of `product` in every order agree with its meta and with each
/// other, each sorted as its order says; the reviews, newest first.
async fn consistent<S: Store>(store: &S, product: u64) -> Vec<Review> {
    let newest = all_pages(store, product, Sort::Newest).await;
    let mut meta = empty_meta(product);
    for r in &newest {
        meta.add(r.rating, r.recommend, &r.characteristics);
    }
    assert_eq!(
        store.meta(product).await.unwrap(),
        Some(meta),
        "meta of {product} against its pages"
    );
    for sort in ORDERS {
        let got = all_pages(store, product, sort).await;
        let ids = |rs: &[Review]| rs.iter().map(|r| r.review_id).collect::<Vec<_>>();
        let expected = oracle(&newest, &query(product, 1, 1, sort));
        assert_eq!(ids(&got), expected, "product {product} sorted {sort}");
    }
    filtered_agree(store, product, &newest).await;
    newest
}

async fn suite<S: Store>(store: Arc<S>, other: Arc<S>) {
    let g = Generator::new(SET);
    // Unknown products.
    for unknown in [0, SET.products + 1, u64::MAX] {
        let q = query(unknown, 1, 5, Sort::Newest);
        assert_eq!(store.page(q).await.unwrap(), None, "page of {unknown}");
        assert_eq!(
            store.meta(unknown).await.unwrap(),
            None,
            "meta of {unknown}"
        );
    }
    // Pages in every order and filter, and exact records; the largest
    // product too (more reviews than the embedded store walks).
    let largest = (1..=SET.products)
        .max_by_key(|&p| common::visible_reviews(&g, p).len())
        .unwrap();
    assert!(common::visible_reviews(&g, largest).len() > 40);
    for product in [1, 2, 17, 150, SET.products, largest] {
        let visible: Vec<Review> = common::visible_reviews(&g, product)
            .iter()
            .map(|s| g.record(s.review_id))
            .collect();
        filtered_agree(&*store, product, &visible).await;
        for sort in ORDERS {
            let expected = expected_ids(&g, product, sort);
            let mut seen = Vec::new();
            for page in 1..=expected.len().div_ceil(4) as u32 + 1 {
                let got = store
                    .page(query(product, page, 4, sort))
                    .await
                    .unwrap()
                    .expect("known product");
                assert_eq!(got.total, expected.len() as u64, "total of {product}");
                for review in got.reviews {
                    assert_eq!(shown(review.clone()), shown(g.record(review.review_id)));
                    seen.push(review.review_id);
                }
            }
            assert_eq!(seen, expected, "product {product} sorted {sort}");
        }
        let mut meta = empty_meta(product);
        for s in common::visible_reviews(&g, product) {
            let rated = g.record(s.review_id).characteristics;
            assert!(!rated.is_empty(), "generated reviews rate characteristics");
            meta.add(s.rating, s.recommend, &rated);
        }
        assert_eq!(
            store.meta(product).await.unwrap(),
            Some(meta),
            "meta of {product}"
        );
    }

    // Writes, and the change log that reports them.
    let start = store.changes_since(None).await.unwrap();
    assert!(start.complete && start.products.is_empty());
    let product = 7;
    let before = store.meta(product).await.unwrap().unwrap();
    let new = new_review(product, 3);
    assert_eq!(
        store
            .add_review(SET.products + 1, new.clone())
            .await
            .unwrap(),
        None
    );
    characteristics_are_checked(&*store, product, &new).await;
    assert_eq!(
        store.meta(product).await.unwrap(),
        Some(before),
        "nothing written"
    );
    let id = store
        .add_review(product, new.clone())
        .await
        .unwrap()
        .expect("added");
    // New ids continue past the data set (MongoDB's may leave gaps).
    assert!(id > SET.records, "new id {id}");
    let newest = query(product, 1, 1, Sort::Newest);
    let page = store.page(newest.clone()).await.unwrap().unwrap();
    let added = &page.reviews[0];
    assert_eq!(
        (added.review_id, added.rating, added.helpfulness),
        (id, new.rating, 0)
    );
    assert_eq!(
        (added.summary.as_str(), added.reviewer_name.as_str()),
        ("Review number 3", "Søren")
    );
    assert_eq!(added.photos[0].url, "https://img.example/3.jpg");
    assert_eq!(added.response, None);
    assert_eq!(
        added.characteristics,
        empty_meta(product)
            .characteristics
            .resolve(&new.characteristics)
            .unwrap()
    );
    let mut after = before;
    count_new(&mut after, product, &new);
    assert_eq!(store.meta(product).await.unwrap(), Some(after));
    seller_responses(&*store, &*other, product, id).await;

    assert_eq!(store.vote_helpful(id).await.unwrap(), Some(product));
    assert_eq!(store.vote_helpful(id).await.unwrap(), Some(product));
    let page = store.page(newest.clone()).await.unwrap().unwrap();
    assert_eq!(page.reviews[0].helpfulness, 2);
    assert_eq!(store.report(id).await.unwrap(), Some(product));
    let page = store.page(newest.clone()).await.unwrap().unwrap();
    assert_ne!(page.reviews[0].review_id, id, "reported reviews are hidden");
    assert_eq!(page.total, before.total());
    assert_eq!(store.meta(product).await.unwrap(), Some(before));
    assert_eq!(store.vote_helpful(id).await.unwrap(), None);
    assert_eq!(store.report(id).await.unwrap(), None);
    assert_eq!(store.vote_helpful(SET.records + 50).await.unwrap(), None);

    let changes = store.changes_since(Some(start.cursor)).await.unwrap();
    assert_eq!(ids(&changes), vec![product]);
    assert!(changes.complete && changes.cursor > start.cursor);
    let none = store.changes_since(Some(changes.cursor)).await.unwrap();
    assert!(none.complete && none.products.is_empty());
    let mut cursors = [none.cursor, other.changes_since(None).await.unwrap().cursor];

    first_review_of_an_empty_product(&*store, &g).await;
    let empty = first_empty_product(&g);
    let changes = store.changes_since(Some(cursors[0])).await.unwrap();
    assert_eq!(ids(&changes), vec![empty]);
    cursors[0] = changes.cursor;

    let written = concurrent_writes(&store, &other, &g).await;
    // Each handle's change log reports every product either one wrote
    // (and from then on reads them where the writes are).
    for (i, handle) in [&store, &other].into_iter().enumerate() {
        let changes = handle.changes_since(Some(cursors[i])).await.unwrap();
        let mut expected = written.clone();
        if i == 1 {
            expected.insert(empty);
        }
        assert_eq!(ids(&changes), Vec::from_iter(expected), "handle {i}");
        cursors[i] = changes.cursor;
    }
    for &product in &written {
        let through_store = consistent(&*store, product).await;
        let through_other = consistent(&*other, product).await;
        assert_eq!(through_store, through_other, "product {product}");
    }

    reported_reviews_leave_pages_and_counts(&*store, &g).await;
    guarded_writes(&store, &other, &g).await;
    versions_order_writes(&*store, &*other, &g).await;
    store.ping().await.unwrap();
    other.ping().await.unwrap();
}

/// Versions order writes (what the cache relies on): a read taken before a
/// write is older than it, a read as of the write's version or later shows
/// it — through either handle, once a lagging replica has caught up — the
/// change log reports it at or after its version, and a later write is
/// newer still.
async fn versions_order_writes<S: Store>(store: &S, other: &S, g: &Generator) {
    let product = if first_empty_product(g) == 55 { 56 } else { 55 };
    let newest = query(product, 1, 1, Sort::Newest);
    let start = other.changes_since(None).await.unwrap();
    let page_before = store.page_versioned(newest.clone()).await.unwrap();
    let meta_before = store.meta_versioned(product).await.unwrap();
    let total_before = meta_before.value.expect("known product").total();
    let written = store
        .add_review_versioned(product, new_review(product, 900))
        .await
        .unwrap()
        .expect("added");
    assert!(
        page_before.version < written.version && meta_before.version < written.version,
        "reads before a write are older than it"
    );
    // The writer at once; the other as its follower would: after a poll
    // of the change log, within 1 s (a lagging replica has that long).
    let polled = other.changes_since(Some(start.cursor)).await.unwrap();
    let listed = polled.products.iter().find(|c| c.product_id == product);
    assert!(
        listed.is_some_and(|c| c.version >= written.version),
        "the log reports the write at or after its version: {:?}",
        polled.products
    );
    for (name, handle) in [("writer", store), ("other", other)] {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
        loop {
            let page = handle.page_versioned(newest.clone()).await.unwrap();
            let meta = handle.meta_versioned(product).await.unwrap();
            if page.version >= written.version && meta.version >= written.version {
                let page = page.value.expect("known product");
                assert_eq!(page.reviews[0].review_id, written.value, "{name}'s page");
                assert_eq!(
                    meta.value.unwrap().total(),
                    total_before + 1,
                    "{name}'s meta"
                );
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{name}: no read reached the write's version in 1 s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
    let vote = other
        .vote_helpful_versioned(written.value)
        .await
        .unwrap()
        .expect("a visible review");
    assert_eq!(vote.value, product);
    assert!(vote.version > written.version, "a later write is newer");

    // A client carrying the vote's version to the writer's handle, which
    // has not polled since: the first read shows it, no waiting.
    store.newer_elsewhere(product);
    let page = store.page_versioned(newest.clone()).await.unwrap();
    let meta = store.meta_versioned(product).await.unwrap();
    assert!(
        page.version >= vote.version && meta.version >= vote.version,
        "a read asked for the vote's version is at least that new: {} {} < {}",
        page.version,
        meta.version,
        vote.version
    );
    let page = page.value.expect("known product");
    assert_eq!(
        (page.reviews[0].review_id, page.reviews[0].helpfulness),
        (written.value, 1),
        "the vote shows"
    );
}

/// A new review must rate each of its product's characteristics once and
/// nothing else: every other set is refused, naming the id, and writes
/// nothing (the caller checks the meta).
async fn characteristics_are_checked<S: Store>(store: &S, product: u64, good: &NewReview) {
    let other_product = Generator::new(SET).characteristics(product + 1);
    let foreign = other_product.iter().next().unwrap().id;
    let mut missing = good.clone();
    let dropped = missing.characteristics.pop().unwrap().0;
    let mut extra = good.clone();
    extra.characteristics.push((foreign, 3));
    let mut none = good.clone();
    none.characteristics.clear();
    for (review, named) in [
        (missing, dropped),
        (extra, foreign),
        (none, good.characteristics[0].0),
    ] {
        let write = Write::AddReview {
            product_id: product,
            review,
        };
        let outcome = store
            .write_guarded(write, WriteGuard::default())
            .await
            .unwrap();
        let Outcome::Refused(why) = &outcome else {
            panic!("{outcome:?}")
        };
        assert!(why.contains(&named.to_string()), "{why} names {named}");
    }
}

/// The seller's response to a review: set through one handle, shown by
/// both, replaced, cleared; unknown reviews are not found (a reported
/// review takes one too: see `guarded_writes`). Each is a write with a version, listed in the change log.
async fn seller_responses<S: Store>(store: &S, other: &S, product: u64, id: u64) {
    let respond = |text: Option<&str>| Write::Respond {
        review_id: id,
        response: text.map(str::to_string),
    };
    let newest = query(product, 1, 1, Sort::Newest);
    let before = store.page_versioned(newest.clone()).await.unwrap();
    let start = other.changes_since(None).await.unwrap();
    for text in [
        Some("Thanks! We have sent a longer strap."),
        Some("Updated."),
        None,
    ] {
        let outcome = store
            .write_guarded(respond(text), WriteGuard::default())
            .await
            .unwrap();
        let Outcome::Written(w) = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(w.value, product);
        assert!(w.version > before.version);
        other.newer_elsewhere(product);
        for handle in [store, other] {
            let page = handle.page(newest.clone()).await.unwrap().unwrap();
            assert_eq!(page.reviews[0].review_id, id);
            assert_eq!(page.reviews[0].response.as_deref(), text);
        }
    }
    let polled = other.changes_since(Some(start.cursor)).await.unwrap();
    assert!(ids(&polled).contains(&product), "{:?}", polled.products);
    let unknown = Write::Respond {
        review_id: SET.records + 100_000,
        response: Some("Hello".into()),
    };
    let outcome = store
        .write_guarded(unknown, WriteGuard::default())
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::NotFound);
}

/// The products a change-log poll lists.
fn ids(changes: &Changes) -> Vec<u64> {
    changes.products.iter().map(|c| c.product_id).collect()
}

/// The first product of the data set with no visible review.
fn first_empty_product(g: &Generator) -> u64 {
    (1..=SET.products)
        .find(|&p| common::visible_reviews(g, p).is_empty())
        .expect("the data set has products with no visible review")
}

/// A product with no visible review reads as zeros, takes a first review
/// and then a second, and reads right all along (in every order).
async fn first_review_of_an_empty_product<S: Store>(store: &S, g: &Generator) {
    let product = first_empty_product(g);
    assert_eq!(
        store.meta(product).await.unwrap(),
        Some(empty_meta(product))
    );
    for sort in ORDERS {
        let page = store.page(query(product, 1, 5, sort)).await.unwrap();
        assert_eq!(
            page,
            Some(Page {
                total: 0,
                reviews: Vec::new()
            })
        );
    }
    let mut meta = empty_meta(product);
    let mut ids = Vec::new();
    for n in [11, 12] {
        let new = new_review(product, n);
        let id = store.add_review(product, new.clone()).await.unwrap();
        ids.push(id.expect("a product with no reviews takes one"));
        count_new(&mut meta, product, &new);
        assert_eq!(store.meta(product).await.unwrap(), Some(meta));
        let shown = consistent(store, product).await;
        let shown: BTreeSet<u64> = shown.iter().map(|r| r.review_id).collect();
        assert_eq!(shown, ids.iter().copied().collect());
    }
}

/// 32 new reviews over 8 products and 100 helpful votes on one review, all
/// at once through both handles: every one succeeds and counts exactly.
/// The products written.
async fn concurrent_writes<S: Store>(
    store: &Arc<S>,
    other: &Arc<S>,
    g: &Generator,
) -> BTreeSet<u64> {
    let products: Vec<u64> = (20..28).collect();
    let voted = common::visible_reviews(g, 150)[0];
    let mut metas = Vec::new();
    for &p in &products {
        metas.push(store.meta(p).await.unwrap().unwrap());
    }
    let votes_before = all_pages(&**store, 150, Sort::Newest)
        .await
        .into_iter()
        .find(|r| r.review_id == voted.review_id)
        .expect("the voted review is visible")
        .helpfulness;

    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..32u64 {
        // Each product gets writes through both handles.
        let handle = Arc::clone(if (n / 8) % 2 == 0 { store } else { other });
        let product = products[(n % 8) as usize];
        tasks.spawn(async move {
            let id = handle
                .add_review(product, new_review(product, 100 + n))
                .await;
            (Some(n), id.map_err(|e| e.to_string()))
        });
    }
    for n in 0..100u64 {
        let handle = Arc::clone(if n % 2 == 0 { store } else { other });
        let review = voted.review_id;
        tasks.spawn(async move {
            let product = handle.vote_helpful(review).await;
            (None, product.map_err(|e| e.to_string()))
        });
    }
    let mut ids = HashSet::new();
    while let Some(done) = tasks.join_next().await {
        match done.unwrap() {
            (Some(n), answer) => {
                let id = answer.unwrap_or_else(|e| panic!("review {n}: {e}"));
                assert!(ids.insert(id.expect("known product")), "ids are unique");
            }
            (None, answer) => {
                assert_eq!(answer.expect("vote succeeds"), Some(150));
            }
        }
    }
    assert_eq!(ids.len(), 32);
    assert!(ids.iter().all(|&id| id > SET.records));

    for ((n, &product), before) in products.iter().enumerate().zip(metas) {
        let mut expected = before;
        for k in (n as u64..32).step_by(8) {
            let new = new_review(product, 100 + k);
            count_new(&mut expected, product, &new);
        }
        for handle in [store, other] {
            assert_eq!(
                handle.meta(product).await.unwrap(),
                Some(expected),
                "meta of {product}"
            );
        }
    }
    // The votes show, and move the review up the orders that count them.
    let after = consistent(&**store, 150).await;
    let review = after
        .iter()
        .find(|r| r.review_id == voted.review_id)
        .unwrap();
    assert_eq!(review.helpfulness, votes_before + 100);
    for sort in [Sort::Helpful, Sort::Relevant] {
        let first = store.page(query(150, 1, 1, sort)).await.unwrap().unwrap();
        assert_eq!(first.reviews[0].review_id, voted.review_id, "{sort}");
    }
    products.into_iter().chain([150]).collect()
}

/// A reported review leaves every order's pages, the total and the meta.
async fn reported_reviews_leave_pages_and_counts<S: Store>(store: &S, g: &Generator) {
    let product = 17;
    let victim = common::visible_reviews(g, product)[1];
    let before = consistent(store, product).await;
    let meta = store.meta(product).await.unwrap().unwrap();
    assert_eq!(store.report(victim.review_id).await.unwrap(), Some(product));
    let after = consistent(store, product).await;
    assert_eq!(after.len(), before.len() - 1);
    assert!(after.iter().all(|r| r.review_id != victim.review_id));
    let mut expected = meta;
    let rated = g.record(victim.review_id).characteristics;
    expected.remove(victim.rating, victim.recommend, &rated);
    assert_eq!(store.meta(product).await.unwrap(), Some(expected));
    assert_eq!(store.vote_helpful(victim.review_id).await.unwrap(), None);
    assert_eq!(store.report(victim.review_id).await.unwrap(), None);
}

fn keyed(key: &str, fingerprint: u128, now_ms: u64) -> WriteGuard {
    WriteGuard {
        idempotency: Some(IdempotencyKey {
            key: key.into(),
            fingerprint,
            expires_ms: now_ms + 60_000,
        }),
        voter: None,
        now_ms,
    }
}

fn voter(id: u64, now_ms: u64, until_ms: u64) -> WriteGuard {
    WriteGuard {
        idempotency: None,
        voter: Some(Voter { id, until_ms }),
        now_ms,
    }
}

/// `copies` copies of one guarded write sent at once, alternately through
/// both handles, as retries racing through two processes would; their
/// outcomes.
async fn at_once<S: Store>(
    copies: usize,
    store: &Arc<S>,
    other: &Arc<S>,
    write: Write,
    guard: WriteGuard,
) -> Vec<Outcome> {
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..copies {
        let handle = Arc::clone(if n % 2 == 0 { store } else { other });
        let (write, guard) = (write.clone(), guard.clone());
        tasks.spawn(async move { handle.write_guarded(write, guard).await.unwrap() });
    }
    tasks.join_all().await
}

/// Idempotency keys, one vote per voter, restoring and listing reported
/// reviews: through both handles, as two processes or hosts would.
async fn guarded_writes<S: Store>(store: &Arc<S>, other: &Arc<S>, g: &Generator) {
    let now = reviews::clock::now_ms();
    let product = 33;
    let before = store.meta(product).await.unwrap().unwrap();
    let key = format!("suite-{now}");
    let add = || Write::AddReview {
        product_id: product,
        review: new_review(product, 21),
    };

    // The first request writes; its retry, through the other handle, is
    // answered the same and writes nothing; the key with another request
    // is refused.
    let first = store
        .write_guarded(add(), keyed(&key, 1, now))
        .await
        .unwrap();
    let Outcome::Written(written) = first else {
        panic!("first write: {first:?}")
    };
    let retry = other
        .write_guarded(add(), keyed(&key, 1, now))
        .await
        .unwrap();
    assert!(
        matches!(retry, Outcome::Replayed(w) if w.value == written.value),
        "{retry:?}"
    );
    let reused = other
        .write_guarded(add(), keyed(&key, 2, now))
        .await
        .unwrap();
    assert_eq!(reused, Outcome::KeyReused);
    let mut expected = before;
    let new = new_review(product, 21);
    count_new(&mut expected, product, &new);
    assert_eq!(
        store.meta(product).await.unwrap(),
        Some(expected),
        "one review"
    );
    // Past its expiry the key is forgotten: the same request writes again.
    let later = now + 120_000;
    let again = store
        .write_guarded(add(), keyed(&key, 1, later))
        .await
        .unwrap();
    assert!(
        matches!(again, Outcome::Written(w) if w.value != written.value),
        "{again:?}"
    );
    count_new(&mut expected, product, &new);
    assert_eq!(store.meta(product).await.unwrap(), Some(expected));

    // Many copies of one keyed review at once, through both handles: one
    // is written, the others replay its answer.
    let post_key = format!("post-{now}");
    let outcomes = at_once(8, store, other, add(), keyed(&post_key, 5, now)).await;
    let firsts: Vec<u64> = outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Written(w) => Some(w.value),
            _ => None,
        })
        .collect();
    assert_eq!(firsts.len(), 1, "one of 8 copies written: {outcomes:?}");
    assert!(
        outcomes.iter().all(
            |o| matches!(o, Outcome::Written(w) | Outcome::Replayed(w) if w.value == firsts[0])
        ),
        "the others replay its review id: {outcomes:?}"
    );
    count_new(&mut expected, product, &new);
    assert_eq!(
        store.meta(product).await.unwrap(),
        Some(expected),
        "one review more"
    );

    // Many copies of one keyed vote at once, through both handles: one
    // counts, the others replay it.
    let voted = common::visible_reviews(g, 40)[0].review_id;
    let helpful = |s: &Arc<S>| {
        let s = Arc::clone(s);
        async move { all_pages(&*s, 40, Sort::Newest).await }
    };
    let votes_of = |reviews: Vec<Review>| {
        reviews
            .into_iter()
            .find(|r| r.review_id == voted)
            .unwrap()
            .helpfulness
    };
    let start = votes_of(helpful(store).await);
    let vote_key = format!("vote-{now}");
    let vote = Write::Helpful { review_id: voted };
    let outcomes = at_once(8, store, other, vote, keyed(&vote_key, 7, now)).await;
    let written = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Written(_)))
        .count();
    assert_eq!(written, 1, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, Outcome::Written(w) | Outcome::Replayed(w) if w.value == 40)),
        "{outcomes:?}"
    );
    assert_eq!(votes_of(helpful(store).await), start + 1);

    // One helpful vote per voter within the window, whichever handle.
    let helpful_vote = || Write::Helpful { review_id: voted };
    let until = now + 60_000;
    let first = store
        .write_guarded(helpful_vote(), voter(11, now, until))
        .await
        .unwrap();
    assert!(matches!(first, Outcome::Written(_)), "{first:?}");
    let twice = other
        .write_guarded(helpful_vote(), voter(11, now, until))
        .await
        .unwrap();
    assert!(
        matches!(twice, Outcome::Unchanged(w) if w.value == 40),
        "{twice:?}"
    );
    let someone = other
        .write_guarded(helpful_vote(), voter(12, now, until))
        .await
        .unwrap();
    assert!(matches!(someone, Outcome::Written(_)), "{someone:?}");
    let after_window = store
        .write_guarded(helpful_vote(), voter(11, until + 1, until + 60_000))
        .await
        .unwrap();
    assert!(
        matches!(after_window, Outcome::Written(_)),
        "{after_window:?}"
    );
    assert_eq!(votes_of(helpful(other).await), start + 4);

    // One voter's 16 votes at once, through both handles: one counts.
    let outcomes = at_once(16, store, other, helpful_vote(), voter(13, now, until)).await;
    let counted = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Written(_)))
        .count();
    assert_eq!(counted, 1, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, Outcome::Written(w) | Outcome::Unchanged(w) if w.value == 40)),
        "{outcomes:?}"
    );
    assert_eq!(votes_of(helpful(store).await), start + 5);

    // Reported reviews are listed, newest id first, and restored: back in
    // pages and meta; a vote on a hidden review is unknown whoever votes.
    let product = 41;
    let victims: Vec<u64> = common::visible_reviews(g, product)
        .iter()
        .take(2)
        .map(|r| r.review_id)
        .collect();
    let meta = store.meta(product).await.unwrap().unwrap();
    let shown = consistent(&**store, product).await;
    for &id in &victims {
        assert_eq!(store.report(id).await.unwrap(), Some(product));
    }
    let hidden = store
        .write_guarded(
            Write::Helpful {
                review_id: victims[0],
            },
            voter(11, now, until),
        )
        .await
        .unwrap();
    assert_eq!(hidden, Outcome::NotFound);
    let listed = other.reported(None, 1000).await.unwrap();
    let ids: Vec<u64> = listed.iter().map(|r| r.review_id).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "highest id first");
    for id in &victims {
        assert!(ids.contains(id), "reported review {id} listed");
    }
    let reported_at_load = (1..=SET.records)
        .filter(|&id| g.record(id).reported)
        .count();
    // Every reported review: the data set's, and this suite's.
    assert!(listed.len() > reported_at_load, "{} listed", listed.len());
    let page = other.reported(Some(victims[1]), 3).await.unwrap();
    assert!(page.len() <= 3 && page.iter().all(|r| r.review_id < victims[1]));
    assert_eq!(
        listed
            .iter()
            .find(|r| r.review_id == victims[0])
            .unwrap()
            .product_id,
        product
    );

    assert_eq!(other.restore(victims[0]).await.unwrap(), Some(product));
    assert_eq!(
        other.restore(victims[0]).await.unwrap(),
        None,
        "not reported now"
    );
    assert_eq!(store.restore(SET.records + 10_000).await.unwrap(), None);
    let mut expected = meta;
    let hidden = g.record(victims[1]);
    expected.remove(hidden.rating, hidden.recommend, &hidden.characteristics);
    assert_eq!(store.meta(product).await.unwrap(), Some(expected));
    let back = consistent(&**store, product).await;
    assert_eq!(back.len(), shown.len() - 1);
    assert!(back.iter().any(|r| r.review_id == victims[0]));
    let listed = store.reported(None, 1000).await.unwrap();
    assert!(!listed.iter().any(|r| r.review_id == victims[0]));
    assert!(listed.iter().any(|r| r.review_id == victims[1]));

    // A reported (hidden) review takes a seller's response too, and a
    // moderator sees it.
    let write = Write::Respond {
        review_id: victims[1],
        response: Some("We are looking into it.".into()),
    };
    let outcome = other
        .write_guarded(write, WriteGuard::default())
        .await
        .unwrap();
    assert!(matches!(outcome, Outcome::Written(_)), "{outcome:?}");
    let listed = store.reported(Some(victims[1] + 1), 1).await.unwrap();
    assert_eq!(listed[0].review_id, victims[1]);
    assert_eq!(
        listed[0].response.as_deref(),
        Some("We are looking into it.")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_store_passes_the_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    store
        .load(SET, LoadOptions::default(), &mut Silent)
        .unwrap();
    let other = Arc::new(store.clone());
    suite(Arc::new(store), other).await;
}

#[cfg(feature = "mongodb")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MONGODB_URI (a MongoDB replica set, standalone or mongos)"]
async fn mongodb_store_passes_the_suite() {
    let config = MongoConfig {
        uri: common::mongo::fresh_database_uri("suite"),
        // What production runs with: the suite checks writers read their writes.
        read_preference: "secondaryPreferred".into(),
        pool_size: 16,
        timeout: std::time::Duration::from_secs(10),
    };
    let store = MongoStore::connect(&config)
        .await
        .expect("MongoDB reachable");
    store
        .load(
            SET,
            LoadOptions {
                batch: 500,
                threads: 2,
            },
            &mut Silent,
        )
        .await
        .unwrap();
    // A second client, as another process would have.
    let other = MongoStore::connect(&config)
        .await
        .expect("MongoDB reachable");
    let store = Arc::new(store);
    suite(Arc::clone(&store), Arc::new(other)).await;
    store.drop_all().await.unwrap();
}

/// A data set loaded by the version before filters (document layout 2: no
/// `has_photos`, no facet index, no characteristics) is refused with a
/// clear error until `seed` (the same `load`) upgrades it in place; then
/// filters answer as on a fresh load, every product has its
/// characteristics (one without a meta document too), the stored reviews
/// rate none and count in no average, and a new review counts in.
#[cfg(feature = "mongodb")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MONGODB_URI (a MongoDB replica set, standalone or mongos)"]
async fn mongodb_data_set_of_the_layout_before_filters_is_upgraded_by_seed() {
    use mongodb::bson::{Document, doc};
    let uri = common::mongo::fresh_database_uri("upgrade");
    let config = MongoConfig {
        uri: uri.clone(),
        read_preference: "primary".into(),
        pool_size: 4,
        timeout: std::time::Duration::from_secs(10),
    };
    let options = LoadOptions {
        batch: 500,
        threads: 2,
    };
    let store = MongoStore::connect(&config).await.unwrap();
    store.load(SET, options, &mut Silent).await.unwrap();
    // Back to layout 2, as the older version left it.
    let client = mongodb::Client::with_uri_str(&uri).await.unwrap();
    let db = client.default_database().unwrap();
    let reviews = db.collection::<Document>("reviews");
    reviews
        .update_many(
            doc! {},
            doc! { "$unset": { "has_photos": "", "characteristics": "" } },
        )
        .await
        .unwrap();
    let metas = db.collection::<Document>("meta");
    metas
        .update_many(doc! {}, doc! { "$unset": { "characteristics": "" } })
        .await
        .unwrap();
    let g = Generator::new(SET);
    let empty = first_empty_product(&g);
    metas
        .delete_one(doc! { "_id": empty as i64 })
        .await
        .unwrap();
    reviews.drop_index("visible_facets").await.unwrap();
    db.collection::<Document>("info")
        .update_one(
            doc! { "_id": "data_set" },
            doc! { "$set": { "layout": 2_i64 } },
        )
        .await
        .unwrap();

    let older = MongoStore::connect(&config).await.unwrap();
    let refused = older.meta(1).await.unwrap_err().to_string();
    assert!(
        refused.contains("run `seed` with the same flags to upgrade it"),
        "{refused}"
    );
    older.load(SET, options, &mut Silent).await.unwrap();
    let upgraded = MongoStore::connect(&config).await.unwrap();
    for product in [1, 17] {
        let visible: Vec<Review> = common::visible_reviews(&g, product)
            .iter()
            .map(|s| Review {
                characteristics: Default::default(),
                ..g.record(s.review_id)
            })
            .collect();
        filtered_agree(&upgraded, product, &visible).await;
    }
    for product in [1, 17, empty] {
        let meta = upgraded.meta(product).await.unwrap().unwrap();
        assert_eq!(
            meta.characteristics,
            g.characteristics(product),
            "{product}"
        );
    }
    let new = new_review(17, 5);
    let before = upgraded.meta(17).await.unwrap().unwrap();
    upgraded.add_review(17, new.clone()).await.unwrap().unwrap();
    let mut expected = before;
    count_new(&mut expected, 17, &new);
    assert_eq!(upgraded.meta(17).await.unwrap(), Some(expected));
    assert!(
        expected.characteristics.iter().all(|s| s.count == 1),
        "only the new review counts: {expected:?}"
    );
    let names = reviews.list_index_names().await.unwrap();
    assert!(names.iter().any(|n| n == "visible_facets"), "{names:?}");
    upgraded.drop_all().await.unwrap();
}

#[cfg(feature = "mongodb")]
#[test]
fn database_names_are_swapped_into_uris() {
    use common::mongo::with_database;
    assert_eq!(
        with_database("mongodb://a:1,b:2/?replicaSet=rs0", "x"),
        "mongodb://a:1,b:2/x?replicaSet=rs0"
    );
    assert_eq!(with_database("mongodb://h/reviews", "x"), "mongodb://h/x");
    assert_eq!(
        with_database("mongodb+srv://u:p@c.example", "x"),
        "mongodb+srv://u:p@c.example/x"
    );
}

/// Expired keys and votes leave the embedded store as later writes commit:
/// each sweeps a few, oldest first, so the records stay about as many as
/// one retention period's writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_expired_records_are_swept_by_later_writes() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    store
        .load(SET, LoadOptions::default(), &mut Silent)
        .unwrap();
    let now = reviews::clock::now_ms();
    let g = Generator::new(SET);
    let voted = common::visible_reviews(&g, 50)[0].review_id;
    for n in 0..20 {
        let guard = WriteGuard {
            idempotency: Some(IdempotencyKey {
                key: format!("short-lived-{n}"),
                fingerprint: n,
                expires_ms: now + 1_000,
            }),
            voter: Some(Voter {
                id: n as u64,
                until_ms: now + 1_000,
            }),
            now_ms: now,
        };
        let write = Write::Helpful { review_id: voted };
        let outcome = store.write_guarded(write, guard).await.unwrap();
        assert!(matches!(outcome, Outcome::Written(_)), "{outcome:?}");
    }
    assert_eq!(
        store.expiring_records().unwrap(),
        40,
        "20 keys and 20 votes"
    );
    let later = |n: u64| WriteGuard {
        now_ms: now + 2_000 + n,
        ..WriteGuard::default()
    };
    let write = || Write::Helpful { review_id: voted };
    store.write_guarded(write(), later(0)).await.unwrap();
    assert_eq!(
        store.expiring_records().unwrap(),
        24,
        "16 swept by one write"
    );
    store.write_guarded(write(), later(1)).await.unwrap();
    store.write_guarded(write(), later(2)).await.unwrap();
    assert_eq!(store.expiring_records().unwrap(), 0);
    // A write that finds nothing to do leaves no trace, and sweeps nothing.
    let unknown = Write::Helpful {
        review_id: SET.records + 1,
    };
    assert_eq!(
        store.write_guarded(unknown, later(3)).await.unwrap(),
        Outcome::NotFound
    );
}
