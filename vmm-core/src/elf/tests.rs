use super::build::{note, ElfBuilder};
use super::*;

const CLASSES: [Class; 2] = [Class::Elf32, Class::Elf64];
const ORDERS: [ByteOrder; 2] = [ByteOrder::Little, ByteOrder::Big];

/// Two loadable segments (the second with a BSS) and a note segment of two notes.
fn image(class: Class, order: ByteOrder) -> Vec<u8> {
    let mut notes = note(order, b"GNU", 3, &[0xaa; 20]);
    notes.extend(note(order, b"Xen", 18, &order_bytes(order, 0x0100_0200)));
    ElfBuilder::new(class, order, EM_PPC)
        .entry(0xc000_0010)
        .load(0xc000_0000, 0, &[0x11; 100], 100)
        .notes(&notes)
        .load(0xc000_1000, 0x1000, &[0x22; 30], 0x800)
        .build()
}

fn order_bytes(order: ByteOrder, v: u32) -> [u8; 4] {
    match order {
        ByteOrder::Little => v.to_le_bytes(),
        ByteOrder::Big => v.to_be_bytes(),
    }
}

#[test]
fn reads_both_classes_in_both_byte_orders() {
    for class in CLASSES {
        for order in ORDERS {
            let img = image(class, order);
            let e = Elf::parse(&img).unwrap();
            let what = format!("{class:?} {order:?}");
            assert_eq!((e.class, e.byte_order), (class, order), "{what}");
            assert_eq!(
                (e.e_type, e.machine, e.entry),
                (ET_EXEC, EM_PPC, 0xc000_0010)
            );
            assert_eq!(e.program_headers.len(), 3, "{what}");
            let loads: Vec<_> = e.loads().collect();
            assert_eq!(loads.len(), 2, "{what}");
            let hdrs = u64::from(class.header_size() + 3 * class.program_header_size());
            let l = loads[1];
            assert_eq!(
                (l.index, l.vaddr, l.paddr, l.offset, l.filesz, l.memsz),
                (2, 0xc000_1000, 0x1000, hdrs + 100 + 56, 30, 0x800),
                "{what}"
            );
            assert_eq!((l.flags, l.align), (PF_R | PF_W | PF_X, 0x1000), "{what}");
            assert_eq!(l.data, &[0x22; 30][..], "{what}");
            assert_eq!(loads[0].data, &[0x11; 100][..], "{what}");

            let notes: Vec<_> = e.notes().map(Result::unwrap).collect();
            assert_eq!(notes.len(), 2, "{what}");
            assert_eq!((notes[0].name, notes[0].n_type), (&b"GNU"[..], 3));
            assert_eq!(notes[0].desc, &[0xaa; 20][..]);
            let xen = e.find_note(b"Xen", 18).unwrap().unwrap();
            assert_eq!(xen.desc_word(), Some(0x0100_0200), "{what}");
            assert_eq!(notes[0].desc_word(), None);
            assert_eq!(e.find_note(b"Xen", 17).unwrap(), None);
            assert_eq!(e.find_note(b"Xe", 18).unwrap(), None);
        }
    }
}

#[test]
fn every_truncation_is_an_error_not_a_panic() {
    for class in CLASSES {
        for order in ORDERS {
            let full = image(class, order);
            assert!(Elf::parse(&full).is_ok());
            for n in 0..full.len() {
                assert!(
                    Elf::parse(&full[..n]).is_err(),
                    "{class:?} {order:?}: accepted {n} bytes"
                );
            }
        }
    }
}

#[test]
fn every_corrupted_header_byte_is_handled() {
    // Every byte set to a few telling values: any result, no panic, and the notes walk ends.
    for class in CLASSES {
        for order in ORDERS {
            let full = image(class, order);
            for at in 0..full.len() {
                for v in [0, 1, 2, 0x7f, 0x80, 0xff] {
                    let mut bad = full.clone();
                    bad[at] = v;
                    if let Ok(e) = Elf::parse(&bad) {
                        let _ = e.notes().count();
                        let _ = e.find_note(b"Xen", 18);
                    }
                }
            }
        }
    }
}

/// `image` with the `n`-byte field at `at` set to `v`.
fn with(mut img: Vec<u8>, order: ByteOrder, at: usize, n: usize, v: u64) -> Vec<u8> {
    let b = match order {
        ByteOrder::Big => v.to_be_bytes()[8 - n..].to_vec(),
        ByteOrder::Little => v.to_le_bytes()[..n].to_vec(),
    };
    img[at..at + n].copy_from_slice(&b);
    img
}

