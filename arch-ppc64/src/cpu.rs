//! The host CPU as the guest must see it: processor version (PVR), timebase and clock
//! frequencies, and the cache geometry.
//!
//! Under KVM-HV the guest runs on the host's cores, so it must be told the host's real values.
//! The cache *block* size matters most (seed 002): `dcbz` zeroes one block, and a guest told a
//! wrong size either leaves memory unzeroed or zeroes memory it did not mean to. The block sizes
//! come from the ELF auxiliary vector the kernel gives every process (`AT_DCACHEBSIZE`,
//! `AT_ICACHEBSIZE`, which glibc uses for the same reason), the line sizes, cache sizes and
//! associativity from the POWER-specific `AT_L1D_CACHEGEOMETRY`/`AT_L1D_CACHESIZE` entries when
//! the kernel fills them. PVR, timebase and clock come from `/proc/cpuinfo`, as QEMU reads them.
//!
//! The parsers are plain functions over bytes and text, tested on any host; [`HostCpu::detect`]
//! reads the running host and fails clearly where a value is missing (on a non-POWER host).

use thiserror::Error;

/// `AT_DCACHEBSIZE`: data cache block size.
pub const AT_DCACHEBSIZE: u64 = 19;
/// `AT_ICACHEBSIZE`: instruction cache block size.
pub const AT_ICACHEBSIZE: u64 = 20;
/// `AT_L1I_CACHESIZE`.
pub const AT_L1I_CACHESIZE: u64 = 40;
/// `AT_L1I_CACHEGEOMETRY`: line size in bits 0-15, associativity in bits 16-31.
pub const AT_L1I_CACHEGEOMETRY: u64 = 41;
/// `AT_L1D_CACHESIZE`.
pub const AT_L1D_CACHESIZE: u64 = 42;
/// `AT_L1D_CACHEGEOMETRY`.
pub const AT_L1D_CACHEGEOMETRY: u64 = 43;

/// Errors reading the host CPU.
#[derive(Debug, Error)]
pub enum CpuError {
    /// A host file could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A value is missing or malformed.
    #[error("{what} not found in {path} (is this a POWER host?)")]
    Missing {
        /// The value.
        what: &'static str,
        /// Where it was looked for.
        path: &'static str,
    },
    /// A cache size that is zero or not a power of two.
    #[error("the host reports a {what} of {value} bytes, not a power of two")]
    BadCacheSize {
        /// Which size.
        what: &'static str,
        /// The value.
        value: u64,
    },
}

/// One L1 cache as the device tree describes it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cache {
    /// Bytes affected by one cache-management instruction (`dcbz`, `dcbst`, `icbi`).
    pub block: u32,
    /// Line size (the performance unit); the block size when the host does not say.
    pub line: u32,
    /// Total size in bytes, when known.
    pub size: Option<u32>,
    /// Number of sets, when size and associativity are known.
    pub sets: Option<u32>,
}

/// The host's L1 caches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheGeometry {
    /// Data cache.
    pub d: Cache,
    /// Instruction cache.
    pub i: Cache,
}

/// Splits a native-endian auxiliary vector (`/proc/self/auxv`: pairs of machine words) into
/// (type, value) pairs up to `AT_NULL`.
pub fn parse_auxv(bytes: &[u8]) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    for pair in bytes.chunks_exact(16) {
        let word = |b: &[u8]| u64::from_ne_bytes(b.try_into().expect("8 bytes"));
        let (t, v) = (word(&pair[..8]), word(&pair[8..]));
        if t == 0 {
            break;
        }
        out.push((t, v));
    }
    out
}

fn one_cache(
    auxv: &[(u64, u64)],
    block_key: u64,
    size_key: u64,
    geo_key: u64,
    what: &'static str,
) -> Result<Cache, CpuError> {
    let get = |k| auxv.iter().find(|(t, _)| *t == k).map(|&(_, v)| v);
    let block = get(block_key)
        .filter(|&v| v != 0)
        .ok_or(CpuError::Missing {
            what,
            path: "the auxiliary vector",
        })?;
    let pow2 = |what, v: u64| {
        if v.is_power_of_two() && v <= u32::MAX as u64 {
            Ok(v as u32)
        } else {
            Err(CpuError::BadCacheSize { what, value: v })
        }
    };
    let block = pow2(what, block)?;
    let geo = get(geo_key).unwrap_or(0);
    let line = match geo & 0xffff {
        0 => block,
        l => pow2("cache line size", l)?,
    };
    let assoc = (geo >> 16) & 0xffff;
    let size = get(size_key)
        .filter(|&s| s != 0 && s <= u32::MAX as u64)
        .map(|s| s as u32);
    let sets = match (size, assoc) {
        (Some(s), 0xffff) if s >= line => Some(1), // fully associative
        (Some(s), a) if a != 0 && s as u64 >= line as u64 * a => Some(s / (line * a as u32)),
        _ => None,
    };
    Ok(Cache {
        block,
        line,
        size,
        sets,
    })
}

