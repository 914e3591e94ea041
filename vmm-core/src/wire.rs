//! Little-endian byte writer and bounds-checked reader, shared by tetra's serialized formats
//! (snapshot sections, the migration stream, arch serializers). A reader never reads past its
//! input and never allocates more than its input could describe.

/// A read past the end of the input.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
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

/// Bytes left over after a complete value.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("{left} unexpected bytes after {what}")]
pub struct Trailing {
    /// What was read.
    pub what: &'static str,
    /// Bytes left.
    pub left: usize,
}

/// Appends little-endian values.
#[derive(Debug, Default)]
pub struct Writer {
    /// The bytes written so far.
    pub buf: Vec<u8>,
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Self {
        Writer::default()
    }
    /// Appends a byte.
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    /// Appends a u16.
    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// Appends a u32.
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// Appends a u64.
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// Appends raw bytes.
    pub fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }
    /// Appends a u32 length and the bytes.
    pub fn blob(&mut self, b: &[u8]) {
        self.u32(b.len() as u32);
        self.bytes(b);
    }
    /// Consumes the writer, returning its bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

/// Reads little-endian values, never past the end.
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }
    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
    /// True when everything was read.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }
    /// Succeeds when everything was read: `what` (the value just read) ends the input.
    pub fn finish(&self, what: &'static str) -> Result<(), Trailing> {
        match self.remaining() {
            0 => Ok(()),
            left => Err(Trailing { what, left }),
        }
    }
    /// The offset of the next read.
    pub fn position(&self) -> usize {
        self.pos
    }
    /// The next `n` bytes.
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
    /// The next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], Truncated> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(what, N)?);
        Ok(a)
    }
    /// A byte.
    pub fn u8(&mut self, what: &'static str) -> Result<u8, Truncated> {
        Ok(self.take(what, 1)?[0])
    }
    /// A u16.
    pub fn u16(&mut self, what: &'static str) -> Result<u16, Truncated> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }
    /// A u32.
    pub fn u32(&mut self, what: &'static str) -> Result<u32, Truncated> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    /// A u64.
    pub fn u64(&mut self, what: &'static str) -> Result<u64, Truncated> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }
    /// A u32 length and that many bytes.
    pub fn blob(&mut self, what: &'static str) -> Result<&'a [u8], Truncated> {
        let n = self.u32(what)? as usize;
        self.take(what, n)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncation() {
        let mut w = Writer::new();
        w.u8(1);
        w.u16(0x0203);
        w.u32(0x0405_0607);
        w.u64(u64::MAX - 1);
        w.blob(b"xyz");
        let b = w.into_bytes();
        let mut r = Reader::new(&b);
        assert_eq!(r.u8("a").unwrap(), 1);
        assert_eq!(r.u16("b").unwrap(), 0x0203);
        assert_eq!(r.u32("c").unwrap(), 0x0405_0607);
        assert_eq!(r.u64("d").unwrap(), u64::MAX - 1);
        assert_eq!(r.blob("e").unwrap(), b"xyz");
        assert!(r.is_empty());
        assert!(r.u8("past the end").is_err());
        assert_eq!(r.finish("everything"), Ok(()));
        let r = Reader::new(&b[..2]);
        assert_eq!(
            r.finish("nothing").unwrap_err().to_string(),
            "2 unexpected bytes after nothing"
        );
        // A count larger than the input could hold is refused before any allocation.
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff, 0]);
        assert!(r.count("items", 8).is_err());
    }
}
