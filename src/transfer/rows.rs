//! Reading CSV rows as RFC 4180 writes them, strictly: fields separated by
//! commas, rows by LF or CRLF, a field in double quotes may hold commas,
//! line breaks and doubled quotes. A row that breaks the quoting — a quote
//! inside an unquoted field, text after a closing quote, a quote never
//! closed — is read to the end of the line where the break is found and
//! handed over as malformed, whole, so it can be rejected alone (a quote
//! left open runs on to the next quote, and the lines it swallows go with
//! it). Each row comes with the line it starts on (line breaks inside
//! quotes counted) and its exact text; a leading UTF-8 byte-order mark is
//! dropped.

use std::io::{self, BufRead};

/// One row as read.
#[derive(Debug, Default)]
pub struct Row {
    /// The fields' bytes, end to end.
    data: Vec<u8>,
    /// Where each field ends in `data`.
    ends: Vec<usize>,
    /// The row's text in the file, without its line break.
    pub raw: Vec<u8>,
    /// The line it starts on (the first line is 1).
    pub line: u64,
    /// Why its quoting is broken, if it is.
    pub malformed: Option<&'static str>,
}

impl Row {
    /// How many fields it has.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether it has no field.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Field `i` (empty past the last).
    pub fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 {
            0
        } else {
            self.ends.get(i - 1).copied().unwrap_or(0)
        };
        match self.ends.get(i) {
            Some(&end) => &self.data[start..end],
            None => &[],
        }
    }

    /// The fields.
    pub fn fields(&self) -> impl Iterator<Item = &[u8]> {
        (0..self.len()).map(|i| self.get(i))
    }

    /// The row's text, as the rejects file shows it.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.raw).into_owned()
    }

    fn clear(&mut self) {
        self.data.clear();
        self.ends.clear();
        self.raw.clear();
        self.malformed = None;
    }
}

/// Where the reader is within a row.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a field.
    Start,
    /// In an unquoted field.
    Bare,
    /// In a quoted field.
    Quoted,
    /// Just after a quote inside a quoted field: its end, or the first of
    /// a doubled quote.
    Quote,
    /// In a malformed row, skipping to the end of the line.
    Broken,
}

/// A strict reader of CSV rows.
pub struct Rows<R> {
    input: R,
    /// Line breaks read so far.
    breaks: u64,
    started: bool,
}

impl<R: BufRead> Rows<R> {
    /// Rows of `input`.
    pub fn new(input: R) -> Rows<R> {
        Rows {
            input,
            breaks: 0,
            started: false,
        }
    }

    /// Reads the next row into `row` (blank lines are skipped); false at
    /// the end.
    pub fn next(&mut self, row: &mut Row) -> io::Result<bool> {
        if !std::mem::replace(&mut self.started, true)
            && self.input.fill_buf()?.starts_with(&[0xEF, 0xBB, 0xBF])
        {
            self.input.consume(3);
        }
        loop {
            row.clear();
            row.line = self.breaks + 1;
            let mut state = State::Start;
            let ended = loop {
                let buf = self.input.fill_buf()?;
                if buf.is_empty() {
                    break false;
                }
                let (used, done) = scan(buf, row, &mut state, &mut self.breaks);
                self.input.consume(used);
                if done {
                    break true;
                }
            };
            match state {
                State::Quoted => row.malformed = Some("a quote never closed"),
                State::Broken => {}
                _ => row.ends.push(row.data.len()),
            }
            if !row.raw.is_empty() {
                return Ok(true);
            }
            if !ended {
                return Ok(false);
            }
        }
    }
}

