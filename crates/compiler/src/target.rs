//! The CPU runtime variants are compiled for. A variant is built on the producer's machine
//! for that machine (`-C target-cpu=native`: AVX2 and wider where the CPU has them, about
//! 0.7–0.85× the time per sample of a generic build, docs/BENCHMARKS.md), so the CPU's
//! identity goes into the cache key: a cache folder shared between machines (a synced home)
//! never hands one CPU a library that uses instructions another lacks.

/// The rustc flags that build for this CPU, when it can be identified.
pub const NATIVE_FLAGS: &[&str] = &["-C", "target-cpu=native"];

/// The CPU's identity for the cache key: its family, model and stepping and every feature bit
/// the CPU reports (CPUID leaves 1, 7 and 0x80000001, the registers that carry features),
/// plus whether the operating system enables the wide vector registers. `None` where it
/// cannot be read; variants are then built for the generic target.
pub fn native_cpu() -> Option<String> {
    imp::native_cpu()
}

#[cfg(target_arch = "x86_64")]
mod imp {
    use std::arch::x86_64::{__cpuid_count, CpuidResult};

    /// What a leaf the CPU does not have contributes to the identity.
    const NO_LEAF: CpuidResult = CpuidResult {
        eax: 0,
        ebx: 0,
        ecx: 0,
        edx: 0,
    };

    pub fn native_cpu() -> Option<String> {
        // SAFETY: CPUID exists on every x86_64 CPU; leaves above the maximum return zeros or
        // the highest leaf's values, which still identify the CPU consistently. (Newer Rust
        // declares the intrinsic safe; the crate's minimum version needs the block.)
        #[allow(unused_unsafe)]
        let leaf = |leaf: u32, sub: u32| -> CpuidResult { unsafe { __cpuid_count(leaf, sub) } };
        let max = leaf(0, 0).eax;
        let max_extended = leaf(0x8000_0000, 0).eax;
        let basic = leaf(1, 0);
        let (structured, structured_1) = if max >= 7 {
            (leaf(7, 0), leaf(7, 1))
        } else {
            (NO_LEAF, NO_LEAF)
        };
        let extended = if max_extended >= 0x8000_0001 {
            leaf(0x8000_0001, 0)
        } else {
            NO_LEAF
        };
        // Leaf 1's EBX holds the core's APIC id, which differs between cores: left out.
        Some(format!(
            "x86_64 cpuid 1:{:08x}.{:08x}.{:08x} 7:{:08x}.{:08x}.{:08x}.{:08x} 80000001:{:08x}.{:08x} os avx2:{} avx512f:{}",
            basic.eax,
            basic.ecx,
            basic.edx,
            structured.ebx,
            structured.ecx,
            structured.edx,
            structured_1.eax,
            extended.ecx,
            extended.edx,
            std::arch::is_x86_feature_detected!("avx2"),
            std::arch::is_x86_feature_detected!("avx512f"),
        ))
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod imp {
    pub fn native_cpu() -> Option<String> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_identity_is_stable_within_a_process() {
        let first = native_cpu();
        // Asked from another thread (possibly another core): the same identity.
        let other = std::thread::spawn(native_cpu).join().unwrap();
        assert_eq!(first, other);
        if cfg!(target_arch = "x86_64") {
            let id = first.expect("x86_64 CPUs identify themselves");
            assert!(id.starts_with("x86_64 cpuid 1:"), "{id}");
            // SSE2 (leaf 1 EDX bit 26) is part of every x86_64 CPU.
            let edx = id.split("1:").nth(1).unwrap().split('.').nth(2).unwrap();
            let edx = u32::from_str_radix(&edx[..8], 16).unwrap();
            assert_ne!(edx & (1 << 26), 0, "{id}");
        }
    }
}
