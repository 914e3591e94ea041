//! The body of a PAGES frame (protocol version 3): guest pages as runs of contiguous pages, each
//! either carrying its pages' bytes or saying that they are all zero (and carrying nothing).
//!
//! ```text
//! body   run, run, ...                         (at least one run; nothing after the last)
//! run    gpa u64       the first page's guest-physical address, page aligned
//!        count u32     pages in the run, at least 1
//!        fill u8       0: count pages of bytes follow; 1: the pages are zero, nothing follows
//!        [bytes]       count * page bytes when fill is 0
//! ```
//!
//! Version 2 carried `count u32`, then `gpa u64, page bytes` for every page. Runs cut the headers
//! to one per run and let the destination copy a run with one write; zero runs send nothing for a
//! page the guest touched and left (or made) zero.
//!
//! The destination ([`apply`]) checks every run before it writes anything of it: the address
//! page aligned, the count at least 1, the run's bytes there (a count is never trusted for an
//! allocation or a read), the whole run inside guest RAM. A zero page is written only where the
//! destination's page is not zero already: a fresh destination's untouched RAM stays unallocated.
//! A data run of at least [`POPULATE_MIN`] pages is faulted in with one
//! `madvise(MADV_POPULATE_WRITE)` before its bytes are copied, instead of one page fault per page:
//! 1 GiB copied in 1 MiB pieces into fresh memory took 394-444 ms here, 356-364 ms with that call
//! before each piece (medians of 4, a C loop on this machine, 2026-12-04).

use crate::memory::GuestMemoryMmap;
use vm_memory::{Bytes, GuestAddress};

/// A run's header: gpa u64, count u32, fill u8.
pub const RUN_HEAD: usize = 8 + 4 + 1;
/// `fill`: the run's bytes follow.
const DATA: u8 = 0;
/// `fill`: the run's pages are zero; no bytes follow.
const ZERO: u8 = 1;
/// The shortest data run the destination faults in with one call before it copies. A choice,
/// not a measurement: a shorter run saves a few faults at most, for one more system call.
pub const POPULATE_MIN: usize = 16;

