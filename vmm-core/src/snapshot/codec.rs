//! What every arch's snapshot codec (its `snapshot.rs`) shares: a [`SectionSpec`] names one of
//! the arch's sections with the version it writes and the oldest it still reads, and
//! [`CodecError`] refuses input at that level (a read past the end, bytes left over, a section
//! missing or of a version this tetra does not read). A codec's own error enum wraps
//! `CodecError` beside its value checks, and invokes
//! [`codec_error_from!`](crate::codec_error_from) so that `?` on the wire reader works.
//!
//! The policy (docs/snapshot-format.md): a section's version changes when its payload changes; a
//! reader refuses a newer version than its own, naming the section, and keeps reading each older
//! one from `oldest` on.

use super::envelope::{Envelope, Section};
use super::sections::CORE_TAGS;
use crate::wire::{Trailing, Truncated};

/// A section an arch codec writes and reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SectionSpec {
    /// Four printable ASCII characters.
    pub tag: [u8; 4],
    /// The oldest version this tetra still reads.
    pub oldest: u16,
    /// The version this tetra writes, which is the newest it reads.
    pub current: u16,
}

impl SectionSpec {
    /// A spec; `1 <= oldest <= current` (checked at compile time in a `const`).
    pub const fn new(tag: [u8; 4], oldest: u16, current: u16) -> Self {
        assert!(
            oldest >= 1 && oldest <= current,
            "versions run 1 <= oldest <= current"
        );
        SectionSpec {
            tag,
            oldest,
            current,
        }
    }

    /// The tag as text.
    pub fn name(&self) -> String {
        String::from_utf8_lossy(&self.tag).into_owned()
    }

    /// A section of the current version holding `data`.
    pub fn section(&self, data: Vec<u8>) -> Section {
        Section::new(&self.tag, self.current, data)
    }

    /// `version`, if this tetra reads it.
    pub fn check(&self, version: u16) -> Result<u16, CodecError> {
        if version > self.current {
            Err(CodecError::Newer {
                tag: self.name(),
                version,
                current: self.current,
            })
        } else if version < self.oldest {
            Err(CodecError::Older {
                tag: self.name(),
                version,
                oldest: self.oldest,
            })
        } else {
            Ok(version)
        }
    }

    /// The first section with this tag in `env`, if it is there and of a version this tetra reads
    /// (the caller decodes by `section.version`).
    pub fn require<'a>(&self, env: &'a Envelope) -> Result<&'a Section, CodecError> {
        let s = env
            .section(&self.tag)
            .ok_or_else(|| CodecError::Missing { tag: self.name() })?;
        self.check(s.version)?;
        Ok(s)
    }
}

/// Panics unless every tag of `specs` is printable ASCII and differs from the others and from
/// vmm-core's own: an arch checks its sections at compile time with
/// `const _: () = check_tags(&SECTIONS);`.
pub const fn check_tags(specs: &[SectionSpec]) {
    const fn same(a: [u8; 4], b: [u8; 4]) -> bool {
        a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3]
    }
    let mut i = 0;
    while i < specs.len() {
        let t = specs[i].tag;
        let mut k = 0;
        while k < t.len() {
            assert!(
                t[k].is_ascii_graphic(),
                "a section tag is not printable ASCII"
            );
            k += 1;
        }
        let mut j = 0;
        while j < CORE_TAGS.len() {
            assert!(!same(t, CORE_TAGS[j]), "a section tag is one of vmm-core's");
            j += 1;
        }
        j = i + 1;
        while j < specs.len() {
            assert!(!same(t, specs[j].tag), "two sections share a tag");
            j += 1;
        }
        i += 1;
    }
}

/// Why a codec refused its input before looking at any value.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum CodecError {
    /// A read past the end.
    #[error(transparent)]
    Truncated(#[from] Truncated),
    /// Bytes left over after the state.
    #[error(transparent)]
    Trailing(#[from] Trailing),
    /// A section the arch needs is absent.
    #[error("section {tag} is missing")]
    Missing {
        /// The section's tag.
        tag: String,
    },
    /// A section written by a newer tetra.
    #[error("section {tag} version {version} is newer than this tetra's {current}")]
    Newer {
        /// The section's tag.
        tag: String,
        /// Its version.
        version: u16,
        /// The newest this tetra reads.
        current: u16,
    },
    /// A section version this tetra no longer (or never did) read.
    #[error(
        "section {tag} version {version} is older than the oldest this tetra reads ({oldest})"
    )]
    Older {
        /// The section's tag.
        tag: String,
        /// Its version.
        version: u16,
        /// The oldest this tetra reads.
        oldest: u16,
    },
}

/// Lets `?` turn the wire reader's errors into the codec error `$outer`, which must have a
/// `#[from] CodecError` variant: `vmm_core::codec_error_from!(X86SnapshotError);`.
#[macro_export]
macro_rules! codec_error_from {
    ($outer:ty) => {
        $crate::from_via!($outer => $crate::snapshot::codec::CodecError:
            $crate::wire::Truncated,
            $crate::wire::Trailing,
        );
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: SectionSpec = SectionSpec::new(*b"TEST", 2, 3);
    const _: () = check_tags(&[SPEC, SectionSpec::new(*b"TES2", 1, 1)]);

    #[test]
    #[should_panic(expected = "two sections share a tag")]
    fn a_tag_used_twice_is_refused() {
        check_tags(&[SPEC, SectionSpec::new(*b"OTHR", 1, 1), SPEC]);
    }

    #[test]
    #[should_panic(expected = "one of vmm-core's")]
    fn a_core_tag_is_refused() {
        check_tags(&[SectionSpec::new(*b"VCPU", 1, 1)]);
    }

    #[test]
    fn versions_and_presence() {
        let mut env = Envelope::new(*b"TETRATST");
        assert_eq!(
            SPEC.require(&env).unwrap_err().to_string(),
            "section TEST is missing"
        );
        env.push(Section::new(b"TEST", 4, vec![]));
        assert_eq!(
            SPEC.require(&env).unwrap_err().to_string(),
            "section TEST version 4 is newer than this tetra's 3"
        );
        assert_eq!(
            SPEC.check(1).unwrap_err().to_string(),
            "section TEST version 1 is older than the oldest this tetra reads (2)"
        );
        assert_eq!(SPEC.check(2), Ok(2));
        let s = SPEC.section(vec![1]);
        assert_eq!((s.version, s.optional, s.tag), (3, false, *b"TEST"));
        env.sections[0] = s;
        assert_eq!(SPEC.require(&env).unwrap().data, [1]);
    }
}
