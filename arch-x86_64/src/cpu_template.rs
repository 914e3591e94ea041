//! CPU templates (`--cpu-template`): CPUID feature bits withheld from every vCPU, so that a VM sees
//! the same features on every host that offers them (a stable baseline), or so that one KVM
//! paravirt feature can be switched off at a time to bisect a guest fault.
//!
//! A template is a list of bits to clear, each at a (leaf, subleaf, register, mask), plus an
//! optional cap on the highest basic leaf. It only ever withholds: a guest never sees a feature
//! that KVM's `KVM_GET_SUPPORTED_CPUID` does not offer. The spec `--cpu-template` takes, and the
//! VM file's `machine.cpu_template`, is a comma-separated list:
//!
//! ```text
//! SPEC  := [BASE] {"," "-" FEATURE}        at least one item
//! BASE  := none | baseline | FILE          FILE: a path holding a "/" or ending in ".json"
//! FEATURE := a name of [`FEATURES`]        e.g. avx512f, x2apic, kvm-pv-unhalt, kvmclock
//! ```
//!
//! so `baseline`, `baseline,-kvm-pv-ipi`, `-kvm-pv-unhalt` (host passthrough less one feature)
//! and `./t.json,-avx2`. A FILE is JSON ([`TemplateFile`]):
//!
//! ```text
//! {"base": "baseline", "withhold": ["kvm-pv-unhalt"],
//!  "withhold_bits": [{"leaf": 7, "subleaf": 0, "register": "ebx", "bit": 16}],
//!  "max_basic_leaf": 13}
//! ```
//!
//! Built-in templates:
//!
//! - `none` (the default): the host's KVM-supported CPUID, as tetra always presented it;
//! - `baseline`: an x86-64-v3-level guest: [`BASELINE`] withholds AVX-512 (every subset), AMX,
//!   AVX-VNNI, the AVX-512/AMX XSAVE state components (XCR0 bits 5-7, 17-18), and the newer
//!   instructions and modes whose presence differs between recent host generations (LA57,
//!   WAITPKG, SERIALIZE, MOVDIRI/MOVDIR64B, GFNI, VAES, VPCLMULQDQ, SHA-NI, PKU, RDPID, FSRM,
//!   TSX's HLE and RTM). It keeps AVX2, FMA, BMI1/2 and everything older. The KVM paravirt leaf
//!   is left as the host offers it.
//!
//! The feature names follow QEMU's (`-cpu host,-avx512f`; its `kvm-*` properties for the KVM leaf
//! `0x40000001` EAX). Unlike QEMU's `kvmclock`, which clears both clock-source bits, `kvmclock`
//! here is bit 0 (the old MSRs) and `kvmclock2` bit 3 (the new ones), one bit per name.

use crate::cpuid::CpuidEntry;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A CPUID output register.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reg {
    /// EAX.
    Eax,
    /// EBX.
    Ebx,
    /// ECX.
    Ecx,
    /// EDX.
    Edx,
}

impl Reg {
    /// The register's index in (eax, ebx, ecx, edx), as the snapshot writes it.
    pub fn index(self) -> u8 {
        self as u8
    }

    /// The register at `i` in (eax, ebx, ecx, edx).
    pub fn from_index(i: u8) -> Option<Reg> {
        [Reg::Eax, Reg::Ebx, Reg::Ecx, Reg::Edx]
            .get(i as usize)
            .copied()
    }

    /// Its name, lower case.
    pub fn name(self) -> &'static str {
        ["eax", "ebx", "ecx", "edx"][self as usize]
    }

    fn get(self, e: &CpuidEntry) -> u32 {
        match self {
            Reg::Eax => e.eax,
            Reg::Ebx => e.ebx,
            Reg::Ecx => e.ecx,
            Reg::Edx => e.edx,
        }
    }

    fn get_mut(self, e: &mut CpuidEntry) -> &mut u32 {
        match self {
            Reg::Eax => &mut e.eax,
            Reg::Ebx => &mut e.ebx,
            Reg::Ecx => &mut e.ecx,
            Reg::Edx => &mut e.edx,
        }
    }
}

