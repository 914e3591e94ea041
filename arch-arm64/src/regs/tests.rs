use super::*;
use vmm_core::regs::id::arm64_sysreg;
use vmm_core::regs::{format, RegLoc};

#[test]
fn core_ids_match_the_kernel() {
    let t = table();
    // Values of KVM_REG_ARM64 | size | KVM_REG_ARM_CORE | KVM_REG_ARM_CORE_REG(...) (see kvm-ioctls'
    // arm64 tests and the uapi offsets of struct kvm_regs).
    let id = |n: &str| t.by_name(n).unwrap().id.raw();
    assert_eq!(id("x0"), 0x6030_0000_0010_0000);
    assert_eq!(id("x30"), 0x6030_0000_0010_003c);
    assert_eq!(id("sp"), 0x6030_0000_0010_003e);
    assert_eq!(id("pc"), 0x6030_0000_0010_0040);
    assert_eq!(id("pstate"), 0x6030_0000_0010_0042);
    assert_eq!(id("sp_el1"), 0x6030_0000_0010_0044);
    assert_eq!(id("elr_el1"), 0x6030_0000_0010_0046);
    assert_eq!(id("spsr_el1"), 0x6030_0000_0010_0048);
    assert_eq!(id("spsr_fiq"), 0x6030_0000_0010_0050);
    assert_eq!(id("v0"), 0x6040_0000_0010_0054);
    assert_eq!(id("v31"), 0x6040_0000_0010_00d0);
    assert_eq!(id("fpsr"), 0x6020_0000_0010_00d4);
    assert_eq!(id("fpcr"), 0x6020_0000_0010_00d5);
    assert!(t
        .iter()
        .all(|r| r.loc == RegLoc::OneReg && !r.id.is_private()));
}

#[test]
fn timer_ids_are_kvms_swapped_ones() {
    let t = table();
    let cval = t.by_name("cntv_cval_el0").unwrap().id;
    let cnt = t.by_name("cntvct_el0").unwrap().id;
    // KVM_REG_ARM_TIMER_CVAL = ARM64_SYS_REG(3, 3, 14, 0, 2), the architectural CNTVCT_EL0.
    assert_eq!(cval, arm64_sysreg(3, 3, 14, 0, 2));
    assert_eq!(cval.raw(), 0x6030_0000_0013_df02);
    assert_eq!(cnt, arm64_sysreg(3, 3, 14, 3, 2));
    assert_eq!(cnt.raw(), 0x6030_0000_0013_df1a);
    assert_eq!(reg_name(cval), "cntv_cval_el0");
    assert_eq!(reg_name(cnt), "cntvct_el0");
    assert_eq!(
        t.by_name("cntv_cval_el0").unwrap().uapi,
        "KVM_REG_ARM_TIMER_CVAL"
    );
}

#[test]
fn decoder_names_any_id() {
    let sysreg = RegId::new(RegArch::Arm64, ARM64_SET_SYSREG, 0xc081, RegSize::U64);
    assert_eq!(reg_name(sysreg), "actlr_el1");
    assert_eq!(reg_name(arm64_sysreg(3, 0, 0, 2, 1)), "s3_0_c0_c2_1");
    assert_eq!(reg_name(arm64_sysreg(2, 0, 0, 2, 2)), "mdscr_el1");
    let core = |off, size| RegId::new(RegArch::Arm64, ARM64_SET_CORE, off, size);
    assert_eq!(reg_name(core(6, RegSize::U64)), "x3");
    assert_eq!(reg_name(core(7, RegSize::U64)), "core+0x7_u64");
    assert_eq!(reg_name(core(88, RegSize::U128)), "v1");
    assert_eq!(reg_name(core(88, RegSize::U64)), "core+0x58_u64");
    let sve = |n, size| RegId::new(RegArch::Arm64, ARM64_SET_SVE, n, size);
    // KVM_REG_ARM64_SVE_ZREG(5, 0), _PREG(2, 1), _FFR(0), _VLS.
    assert_eq!(reg_name(sve(5 << 5, RegSize::U2048)), "z5_0");
    assert_eq!(reg_name(sve(0x400 | (2 << 5) | 1, RegSize::U256)), "p2_1");
    assert_eq!(reg_name(sve(0x600, RegSize::U256)), "ffr_0");
    assert_eq!(reg_name(sve(0xffff, RegSize::U512)), "sve_vls");
    assert_eq!(
        reg_name(RegId::new(RegArch::Arm64, ARM64_SET_DEMUX, 3, RegSize::U32)),
        "ccsidr3"
    );
    assert_eq!(
        reg_name(RegId::new(RegArch::Arm64, ARM64_SET_FW, 0, RegSize::U64)),
        "psci_version"
    );
    assert_eq!(
        reg_name(RegId::new(RegArch::Arm64, ARM64_SET_FW, 9, RegSize::U64)),
        "fw_9"
    );
    assert_eq!(
        reg_name(RegId::new(RegArch::Arm64, 0x77, 9, RegSize::U64)),
        "arm64_0x6030000000770009"
    );
}

#[test]
fn table_from_a_reg_list() {
    let list = [
        0x6030_0000_0010_0040u64, // pc
        0x6030_0000_0013_df02,    // KVM's CNTV_CVAL
        0x6030_0000_0013_c011,    // s3_0_c0_c2_1 (ID_ISAR? space)
        0x6030_0000_0013_c082,    // cpacr_el1
        0x6020_0000_0011_0000,    // ccsidr0
        0x6030_0000_0010_0040,    // a duplicate
        0x6030_0000_0099_0000,    // an unknown group
        0x1030_0000_0000_008c,    // another arch
    ];
    let (t, unknown) = table_from_reg_list(&list).unwrap();
    let names: Vec<&str> = t.iter().map(|r| r.name.as_ref()).collect();
    assert_eq!(
        names,
        [
            "pc",
            "cntv_cval_el0",
            "s3_0_c0_c2_1",
            "cpacr_el1",
            "ccsidr0"
        ]
    );
    assert_eq!(unknown.len(), 2);
    assert!(t
        .by_name("s3_0_c0_c2_1")
        .unwrap()
        .attrs
        .contains(RegAttrs::GUEST_RO));
    assert!(!t
        .by_name("cpacr_el1")
        .unwrap()
        .attrs
        .contains(RegAttrs::GUEST_RO));
    assert_eq!(t.saved_ids().len(), 5);
}

#[test]
fn printed_table() {
    let text = format::table_text(table());
    let pc = text.lines().find(|l| l.starts_with("pc ")).unwrap();
    let cells: Vec<&str> = pc.split_whitespace().collect();
    assert_eq!(
        cells,
        [
            "pc",
            "core",
            "0x40",
            "U64",
            "rw",
            "0x6030000000100040",
            "ONE_REG"
        ]
    );
    assert!(text.contains("0 ids are tetra's own"));
}

#[test]
fn every_register_has_a_uapi_expression() {
    for r in table().iter() {
        assert!(!r.uapi.is_empty(), "{}", r.name);
    }
    assert_eq!(abi_facts().len(), table().len());
}
