//! `memcmp` and `bcmp` for the guest in wasm, eight bytes at a time.
//!
//! Rust compares byte strings (`==` on `str`, hash set lookups, `Ord`) by calling
//! `memcmp`, and wasi-libc's walks one byte at a time: a PUT of a group of 1,000 members
//! looks its 36-byte ids up in hash sets some thousands of times, and `memcmp` was the
//! guest's busiest function (a sixth of its time). Defined here, these are the ones the
//! component links, in place of the C library's.

/// Compares `n` bytes at `a` and `b` as `memcmp` does: the sign of the first differing
/// byte's difference, or 0.
///
/// # Safety
/// `a` and `b` must be valid for reads of `n` bytes.
pub unsafe fn compare(a: *const u8, b: *const u8, n: usize) -> i32 {
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: i + 8 <= n, and both are readable for n bytes; any alignment.
        let (x, y) = unsafe { (a.add(i).cast::<u64>().read_unaligned(), b.add(i).cast::<u64>().read_unaligned()) };
        if x != y {
            break;
        }
        i += 8;
    }
    while i < n {
        // SAFETY: i < n.
        let (x, y) = unsafe { (*a.add(i), *b.add(i)) };
        if x != y {
            return i32::from(x) - i32::from(y);
        }
        i += 1;
    }
    0
}

/// # Safety
/// As C's `memcmp`.
#[cfg(target_arch = "wasm32")]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: the caller's promise.
    unsafe { compare(a, b, n) }
}

/// # Safety
/// As C's `bcmp` (zero when equal).
#[cfg(target_arch = "wasm32")]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: the caller's promise.
    unsafe { compare(a, b, n) }
}

#[cfg(test)]
mod tests {
    use super::compare;
    use proptest::prelude::*;

    fn cmp(a: &[u8], b: &[u8]) -> i32 {
        assert_eq!(a.len(), b.len());
        // SAFETY: both slices hold len bytes.
        unsafe { compare(a.as_ptr(), b.as_ptr(), a.len()) }
    }

    #[test]
    fn the_first_differing_byte_decides_in_and_after_the_words() {
        let id = b"0b9f6e0c-6a3e-4c1d-9a57-2f4d1e8b7c60";
        assert_eq!(cmp(id, id), 0);
        for at in [0, 7, 8, 15, 31, 32, 35] {
            let mut other = *id;
            other[at] = b'z';
            assert!(cmp(id, &other) < 0 && cmp(&other, id) > 0, "at {at}");
        }
        assert_eq!(cmp(b"", b""), 0);
        assert_eq!(cmp(&[0xff], &[0x01]), 0xfe, "bytes compare unsigned");
    }

    proptest! {
        #[test]
        fn orders_as_slices_do(a in proptest::collection::vec(0u8..4, 0..40), flip in 0usize..40) {
            let mut b = a.clone();
            if let Some(byte) = b.get_mut(flip) {
                *byte = byte.wrapping_add(1) % 4;
            }
            prop_assert_eq!(cmp(&a, &b).signum(), a.cmp(&b) as i32);
        }
    }
}
