use super::*;
use vmm_core::wire::Trailing;

fn sample_machine() -> MachineState {
    MachineState {
        proc_table: (0x3ff_0000, 0x1_0000),
        fdt_addr: 0x3fe_0000,
        lpcr: (1 << 25, 1 << 25),
        cpus: vec![
            CpuSnapshot {
                state: CpuState::Running,
                start: None,
            },
            CpuSnapshot {
                state: CpuState::Stopped,
                start: Some(StartRequest {
                    nip: 0x40_0100,
                    r3: 7,
                }),
            },
            CpuSnapshot {
                state: CpuState::Stopping,
                start: None,
            },
        ],
        console_input: b"typed".to_vec(),
    }
}

fn sample_xics() -> XicsState {
    let a = SourceAttr {
        server: 2,
        priority: 5,
        pending: true,
        presented: true,
        ..SourceAttr::default()
    };
    XicsState {
        servers: 3,
        sources: vec![
            (0x1000, a.encode()),
            (
                0x1001,
                SourceAttr {
                    priority: 0xff,
                    level: true,
                    masked: true,
                    ..SourceAttr::default()
                }
                .encode(),
            ),
        ],
    }
}

fn with(tag: SectionSpec, data: Vec<u8>) -> Section {
    Section::new(&tag.tag, tag.current, data)
}

#[test]
fn round_trips() {
    let m = sample_machine();
    let s = machine_section(&m);
    assert_eq!((s.tag, s.version), (*b"PSER", 1));
    assert_eq!(decode_machine(&s).unwrap(), m);
    let x = sample_xics();
    assert_eq!(decode_xics(&xics_section(Some(&x))).unwrap(), Some(x));
    let none = xics_section(None);
    assert_eq!(none.data, vec![0]);
    assert_eq!(decode_xics(&none).unwrap(), None);
    let empty = MachineState {
        cpus: vec![CpuSnapshot {
            state: CpuState::Running,
            start: None,
        }],
        console_input: Vec::new(),
        ..sample_machine()
    };
    assert_eq!(decode_machine(&machine_section(&empty)).unwrap(), empty);
}

#[test]
fn the_wire_is_little_endian_field_by_field() {
    let s = machine_section(&sample_machine());
    assert_eq!(s.data[..8], 0x3ff_0000u64.to_le_bytes());
    assert_eq!(s.data[40..44], 3u32.to_le_bytes());
    // vCPU 0: running, no start; vCPU 1: stopped, a start.
    assert_eq!(s.data[44..48], [2, 0, 0, 1]);
    assert_eq!(s.data[48..56], 0x40_0100u64.to_le_bytes());
    let x = xics_section(Some(&sample_xics()));
    assert_eq!(x.data[..9], [1, 3, 0, 0, 0, 2, 0, 0, 0]);
    assert_eq!(x.data[9..13], 0x1000u32.to_le_bytes());
    assert_eq!(x.data[13..21], sample_xics().sources[0].1.to_le_bytes());
}

#[test]
fn every_truncation_is_an_error() {
    let m = machine_section(&sample_machine());
    for n in 0..m.data.len() {
        let e = decode_machine(&with(PSER, m.data[..n].to_vec())).unwrap_err();
        assert!(
            matches!(e, Ppc64SnapshotError::Codec(CodecError::Truncated(_))),
            "PSER length {n}: {e}"
        );
    }
    let x = xics_section(Some(&sample_xics()));
    for n in 0..x.data.len() {
        let e = decode_xics(&with(XICS, x.data[..n].to_vec())).unwrap_err();
        assert!(
            matches!(e, Ppc64SnapshotError::Codec(CodecError::Truncated(_))),
            "XICS length {n}: {e}"
        );
    }
}

