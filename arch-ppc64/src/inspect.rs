//! Printing a hashed page table and translating addresses through it, for
//! `tetra inspect htab <file>`.
//!
//! `<file>` is either a ppc64 snapshot (its `HTAB` section: [`crate::snapshot::htab`]; the table
//! size is the snapshot's, and the SLB, unless `--slb` gives one, is vCPU `--vcpu`'s as the
//! snapshot saved it, its registers `slb0`..`slb63`), or a raw HTAB stream as
//! `KVM_PPC_GET_HTAB_FD` reads it (see [`crate::mmu::htab`]): records of one pass, headers in the
//! host's byte order (little-endian unless told). A stream's table size is `--order` (log2 of its
//! bytes) or, without it, the smallest table the records fit (a first pass covers the whole
//! table, so that is its size). Translation needs the SLB, which a stream does not carry: each
//! `--slb ESID,VSID` gives one entry as `slbmte` takes it (`kvm_sregs.u.s.ppc64.slb[]`'s `slbe`,
//! `slbv`).

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
    /// A snapshot that does not decode.
    #[error("cannot read the snapshot")]
    Snapshot(#[source] vmm_core::snapshot::EnvelopeError),
    /// The snapshot's hash table, refused.
    #[error("cannot read the snapshot's hash table")]
    SnapshotTable(#[source] crate::snapshot::htab::HtabSnapshotError),
    /// A snapshot without a hash table (a radix VM's).
    #[error("the snapshot has no hash table (a radix VM's, or one saved before the HTAB section)")]
    NoTable,
    /// The vCPU whose SLB was asked for is not in the snapshot, or its registers do not decode.
    #[error("vCPU {vcpu}: {why}")]
    Vcpu {
        /// The vCPU.
        vcpu: u32,
        /// What is wrong.
        why: String,
    },
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
    /// A snapshot's vCPU whose saved SLB translates (when `slb` is empty).
    pub vcpu: u32,
}

impl Default for InspectOptions {
    fn default() -> Self {
        Self {
            order: None,
            endian: Endian::Little,
            slb: Vec::new(),
            translate: Vec::new(),
            vcpu: 0,
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

/// vCPU `vcpu`'s SLB as `env` saved it: its registers `slb0`..`slb63` (each the `slbe` and
/// `slbv` words of `kvm_sregs`, in the saving host's byte order, which decoding the register
/// state checked is this host's).
pub fn saved_slb(
    env: &vmm_core::snapshot::Envelope,
    vcpu: u32,
) -> Result<Vec<SlbEntry>, InspectError> {
    let bad = |why: String| InspectError::Vcpu { vcpu, why };
    let section = env
        .sections
        .iter()
        .filter(|s| s.tag == vmm_core::snapshot::sections::TAG_VCPU)
        .map(vmm_core::snapshot::sections::read_vcpu)
        .find(|v| v.as_ref().map_or(true, |v| v.id == vcpu))
        .ok_or_else(|| bad("not in the snapshot".into()))?
        .map_err(|e| bad(e.to_string()))?;
    let table = crate::regs::table();
    let mut out = Vec::new();
    for i in 0..crate::mmu::slb::KVM_SLB_ENTRIES {
        let name = format!("slb{i}");
        let Some(value) = table.by_name(&name).and_then(|d| section.regs.get(d.id)) else {
            continue;
        };
        let word = |b: &[u8]| u64::from_ne_bytes(b.try_into().expect("8 bytes"));
        if value.len() != 16 {
            return Err(bad(format!("{name} has {} bytes, not 16", value.len())));
        }
        out.push(SlbEntry {
            esid: word(&value[..8]),
            vsid: word(&value[8..]),
        });
    }
    Ok(out)
}

/// The text `tetra inspect htab` prints for `bytes`: a ppc64 snapshot's hash table, or a raw
/// HTAB stream (see the module documentation).
pub fn inspect_htab(bytes: &[u8], opts: &InspectOptions) -> Result<String, InspectError> {
    if bytes.starts_with(&crate::snapshot::SNAPSHOT_MAGIC) {
        let env = vmm_core::snapshot::Envelope::decode(
            bytes,
            Some((crate::snapshot::SNAPSHOT_MAGIC, crate::Ppc64::NAME)),
        )
        .map_err(InspectError::Snapshot)?;
        let state = crate::snapshot::htab::decode_env(&env)
            .map_err(InspectError::SnapshotTable)?
            .ok_or(InspectError::NoTable)?;
        let g = HtabGeometry::new(state.order).map_err(InspectError::Order)?;
        let mut table = HashTable::new(g).map_err(InspectError::Stream)?;
        for &(i, e) in &state.entries {
            table.set(i, e).map_err(InspectError::Stream)?;
        }
        let entries = if opts.slb.is_empty() {
            saved_slb(&env, opts.vcpu)?
        } else {
            opts.slb.clone()
        };
        let slb = Slb::new(&entries).map_err(InspectError::Slb)?;
        let head = format!(
            "HTAB (snapshot): 2^{} bytes, {} entries in {} PTEGs; {} valid; SLB of {}, {} valid entries",
            g.order(),
            g.entries(),
            g.groups(),
            table.entries().count(),
            if opts.slb.is_empty() {
                format!("vCPU {}", opts.vcpu)
            } else {
                "--slb".to_string()
            },
            entries.iter().filter(|e| e.valid()).count(),
        );
        return Ok(describe(head, &table, &slb, &opts.translate));
    }
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
    let head = format!(
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
    Ok(describe(head, &table, &slb, &opts.translate))
}

/// `head`, the valid entries of `table`, and each of `translate` through `slb` and `table`.
fn describe(head: String, table: &HashTable, slb: &Slb, translate_eas: &[u64]) -> String {
    let mut out = head;
    out.push('\n');
    for (i, e) in table.entries() {
        let _ = writeln!(
            out,
            "  {i:#8x} pteg {:#x} slot {}: {e}",
            i / HPTES_PER_GROUP,
            i % HPTES_PER_GROUP
        );
    }
    for &ea in translate_eas {
        match translate(table, slb, ea) {
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
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mmu::hash::hash;
    use crate::mmu::hpte::{Hpte, HPTE_V_VALID};
    use crate::mmu::htab::codec::encode;
    use crate::mmu::SegmentSize;

    #[test]
    fn a_snapshot_translates_through_its_table_and_a_vcpu_s_saved_slb() {
        use crate::snapshot::htab::{htab_section, HtabState};
        use vmm_core::regs::VcpuState;
        use vmm_core::snapshot::{sections::vcpu_section, Envelope};
        let g = HtabGeometry::new(18).unwrap();
        let slbe = SlbEntry::new(0x1000_0000, SegmentSize::M256, 0x123, 0);
        let seg = Slb::new(&[slbe]).unwrap().lookup(0x1000_5000).unwrap();
        let ea = 0x1000_5000;
        let va = crate::mmu::translate::virtual_address(&seg, ea);
        let e = Hpte {
            v: (crate::mmu::translate::avpn(va, 12) << 7) | HPTE_V_VALID,
            r: 0x70_0000 | 0x2,
        };
        let index = g.group(hash(seg.vsid, seg.size, ea, 12), false) * 8;
        let mut env = Envelope::new(crate::snapshot::SNAPSHOT_MAGIC);
        env.push(htab_section(Some(&HtabState {
            order: 18,
            entries: vec![(index, e)],
        })));
        // vCPU 0's saved SLB: entry 0 as KVM-PR reports it (slbe with its index), the rest
        // invalid.
        let table = crate::regs::table();
        let mut regs = VcpuState::new();
        for i in 0..crate::mmu::slb::KVM_SLB_ENTRIES {
            let (esid, vsid) = if i == 0 {
                (slbe.esid, slbe.vsid)
            } else {
                (i as u64, 0)
            };
            let mut v = esid.to_ne_bytes().to_vec();
            v.extend_from_slice(&vsid.to_ne_bytes());
            regs.push(table.by_name(&format!("slb{i}")).unwrap().id, v);
        }
        env.push(vcpu_section(0, &regs, &[]));
        let bytes = env.encode();
        let opts = InspectOptions {
            translate: vec![0x1000_5abc, 0x1000_6000],
            ..InspectOptions::default()
        };
        let text = inspect_htab(&bytes, &opts).unwrap();
        assert!(
            text.starts_with("HTAB (snapshot): 2^18 bytes, 16384 entries in 2048 PTEGs; 1 valid; SLB of vCPU 0, 1 valid entries"),
            "{text}"
        );
        assert!(text.contains("EA 0x10005abc: SLB 0 VSID 0x123"), "{text}");
        assert!(text.contains("-> RA 0x700abc (page 4K"), "{text}");
        assert!(text.contains("EA 0x10006000: no HPTE"), "{text}");
        // Another vCPU's SLB is not there; a radix VM's snapshot has no table.
        let e = inspect_htab(
            &bytes,
            &InspectOptions {
                vcpu: 1,
                ..InspectOptions::default()
            },
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "vCPU 1: not in the snapshot");
        let mut radix = Envelope::new(crate::snapshot::SNAPSHOT_MAGIC);
        radix.push(htab_section(None));
        assert!(matches!(
            inspect_htab(&radix.encode(), &opts),
            Err(InspectError::NoTable)
        ));
    }

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
