use super::*;
use crate::mmu::hpte::{HPTE_V_LARGE, HPTE_V_VALID};
use crate::test_util::Rng;

fn g18() -> HtabGeometry {
    HtabGeometry::new(18).unwrap()
}

/// A valid 4K HPTE with random AVPN and RPN.
fn entry(rng: &mut Rng) -> Hpte {
    Hpte {
        v: (rng.next() & 0x3fff_ffff_ffff_ff80) | HPTE_V_VALID | (rng.below(2) << 1),
        r: rng.next() & 0x0fff_ffff_ffff_f1ff,
    }
}

fn head(index: u32, n_valid: u16, n_invalid: u16) -> Vec<u8> {
    let mut b = index.to_le_bytes().to_vec();
    b.extend_from_slice(&n_valid.to_le_bytes());
    b.extend_from_slice(&n_invalid.to_le_bytes());
    b
}

#[test]
fn kvm_bytes() {
    // One record as KVM writes it on a ppc64le host: little-endian header, big-endian HPTE.
    let e = Hpte {
        v: 0x4000_0000_0012_3401,
        r: 0x0000_0000_1234_5196,
    };
    let rec = Record {
        index: 0x10,
        valid: vec![e],
        n_invalid: 3,
    };
    let le = encode(g18(), std::slice::from_ref(&rec), Endian::Little).unwrap();
    assert_eq!(&le[..8], &[0x10, 0, 0, 0, 1, 0, 3, 0]);
    assert_eq!(&le[8..16], &0x4000_0000_0012_3401u64.to_be_bytes());
    assert_eq!(le.len(), 24);
    let be = encode(g18(), std::slice::from_ref(&rec), Endian::Big).unwrap();
    assert_eq!(&be[..8], &[0, 0, 0, 0x10, 0, 1, 0, 3]);
    assert_eq!(&be[8..], &le[8..]);
    assert_eq!(
        decode(&le, g18(), Endian::Little).unwrap(),
        vec![rec.clone()]
    );
    assert_eq!(decode(&be, g18(), Endian::Big).unwrap(), vec![rec.clone()]);
    assert_eq!(rec.end(), 0x14);
    assert_eq!(decode(&[], g18(), Endian::Little).unwrap(), vec![]);
}

#[test]
fn each_corruption_is_refused_by_name() {
    let g = g18();
    let n = g.entries(); // 16384
    let dec = |b: &[u8]| decode(b, g, Endian::Little).unwrap_err();
    assert_eq!(
        dec(&[1, 2, 3]),
        HtabError::TruncatedHeader { offset: 0, len: 3 }
    );
    let mut b = head(0, 0, 4);
    b.extend_from_slice(&[0; 5]);
    assert_eq!(dec(&b), HtabError::TruncatedHeader { offset: 8, len: 13 });
    let mut b = head(7, 2, 0);
    b.extend_from_slice(&[0; 20]);
    assert_eq!(
        dec(&b),
        HtabError::TruncatedEntries {
            offset: 0,
            index: 7,
            n_valid: 2,
            available: 20
        }
    );
    assert_eq!(dec(&head(5, 0, 0)), HtabError::Empty { offset: 0 });
    assert_eq!(
        dec(&head(n as u32, 0, 1)),
        HtabError::OutOfTable {
            index: n as u32,
            count: 1,
            entries: n
        }
    );
    assert_eq!(
        dec(&head(n as u32 - 10, 0, 11)),
        HtabError::OutOfTable {
            index: n as u32 - 10,
            count: 11,
            entries: n
        }
    );
    assert_eq!(
        dec(&head(u32::MAX, 0xffff, 0xffff)),
        HtabError::OutOfTable {
            index: u32::MAX,
            count: 0x1fffe,
            entries: n
        }
    );
    let mut b = head(10, 0, 5);
    b.extend(head(14, 0, 1));
    assert_eq!(
        dec(&b),
        HtabError::Overlap {
            index: 14,
            previous_end: 15
        }
    );
    let mut b = head(10, 0, 5);
    b.extend(head(3, 0, 1));
    assert!(matches!(dec(&b), HtabError::Overlap { index: 3, .. }));
    // Adjacent records are fine.
    let mut b = head(10, 0, 5);
    b.extend(head(15, 0, 1));
    assert_eq!(decode(&b, g, Endian::Little).unwrap().len(), 2);
    let mut b = head(20, 1, 0);
    b.extend_from_slice(&Hpte { v: 0x80, r: 0 }.to_be_bytes());
    assert_eq!(dec(&b), HtabError::NotValid(20));
    let mut b = head(20, 2, 0);
    b.extend_from_slice(&Hpte { v: 1, r: 0 }.to_be_bytes());
    let bad = Hpte {
        v: HPTE_V_VALID | HPTE_V_LARGE,
        r: 0x2000,
    };
    b.extend_from_slice(&bad.to_be_bytes());
    assert_eq!(
        dec(&b),
        HtabError::PageSize {
            index: 21,
            v: bad.v,
            r: bad.r
        }
    );
    // The messages name what is wrong.
    assert_eq!(
        HtabError::Overlap {
            index: 14,
            previous_end: 15
        }
        .to_string(),
        "HTAB record at entry 14 overlaps or precedes the previous record (which ends at 15)"
    );
    // Records built in memory are checked the same way.
    let long = Record {
        index: 0,
        valid: vec![Hpte { v: 1, r: 0 }; MAX_RUN + 1],
        n_invalid: 0,
    };
    assert_eq!(
        encode(HtabGeometry::new(24).unwrap(), &[long], Endian::Little),
        Err(HtabError::RunTooLong {
            index: 0,
            count: MAX_RUN + 1
        })
    );
}

