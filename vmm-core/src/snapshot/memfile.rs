//! Guest memory in a snapshot: a separate sparse file holding only the pages the guest touched,
//! the regions laid end to end. A restore maps it `MAP_PRIVATE` instead of copying it, so a
//! restored guest starts at once and pages come in from the page cache on first touch.
//!
//! "Touched" means in RAM or swap in the VMM (`/proc/self/pagemap`, or `mincore` where pagemap
//! cannot be used), plus, for a VM that was itself restored, the
//! data extents of the file its RAM is mapped from (`SEEK_DATA`): a page the guest has not touched
//! since the last restore may have been evicted from the page cache but is still guest data.
//!
//! Since `MEMS` version 2 the file ends with a [`Trailer`] after the regions (which stay where
//! they were, page aligned for the mapping): it names the snapshot the file belongs to (the nonce
//! of its state file's `MEMS`) and the regions' size, so that a memory file of another snapshot,
//! or a cut or grown one, is refused before it is mapped. While writing, each chunk of guest
//! memory gets its digest ([`digest`](super::digest)), which `MEMS` carries.

use super::digest::{self, MemDigests, ZeroDigests};
use crate::memory::{page_size, populated_pages, GuestMemoryMmap, GuestRegionMmap};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use vm_memory::mmap::{MmapRegion, MmapRegionError};
use vm_memory::{Address, Bytes, FileOffset, GuestAddress, GuestMemoryBackend, GuestMemoryRegion};

/// Errors writing or mapping a memory file.
#[derive(Debug, thiserror::Error)]
pub enum MemFileError {
    /// A file operation failed.
    #[error("{what} failed")]
    Io {
        /// What.
        what: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Copying guest memory to the file failed.
    #[error("writing guest memory at {addr:#x} to the memory file failed")]
    Copy {
        /// Where.
        addr: u64,
        /// Why.
        #[source]
        source: vm_memory::GuestMemoryError,
    },
    /// The file is shorter than the layout needs.
    #[error("the memory file is {got} bytes; the snapshot's layout needs {need}")]
    Size {
        /// Its size.
        got: u64,
        /// What the layout needs.
        need: u64,
    },
    /// The layout is not usable.
    #[error("bad memory layout: {0}")]
    Layout(String),
    /// Mapping failed.
    #[error("mapping the memory file failed")]
    Map(#[source] MmapRegionError),
    /// The file is not the size its snapshot's `MEMS` says.
    #[error("{got} bytes where its snapshot's MEMS section says {want}: cut, grown or replaced")]
    WrongSize {
        /// Its size.
        got: u64,
        /// What `MEMS` says.
        want: u64,
    },
    /// The trailer is not a tetra memory file trailer, or is corrupt.
    #[error("its trailer {0}")]
    Trailer(String),
    /// The file belongs to another snapshot.
    #[error(
        "of another snapshot: its trailer's nonce is {file:016x}, the state file's {state:016x}"
    )]
    Nonce {
        /// The nonce in the file.
        file: u64,
        /// The nonce in the state file.
        state: u64,
    },
    /// Guest memory does not match its digests.
    #[error(transparent)]
    Digest(#[from] digest::DigestError),
}

fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> MemFileError {
    move |source| MemFileError::Io { what, source }
}

/// Where one region of guest RAM lives in the memory file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegionLayout {
    /// Guest-physical base.
    pub guest_addr: u64,
    /// Size in bytes.
    pub size: u64,
    /// Offset in the memory file.
    pub file_offset: u64,
}

/// The regions of `mem` laid end to end.
pub fn layout_of(mem: &GuestMemoryMmap) -> Vec<RegionLayout> {
    let mut off = 0;
    mem.iter()
        .map(|r| {
            let l = RegionLayout {
                guest_addr: r.start_addr().raw_value(),
                size: r.len(),
                file_offset: off,
            };
            off += r.len();
            l
        })
        .collect()
}