/// Bits of one CPUID register: where a feature lives, or what a template withholds there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CpuidBits {
    /// Leaf (EAX input).
    pub leaf: u32,
    /// Subleaf (ECX input); 0 for leaves without subleaves.
    pub subleaf: u32,
    /// The output register.
    pub reg: Reg,
    /// The bits.
    pub mask: u32,
}

/// A named CPUID feature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Feature {
    /// Its name (QEMU's where QEMU has one).
    pub name: &'static str,
    /// Where it lives.
    pub bits: CpuidBits,
}

const fn f(name: &'static str, leaf: u32, subleaf: u32, reg: Reg, bit: u32) -> Feature {
    Feature {
        name,
        bits: CpuidBits {
            leaf,
            subleaf,
            reg,
            mask: 1 << bit,
        },
    }
}

/// The KVM paravirt feature leaf.
pub const KVM_FEATURES_LEAF: u32 = 0x4000_0001;

use Reg::{Eax, Ebx, Ecx, Edx};

/// The features a template can withhold by name.
pub const FEATURES: &[Feature] = &[
    // Leaf 1 ECX.
    f("sse3", 1, 0, Ecx, 0),
    f("pclmulqdq", 1, 0, Ecx, 1),
    f("ssse3", 1, 0, Ecx, 9),
    f("fma", 1, 0, Ecx, 12),
    f("cx16", 1, 0, Ecx, 13),
    f("pcid", 1, 0, Ecx, 17),
    f("sse4.1", 1, 0, Ecx, 19),
    f("sse4.2", 1, 0, Ecx, 20),
    f("x2apic", 1, 0, Ecx, 21),
    f("movbe", 1, 0, Ecx, 22),
    f("popcnt", 1, 0, Ecx, 23),
    f("tsc-deadline", 1, 0, Ecx, 24),
    f("aes", 1, 0, Ecx, 25),
    f("xsave", 1, 0, Ecx, 26),
    f("avx", 1, 0, Ecx, 28),
    f("f16c", 1, 0, Ecx, 29),
    f("rdrand", 1, 0, Ecx, 30),
    f("hypervisor", 1, 0, Ecx, 31),
    // Leaf 7.0 EBX.
    f("fsgsbase", 7, 0, Ebx, 0),
    f("bmi1", 7, 0, Ebx, 3),
    f("hle", 7, 0, Ebx, 4),
    f("avx2", 7, 0, Ebx, 5),
    f("smep", 7, 0, Ebx, 7),
    f("bmi2", 7, 0, Ebx, 8),
    f("erms", 7, 0, Ebx, 9),
    f("invpcid", 7, 0, Ebx, 10),
    f("rtm", 7, 0, Ebx, 11),
    f("avx512f", 7, 0, Ebx, 16),
    f("avx512dq", 7, 0, Ebx, 17),
    f("rdseed", 7, 0, Ebx, 18),
    f("adx", 7, 0, Ebx, 19),
    f("smap", 7, 0, Ebx, 20),
    f("avx512ifma", 7, 0, Ebx, 21),
    f("clflushopt", 7, 0, Ebx, 23),
    f("clwb", 7, 0, Ebx, 24),
    f("avx512pf", 7, 0, Ebx, 26),
    f("avx512er", 7, 0, Ebx, 27),
    f("avx512cd", 7, 0, Ebx, 28),
    f("sha-ni", 7, 0, Ebx, 29),
    f("avx512bw", 7, 0, Ebx, 30),
    f("avx512vl", 7, 0, Ebx, 31),
    // Leaf 7.0 ECX.
    f("avx512vbmi", 7, 0, Ecx, 1),
    f("umip", 7, 0, Ecx, 2),
    f("pku", 7, 0, Ecx, 3),
    f("waitpkg", 7, 0, Ecx, 5),
    f("avx512vbmi2", 7, 0, Ecx, 6),
    f("gfni", 7, 0, Ecx, 8),
    f("vaes", 7, 0, Ecx, 9),
    f("vpclmulqdq", 7, 0, Ecx, 10),
    f("avx512vnni", 7, 0, Ecx, 11),
    f("avx512bitalg", 7, 0, Ecx, 12),
    f("avx512-vpopcntdq", 7, 0, Ecx, 14),
    f("la57", 7, 0, Ecx, 16),
    f("rdpid", 7, 0, Ecx, 22),
    f("movdiri", 7, 0, Ecx, 27),
    f("movdir64b", 7, 0, Ecx, 28),
    // Leaf 7.0 EDX.
    f("avx512-4vnniw", 7, 0, Edx, 2),
    f("avx512-4fmaps", 7, 0, Edx, 3),
    f("fsrm", 7, 0, Edx, 4),
    f("avx512-vp2intersect", 7, 0, Edx, 8),
    f("serialize", 7, 0, Edx, 14),
    f("amx-bf16", 7, 0, Edx, 22),
    f("avx512-fp16", 7, 0, Edx, 23),
    f("amx-tile", 7, 0, Edx, 24),
    f("amx-int8", 7, 0, Edx, 25),
    // Leaf 7.1 EAX.
    f("avx-vnni", 7, 1, Eax, 4),
    f("avx512-bf16", 7, 1, Eax, 5),
    // Leaf 0xd: the XSAVE state components (XCR0 bits) and XSAVE variants.
    Feature {
        name: "xsave-avx512",
        bits: CpuidBits {
            leaf: 0xd,
            subleaf: 0,
            reg: Eax,
            mask: 0b111 << 5,
        },
    },
    Feature {
        name: "xsave-amx",
        bits: CpuidBits {
            leaf: 0xd,
            subleaf: 0,
            reg: Eax,
            mask: 0b11 << 17,
        },
    },
    f("xsaveopt", 0xd, 1, Eax, 0),
    f("xsavec", 0xd, 1, Eax, 1),
    f("xgetbv1", 0xd, 1, Eax, 2),
    f("xsaves", 0xd, 1, Eax, 3),
    // Leaf 0x8000_0001.
    f("lahf-lm", 0x8000_0001, 0, Ecx, 0),
    f("abm", 0x8000_0001, 0, Ecx, 5),
    f("pdpe1gb", 0x8000_0001, 0, Edx, 26),
    f("rdtscp", 0x8000_0001, 0, Edx, 27),
    // The KVM paravirt leaf 0x4000_0001 EAX (KVM_FEATURE_*), QEMU's property names.
    f("kvmclock", KVM_FEATURES_LEAF, 0, Eax, 0),
    f("kvm-nopiodelay", KVM_FEATURES_LEAF, 0, Eax, 1),
    f("kvm-mmu", KVM_FEATURES_LEAF, 0, Eax, 2),
    f("kvmclock2", KVM_FEATURES_LEAF, 0, Eax, 3),
    f("kvm-asyncpf", KVM_FEATURES_LEAF, 0, Eax, 4),
    f("kvm-steal-time", KVM_FEATURES_LEAF, 0, Eax, 5),
    f("kvm-pv-eoi", KVM_FEATURES_LEAF, 0, Eax, 6),
    f("kvm-pv-unhalt", KVM_FEATURES_LEAF, 0, Eax, 7),
    f("kvm-pv-tlb-flush", KVM_FEATURES_LEAF, 0, Eax, 9),
    f("kvm-asyncpf-vmexit", KVM_FEATURES_LEAF, 0, Eax, 10),
    f("kvm-pv-ipi", KVM_FEATURES_LEAF, 0, Eax, 11),
    f("kvm-poll-control", KVM_FEATURES_LEAF, 0, Eax, 12),
    f("kvm-pv-sched-yield", KVM_FEATURES_LEAF, 0, Eax, 13),
    f("kvm-asyncpf-int", KVM_FEATURES_LEAF, 0, Eax, 14),
    f("kvm-msi-ext-dest-id", KVM_FEATURES_LEAF, 0, Eax, 15),
    f("kvmclock-stable-bit", KVM_FEATURES_LEAF, 0, Eax, 24),
];

