//! The snapshot envelope: what a tetra state file (and the state part of a migration stream) is.
//!
//! ```text
//! header   magic [8] (per arch)  major u16  minor u16  section count u32  reserved [16] = 0
//! section  tag [4]  version u16  flags u16 (bit 0: optional)  length u64  payload [length]
//!          ... (section count times)
//! trailer  CRC-32 (IEEE) of everything before it, u32   "TEND"
//! ```
//!
//! All integers are little-endian. Sizes are capped ([`MAX_ENVELOPE_BYTES`], [`MAX_SECTIONS`],
//! [`MAX_SECTION_BYTES`]) so that a corrupt length cannot make the reader allocate or loop beyond
//! them. Compatibility (see docs/snapshot-format.md): a reader accepts its own major version and
//! any minor version; an unknown section is skipped when it is marked optional and refused
//! otherwise, and a known section whose version is newer than the reader's is refused.

use crate::wire::{Reader, Truncated, Writer};

/// The format's major version: bumped when an old reader could misread a new file.
pub const MAJOR: u16 = 1;
/// The format's minor version: bumped when sections are added (old readers skip optional ones).
pub const MINOR: u16 = 2;

/// The largest state file tetra reads (guest memory is in a separate file).
pub const MAX_ENVELOPE_BYTES: u64 = 512 << 20;
/// The most sections an envelope may hold.
pub const MAX_SECTIONS: u32 = 1 << 16;
/// The largest section.
pub const MAX_SECTION_BYTES: u64 = 256 << 20;

const HEADER_LEN: usize = 32;
const SECTION_HEADER_LEN: usize = 16;
const END: &[u8; 4] = b"TEND";
const FLAG_OPTIONAL: u16 = 1;

/// Errors reading an envelope.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvelopeError {
    /// The bytes end early.
    #[error(transparent)]
    Truncated(#[from] Truncated),
    /// Not a tetra snapshot of this arch.
    #[error("bad magic {found:?}: expected {expected:?} (a tetra {arch} snapshot)")]
    BadMagic {
        /// The magic read.
        found: String,
        /// The magic expected.
        expected: String,
        /// The reader's arch.
        arch: &'static str,
    },
    /// A major version this tetra cannot read.
    #[error("format version {major}.{minor} is not readable by this tetra (it reads {MAJOR}.x)")]
    Major {
        /// The file's major.
        major: u16,
        /// The file's minor.
        minor: u16,
    },
    /// A cap was exceeded.
    #[error("{what} is {got}, more than the {limit} allowed")]
    TooLarge {
        /// What.
        what: &'static str,
        /// Its size.
        got: u64,
        /// The cap.
        limit: u64,
    },
    /// The reserved header bytes are not zero.
    #[error("reserved header bytes are not zero")]
    Reserved,
    /// The checksum does not match.
    #[error(
        "checksum mismatch: stored {stored:#010x}, computed {computed:#010x} (the file is corrupt)"
    )]
    Crc {
        /// The stored CRC.
        stored: u32,
        /// The CRC of the bytes read.
        computed: u32,
    },
    /// No end marker where it belongs.
    #[error("end marker missing after the checksum")]
    NoEnd,
    /// Bytes after the end marker.
    #[error("{0} unexpected bytes after the end marker")]
    Trailing(usize),
    /// A section tag that is not printable ASCII.
    #[error("section {index} has a malformed tag {tag:02x?}")]
    BadTag {
        /// The section's index.
        index: usize,
        /// The tag bytes.
        tag: [u8; 4],
    },
    /// A section of version 0: versions start at 1.
    #[error("section {tag} has version 0 (versions start at 1)")]
    VersionZero {
        /// The section's tag.
        tag: String,
    },
    /// A tag that appears twice (only `VCPU` repeats, once per vCPU).
    #[error("section {tag} appears more than once")]
    Duplicate {
        /// The section's tag.
        tag: String,
    },
}

/// The one tag that repeats in an envelope: a section per vCPU.
pub const REPEATED_TAG: [u8; 4] = *b"VCPU";

/// One section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    /// Four printable ASCII characters.
    pub tag: [u8; 4],
    /// The section's own version.
    pub version: u16,
    /// A reader that does not know the tag may skip it.
    pub optional: bool,
    /// The payload.
    pub data: Vec<u8>,
}

impl Section {
    /// A mandatory section.
    pub fn new(tag: &[u8; 4], version: u16, data: Vec<u8>) -> Self {
        Section {
            tag: *tag,
            version,
            optional: false,
            data,
        }
    }

    /// The tag as text.
    pub fn tag_str(&self) -> String {
        String::from_utf8_lossy(&self.tag).into_owned()
    }
}