#[test]
fn trailing_bytes_and_versions_are_refused() {
    for s in [
        machine_section(&sample_machine()),
        xics_section(Some(&sample_xics())),
        xics_section(None),
    ] {
        let decode = |s: &Section| match &s.tag {
            b"PSER" => decode_machine(s).map(drop),
            _ => decode_xics(s).map(drop),
        };
        let mut long = s.clone();
        long.data.push(0);
        assert!(matches!(
            decode(&long),
            Err(Ppc64SnapshotError::Codec(CodecError::Trailing(Trailing {
                left: 1,
                ..
            })))
        ));
        let mut newer = s.clone();
        newer.version = 2;
        let e = decode(&newer).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "section {} version 2 is newer than this tetra's 1",
                s.tag_str()
            )
        );
        let mut zero = s;
        zero.version = 0;
        assert!(decode(&zero).is_err());
    }
}

fn patched(s: &Section, at: usize, bytes: &[u8]) -> Section {
    let mut s = s.clone();
    s.data[at..at + bytes.len()].copy_from_slice(bytes);
    s
}

#[test]
fn machine_rejects_name_the_field() {
    let s = machine_section(&sample_machine());
    let e = decode_machine(&patched(&s, 8, &0x3000u64.to_le_bytes())).unwrap_err();
    assert!(
        matches!(e, Ppc64SnapshotError::ProcessTable(MmuError::Size(0x3000))),
        "{e}"
    );
    let e = decode_machine(&patched(&s, 0, &0x1234u64.to_le_bytes())).unwrap_err();
    assert!(
        matches!(e, Ppc64SnapshotError::ProcessTable(MmuError::Align { .. })),
        "{e}"
    );
    let e = decode_machine(&patched(&s, 40, &0u32.to_le_bytes())).unwrap_err();
    assert!(matches!(e, Ppc64SnapshotError::VcpuCount(0)), "{e}");
    // 5000 vCPUs would need 10,000 bytes: refused as truncated before anything is allocated.
    let e = decode_machine(&patched(&s, 40, &5000u32.to_le_bytes())).unwrap_err();
    assert!(
        matches!(e, Ppc64SnapshotError::Codec(CodecError::Truncated(_))),
        "{e}"
    );
    let e = decode_machine(&patched(&s, 44 + 4 + 16, &[3])).unwrap_err();
    assert_eq!(
        e.to_string(),
        "PSER: vCPU 2's RTAS state 3 (0 stopped, 1 stopping, 2 running)"
    );
    let e = decode_machine(&patched(&s, 45, &[2])).unwrap_err();
    assert_eq!(e.to_string(), "PSER: vCPU 0's start flag 2 (0 or 1)");
    let at = s.data.len() - 5 - 4;
    let e = decode_machine(&patched(&s, at, &4097u32.to_le_bytes())).unwrap_err();
    assert!(matches!(e, Ppc64SnapshotError::ConsoleInput(4097)), "{e}");
    // A huge length is refused by its own check, before any allocation.
    let e = decode_machine(&patched(&s, at, &u32::MAX.to_le_bytes())).unwrap_err();
    assert!(matches!(e, Ppc64SnapshotError::ConsoleInput(_)), "{e}");
}

