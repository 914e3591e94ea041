use super::*;
use vmm_core::snapshot::sections::{read_vcpu, TAG_VCPU};

fn sample_vm() -> VmState {
    let pic = |n: u8| PicState {
        last_irr: 0x01,
        irr: 0x10 | n,
        imr: 0xfb - n,
        isr: 0x02,
        priority_add: 5,
        irq_base: 0x20 + 8 * n,
        read_reg_select: 1,
        poll: 0,
        special_mask: 1,
        init_state: 0,
        auto_eoi: 1,
        rotate_on_auto_eoi: 0,
        special_fully_nested_mode: 1,
        init4: 1,
        elcr: 0x0c,
        elcr_mask: [0xf8, 0xde][n as usize],
    };
    let mut redirtbl = [0u64; IOAPIC_PINS];
    for (i, e) in redirtbl.iter_mut().enumerate() {
        *e = 0x0300_0000_0001_0030 + ((i as u64) << 8);
    }
    let channel = |i: u8| PitChannel {
        count: PIT_MAX_COUNT - u32::from(i),
        latched_count: 0x1234 + u16::from(i),
        count_latched: 2,
        status_latched: 1,
        status: 0x36,
        read_state: 4,
        write_state: 3,
        write_latch: 0x9c,
        rw_mode: 3,
        mode: [3, 0xff, 5][i as usize],
        bcd: 0,
        gate: u8::from(i != 2),
        count_load_time: -1 - i64::from(i),
    };
    VmState {
        irqchip: IrqchipState {
            pic: [pic(0), pic(1)],
            ioapic: IoapicState {
                base_address: 0xfec0_0000,
                ioregsel: 0x3f,
                id: 0xf,
                irr: 0x80_0001,
                redirtbl,
            },
        },
        pit: Some(PitState {
            channels: [channel(0), channel(1), channel(2)],
            flags: PIT_FLAGS,
        }),
        clock: KvmClock {
            clock: 0x0123_4567_89ab_cdef,
        },
    }
}

fn sample_vcpu() -> VcpuExtra {
    let e = |function, index, flags| CpuidEntry {
        function,
        index,
        flags,
        eax: function ^ 0x1111,
        ebx: 0x756e_6547,
        ecx: 0x6c65_746e,
        edx: 0x4965_6e69 + index,
    };
    VcpuExtra {
        cpuid: vec![e(0, 0, 0), e(4, 1, 1), e(0xd, 2, 1), e(0x4000_0001, 0, 0)],
        tsc_khz: 2_400_000,
    }
}

fn envelope(sections: Vec<Section>) -> Envelope {
    let mut env = Envelope::new(SNAPSHOT_MAGIC);
    sections.into_iter().for_each(|s| env.push(s));
    env
}

/// tetra 1.0's IRQC, by hand from `struct kvm_irqchip`'s layout; `pad` fills what KVM ignores.
fn v1_irqc(s: &IrqchipState, pad: u8) -> Vec<u8> {
    let mut w = Writer::new();
    w.u32(3);
    for id in 0..3u32 {
        let mut c = Writer::new();
        c.u32(id);
        c.u32(u32::from_le_bytes([pad; 4]));
        if id < 2 {
            c.bytes(&s.pic[id as usize].to_bytes());
        } else {
            let io = &s.ioapic;
            c.u64(io.base_address);
            c.u32(io.ioregsel);
            c.u32(io.id);
            c.u32(io.irr);
            c.u32(u32::from_le_bytes([pad; 4]));
            io.redirtbl.iter().for_each(|e| c.u64(*e));
        }
        let mut blob = c.into_bytes();
        blob.resize(V1_IRQCHIP_BYTES, pad);
        w.u32(id);
        w.blob(&blob);
    }
    w.into_bytes()
}

/// tetra 1.0's PIT2: `struct kvm_pit_state2`, 112 bytes.
fn v1_pit(s: &PitState, pad: u8) -> Vec<u8> {
    let mut w = Writer::new();
    for c in &s.channels {
        w.u32(c.count);
        w.u16(c.latched_count);
        for b in [
            c.count_latched,
            c.status_latched,
            c.status,
            c.read_state,
            c.write_state,
            c.write_latch,
            c.rw_mode,
            c.mode,
            c.bcd,
            c.gate,
        ] {
            w.u8(b);
        }
        w.u64(c.count_load_time as u64);
    }
    w.u32(s.flags);
    w.bytes(&[pad; 36]);
    w.into_bytes()
}