/// What a write did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Pages copied into the file.
    pub pages: u64,
    /// Bytes copied.
    pub bytes: u64,
}

/// Marks the pages of `[start, start + len)` in `file` that hold data (not holes).
fn data_pages(file: &File, start: u64, len: u64, page: u64, marks: &mut [bool]) {
    let fd = file.as_raw_fd();
    let end = start + len;
    let mut pos = start;
    while pos < end {
        // SAFETY: lseek on a valid fd; no memory is passed.
        let data = unsafe { libc::lseek(fd, pos as libc::off_t, libc::SEEK_DATA) };
        if data < 0 || data as u64 >= end {
            return;
        }
        // SAFETY: as above.
        let hole = unsafe { libc::lseek(fd, data, libc::SEEK_HOLE) };
        let hole = if hole < 0 {
            end
        } else {
            (hole as u64).min(end)
        };
        let first = ((data as u64 - start) / page) as usize;
        let last = ((hole - start).div_ceil(page) as usize).min(marks.len());
        for m in &mut marks[first.min(last)..last] {
            *m = true;
        }
        pos = hole;
    }
}

/// Per host page of `region`: did the guest touch it? Pages in RAM or swap, plus the data extents
/// of the file a restored region is mapped from.
pub fn touched_pages(region: &crate::memory::GuestRegionMmap) -> Vec<bool> {
    let mut touched = populated_pages(region);
    if let Some(fo) = region.file_offset() {
        data_pages(
            fo.file(),
            fo.start(),
            region.len(),
            page_size(),
            &mut touched,
        );
    }
    touched
}

/// The memory file's trailer (since `MEMS` version 2), right after the regions:
///
/// ```text
/// magic      [u8; 8]  "TETRAMEM"
/// version    u16      1
/// reserved   u16      0
/// page size  u32      the host page size it was written with
/// nonce      u64      the nonce of its state file's MEMS section
/// data size  u64      the regions' bytes: the trailer's own offset
/// CRC-32     u32      of the 32 bytes before it
/// reserved   u32      0
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trailer {
    /// The host page size.
    pub page_size: u32,
    /// The snapshot's nonce.
    pub nonce: u64,
    /// The regions' bytes.
    pub data_size: u64,
}

/// The trailer's magic.
pub const TRAILER_MAGIC: &[u8; 8] = b"TETRAMEM";
/// The trailer's size.
pub const TRAILER_BYTES: u64 = 40;

impl Trailer {
    /// Its bytes.
    pub fn encode(&self) -> [u8; TRAILER_BYTES as usize] {
        let mut w = crate::wire::Writer::new();
        w.bytes(TRAILER_MAGIC);
        w.u16(1);
        w.u16(0);
        w.u32(self.page_size);
        w.u64(self.nonce);
        w.u64(self.data_size);
        let crc = crc32fast::hash(&w.buf);
        w.u32(crc);
        w.u32(0);
        w.buf.try_into().expect("40 bytes")
    }

    /// Reads a trailer.
    pub fn decode(b: &[u8; TRAILER_BYTES as usize]) -> Result<Trailer, MemFileError> {
        let bad = |why: &str| MemFileError::Trailer(why.to_string());
        if &b[..8] != TRAILER_MAGIC {
            return Err(bad(
                "is missing: this is not a tetra memory file (or not one of MEMS version 2)",
            ));
        }
        if crc32fast::hash(&b[..32]) != u32::from_le_bytes(b[32..36].try_into().unwrap()) {
            return Err(bad("fails its checksum"));
        }
        let mut r = crate::wire::Reader::new(&b[8..32]);
        let version = r.u16("version").map_err(|e| bad(&e.to_string()))?;
        if version != 1 || b[10..12] != [0, 0] || b[36..] != [0; 4] {
            return Err(MemFileError::Trailer(format!(
                "is of version {version} (with reserved bytes {:?}); this tetra reads version 1",
                [&b[10..12], &b[36..]].concat()
            )));
        }
        let _ = r.u16("reserved");
        Ok(Trailer {
            page_size: r.u32("the page size").map_err(|e| bad(&e.to_string()))?,
            nonce: r.u64("the nonce").map_err(|e| bad(&e.to_string()))?,
            data_size: r.u64("the data size").map_err(|e| bad(&e.to_string()))?,
        })
    }
}

