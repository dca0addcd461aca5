//! Bounds-checked byte access: every read and write of lvs-fwd goes through these, so no input
//! can make the crate index outside a buffer.

use crate::FwdError;

/// The error for an access of `len` bytes at `off` into a buffer of `got` bytes.
#[inline]
fn short(off: usize, len: usize, got: usize) -> FwdError {
    FwdError::Truncated {
        needed: off.saturating_add(len),
        got,
    }
}

/// `N` bytes at `off`, copied.
#[inline]
pub(crate) fn arr<const N: usize>(b: &[u8], off: usize) -> Result<[u8; N], FwdError> {
    off.checked_add(N)
        .and_then(|end| b.get(off..end))
        .and_then(|s| <[u8; N]>::try_from(s).ok())
        .ok_or_else(|| short(off, N, b.len()))
}

/// `N` bytes at `off`, mutable.
#[inline]
pub(crate) fn arr_mut<const N: usize>(b: &mut [u8], off: usize) -> Result<&mut [u8; N], FwdError> {
    let got = b.len();
    off.checked_add(N)
        .and_then(|end| b.get_mut(off..end))
        .and_then(|s| <&mut [u8; N]>::try_from(s).ok())
        .ok_or_else(|| short(off, N, got))
}

/// The byte at `off`.
#[inline]
pub(crate) fn u8_at(b: &[u8], off: usize) -> Result<u8, FwdError> {
    b.get(off).copied().ok_or_else(|| short(off, 1, b.len()))
}

/// The big-endian 16-bit word at `off`.
#[inline]
pub(crate) fn be16(b: &[u8], off: usize) -> Result<u16, FwdError> {
    arr::<2>(b, off).map(u16::from_be_bytes)
}

/// Writes `v` big-endian at `off`.
#[inline]
pub(crate) fn set_be16(b: &mut [u8], off: usize, v: u16) -> Result<(), FwdError> {
    *arr_mut::<2>(b, off)? = v.to_be_bytes();
    Ok(())
}

/// The sub-slice `start..end`.
#[inline]
pub(crate) fn range(b: &[u8], start: usize, end: usize) -> Result<&[u8], FwdError> {
    b.get(start..end).ok_or_else(|| short(0, end, b.len()))
}

/// The mutable sub-slice `start..end`.
#[inline]
pub(crate) fn range_mut(b: &mut [u8], start: usize, end: usize) -> Result<&mut [u8], FwdError> {
    let got = b.len();
    b.get_mut(start..end).ok_or_else(|| short(0, end, got))
}
