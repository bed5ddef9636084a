//! Finding the data set's products by name: a compact index built from the
//! generator alone, so it is the same over every store.
//!
//! A product's name is six words or phrases of the vocabulary (its
//! category, noun, brand, line, series and variant: its *terms*). The index
//! keeps, per product, which term fills each slot (6 bytes), and per term
//! the ascending ids of its products, delta-encoded as LEB128 varints
//! (about a byte each). At 1M products that is about 12 MiB, built in
//! under 0.1 s.
//!
//! A query is split into words (letters and digits, lowercased); a product
//! matches when every word is the beginning of a word of its name or its
//! category ("run sho" finds running shoes). Matches come in product id
//! order: the generator makes low ids the most reviewed. The word with the
//! fewest candidates drives: its terms' products are gathered from their
//! postings, and each is checked against the other words in its row. A
//! word as broad as a quarter of the catalog or more scans the rows instead.

use super::Generator;
use super::words::{BRANDS, CATEGORIES};

/// Most words a query may have.
pub const MAX_QUERY_WORDS: usize = 8;

/// Slots of a product's name, in row order: category, noun, brand, line,
/// series, variant.
const SLOTS: usize = 6;
const CATEGORY: usize = 0;
const BRAND: usize = 2;

/// The product search index of one data set.
pub struct Catalog {
    products: u64,
    /// Product `p`'s slot values (indexes into its category's lists) at `p - 1`.
    rows: Vec<[u8; SLOTS]>,
    /// Term id of each (slot, category, value); brand and category do not
    /// depend on the category and use category 0.
    term_of: [Vec<Vec<u16>>; SLOTS],
    terms: Vec<Term>,
    /// Every term's posting, one after another.
    postings: Vec<u8>,
}

/// One word or phrase of the vocabulary and where its products are listed.
struct Term {
    /// Its words, lowercased.
    words: Vec<String>,
    /// Products it names.
    count: u64,
    /// Its posting in [`Catalog::postings`].
    start: usize,
    end: usize,
}

/// One page of a search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hits {
    /// Products matching in all.
    pub total: u64,
    /// The page's product ids, ascending.
    pub ids: Vec<u64>,
}

/// A set of term ids.
struct TermSet {
    bits: Vec<u64>,
    /// Products the set's terms name, counted once per term.
    estimate: u64,
}

impl TermSet {
    fn contains(&self, term: u16) -> bool {
        self.bits[usize::from(term) / 64] & (1 << (term % 64)) != 0
    }
}

/// The words of `text`: runs of letters and digits, lowercased.
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

impl Catalog {
    /// Indexes every product of `g`'s data set.
    pub fn build(g: &Generator) -> Catalog {
        let (terms, term_of) = vocabulary();
        let mut terms = terms;
        let products = g.data_set().products;
        let mut rows = Vec::with_capacity(products as usize);
        for p in 1..=products {
            let parts = g.parts(p);
            rows.push([
                parts.category,
                parts.noun,
                parts.brand,
                parts.line,
                parts.series,
                parts.variant,
            ]);
        }
        let mut catalog = Catalog {
            products,
            rows,
            term_of,
            terms: Vec::new(),
            postings: Vec::new(),
        };
        let mut lists: Vec<Vec<u8>> = vec![Vec::new(); terms.len()];
        let mut last = vec![0u64; terms.len()];
        for (i, row) in catalog.rows.iter().enumerate() {
            let id = i as u64 + 1;
            for slot in 0..SLOTS {
                let t = usize::from(catalog.term(row, slot));
                terms[t].count += 1;
                if terms[t].words.is_empty() {
                    continue; // a term with no words is never searched for
                }
                push_varint(&mut lists[t], id - last[t]);
                last[t] = id;
            }
        }
        let total = lists.iter().map(Vec::len).sum();
        catalog.postings.reserve_exact(total);
        for (term, list) in terms.iter_mut().zip(lists) {
            term.start = catalog.postings.len();
            catalog.postings.extend_from_slice(&list);
            term.end = catalog.postings.len();
        }
        catalog.terms = terms;
        catalog
    }

