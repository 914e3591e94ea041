//! U-Boot legacy images (uImage): a 64-byte big-endian header, then the payload.
//!
//! ```text
//! offset  field     meaning
//! 0       ih_magic  0x27051956
//! 4       ih_hcrc   CRC-32 of the header, computed with this field zero
//! 8       ih_time   creation time
//! 12      ih_size   payload size
//! 16      ih_load   load address
//! 20      ih_ep     entry point
//! 24      ih_dcrc   CRC-32 of the payload
//! 28      ih_os, ih_arch, ih_type, ih_comp (one byte each)
//! 32      ih_name   32 bytes, NUL-padded
//! ```
//!
//! The header CRC is computed with `ih_hcrc` zeroed. tetra loads uncompressed Linux kernels for
//! PowerPC (`-A ppc -O linux -T kernel -C none`); anything else is refused with the reason.

use crc32fast::hash as crc32;
use thiserror::Error;

/// The uImage magic number.
pub const UIMAGE_MAGIC: u32 = 0x2705_1956;
/// Header size in bytes.
pub const HEADER_SIZE: usize = 64;
/// `IH_OS_LINUX`.
pub const IH_OS_LINUX: u8 = 5;
/// `IH_ARCH_PPC`.
pub const IH_ARCH_PPC: u8 = 7;
/// `IH_TYPE_KERNEL`.
pub const IH_TYPE_KERNEL: u8 = 2;
/// `IH_COMP_NONE`.
pub const IH_COMP_NONE: u8 = 0;

/// Why a uImage was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum UImageError {
    /// Shorter than the header.
    #[error("uImage is {0} bytes, shorter than its 64-byte header")]
    TooShort(usize),
    /// Wrong magic.
    #[error("not a uImage: magic {0:#010x}, expected 0x27051956")]
    BadMagic(u32),
    /// Header CRC mismatch.
    #[error("uImage header CRC is {stored:#010x}, computed {computed:#010x}: corrupt header")]
    HeaderCrc {
        /// In the header.
        stored: u32,
        /// Computed.
        computed: u32,
    },
    /// Payload shorter than the header says.
    #[error("uImage payload is {available} bytes, the header says {size}: truncated image")]
    Truncated {
        /// Size in the header.
        size: u32,
        /// Bytes after the header.
        available: usize,
    },
    /// Payload CRC mismatch.
    #[error("uImage payload CRC is {stored:#010x}, computed {computed:#010x}: corrupt payload")]
    DataCrc {
        /// In the header.
        stored: u32,
        /// Computed.
        computed: u32,
    },
    /// Not a Linux image.
    #[error("uImage OS is {0}, not Linux (5)")]
    NotLinux(u8),
    /// Not a PowerPC image.
    #[error("uImage architecture is {0}, not PowerPC (7)")]
    NotPowerPc(u8),
    /// Not a kernel.
    #[error("uImage type is {0}, not a kernel (2); multi-file, ramdisk and no-load images are not supported")]
    NotKernel(u8),
    /// Compressed.
    #[error(
        "uImage payload is {0}-compressed; tetra loads uncompressed uImages (mkimage -C none)"
    )]
    Compressed(&'static str),
    /// Entry point outside the loaded payload.
    #[error(
        "uImage entry point {entry:#x} lies outside the payload loaded at {load:#x}..{end:#x}"
    )]
    EntryOutside {
        /// Entry.
        entry: u32,
        /// Load address.
        load: u32,
        /// End of the payload.
        end: u64,
    },
}

/// A parsed, validated uImage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UImage<'a> {
    /// Image name (up to 32 bytes, NUL-terminated in the header).
    pub name: String,
    /// Creation time (seconds since 1970).
    pub time: u32,
    /// Load address (guest physical).
    pub load: u32,
    /// Entry point (guest physical).
    pub entry: u32,
    /// The payload.
    pub data: &'a [u8],
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn compression(c: u8) -> &'static str {
    match c {
        1 => "gzip",
        2 => "bzip2",
        3 => "lzma",
        4 => "lzo",
        5 => "lz4",
        6 => "zstd",
        _ => "unknown",
    }
}

/// Whether `bytes` start with the uImage magic.
pub fn is_uimage(bytes: &[u8]) -> bool {
    bytes.len() >= 4 && be32(bytes, 0) == UIMAGE_MAGIC
}