/// What a write produced: how much it copied, the chunk digests, the file's size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    /// Pages and bytes copied.
    pub stats: WriteStats,
    /// The digest of every chunk.
    pub digests: MemDigests,
    /// The file's size: the regions and the trailer.
    pub file_size: u64,
}

/// Writes the touched pages of `mem` into `file` (which it truncates to the full RAM size, so the
/// rest are holes), the digest of every chunk, holes as zeros, and the [`Trailer`] with `nonce`.
pub fn write(mem: &GuestMemoryMmap, file: &File, nonce: u64) -> Result<Written, MemFileError> {
    write_reporting(mem, file, nonce, &mut |_, _, _| {})
}

/// [`write`], calling `progress(done, total, written)` after each chunk of [`digest::CHUNK_BYTES`]:
/// the bytes of guest memory gone through so far (written, or found untouched and left a hole),
/// in all, and written to the file.
pub fn write_reporting(
    mem: &GuestMemoryMmap,
    file: &File,
    nonce: u64,
    progress: &mut dyn FnMut(u64, u64, u64),
) -> Result<Written, MemFileError> {
    let page = page_size();
    let layout = layout_of(mem);
    let total: u64 = layout.iter().map(|l| l.size).sum();
    file.set_len(0).map_err(io("truncating the memory file"))?;
    file.set_len(total).map_err(io("sizing the memory file"))?;
    let chunk = digest::CHUNK_BYTES.max(page);
    let mut digests = Vec::new();
    let mut zeros = ZeroDigests::default();
    let mut buf = vec![0u8; chunk as usize];
    let mut stats = WriteStats::default();
    let mut done = 0;
    for (region, l) in mem.iter().zip(&layout) {
        let touched = touched_pages(region);
        let mut off = 0;
        while off < l.size {
            let len = chunk.min(l.size - off);
            let first = (off / page) as usize;
            let pages = &touched[first.min(touched.len())
                ..(first + len.div_ceil(page) as usize).min(touched.len())];
            done += len;
            if !pages.iter().any(|t| *t) {
                digests.push(zeros.get(len));
                off += len;
                progress(done, total, stats.bytes);
                continue;
            }
            let b = &mut buf[..len as usize];
            let mut p = 0;
            while p < pages.len() {
                let run = pages[p..].iter().take_while(|t| **t == pages[p]).count();
                let (from, to) = (p as u64 * page, ((p + run) as u64 * page).min(len));
                let part = &mut b[from as usize..to as usize];
                if pages[p] {
                    let addr = l.guest_addr + off + from;
                    mem.read_slice(part, GuestAddress(addr))
                        .map_err(|source| MemFileError::Copy { addr, source })?;
                    file.write_all_at(part, l.file_offset + off + from)
                        .map_err(io("writing the memory file"))?;
                    stats.pages += run as u64;
                    stats.bytes += to - from;
                } else {
                    part.fill(0);
                }
                p += run;
            }
            // Pages the residency scan did not cover (none, for a whole region) are holes.
            b[((pages.len() as u64 * page).min(len)) as usize..].fill(0);
            digests.push(digest::digest(b));
            off += len;
            progress(done, total, stats.bytes);
        }
    }
    let trailer = Trailer {
        page_size: page as u32,
        nonce,
        data_size: total,
    };
    file.write_all_at(&trailer.encode(), total)
        .map_err(io("writing the memory file's trailer"))?;
    Ok(Written {
        stats,
        digests: MemDigests {
            chunk_bytes: chunk,
            digests,
        },
        file_size: total + TRAILER_BYTES,
    })
}

