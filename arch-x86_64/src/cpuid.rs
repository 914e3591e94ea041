//! CPUID as tetra presents it: KVM's supported set, with each vCPU's topology filled in.

/// One CPUID leaf/subleaf, as `kvm_cpuid_entry2` carries it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuidEntry {
    /// Leaf (EAX input).
    pub function: u32,
    /// Subleaf (ECX input).
    pub index: u32,
    /// `KVM_CPUID_FLAG_*`.
    pub flags: u32,
    /// EAX output.
    pub eax: u32,
    /// EBX output.
    pub ebx: u32,
    /// ECX output.
    pub ecx: u32,
    /// EDX output.
    pub edx: u32,
}

/// Leaf 1 ECX: running under a hypervisor.
pub const ECX_HYPERVISOR: u32 = 1 << 31;
/// Leaf 1 EDX: more than one logical processor per package.
pub const EDX_HTT: u32 = 1 << 28;

/// Fills in vCPU `id`'s APIC ids and a one-package topology of `count` vCPUs.
pub fn adjust_for_vcpu(entries: &mut [CpuidEntry], id: u32, count: u32) {
    for e in entries.iter_mut() {
        match e.function {
            1 => {
                e.ebx = (e.ebx & 0xffff) | ((id & 0xff) << 24) | (count.min(0xff) << 16);
                e.ecx |= ECX_HYPERVISOR;
                if count > 1 {
                    e.edx |= EDX_HTT;
                } else {
                    e.edx &= !EDX_HTT;
                }
            }
            4 => {
                // Cores per package - 1, in EAX[31:26].
                e.eax = (e.eax & 0x03ff_ffff) | ((count.clamp(1, 64) - 1) << 26);
            }
            0xb | 0x1f => e.edx = id,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topology_is_per_vcpu() {
        let base = vec![
            CpuidEntry {
                function: 1,
                ebx: 0xff00_0800,
                edx: EDX_HTT,
                ..Default::default()
            },
            CpuidEntry {
                function: 0xb,
                index: 0,
                edx: 99,
                ..Default::default()
            },
            CpuidEntry {
                function: 4,
                eax: 0xfc00_0121,
                ..Default::default()
            },
        ];
        let mut e = base.clone();
        adjust_for_vcpu(&mut e, 3, 4);
        assert_eq!(e[0].ebx >> 24, 3);
        assert_eq!((e[0].ebx >> 16) & 0xff, 4);
        assert_eq!(e[0].ebx & 0xffff, 0x0800);
        assert_ne!(e[0].ecx & ECX_HYPERVISOR, 0);
        assert_eq!(e[1].edx, 3);
        assert_eq!(e[2].eax >> 26, 3);
        let mut one = base;
        adjust_for_vcpu(&mut one, 0, 1);
        assert_eq!(one[0].edx & EDX_HTT, 0);
    }
}