    /// Products indexed.
    pub fn products(&self) -> u64 {
        self.products
    }

    /// Bytes the index holds on the heap.
    pub fn heap_bytes(&self) -> usize {
        let vocabulary: usize = self
            .terms
            .iter()
            .map(|t| {
                std::mem::size_of::<Term>() + t.words.iter().map(|w| w.len() + 24).sum::<usize>()
            })
            .sum();
        self.rows.capacity() * SLOTS + self.postings.capacity() + vocabulary
    }

    /// The products whose name matches every word of `query` (all products
    /// for a query with no words): how many, and the ids of the `limit`
    /// after the first `offset`, ascending.
    pub fn search(&self, query: &str, offset: u64, limit: usize) -> Hits {
        let words = words(query);
        if words.is_empty() {
            let ids = (offset.saturating_add(1)..=self.products)
                .take(limit)
                .collect();
            return Hits {
                total: self.products,
                ids,
            };
        }
        let sets: Vec<TermSet> = words.iter().map(|w| self.matching(w)).collect();
        let driver = sets
            .iter()
            .min_by_key(|s| s.estimate)
            .expect("a query with words has sets");
        let mut hits = Hits {
            total: 0,
            ids: Vec::new(),
        };
        let take = |id: u64, hits: &mut Hits| {
            if hits.total >= offset && hits.ids.len() < limit {
                hits.ids.push(id);
            }
            hits.total += 1;
        };
        if driver.estimate == 0 {
            return hits;
        }
        if driver.estimate.saturating_mul(4) >= self.products {
            for (i, row) in self.rows.iter().enumerate() {
                if sets.iter().all(|s| self.row_matches(row, s)) {
                    take(i as u64 + 1, &mut hits);
                }
            }
            return hits;
        }
        let mut candidates = vec![0u64; (self.products as usize) / 64 + 1];
        for (t, term) in self.terms.iter().enumerate() {
            if !driver.contains(t as u16) {
                continue;
            }
            let mut id = 0u64;
            let mut at = term.start;
            while at < term.end {
                id += read_varint(&self.postings, &mut at);
                candidates[(id / 64) as usize] |= 1 << (id % 64);
            }
        }
        for (w, &word) in candidates.iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                let id = w as u64 * 64 + u64::from(bits.trailing_zeros());
                bits &= bits - 1;
                let row = &self.rows[id as usize - 1];
                if sets.iter().all(|s| self.row_matches(row, s)) {
                    take(id, &mut hits);
                }
            }
        }
        hits
    }

    /// The terms `word` begins a word of.
    fn matching(&self, word: &str) -> TermSet {
        let mut set = TermSet {
            bits: vec![0; self.terms.len() / 64 + 1],
            estimate: 0,
        };
        for (t, term) in self.terms.iter().enumerate() {
            if term.words.iter().any(|w| w.starts_with(word)) {
                set.bits[t / 64] |= 1 << (t % 64);
                set.estimate += term.count;
            }
        }
        set
    }

    fn row_matches(&self, row: &[u8; SLOTS], set: &TermSet) -> bool {
        (0..SLOTS).any(|slot| set.contains(self.term(row, slot)))
    }

    fn term(&self, row: &[u8; SLOTS], slot: usize) -> u16 {
        let scope = match slot {
            CATEGORY | BRAND => 0,
            _ => usize::from(row[CATEGORY]),
        };
        self.term_of[slot][scope][usize::from(row[slot])]
    }
}

