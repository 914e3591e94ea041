//! The ppc64 HTAB stream (`KVM_PPC_GET_HTAB_FD` records) and `tetra inspect htab`: the stream
//! decoded against a table size, what decodes re-encoded to the same bytes, applied to a table,
//! the table's own first pass round-tripped; then printed and translated with an SLB and
//! addresses parsed from their command-line strings (`parse_slb`, `parse_ea`).
//!
//! With flag bit 3 the bytes after the line are instead an `HTAB` snapshot section's payload (a
//! KVM-PR table: `arch_ppc64::snapshot::htab`): decoded, what decodes re-encoded to the same
//! bytes and checked against a VM of that order (or 18) with 32 MiB << bits 4-5 of RAM.
//!
//! Input: flags (bit 0: big-endian headers; bits 1-2: table order 18, 19, 22, or inferred;
//! bit 3: an HTAB section; bits 4-5: the RAM), a line `SLB;SLB;...;=EA;=EA...` ending in `\n`
//! (at most 8 of each), then the stream.
#![no_main]

use arch_ppc64::inspect::{inspect_htab, parse_ea, parse_slb, InspectOptions};
use arch_ppc64::mmu::htab::{decode, encode, Endian};
use arch_ppc64::mmu::{HashTable, HtabGeometry};
use arch_ppc64::snapshot::htab::{
    changes_section, decode_htab, decode_section, htab_section, HtabSection, HTAB,
};
use libfuzzer_sys::fuzz_target;
use tetra_fuzz::Cursor;
use vmm_core::snapshot::Section;

fuzz_target!(|data: &[u8]| {
    let mut c = Cursor::new(data);
    let flags = c.u8();
    let line = String::from_utf8_lossy(c.line()).into_owned();
    let stream = c.rest();
    let endian = if flags & 1 != 0 {
        Endian::Big
    } else {
        Endian::Little
    };
    let order = [Some(18), Some(19), Some(22), None][usize::from((flags >> 1) & 3)];
    let g = HtabGeometry::new(order.unwrap_or(18)).expect("a valid order");
    if flags & 8 != 0 {
        let section = Section::new(&HTAB.tag, HTAB.current, stream.to_vec());
        let ram = (32u64 << 20) << ((flags >> 4) & 3);
        if let Ok(Some(t)) = decode_htab(&section) {
            assert_eq!(htab_section(Some(&t)).data, stream);
            if t.check(g, ram).is_ok() {
                assert_eq!(t.order, g.order());
                assert!(t.entries.iter().all(|(i, e)| *i < g.entries() && e.valid()));
            }
        }
        // A migration's changes (kind 2): valid entries, or all-zero ones that clear.
        if let Ok(HtabSection::Changes(t)) = decode_section(&section) {
            assert_eq!(changes_section(t.order, &t.entries).data, stream);
            if t.check(g, ram).is_ok() {
                assert!(t
                    .entries
                    .iter()
                    .all(|(i, e)| *i < g.entries() && (e.valid() || (e.v == 0 && e.r == 0))));
            }
        }
        return;
    }
    if let Ok(records) = decode(stream, g, endian) {
        assert_eq!(
            encode(g, &records, endian).expect("decoded records encode"),
            stream
        );
        let mut t = HashTable::new(g).expect("a streamable size");
        t.apply(&records).expect("decoded records apply");
        let pass = encode(g, &t.first_pass(), endian).expect("a first pass encodes");
        let again = decode(&pass, g, endian).expect("a first pass decodes");
        assert_eq!(HashTable::from_first_pass(g, &again).expect("complete"), t);
    }
    let mut opts = InspectOptions {
        order,
        endian,
        ..InspectOptions::default()
    };
    for part in line.split(';').take(16) {
        match part.strip_prefix('=') {
            Some(ea) => opts
                .translate
                .extend(parse_ea(ea).ok().filter(|_| opts.translate.len() < 8)),
            None => opts
                .slb
                .extend(parse_slb(part).ok().filter(|_| opts.slb.len() < 8)),
        }
    }
    let _ = inspect_htab(stream, &opts);
});
