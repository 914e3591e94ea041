use super::*;
use crate::mmu::hpte::*;
use crate::mmu::slb::{SlbEntry, SLB_VSID_L, SLB_VSID_N};
use crate::mmu::SegmentSize;
use crate::test_util::Rng;

/// A whole table in a vector.
struct Dense {
    g: HtabGeometry,
    e: Vec<Hpte>,
}

impl Dense {
    fn new(order: u32) -> Self {
        let g = HtabGeometry::new(order).unwrap();
        Self {
            g,
            e: vec![Hpte::default(); g.entries() as usize],
        }
    }
}

impl HptStore for Dense {
    fn geometry(&self) -> HtabGeometry {
        self.g
    }
    fn hpte(&self, index: u64) -> Hpte {
        self.e[index as usize]
    }
}

/// The reference: scan every slot of the table; decode each entry's fields from the raw words
/// by the ISA's description, sharing nothing with the code under test but the SLB decode; keep
/// the entries that the hardware would find for `ea` (right group for their H bit, fields
/// equal); prefer the primary group, then slot order.
fn reference(t: &Dense, slb: &Slb, ea: u64) -> Option<(u64, u64)> {
    let all = t.e.iter().enumerate().map(|(i, e)| (i as u64, *e));
    reference_over(all, t.g.groups(), slb, ea)
}

/// The reference over every non-empty entry of a table of `groups` PTEGs (empty slots never
/// match, so a sparse table's stored entries are its whole table).
fn reference_over(
    all: impl Iterator<Item = (u64, Hpte)>,
    groups: u64,
    slb: &Slb,
    ea: u64,
) -> Option<(u64, u64)> {
    let seg = slb.lookup(ea)?;
    let s = seg.size.shift();
    let va: u128 = (u128::from(seg.vsid) << s) | u128::from(ea & ((1 << s) - 1));
    let p = seg.base_shift;
    // The hash from the VA: VSID part (VA above the segment) and the page index in it.
    let vsid = (va >> s) as u64;
    let page_index = ((va & ((1u128 << s) - 1)) >> p) as u64;
    let vsid_part = if s == 40 { vsid ^ (vsid << 25) } else { vsid };
    let h = (vsid_part ^ page_index) & ((1 << 39) - 1);
    let mut best: Option<(bool, u64, u64)> = None;
    for (i, e) in all {
        let (v, r) = (e.v, e.r);
        let h_bit = (v >> 1) & 1 == 1;
        let want_group = if h_bit { !h } else { h } & (groups - 1);
        if v & 1 == 0 || i / 8 != want_group {
            continue;
        }
        if v >> 62 != u64::from(s == 40) {
            continue;
        }
        // Page sizes from L and the LP bits.
        let (base, actual) = if v & 4 == 0 {
            (12, 12)
        } else {
            match ((r >> 12) & 0xf, (r >> 16) & 0xf) {
                (0, 0) => (24, 24),
                (1, _) => (16, 16),
                (7, _) => (12, 16),
                (8, hi) if hi & 7 == 0 => (16, 24),
                _ => continue,
            }
        };
        if base != p {
            continue;
        }
        // AVPN: VA bits 77:23, under the base page size for pages of 16M and up.
        let ignore = if p > 23 { (1u64 << (p - 23)) - 1 } else { 0 };
        let entry_avpn = (v >> 7) & ((1 << 55) - 1);
        let va_avpn = (va >> 23) as u64 & ((1 << 55) - 1);
        if entry_avpn != va_avpn & !ignore {
            continue;
        }
        let size = 1u64 << actual;
        let ra = (r & 0x0fff_ffff_ffff_f000) / size * size + ea % size;
        let better = match best {
            None => true,
            Some((bh, _, _)) => bh && !h_bit,
        };
        if better {
            best = Some((h_bit, i, ra));
        }
    }
    best.map(|(_, i, ra)| (i, ra))
}

/// A segment the test SLB holds: (EA base, size, VSID, SLB flags).
const SEGMENTS: &[(u64, SegmentSize, u64, u64)] = &[
    (0x0000_0000_0000_0000, SegmentSize::M256, 0x7_1234, 0),
    (
        0x0000_0000_1000_0000,
        SegmentSize::M256,
        0x7_1235,
        SLB_VSID_L | 0x10,
    ),
    (
        0x0000_0000_2000_0000,
        SegmentSize::M256,
        0x3_ffff_ffff_ffff,
        SLB_VSID_L,
    ),
    (
        0xc000_0000_0000_0000,
        SegmentSize::T1,
        0x40_0000,
        SLB_VSID_L,
    ),
    (
        0xd000_0000_0000_0000,
        SegmentSize::T1,
        0x3f_ffff_ffff,
        0x10 | SLB_VSID_L,
    ),
    (0xf000_0000_0000_0000, SegmentSize::T1, 0x1, SLB_VSID_N),
];

fn test_slb() -> Slb {
    let e: Vec<SlbEntry> = SEGMENTS
        .iter()
        .map(|&(ea, size, vsid, flags)| SlbEntry::new(ea, size, vsid, flags))
        .collect();
    Slb::new(&e).unwrap()
}