/// tetra 1.0's vCPU extra: the version 2 bytes without the header.
fn v1_vcpu(x: &VcpuExtra) -> Vec<u8> {
    encode_vcpu(x)[6..].to_vec()
}

fn with(version: u16, spec: SectionSpec, data: Vec<u8>) -> Section {
    Section::new(&spec.tag, version, data)
}

#[test]
fn round_trip() {
    let vm = sample_vm();
    let sections = encode_vm(&vm);
    assert_eq!(
        sections
            .iter()
            .map(|s| (s.tag, s.version))
            .collect::<Vec<_>>(),
        [(*b"IRQC", 2), (*b"PIT2", 2), (*b"CLCK", 1)]
    );
    assert_eq!(
        sections.iter().map(|s| s.tag).collect::<Vec<_>>(),
        VM_STATE_TAGS[..3]
    );
    let env = Envelope::decode(
        &envelope(sections).encode(),
        Some((SNAPSHOT_MAGIC, "x86_64")),
    );
    assert_eq!(decode_vm(&env.unwrap()).unwrap(), vm);
    let x = sample_vcpu();
    assert_eq!(decode_vcpu(&encode_vcpu(&x)).unwrap(), x);
    let none = VcpuExtra::default();
    assert_eq!(decode_vcpu(&encode_vcpu(&none)).unwrap(), none);
}

#[test]
fn version_2_is_field_by_field_little_endian() {
    let vm = sample_vm();
    let irqc = irqchip_section(&vm.irqchip).data;
    assert_eq!(irqc[..4], 2u32.to_le_bytes());
    assert_eq!(irqc[4..20], vm.irqchip.pic[0].to_bytes());
    assert_eq!(irqc[20 + 5], 0x28, "the slave's irq_base");
    let io = 4 + 2 * 16;
    assert_eq!(irqc[io..io + 8], 0xfec0_0000u64.to_le_bytes());
    assert_eq!(irqc[io + 20..io + 24], 24u32.to_le_bytes());
    assert_eq!(irqc.len(), io + 24 + 24 * 8);
    let pit = pit_section(&vm.pit.unwrap()).data;
    assert_eq!(pit[..4], 3u32.to_le_bytes());
    assert_eq!(pit[4..8], 0x1_0000u32.to_le_bytes());
    assert_eq!(pit[4 + 13], 3, "channel 0 mode");
    assert_eq!(pit[4 + 16..4 + 24], (-1i64).to_le_bytes());
    assert_eq!(pit.len(), 4 + 3 * 24 + 4);
    let x = encode_vcpu(&sample_vcpu());
    assert_eq!(x[..6], *b"XVCP\x02\x00");
    assert_eq!(x[6..10], 4u32.to_le_bytes());
    assert_eq!(x.len(), 6 + 4 + 4 * 28 + 4);
}

#[test]
fn version_1_bytes_decode_into_the_same_state() {
    let vm = sample_vm();
    for pad in [0, 0xa5] {
        let irqc = with(1, IRQC, v1_irqc(&vm.irqchip, pad));
        assert_eq!(irqc.data.len(), 4 + 3 * (8 + 520));
        assert_eq!(decode_irqchip(&irqc).unwrap(), vm.irqchip);
        let pit = with(1, PIT2, v1_pit(&vm.pit.unwrap(), pad));
        assert_eq!(pit.data.len(), 112);
        assert_eq!(decode_pit(&pit).unwrap(), vm.pit.unwrap());
        let env = envelope(vec![irqc, pit, clock_section(&vm.clock)]);
        assert_eq!(decode_vm(&env).unwrap(), vm);
    }
    let x = sample_vcpu();
    assert_eq!(decode_vcpu(&v1_vcpu(&x)).unwrap(), x);
}

