//! Searching a product's reviews for words (`q=` of docs/api.md): whole
//! words, case- and accent-insensitive, every word present in the summary
//! or the body.
//!
//! Text is cut into words the same way on both sides: accents come off
//! (canonical decomposition, combining marks dropped; the Latin letters
//! that do not decompose are spelled out: `ø` is `o`, `ł` is `l`, `ß` is
//! `ss`, `æ` is `ae`, see [`spelled`]), letters are lowercased,
//! apostrophes (`'` and `’`) vanish inside a word (`don't` is `dont`), and
//! a word is a run of letters and digits; anything else separates words. Matching is exact on those words: `size` does not
//! match `sizing`.

use std::sync::Arc;

use unicode_normalization::char::{decompose_canonical, is_combining_mark};

/// Most words a search may hold.
pub const MAX_WORDS: usize = 8;
/// Fewest and most letters and digits of a searched word, as written
/// (marks and apostrophes not counted: `ß` is one, `don't` four).
pub const WORD_CHARS: std::ops::RangeInclusive<usize> = 2..=32;
/// Most characters of a whole search, as sent.
pub const MAX_CHARS: usize = 200;

/// The normalized, distinct words of a search, sorted: two spellings of
/// the same search are one value (one cache entry). Cloning is cheap.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Words(Arc<[Box<str>]>);

/// Why a search was refused; the message names `q`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadSearch(String);

impl Words {
    /// The words of a client's search, by one rule: at most [`MAX_CHARS`]
    /// characters and no control character; then its words are what
    /// [`each_word`] cuts, and a search with none (empty, spaces of any
    /// kind, invisible characters, punctuation, symbols, emoji) is no
    /// search (`Ok(None)`); otherwise each word must have
    /// [`WORD_CHARS`] letters and digits as written, and there may be at
    /// most [`MAX_WORDS`] different ones.
    pub fn parse(raw: &str) -> Result<Option<Words>, BadSearch> {
        let chars = raw.chars().count();
        if chars > MAX_CHARS {
            return Err(BadSearch(format!(
                "q must be at most {MAX_CHARS} characters, got {chars}"
            )));
        }
        if raw.chars().any(char::is_control) {
            return Err(BadSearch("q must not contain control characters".into()));
        }
        let mut words = Vec::new();
        let mut refused = None;
        each_word(raw, |word, written| {
            if !WORD_CHARS.contains(&written.chars) && refused.is_none() {
                refused = Some((written.text, written.chars));
            }
            words.push(Box::<str>::from(word));
            true
        });
        if let Some((word, chars)) = refused {
            let shown: String = word.chars().take(40).collect();
            return Err(BadSearch(format!(
                "q words must be {} to {} letters or digits long, got \"{shown}\" ({chars})",
                WORD_CHARS.start(),
                WORD_CHARS.end()
            )));
        }
        if words.is_empty() {
            return Ok(None);
        }
        words.sort_unstable();
        words.dedup();
        if words.len() > MAX_WORDS {
            return Err(BadSearch(format!(
                "q may hold at most {MAX_WORDS} different words, got {}",
                words.len()
            )));
        }
        Ok(Some(Words(words.into())))
    }

    /// The words, sorted.
    pub fn as_slice(&self) -> &[Box<str>] {
        &self.0
    }

    /// Whether every word occurs, whole, in one of `texts`. Text that is
    /// all ASCII (nearly every review) is folded into one lowercase copy
    /// and searched for each word, a few nanoseconds a byte; other text
    /// is cut into words one character at a time.
    pub fn all_in(&self, texts: &[&str]) -> bool {
        thread_local! {
            static FOLDED: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
        }
        FOLDED.with_borrow_mut(|folded| {
            folded.clear();
            for text in texts {
                if !fold_ascii(text, folded) {
                    return self.all_in_words(texts);
                }
                folded.push(' ');
            }
            self.0.iter().all(|word| has_whole(folded, word))
        })
    }

    /// [`Words::all_in`] for any text: each word of it normalized in turn.
    fn all_in_words(&self, texts: &[&str]) -> bool {
        let all = (1u16 << self.0.len()) - 1;
        let mut found = 0u16;
        for text in texts {
            each_word(text, |word, _| {
                if let Ok(at) = self.0.binary_search_by(|w| (**w).cmp(word)) {
                    found |= 1 << at;
                }
                found != all
            });
            if found == all {
                return true;
            }
        }
        false
    }
}

