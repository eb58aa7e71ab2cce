//! Physical line numbers of CSV records, for error messages.
//!
//! The csv crate places a record at the line break that precedes it, and
//! counts only `\n`, so its line count is one short after every `\r\n` (all
//! of Excel's files), after blank lines and after a lone `\r` (which ends a
//! record all the same). [`LineCounting`] wraps the input and sees every byte
//! the parser reads: it names the line the record's first character is on.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{self, Read};

/// An input that remembers where lines break, up to what the parser has
/// read; [`LineCounting::line_of`] forgets what lies before the record asked.
pub struct LineCounting<R> {
    inner: R,
    offset: u64,
    previous: u8,
    marks: RefCell<Marks>,
}

#[derive(Default)]
struct Marks {
    /// Offsets of line breaks not yet counted: `\n`, `\r\n` (at its `\r`)
    /// and a lone `\r`, as the parser reads them.
    breaks: VecDeque<u64>,
    /// Offsets of the first byte of each line's content (neither `\r` nor `\n`).
    content_starts: VecDeque<u64>,
    /// How many breaks lie before those still held.
    counted: usize,
}

impl<R: Read> LineCounting<R> {
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            offset: 0,
            previous: b'\n',
            marks: RefCell::new(Marks::default()),
        }
    }

    /// The 1-based line of the record the parser placed at `position`. Ask in
    /// the order records are read: what lies before is forgotten.
    pub fn line_of(&self, position: &csv::Position) -> usize {
        let mut marks = self.marks.borrow_mut();
        let at = position.byte();
        while marks.content_starts.front().is_some_and(|&s| s < at) {
            marks.content_starts.pop_front();
        }
        let start = marks.content_starts.front().copied().unwrap_or(self.offset);
        while marks.breaks.front().is_some_and(|&n| n < start) {
            marks.breaks.pop_front();
            marks.counted += 1;
        }
        marks.counted + 1
    }
}

impl<R: Read> Read for LineCounting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let bytes = &buf[..n];
        let marks = self.marks.get_mut();
        let base = self.offset;
        let is_break = |b: u8| matches!(b, b'\r' | b'\n');
        // Jumps from break to break (memchr) instead of looking at every
        // byte: the per-byte loop was 7% of a 1M-row import's reading.
        // `previous` is the byte before `next`, the first not yet looked at.
        let (mut previous, mut next) = (self.previous, 0usize);
        for i in memchr::memchr2_iter(b'\r', b'\n', bytes) {
            if next < i && is_break(previous) {
                marks.content_starts.push_back(base + next as u64);
            }
            let before = if next < i { bytes[i - 1] } else { previous };
            match bytes[i] {
                b'\n' if before == b'\r' => {}
                _ => marks.breaks.push_back(base + i as u64),
            }
            previous = bytes[i];
            next = i + 1;
        }
        if next < n && is_break(previous) {
            marks.content_starts.push_back(base + next as u64);
        }
        if let Some(&last) = bytes.last() {
            self.previous = last;
        }
        self.offset += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::LineCounting;

    /// The lines of `data`'s records, read with a tiny buffer (so that
    /// breaks and `\r\n` pairs fall across reads) and with a large one;
    /// both must agree.
    fn lines(data: &[u8]) -> Vec<usize> {
        let small = lines_read_by(data, 3);
        assert_eq!(small, lines_read_by(data, 64 * 1024), "{data:?}");
        small
    }

    fn lines_read_by(data: &[u8], capacity: usize) -> Vec<usize> {
        let mut reader = csv::ReaderBuilder::new()
            .buffer_capacity(capacity)
            .from_reader(LineCounting::new(data));
        let mut out = Vec::new();
        let mut record = csv::StringRecord::new();
        while reader.read_record(&mut record).expect("a record") {
            let position = record.position().expect("a position");
            out.push(reader.get_ref().line_of(position));
        }
        out
    }

    #[test]
    fn records_are_named_by_the_line_their_content_starts_on() {
        assert_eq!(lines(b"a,b\n1,2\nx,y\n"), [2, 3]);
        assert_eq!(lines(b"a,b\r\n1,2\r\nx,y\r\n"), [2, 3]);
        assert_eq!(lines(b"a,b\n\n\r\n1,2\nx,\"y\ny\"\nz,z"), [4, 5, 7]);
        // A lone `\r` ends a record (and a line) as the parser reads it.
        assert_eq!(lines(b"a,b\r1,2\r\r\n3,4"), [2, 4]);
        // Breaks at the very start, runs of them, and no final break.
        assert_eq!(lines(b"\r\n\na,b\r\n\r\n\r1,2\n\n\n3,4"), [6, 9]);
    }
}
