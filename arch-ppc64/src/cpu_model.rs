//! The processor a guest sees (`--cpu-template MODEL`, QEMU's `-cpu`): its processor version
//! (PVR), the name of its device-tree node and, for the 970 family, the page sizes its MMU has.
//!
//! KVM-HV runs a guest only as the host's own processor. KVM-PR emulates the privileged state and
//! takes any 64-bit Book3S PVR (`kvmppc_set_pvr_pr` in `arch/powerpc/kvm/book3s_pr.c`: the 64-bit
//! MMU model for PVRs from 0x330000 on, multiple page sizes and the new `tlbie` from POWER6 on),
//! so on a KVM-PR host (tetra then holds the hash table) a guest can be a PPC970, the processor of
//! the KVM-PR design thread (seed 002). `host`, or no template, is the host's PVR; a model of the
//! host's own family is the host's PVR too (its exact revision).
//!
//! The guest's cache geometry stays the host's: `dcbz` runs natively and clears one block of the
//! real processor (128 bytes on every 64-bit Book3S KVM-PR host, as on the 970), which is what
//! the device tree says. KVM-PR's 32-byte `dcbz` (a guest setting HID5's DCBZ32 bit, as Mac OS X
//! did) is not offered: on a host running in hypervisor mode that is not a 970, KVM-PR marks the
//! host as doing it natively (`BOOK3S_HFLAG_DCBZ32` set by the HID5 write in `book3s_emulate.c`)
//! and the guest's `dcbz` then still clears 128 bytes.

use thiserror::Error;

/// A processor model a guest can be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuModel {
    /// Its `--cpu-template` name.
    pub name: &'static str,
    /// The PVR the guest reads (`mfpvr`) and its device tree gives (`cpu-version`).
    pub pvr: u32,
}

/// The models tetra knows, oldest first.
pub const MODELS: &[CpuModel] = &[
    CpuModel {
        name: "ppc970",
        pvr: 0x0039_0202,
    },
    CpuModel {
        name: "ppc970fx",
        pvr: 0x003c_0300,
    },
    CpuModel {
        name: "ppc970mp",
        pvr: 0x0044_0101,
    },
    CpuModel {
        name: "power7",
        pvr: 0x003f_0201,
    },
    CpuModel {
        name: "power8",
        pvr: 0x004d_0200,
    },
    CpuModel {
        name: "power9",
        pvr: 0x004e_1202,
    },
];

/// Why a model cannot be had.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum CpuModelError {
    /// No such model.
    #[error("--cpu-template {0}: no such ppc64 processor model (host, {known})", known = names())]
    Unknown(String),
    /// KVM-HV (radix, or a hash table in the kernel) runs guests as the host's processor only.
    #[error(
        "--cpu-template {name}: this host's KVM-HV runs a guest only as the host's own processor \
         (PVR {host_pvr:#010x}); another processor model needs KVM-PR (the kvm-pr module)"
    )]
    NeedsKvmPr {
        /// The model asked for.
        name: String,
        /// The host's PVR.
        host_pvr: u32,
    },
}

fn names() -> String {
    MODELS.iter().map(|m| m.name).collect::<Vec<_>>().join(", ")
}

/// Whether two PVRs are of one processor family (the PVR's version half).
pub fn same_family(a: u32, b: u32) -> bool {
    a >> 16 == b >> 16
}

/// Whether `pvr` is of the PPC970 family (970, 970FX, 970MP, 970GX).
pub fn is_970(pvr: u32) -> bool {
    matches!(pvr >> 16, 0x0039 | 0x003c | 0x0044 | 0x0045)
}

/// The PVR a guest of template `spec` sees on a host of `host_pvr`; `any_pvr` says the host's
/// KVM takes any PVR (KVM-PR).
pub fn resolve(spec: Option<&str>, host_pvr: u32, any_pvr: bool) -> Result<u32, CpuModelError> {
    let name = match spec {
        None | Some("host") => return Ok(host_pvr),
        Some(n) => n,
    };
    let model = MODELS
        .iter()
        .find(|m| m.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| CpuModelError::Unknown(name.into()))?;
    if same_family(model.pvr, host_pvr) {
        Ok(host_pvr)
    } else if any_pvr {
        Ok(model.pvr)
    } else {
        Err(CpuModelError::NeedsKvmPr {
            name: name.into(),
            host_pvr,
        })
    }
}

/// The page sizes (log2) a processor's hash MMU has, where that is fewer than KVM reports: the
/// 970 family has 4 KiB and 16 MiB pages only (KVM-PR's 970 MMU model gives it no others).
pub fn page_shifts(pvr: u32) -> Option<&'static [u32]> {
    is_970(pvr).then_some(&[12, 24])
}

#[cfg(test)]
mod tests {
    use super::*;

    const POWER8: u32 = 0x004d_0200;
    const POWER9: u32 = 0x004e_1202;

    #[test]
    fn host_is_the_default_and_a_model_of_its_family_keeps_its_revision() {
        assert_eq!(resolve(None, POWER9, false), Ok(POWER9));
        assert_eq!(resolve(Some("host"), POWER9, false), Ok(POWER9));
        assert_eq!(resolve(Some("power9"), 0x004e_1201, false), Ok(0x004e_1201));
        assert_eq!(resolve(Some("POWER8"), POWER8, true), Ok(POWER8));
    }

    #[test]
    fn another_processor_needs_kvm_pr() {
        assert_eq!(resolve(Some("ppc970"), POWER8, true), Ok(0x0039_0202));
        assert_eq!(resolve(Some("power7"), POWER8, true), Ok(0x003f_0201));
        let e = resolve(Some("ppc970"), POWER9, false).unwrap_err();
        assert_eq!(
            e,
            CpuModelError::NeedsKvmPr {
                name: "ppc970".into(),
                host_pvr: POWER9
            }
        );
        let msg = e.to_string();
        assert!(
            msg.contains("0x004e1202") && msg.contains("KVM-PR"),
            "{msg}"
        );
    }

    #[test]
    fn an_unknown_model_is_refused_with_the_known_ones() {
        let msg = resolve(Some("pentium"), POWER9, true)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("pentium") && msg.contains("ppc970, "), "{msg}");
    }

    #[test]
    fn the_970s_have_two_page_sizes() {
        for m in MODELS {
            assert_eq!(page_shifts(m.pvr).is_some(), m.name.starts_with("ppc970"));
            assert!(m.pvr >= 0x0033_0000, "{} is a 64-bit Book3S PVR", m.name);
        }
        assert_eq!(page_shifts(0x0045_0100), Some(&[12, 24][..]));
        assert_eq!(page_shifts(POWER8), None);
    }
}
