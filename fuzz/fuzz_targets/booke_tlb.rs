//! `tetra inspect tlb`: a BookE snapshot (every vCPU's TLB and registers) or a raw TLB array
//! dump in either byte order, its geometry and translation requests parsed from their command
//! line strings (`parse_geometry`, `parse_query`), printed and translated
//! (`inspect::inspect_tlb`).
//!
//! Input: flags (bit 0: little-endian; bits 1-2: no geometry, e500mc, e6500, or the one given),
//! a line `GEOMETRY;QUERY;QUERY...` ending in `\n` (at most 8 queries), then the file.
#![no_main]

use arch_booke::inspect::{inspect_tlb, parse_geometry, parse_query, InspectOptions};
use arch_booke::mmu::{ByteOrder, TlbGeometry};
use libfuzzer_sys::fuzz_target;
use tetra_fuzz::Cursor;

fuzz_target!(|data: &[u8]| {
    let mut c = Cursor::new(data);
    let flags = c.u8();
    let line = String::from_utf8_lossy(c.line()).into_owned();
    let file = c.rest();
    let mut parts = line.split(';');
    let geometry_text = parts.next().unwrap_or("");
    let parsed = parse_geometry(geometry_text).ok();
    let geometry = match (flags >> 1) & 3 {
        0 => None,
        1 => Some(TlbGeometry::E500MC),
        2 => Some(TlbGeometry::E6500),
        _ => parsed,
    };
    let translate = parts.take(8).filter_map(|q| parse_query(q).ok()).collect();
    let opts = InspectOptions {
        geometry,
        order: if flags & 1 != 0 {
            ByteOrder::Little
        } else {
            ByteOrder::Big
        },
        translate,
    };
    let _ = inspect_tlb(file, &opts);
});