impl std::fmt::Display for Words {
    /// The normalized words joined by spaces (the cache's spelling).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, word) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(word)?;
        }
        Ok(())
    }
}

/// Appends ASCII `text` to `out` lowercased and without apostrophes (its
/// words as [`each_word`] would cut them, in place); false, leaving `out`
/// partly written, if `text` is not all ASCII.
fn fold_ascii(text: &str, out: &mut String) -> bool {
    if !text.is_ascii() {
        return false;
    }
    out.extend(
        text.bytes()
            .filter(|&b| b != b'\'')
            .map(|b| char::from(b.to_ascii_lowercase())),
    );
    true
}

/// Whether `word` occurs in folded ASCII text `hay` between characters
/// that are not letters or digits.
fn has_whole(hay: &str, word: &str) -> bool {
    let bytes = hay.as_bytes();
    let mut from = 0;
    while let Some(at) = hay[from..].find(word) {
        let (start, end) = (from + at, from + at + word.len());
        let open = start == 0 || !bytes[start - 1].is_ascii_alphanumeric();
        let closed = end == bytes.len() || !bytes[end].is_ascii_alphanumeric();
        if open && closed {
            return true;
        }
        from = start + 1;
    }
    false
}

/// A word as the text writes it.
#[derive(Debug, Clone, Copy)]
struct Written<'t> {
    /// Its characters in the text, marks and apostrophes included.
    text: &'t str,
    /// How many of them are letters or digits (not marks, not apostrophes).
    chars: usize,
}

/// Calls `visit` with each normalized word of `text`, in order, and the
/// word as written, until it answers false.
fn each_word<'t>(text: &'t str, mut visit: impl FnMut(&str, Written<'t>) -> bool) {
    let mut word = String::with_capacity(32);
    let (mut start, mut chars) = (0, 0);
    for (at, c) in text.char_indices() {
        let in_word = if c.is_ascii() {
            push(c, &mut word)
        } else if is_apostrophe(c) {
            true
        } else {
            let mut kept = true;
            decompose_canonical(c, |d| {
                if !is_combining_mark(d) {
                    kept &= push(d, &mut word);
                }
            });
            kept
        };
        if in_word && !is_apostrophe(c) && !is_combining_mark(c) {
            chars += 1;
        }
        if !in_word {
            if !word.is_empty() {
                let written = Written {
                    text: &text[start..at],
                    chars,
                };
                if !visit(&word, written) {
                    return;
                }
                word.clear();
            }
            (start, chars) = (at + c.len_utf8(), 0);
        }
    }
    if !word.is_empty() {
        visit(
            &word,
            Written {
                text: &text[start..],
                chars,
            },
        );
    }
}

/// Adds `c` to `word` if it is a letter or digit; whether the word goes on.
fn push(c: char, word: &mut String) -> bool {
    if let Some(plain) = spelled(c) {
        word.push_str(plain);
        true
    } else if c.is_alphanumeric() {
        word.extend(c.to_lowercase());
        true
    } else {
        is_combining_mark(c) || is_apostrophe(c)
    }
}

/// The Latin letters with no canonical decomposition that a shopper types
/// without their stroke or as two letters, lowercase.
pub fn spelled(c: char) -> Option<&'static str> {
    Some(match c {
        'ø' | 'Ø' => "o",
        'ł' | 'Ł' => "l",
        'đ' | 'Đ' => "d",
        'ħ' | 'Ħ' => "h",
        'ı' => "i",
        'ß' | 'ẞ' => "ss",
        'æ' | 'Æ' => "ae",
        'œ' | 'Œ' => "oe",
        'þ' | 'Þ' => "th",
        _ => return None,
    })
}

