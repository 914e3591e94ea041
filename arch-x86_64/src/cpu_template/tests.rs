use super::*;

fn entry(function: u32, index: u32, v: u32) -> CpuidEntry {
    CpuidEntry {
        function,
        index,
        eax: v,
        ebx: v,
        ecx: v,
        edx: v,
        ..Default::default()
    }
}

fn host() -> Vec<CpuidEntry> {
    vec![
        CpuidEntry {
            eax: 0x1f,
            ..entry(0, 0, 0)
        },
        entry(1, 0, !0),
        entry(7, 0, !0),
        entry(7, 1, !0),
        entry(0xd, 0, !0),
        entry(0x1f, 0, 7),
        entry(KVM_FEATURES_LEAF, 0, !0),
    ]
}

fn no_file(p: &str) -> Result<String, TemplateError> {
    panic!("read {p}")
}

#[test]
fn names_are_unique_and_baseline_names_exist() {
    for (i, f) in FEATURES.iter().enumerate() {
        assert!(FEATURES[..i].iter().all(|g| g.name != f.name), "{}", f.name);
        assert_ne!(f.bits.mask, 0);
    }
    for n in BASELINE {
        assert!(feature(n).is_some(), "{n}");
    }
}

#[test]
fn none_and_absent_withhold_nothing() {
    assert!(CpuTemplate::resolve(None).unwrap().is_none());
    let t = CpuTemplate::resolve_with("none", no_file).unwrap();
    assert!(t.is_none());
    let mut c = host();
    t.apply(&mut c);
    assert_eq!(c, host());
}

#[test]
fn one_kvm_feature_is_withheld_and_nothing_else() {
    let t = CpuTemplate::resolve_with("-kvm-pv-unhalt", no_file).unwrap();
    assert_eq!(t.name, "-kvm-pv-unhalt");
    let mut c = host();
    t.apply(&mut c);
    for (a, b) in c.iter().zip(host()) {
        if a.function == KVM_FEATURES_LEAF {
            assert_eq!(a.eax, !(1 << 7));
            assert_eq!((a.ebx, a.ecx, a.edx), (b.ebx, b.ecx, b.edx));
        } else {
            assert_eq!(*a, b);
        }
    }
}

#[test]
fn every_name_the_x86_lane_bisects_resolves() {
    for n in [
        "kvm-pv-unhalt",
        "kvm-pv-ipi",
        "kvm-pv-tlb-flush",
        "kvm-pv-sched-yield",
        "kvm-asyncpf",
        "kvm-asyncpf-int",
        "kvm-steal-time",
        "kvm-pv-eoi",
        "kvmclock",
        "kvmclock2",
        "kvm-poll-control",
        "kvm-msi-ext-dest-id",
    ] {
        let t = CpuTemplate::resolve_with(&format!("-{n}"), no_file).unwrap();
        assert_eq!(t.withheld.len(), 1, "{n}");
        assert_eq!(t.withheld[0].leaf, KVM_FEATURES_LEAF, "{n}");
        assert_eq!(t.withheld[0].mask.count_ones(), 1, "{n}");
    }
}

#[test]
fn baseline_withholds_avx512_and_amx_and_keeps_avx2() {
    let t = CpuTemplate::resolve_with("baseline,-kvm-pv-ipi", no_file).unwrap();
    let mut c = host();
    t.apply(&mut c);
    let get = |leaf, sub| {
        c.iter()
            .find(|e| e.function == leaf && e.index == sub)
            .unwrap()
    };
    let l7 = get(7, 0);
    assert_eq!(l7.ebx & (1 << 16), 0, "avx512f");
    assert_ne!(l7.ebx & (1 << 5), 0, "avx2");
    assert_eq!(l7.edx & (1 << 24), 0, "amx-tile");
    assert_eq!(
        get(0xd, 0).eax & 0x600e0,
        0,
        "the AVX-512 and AMX XSAVE components"
    );
    assert_ne!(get(0xd, 0).eax & 0b111, 0, "x87, SSE, AVX state");
    assert_eq!(get(KVM_FEATURES_LEAF, 0).eax, !(1 << 11));
    assert_eq!(*get(1, 0), entry(1, 0, !0));
    // Every named feature baseline withholds is reported missing on a host without it, and
    // nothing else.
    let missing = CpuTemplate::missing(&feature_words(&host()), &c);
    assert!(missing.contains(&"avx512f") && missing.contains(&"kvm-pv-ipi"));
    assert!(!missing.contains(&"avx2"));
    assert!(CpuTemplate::missing(&feature_words(&c), &host()).is_empty());
}