/// Errors of a PAGES body.
#[derive(Debug, thiserror::Error)]
pub enum PagesError {
    /// The body ends inside a run.
    #[error("a run at offset {offset} is cut short: {need} bytes needed, {left} left")]
    Truncated {
        /// Where the run starts in the body.
        offset: usize,
        /// Bytes the run needs (its header, or its header and bytes).
        need: u64,
        /// Bytes left from its start.
        left: usize,
    },
    /// A body without runs.
    #[error("no pages")]
    Empty,
    /// A run's address is not page aligned.
    #[error("page address {0:#x} is not page aligned")]
    Unaligned(u64),
    /// A run of no pages.
    #[error("a run of 0 pages at {0:#x}")]
    NoPages(u64),
    /// A `fill` other than 0 or 1.
    #[error("run at {gpa:#x}: unknown fill {fill}")]
    Fill {
        /// The run's address.
        gpa: u64,
        /// Its fill byte.
        fill: u8,
    },
    /// A run outside guest RAM.
    #[error("{count} pages at {gpa:#x} are not all in guest RAM")]
    OutOfRam {
        /// The run's address.
        gpa: u64,
        /// Its pages.
        count: u32,
    },
    /// Reading guest RAM (source) failed.
    #[error("reading guest page {0:#x}")]
    Read(u64, #[source] vm_memory::GuestMemoryError),
    /// Writing guest RAM (destination) failed.
    #[error("writing guest pages at {0:#x}")]
    Write(u64, #[source] vm_memory::GuestMemoryError),
}

/// The largest body [`encode`] makes for `pages` pages of `page` bytes.
pub fn max_body(pages: usize, page: usize) -> usize {
    pages * (page + RUN_HEAD)
}

fn is_zero(b: &[u8]) -> bool {
    let (head, words, tail) = {
        // SAFETY: every bit pattern is a valid u64; align_to only reinterprets the aligned middle.
        unsafe { b.align_to::<u64>() }
    };
    head.iter().all(|&x| x == 0) && words.iter().all(|&w| w == 0) && tail.iter().all(|&x| x == 0)
}

/// The run being built by [`encode`].
struct Run {
    at: usize,
    gpa: u64,
    count: u32,
    fill: u8,
}

/// Writes the PAGES body for `gpas` (ascending, page aligned, in `mem`) into `buf` (at least
/// [`max_body`] long), reading each page straight into its place; returns the body's length.
pub fn encode(
    mem: &GuestMemoryMmap,
    gpas: &[u64],
    page: usize,
    buf: &mut [u8],
) -> Result<usize, PagesError> {
    let mut end = 0;
    let mut run: Option<Run> = None;
    let close = |buf: &mut [u8], r: &Run| {
        buf[r.at..r.at + 8].copy_from_slice(&r.gpa.to_le_bytes());
        buf[r.at + 8..r.at + 12].copy_from_slice(&r.count.to_le_bytes());
        buf[r.at + 12] = r.fill;
    };
    for &gpa in gpas {
        // Where the page's bytes go if it extends the current data run, else after a new header.
        let extends = |r: &Run| r.gpa + u64::from(r.count) * page as u64 == gpa;
        let slot = match &run {
            Some(r) if r.fill == DATA && extends(r) => end,
            _ => end + RUN_HEAD,
        };
        let bytes = &mut buf[slot..slot + page];
        mem.read_slice(bytes, GuestAddress(gpa))
            .map_err(|e| PagesError::Read(gpa, e))?;
        let fill = if is_zero(bytes) { ZERO } else { DATA };
        match &mut run {
            Some(r) if r.fill == fill && extends(r) => r.count += 1,
            _ => {
                if let Some(r) = &run {
                    close(buf, r);
                }
                run = Some(Run {
                    at: end,
                    gpa,
                    count: 1,
                    fill,
                });
                end += RUN_HEAD;
            }
        }
        if fill == DATA {
            end += page;
        }
    }
    if let Some(r) = &run {
        close(buf, r);
    }
    Ok(end)
}

/// Faults in the host pages of `len` bytes of guest RAM at `gpa`, writable, with one call. Best
/// effort: a run across two regions, or a kernel without `MADV_POPULATE_WRITE` (before 5.14),
/// leaves the faults to the copy that follows.
fn populate(mem: &GuestMemoryMmap, gpa: u64, len: usize) {
    use vm_memory::GuestMemoryBackend;
    let Ok(slice) = mem.get_slice(GuestAddress(gpa), len) else {
        return;
    };
    // SAFETY: the range is inside one region of guest RAM that `mem` maps (get_slice checked
    // it), page aligned (the caller checked `gpa`; regions start on host pages). The call only
    // faults its pages in, writable, and changes no byte of them.
    unsafe {
        libc::madvise(
            slice.ptr_guard_mut().as_ptr().cast(),
            len,
            libc::MADV_POPULATE_WRITE,
        )
    };
}

/// Checks a PAGES body and writes its pages into `mem`; returns how many pages it carried.
pub fn apply(body: &[u8], mem: &GuestMemoryMmap, page: usize) -> Result<u64, PagesError> {
    if body.is_empty() {
        return Err(PagesError::Empty);
    }
    let mut at = 0;
    let mut pages = 0u64;
    let zeroes = vec![0u8; page];
    let mut scratch = vec![0u8; page];
    while at < body.len() {
        let left = body.len() - at;
        let Some(head) = body.get(at..at + RUN_HEAD) else {
            return Err(PagesError::Truncated {
                offset: at,
                need: RUN_HEAD as u64,
                left,
            });
        };
        let gpa = u64::from_le_bytes(head[..8].try_into().expect("8 bytes"));
        let count = u32::from_le_bytes(head[8..12].try_into().expect("4 bytes"));
        let fill = head[12];
        if gpa % page as u64 != 0 {
            return Err(PagesError::Unaligned(gpa));
        }
        if count == 0 {
            return Err(PagesError::NoPages(gpa));
        }
        let len = u64::from(count) * page as u64;
        let in_ram = gpa
            .checked_add(len - 1)
            .is_some_and(|last| crate::memory::range_in(mem, gpa, last));
        match fill {
            DATA => {
                let need = RUN_HEAD as u64 + len;
                if need > left as u64 {
                    return Err(PagesError::Truncated {
                        offset: at,
                        need,
                        left,
                    });
                }
                if !in_ram {
                    return Err(PagesError::OutOfRam { gpa, count });
                }
                let bytes = &body[at + RUN_HEAD..at + RUN_HEAD + len as usize];
                if count as usize >= POPULATE_MIN {
                    populate(mem, gpa, len as usize);
                }
                mem.write_slice(bytes, GuestAddress(gpa))
                    .map_err(|e| PagesError::Write(gpa, e))?;
                at += need as usize;
            }
            ZERO => {
                if !in_ram {
                    return Err(PagesError::OutOfRam { gpa, count });
                }
                for i in 0..u64::from(count) {
                    let a = GuestAddress(gpa + i * page as u64);
                    mem.read_slice(&mut scratch, a)
                        .map_err(|e| PagesError::Write(a.0, e))?;
                    if !is_zero(&scratch) {
                        mem.write_slice(&zeroes, a)
                            .map_err(|e| PagesError::Write(a.0, e))?;
                    }
                }
                at += RUN_HEAD;
            }
            fill => return Err(PagesError::Fill { gpa, fill }),
        }
        pages += u64::from(count);
    }
    Ok(pages)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: usize = 4096;

    fn mem() -> GuestMemoryMmap {
        GuestMemoryMmap::from_ranges(&[
            (GuestAddress(0), 16 * PAGE),
            (GuestAddress(0x10_0000), 8 * PAGE),
        ])
        .unwrap()
    }

    #[test]
    fn runs_round_trip_and_zero_pages_carry_no_bytes() {
        let src = mem();
        // Pages 1, 2 and 4 hold data, 3 and 5 are zero; 0x10_0000 holds data.
        for p in [1u64, 2, 4] {
            src.write_obj(p as u8 + 0x40, GuestAddress(p * PAGE as u64 + 17))
                .unwrap();
        }
        src.write_obj(0x99u8, GuestAddress(0x10_0000)).unwrap();
        let gpas: Vec<u64> = [1u64, 2, 3, 4, 5]
            .iter()
            .map(|p| p * PAGE as u64)
            .chain([0x10_0000])
            .collect();
        let mut buf = vec![0u8; max_body(gpas.len(), PAGE)];
        let n = encode(&src, &gpas, PAGE, &mut buf).unwrap();
        // Runs: data 1-2, zero 3, data 4, zero 5, data 0x10_0000.
        assert_eq!(n, 5 * RUN_HEAD + 4 * PAGE);
        let dst = mem();
        // A page the destination holds that the source zeroed is zeroed.
        dst.write_obj(0xffu8, GuestAddress(3 * PAGE as u64 + 5))
            .unwrap();
        assert_eq!(apply(&buf[..n], &dst, PAGE).unwrap(), 6);
        let mut a = vec![0u8; 16 * PAGE];
        let mut b = vec![0u8; 16 * PAGE];
        src.read_slice(&mut a, GuestAddress(0)).unwrap();
        dst.read_slice(&mut b, GuestAddress(0)).unwrap();
        assert!(a == b);
        assert_eq!(dst.read_obj::<u8>(GuestAddress(0x10_0000)).unwrap(), 0x99);
    }

    #[test]
    fn a_long_run_is_faulted_in_and_copied_whole() {
        // All 16 pages of the first region in one data run: long enough to be populated first.
        let src = mem();
        for p in 0..16u64 {
            src.write_obj(p * 3 + 1, GuestAddress(p * PAGE as u64 + 8 * p))
                .unwrap();
        }
        let gpas: Vec<u64> = (0..16).map(|p| p * PAGE as u64).collect();
        assert!(gpas.len() >= POPULATE_MIN);
        let mut buf = vec![0u8; max_body(gpas.len(), PAGE)];
        let n = encode(&src, &gpas, PAGE, &mut buf).unwrap();
        assert_eq!(n, RUN_HEAD + 16 * PAGE);
        let dst = mem();
        // One page already present at the destination, with other bytes.
        dst.write_obj(0xdead_beefu32, GuestAddress(5 * PAGE as u64))
            .unwrap();
        assert_eq!(apply(&buf[..n], &dst, PAGE).unwrap(), 16);
        let mut a = vec![0u8; 16 * PAGE];
        let mut b = vec![0u8; 16 * PAGE];
        src.read_slice(&mut a, GuestAddress(0)).unwrap();
        dst.read_slice(&mut b, GuestAddress(0)).unwrap();
        assert!(a == b);
    }

    #[test]
    fn every_bad_run_is_refused_by_name() {
        let m = mem();
        let run = |gpa: u64, count: u32, fill: u8, data: usize| {
            let mut v = gpa.to_le_bytes().to_vec();
            v.extend_from_slice(&count.to_le_bytes());
            v.push(fill);
            v.extend(std::iter::repeat_n(7u8, data));
            v
        };
        let err = |b: &[u8]| apply(b, &m, PAGE).unwrap_err().to_string();
        assert!(err(&[]).contains("no pages"));
        assert!(err(&run(0x1001, 1, DATA, PAGE)).contains("not page aligned"));
        assert!(err(&run(0, 0, DATA, 0)).contains("0 pages"));
        assert!(err(&run(0, 1, 2, PAGE)).contains("unknown fill 2"));
        assert!(err(&run(0, 2, DATA, PAGE)).contains("cut short"));
        assert!(err(&run(0, u32::MAX, DATA, PAGE)).contains("cut short"));
        assert!(err(&run(0, 1, DATA, PAGE)[..5]).contains("cut short"));
        // Past the end of RAM, across the hole between the regions, and wrapping around.
        assert!(err(&run(15 * PAGE as u64, 2, DATA, 2 * PAGE)).contains("not all in guest RAM"));
        assert!(err(&run(0x10_0000, 9, ZERO, 0)).contains("not all in guest RAM"));
        assert!(err(&run(0, u32::MAX, ZERO, 0)).contains("not all in guest RAM"));
        assert!(err(&run(u64::MAX - 4095, 2, ZERO, 0)).contains("not all in guest RAM"));
        // A good run followed by a cut one.
        let mut two = run(0, 1, DATA, PAGE);
        two.extend_from_slice(&[1, 2, 3]);
        assert!(err(&two).contains("cut short"));
    }
}