/// What the `baseline` template withholds (see the module documentation).
pub const BASELINE: &[&str] = &[
    "avx512f",
    "avx512dq",
    "avx512ifma",
    "avx512pf",
    "avx512er",
    "avx512cd",
    "avx512bw",
    "avx512vl",
    "avx512vbmi",
    "avx512vbmi2",
    "avx512vnni",
    "avx512bitalg",
    "avx512-vpopcntdq",
    "avx512-4vnniw",
    "avx512-4fmaps",
    "avx512-vp2intersect",
    "avx512-fp16",
    "avx512-bf16",
    "amx-bf16",
    "amx-tile",
    "amx-int8",
    "avx-vnni",
    "xsave-avx512",
    "xsave-amx",
    "la57",
    "waitpkg",
    "serialize",
    "movdiri",
    "movdir64b",
    "gfni",
    "vaes",
    "vpclmulqdq",
    "sha-ni",
    "pku",
    "rdpid",
    "fsrm",
    "hle",
    "rtm",
];

/// The built-in templates' names.
pub const BUILT_IN: &[&str] = &["none", "baseline"];

/// The feature called `name`.
pub fn feature(name: &str) -> Option<&'static Feature> {
    FEATURES.iter().find(|f| f.name == name)
}

/// Why a template spec or file was refused.
#[derive(Debug, Error)]
pub enum TemplateError {
    /// A feature name that is not in [`FEATURES`].
    #[error("unknown CPU feature '{0}' (README, --cpu-template, lists the names)")]
    UnknownFeature(String),
    /// A base that is neither built in nor a file.
    #[error("unknown CPU template '{0}': expected none, baseline, a FILE (with a '/' or ending in .json) or -FEATURE items")]
    UnknownTemplate(String),
    /// An item after the first that does not start with `-`.
    #[error("'{0}': only the first item names a template; the others must be -FEATURE")]
    NotWithhold(String),
    /// An empty spec or item.
    #[error("an empty CPU template item")]
    Empty,
    /// The template file could not be read.
    #[error("reading CPU template file {path}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The template file is not a template.
    #[error("CPU template file {path}")]
    Parse {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// A file whose base is a file again.
    #[error("CPU template file {0}: its base must be a built-in template")]
    NestedFile(String),
    /// A bit index above 31.
    #[error("CPU template file {path}: bit {bit} of a 32-bit register")]
    Bit {
        /// The file.
        path: String,
        /// The bit.
        bit: u32,
    },
}

/// One bit a template file withholds by position.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BitSpec {
    /// Leaf.
    pub leaf: u32,
    /// Subleaf (0 for leaves without subleaves).
    #[serde(default)]
    pub subleaf: u32,
    /// `eax`, `ebx`, `ecx` or `edx`.
    pub register: Reg,
    /// Bit 0-31.
    pub bit: u32,
}

