use super::*;
use vmm_core::snapshot::Envelope;

const MPIDRS: [u64; 3] = [0x8000_0000, 0x8000_0001, 0x8000_0102];

fn sample_vm(its: bool) -> VmState {
    let bank = |n: u32| SpiBank {
        bank: IrqBank {
            group: 0xffff_ffff - n,
            enable: 0x0000_0003 << n,
            pending: 0x10 + n,
            active: 0x100 << n,
            grpmod: n,
            level: 0x8000_0000 >> n,
            config: [0x5555_0000 + n, 0xaaaa_0000 + n],
            priority: std::array::from_fn(|i| (i as u8) * 8 + n as u8),
        },
        router: std::array::from_fn(|i| (i as u64) << (n * 8)),
    };
    let redist = |i: usize| RedistState {
        mpidr: MPIDRS[i],
        ctlr: i as u32 & 1,
        statusr: 0,
        propbaser: 0x4000_0000 + i as u64,
        pendbaser: 0x5000_0000 + ((i as u64) << 16),
        bank: IrqBank {
            group: 0xffff_ffff,
            enable: 0x0800_ffff >> i,
            pending: 1 << i,
            active: 2 << i,
            grpmod: 0,
            level: 0x0800_0000 * i as u32,
            config: [0xaaaa_aaaa, 0x5000_0000 | i as u32],
            priority: std::array::from_fn(|j| (j + i) as u8 & 0xf8),
        },
    };
    let icc = |i: usize| {
        let aprs = [1, 2, 4][i];
        IccState {
            mpidr: MPIDRS[i],
            sre: 7,
            ctlr: [4u64, 5, 6][i] << 8 | 0x4_0000,
            pmr: 0xf0 - 0x10 * i as u64,
            bpr0: 2,
            bpr1: 3,
            igrpen0: 0,
            igrpen1: 1,
            ap0r: (0..aprs).map(|n| n + 0x10 * i as u64).collect(),
            ap1r: (0..aprs).map(|n| n + 0x100).collect(),
        }
    };
    VmState {
        dist: DistState {
            nr_irqs: 128,
            ctlr: 0x12,
            iidr: 0x0200_143b,
            statusr: 0,
            spis: (0..3).map(bank).collect(),
        },
        redists: (0..3).map(redist).collect(),
        iccs: (0..3).map(icc).collect(),
        its: its.then_some(ItsState {
            iidr: 0x4b00_043b,
            typer: 0x0000_0000_0f00_80f1,
            ctlr: 1,
            cbaser: 0x8000_0000_4010_0000,
            creadr: 0x20,
            cwriter: 0x40,
            baser: std::array::from_fn(|n| match n {
                0 => 0x8100_0000_4020_0000 | (7 << 48),
                1 => 0x8400_0000_4030_0000 | (7 << 48),
                _ => 0,
            }),
        }),
    }
}

fn envelope(sections: Vec<Section>) -> Envelope {
    let mut env = Envelope::new(SNAPSHOT_MAGIC);
    sections.into_iter().for_each(|s| env.push(s));
    env
}

#[test]
fn vm_state_round_trips_with_and_without_an_its() {
    for its in [false, true] {
        let s = sample_vm(its);
        let sections = encode_vm(&s);
        assert_eq!(sections.len(), 3 + usize::from(its));
        for sec in &sections {
            assert!(VM_STATE_TAGS.contains(&sec.tag));
            assert!(!sec.optional);
        }
        let env = Envelope::decode(&envelope(sections).encode(), None).unwrap();
        assert_eq!(decode_vm(&env).unwrap(), s);
    }
}

#[test]
fn sizes_are_the_documented_ones() {
    let s = sample_vm(true);
    assert_eq!(dist_section(&s.dist).data.len(), 20 + 3 * 320);
    assert_eq!(redist_section(&s.redists).data.len(), 4 + 3 * 96);
    // 1, 2 and 4 pairs of AP registers.
    assert_eq!(icc_section(&s.iccs).data.len(), 4 + 3 * 68 + 16 * 7);
    assert_eq!(its_section(s.its.as_ref().unwrap()).data.len(), 48 + 4 + 64);
    let x = VcpuExtra {
        mpidr: MPIDRS[1],
        mp_state: 5,
    };
    let b = encode_vcpu(&x);
    assert_eq!(b.len(), 18);
    assert_eq!(&b[..6], b"A64V\x01\x00");
    assert_eq!(decode_vcpu(&b).unwrap(), x);
}

