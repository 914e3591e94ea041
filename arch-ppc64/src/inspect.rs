//! Printing a hashed page table and translating addresses through it, for
//! `tetra inspect htab <file>`.
//!
//! `<file>` is a raw HTAB stream as `KVM_PPC_GET_HTAB_FD` reads it (see [`crate::mmu::htab`]):
//! records of one pass, headers in the host's byte order (little-endian unless told). The table
//! size is `--order` (log2 of its bytes) or, without it, the smallest table the records fit
//! (a first pass covers the whole table, so that is its size). Translation needs the SLB, which
//! the stream does not carry: each `--slb ESID,VSID` gives one entry as `slbmte` takes it
//! (`kvm_sregs.u.s.ppc64.slb[]`'s `slbe`, `slbv`).

use crate::mmu::hash::{HashError, HtabGeometry, MIN_ORDER};
use crate::mmu::hpte::HPTES_PER_GROUP;
use crate::mmu::htab::codec::{decode, Endian, HtabError};
use crate::mmu::htab::table::{HashTable, MAX_STREAM_ORDER};
use crate::mmu::slb::{Slb, SlbEntry, SlbError};
use crate::mmu::translate::{translate, TranslateError};
use std::fmt::Write;
use thiserror::Error;

/// Errors of `inspect htab`.
#[derive(Debug, Error)]
pub enum InspectError {
    /// A stream that does not decode.
    #[error("cannot read the HTAB stream")]
    Stream(#[source] HtabError),
    /// A bad `--order`.
    #[error("bad hash table size")]
    Order(#[source] HashError),
    /// An SLB entry that cannot be used.
    #[error("bad SLB")]
    Slb(#[source] SlbError),
    /// A command-line value that does not parse.
    #[error("bad {what} {spec:?}: expected {expected}")]
    Parse {
        /// What was being parsed.
        what: &'static str,
        /// The text.
        spec: String,
        /// What it should look like.
        expected: &'static str,
    },
}

/// What to print.
#[derive(Clone, Debug)]
pub struct InspectOptions {
    /// log2 of the table's size in bytes, if known.
    pub order: Option<u32>,
    /// Byte order of the record headers.
    pub endian: Endian,
    /// The SLB to translate with.
    pub slb: Vec<SlbEntry>,
    /// Effective addresses to translate.
    pub translate: Vec<u64>,
}

impl Default for InspectOptions {
    fn default() -> Self {
        Self {
            order: None,
            endian: Endian::Little,
            slb: Vec::new(),
            translate: Vec::new(),
        }
    }
}

fn number(what: &'static str, s: &str) -> Result<u64, InspectError> {
    let t = s.trim();
    let parsed = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(&hex.replace('_', ""), 16),
        None => t.replace('_', "").parse(),
    };
    parsed.map_err(|_| InspectError::Parse {
        what,
        spec: s.to_string(),
        expected: "a number (0x for hex)",
    })
}

/// An effective address: decimal, or hex with `0x`.
pub fn parse_ea(s: &str) -> Result<u64, InspectError> {
    number("effective address", s)
}

/// An SLB entry `ESID,VSID`: the two words as `slbmte` takes them.
pub fn parse_slb(s: &str) -> Result<SlbEntry, InspectError> {
    let bad = || InspectError::Parse {
        what: "SLB entry",
        spec: s.to_string(),
        expected: "ESID,VSID (the slbe and slbv words)",
    };
    let (e, v) = s.split_once(',').ok_or_else(bad)?;
    Ok(SlbEntry {
        esid: number("SLB ESID word", e)?,
        vsid: number("SLB VSID word", v)?,
    })
}

/// log2 of the smallest table with at least `end` entries.
fn order_for(end: u64) -> u32 {
    let entries_log2 = 64 - end.saturating_sub(1).leading_zeros();
    (entries_log2 + 4).max(MIN_ORDER)
}

/// The text `tetra inspect htab` prints for `bytes`.
pub fn inspect_htab(bytes: &[u8], opts: &InspectOptions) -> Result<String, InspectError> {
    let slb = Slb::new(&opts.slb).map_err(InspectError::Slb)?;
    let g = match opts.order {
        Some(o) => HtabGeometry::new(o).map_err(InspectError::Order)?,
        None => {
            // Decode against the largest table a stream addresses, then size it to fit.
            let widest = HtabGeometry::new(MAX_STREAM_ORDER).map_err(InspectError::Order)?;
            let records = decode(bytes, widest, opts.endian).map_err(InspectError::Stream)?;
            let end = records.last().map_or(0, |r| r.end());
            HtabGeometry::new(order_for(end)).map_err(InspectError::Order)?
        }
    };
    let records = decode(bytes, g, opts.endian).map_err(InspectError::Stream)?;
    let mut table = HashTable::new(g).map_err(InspectError::Stream)?;
    table.apply(&records).map_err(InspectError::Stream)?;
    let complete = HashTable::from_first_pass(g, &records).is_ok();
    let covered: u64 = records.iter().map(|r| r.end() - u64::from(r.index)).sum();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "HTAB: 2^{} bytes, {} entries in {} PTEGs; {} records covering {} entries{}; {} valid",
        g.order(),
        g.entries(),
        g.groups(),
        records.len(),
        covered,
        if complete {
            " (a whole first pass)"
        } else {
            ""
        },
        table.entries().count(),
    );
    for (i, e) in table.entries() {
        let _ = writeln!(
            out,
            "  {i:#8x} pteg {:#x} slot {}: {e}",
            i / HPTES_PER_GROUP,
            i % HPTES_PER_GROUP
        );
    }
    for &ea in &opts.translate {
        match translate(&table, &slb, ea) {
            Ok(t) => {
                let _ = writeln!(
                    out,
                    "EA {ea:#x}: SLB {} VSID {:#x} -> VA {:#x} -> HPTE {:#x} -> RA {:#x} \
                     (page {}K in {}K base pages, pp {}, wimg {:04b}{}{}{})",
                    t.segment.index,
                    t.segment.vsid,
                    t.va,
                    t.index,
                    t.ra,
                    1u64 << (t.page.actual - 10),
                    1u64 << (t.page.base - 10),
                    t.pp,
                    t.wimg,
                    if t.referenced { ", R" } else { "" },
                    if t.changed { ", C" } else { "" },
                    if t.no_execute { ", no-execute" } else { "" },
                );
            }
            Err(e @ (TranslateError::Segment(_) | TranslateError::Page { .. })) => {
                let _ = writeln!(out, "EA {ea:#x}: {e}");
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mmu::hash::hash;
    use crate::mmu::hpte::{Hpte, HPTE_V_VALID};
    use crate::mmu::htab::codec::encode;
    use crate::mmu::SegmentSize;

    #[test]
    fn prints_entries_and_translates() {
        let g = HtabGeometry::new(18).unwrap();
        let slbe = SlbEntry::new(0xc000_0000_0000_0000, SegmentSize::M256, 0x1234, 0);
        let slb = Slb::new(&[slbe]).unwrap();
        let seg = slb.lookup(0xc000_0000_0000_0000).unwrap();
        let ea = 0xc000_0000_0123_4000;
        let h = hash(seg.vsid, seg.size, ea, 12);
        let va = crate::mmu::translate::virtual_address(&seg, ea);
        let e = Hpte {
            v: (crate::mmu::translate::avpn(va, 12) << 7) | HPTE_V_VALID,
            r: 0x7654_3000 | 0x2,
        };
        let mut t = HashTable::new(g).unwrap();
        let index = g.group(h, false) * 8 + 3;
        t.set(index, e).unwrap();
        let bytes = encode(g, &t.first_pass(), Endian::Little).unwrap();
        let opts = InspectOptions {
            slb: vec![parse_slb(&format!("{:#x},{:#x}", slbe.esid, slbe.vsid)).unwrap()],
            translate: vec![parse_ea("0xc000000001234abc").unwrap(), 0x10],
            ..InspectOptions::default()
        };
        let text = inspect_htab(&bytes, &opts).unwrap();
        assert!(
            text.starts_with("HTAB: 2^18 bytes, 16384 entries in 2048 PTEGs;"),
            "{text}"
        );
        assert!(text.contains("(a whole first pass); 1 valid"), "{text}");
        assert!(
            text.contains(&format!("{index:#8x} pteg {:#x} slot 3", index / 8)),
            "{text}"
        );
        assert!(
            text.contains("-> RA 0x76543abc (page 4K in 4K base pages, pp 2"),
            "{text}"
        );
        assert!(
            text.contains("EA 0x10: no SLB entry covers EA 0x10"),
            "{text}"
        );
        // A given order that the records do not fit is refused by name.
        let small = encode(
            HtabGeometry::new(20).unwrap(),
            &HashTable::new(HtabGeometry::new(20).unwrap())
                .unwrap()
                .first_pass(),
            Endian::Little,
        )
        .unwrap();
        let opts = InspectOptions {
            order: Some(18),
            ..InspectOptions::default()
        };
        assert!(matches!(
            inspect_htab(&small, &opts),
            Err(InspectError::Stream(HtabError::OutOfTable { .. }))
        ));
        // Without an order, the size is the one the first pass covers.
        let text = inspect_htab(&small, &InspectOptions::default()).unwrap();
        assert!(text.starts_with("HTAB: 2^20 bytes"), "{text}");
        assert!(inspect_htab(&[1, 2, 3], &InspectOptions::default()).is_err());
        assert!(parse_slb("0x1").is_err() && parse_ea("zz").is_err());
        assert_eq!(order_for(0), 18);
        assert_eq!(order_for(1 << 14), 18);
        assert_eq!(order_for((1 << 14) + 1), 19);
    }
}