/// The L1 cache geometry from auxiliary-vector pairs. The block sizes are required.
pub fn cache_geometry(auxv: &[(u64, u64)]) -> Result<CacheGeometry, CpuError> {
    Ok(CacheGeometry {
        d: one_cache(
            auxv,
            AT_DCACHEBSIZE,
            AT_L1D_CACHESIZE,
            AT_L1D_CACHEGEOMETRY,
            "AT_DCACHEBSIZE (data cache block size)",
        )?,
        i: one_cache(
            auxv,
            AT_ICACHEBSIZE,
            AT_L1I_CACHESIZE,
            AT_L1I_CACHEGEOMETRY,
            "AT_ICACHEBSIZE (instruction cache block size)",
        )?,
    })
}

/// What `/proc/cpuinfo` says about a POWER host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuInfo {
    /// The processor version register (`revision : 2.2 (pvr 004e 1202)`).
    pub pvr: u32,
    /// Timebase frequency in Hz (`timebase : 512000000`).
    pub timebase_hz: u32,
    /// Core clock in Hz (`clock : 2200.000000MHz`), when given.
    pub clock_hz: Option<u32>,
}

fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then(|| v.trim())
    })
}

/// Parses `/proc/cpuinfo` of a powerpc host (the first processor's entries).
pub fn parse_cpuinfo(text: &str) -> Result<CpuInfo, CpuError> {
    const PATH: &str = "/proc/cpuinfo";
    let missing = |what| CpuError::Missing { what, path: PATH };
    let rev = field(text, "revision").ok_or(missing("the PVR (revision line)"))?;
    let pvr = rev
        .split_once("(pvr ")
        .and_then(|(_, r)| r.strip_suffix(')'))
        .and_then(|hex| u32::from_str_radix(&hex.replace(' ', ""), 16).ok())
        .ok_or(missing("the PVR (revision line)"))?;
    let timebase_hz = field(text, "timebase")
        .and_then(|v| v.parse().ok())
        .ok_or(missing("the timebase frequency"))?;
    let clock_hz = field(text, "clock")
        .and_then(|v| v.strip_suffix("MHz"))
        .and_then(|mhz| mhz.parse::<f64>().ok())
        .map(|mhz| (mhz * 1e6).round())
        .filter(|&hz| hz > 0.0 && hz <= u32::MAX as f64)
        .map(|hz| hz as u32);
    Ok(CpuInfo {
        pvr,
        timebase_hz,
        clock_hz,
    })
}

/// The device-tree name of a CPU node for `pvr` (`PowerPC,POWER9`), as QEMU and PowerVM name
/// them; `PowerPC,POWER` for a version tetra does not know.
pub fn cpu_model_name(pvr: u32) -> &'static str {
    match pvr >> 16 {
        0x0039 => "PowerPC,970",
        0x003c => "PowerPC,970FX",
        0x0044 => "PowerPC,970MP",
        0x0045 => "PowerPC,970GX",
        0x003f => "PowerPC,POWER7",
        0x004a => "PowerPC,POWER7+",
        0x004b..=0x004d => "PowerPC,POWER8",
        0x004e => "PowerPC,POWER9",
        0x0080 => "PowerPC,POWER10",
        0x0082 => "PowerPC,POWER11",
        _ => "PowerPC,POWER",
    }
}