#[test]
fn the_mpidr_attribute_field_is_the_affinity() {
    assert_eq!(mpidr_attr(0x8000_0000), 0);
    assert_eq!(mpidr_attr(0x8000_0001), 1 << 32);
    assert_eq!(mpidr_attr(0x0000_0001_8012_3405), 0x0112_3405 << 32);
    assert_eq!(icc::instr(icc::PMR), 0xc230);
    assert_eq!(icc::instr(icc::CTLR), 0xc664);
    assert_eq!(icc::instr(icc::ap1r(3)), 0xc64b);
    assert_eq!(icc::ap0r(0), icc::AP0R0);
    assert_eq!(icc::ap1r(0), icc::AP1R0);
    assert_eq!(gits::revision(0x4b00_143b), 1);
    assert_eq!(DistState::banks_for(64), Some(1));
    assert_eq!(DistState::banks_for(1024), Some(31));
    for bad in [0, 32, 63, 65, 1056] {
        assert_eq!(DistState::banks_for(bad), None);
    }
}

#[test]
fn every_truncation_is_refused() {
    let s = sample_vm(true);
    for sec in encode_vm(&s) {
        for len in 0..sec.data.len() {
            let mut cut = sec.clone();
            cut.data.truncate(len);
            let r = match &sec.tag {
                b"GICD" => decode_dist(&cut).map(|_| ()),
                b"GICR" => decode_redists(&cut).map(|_| ()),
                b"ICCR" => decode_iccs(&cut).map(|_| ()),
                _ => decode_its(&cut).map(|_| ()),
            };
            let e = r.expect_err("a truncated section was accepted");
            assert!(
                matches!(e, Arm64SnapshotError::Codec(CodecError::Truncated(_))),
                "{} cut at {len}: {e}",
                sec.tag_str()
            );
        }
        let mut long = sec.clone();
        long.data.push(0);
        let env = envelope(
            encode_vm(&s)
                .into_iter()
                .map(|x| if x.tag == sec.tag { long.clone() } else { x })
                .collect(),
        );
        let e = decode_vm(&env).unwrap_err();
        assert!(
            matches!(e, Arm64SnapshotError::Codec(CodecError::Trailing(_))),
            "{e}"
        );
    }
    let b = encode_vcpu(&VcpuExtra::default());
    for len in 0..b.len() {
        assert!(decode_vcpu(&b[..len]).is_err(), "vCPU extra cut at {len}");
    }
    let mut long = b.clone();
    long.push(0);
    assert!(matches!(
        decode_vcpu(&long),
        Err(Arm64SnapshotError::Codec(CodecError::Trailing(_)))
    ));
}

#[test]
fn missing_and_newer_sections_are_named() {
    let env = Envelope::new(SNAPSHOT_MAGIC);
    let e = Arm64SnapshotError::from(GICR.require(&env).unwrap_err());
    assert_eq!(e.to_string(), "section GICR is missing");
    let s = sample_vm(false);
    for skip in 0..3 {
        let mut v = encode_vm(&s);
        let tag = v.remove(skip).tag_str();
        let e = decode_vm(&envelope(v)).unwrap_err();
        assert_eq!(e.to_string(), format!("section {tag} is missing"));
    }
    for (i, spec) in SECTIONS.iter().enumerate() {
        let mut v = encode_vm(&sample_vm(true));
        v[i].version = spec.current + 1;
        let e = decode_vm(&envelope(v)).unwrap_err();
        assert!(
            e.to_string().contains(&format!("section {}", spec.name())),
            "{e}"
        );
        assert!(e.to_string().contains("newer"), "{e}");
    }
    let mut b = encode_vcpu(&VcpuExtra::default());
    b[4] = 2;
    assert!(decode_vcpu(&b).unwrap_err().to_string().contains("newer"));
}