/// The suite's 1.0 fixture (written by tetra 1.0 on real KVM) decodes on any host.
#[test]
fn the_1_0_fixture_decodes() {
    let bytes = include_bytes!("../../../integration-tests/fixtures/x86_64/counter-1.0.snap");
    let env = Envelope::decode(bytes, Some((SNAPSHOT_MAGIC, "x86_64"))).unwrap();
    assert_eq!(env.minor, 0);
    for tag in &VM_STATE_TAGS[..3] {
        assert_eq!(env.section(tag).unwrap().version, 1);
    }
    // Written before CPU templates: it restores as template `none`.
    assert_eq!(cput::decode_optional(&env).unwrap(), None);
    let vm = decode_vm(&env).unwrap();
    assert_eq!(vm.irqchip.pic[0].elcr_mask, 0xf8);
    assert_eq!(vm.irqchip.pic[1].elcr_mask, 0xde);
    assert_eq!(vm.irqchip.ioapic.base_address, 0xfec0_0000);
    assert_eq!(vm.pit.unwrap().channels[0].count, PIT_MAX_COUNT);
    assert_eq!(
        vm.pit.unwrap().channels[0].mode,
        0xff,
        "a PIT the guest never programmed"
    );
    assert!(vm.clock.clock > 0);
    let vcpus: Vec<_> = env.all(&TAG_VCPU).map(|s| read_vcpu(s).unwrap()).collect();
    assert_eq!(vcpus.len(), 1);
    let x = decode_vcpu(&vcpus[0].extra).unwrap();
    assert_eq!(x.cpuid.len(), 75);
    assert!(x.cpuid.iter().any(|e| e.function == 0x4000_0000));
}

fn every_section_form() -> Vec<Section> {
    let vm = sample_vm();
    let mut all = encode_vm(&vm);
    all.push(with(1, IRQC, v1_irqc(&vm.irqchip, 0)));
    all.push(with(1, PIT2, v1_pit(&vm.pit.unwrap(), 0)));
    all
}

fn decode_section(s: &Section) -> Result<(), X86SnapshotError> {
    match &s.tag {
        b"IRQC" => decode_irqchip(s).map(drop),
        b"PIT2" => decode_pit(s).map(drop),
        _ => decode_clock(s).map(drop),
    }
}

#[test]
fn every_truncation_and_every_extra_byte_is_an_error() {
    for s in every_section_form() {
        for n in 0..s.data.len() {
            let cut = Section::new(&s.tag, s.version, s.data[..n].to_vec());
            assert!(
                decode_section(&cut).is_err(),
                "{} v{} length {n}",
                s.tag_str(),
                s.version
            );
        }
        let mut long = s.clone();
        long.data.push(0);
        let e = decode_section(&long).unwrap_err();
        assert!(
            matches!(e, X86SnapshotError::Codec(CodecError::Trailing(_)))
                || matches!(e, X86SnapshotError::V1Length { len: 113, .. }),
            "{} v{}: {e}",
            s.tag_str(),
            s.version
        );
    }
    for x in [encode_vcpu(&sample_vcpu()), v1_vcpu(&sample_vcpu())] {
        for n in 0..x.len() {
            assert!(decode_vcpu(&x[..n]).is_err(), "vCPU length {n}");
        }
        let mut long = x.clone();
        long.push(0);
        let e = decode_vcpu(&long).unwrap_err();
        assert_eq!(e.to_string(), "1 unexpected bytes after the vCPU state");
    }
}

fn patched(data: &[u8], at: usize, v: u32) -> Vec<u8> {
    let mut b = data.to_vec();
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    b
}

#[test]
fn counts_are_checked() {
    let vm = sample_vm();
    fn count<T: std::fmt::Debug>(r: Result<T, X86SnapshotError>) -> (&'static str, usize, usize) {
        match r {
            Err(X86SnapshotError::Count {
                what,
                count,
                expected,
            }) => (what, count, expected),
            other => panic!("{other:?}"),
        }
    }
    let irqc = irqchip_section(&vm.irqchip);
    let io_pins = 4 + 2 * 16 + 20;
    for (at, v, expect) in [
        (0, 3, ("PICs", 3, 2)),
        (0, 1, ("PICs", 1, 2)),
        (io_pins, 23, ("IOAPIC pins", 23, 24)),
    ] {
        let s = with(2, IRQC, patched(&irqc.data, at, v));
        assert_eq!(count(decode_irqchip(&s)), expect);
    }
    let pit = pit_section(&vm.pit.unwrap());
    let s = with(2, PIT2, patched(&pit.data, 0, 2));
    assert_eq!(count(decode_pit(&s)), ("PIT channels", 2, 3));
    // A count the bytes left cannot hold is refused before anything is allocated.
    let s = with(2, IRQC, patched(&irqc.data, io_pins, u32::MAX));
    assert!(matches!(
        decode_irqchip(&s),
        Err(X86SnapshotError::Codec(CodecError::Truncated(_)))
    ));
    let v1 = v1_irqc(&vm.irqchip, 0);
    assert_eq!(
        count(decode_irqchip(&with(1, IRQC, patched(&v1, 0, 2)))),
        ("irqchips", 2, 3)
    );

    let mut x = sample_vcpu();
    x.cpuid = vec![x.cpuid[0]; MAX_CPUID_ENTRIES];
    assert!(decode_vcpu(&encode_vcpu(&x)).is_ok());
    x.cpuid.push(x.cpuid[0]);
    assert!(matches!(
        decode_vcpu(&encode_vcpu(&x)),
        Err(X86SnapshotError::CpuidCount(257))
    ));
    let x = encode_vcpu(&sample_vcpu());
    assert!(matches!(
        decode_vcpu(&patched(&x, 6, u32::MAX)),
        Err(X86SnapshotError::Codec(CodecError::Truncated(_)))
    ));
}