/// Checks that `file` is the memory file of the snapshot whose `MEMS` says `nonce`, `file_size`
/// and `layout`: its exact size, then its trailer (magic, checksum, nonce, page size, data size).
/// Nothing is mapped or read beyond the trailer.
pub fn check_binding(
    file: &File,
    layout: &[RegionLayout],
    nonce: u64,
    page_size: u32,
    file_size: u64,
) -> Result<(), MemFileError> {
    let got = file
        .metadata()
        .map_err(io("reading the memory file's size"))?
        .len();
    if got != file_size {
        return Err(MemFileError::WrongSize {
            got,
            want: file_size,
        });
    }
    let data = layout
        .iter()
        .map(|l| l.file_offset.checked_add(l.size))
        .try_fold(0u64, |m, e| e.map(|e| m.max(e)))
        .ok_or_else(|| MemFileError::Layout("offsets overflow".into()))?;
    if file_size != data.saturating_add(TRAILER_BYTES) {
        return Err(MemFileError::Layout(format!(
            "MEMS says the file is {file_size} bytes; its regions and trailer take {}",
            data.saturating_add(TRAILER_BYTES)
        )));
    }
    let mut b = [0u8; TRAILER_BYTES as usize];
    file.read_exact_at(&mut b, data)
        .map_err(io("reading the memory file's trailer"))?;
    let t = Trailer::decode(&b)?;
    if t.nonce != nonce {
        return Err(MemFileError::Nonce {
            file: t.nonce,
            state: nonce,
        });
    }
    if t.data_size != data || t.page_size != page_size {
        return Err(MemFileError::Trailer(format!(
            "says {} bytes of {}-byte pages; MEMS says {data} of {page_size}",
            t.data_size, t.page_size
        )));
    }
    Ok(())
}