/// A template file (JSON).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateFile {
    /// A built-in template to start from (`none` when absent).
    #[serde(default)]
    pub base: Option<String>,
    /// Features to withhold, by name.
    #[serde(default)]
    pub withhold: Vec<String>,
    /// Bits to withhold by position.
    #[serde(default)]
    pub withhold_bits: Vec<BitSpec>,
    /// The highest basic leaf the guest sees (leaf 0 EAX); higher basic leaves are dropped.
    #[serde(default)]
    pub max_basic_leaf: Option<u32>,
}

/// A resolved template.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CpuTemplate {
    /// The spec it came from (`none`, `baseline,-kvm-pv-ipi`, a file path...).
    pub name: String,
    /// What it withholds, one entry per register, sorted.
    pub withheld: Vec<CpuidBits>,
    /// The highest basic leaf the guest sees, if capped.
    pub max_basic_leaf: Option<u32>,
}

impl CpuTemplate {
    /// Host passthrough: withholds nothing.
    pub fn none() -> Self {
        CpuTemplate {
            name: "none".into(),
            ..Default::default()
        }
    }

    /// Whether it changes nothing.
    pub fn is_none(&self) -> bool {
        self.withheld.is_empty() && self.max_basic_leaf.is_none()
    }

    /// Resolves a spec (see the module documentation); `None` is `none`. Reads a FILE base.
    pub fn resolve(spec: Option<&str>) -> Result<Self, TemplateError> {
        let Some(spec) = spec else {
            return Ok(Self::none());
        };
        Self::resolve_with(spec, |p| {
            std::fs::read_to_string(p).map_err(|source| TemplateError::Read {
                path: p.into(),
                source,
            })
        })
    }

