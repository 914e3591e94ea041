//! Little-endian byte writer and bounds-checked reader for tetra's serialized formats.

use thiserror::Error;

/// A read past the end of the input.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("truncated input: {what} needs {need} bytes at offset {offset}, {left} left")]
pub struct Truncated {
    /// What was being read.
    pub what: &'static str,
    /// Bytes needed.
    pub need: usize,
    /// Offset of the read.
    pub offset: usize,
    /// Bytes left.
    pub left: usize,
}

/// Appends little-endian values.
#[derive(Default)]
pub struct Writer {
    /// The bytes written so far.
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }
    /// Writes `tag`, a length placeholder, the body, then patches the length.
    pub fn section(&mut self, tag: u32, body: impl FnOnce(&mut Writer)) {
        self.u32(tag);
        let at = self.buf.len();
        self.u32(0);
        body(self);
        let len = (self.buf.len() - at - 4) as u32;
        self.buf[at..at + 4].copy_from_slice(&len.to_le_bytes());
    }
}

/// Reads little-endian values, never past the end.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }
    pub fn take(&mut self, what: &'static str, n: usize) -> Result<&'a [u8], Truncated> {
        if n > self.remaining() {
            return Err(Truncated {
                what,
                need: n,
                offset: self.pos,
                left: self.remaining(),
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    pub fn u8(&mut self, what: &'static str) -> Result<u8, Truncated> {
        Ok(self.take(what, 1)?[0])
    }
    pub fn u32(&mut self, what: &'static str) -> Result<u32, Truncated> {
        let b = self.take(what, 4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub fn u64(&mut self, what: &'static str) -> Result<u64, Truncated> {
        let b = self.take(what, 8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    /// A count of items of `item_size` bytes each, checked against the bytes left so that a
    /// corrupt count cannot make the caller allocate more than the input could hold.
    pub fn count(&mut self, what: &'static str, item_size: usize) -> Result<usize, Truncated> {
        let at = self.pos;
        let n = self.u32(what)? as usize;
        let need = n.saturating_mul(item_size.max(1));
        if need > self.remaining() {
            return Err(Truncated {
                what,
                need,
                offset: at,
                left: self.remaining(),
            });
        }
        Ok(n)
    }
}