/// Maps `file` as guest RAM with `layout`, `MAP_PRIVATE`: guest writes stay in this process.
pub fn map(file: &File, layout: &[RegionLayout]) -> Result<GuestMemoryMmap, MemFileError> {
    let size = file
        .metadata()
        .map_err(io("reading the memory file's size"))?
        .len();
    let need = layout
        .iter()
        .map(|l| l.file_offset.checked_add(l.size))
        .try_fold(0u64, |m, e| e.map(|e| m.max(e)))
        .ok_or_else(|| MemFileError::Layout("offsets overflow".into()))?;
    if size < need {
        return Err(MemFileError::Size { got: size, need });
    }
    let page = page_size();
    let mut regions = Vec::with_capacity(layout.len());
    for l in layout {
        if l.size == 0
            || l.size % page != 0
            || l.file_offset % page != 0
            || l.guest_addr % page != 0
        {
            return Err(MemFileError::Layout(format!(
                "region at {:#x} (size {:#x}, file offset {:#x}) is not page aligned",
                l.guest_addr, l.size, l.file_offset
            )));
        }
        let f = file
            .try_clone()
            .map_err(io("duplicating the memory file"))?;
        let mapping = MmapRegion::build(
            Some(FileOffset::new(f, l.file_offset)),
            l.size as usize,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_NORESERVE,
        )
        .map_err(MemFileError::Map)?;
        let r = GuestRegionMmap::new(mapping, GuestAddress(l.guest_addr)).ok_or_else(|| {
            MemFileError::Layout(format!(
                "region at {:#x} wraps the address space",
                l.guest_addr
            ))
        })?;
        regions.push(r);
    }
    GuestMemoryMmap::from_regions(regions).map_err(|e| MemFileError::Layout(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;
    use vm_memory::Bytes;

    fn tmp(name: &str) -> File {
        let p = std::env::temp_dir().join(format!("tetra-memfile-{}-{name}", std::process::id()));
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&p)
            .unwrap();
        std::fs::remove_file(&p).unwrap();
        f
    }

    #[test]
    fn reports_progress_up_to_the_whole_memory() {
        let mem = GuestMemoryMmap::from_ranges(&[
            (GuestAddress(0), 8 << 20),
            (GuestAddress(1 << 30), 4 << 20),
        ])
        .unwrap();
        mem.write_slice(b"x", GuestAddress(0x1234)).unwrap();
        let f = tmp("progress");
        let mut seen = Vec::new();
        let w = write_reporting(&mem, &f, 1, &mut |d, t, b| seen.push((d, t, b))).unwrap();
        let chunks = (12u64 << 20).div_ceil(digest::CHUNK_BYTES.max(crate::memory::page_size()));
        assert_eq!(seen.len() as u64, chunks, "{seen:?}");
        assert!(seen.windows(2).all(|w| w[0].0 < w[1].0), "{seen:?}");
        assert!(seen.windows(2).all(|w| w[0].2 <= w[1].2), "{seen:?}");
        assert_eq!(seen.last(), Some(&(12 << 20, 12 << 20, w.stats.bytes)));
    }

    #[test]
    fn writes_only_touched_pages_and_maps_them_back_privately() {
        let mem = GuestMemoryMmap::from_ranges(&[
            (GuestAddress(0), 8 << 20),
            (GuestAddress(1 << 30), 4 << 20),
        ])
        .unwrap();
        mem.write_slice(b"low", GuestAddress(0x1234)).unwrap();
        mem.write_slice(b"high", GuestAddress((1 << 30) + 0x5000))
            .unwrap();
        let f = tmp("a");
        let written = write(&mem, &f, 0x1234_5678).unwrap();
        let stats = written.stats;
        // Two pages were written; with transparent huge pages a touch can make a whole 2 MiB
        // resident, so up to two huge pages' worth may count as touched.
        let page = crate::memory::page_size();
        let huge = (2 << 20) / page;
        assert!((2..=2 * huge + 2).contains(&stats.pages), "{stats:?}");
        let meta = f.metadata().unwrap();
        assert_eq!(meta.len(), (12 << 20) + TRAILER_BYTES);
        assert_eq!(written.file_size, meta.len());
        // Six 2 MiB chunks, each digest that of its bytes in the file.
        let l = layout_of(&mem);
        check_binding(&f, &l, 0x1234_5678, page as u32, written.file_size).unwrap();
        let no = std::sync::atomic::AtomicBool::new(false);
        let st = digest::check_file(&f, &l, &written.digests, 2, &no).unwrap();
        assert_eq!((st.chunks, written.digests.digests.len()), (6, 6));
        // Sparse: only the touched pages take disk space (64 KiB of slack for the filesystem).
        assert!(
            meta.blocks() * 512 <= stats.pages * page + 64 * 1024,
            "sparse: {} blocks for {stats:?} of {page}-byte pages",
            meta.blocks()
        );

        let back = map(&f, &layout_of(&mem)).unwrap();
        // The file's pages are in the page cache (just written), but nothing is mapped yet: the
        // restored VM's share of the RSS is zero until the guest touches its memory. (Where
        // pagemap cannot be used, residency falls back to mincore, which counts the page cache.)
        if crate::memory::pagemap_works() {
            let mapped: usize = back
                .iter()
                .map(|r| {
                    crate::memory::resident_pages(r)
                        .iter()
                        .filter(|p| **p)
                        .count()
                })
                .sum();
            assert_eq!(
                mapped, 0,
                "a fresh mapping of the memory file is already resident"
            );
        } else {
            eprintln!("pagemap unusable here: residency comes from mincore; mapping check skipped");
        }
        let mut b = [0u8; 4];
        back.read_slice(&mut b[..3], GuestAddress(0x1234)).unwrap();
        assert_eq!(&b[..3], b"low");
        back.read_slice(&mut b, GuestAddress((1 << 30) + 0x5000))
            .unwrap();
        assert_eq!(&b, b"high");
        // Writes to the mapping do not reach the file.
        back.write_slice(b"XX", GuestAddress(0x1234)).unwrap();
        let again = map(&f, &layout_of(&mem)).unwrap();
        again.read_slice(&mut b[..3], GuestAddress(0x1234)).unwrap();
        assert_eq!(&b[..3], b"low");

        // Snapshotting a restored VM keeps the file's data even where nothing is resident.
        let f2 = tmp("b");
        let stats2 = write(&back, &f2, 2).unwrap().stats;
        assert!(stats2.pages >= 2, "{stats2:?}");
        let third = map(&f2, &layout_of(&mem)).unwrap();
        third
            .read_slice(&mut b, GuestAddress((1 << 30) + 0x5000))
            .unwrap();
        assert_eq!(&b, b"high");
        third.read_slice(&mut b[..2], GuestAddress(0x1234)).unwrap();
        assert_eq!(&b[..2], b"XX");
    }

    #[test]
    fn refuses_short_files_and_bad_layouts() {
        let f = tmp("c");
        f.set_len(4096).unwrap();
        let l = [RegionLayout {
            guest_addr: 0,
            size: 1 << 20,
            file_offset: 0,
        }];
        assert!(matches!(map(&f, &l), Err(MemFileError::Size { .. })));
        let bad = [RegionLayout {
            guest_addr: 0,
            size: 100,
            file_offset: 0,
        }];
        assert!(matches!(map(&f, &bad), Err(MemFileError::Layout(_))));
        let wrap = [RegionLayout {
            guest_addr: 0,
            size: 4096,
            file_offset: u64::MAX,
        }];
        assert!(matches!(map(&f, &wrap), Err(MemFileError::Layout(_))));
    }

    #[test]
    fn a_memory_file_is_bound_to_its_snapshot_by_size_and_nonce() {
        let mem = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 4 << 20)]).unwrap();
        mem.write_slice(b"data", GuestAddress(0x3000)).unwrap();
        let f = tmp("d");
        let w = write(&mem, &f, 7).unwrap();
        let l = layout_of(&mem);
        let page = crate::memory::page_size() as u32;
        check_binding(&f, &l, 7, page, w.file_size).unwrap();
        let e = check_binding(&f, &l, 8, page, w.file_size).unwrap_err();
        assert!(
            matches!(e, MemFileError::Nonce { file: 7, state: 8 }),
            "{e}"
        );
        assert!(e.to_string().contains("of another snapshot"), "{e}");
        let e = check_binding(&f, &l, 7, page, w.file_size + 1).unwrap_err();
        assert!(matches!(e, MemFileError::WrongSize { .. }), "{e}");
        // MEMS and the file agree on a size the regions do not give.
        f.set_len(w.file_size + 4096).unwrap();
        let e = check_binding(&f, &l, 7, page, w.file_size + 4096).unwrap_err();
        assert!(matches!(e, MemFileError::Layout(_)), "{e}");
        f.set_len(w.file_size).unwrap();
        // Every byte of the trailer matters.
        for i in 0..TRAILER_BYTES {
            let at = (4 << 20) + i;
            let mut b = [0u8];
            f.read_exact_at(&mut b, at).unwrap();
            f.write_all_at(&[b[0] ^ 1], at).unwrap();
            let e = check_binding(&f, &l, 7, page, w.file_size).unwrap_err();
            assert!(
                matches!(e, MemFileError::Trailer(_) | MemFileError::Nonce { .. }),
                "byte {i}: {e}"
            );
            f.write_all_at(&b, at).unwrap();
        }
        check_binding(&f, &l, 7, page, w.file_size).unwrap();
        let t = Trailer {
            page_size: 4096,
            nonce: u64::MAX,
            data_size: 1 << 40,
        };
        assert_eq!(Trailer::decode(&t.encode()).unwrap(), t);
    }
}
