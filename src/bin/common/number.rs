//! Number and size parsing, as C's `strtoul`/`strtoimax` and
//! util-linux's wrappers.

use super::*;

// ---------------------------------------------------------------------------
// numbers, as C's strtoul/strtoimax and util-linux's wrappers

/// C `strtoul`/`strtoull`: (value, bytes consumed (0 = no number),
/// overflowed). Leading blanks and a sign are accepted; base 0 detects
/// `0x` and `0`.
pub fn c_strtoul(s: &str, base: u32) -> (u64, usize, bool) {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && (b[i] == b' ' || (b'\t'..=b'\r').contains(&b[i])) {
        i += 1;
    }
    let mut neg = false;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        neg = b[i] == b'-';
        i += 1;
    }
    let mut base = base;
    let hex_prefix = i + 1 < b.len()
        && b[i] == b'0'
        && (b[i + 1] == b'x' || b[i + 1] == b'X')
        && i + 2 < b.len()
        && (b[i + 2] as char).is_ascii_hexdigit();
    if (base == 0 || base == 16) && hex_prefix {
        base = 16;
        i += 2;
    } else if base == 0 {
        base = if i < b.len() && b[i] == b'0' { 8 } else { 10 };
    }
    let start = i;
    let mut v: u64 = 0;
    let mut over = false;
    while i < b.len() {
        let d = match (b[i] as char).to_digit(base) {
            Some(d) => d as u64,
            None => break,
        };
        match v.checked_mul(base as u64).and_then(|x| x.checked_add(d)) {
            Some(x) => v = x,
            None => over = true,
        }
        i += 1;
    }
    if i == start {
        // "0x" with no hex digit after is "0" followed by "x…"
        return (0, 0, false);
    }
    if over {
        return (u64::MAX, i, true);
    }
    (if neg { v.wrapping_neg() } else { v }, i, false)
}

/// C `strtoimax(s, &end, 10)`: (value, consumed, overflowed).
pub fn c_strtoimax(s: &str) -> (i64, usize, bool) {
    let t = s.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let neg = t.starts_with('-');
    let (mag, n, over) = c_strtoul(s, 10);
    if n == 0 {
        return (0, 0, false);
    }
    if over {
        return (if neg { i64::MIN } else { i64::MAX }, n, true);
    }
    let m = if neg { mag.wrapping_neg() } else { mag };
    if neg {
        if m > (i64::MAX as u64) + 1 {
            return (i64::MIN, n, true);
        }
        (0i64.wrapping_sub(m as i64), n, false)
    } else if m > i64::MAX as u64 {
        (i64::MAX, n, true)
    } else {
        (m as i64, n, false)
    }
}

/// util-linux `strtos32_or_err`: exits with `msg: 'str'` (and
/// `: Numerical result out of range` when it does not fit).
pub fn strtos32_or_err(prog: &str, s: &str, msg: &str) -> i32 {
    let (v, n, over) = c_strtoimax(s);
    if s.is_empty() || n == 0 || n != s.len() {
        errx(prog, &format!("{msg}: '{s}'"));
    }
    if over || v < i32::MIN as i64 || v > i32::MAX as i64 {
        err(prog, &format!("{msg}: '{s}'"), libc::ERANGE);
    }
    v as i32
}

/// util-linux `parse_size`: a number (C base 0) with an optional
/// fraction and suffix `K M G T P E Z Y` (either case), `…iB` = powers of
/// 1024 (the default), `…B` = powers of 1000. Err(errno) on failure.
pub fn parse_size(s: &str) -> Result<u64, i32> {
    if s.is_empty() {
        return Err(libc::EINVAL);
    }
    if s.trim_start().starts_with('-') {
        return Err(libc::EINVAL);
    }
    let (x, n, over) = c_strtoul(s, 0);
    if n == 0 {
        return Err(libc::EINVAL);
    }
    if over {
        return Err(libc::ERANGE);
    }
    let mut p = &s[n..];
    if p.is_empty() {
        return Ok(x);
    }
    let mut frac: u64 = 0;
    let mut frac_zeros = 0u32;
    let mut base: u64 = 1024;
    loop {
        let b = p.as_bytes();
        let at = |i: usize| b.get(i).copied().unwrap_or(0);
        if at(1) == b'i' && (at(2) == b'B' || at(2) == b'b') && at(3) == 0 {
            base = 1024;
        } else if (at(1) == b'B' || at(1) == b'b') && at(2) == 0 {
            base = 1000;
        } else if at(1) != 0 {
            if frac == 0 && at(0) == b'.' {
                let f = &p[1..];
                frac_zeros = f.bytes().take_while(|&c| c == b'0').count() as u32;
                let digits = f.bytes().take_while(|c| c.is_ascii_digit()).count();
                if digits == 0 {
                    return Err(libc::EINVAL);
                }
                let (fv, _, fo) = c_strtoul(&f[..digits], 10);
                if fo {
                    return Err(libc::ERANGE);
                }
                frac = fv;
                p = &f[digits..];
                if p.is_empty() {
                    // a fraction without a suffix
                    return Err(libc::EINVAL);
                }
                if frac == 0 {
                    frac_zeros = 0;
                }
                continue;
            }
            return Err(libc::EINVAL);
        }
        break;
    }
    let c = p.as_bytes()[0];
    let pwr = match "KMGTPEZY".find(c.to_ascii_uppercase() as char) {
        Some(i) if c.is_ascii_alphabetic() => i as u32 + 1,
        _ => return Err(libc::EINVAL),
    };
    let mut mult: u64 = 1;
    for _ in 0..pwr {
        mult = mult.checked_mul(base).ok_or(libc::ERANGE)?;
    }
    let mut v = x.checked_mul(mult).ok_or(libc::ERANGE)?;
    if frac != 0 {
        let mut frac_div: u64 = 10;
        while frac_div < frac {
            frac_div = frac_div.saturating_mul(10);
        }
        for _ in 0..frac_zeros {
            frac_div = frac_div.saturating_mul(10);
        }
        let mut frac_poz: u64 = 1;
        let mut f = frac;
        loop {
            let seg = f % 10;
            let seg_div = frac_div / frac_poz;
            f /= 10;
            frac_poz = frac_poz.saturating_mul(10);
            if seg != 0 && seg_div / seg != 0 {
                v = v.saturating_add(mult / (seg_div / seg));
            }
            if f == 0 {
                break;
            }
        }
    }
    Ok(v)
}