/// Fuzz-style: random bytes, and valid streams with bytes flipped, cut or spliced, never panic;
/// what decodes re-encodes to the same bytes (the codec is canonical) and applies cleanly.
#[test]
fn corrupt_input_never_panics() {
    let mut rng = Rng::new(0xf022);
    let g = g18();
    let (mut ok, mut refused) = (0, 0);
    let mut table = crate::mmu::HashTable::new(g).unwrap();
    for i in 0..300 {
        table.set(rng.below(g.entries()), entry(&mut rng)).unwrap();
        if i % 50 == 0 {
            for _ in 0..10 {
                let at = rng.below(g.entries() - 200);
                for k in 0..rng.below(150) {
                    table.set(at + k, entry(&mut rng)).unwrap();
                }
            }
        }
    }
    let good = encode(g, &table.first_pass(), Endian::Little).unwrap();
    for round in 0..2000 {
        let bytes: Vec<u8> = match round % 4 {
            0 => (0..rng.below(200)).map(|_| rng.next() as u8).collect(),
            1 => {
                let mut b = good.clone();
                for _ in 0..1 + rng.below(4) {
                    let at = rng.below(b.len() as u64) as usize;
                    b[at] ^= 1 << rng.below(8);
                }
                b
            }
            2 => good[..rng.below(good.len() as u64) as usize].to_vec(),
            _ => {
                let a = rng.below(good.len() as u64) as usize;
                let c = rng.below(good.len() as u64) as usize;
                let mut b = good[..a].to_vec();
                b.extend_from_slice(&good[c..]);
                b
            }
        };
        match decode(&bytes, g, Endian::Little) {
            Ok(records) => {
                ok += 1;
                assert_eq!(encode(g, &records, Endian::Little).unwrap(), bytes);
                let mut t = crate::mmu::HashTable::new(g).unwrap();
                t.apply(&records).unwrap();
            }
            Err(e) => {
                refused += 1;
                assert!(!e.to_string().is_empty());
            }
        }
    }
    assert!(ok > 100 && refused > 700, "{ok} decoded, {refused} refused");
    assert_eq!(
        crate::mmu::HashTable::from_first_pass(g, &decode(&good, g, Endian::Little).unwrap())
            .unwrap(),
        table
    );
}