#[test]
fn unknown_names_are_refused_by_name() {
    for (spec, msg) in [
        ("-avx513", "unknown CPU feature 'avx513'"),
        ("baseline,-kvm-pv-nope", "unknown CPU feature 'kvm-pv-nope'"),
        ("skylake", "unknown CPU template 'skylake'"),
        ("baseline,none", "'none': only the first item"),
        ("baseline,,-avx2", "an empty CPU template item"),
        ("", "an empty CPU template item"),
    ] {
        let e = CpuTemplate::resolve_with(spec, no_file).unwrap_err();
        assert!(e.to_string().starts_with(msg), "{spec}: {e}");
    }
}

#[test]
fn a_file_template_resolves_like_the_spec() {
    let json = r#"{"base": "baseline", "withhold": ["kvm-pv-unhalt"],
        "withhold_bits": [{"leaf": 1, "register": "ecx", "bit": 21}], "max_basic_leaf": 13}"#;
    let t = CpuTemplate::resolve_with("/t/x.json,-avx2", |p| {
        assert_eq!(p, "/t/x.json");
        Ok(json.into())
    })
    .unwrap();
    let same = CpuTemplate::resolve_with("baseline,-kvm-pv-unhalt,-x2apic,-avx2", no_file).unwrap();
    assert_eq!(t.withheld, same.withheld);
    assert_eq!(t.max_basic_leaf, Some(13));
    let mut c = host();
    t.apply(&mut c);
    assert_eq!(c[0].eax, 13);
    assert!(c.iter().all(|e| e.function != 0x1f));
    assert!(c.iter().any(|e| e.function == KVM_FEATURES_LEAF));

    for (json, msg) in [
        (r#"{"withhold": ["nope"]}"#, "unknown CPU feature 'nope'"),
        (
            r#"{"base": "a/b.json"}"#,
            "CPU template file t.json: its base",
        ),
        (r#"{"base": "x"}"#, "unknown CPU template 'x'"),
        (
            r#"{"withhold_bits": [{"leaf": 1, "register": "ecx", "bit": 32}]}"#,
            "CPU template file t.json: bit 32",
        ),
        (r#"{"withold": []}"#, "CPU template file t.json"),
    ] {
        let e = CpuTemplate::resolve_with("t.json", |_| Ok(json.into())).unwrap_err();
        assert!(e.to_string().starts_with(msg), "{json}: {e}");
    }
}

#[test]
fn missing_names_what_the_host_lacks() {
    let mut small = host();
    small[2].ebx &= !(1 << 16);
    small[6].eax &= !(1 << 7);
    assert_eq!(
        CpuTemplate::missing(&feature_words(&host()), &small),
        vec!["avx512f", "kvm-pv-unhalt"]
    );
}

#[test]
fn kept_names_what_kvm_did_not_withhold() {
    let t = CpuTemplate::resolve_with("-avx2,-kvm-pv-ipi", no_file).unwrap();
    let mut c = host();
    t.apply(&mut c);
    assert!(t.kept(&c).is_empty());
    // A KVM that keeps leaf 7 as it likes (PVM).
    c[2] = entry(7, 0, !0);
    assert_eq!(t.kept(&c), vec!["avx2"]);
    let raw = CpuTemplate::resolve_with("x.json", |_| {
        Ok(r#"{"withhold_bits": [{"leaf": 7, "register": "ebx", "bit": 2}]}"#.into())
    })
    .unwrap();
    assert_eq!(raw.kept(&c), vec!["0x7.0 ebx bits 0x4"]);
}