#[test]
fn bad_counts_and_fields_are_refused_by_name() {
    let s = sample_vm(true);
    // An interrupt count KVM never takes.
    let mut d = s.dist.clone();
    d.nr_irqs = 100;
    let e = decode_dist(&dist_section(&d)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "section GICD: nr_irqs is 0x64, which is not 64 to 1024, a multiple of 32"
    );
    // Banks that do not match the count.
    let mut d = s.dist.clone();
    d.nr_irqs = 160;
    let e = decode_dist(&dist_section(&d)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "section GICD: SPI banks for 160 interrupt ids: 3, where 4 are needed"
    );
    // A huge bank count is refused before allocating.
    let mut b = dist_section(&s.dist);
    b.data[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        decode_dist(&b),
        Err(Arm64SnapshotError::Codec(CodecError::Truncated(_)))
    ));
    // vCPU counts: zero, huge.
    for sec in [redist_section(&[]), icc_section(&[])] {
        let r = if sec.tag == GICR.tag {
            decode_redists(&sec).map(|_| ())
        } else {
            decode_iccs(&sec).map(|_| ())
        };
        let e = r.unwrap_err().to_string();
        assert!(e.contains("the vCPU count is 0x0"), "{e}");
    }
    let mut sec = redist_section(&s.redists);
    sec.data[..4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        decode_redists(&sec),
        Err(Arm64SnapshotError::Codec(CodecError::Truncated(_)))
    ));
    // The same vCPU twice.
    let mut rs = s.redists.clone();
    rs[2].mpidr = rs[0].mpidr;
    let e = decode_redists(&redist_section(&rs)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "section GICR holds the vCPU with MPIDR 0x80000000 twice"
    );
    let mut cs = s.iccs.clone();
    cs[1].mpidr = cs[2].mpidr;
    let e = decode_iccs(&icc_section(&cs)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "section ICCR holds the vCPU with MPIDR 0x80000102 twice"
    );
    // AP registers that PRIbits does not imply, and a PRIbits KVM never has.
    let mut cs = s.iccs.clone();
    cs[1].ap0r.push(9);
    cs[1].ap1r.push(9);
    let e = decode_iccs(&icc_section(&cs)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "section ICCR, the vCPU with MPIDR 0x80000001: ICC_AP<g>R<n> registers: 3, where 2 are \
         needed"
    );
    let mut cs = s.iccs.clone();
    cs[0].ctlr = 7 << 8;
    let e = decode_iccs(&icc_section(&cs)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "section ICCR, the vCPU with MPIDR 0x80000000: ICC_CTLR_EL1.PRIbits is 0x7, which is not \
         4, 5 or 6 (5 to 7 priority bits)"
    );
    // Another ITS table ABI, another GITS_BASER count.
    let mut its = s.its.unwrap();
    its.iidr |= 1 << 12;
    let e = decode_its(&its_section(&its)).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("section ITSR: GITS_IIDR.Revision"),
        "{e}"
    );
    let mut sec = its_section(&s.its.unwrap());
    sec.data[48..52].copy_from_slice(&7u32.to_le_bytes());
    sec.data.truncate(52 + 7 * 8);
    let e = decode_its(&sec).unwrap_err();
    assert_eq!(
        e.to_string(),
        "section ITSR: GITS_BASER registers: 7, where 8 are needed"
    );
    // vCPU extra: a foreign tag, an unknown power state.
    let mut b = encode_vcpu(&VcpuExtra::default());
    b[0] = b'X';
    assert!(decode_vcpu(&b).unwrap_err().to_string().contains("tag"));
    let b = encode_vcpu(&VcpuExtra {
        mpidr: 0x8000_0001,
        mp_state: 3,
    });
    assert_eq!(
        decode_vcpu(&b).unwrap_err().to_string(),
        "the power state (mp_state) of the vCPU with MPIDR 0x80000001 is 0x3, which is not 0 \
         (runnable), 5 (stopped) or 10 (suspended)"
    );
}