    /// [`CpuTemplate::resolve`] with `read` in place of reading a FILE (host-tested).
    pub fn resolve_with(
        spec: &str,
        read: impl Fn(&str) -> Result<String, TemplateError>,
    ) -> Result<Self, TemplateError> {
        let mut t = Builder::default();
        for (i, item) in spec.split(',').map(str::trim).enumerate() {
            if item.is_empty() {
                return Err(TemplateError::Empty);
            }
            if let Some(name) = item.strip_prefix('-') {
                t.withhold_named(name)?;
            } else if i > 0 {
                return Err(TemplateError::NotWithhold(item.into()));
            } else if item.contains('/') || item.ends_with(".json") {
                let text = read(item)?;
                let file: TemplateFile =
                    serde_json::from_str(&text).map_err(|source| TemplateError::Parse {
                        path: item.into(),
                        source,
                    })?;
                t.file(item, &file)?;
            } else {
                t.built_in(item)?;
            }
        }
        Ok(t.finish(spec))
    }

    /// Applies it to a vCPU's CPUID: clears the withheld bits and drops basic leaves above the cap.
    pub fn apply(&self, entries: &mut Vec<CpuidEntry>) {
        for w in &self.withheld {
            for e in entries.iter_mut() {
                if e.function == w.leaf && e.index == w.subleaf {
                    *w.reg.get_mut(e) &= !w.mask;
                }
            }
        }
        if let Some(max) = self.max_basic_leaf {
            entries.retain(|e| e.function <= max || e.function >= 0x4000_0000);
            for e in entries.iter_mut().filter(|e| e.function == 0) {
                e.eax = e.eax.min(max);
            }
        }
    }

    /// What `cpuid` (a vCPU's, read back from KVM) still offers of what the template withholds:
    /// feature names, and `LEAF.SUBLEAF REG bits MASK` for withheld bits without a name. Empty
    /// when KVM honoured the template (a KVM may fix some leaves itself: PVM keeps 7 and 0xd).
    pub fn kept(&self, cpuid: &[CpuidEntry]) -> Vec<String> {
        let mut out = Vec::new();
        for w in &self.withheld {
            let mut left = word(cpuid, w.leaf, w.subleaf, w.reg) & w.mask;
            for f in FEATURES {
                let here = (f.bits.leaf, f.bits.subleaf, f.bits.reg) == (w.leaf, w.subleaf, w.reg);
                if here && f.bits.mask & left != 0 {
                    out.push(f.name.to_string());
                    left &= !f.bits.mask;
                }
            }
            if left != 0 {
                out.push(format!(
                    "{:#x}.{} {} bits {left:#x}",
                    w.leaf,
                    w.subleaf,
                    w.reg.name()
                ));
            }
        }
        out
    }