/// The actual page shifts a base page shift allows, with their LP code (0xff: no L).
fn actuals(base: u32) -> &'static [(u32, u64)] {
    match base {
        12 => &[(12, 0xff), (16, 0x7)],
        16 => &[(16, 0x1), (24, 0x8)],
        _ => &[(24, 0x0)],
    }
}

/// The HPTE that maps the page containing `ea` to `ra`, as a guest's `H_ENTER` would write it.
fn honest(seg: &Segment, ea: u64, ra: u64, actual: u32, lp: u64, secondary: bool) -> Hpte {
    let va = virtual_address(seg, ea);
    let mut v = (seg.size.b() << 62) | (avpn(va, seg.base_shift) << 7) | HPTE_V_VALID;
    let mut r = ra & HPTE_R_RPN & !((1u64 << actual) - 1);
    if lp != 0xff {
        v |= HPTE_V_LARGE;
        r |= lp << LP_SHIFT;
    }
    if secondary {
        v |= HPTE_V_SECONDARY;
    }
    Hpte { v, r }
}

#[test]
fn translate_matches_brute_force_reference() {
    let mut rng = Rng::new(0x4a54_ab1e);
    let slb = test_slb();
    let segs: Vec<Segment> = slb.segments().copied().collect();
    let (mut hits, mut misses, mut secondary_hits) = (0, 0, 0);
    for round in 0..6 {
        let mut t = Dense::new(18 + (round % 2));
        let g = t.g;
        let mut mapped = Vec::new();
        for _ in 0..1500 {
            let seg = segs[rng.below(segs.len() as u64) as usize];
            // Addresses in a small window of the segment, so pages collide and overlap.
            let ea = (SEGMENTS[seg.index].0 | rng.below(1 << 26)) & !0xfff;
            let ea = ea | (rng.next() & (1 << 27)) & ((1u64 << seg.size.shift()) - 1);
            let choices = actuals(seg.base_shift);
            let (actual, lp) = choices[rng.below(choices.len() as u64) as usize];
            let ra = rng.next() & 0x0fff_ffff_ffff_f000;
            let secondary = rng.below(2) == 0;
            let mut e = honest(&seg, ea, ra, actual, lp, secondary);
            e.r |= rng.below(0x200) & !0x3 | rng.below(4) | (rng.below(2) << 63);
            // Near misses: one field wrong.
            match rng.below(12) {
                0 => e.v ^= HPTE_V_SECONDARY,
                1 => e.v ^= 1 << 62,
                2 => e.v ^= 1 << (7 + rng.below(55)),
                3 => e.v &= !HPTE_V_VALID,
                4 => e.r ^= 0xf << LP_SHIFT,
                _ => {}
            }
            let h = hash(seg.vsid, seg.size, ea, seg.base_shift);
            let group = g.group(h, secondary);
            let slot = group * 8 + rng.below(8);
            t.e[slot as usize] = e;
            mapped.push(ea);
        }
        // Noise: random words anywhere.
        for _ in 0..200 {
            let i = rng.below(g.entries());
            t.e[i as usize] = Hpte {
                v: rng.next() | 1,
                r: rng.next(),
            };
        }
        for _ in 0..1500 {
            let ea = if rng.below(4) != 0 {
                mapped[rng.below(mapped.len() as u64) as usize] ^ rng.below(1 << 24)
            } else {
                SEGMENTS[rng.below(SEGMENTS.len() as u64) as usize].0 ^ rng.below(1 << 30)
            };
            let ea = if rng.below(16) == 0 { rng.next() } else { ea };
            let got = translate(&t, &slb, ea).ok();
            let want = reference(&t, &slb, ea);
            assert_eq!(got.map(|t| (t.index, t.ra)), want, "EA {ea:#x}");
            match got {
                Some(tr) => {
                    hits += 1;
                    secondary_hits += usize::from(tr.hpte.secondary());
                    assert_eq!(
                        tr.ra & ((1 << tr.page.actual) - 1),
                        ea & ((1 << tr.page.actual) - 1)
                    );
                }
                None => misses += 1,
            }
        }
    }
    assert!(
        hits > 1500 && misses > 1500 && secondary_hits > 300,
        "{hits} hits ({secondary_hits} secondary), {misses} misses"
    );
}