#[test]
fn version_1_structure_is_checked() {
    let vm = sample_vm();
    let v1 = v1_irqc(&vm.irqchip, 0);
    // Entry 1 names chip 2 (outside, then inside the struct).
    let e = decode_irqchip(&with(1, IRQC, patched(&v1, 4 + 528, 2))).unwrap_err();
    assert!(
        matches!(e, X86SnapshotError::V1ChipId { index: 1, id: 2 }),
        "{e}"
    );
    let e = decode_irqchip(&with(1, IRQC, patched(&v1, 4 + 528 + 8, 0))).unwrap_err();
    assert!(
        matches!(e, X86SnapshotError::V1ChipId { index: 1, id: 0 }),
        "{e}"
    );
    // A struct copy of another size.
    let mut short = v1.clone();
    short[8..12].copy_from_slice(&519u32.to_le_bytes());
    short.remove(12);
    let e = decode_irqchip(&with(1, IRQC, short)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "struct kvm_irqchip in a version-1 section is 519 bytes, not 520"
    );
    let mut pit = v1_pit(&vm.pit.unwrap(), 0);
    pit.pop();
    assert!(matches!(
        decode_pit(&with(1, PIT2, pit)),
        Err(X86SnapshotError::V1Length { len: 111, .. })
    ));
}

#[test]
fn out_of_range_fields_are_refused() {
    type Patch = fn(&mut VmState);
    let cases: [(Patch, &str); 19] = [
        (
            |s| s.irqchip.pic[0].priority_add = 8,
            "master PIC priority_add is 0x8",
        ),
        (
            |s| s.irqchip.pic[1].irq_base = 0x29,
            "slave PIC irq_base is 0x29",
        ),
        (
            |s| s.irqchip.pic[0].init_state = 4,
            "master PIC init_state is 0x4",
        ),
        (|s| s.irqchip.pic[1].poll = 2, "slave PIC poll is 0x2"),
        (
            |s| s.irqchip.pic[0].read_reg_select = 2,
            "master PIC read_reg_select",
        ),
        (
            |s| s.irqchip.pic[0].special_mask = 2,
            "master PIC special_mask",
        ),
        (|s| s.irqchip.pic[1].auto_eoi = 3, "slave PIC auto_eoi"),
        (|s| s.irqchip.pic[1].init4 = 0xff, "slave PIC init4"),
        (
            |s| s.irqchip.ioapic.ioregsel = 0x100,
            "IOAPIC ioregsel is 0x100",
        ),
        (|s| s.irqchip.ioapic.id = 16, "IOAPIC id is 0x10"),
        (
            |s| s.irqchip.ioapic.irr = 1 << 24,
            "IOAPIC irr is 0x1000000",
        ),
        (
            |s| s.pit.as_mut().unwrap().channels[0].count = 0x1_0001,
            "PIT channel 0 count is 0x10001",
        ),
        (
            |s| s.pit.as_mut().unwrap().channels[1].mode = 6,
            "PIT channel 1 mode is 0x6",
        ),
        (
            |s| s.pit.as_mut().unwrap().channels[2].rw_mode = 4,
            "PIT channel 2 rw_mode is 0x4",
        ),
        (
            |s| s.pit.as_mut().unwrap().channels[2].read_state = 5,
            "PIT channel 2 read_state",
        ),
        (
            |s| s.pit.as_mut().unwrap().channels[0].count_latched = 4,
            "PIT channel 0 count_latched",
        ),
        (
            |s| s.pit.as_mut().unwrap().channels[1].gate = 2,
            "PIT channel 1 gate is 0x2",
        ),
        (
            |s| s.pit.as_mut().unwrap().channels[0].bcd = 2,
            "PIT channel 0 bcd",
        ),
        (|s| s.pit.as_mut().unwrap().flags = 4, "PIT flags is 0x4"),
    ];
    for (patch, message) in cases {
        let mut vm = sample_vm();
        patch(&mut vm);
        let v2 = envelope(encode_vm(&vm));
        let v1 = envelope(vec![
            with(1, IRQC, v1_irqc(&vm.irqchip, 0)),
            with(1, PIT2, v1_pit(&vm.pit.unwrap(), 0)),
            clock_section(&vm.clock),
        ]);
        for env in [v2, v1] {
            let e = decode_vm(&env).unwrap_err();
            assert!(matches!(e, X86SnapshotError::Field { .. }), "{e}");
            assert!(e.to_string().starts_with(message), "{e} / {message}");
        }
    }
    let mut x = sample_vcpu();
    x.cpuid[2].flags = 8;
    let e = decode_vcpu(&encode_vcpu(&x)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "CPUID entry 2 (leaf 0xd) flags is 0x8, which is not KVM_CPUID_FLAG_* bits"
    );
}