    /// The named features that `guest` (a VM's [`feature_words`]) offers and `host` (a vCPU's
    /// CPUID on this host, template `none`) does not: what a restore here cannot honour.
    pub fn missing(guest: &[CpuidBits], host: &[CpuidEntry]) -> Vec<&'static str> {
        FEATURES
            .iter()
            .filter(|f| {
                let b = &f.bits;
                let guest = guest
                    .iter()
                    .find(|w| (w.leaf, w.subleaf, w.reg) == (b.leaf, b.subleaf, b.reg))
                    .map_or(0, |w| w.mask);
                guest & b.mask & !word(host, b.leaf, b.subleaf, b.reg) != 0
            })
            .map(|f| f.name)
            .collect()
    }
}

fn word(c: &[CpuidEntry], leaf: u32, subleaf: u32, reg: Reg) -> u32 {
    c.iter()
        .find(|e| e.function == leaf && e.index == subleaf)
        .map_or(0, |e| reg.get(e))
}

/// The named-feature bits of `cpuid` (what a guest sees), one entry per register that holds a
/// named feature (`mask` is the register's value, limited to the named bits), sorted: what a
/// snapshot records so that a restore can check the host still offers each.
pub fn feature_words(cpuid: &[CpuidEntry]) -> Vec<CpuidBits> {
    let mut named = std::collections::BTreeMap::<(u32, u32, Reg), u32>::new();
    for f in FEATURES {
        *named
            .entry((f.bits.leaf, f.bits.subleaf, f.bits.reg))
            .or_default() |= f.bits.mask;
    }
    named
        .into_iter()
        .map(|((leaf, subleaf, reg), mask)| CpuidBits {
            leaf,
            subleaf,
            reg,
            mask: word(cpuid, leaf, subleaf, reg) & mask,
        })
        .collect()
}

#[derive(Default)]
struct Builder {
    bits: std::collections::BTreeMap<(u32, u32, Reg), u32>,
    max_basic_leaf: Option<u32>,
}

impl Builder {
    fn add(&mut self, b: CpuidBits) {
        *self.bits.entry((b.leaf, b.subleaf, b.reg)).or_default() |= b.mask;
    }

    fn withhold_named(&mut self, name: &str) -> Result<(), TemplateError> {
        let f = feature(name).ok_or_else(|| TemplateError::UnknownFeature(name.into()))?;
        self.add(f.bits);
        Ok(())
    }

    fn built_in(&mut self, name: &str) -> Result<(), TemplateError> {
        match name {
            "none" => Ok(()),
            "baseline" => BASELINE.iter().try_for_each(|n| self.withhold_named(n)),
            other => Err(TemplateError::UnknownTemplate(other.into())),
        }
    }

    fn file(&mut self, path: &str, file: &TemplateFile) -> Result<(), TemplateError> {
        if let Some(base) = &file.base {
            if !BUILT_IN.contains(&base.as_str()) {
                return Err(if base.contains('/') || base.ends_with(".json") {
                    TemplateError::NestedFile(path.into())
                } else {
                    TemplateError::UnknownTemplate(base.clone())
                });
            }
            self.built_in(base)?;
        }
        for n in &file.withhold {
            self.withhold_named(n)?;
        }
        for b in &file.withhold_bits {
            if b.bit > 31 {
                return Err(TemplateError::Bit {
                    path: path.into(),
                    bit: b.bit,
                });
            }
            self.add(CpuidBits {
                leaf: b.leaf,
                subleaf: b.subleaf,
                reg: b.register,
                mask: 1 << b.bit,
            });
        }
        self.max_basic_leaf = file.max_basic_leaf;
        Ok(())
    }

    fn finish(self, spec: &str) -> CpuTemplate {
        CpuTemplate {
            name: spec.into(),
            withheld: self
                .bits
                .into_iter()
                .map(|((leaf, subleaf, reg), mask)| CpuidBits {
                    leaf,
                    subleaf,
                    reg,
                    mask,
                })
                .collect(),
            max_basic_leaf: self.max_basic_leaf,
        }
    }
}

#[cfg(test)]
mod tests;
