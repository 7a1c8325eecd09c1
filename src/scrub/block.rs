//! Sixteen bytes at a time: the string scan's inner step. SSE2 on x86_64 (every such CPU has
//! it), a plain loop elsewhere that the compiler vectorizes for the target.

/// The bytes a string scan stops at: bit `k` of `.0` is set when `block[k]` is `"` or `\`,
/// bit `k` of `.1` when it is a raw control byte (below 0x20).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub fn string_stops(block: &[u8; 16]) -> (u32, u32) {
    use safe_arch::{
        cmp_eq_mask_i8_m128i as eq, load_unaligned_m128i, min_u8_m128i, move_mask_i8_m128i,
        set_splat_i8_m128i as splat,
    };
    let x = load_unaligned_m128i(block);
    let stops = eq(x, splat(b'"' as i8)) | eq(x, splat(b'\\' as i8));
    // Unsigned `x < 0x20` is `min(x, 0x1f) == x`: SSE2 has no unsigned compare.
    let controls = eq(min_u8_m128i(x, splat(0x1f)), x);
    (
        move_mask_i8_m128i(stops) as u32,
        move_mask_i8_m128i(controls) as u32,
    )
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
pub fn string_stops(block: &[u8; 16]) -> (u32, u32) {
    let (mut stops, mut controls) = (0u32, 0u32);
    for (k, &c) in block.iter().enumerate() {
        stops |= u32::from(c == b'"' || c == b'\\') << k;
        controls |= u32::from(c < 0x20) << k;
    }
    (stops, controls)
}

/// Whether the first `n` bytes (at most 16) of `a` and `b` are equal.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub fn equal_prefix(a: &[u8; 16], b: &[u8; 16], n: usize) -> bool {
    use safe_arch::{cmp_eq_mask_i8_m128i, load_unaligned_m128i, move_mask_i8_m128i};
    let equal = move_mask_i8_m128i(cmp_eq_mask_i8_m128i(
        load_unaligned_m128i(a),
        load_unaligned_m128i(b),
    )) as u32;
    let wanted = (1u32 << n.min(16)) - 1;
    equal & wanted == wanted
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
pub fn equal_prefix(a: &[u8; 16], b: &[u8; 16], n: usize) -> bool {
    a[..n.min(16)] == b[..n.min(16)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_compare_up_to_their_length() {
        let a = *b"abcdefghijklmnop";
        for n in 0..=16 {
            assert!(equal_prefix(&a, &a, n));
            for k in 0..16 {
                let mut b = a;
                b[k] ^= 0x20;
                assert_eq!(equal_prefix(&a, &b, n), k >= n, "{n} {k}");
            }
        }
    }

    #[test]
    fn every_byte_value_at_every_position() {
        for pos in 0..16 {
            for c in 0..=255u8 {
                let mut block = [b'a'; 16];
                block[pos] = c;
                let (stops, controls) = string_stops(&block);
                let stop = c == b'"' || c == b'\\';
                assert_eq!(stops, u32::from(stop) << pos, "{c:#x} at {pos}");
                assert_eq!(controls, u32::from(c < 0x20) << pos, "{c:#x} at {pos}");
            }
        }
    }
}
