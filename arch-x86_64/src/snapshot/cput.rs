//! Section `CPUT`: the VM's CPU template (`--cpu-template`) and the named CPUID features its guest
//! sees, so that a restore on another host either offers every one of them or is refused naming
//! those it lacks (the vCPUs' own CPUID travels in their `VCPU` sections, see the parent module).
//!
//! ```text
//! CPUT version 1:
//!   blob template name (UTF-8, at most MAX_NAME_BYTES: the --cpu-template spec, "none" by default)
//!   u32 count (at most MAX_WORDS), count x withheld bits:
//!     u32 leaf, u32 subleaf, u32 register (0 eax, 1 ebx, 2 ecx, 3 edx), u32 mask
//!   u32 max basic leaf (0xffff_ffff: no cap)
//!   u32 count (at most MAX_WORDS), count x guest feature word (the same four u32, the mask being
//!     the register's named-feature bits as vCPU 0 sees them, cpu_template::feature_words)
//! ```
//!
//! A snapshot without `CPUT` (tetra before templates) restores as template `none`, unchecked.

use super::X86SnapshotError;
use crate::cpu_template::{CpuTemplate, CpuidBits, Reg};
use vmm_core::snapshot::{Envelope, Section, SectionSpec};
use vmm_core::wire::{Reader, Writer};

/// The CPU template section.
pub const CPUT: SectionSpec = SectionSpec::new(*b"CPUT", 1, 1);
/// The longest template name a snapshot holds.
pub const MAX_NAME_BYTES: usize = 4096;
/// The most withheld registers, and the most guest feature words, a snapshot holds.
pub const MAX_WORDS: usize = 256;
const WORD_BYTES: usize = 16;
const NO_CAP: u32 = u32::MAX;

/// A VM's CPU template and what its guest sees.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TemplateState {
    /// The template.
    pub template: CpuTemplate,
    /// The guest's named-feature words ([`crate::cpu_template::feature_words`]).
    pub guest: Vec<CpuidBits>,
}

fn write_words(w: &mut Writer, words: &[CpuidBits]) {
    w.u32(words.len() as u32);
    for b in words {
        for v in [b.leaf, b.subleaf, u32::from(b.reg.index()), b.mask] {
            w.u32(v);
        }
    }
}

fn read_words(r: &mut Reader<'_>, what: &'static str) -> Result<Vec<CpuidBits>, X86SnapshotError> {
    let n = r.count(what, WORD_BYTES)?;
    if n > MAX_WORDS {
        return Err(X86SnapshotError::Field {
            field: what.into(),
            value: n as u64,
            allowed: "at most 256",
        });
    }
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let leaf = r.u32("a CPUID leaf")?;
        let subleaf = r.u32("a CPUID subleaf")?;
        let reg = r.u32("a CPUID register")?;
        let mask = r.u32("a CPUID mask")?;
        let reg = u8::try_from(reg)
            .ok()
            .and_then(Reg::from_index)
            .ok_or_else(|| X86SnapshotError::Field {
                field: format!("{what}: register of leaf {leaf:#x}"),
                value: reg.into(),
                allowed: "0-3 (eax, ebx, ecx, edx)",
            })?;
        out.push(CpuidBits {
            leaf,
            subleaf,
            reg,
            mask,
        });
    }
    Ok(out)
}

/// Section `CPUT`.
pub fn template_section(s: &TemplateState) -> Section {
    let mut w = Writer::new();
    let name = s.template.name.as_bytes();
    w.blob(&name[..name.len().min(MAX_NAME_BYTES)]);
    write_words(&mut w, &s.template.withheld);
    w.u32(s.template.max_basic_leaf.unwrap_or(NO_CAP));
    write_words(&mut w, &s.guest);
    CPUT.section(w.into_bytes())
}

/// Decodes and checks section `CPUT`.
pub fn decode_template(s: &Section) -> Result<TemplateState, X86SnapshotError> {
    CPUT.check(s.version)?;
    let mut r = Reader::new(&s.data);
    let name = r.blob("the CPU template name")?;
    if name.len() > MAX_NAME_BYTES {
        return Err(X86SnapshotError::Field {
            field: "the CPU template name's length".into(),
            value: name.len() as u64,
            allowed: "at most 4096 bytes",
        });
    }
    let name = std::str::from_utf8(name)
        .map_err(|_| X86SnapshotError::Field {
            field: "the CPU template name".into(),
            value: 0,
            allowed: "UTF-8",
        })?
        .to_string();
    let withheld = read_words(&mut r, "the withheld CPUID bits")?;
    let cap = r.u32("the CPU template's max basic leaf")?;
    let guest = read_words(&mut r, "the guest's CPUID feature words")?;
    r.finish("the CPUT section")?;
    Ok(TemplateState {
        template: CpuTemplate {
            name,
            withheld,
            max_basic_leaf: (cap != NO_CAP).then_some(cap),
        },
        guest,
    })
}

/// The template of `env`, if it has a `CPUT` section (`None`: a snapshot from before templates).
pub fn decode_optional(env: &Envelope) -> Result<Option<TemplateState>, X86SnapshotError> {
    env.section(&CPUT.tag).map(decode_template).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TemplateState {
        TemplateState {
            template: CpuTemplate::resolve_with("baseline,-kvm-pv-ipi", |_| unreachable!())
                .unwrap(),
            guest: vec![CpuidBits {
                leaf: 7,
                subleaf: 0,
                reg: Reg::Ebx,
                mask: 0x20,
            }],
        }
    }

    #[test]
    fn round_trip() {
        for s in [sample(), TemplateState::default()] {
            assert_eq!(decode_template(&template_section(&s)).unwrap(), s);
        }
        let mut capped = sample();
        capped.template.max_basic_leaf = Some(0xd);
        assert_eq!(decode_template(&template_section(&capped)).unwrap(), capped);
    }

    #[test]
    fn corrupt_input_is_an_error_naming_the_field() {
        let good = template_section(&sample());
        let name_len = "baseline,-kvm-pv-ipi".len();
        let withheld_count_at = 4 + name_len;
        let mut cases: Vec<(Vec<u8>, &str)> = Vec::new();
        for cut in [0, 3, 10, good.data.len() - 1] {
            cases.push((good.data[..cut].to_vec(), ""));
        }
        let mut trailing = good.data.clone();
        trailing.push(0);
        cases.push((trailing, "CPUT section"));
        let mut reg = good.data.clone();
        reg[withheld_count_at + 4 + 8] = 4;
        cases.push((reg, "register"));
        let mut many = good.data.clone();
        many[withheld_count_at..withheld_count_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        cases.push((many, "withheld CPUID bits"));
        let mut utf8 = good.data.clone();
        utf8[4] = 0xff;
        cases.push((utf8, "UTF-8"));
        for (data, want) in cases {
            let s = Section::new(&CPUT.tag, 1, data);
            let e = decode_template(&s).unwrap_err();
            assert!(vmm_core::error_chain::chain(&e).contains(want), "{e}");
        }
        let newer = Section::new(&CPUT.tag, 2, good.data.clone());
        assert!(decode_template(&newer).is_err());
    }

    #[test]
    fn a_snapshot_without_the_section_has_no_template() {
        let env = Envelope::new(super::super::SNAPSHOT_MAGIC);
        assert_eq!(decode_optional(&env).unwrap(), None);
    }
}