#[test]
fn names_what_is_wrong() {
    let le = ByteOrder::Little;
    let good = || image(Class::Elf32, le);
    assert_eq!(Elf::parse(b"MZ\x90\0"), Err(ElfError::NotElf));
    assert_eq!(
        Elf::parse(&with(good(), le, 4, 1, 3)),
        Err(ElfError::BadClass(3))
    );
    assert_eq!(
        Elf::parse(&with(good(), le, 5, 1, 0)),
        Err(ElfError::BadByteOrder(0))
    );
    assert_eq!(
        Elf::parse(&with(good(), le, 42, 2, 40)),
        Err(ElfError::ProgramHeaderSize { got: 40, want: 32 })
    );
    assert_eq!(
        Elf::parse(&with(good(), le, 44, 2, 129)),
        Err(ElfError::TooManyProgramHeaders(129))
    );
    // A count the file cannot hold is refused before anything is allocated.
    let e = Elf::parse(&with(good(), le, 44, 2, 100)).unwrap_err();
    assert!(
        matches!(
            e,
            ElfError::Truncated {
                what: "the program headers",
                offset: 52,
                len: 3200,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().starts_with("truncated ELF: the "), "{e}");
    assert!(
        e.to_string()
            .contains("before the program headers at 0x34+0xc80"),
        "{e}"
    );
    // Program header 0's p_filesz (offset 52 + 16).
    let e = Elf::parse(&with(good(), le, 68, 4, 0x7fff_0000)).unwrap_err();
    assert!(
        matches!(e, ElfError::SegmentOutsideFile { index: 0, .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("program header 0"), "{e}");
    // Program header 2's p_memsz (offset 52 + 64 + 20) below its p_filesz.
    assert_eq!(
        Elf::parse(&with(good(), le, 136, 4, 10)),
        Err(ElfError::FileszOverMemsz {
            index: 2,
            filesz: 30,
            memsz: 10
        })
    );
    // ELF64 program header 0's p_paddr (offset 64 + 24) near the top.
    let img = image(Class::Elf64, ByteOrder::Big);
    assert_eq!(
        Elf::parse(&with(img, ByteOrder::Big, 88, 8, u64::MAX - 10)),
        Err(ElfError::SegmentWraps {
            index: 0,
            addr: u64::MAX - 10,
            memsz: 100
        })
    );
    // No program headers at all is a valid image with nothing to load.
    let empty = ElfBuilder::new(Class::Elf64, le, EM_X86_64).build();
    let e = Elf::parse(&empty).unwrap();
    assert_eq!((e.loads().count(), e.notes().count()), (0, 0));
}

#[test]
fn malformed_notes_are_errors() {
    let order = ByteOrder::Big;
    let one = note(order, b"Xen", 18, &[0, 0, 0, 1]);
    let elf = |notes: &[u8]| {
        ElfBuilder::new(Class::Elf64, order, EM_PPC64)
            .load(0, 0, &[0; 8], 8)
            .notes(notes)
            .build()
    };
    let bad = |what, offset| ElfError::BadNote {
        index: 1,
        offset,
        what,
    };
    // A note cut anywhere: header, name or descriptor.
    let mut two = one.clone();
    two.extend(&one);
    for (cut, what) in [(5, "header"), (14, "name"), (18, "descriptor")] {
        let img = elf(&two[..one.len() + cut]);
        let e = Elf::parse(&img).unwrap();
        let walked: Vec<_> = e.notes().collect();
        assert_eq!(walked.len(), 2);
        assert_eq!(walked[1], Err(bad(what, one.len() as u64)));
        assert!(
            e.find_note(b"Xen", 18).unwrap().is_some(),
            "found before the bad one"
        );
        assert_eq!(e.find_note(b"GNU", 1), Err(bad(what, one.len() as u64)));
    }
    // Sizes near u32::MAX neither wrap nor allocate.
    let mut huge = one.clone();
    huge[0..4].copy_from_slice(&u32::MAX.to_be_bytes());
    let img = elf(&huge);
    assert_eq!(
        Elf::parse(&img).unwrap().find_note(b"Xen", 18),
        Err(bad("name", 0))
    );
    // The last note's padding may be missing; an empty descriptor needs none.
    let mut unpadded = note(order, b"Linux", 1, &[]);
    unpadded.truncate(12 + 6);
    let img = elf(&unpadded);
    let n = Elf::parse(&img)
        .unwrap()
        .find_note(b"Linux", 1)
        .unwrap()
        .unwrap();
    assert_eq!((n.desc, n.desc_word()), (&[][..], None));
}