/// The guest's own view: a list of mappings (EA page -> RA page, page size) placed in the table
/// as Linux's `hpte_insert` places them (first free slot of the primary group, else of the
/// secondary group, else the mapping is dropped); every page it placed must translate, at every
/// offset, to the RA the guest mapped.
#[test]
fn every_mapped_page_translates_to_the_guests_view() {
    let mut rng = Rng::new(0x9e57);
    let slb = test_slb();
    let segs: Vec<Segment> = slb.segments().copied().collect();
    let mut t = Dense::new(18);
    let g = t.g;
    let mut guest: Vec<(u64, u64, u32)> = Vec::new();
    while guest.len() < 4000 {
        let seg = segs[rng.below(segs.len() as u64) as usize];
        let choices = actuals(seg.base_shift);
        let (actual, lp) = choices[rng.below(choices.len() as u64) as usize];
        let ea = (SEGMENTS[seg.index].0 | rng.below(1 << 27)) & !((1u64 << actual) - 1);
        if guest
            .iter()
            .any(|&(e, _, s)| ea >> s.max(actual) == e >> s.max(actual))
        {
            continue; // the guest maps each address once
        }
        let ra = (rng.below(1 << 36) << 12) & !((1u64 << actual) - 1);
        // Linux hashes with the base page size; a page larger than the base page is entered
        // once, for the base page at its start.
        let h = hash(seg.vsid, seg.size, ea, seg.base_shift);
        let placed = [false, true].into_iter().find_map(|secondary| {
            g.group_entries(g.group(h, secondary))
                .find(|&i| !t.e[i as usize].valid())
                .map(|i| (i, secondary))
        });
        let Some((i, secondary)) = placed else {
            continue;
        };
        t.e[i as usize] = honest(&seg, ea, ra, actual, lp, secondary);
        guest.push((ea, ra, actual));
    }
    let mut checked = 0;
    for &(ea, ra, actual) in &guest {
        let seg = slb.lookup(ea).unwrap();
        // The hash uses the base page: an actual page larger than it is found only through the
        // base page it was entered for, as on the hardware (KVM-HV enters one HPTE per base page
        // a guest touches).
        let span = if actual > seg.base_shift {
            seg.base_shift
        } else {
            actual
        };
        for _ in 0..4 {
            let off = rng.below(1 << span);
            let tr = translate(&t, &slb, ea + off).unwrap();
            assert_eq!(tr.ra, ra + off, "EA {:#x}", ea + off);
            assert_eq!(tr.page.actual, actual);
            checked += 1;
        }
    }
    assert_eq!(checked, 4 * guest.len());
    // Unmapped addresses of a mapped segment miss with the PTEGs named.
    let err = translate(&t, &slb, 0xf000_00ff_ffff_f000).unwrap_err();
    assert!(matches!(err, TranslateError::Page { vsid: 1, .. }), "{err}");
    assert_eq!(
        translate(&t, &slb, 0x5000_0000),
        Err(TranslateError::Segment(0x5000_0000))
    );
}

#[test]
fn reported_bits() {
    let slb = test_slb();
    let seg = slb.lookup(0xf000_0000_0000_0000).unwrap();
    let mut t = Dense::new(18);
    let ea = 0xf000_0000_1234_5000;
    let mut e = honest(&seg, ea, 0x8765_4000, 12, 0xff, false);
    e.r |= HPTE_R_PP0 | HPTE_R_R | HPTE_R_C | (0b0101 << 3) | 2;
    let h = hash(seg.vsid, seg.size, ea, 12);
    t.e[(t.g.group(h, false) * 8 + 5) as usize] = e;
    let tr = translate(&t, &slb, ea + 0x678).unwrap();
    assert_eq!(tr.ra, 0x8765_4678);
    assert_eq!((tr.pp, tr.wimg), (6, 0b0101));
    assert!(tr.referenced && tr.changed);
    assert!(tr.no_execute, "the segment is no-execute");
    assert_eq!(tr.index % 8, 5);
    assert_eq!(tr.va, (1u128 << 40) | 0x1234_5678);
}

/// Large tables, where the hash bits above 25 (the 1 TB hash's `VSID << 25`) select the PTEG:
/// a sparse table of 2^34 bytes (2^27 PTEGs), the reference scanning every stored entry.
#[test]
fn large_sparse_table_matches_reference() {
    let mut rng = Rng::new(0x1a26e);
    let slb = test_slb();
    let segs: Vec<Segment> = slb.segments().copied().collect();
    let g = HtabGeometry::new(34).unwrap();
    let mut t = crate::mmu::HashTable::new(g).unwrap();
    let mut mapped = Vec::new();
    for _ in 0..3000 {
        let seg = segs[rng.below(segs.len() as u64) as usize];
        let ea = (SEGMENTS[seg.index].0 | rng.next() & ((1u64 << seg.size.shift()) - 1)) & !0xfff;
        let choices = actuals(seg.base_shift);
        let (actual, lp) = choices[rng.below(choices.len() as u64) as usize];
        let secondary = rng.below(2) == 0;
        let e = honest(&seg, ea, rng.next() & HPTE_R_RPN, actual, lp, secondary);
        let h = hash(seg.vsid, seg.size, ea, seg.base_shift);
        t.set(g.group(h, secondary) * 8 + rng.below(8), e).unwrap();
        mapped.push(ea);
    }
    let mut hits = 0;
    for _ in 0..3000 {
        let ea = mapped[rng.below(mapped.len() as u64) as usize] ^ rng.below(1 << 14);
        let got = translate(&t, &slb, ea).ok().map(|t| (t.index, t.ra));
        assert_eq!(
            got,
            reference_over(t.entries(), g.groups(), &slb, ea),
            "EA {ea:#x}"
        );
        hits += usize::from(got.is_some());
    }
    assert!(hits > 1000, "{hits} hits");
}