/// `ibm,pa-features` for a processor of `pvr`, or `None` before POWER7 (the 970 family: Linux
/// then keeps its defaults for the PVR, as QEMU describes no such property for it). One
/// attribute descriptor (byte 0: the number of bytes that follow, byte 1: type 0), then 65
/// attribute bytes, bits numbered from the most significant as PAPR does. Set are exactly the
/// bits Linux reads (`ibm_pa_features` in `arch/powerpc/kernel/prom.c`) that the guest has:
///
/// - byte 0: bit 0 MMU, bit 1 FPU, bit 2 SLB, bit 3 the run latch (`CTRL`), bit 6 no-execute
///   pages;
/// - byte 5: bit 0 true little-endian;
/// - byte 40: bit 0 the radix MMU with guest translation shootdown, only for a radix guest
///   (`radix`): a descriptor this long makes Linux clear radix when the bit is clear, which a
///   hash-MMU guest needs.
///
/// Clear on purpose: byte 1 bit 2 (cache-inhibited large pages), byte 22 bit 0 (transactional
/// memory: tetra does not offer it, as QEMU's pseries does not by default since its `cap-htm`
/// went off) and byte 64 bit 0 (a second DAWR, which needs `KVM_CAP_PPC_DAWR1`). Linux 6.1
/// clears a feature whose bit is clear once the descriptor reaches its byte, so every byte up to
/// 64 is given.
pub fn pa_features(pvr: u32, radix: bool) -> Option<Vec<u8>> {
    if !matches!(pvr >> 16, 0x003f | 0x004a..=0x004e | 0x0080 | 0x0082) {
        return None;
    }
    const BYTES: usize = 65;
    let mut v = vec![0u8; 2 + BYTES];
    v[0] = BYTES as u8;
    let bit = |n: u8| 0x80u8 >> n;
    v[2] = bit(0) | bit(1) | bit(2) | bit(3) | bit(6);
    v[2 + 5] = bit(0);
    if radix {
        v[2 + 40] = bit(0);
    }
    Some(v)
}

/// The `ibm,vmx` level of a processor family, as PAPR's device tree says it: 2 for VMX and VSX
/// (POWER7 on, the processors KVM-HV runs on), 1 for VMX alone, 0 for neither. Linux turns on
/// AltiVec and VSX for its processes only when the device tree says so (without it a ppc64le
/// userland dies of SIGILL at its first vector instruction).
pub fn vmx_level(pvr: u32) -> u32 {
    match pvr >> 16 {
        0x003f | 0x004a..=0x004e | 0x0080 | 0x0082 => 2,
        // PPC970 family (970, 970FX, 970MP, 970GX): VMX.
        0x0039 | 0x003c | 0x0044 | 0x0045 => 1,
        _ => 0,
    }
}

/// Everything tetra takes from the host CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostCpu {
    /// `/proc/cpuinfo`.
    pub info: CpuInfo,
    /// The L1 caches.
    pub caches: CacheGeometry,
}