#[test]
fn xics_rejects_name_the_field() {
    let s = xics_section(Some(&sample_xics()));
    let e = decode_xics(&patched(&s, 0, &[2])).unwrap_err();
    assert_eq!(e.to_string(), "XICS: present flag 2 (0 or 1)");
    let e = decode_xics(&patched(&s, 1, &0u32.to_le_bytes())).unwrap_err();
    assert!(matches!(e, Ppc64SnapshotError::Servers(0)), "{e}");
    let e = decode_xics(&patched(&s, 1, &5000u32.to_le_bytes())).unwrap_err();
    assert!(matches!(e, Ppc64SnapshotError::Servers(5000)), "{e}");
    let e = decode_xics(&patched(&s, 5, &u32::MAX.to_le_bytes())).unwrap_err();
    assert!(
        matches!(e, Ppc64SnapshotError::Codec(CodecError::Truncated(_))),
        "{e}"
    );
    // A second source numbered as the first, or below it.
    let e = decode_xics(&patched(&s, 21, &0x1000u32.to_le_bytes())).unwrap_err();
    assert_eq!(
        e.to_string(),
        "XICS: source 1 is number 0x1000 (increasing, below 0x100000)"
    );
    let e = decode_xics(&patched(&s, 9, &SOURCE_LIMIT.to_le_bytes())).unwrap_err();
    assert!(
        matches!(e, Ppc64SnapshotError::SourceNumber { index: 0, .. }),
        "{e}"
    );
    let e = decode_xics(&patched(&s, 13, &(1u64 << 45).to_le_bytes())).unwrap_err();
    assert!(
        matches!(e, Ppc64SnapshotError::SourceBits { number: 0x1000, .. }),
        "{e}"
    );
    let e = decode_xics(&patched(&s, 13, &3u64.to_le_bytes())).unwrap_err();
    assert_eq!(e.to_string(), "XICS: source 0x1000 goes to server 3 of 3");
    // Junk after an absent XICS.
    let e = decode_xics(&with(XICS, vec![0, 1])).unwrap_err();
    assert!(
        matches!(e, Ppc64SnapshotError::Codec(CodecError::Trailing(_))),
        "{e}"
    );
}

#[test]
fn the_vm_must_match_the_snapshot() {
    let m = sample_machine();
    m.check(3).unwrap();
    assert_eq!(
        m.check(2).unwrap_err().to_string(),
        "PSER: vCPUs: the snapshot has 3, this VM 2"
    );
    let x = sample_xics();
    x.check(3, &[0x1000, 0x1001]).unwrap();
    assert_eq!(
        x.check(3, &[0x1000]).unwrap_err().to_string(),
        "XICS: sources: the snapshot has 2, this VM 1"
    );
    assert_eq!(
        x.check(3, &[0x1000, 0x1002]).unwrap_err().to_string(),
        "XICS: source 1 is 0x1001 in the snapshot, 0x1002 in this VM"
    );
    assert_eq!(
        x.check(4, &[0x1000, 0x1001]).unwrap_err().to_string(),
        "XICS: interrupt servers: the snapshot has 3, this VM 4"
    );
    check_xics_presence(true, true).unwrap();
    assert_eq!(
        check_xics_presence(true, false).unwrap_err().to_string(),
        "XICS: in-kernel XICS devices: the snapshot has 1, this VM 0"
    );
}

#[test]
fn the_envelope_needs_both_sections() {
    let mut env = Envelope::new(SNAPSHOT_MAGIC);
    assert_eq!(
        decode_vm(&env).unwrap_err().to_string(),
        "section PSER is missing"
    );
    env.push(machine_section(&sample_machine()));
    assert_eq!(
        decode_vm(&env).unwrap_err().to_string(),
        "section XICS is missing"
    );
    env.push(xics_section(Some(&sample_xics())));
    let bytes = env.encode();
    let env = Envelope::decode(&bytes, Some((SNAPSHOT_MAGIC, "ppc64"))).unwrap();
    let (m, x) = decode_vm(&env).unwrap();
    assert_eq!((m, x), (sample_machine(), Some(sample_xics())));
}

#[test]
fn random_mutations_never_panic() {
    let m = machine_section(&sample_machine());
    let x = xics_section(Some(&sample_xics()));
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..5000 {
        let mut a = m.clone();
        let mut b = x.clone();
        for _ in 0..1 + next() % 3 {
            let at = (next() % a.data.len() as u64) as usize;
            a.data[at] = next() as u8;
            let at = (next() % b.data.len() as u64) as usize;
            b.data[at] = next() as u8;
        }
        if let Ok(s) = decode_machine(&a) {
            assert!(s.console_input.len() <= INPUT_CAPACITY);
        }
        if let Ok(Some(s)) = decode_xics(&b) {
            assert!(s.sources.windows(2).all(|w| w[0].0 < w[1].0));
        }
    }
}