/// Every term of the vocabulary, and the id of each (slot, category, value).
fn vocabulary() -> (Vec<Term>, [Vec<Vec<u16>>; SLOTS]) {
    let mut terms = Vec::new();
    let mut add = |text: &str| {
        terms.push(Term {
            words: words(text),
            count: 0,
            start: 0,
            end: 0,
        });
        (terms.len() - 1) as u16
    };
    let mut term_of: [Vec<Vec<u16>>; SLOTS] = Default::default();
    term_of[CATEGORY].push(CATEGORIES.iter().map(|c| add(c.name)).collect());
    term_of[BRAND].push(BRANDS.iter().map(|b| add(b)).collect());
    for c in CATEGORIES {
        term_of[1].push(c.nouns.iter().map(|n| add(n.title)).collect());
        term_of[3].push(c.lines.iter().map(|l| add(l)).collect());
        term_of[4].push(c.series.iter().map(|s| add(s)).collect());
        term_of[5].push(c.variants.iter().map(|v| add(v.name)).collect());
    }
    (terms, term_of)
}

fn push_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push(n as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn read_varint(bytes: &[u8], at: &mut usize) -> u64 {
    let mut n = 0u64;
    let mut shift = 0;
    loop {
        let b = bytes[*at];
        *at += 1;
        n |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return n;
        }
        shift += 7;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::DataSet;

    fn brute_force(g: &Generator, query: &str) -> Vec<u64> {
        let wanted = words(query);
        (1..=g.data_set().products)
            .filter(|&p| {
                let product = g.product(p).unwrap();
                let have = words(&format!("{} {}", product.name, product.category));
                wanted
                    .iter()
                    .all(|w| have.iter().any(|h| h.starts_with(w.as_str())))
            })
            .collect()
    }

    #[test]
    fn search_agrees_with_brute_force() {
        let g = Generator::new(DataSet::new(42, 200_000, None));
        let catalog = Catalog::build(&g);
        let some_name = g.product(1234).unwrap().name;
        for query in [
            "kestrel",
            "KESTREL running",
            "run sho",
            "shoes",
            "s",
            "wren & co. navy",
            "t-shirt",
            "2-slice toaster black",
            "headphones graphite",
            "glide 3",
            "spf 50",
            "zzz",
            "kestrel zzz",
            "games puzzles family",
            &some_name,
        ] {
            let expected = brute_force(&g, query);
            let all = catalog.search(query, 0, usize::MAX);
            assert_eq!(all.total, expected.len() as u64, "{query}");
            assert_eq!(all.ids, expected, "{query}");
            let page = catalog.search(query, 3, 4);
            let window: Vec<u64> = expected.iter().copied().skip(3).take(4).collect();
            assert_eq!(page.ids, window, "{query} page");
            assert_eq!(page.total, expected.len() as u64);
        }
        assert!(catalog.search(&some_name, 0, 10).ids.contains(&1234));
    }

    #[test]
    fn an_empty_query_lists_every_product_and_pages_end() {
        let g = Generator::new(DataSet::new(42, 1_000, None));
        let catalog = Catalog::build(&g);
        let first = catalog.search(" ,, ", 0, 3);
        assert_eq!((first.total, first.ids), (100, vec![1, 2, 3]));
        assert_eq!(catalog.search("", 98, 5).ids, vec![99, 100]);
        assert!(catalog.search("", 100, 5).ids.is_empty());
        assert!(catalog.search("shoes", 1_000_000, 5).ids.is_empty());
    }

    #[test]
    fn the_index_is_small() {
        let g = Generator::new(DataSet::new(42, 1_000_000, None));
        let catalog = Catalog::build(&g);
        let per_product = catalog.heap_bytes() as f64 / catalog.products() as f64;
        // 1M products stay well under 32 MiB.
        assert!(per_product < 14.0, "{per_product} bytes per product");
    }

    #[test]
    fn varints_round_trip() {
        let mut buf = Vec::new();
        let values = [0, 1, 127, 128, 300, 16_384, u64::from(u32::MAX)];
        for v in values {
            push_varint(&mut buf, v);
        }
        let mut at = 0;
        for v in values {
            assert_eq!(read_varint(&buf, &mut at), v);
        }
        assert_eq!(at, buf.len());
    }
}