fn is_apostrophe(c: char) -> bool {
    c == '\'' || c == '\u{2019}'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(raw: &str) -> Vec<String> {
        let mut out = Vec::new();
        each_word(raw, |w, _| {
            out.push(w.to_string());
            true
        });
        out
    }

    fn search(raw: &str) -> Words {
        Words::parse(raw).unwrap().unwrap()
    }

    #[test]
    fn words_lose_case_accents_and_apostrophes() {
        assert_eq!(
            words("Don't — Crème BRÛLÉE, size-9! naïve’s"),
            ["dont", "creme", "brulee", "size", "9", "naives"]
        );
        assert_eq!(words("Ünïcödé café"), ["unicode", "cafe"]);
        assert_eq!(
            words("Søren Łódź Straße Æsir"),
            ["soren", "lodz", "strasse", "aesir"]
        );
        assert_eq!(words("東京 の 旅"), ["東京", "の", "旅"]);
        assert!(words(" ,.;!? ").is_empty());
    }

    #[test]
    fn every_word_must_occur_whole_in_summary_or_body() {
        let q = search("Sizing  runs");
        assert_eq!(q.to_string(), "runs sizing");
        assert!(q.all_in(&["The sizing", "It RUNS small."]));
        assert!(q.all_in(&["", "sízing runs"]));
        assert!(!q.all_in(&["The sizing", "It runs-small"][..1]));
        assert!(!q.all_in(&["resizing runs", ""]), "whole words only");
        assert!(!q.all_in(&["sizing", "running"]));
        assert_eq!(search("runs sizing RUNS"), q, "one spelling per search");
    }

    /// The ASCII fast path and the word-by-word one agree on generated
    /// reviews, for words they hold and words they hold only inside others.
    #[test]
    fn folded_ascii_and_word_by_word_agree() {
        use crate::generate::{DataSet, Generator};
        let g = Generator::new(DataSet::new(7, 3_000, None));
        let (mut held, mut tried) = (0, 0);
        for id in 1..=600 {
            let r = g.record(id);
            let other = g.record(id + 1_000);
            let mut candidates: Vec<String> = words(&other.body);
            candidates.extend(words(&r.summary).into_iter().take(2));
            candidates.extend(["ing".into(), "the".into(), "it's".into(), "dont".into()]);
            for pair in candidates.chunks(2) {
                let Ok(Some(q)) = Words::parse(&pair.join(" ")) else {
                    continue;
                };
                let texts = [r.summary.as_str(), r.body.as_str()];
                assert_eq!(
                    q.all_in(&texts),
                    q.all_in_words(&texts),
                    "{q} in review {id}"
                );
                held += usize::from(q.all_in(&texts));
                tried += 1;
            }
        }
        assert!(held > 10 && held < tried, "{held} of {tried}");
        let q = search("don't sizing");
        assert!(q.all_in(&["I DON'T like the sizing", ""]));
        assert!(!q.all_in(&["I don't like the resizing", ""]));
        assert!(
            q.all_in(&["I don’t like the sizing", ""]),
            "curly apostrophe: word by word"
        );
    }

    #[test]
    fn searches_are_bounded() {
        assert_eq!(Words::parse("   ").unwrap(), None);
        assert_eq!(Words::parse("").unwrap(), None);
        assert!(Words::parse("a good").unwrap_err().0.contains("\"a\""));
        assert!(Words::parse(&"x".repeat(33)).is_err());
        assert!(Words::parse(&"x".repeat(32)).is_ok());
        // One rule: a search without words is no search, whatever it holds.
        for wordless in [
            "!!! ...",
            "\u{00A0}",
            "\u{200B}",
            "\u{1F600}\u{1F44D}",
            "-",
            "\u{0301}",
        ] {
            assert_eq!(Words::parse(wordless).unwrap(), None, "{wordless:?}");
        }
        // Letters as written: ß is one (folded, ss), so too short alone;
        // 32 of them is the most, however they fold.
        assert!(Words::parse("ß").unwrap_err().0.contains("(1)"));
        assert!(Words::parse(&"ß".repeat(32)).is_ok());
        assert!(Words::parse(&"ß".repeat(33)).is_err());
        assert_eq!(search("don't").to_string(), "dont");
        assert!(Words::parse("e\u{0301}").unwrap_err().0.contains("(1)"));
        assert!(Words::parse("e\u{0301}t\u{0301}").is_ok());
        assert!(Words::parse("tab\there").unwrap_err().0.contains("control"));
        assert!(
            Words::parse(&"ab ".repeat(67))
                .unwrap_err()
                .0
                .contains("200")
        );
        let nine = "aa bb cc dd ee ff gg hh ii";
        assert!(Words::parse(nine).unwrap_err().0.contains("at most 8"));
        let eight_and_a_repeat = "aa bb cc dd ee ff gg hh aa";
        assert!(Words::parse(eight_and_a_repeat).is_ok());
    }
}