/// Parses and validates a uImage: magic, header CRC, size, payload CRC, OS, architecture, type,
/// compression, and that the entry point lies in the payload.
pub fn parse(bytes: &[u8]) -> Result<UImage<'_>, UImageError> {
    if bytes.len() < HEADER_SIZE {
        return Err(UImageError::TooShort(bytes.len()));
    }
    let magic = be32(bytes, 0);
    if magic != UIMAGE_MAGIC {
        return Err(UImageError::BadMagic(magic));
    }
    let mut header = [0u8; HEADER_SIZE];
    header.copy_from_slice(&bytes[..HEADER_SIZE]);
    let stored = be32(&header, 4);
    header[4..8].fill(0);
    let computed = crc32(&header);
    if stored != computed {
        return Err(UImageError::HeaderCrc { stored, computed });
    }
    let size = be32(bytes, 12);
    let available = bytes.len() - HEADER_SIZE;
    if size as usize > available {
        return Err(UImageError::Truncated { size, available });
    }
    let data = &bytes[HEADER_SIZE..HEADER_SIZE + size as usize];
    let (stored, computed) = (be32(bytes, 24), crc32(data));
    if stored != computed {
        return Err(UImageError::DataCrc { stored, computed });
    }
    let (os, arch, kind, comp) = (bytes[28], bytes[29], bytes[30], bytes[31]);
    if os != IH_OS_LINUX {
        return Err(UImageError::NotLinux(os));
    }
    if arch != IH_ARCH_PPC {
        return Err(UImageError::NotPowerPc(arch));
    }
    if kind != IH_TYPE_KERNEL {
        return Err(UImageError::NotKernel(kind));
    }
    if comp != IH_COMP_NONE {
        return Err(UImageError::Compressed(compression(comp)));
    }
    let (load, entry) = (be32(bytes, 16), be32(bytes, 20));
    let end = u64::from(load) + u64::from(size);
    if !(u64::from(load)..end).contains(&u64::from(entry)) {
        return Err(UImageError::EntryOutside { entry, load, end });
    }
    let name_bytes = &bytes[32..64];
    let name_len = name_bytes.iter().position(|b| *b == 0).unwrap_or(32);
    Ok(UImage {
        name: String::from_utf8_lossy(&name_bytes[..name_len]).into_owned(),
        time: be32(bytes, 8),
        load,
        entry,
        data,
    })
}

/// Builds a uImage (for tests and tools): Linux, PowerPC, kernel, uncompressed.
pub fn build(name: &str, load: u32, entry: u32, data: &[u8]) -> Vec<u8> {
    let mut h = [0u8; HEADER_SIZE];
    h[0..4].copy_from_slice(&UIMAGE_MAGIC.to_be_bytes());
    h[8..12].copy_from_slice(&1_700_000_000u32.to_be_bytes());
    h[12..16].copy_from_slice(&(data.len() as u32).to_be_bytes());
    h[16..20].copy_from_slice(&load.to_be_bytes());
    h[20..24].copy_from_slice(&entry.to_be_bytes());
    h[24..28].copy_from_slice(&crc32(data).to_be_bytes());
    h[28..32].copy_from_slice(&[IH_OS_LINUX, IH_ARCH_PPC, IH_TYPE_KERNEL, IH_COMP_NONE]);
    let n = name.len().min(31);
    h[32..32 + n].copy_from_slice(&name.as_bytes()[..n]);
    let hcrc = crc32(&h);
    h[4..8].copy_from_slice(&hcrc.to_be_bytes());
    let mut out = h.to_vec();
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload() -> Vec<u8> {
        (0..5000u32).map(|i| (i * 7) as u8).collect()
    }

    /// Rewrites header byte `at` to `v` and fixes the header CRC.
    fn patch(img: &mut [u8], at: usize, v: u8) {
        img[at] = v;
        img[4..8].fill(0);
        let c = crc32(&img[..HEADER_SIZE]);
        img[4..8].copy_from_slice(&c.to_be_bytes());
    }

    #[test]
    fn crc_is_u_boots() {
        // U-Boot's header and data CRCs are zlib's CRC-32 (IEEE 802.3, reflected).
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn round_trip() {
        let img = build("Linux-6.1", 0, 0x10, &payload());
        assert!(is_uimage(&img));
        let u = parse(&img).unwrap();
        assert_eq!((u.name.as_str(), u.load, u.entry), ("Linux-6.1", 0, 0x10));
        assert_eq!(u.data, &payload()[..]);
        // Trailing bytes after the payload are ignored.
        let mut longer = img.clone();
        longer.extend_from_slice(&[0; 100]);
        assert_eq!(parse(&longer).unwrap().data.len(), 5000);
    }

    #[test]
    fn rejections() {
        let img = build("k", 0, 0, &payload());
        assert_eq!(parse(&img[..10]), Err(UImageError::TooShort(10)));
        assert!(matches!(parse(&[0u8; 64]), Err(UImageError::BadMagic(0))));
        let mut bad = img.clone();
        bad[40] ^= 1;
        assert!(matches!(parse(&bad), Err(UImageError::HeaderCrc { .. })));
        assert_eq!(
            parse(&img[..img.len() - 1]),
            Err(UImageError::Truncated {
                size: 5000,
                available: 4999
            })
        );
        let mut bad = img.clone();
        bad[100] ^= 0x80;
        assert!(matches!(parse(&bad), Err(UImageError::DataCrc { .. })));
        let cases: [(usize, u8, UImageError); 4] = [
            (28, 2, UImageError::NotLinux(2)),
            (29, 2, UImageError::NotPowerPc(2)),
            (30, 4, UImageError::NotKernel(4)),
            (31, 1, UImageError::Compressed("gzip")),
        ];
        for (at, v, want) in cases {
            let mut bad = img.clone();
            patch(&mut bad, at, v);
            assert_eq!(parse(&bad), Err(want));
        }
        let outside = build("k", 0x1000, 0x1000 + 5000, &payload());
        assert!(matches!(
            parse(&outside),
            Err(UImageError::EntryOutside { .. })
        ));
        assert!(parse(&build("k", 0xffff_f000, 0xffff_f000, &payload())).is_ok());
        assert_eq!(
            UImageError::Compressed("gzip").to_string(),
            "uImage payload is gzip-compressed; tetra loads uncompressed uImages (mkimage -C none)"
        );
    }

    #[test]
    fn every_truncation_is_an_error() {
        let img = build("k", 0, 0, &payload()[..300]);
        for n in 0..img.len() {
            assert!(parse(&img[..n]).is_err(), "length {n}");
        }
    }
}