#[test]
fn a_state_for_another_vm_is_refused_by_name() {
    let s = sample_vm(true);
    let its = s.its.unwrap();
    s.check_against(128, &MPIDRS, Some(&its)).unwrap();
    // The vCPUs may come in any order: they are keyed by MPIDR.
    let mut shuffled = s.clone();
    shuffled.redists.reverse();
    shuffled.iccs.rotate_left(1);
    shuffled.check_against(128, &MPIDRS, Some(&its)).unwrap();
    assert_eq!(shuffled.redist(MPIDRS[1]), s.redist(MPIDRS[1]));
    assert_eq!(shuffled.icc(MPIDRS[2]), s.icc(MPIDRS[2]));

    let e = s.check_against(256, &MPIDRS, Some(&its)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "section GICD: the snapshot's GIC has 128 interrupt ids (nr_irqs), this VM's has 256"
    );
    let e = s
        .check_against(128, &[MPIDRS[0], MPIDRS[1], 0x8000_0002], Some(&its))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "section GICR has no state for this VM's vCPU 2 (MPIDR 0x80000002)"
    );
    let e = s.check_against(128, &MPIDRS[..2], Some(&its)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "section GICR holds a vCPU with MPIDR 0x80000102, which this VM does not have"
    );
    let mut fewer = s.clone();
    fewer.iccs.pop();
    let e = fewer.check_against(128, &MPIDRS, Some(&its)).unwrap_err();
    assert!(
        e.to_string().starts_with("section ICCR has no state"),
        "{e}"
    );

    let e = s.check_against(128, &MPIDRS, None).unwrap_err();
    assert_eq!(
        e.to_string(),
        "the snapshot has an ITS (section ITSR), this VM has none"
    );
    let e = sample_vm(false)
        .check_against(128, &MPIDRS, Some(&its))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "this VM has an ITS, the snapshot has none (no section ITSR)"
    );

    let mut other = its;
    other.typer ^= 0xf0;
    let e = s.check_against(128, &MPIDRS, Some(&other)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "section ITSR: GITS_TYPER is 0xf0080f1 in the snapshot, 0xf008001 in this VM's ITS"
    );
    let mut other = its;
    other.baser[1] = (other.baser[1] & !(0x1f << 48)) | (15 << 48);
    let e = s.check_against(128, &MPIDRS, Some(&other)).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("section ITSR: GITS_BASER1 type and entry size is 0x407000000000000 in the snapshot, 0x40f000000000000"),
        "{e}"
    );
    // The guest's own fields (address, valid, size) are not geometry.
    let mut fresh = its;
    fresh.baser = std::array::from_fn(|n| its.baser[n] & gits::BASER_GEOMETRY);
    fresh.ctlr = 0;
    s.check_against(128, &MPIDRS, Some(&fresh)).unwrap();

    let x = VcpuExtra {
        mpidr: MPIDRS[1],
        mp_state: 0,
    };
    x.check_mpidr(MPIDRS[1]).unwrap();
    assert_eq!(
        x.check_mpidr(MPIDRS[2]).unwrap_err().to_string(),
        "the vCPU state saved for MPIDR 0x80000001 was given to the vCPU with MPIDR 0x80000102"
    );
}

#[test]
fn random_bytes_never_panic() {
    let mut seed = 0x1234_5678_9abc_def0u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let good = encode_vm(&sample_vm(true));
    for _ in 0..2000 {
        for sec in &good {
            let mut s = sec.clone();
            let i = next() as usize % s.data.len();
            s.data[i] ^= 1 << (next() % 8);
            let _ = match &s.tag {
                b"GICD" => decode_dist(&s).map(|_| ()),
                b"GICR" => decode_redists(&s).map(|_| ()),
                b"ICCR" => decode_iccs(&s).map(|_| ()),
                _ => decode_its(&s).map(|_| ()),
            };
        }
        let mut b = encode_vcpu(&VcpuExtra::default());
        let i = next() as usize % b.len();
        b[i] ^= 1 << (next() % 8);
        let _ = decode_vcpu(&b);
    }
}