/// A decoded envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// Arch magic.
    pub magic: [u8; 8],
    /// Format major version.
    pub major: u16,
    /// Format minor version.
    pub minor: u16,
    /// Sections, in file order.
    pub sections: Vec<Section>,
}

impl Envelope {
    /// An empty envelope of the current version for an arch's `magic`.
    pub fn new(magic: [u8; 8]) -> Self {
        Envelope {
            magic,
            major: MAJOR,
            minor: MINOR,
            sections: Vec::new(),
        }
    }

    /// Adds a section.
    pub fn push(&mut self, s: Section) {
        self.sections.push(s);
    }

    /// The first section with `tag`.
    pub fn section(&self, tag: &[u8; 4]) -> Option<&Section> {
        self.sections.iter().find(|s| &s.tag == tag)
    }

    /// Every section with `tag`, in order.
    pub fn all<'a>(&'a self, tag: &'a [u8; 4]) -> impl Iterator<Item = &'a Section> + 'a {
        self.sections.iter().filter(move |s| &s.tag == tag)
    }

    /// The encoded bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.bytes(&self.magic);
        w.u16(self.major);
        w.u16(self.minor);
        w.u32(self.sections.len() as u32);
        w.bytes(&[0u8; 16]);
        for s in &self.sections {
            w.bytes(&s.tag);
            w.u16(s.version);
            w.u16(if s.optional { FLAG_OPTIONAL } else { 0 });
            w.u64(s.data.len() as u64);
            w.bytes(&s.data);
        }
        let crc = crc32fast::hash(&w.buf);
        w.u32(crc);
        w.bytes(END);
        w.into_bytes()
    }

    /// Decodes and checks `bytes`: caps, checksum, magic (when `expect` is given, for `arch`),
    /// major version, tags.
    pub fn decode(
        bytes: &[u8],
        expect: Option<([u8; 8], &'static str)>,
    ) -> Result<Envelope, EnvelopeError> {
        if bytes.len() as u64 > MAX_ENVELOPE_BYTES {
            return Err(EnvelopeError::TooLarge {
                what: "the state file",
                got: bytes.len() as u64,
                limit: MAX_ENVELOPE_BYTES,
            });
        }
        let mut r = Reader::new(bytes);
        let magic: [u8; 8] = r.array("the magic")?;
        if let Some((m, arch)) = expect {
            if magic != m {
                return Err(EnvelopeError::BadMagic {
                    found: String::from_utf8_lossy(&magic).into_owned(),
                    expected: String::from_utf8_lossy(&m).into_owned(),
                    arch,
                });
            }
        }
        let major = r.u16("the major version")?;
        let minor = r.u16("the minor version")?;
        if major != MAJOR {
            return Err(EnvelopeError::Major { major, minor });
        }
        let count = r.u32("the section count")?;
        if count > MAX_SECTIONS {
            return Err(EnvelopeError::TooLarge {
                what: "the section count",
                got: count.into(),
                limit: MAX_SECTIONS.into(),
            });
        }
        if r.take("the reserved header bytes", 16)?
            .iter()
            .any(|&b| b != 0)
        {
            return Err(EnvelopeError::Reserved);
        }
        debug_assert_eq!(r.position(), HEADER_LEN);
        let mut sections = Vec::new();
        // The tags read so far: a set, so that the duplicate check stays linear in the count.
        let mut seen = std::collections::BTreeSet::new();
        for index in 0..count as usize {
            let tag: [u8; 4] = r.array("a section tag")?;
            if !tag.iter().all(|b| b.is_ascii_graphic()) {
                return Err(EnvelopeError::BadTag { index, tag });
            }
            let version = r.u16("a section version")?;
            let tag_str = || String::from_utf8_lossy(&tag).into_owned();
            if version == 0 {
                return Err(EnvelopeError::VersionZero { tag: tag_str() });
            }
            if tag != REPEATED_TAG && !seen.insert(tag) {
                return Err(EnvelopeError::Duplicate { tag: tag_str() });
            }
            let flags = r.u16("a section's flags")?;
            let len = r.u64("a section length")?;
            if len > MAX_SECTION_BYTES {
                return Err(EnvelopeError::TooLarge {
                    what: "a section",
                    got: len,
                    limit: MAX_SECTION_BYTES,
                });
            }
            let data = r.take("a section's payload", len as usize)?.to_vec();
            sections.push(Section {
                tag,
                version,
                optional: flags & FLAG_OPTIONAL != 0,
                data,
            });
        }
        let body_len = r.position();
        let stored = r.u32("the checksum")?;
        let computed = crc32fast::hash(&bytes[..body_len]);
        if stored != computed {
            return Err(EnvelopeError::Crc { stored, computed });
        }
        if r.take("the end marker", 4)
            .map_err(|_| EnvelopeError::NoEnd)?
            != END
        {
            return Err(EnvelopeError::NoEnd);
        }
        if !r.is_empty() {
            return Err(EnvelopeError::Trailing(r.remaining()));
        }
        let _ = SECTION_HEADER_LEN;
        Ok(Envelope {
            magic,
            major,
            minor,
            sections,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAGIC: [u8; 8] = *b"TETRATST";

    fn sample() -> Envelope {
        let mut e = Envelope::new(MAGIC);
        e.push(Section::new(b"CONF", 1, b"cpus=2".to_vec()));
        e.push(Section {
            optional: true,
            ..Section::new(b"NOTE", 3, vec![])
        });
        e.push(Section::new(b"VCPU", 1, vec![7; 300]));
        e
    }

    #[test]
    fn round_trips() {
        let e = sample();
        let b = e.encode();
        assert_eq!(Envelope::decode(&b, Some((MAGIC, "test"))).unwrap(), e);
        assert_eq!(e.all(b"VCPU").count(), 1);
        assert!(e.section(b"NOTE").unwrap().optional);
    }

    #[test]
    fn every_truncation_and_every_flipped_bit_is_an_error() {
        let b = sample().encode();
        for n in 0..b.len() {
            assert!(
                Envelope::decode(&b[..n], None).is_err(),
                "accepted {n} bytes"
            );
        }
        for i in 0..b.len() {
            for bit in 0..8 {
                let mut c = b.clone();
                c[i] ^= 1 << bit;
                assert!(
                    Envelope::decode(&c, Some((MAGIC, "test"))).is_err(),
                    "byte {i} bit {bit}"
                );
            }
        }
    }

    #[test]
    fn version_zero_and_duplicates_are_refused_by_name() {
        let mut e = sample();
        e.push(Section::new(b"CONF", 1, b"junk".to_vec()));
        let err = Envelope::decode(&e.encode(), None).unwrap_err();
        assert!(
            matches!(&err, EnvelopeError::Duplicate { tag } if tag == "CONF"),
            "{err}"
        );
        let mut e = sample();
        e.push(Section::new(b"IRQC", 0, vec![1]));
        let err = Envelope::decode(&e.encode(), None).unwrap_err();
        assert!(
            matches!(&err, EnvelopeError::VersionZero { tag } if tag == "IRQC"),
            "{err}"
        );
        // VCPU repeats (one per vCPU; the core checks their indices).
        let mut e = sample();
        e.push(Section::new(b"VCPU", 1, vec![8; 10]));
        assert_eq!(
            Envelope::decode(&e.encode(), None)
                .unwrap()
                .all(b"VCPU")
                .count(),
            2
        );
    }

    #[test]
    fn the_most_sections_allowed_are_read() {
        // MAX_SECTIONS sections of distinct tags (a 1 MiB file): the duplicate check used to
        // compare each tag with every one before it, 2^31 comparisons, over two minutes in a
        // debug build; it is a set now.
        let mut e = Envelope::new(MAGIC);
        for i in 0..MAX_SECTIONS {
            let d = |n: u32| b'!' + (n % 90) as u8;
            let tag = [d(i), d(i / 90), d(i / 8100), d(i / 729_000)];
            e.push(Section::new(&tag, 1, vec![]));
        }
        let t = std::time::Instant::now();
        let back = Envelope::decode(&e.encode(), None).unwrap();
        assert!(
            t.elapsed() < std::time::Duration::from_secs(10),
            "{:?}",
            t.elapsed()
        );
        assert_eq!(back.sections.len(), MAX_SECTIONS as usize);
    }

    #[test]
    fn names_what_is_wrong() {
        let b = sample().encode();
        let other = Envelope::decode(&b, Some((*b"TETRAX86", "x86_64"))).unwrap_err();
        assert!(other.to_string().contains("x86_64"), "{other}");
        let mut m = b.clone();
        m[8] = 2; // major 2
        assert!(matches!(
            Envelope::decode(&m, None),
            Err(EnvelopeError::Major { major: 2, .. })
        ));
        let mut t = b.clone();
        t.push(0);
        assert_eq!(Envelope::decode(&t, None), Err(EnvelopeError::Trailing(1)));
        // A section length beyond the cap is refused before reading the payload.
        let mut big = Envelope::new(MAGIC).encode();
        big[12] = 1;
        big.truncate(32);
        big.extend_from_slice(b"HUGE\x01\x00\x00\x00");
        big.extend_from_slice(&(MAX_SECTION_BYTES + 1).to_le_bytes());
        assert!(matches!(
            Envelope::decode(&big, None),
            Err(EnvelopeError::TooLarge { .. })
        ));
    }
}
