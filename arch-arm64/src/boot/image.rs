//! The arm64 Linux `Image` header (`Documentation/arch/arm64/booting.rst`, "Call the kernel
//! image"), read from untrusted bytes:
//!
//! ```text
//! offset size  field
//!   0     4    code0          executable code (an EFI-stub kernel's "MZ" is here)
//!   4     4    code1
//!   8     8    text_offset    where in its 2 MiB-aligned slot the image goes (little-endian)
//!  16     8    image_size     effective size, BSS included; 0 on kernels before 3.17
//!  24     8    flags          bit 0: big-endian kernel; bits 1-2: page size; bit 3: placement
//!  32    24    res2..res4
//!  56     4    magic          "ARM\x64" (0x644d5241, little-endian)
//!  60     4    res5           the PE header's offset (EFI stub)
//! ```
//!
//! A kernel with `image_size` 0 predates the field: its `text_offset` is taken to be 0x80000, as
//! linux-loader does, and its size is the file's. Some distributions ship the arm64 kernel
//! gzip-compressed (`Image.gz`; Debian bookworm's `vmlinuz` is the plain Image, with an EFI stub):
//! tetra does not decompress it, and says so.

use thiserror::Error;

/// The header's size.
pub const HEADER_LEN: usize = 64;
/// The magic at offset 56: "ARM\x64".
pub const MAGIC: u32 = 0x644d_5241;
/// The alignment of the slot the image goes into (the boot protocol's 2 MiB).
pub const SLOT_ALIGN: u64 = 2 << 20;
/// The text offset of kernels whose header has no `image_size` (before Linux 3.17).
pub const LEGACY_TEXT_OFFSET: u64 = 0x8_0000;

/// A header that is not one tetra can boot.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ImageError {
    /// Shorter than the header.
    #[error(
        "{name} ({len} bytes) is too short for an arm64 Linux Image header ({HEADER_LEN} bytes)"
    )]
    TooShort {
        /// The image's name.
        name: String,
        /// Its size.
        len: usize,
    },
    /// A gzip stream (an `Image.gz`).
    #[error(
        "{name} is gzip-compressed (an Image.gz): decompress it first \
         (gunzip -c {name} > Image) and boot the Image"
    )]
    Gzip {
        /// The image's name.
        name: String,
    },
    /// No magic.
    #[error(
        "{name} is not an arm64 Linux Image (no \"ARM\\x64\" magic at offset 56); \
         give --raw ADDR to load a raw image"
    )]
    NoMagic {
        /// The image's name.
        name: String,
    },
    /// A text offset that would put the kernel beyond any RAM tetra gives a guest.
    #[error(
        "{name}: its header's text_offset {text_offset:#x} is not a page-aligned offset inside \
         a 2 MiB slot"
    )]
    TextOffset {
        /// The image's name.
        name: String,
        /// The header's value.
        text_offset: u64,
    },
}

/// What the header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageHeader {
    /// Where the image goes in its 2 MiB-aligned slot.
    pub text_offset: u64,
    /// The memory the kernel uses from its load address (BSS included); the file's size for
    /// kernels whose header leaves it 0.
    pub image_size: u64,
    /// The header's flags.
    pub flags: u64,
}

impl ImageHeader {
    /// Reads the header of `image` (named `name` in errors).
    pub fn parse(name: &str, image: &[u8]) -> Result<Self, ImageError> {
        if image.starts_with(&[0x1f, 0x8b]) {
            return Err(ImageError::Gzip { name: name.into() });
        }
        let h: &[u8; HEADER_LEN] = image
            .get(..HEADER_LEN)
            .and_then(|h| h.try_into().ok())
            .ok_or_else(|| ImageError::TooShort {
                name: name.into(),
                len: image.len(),
            })?;
        let u64_at = |o: usize| u64::from_le_bytes(h[o..o + 8].try_into().expect("8 bytes"));
        let magic = u32::from_le_bytes(h[56..60].try_into().expect("4 bytes"));
        if magic != MAGIC {
            return Err(ImageError::NoMagic { name: name.into() });
        }
        let (text_offset, image_size) = match u64_at(16) {
            0 => (LEGACY_TEXT_OFFSET, image.len() as u64),
            size => (u64_at(8), size),
        };
        // The kernel is linked for a page-aligned offset inside its 2 MiB slot (0 or 0x80000 in
        // practice; a multiple of 4 KiB with RANDOMIZE_TEXT_OFFSET).
        if text_offset >= SLOT_ALIGN || !text_offset.is_multiple_of(4096) {
            return Err(ImageError::TextOffset {
                name: name.into(),
                text_offset,
            });
        }
        Ok(ImageHeader {
            text_offset,
            image_size: image_size.max(image.len() as u64),
            flags: u64_at(24),
        })
    }

