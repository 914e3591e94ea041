//! Guest memory in a snapshot: a separate sparse file holding only the pages the guest touched,
//! the regions laid end to end. A restore maps it `MAP_PRIVATE` instead of copying it, so a
//! restored guest starts at once and pages come in from the page cache on first touch.
//!
//! "Touched" means in RAM or swap in the VMM (`/proc/self/pagemap`, or `mincore` where pagemap
//! cannot be used), plus, for a VM that was itself restored, the
//! data extents of the file its RAM is mapped from (`SEEK_DATA`): a page the guest has not touched
//! since the last restore may have been evicted from the page cache but is still guest data.

use crate::memory::{page_size, populated_pages, GuestMemoryMmap, GuestRegionMmap};
use std::fs::File;
use std::io::{Seek, SeekFrom};
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

/// Writes the touched pages of `mem` into `file` (which it truncates to the full RAM size, so the
/// rest are holes).
pub fn write(mem: &GuestMemoryMmap, file: &mut File) -> Result<WriteStats, MemFileError> {
    let page = page_size();
    let layout = layout_of(mem);
    let total: u64 = layout.iter().map(|l| l.size).sum();
    file.set_len(0).map_err(io("truncating the memory file"))?;
    file.set_len(total).map_err(io("sizing the memory file"))?;
    let mut stats = WriteStats::default();
    for (region, l) in mem.iter().zip(&layout) {
        let touched = touched_pages(region);
        let mut p = 0;
        while p < touched.len() {
            if !touched[p] {
                p += 1;
                continue;
            }
            let run = touched[p..].iter().take_while(|t| **t).count();
            let off = p as u64 * page;
            let len = (run as u64 * page).min(l.size - off);
            file.seek(SeekFrom::Start(l.file_offset + off))
                .map_err(io("seeking in the memory file"))?;
            let addr = l.guest_addr + off;
            mem.write_all_volatile_to(GuestAddress(addr), file, len as usize)
                .map_err(|source| MemFileError::Copy { addr, source })?;
            stats.pages += run as u64;
            stats.bytes += len;
            p += run;
        }
    }
    Ok(stats)
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
    fn writes_only_touched_pages_and_maps_them_back_privately() {
        let mem = GuestMemoryMmap::from_ranges(&[
            (GuestAddress(0), 8 << 20),
            (GuestAddress(1 << 30), 4 << 20),
        ])
        .unwrap();
        mem.write_slice(b"low", GuestAddress(0x1234)).unwrap();
        mem.write_slice(b"high", GuestAddress((1 << 30) + 0x5000))
            .unwrap();
        let mut f = tmp("a");
        let stats = write(&mem, &mut f).unwrap();
        // Two pages were written; with transparent huge pages a touch can make a whole 2 MiB
        // resident, so up to two huge pages' worth may count as touched.
        let page = crate::memory::page_size();
        let huge = (2 << 20) / page;
        assert!((2..=2 * huge + 2).contains(&stats.pages), "{stats:?}");
        let meta = f.metadata().unwrap();
        assert_eq!(meta.len(), 12 << 20);
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
        let mut f2 = tmp("b");
        let stats2 = write(&back, &mut f2).unwrap();
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
}
