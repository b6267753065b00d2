//! Local-time rendering for `--pretty`: `time.ctime()` and `time.strftime()` as whisper's
//! scripts call them (through the C library, so `TZ` and the format directives behave
//! the same).

use std::ffi::CString;

/// `time.strftime(format, time.localtime(t))`.
pub fn strftime(format: &str, t: i64) -> String {
    let Ok(fmt) = CString::new(format) else {
        return String::new();
    };
    let secs = t as libc::time_t;
    // SAFETY: an all-zero `tm` is a valid value for `localtime_r` to overwrite.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are to live, properly aligned locals.
    if unsafe { libc::localtime_r(&raw const secs, &raw mut tm) }.is_null() {
        return String::new();
    }
    let mut buf = vec![0_u8; 256 + format.len() * 8];
    // SAFETY: `buf` has `buf.len()` writable bytes, `fmt` is NUL-terminated, `tm` was
    // filled by `localtime_r`.
    let n = unsafe {
        libc::strftime(
            buf.as_mut_ptr().cast(),
            buf.len(),
            fmt.as_ptr(),
            &raw const tm,
        )
    };
    buf.truncate(n);
    String::from_utf8_lossy(&buf).into_owned()
}

/// `time.ctime(t)`: `Wed Nov 25 15:52:30 2026` in local time, day padded with a space.
pub fn ctime(t: i64) -> String {
    strftime("%a %b %e %H:%M:%S %Y", t)
}
