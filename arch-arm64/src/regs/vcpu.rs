//! An arm64 vCPU's registers through vmm-core's register model: every arm64 register is a
//! ONE_REG register, so any backend vCPU ([`VcpuOps`]) serves the whole table.

use super::{core, table};
use vmm_core::hypervisor::{HvError, VcpuOps};
use vmm_core::regs::id::{arm64_core, arm64_sysreg};
use vmm_core::regs::{RegId, RegSize, VcpuRegs};

/// The ONE_REG id of MPIDR_EL1 (what KVM derived from the vCPU id; the device tree's cpu `reg`).
pub const MPIDR_EL1: RegId = arm64_sysreg(3, 0, 0, 0, 5);

/// A vCPU seen as [`VcpuRegs`] through `KVM_GET_ONE_REG`/`KVM_SET_ONE_REG`.
pub struct OneRegVcpu<'a, V: VcpuOps + ?Sized>(pub &'a V);

fn check_len(op: &'static str, id: RegId, want: usize, got: usize) -> Result<(), HvError> {
    if want == got {
        Ok(())
    } else {
        Err(HvError::Ioctl {
            op,
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("register {id}: {got} bytes transferred, {want} expected"),
            ),
        })
    }
}

impl<V: VcpuOps + ?Sized> VcpuRegs for OneRegVcpu<'_, V> {
    fn get_one_reg(&self, id: RegId, buf: &mut [u8]) -> Result<(), HvError> {
        let n = self.0.get_one_reg(id.raw(), buf)?;
        check_len("KVM_GET_ONE_REG", id, buf.len(), n)
    }

    fn set_one_reg(&self, id: RegId, buf: &[u8]) -> Result<(), HvError> {
        let n = self.0.set_one_reg(id.raw(), buf)?;
        check_len("KVM_SET_ONE_REG", id, buf.len(), n)
    }
}

/// Reads one 64-bit register.
pub fn get_u64<V: VcpuOps + ?Sized>(vcpu: &V, id: RegId) -> Result<u64, HvError> {
    let mut b = [0u8; 8];
    OneRegVcpu(vcpu).get_one_reg(id, &mut b)?;
    Ok(u64::from_le_bytes(b))
}

/// Writes one 64-bit register.
pub fn set_u64<V: VcpuOps + ?Sized>(vcpu: &V, id: RegId, value: u64) -> Result<(), HvError> {
    OneRegVcpu(vcpu).set_one_reg(id, &value.to_le_bytes())
}

/// "pc=... pstate=... sp_el1=... elr_el1=... esr_el1=... far_el1=... vbar_el1=..." for crash
/// reports; registers that cannot be read are left out.
pub fn summary<V: VcpuOps + ?Sized>(vcpu: &V) -> String {
    let t = table();
    let core64 = |off| arm64_core(off, RegSize::U64);
    let mut regs = vec![
        ("pc", core64(core::PC)),
        ("pstate", core64(core::PSTATE)),
        ("sp_el1", core64(core::SP_EL1)),
        ("elr_el1", core64(core::ELR_EL1)),
    ];
    for name in ["esr_el1", "far_el1", "vbar_el1"] {
        if let Some(d) = t.by_name(name) {
            regs.push((name, d.id));
        }
    }
    let parts: Vec<String> = regs
        .into_iter()
        .filter_map(|(name, id)| get_u64(vcpu, id).ok().map(|v| format!("{name}={v:#x}")))
        .collect();
    if parts.is_empty() {
        "registers unavailable".into()
    } else {
        parts.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::HashMap;
    use vmm_core::hypervisor::VcpuExit;

    /// A vCPU whose ONE_REG space is a map; `short` makes every transfer report one byte less.
    #[derive(Default)]
    struct MapVcpu {
        regs: RefCell<HashMap<u64, Vec<u8>>>,
        short: bool,
    }

    impl VcpuOps for MapVcpu {
        fn run(&mut self) -> Result<VcpuExit<'_>, HvError> {
            Err(HvError::Unsupported("KVM_RUN"))
        }
        fn immediate_exit_ptr(&mut self) -> *mut u8 {
            std::ptr::null_mut()
        }
        fn get_one_reg(&self, id: u64, buf: &mut [u8]) -> Result<usize, HvError> {
            match self.regs.borrow().get(&id) {
                Some(v) => {
                    buf.copy_from_slice(v);
                    Ok(buf.len() - usize::from(self.short))
                }
                None => Err(HvError::Ioctl {
                    op: "KVM_GET_ONE_REG",
                    source: std::io::Error::from_raw_os_error(libc::ENOENT),
                }),
            }
        }
        fn set_one_reg(&self, id: u64, buf: &[u8]) -> Result<usize, HvError> {
            self.regs.borrow_mut().insert(id, buf.to_vec());
            Ok(buf.len() - usize::from(self.short))
        }
    }

    #[test]
    fn reads_and_writes_by_id() {
        let v = MapVcpu::default();
        set_u64(&v, MPIDR_EL1, 0x8000_0003).unwrap();
        assert_eq!(get_u64(&v, MPIDR_EL1).unwrap(), 0x8000_0003);
        assert_eq!(
            v.regs.borrow().get(&0x6030_0000_0013_c005),
            Some(&0x8000_0003u64.to_le_bytes().to_vec())
        );
        let pc = arm64_core(core::PC, RegSize::U64);
        assert!(get_u64(&v, pc).is_err());
        set_u64(&v, pc, 0x4000_0000).unwrap();
        let s = summary(&v);
        assert_eq!(s, "pc=0x40000000");
        assert_eq!(summary(&MapVcpu::default()), "registers unavailable");
    }

    #[test]
    fn short_transfers_are_errors() {
        let v = MapVcpu {
            short: true,
            ..Default::default()
        };
        let e = set_u64(&v, MPIDR_EL1, 1).unwrap_err();
        assert!(e.to_string().contains("KVM_SET_ONE_REG"), "{e}");
        assert!(get_u64(&v, MPIDR_EL1).is_err());
    }

    #[test]
    fn save_and_restore_through_the_table() {
        use vmm_core::regs::{restore, save};
        let src = MapVcpu::default();
        let ids: Vec<u64> = [
            arm64_core(core::PC, RegSize::U64),
            arm64_core(core::V0, RegSize::U128),
            arm64_core(core::FPSR, RegSize::U32),
            MPIDR_EL1,
        ]
        .iter()
        .map(|id| id.raw())
        .collect();
        for (i, &id) in ids.iter().enumerate() {
            let len = RegId::from_raw(id).bytes();
            src.regs.borrow_mut().insert(id, vec![i as u8 + 1; len]);
        }
        let (t, unknown) = super::super::table_from_reg_list(&ids).unwrap();
        assert!(unknown.is_empty());
        let saved = save(&t, &OneRegVcpu(&src)).unwrap();
        assert!(saved.absent.is_empty());
        assert_eq!(saved.state.len(), 4);
        let dst = MapVcpu::default();
        restore(&t, &OneRegVcpu(&dst), &saved.state).unwrap();
        assert_eq!(*dst.regs.borrow(), *src.regs.borrow());
    }
}
