//! A bound on the length of one line of a CSV, enforced on the bytes as they are read: a
//! file whose line runs past [`MAX_LINE`] bytes is refused at that line, before the CSV
//! reader buffers it. Without it one line (no newline in 400 MB) grows a record, and every
//! copy of it, without bound.

use std::io::{self, Read};

/// Longest line a CSV may have, bytes (every field of a row together).
pub const MAX_LINE: usize = 16 << 20;

/// Why reading stopped: line `0` ran past [`MAX_LINE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("line {0} is longer than {MAX_LINE} bytes")]
pub struct LineTooLong(pub u64);

/// A reader that fails once a line runs past [`MAX_LINE`] bytes.
pub struct LineLimit<R> {
    inner: R,
    /// Bytes since the last newline.
    open: usize,
    /// The line being read, from 1.
    line: u64,
}

impl<R> LineLimit<R> {
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            open: 0,
            line: 1,
        }
    }
}

impl<R: Read> Read for LineLimit<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut segments = buf[..n].split(|&b| b == b'\n');
        // The first segment ends the open line; any after a newline starts a new one.
        let mut length = self.open + segments.next().map_or(0, <[u8]>::len);
        for segment in segments {
            if length > MAX_LINE {
                break;
            }
            self.line += 1;
            length = segment.len();
        }
        self.open = length;
        if length > MAX_LINE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                LineTooLong(self.line),
            ));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_past_the_limit_is_refused_naming_it() {
        let mut text = b"a,b\n1,2\n".to_vec();
        text.extend(std::iter::repeat_n(b'x', MAX_LINE + 1));
        let mut read = Vec::new();
        let error = LineLimit::new(&text[..])
            .read_to_end(&mut read)
            .expect_err("refused");
        let inner = error
            .get_ref()
            .and_then(|e| e.downcast_ref::<LineTooLong>());
        assert_eq!(inner, Some(&LineTooLong(3)));
        let mut fine = Vec::new();
        LineLimit::new(&b"a,b\n1,2\n3,4"[..])
            .read_to_end(&mut fine)
            .expect("short lines read");
        assert_eq!(fine.len(), 11);
        // Long, then ended within the same read: still refused, naming its line.
        let mut ended = b"a\n".to_vec();
        ended.extend(std::iter::repeat_n(b'x', MAX_LINE + 1));
        ended.extend(b"\nshort\n");
        let error = LineLimit::new(&ended[..])
            .read(&mut vec![0; ended.len()])
            .expect_err("refused");
        let inner = error
            .get_ref()
            .and_then(|e| e.downcast_ref::<LineTooLong>());
        assert_eq!(inner, Some(&LineTooLong(2)));
    }
}