/// Reads what `buf` holds of a row into `row`, counting line breaks into
/// `breaks`: the bytes used, and whether the row ended. Runs of plain
/// bytes are found with `memchr` and copied whole; a CR right before a
/// row's LF is not part of it.
fn scan(buf: &[u8], row: &mut Row, state: &mut State, breaks: &mut u64) -> (usize, bool) {
    let mut at = 0;
    while at < buf.len() {
        let rest = &buf[at..];
        match *state {
            State::Quoted => match memchr::memchr2(b'"', b'\n', rest) {
                None => {
                    row.data.extend_from_slice(rest);
                    row.raw.extend_from_slice(rest);
                    return (buf.len(), false);
                }
                Some(i) => {
                    row.data.extend_from_slice(&rest[..i]);
                    row.raw.extend_from_slice(&rest[..=i]);
                    at += i + 1;
                    if rest[i] == b'\n' {
                        *breaks += 1;
                        row.data.push(b'\n');
                    } else {
                        *state = State::Quote;
                    }
                }
            },
            State::Broken => match memchr::memchr(b'\n', rest) {
                None => {
                    row.raw.extend_from_slice(rest);
                    return (buf.len(), false);
                }
                Some(i) => {
                    *breaks += 1;
                    row.raw.extend_from_slice(&rest[..i]);
                    if row.raw.last() == Some(&b'\r') {
                        row.raw.pop();
                    }
                    return (at + i + 1, true);
                }
            },
            State::Start | State::Bare | State::Quote => {
                let b = rest[0];
                // The first byte of a field, or after a closing quote.
                match (*state, b) {
                    (_, b'\n') => {
                        *breaks += 1;
                        if row.raw.last() == Some(&b'\r') {
                            row.raw.pop();
                            if *state != State::Quote {
                                row.data.pop();
                            }
                        }
                        return (at + 1, true);
                    }
                    (_, b',') => {
                        row.raw.push(b',');
                        row.ends.push(row.data.len());
                        *state = State::Start;
                        at += 1;
                        continue;
                    }
                    (State::Start, b'"') => {
                        row.raw.push(b'"');
                        *state = State::Quoted;
                        at += 1;
                        continue;
                    }
                    (State::Quote, b'"') => {
                        row.raw.push(b'"');
                        row.data.push(b'"');
                        *state = State::Quoted;
                        at += 1;
                        continue;
                    }
                    (State::Quote, b'\r') if rest.get(1).is_none_or(|&n| n == b'\n') => {
                        // Maybe a CRLF after a closing quote: kept in
                        // `raw` only, dropped with the LF.
                        row.raw.push(b'\r');
                        at += 1;
                        continue;
                    }
                    (State::Quote, _) => {
                        row.malformed = Some("text after a closing quote");
                        *state = State::Broken;
                        continue;
                    }
                    (_, b'"') => {
                        row.malformed = Some("a quote inside an unquoted field");
                        *state = State::Broken;
                        continue;
                    }
                    _ => {}
                }
                // A run of plain bytes, up to the next comma, quote or
                // line break.
                let end = memchr::memchr3(b',', b'"', b'\n', rest).unwrap_or(rest.len());
                row.data.extend_from_slice(&rest[..end]);
                row.raw.extend_from_slice(&rest[..end]);
                *state = State::Bare;
                at += end;
            }
        }
    }
    (buf.len(), false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &str) -> Vec<(u64, Vec<String>, Option<&'static str>, String)> {
        let mut reader = Rows::new(text.as_bytes());
        let mut row = Row::default();
        let mut out = Vec::new();
        while reader.next(&mut row).unwrap() {
            let fields = row
                .fields()
                .map(|f| String::from_utf8_lossy(f).into_owned())
                .collect();
            out.push((row.line, fields, row.malformed, row.text()));
        }
        out
    }

    #[test]
    fn quoting_line_breaks_and_line_numbers() {
        let got = rows("\u{feff}a,b\r\n1,\"x, \"\"y\"\"\r\nz\"\r\n\n2,\r\n\"\",3\n4");
        let fields: Vec<_> = got
            .iter()
            .map(|(line, f, _, _)| (*line, f.clone()))
            .collect();
        assert_eq!(
            fields,
            [
                (1, vec!["a".to_string(), "b".into()]),
                (2, vec!["1".into(), "x, \"y\"\r\nz".into()]),
                (5, vec!["2".into(), "".into()]),
                (6, vec!["".into(), "3".into()]),
                (7, vec!["4".into()]),
            ]
        );
        assert_eq!(got[1].3, "1,\"x, \"\"y\"\"\r\nz\"", "the row's own text");
        assert!(got.iter().all(|(_, _, bad, _)| bad.is_none()));
    }

    #[test]
    fn broken_quoting_is_one_malformed_row_to_the_end_of_the_line() {
        let got = rows("id,t\n1,\"open\n2,x\n3,\"closes\" here,y\n4,ok\n5,a\"b\n6,\"never");
        let summary: Vec<_> = got.iter().map(|(line, _, bad, _)| (*line, *bad)).collect();
        assert_eq!(
            summary,
            [
                (1, None),
                (2, Some("text after a closing quote")),
                (5, None),
                (6, Some("a quote inside an unquoted field")),
                (7, Some("a quote never closed")),
            ]
        );
        assert_eq!(got[1].3, "1,\"open\n2,x\n3,\"closes\" here,y");
        assert_eq!(
            got[2].1,
            ["4", "ok"],
            "reading goes on after the broken row"
        );
    }
}