impl HostCpu {
    /// Reads the running host.
    pub fn detect() -> Result<Self, CpuError> {
        let read = |path: &'static str| {
            std::fs::read(path).map_err(|source| CpuError::Read { path, source })
        };
        let auxv = read("/proc/self/auxv")?;
        let cpuinfo = read("/proc/cpuinfo")?;
        Ok(HostCpu {
            info: parse_cpuinfo(&String::from_utf8_lossy(&cpuinfo))?,
            caches: cache_geometry(&parse_auxv(&auxv))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auxv_bytes(pairs: &[(u64, u64)]) -> Vec<u8> {
        let mut v = Vec::new();
        for &(t, x) in pairs.iter().chain([(0, 0)].iter()) {
            v.extend_from_slice(&t.to_ne_bytes());
            v.extend_from_slice(&x.to_ne_bytes());
        }
        v
    }

    /// What a POWER9 host (QEMU's power9 model, Linux 6.1) gives a process.
    const POWER9: &[(u64, u64)] = &[
        (33, 0x7fff_0000),
        (AT_DCACHEBSIZE, 128),
        (AT_ICACHEBSIZE, 128),
        (21, 0),
        (AT_L1I_CACHESIZE, 32768),
        (AT_L1I_CACHEGEOMETRY, (8 << 16) | 128),
        (AT_L1D_CACHESIZE, 32768),
        (AT_L1D_CACHEGEOMETRY, (8 << 16) | 128),
        (6, 65536),
    ];

    #[test]
    fn power9_geometry() {
        let pairs = parse_auxv(&auxv_bytes(POWER9));
        assert_eq!(pairs.len(), POWER9.len());
        let g = cache_geometry(&pairs).unwrap();
        let c = Cache {
            block: 128,
            line: 128,
            size: Some(32768),
            sets: Some(32),
        };
        assert_eq!(g, CacheGeometry { d: c, i: c });
    }

    #[test]
    fn block_sizes_alone_are_enough_and_required() {
        // A host that gives only the block sizes (64-byte blocks, as on PA6T or e5500).
        let g = cache_geometry(&[(AT_DCACHEBSIZE, 64), (AT_ICACHEBSIZE, 32)]).unwrap();
        assert_eq!(
            g.d,
            Cache {
                block: 64,
                line: 64,
                size: None,
                sets: None
            }
        );
        assert_eq!(g.i.block, 32);
        // An x86 host has neither: a clear error, not a guess.
        let e = cache_geometry(&[(6, 4096)]).unwrap_err().to_string();
        assert!(e.contains("AT_DCACHEBSIZE"), "{e}");
        let e = cache_geometry(&[(AT_DCACHEBSIZE, 96), (AT_ICACHEBSIZE, 128)]).unwrap_err();
        assert!(matches!(e, CpuError::BadCacheSize { value: 96, .. }), "{e}");
        // Fully associative.
        let g = cache_geometry(&[
            (AT_DCACHEBSIZE, 128),
            (AT_ICACHEBSIZE, 128),
            (AT_L1D_CACHESIZE, 4096),
            (AT_L1D_CACHEGEOMETRY, (0xffff << 16) | 128),
        ])
        .unwrap();
        assert_eq!(g.d.sets, Some(1));
        // Truncated auxv: the partial pair is ignored.
        assert_eq!(parse_auxv(&[1u8; 20]).len(), 1);
    }

    #[test]
    fn cpuinfo_of_a_power9_guest_host() {
        let text = "processor\t: 0\ncpu\t\t: POWER9 (architected), altivec supported\n\
                    clock\t\t: 1000.000000MHz\nrevision\t: 2.2 (pvr 004e 1202)\n\n\
                    processor\t: 1\ncpu\t\t: POWER9 (architected), altivec supported\n\
                    clock\t\t: 1000.000000MHz\nrevision\t: 2.2 (pvr 004e 1202)\n\n\
                    timebase\t: 512000000\nplatform\t: pSeries\nmodel\t\t: IBM pSeries (emulated by qemu)\n";
        let info = parse_cpuinfo(text).unwrap();
        assert_eq!(
            info,
            CpuInfo {
                pvr: 0x004e_1202,
                timebase_hz: 512_000_000,
                clock_hz: Some(1_000_000_000)
            }
        );
        assert_eq!(cpu_model_name(info.pvr), "PowerPC,POWER9");
        assert_eq!(cpu_model_name(0x0080_0200), "PowerPC,POWER10");
        assert_eq!(cpu_model_name(0x1234_0000), "PowerPC,POWER");
        let e = parse_cpuinfo("processor : 0\nvendor_id : GenuineIntel\n").unwrap_err();
        assert!(e.to_string().contains("PVR"), "{e}");
        let no_tb = "revision : 2.2 (pvr 004e 1202)\n";
        assert!(parse_cpuinfo(no_tb)
            .unwrap_err()
            .to_string()
            .contains("timebase"));
    }

    #[test]
    fn pa_features_say_what_linux_reads() {
        // POWER9, radix: MMU|FPU|SLB|RUN|NX, true LE, radix; TM and DAWR1 off.
        let r = pa_features(0x004e_1202, true).expect("POWER9 has pa-features");
        assert_eq!(r.len(), 67);
        assert_eq!((r[0], r[1]), (65, 0));
        let byte = |v: &[u8], n: usize| v[2 + n];
        assert_eq!(byte(&r, 0), 0xf2);
        assert_eq!(byte(&r, 1) & 0x20, 0);
        assert_eq!(byte(&r, 5), 0x80);
        assert_eq!(byte(&r, 22), 0);
        assert_eq!(byte(&r, 40), 0x80);
        assert_eq!(byte(&r, 64), 0);
        // A hash guest (POWER8 under KVM-PR): the same, but radix clear within the descriptor.
        let h = pa_features(0x004d_0200, false).expect("POWER8 has pa-features");
        assert_eq!(byte(&h, 40), 0);
        assert_eq!(h.len(), r.len());
        // The 970 family and unknown processors: none.
        assert_eq!(pa_features(0x0039_0200, false), None);
        assert_eq!(pa_features(0x0044_0100, false), None);
    }

    #[test]
    fn vmx_levels() {
        assert_eq!(vmx_level(0x004e_1202), 2); // POWER9
        assert_eq!(vmx_level(0x004d_0200), 2); // POWER8
        assert_eq!(vmx_level(0x0080_0100), 2); // POWER10
        assert_eq!(vmx_level(0x003c_0300), 1); // PPC970FX
        assert_eq!(vmx_level(0x8024_0020), 0); // e5500
    }
}