#[test]
fn versions_and_missing_sections() {
    let vm = sample_vm();
    let mut sections = encode_vm(&vm);
    sections[1].version = 3;
    let e = decode_vm(&envelope(sections.clone())).unwrap_err();
    assert_eq!(
        e.to_string(),
        "section PIT2 version 3 is newer than this tetra's 2"
    );
    sections[1].version = 0;
    let e = decode_vm(&envelope(sections.clone())).unwrap_err();
    assert!(
        matches!(e, X86SnapshotError::Codec(CodecError::Older { .. })),
        "{e}"
    );
    // PIT2 is optional (a VM without a PIT); the others are not.
    sections.remove(1);
    assert_eq!(decode_vm(&envelope(sections.clone())).unwrap().pit, None);
    sections.remove(1);
    let e = decode_vm(&envelope(sections)).unwrap_err();
    assert_eq!(e.to_string(), "section CLCK is missing");
    let mut c = clock_section(&vm.clock);
    c.version = 2;
    assert!(decode_clock(&c).is_err());

    let mut x = encode_vcpu(&sample_vcpu());
    x[4] = 3;
    assert_eq!(
        decode_vcpu(&x).unwrap_err().to_string(),
        "section XVCP version 3 is newer than this tetra's 2"
    );
    x[4] = 1;
    assert!(decode_vcpu(&x).is_err(), "version 1 has no header");
}

#[test]
fn random_mutations_never_panic() {
    let mut inputs: Vec<Vec<u8>> = every_section_form().into_iter().map(|s| s.data).collect();
    inputs.push(encode_vcpu(&sample_vcpu()));
    inputs.push(v1_vcpu(&sample_vcpu()));
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let forms = every_section_form();
    let mut accepted = 0;
    for _ in 0..4000 {
        let i = (next() % inputs.len() as u64) as usize;
        let mut b = inputs[i].clone();
        for _ in 0..1 + next() % 3 {
            let at = (next() % b.len() as u64) as usize;
            b[at] = next() as u8;
        }
        let ok = match forms.get(i) {
            Some(s) => decode_section(&Section::new(&s.tag, s.version, b)).is_ok(),
            None => decode_vcpu(&b).is_ok(),
        };
        accepted += usize::from(ok);
    }
    assert!(accepted > 0, "mutating free-form bytes still decodes");
}

#[test]
fn a_vm_without_a_pit_has_no_pit2_section_and_decodes_so() {
    let mut vm = sample_vm();
    vm.pit = None;
    let sections = encode_vm(&vm);
    assert!(sections.iter().all(|s| s.tag != PIT2.tag));
    let mut env = Envelope::new(SNAPSHOT_MAGIC);
    for s in sections {
        env.push(s);
    }
    assert_eq!(decode_vm(&env).unwrap(), vm);
    // With one, the section is there and decodes back.
    let vm = sample_vm();
    let mut env = Envelope::new(SNAPSHOT_MAGIC);
    for s in encode_vm(&vm) {
        env.push(s);
    }
    assert!(env.section(&PIT2.tag).is_some());
    assert_eq!(decode_vm(&env).unwrap(), vm);
}