    /// Whether the kernel is big-endian (flags bit 0).
    pub fn big_endian(&self) -> bool {
        self.flags & 1 != 0
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A header with these fields, followed by `body` bytes of code.
    pub(crate) fn image(text_offset: u64, image_size: u64, flags: u64, body: usize) -> Vec<u8> {
        let mut h = vec![0u8; HEADER_LEN + body];
        h[0..4].copy_from_slice(b"MZ@\xfa"); // an EFI-stub kernel's first instruction
        h[8..16].copy_from_slice(&text_offset.to_le_bytes());
        h[16..24].copy_from_slice(&image_size.to_le_bytes());
        h[24..32].copy_from_slice(&flags.to_le_bytes());
        h[56..60].copy_from_slice(b"ARM\x64");
        h
    }

    #[test]
    fn reads_a_modern_header() {
        let img = image(0, 0x2a0_0000, 0xa, 0x1000);
        let h = ImageHeader::parse("Image", &img).unwrap();
        assert_eq!(
            h,
            ImageHeader {
                text_offset: 0,
                image_size: 0x2a0_0000,
                flags: 0xa
            }
        );
        assert!(!h.big_endian());
        let h = ImageHeader::parse("Image", &image(0x8_0000, 0x100, 1, 0x1000)).unwrap();
        assert_eq!(h.text_offset, 0x8_0000);
        // A file longer than the header says (a signature appended): the file counts.
        assert_eq!(h.image_size, (HEADER_LEN + 0x1000) as u64);
        assert!(h.big_endian());
    }

    #[test]
    fn a_header_without_image_size_is_a_legacy_kernel() {
        let img = image(0x1234, 0, 0, 100);
        let h = ImageHeader::parse("old", &img).unwrap();
        assert_eq!(h.text_offset, LEGACY_TEXT_OFFSET);
        assert_eq!(h.image_size, img.len() as u64);
    }

    #[test]
    fn refuses_what_is_not_an_image() {
        let e = ImageHeader::parse("vmlinuz", &[0x1f, 0x8b, 8, 0, 0, 0]).unwrap_err();
        assert!(matches!(e, ImageError::Gzip { .. }));
        assert!(e.to_string().contains("gunzip"), "{e}");
        for len in [0, 1, 63] {
            let e = ImageHeader::parse("short", &image(0, 1, 0, 0)[..len]).unwrap_err();
            assert_eq!(
                e,
                ImageError::TooShort {
                    name: "short".into(),
                    len
                }
            );
        }
        let mut img = image(0, 0x1000, 0, 0);
        img[59] = 0;
        let e = ImageHeader::parse("elf", &img).unwrap_err();
        assert!(matches!(e, ImageError::NoMagic { .. }));
        assert!(e.to_string().contains("--raw"), "{e}");
        for bad in [SLOT_ALIGN, u64::MAX, 0x800, 0x8_0001] {
            let e = ImageHeader::parse("x", &image(bad, 0x1000, 0, 0)).unwrap_err();
            assert!(matches!(e, ImageError::TextOffset { .. }), "{e}");
        }
    }

    #[test]
    fn any_bytes_give_a_header_or_an_error() {
        // A cheap sweep: every prefix of a valid image and of noise.
        let img = image(0, 0x10_0000, 0, 64);
        for n in 0..img.len() {
            let _ = ImageHeader::parse("p", &img[..n]);
        }
        let noise: Vec<u8> = (0..200u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for n in 0..noise.len() {
            let _ = ImageHeader::parse("n", &noise[..n]);
        }
    }
}
