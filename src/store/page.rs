//! Choosing one page out of a product's reviews: the entries are sorted by
//! the page's order only as far as the page reaches.

/// A review's place in a sorted page: its sort key, then its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SortEntry {
    /// [`crate::model::Sort::key`] of the review.
    pub key: (i64, i64),
    /// Breaks ties.
    pub review_id: u64,
}

/// The entries of one page, in order: largest first ([`SortEntry`]s: the
/// largest key, ties on the larger review id; an entry may carry more after
/// its `SortEntry`). Only the entries up to the page's end are fully sorted.
pub fn select_page<E: Ord>(entries: &mut [E], offset: u64, count: u32) -> &[E] {
    let len = entries.len() as u64;
    if offset >= len {
        return &[];
    }
    let end = (offset + u64::from(count)).min(len) as usize;
    let descending = |a: &E, b: &E| b.cmp(a);
    if end < entries.len() {
        entries.select_nth_unstable_by(end - 1, descending);
    }
    entries[..end].sort_unstable_by(descending);
    &entries[offset as usize..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_sort_descending_with_ties_on_the_larger_id() {
        let entry = |key, review_id| SortEntry {
            key: (key, 0),
            review_id,
        };
        let entries = vec![
            entry(5, 1),
            entry(7, 2),
            entry(5, 9),
            entry(7, 3),
            entry(1, 4),
        ];
        let ids = |page: &[SortEntry]| page.iter().map(|e| e.review_id).collect::<Vec<_>>();
        assert_eq!(ids(select_page(&mut entries.clone(), 0, 2)), [3, 2]);
        assert_eq!(ids(select_page(&mut entries.clone(), 2, 2)), [9, 1]);
        assert_eq!(ids(select_page(&mut entries.clone(), 4, 2)), [4]);
        assert!(select_page(&mut entries.clone(), 5, 2).is_empty());
    }
}
