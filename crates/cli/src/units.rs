//! Docker's human-readable units, ported from `github.com/docker/go-units`.
//!
//! * [`human_size`] / [`human_size_with_precision`]: decimal sizes (`1.23kB`,
//!   `2.05MB`) as printed by `docker images`, `docker ps -s`, `docker system df`.
//! * [`bytes_size`]: binary sizes (`1.5MiB`) as printed by `docker stats`.
//! * [`human_duration`] / [`since`]: `About a minute`, `3 hours ago` (the
//!   CREATED and STATUS columns).
//! * [`parse_bytes`] (`RAMInBytes`, binary multiples: `--memory 512m`) and
//!   [`parse_size`] (`FromHumanSize`, decimal multiples).
//!
//! The numeric formatting reproduces Go's `fmt` verb `%.*g` exactly
//! (including its quirks, e.g. `999999` bytes is `1e+03kB` in go-units too).
#![allow(dead_code)] // the public surface is used incrementally by main.rs

use std::time::Duration;

/// Decimal unit abbreviations (`decimapAbbrs` in go-units).
const DECIMAL_ABBRS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
/// Binary unit abbreviations (`binaryAbbrs` in go-units).
const BINARY_ABBRS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];

/// `units.HumanSizeWithPrecision(float64(bytes), 3)`: what docker prints in
/// its SIZE columns. `0B`, `999B`, `1kB`, `1.23kB`, `2.05MB`, `123MB`.
pub fn human_size(bytes: u64) -> String {
    human_size_with_precision(bytes as f64, 3)
}

/// `units.HumanSizeWithPrecision(size, precision)`: decimal (1000-based)
/// units, `precision` significant digits formatted like Go's `%.*g`.
/// (`units.HumanSize` is this with precision 4.)
pub fn human_size_with_precision(size: f64, precision: usize) -> String {
    custom_size(size, 1000.0, &DECIMAL_ABBRS, precision)
}

/// `units.BytesSize(float64(bytes))`: binary (1024-based) units with 4
/// significant digits (`%.4g`), as in `docker stats` (`1.5MiB / 7.6GiB`).
pub fn bytes_size(bytes: u64) -> String {
    bytes_size_f64(bytes as f64)
}

/// [`bytes_size`] for a floating-point byte count.
pub fn bytes_size_f64(size: f64) -> String {
    custom_size(size, 1024.0, &BINARY_ABBRS, 4)
}

/// go-units `getSizeAndUnit` + `CustomSize`.
fn custom_size(mut size: f64, base: f64, abbrs: &[&str], precision: usize) -> String {
    let mut i = 0;
    while size >= base && i < abbrs.len() - 1 {
        size /= base;
        i += 1;
    }
    format!("{}{}", format_g(size, precision), abbrs[i])
}

/// Go's `fmt.Sprintf("%.*g", precision, v)` for finite `v`: `precision`
/// significant digits, scientific notation when the exponent is < -4 or
/// >= precision, trailing zeros removed, exponent with at least two digits.
pub(crate) fn format_g(v: f64, precision: usize) -> String {
    if v.is_nan() {
        return "NaN".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    let prec = precision.max(1);
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    // Let Rust do the (correctly rounded) decimal conversion in scientific
    // form, which tells us the exponent *after* rounding.
    let sci = format!("{:.*e}", prec - 1, v);
    let (mantissa, exp) = match sci.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (sci.as_str(), 0),
    };
    if exp < -4 || exp >= prec as i32 {
        let mantissa = strip_trailing_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.unsigned_abs())
    } else {
        let decimals = (prec as i32 - 1 - exp).max(0) as usize;
        strip_trailing_zeros(&format!("{v:.decimals$}")).to_string()
    }
}

/// `1.500` → `1.5`, `2.000` → `2`, `10` → `10`.
fn strip_trailing_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// go-units `HumanDuration`: `Less than a second`, `1 second`, `N seconds`,
/// `About a minute`, `N minutes`, `About an hour`, `N hours` (< 48h),
/// `N days` (< 2 weeks), `N weeks` (< 60 days), `N months` (< 2 years),
/// `N years`.
pub fn human_duration(d: Duration) -> String {
    let seconds = d.as_secs();
    if seconds < 1 {
        return "Less than a second".to_string();
    }
    if seconds == 1 {
        return "1 second".to_string();
    }
    if seconds < 60 {
        return format!("{seconds} seconds");
    }
    let minutes = seconds / 60;
    if minutes == 1 {
        return "About a minute".to_string();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    // Go: int(d.Round(time.Hour).Hours()), halfway rounds up.
    const HOUR: u128 = 3_600_000_000_000;
    let nanos = d.as_nanos();
    let hours = ((nanos + HOUR / 2) / HOUR) as u64;
    if hours == 1 {
        "About an hour".to_string()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        // Go: int(d.Hours())/24/365 (truncated, not rounded).
        format!("{} years", seconds / 3600 / 24 / 365)
    }
}

/// Docker's CREATED column: `human_duration(now - t) + " ago"`
/// (`3 seconds ago`, `About a minute ago`). A time in the future (clock
/// skew) counts as zero: `Less than a second ago`.
pub fn since(t: chrono::DateTime<chrono::Utc>) -> String {
    since_at(t, chrono::Utc::now())
}

/// [`since`] relative to an explicit `now` (testable).
pub fn since_at(t: chrono::DateTime<chrono::Utc>, now: chrono::DateTime<chrono::Utc>) -> String {
    let d = (now - t).to_std().unwrap_or(Duration::ZERO);
    format!("{} ago", human_duration(d))
}

/// Binary multiples for `RAMInBytes`.
const BINARY_MUL: [(u8, i64); 5] = [
    (b'k', 1 << 10),
    (b'm', 1 << 20),
    (b'g', 1 << 30),
    (b't', 1 << 40),
    (b'p', 1 << 50),
];
/// Decimal multiples for `FromHumanSize`.
const DECIMAL_MUL: [(u8, i64); 5] = [
    (b'k', 1_000),
    (b'm', 1_000_000),
    (b'g', 1_000_000_000),
    (b't', 1_000_000_000_000),
    (b'p', 1_000_000_000_000_000),
];

/// go-units `RAMInBytes`: a size with an optional binary-multiple suffix
/// (`512m`, `1g`, `1.5GiB`, `100k`, `32Kb`, `1024`; case-insensitive; `k`,
/// `kb`, `kib` all mean 1024). Used for `--memory`, `--shm-size`, ….
pub fn parse_bytes(s: &str) -> Result<i64, String> {
    parse_size_with(s, &BINARY_MUL)
}

/// go-units `FromHumanSize`: like [`parse_bytes`] but decimal (`1k` = 1000).
pub fn parse_size(s: &str) -> Result<i64, String> {
    parse_size_with(s, &DECIMAL_MUL)
}

/// go-units `parseSize`.
fn parse_size_with(size_str: &str, map: &[(u8, i64)]) -> Result<i64, String> {
    let Some(sep) = size_str.rfind(|c: char| c.is_ascii_digit() || c == '.' || c == ' ') else {
        return Err(format!("invalid size: '{size_str}'"));
    };
    let (num, sfx) = if size_str.as_bytes()[sep] != b' ' {
        (&size_str[..=sep], &size_str[sep + 1..])
    } else {
        (&size_str[..sep], &size_str[sep + 1..])
    };
    let size = parse_go_float(num)
        .ok_or_else(|| format!("strconv.ParseFloat: parsing {num:?}: invalid syntax"))?;
    if size < 0.0 {
        return Err(format!("invalid size: '{size_str}'"));
    }
    if sfx.is_empty() {
        return Ok(size as i64);
    }
    let bad_suffix = || format!("invalid suffix: '{sfx}'");
    if sfx.len() > 3 {
        return Err(bad_suffix());
    }
    let lower = sfx.to_ascii_lowercase();
    let b = lower.as_bytes();
    if b[0] == b'b' {
        if b.len() > 1 {
            return Err(bad_suffix());
        }
        return Ok(size as i64);
    }
    let Some(&(_, mul)) = map.iter().find(|(c, _)| *c == b[0]) else {
        return Err(bad_suffix());
    };
    let ok = match b.len() {
        1 => true,
        2 => b[1] == b'b',
        _ => &b[1..] == b"ib",
    };
    if !ok {
        return Err(bad_suffix());
    }
    Ok((size * mul as f64) as i64)
}

/// A subset-compatible `strconv.ParseFloat(s, 64)`: decimal digits with an
/// optional sign, fraction and exponent (`.3`, `0.`, `1e3`, `-0`). Rejects
/// surrounding spaces and Rust-only spellings (`inf`, `nan`).
fn parse_go_float(s: &str) -> Option<f64> {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    if !body.bytes().any(|c| c.is_ascii_digit())
        || !body
            .bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    s.parse::<f64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KB: f64 = 1000.0;
    const MB: f64 = 1000.0 * KB;
    const GB: f64 = 1000.0 * MB;
    const TB: f64 = 1000.0 * GB;
    const PB: f64 = 1000.0 * TB;
    const KIB: f64 = 1024.0;
    const MIB: f64 = 1024.0 * KIB;
    const GIB: f64 = 1024.0 * MIB;
    const TIB: f64 = 1024.0 * GIB;
    const PIB: f64 = 1024.0 * TIB;

    #[test]
    fn format_g_matches_go() {
        assert_eq!(format_g(1.234, 3), "1.23");
        assert_eq!(format_g(10.0, 3), "10");
        assert_eq!(format_g(999.999, 3), "1e+03");
        assert_eq!(format_g(0.0001234, 3), "0.000123");
        assert_eq!(format_g(0.00001234, 3), "1.23e-05");
        assert_eq!(format_g(123.456789, 3), "123");
        assert_eq!(format_g(1.5, 4), "1.5");
        assert_eq!(format_g(100.0, 1), "1e+02");
    }

    #[test]
    fn human_size_docker() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1000), "1kB");
        assert_eq!(human_size(1234), "1.23kB");
        assert_eq!(human_size(2_049_000), "2.05MB");
        assert_eq!(human_size(4_261_000), "4.26MB");
        assert_eq!(human_size(10_000_000), "10MB");
        assert_eq!(human_size(123_456_789), "123MB");
        assert_eq!(human_size(7_800_000), "7.8MB");
        assert_eq!(human_size(999_999), "1e+03kB"); // go-units quirk, kept
    }

    #[test]
    fn human_size_go_units_cases() {
        // go-units TestHumanSize (HumanSize = precision 4).
        let hs = |v: f64| human_size_with_precision(v, 4);
        assert_eq!(hs(1000.0), "1kB");
        assert_eq!(hs(1024.0), "1.024kB");
        assert_eq!(hs(1_000_000.0), "1MB");
        assert_eq!(hs(1_048_576.0), "1.049MB");
        assert_eq!(hs(2.0 * MB), "2MB");
        assert_eq!(hs(3.42 * GB), "3.42GB");
        assert_eq!(hs(5.372 * TB), "5.372TB");
        assert_eq!(hs(2.22 * PB), "2.22PB");
        assert_eq!(hs(10_000_000_000_000.0 * PB), "1e+04YB");
    }

    #[test]
    fn bytes_size_go_units_cases() {
        assert_eq!(bytes_size(1024), "1KiB");
        assert_eq!(bytes_size(1024 * 1024), "1MiB");
        assert_eq!(bytes_size(1_048_576), "1MiB");
        assert_eq!(bytes_size(2 * 1024 * 1024), "2MiB");
        assert_eq!(bytes_size(0), "0B");
        assert_eq!(bytes_size(1536), "1.5KiB");
        assert_eq!(bytes_size_f64(3.42 * GIB), "3.42GiB");
        assert_eq!(bytes_size_f64(5.372 * TIB), "5.372TiB");
        assert_eq!(bytes_size_f64(2.22 * PIB), "2.22PiB");
        assert_eq!(
            bytes_size_f64(KIB * KIB * KIB * KIB * KIB * PIB),
            "1.049e+06YiB"
        );
    }

    #[test]
    fn human_duration_go_units_cases() {
        let s = Duration::from_secs;
        let min = |m: u64| s(m * 60);
        let hour = |h: u64| s(h * 3600);
        let day = |d: u64| hour(24 * d);
        let week = |w: u64| day(7 * w);
        let month = |m: u64| day(30 * m);
        let year = |y: u64| day(365 * y);
        let hd = human_duration;
        assert_eq!(hd(Duration::from_millis(450)), "Less than a second");
        assert_eq!(hd(Duration::ZERO), "Less than a second");
        assert_eq!(hd(s(1)), "1 second");
        assert_eq!(hd(s(45)), "45 seconds");
        assert_eq!(hd(s(46)), "46 seconds");
        assert_eq!(hd(s(59)), "59 seconds");
        assert_eq!(hd(s(60)), "About a minute");
        assert_eq!(hd(min(1)), "About a minute");
        assert_eq!(hd(min(1) + s(59)), "About a minute");
        assert_eq!(hd(min(3)), "3 minutes");
        assert_eq!(hd(min(35)), "35 minutes");
        assert_eq!(hd(min(35) + s(40)), "35 minutes");
        assert_eq!(hd(min(45)), "45 minutes");
        assert_eq!(hd(min(45) + s(40)), "45 minutes");
        assert_eq!(hd(min(46)), "46 minutes");
        assert_eq!(hd(min(59)), "59 minutes");
        assert_eq!(hd(hour(1)), "About an hour");
        assert_eq!(hd(hour(1) + min(29)), "About an hour");
        assert_eq!(hd(hour(1) + min(30)), "2 hours");
        assert_eq!(hd(hour(1) + min(31)), "2 hours");
        assert_eq!(hd(hour(1) + min(59)), "2 hours");
        assert_eq!(hd(hour(3)), "3 hours");
        assert_eq!(hd(hour(3) + min(29)), "3 hours");
        assert_eq!(hd(hour(3) + min(31)), "4 hours");
        assert_eq!(hd(hour(3) + min(59)), "4 hours");
        assert_eq!(hd(hour(3) + min(60)), "4 hours");
        assert_eq!(hd(hour(24)), "24 hours");
        assert_eq!(hd(day(1) + hour(12)), "36 hours");
        assert_eq!(hd(day(2)), "2 days");
        assert_eq!(hd(day(7)), "7 days");
        assert_eq!(hd(day(13) + hour(5)), "13 days");
        assert_eq!(hd(week(2)), "2 weeks");
        assert_eq!(hd(week(2) + day(4)), "2 weeks");
        assert_eq!(hd(week(3)), "3 weeks");
        assert_eq!(hd(week(4)), "4 weeks");
        assert_eq!(hd(week(4) + day(3)), "4 weeks");
        assert_eq!(hd(month(1)), "4 weeks");
        assert_eq!(hd(month(1) + week(2)), "6 weeks");
        assert_eq!(hd(month(2)), "2 months");
        assert_eq!(hd(month(2) + week(2)), "2 months");
        assert_eq!(hd(month(3)), "3 months");
        assert_eq!(hd(month(3) + week(1)), "3 months");
        assert_eq!(hd(month(5) + week(2)), "5 months");
        assert_eq!(hd(month(13)), "13 months");
        assert_eq!(hd(month(23)), "23 months");
        assert_eq!(hd(month(24)), "24 months");
        assert_eq!(hd(month(24) + week(2)), "2 years");
        assert_eq!(hd(year(3) + month(2)), "3 years");
    }

    #[test]
    fn since_ago() {
        let now = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        let ago = |secs: i64| since_at(now - chrono::Duration::seconds(secs), now);
        assert_eq!(ago(3), "3 seconds ago");
        assert_eq!(ago(90), "About a minute ago");
        assert_eq!(ago(0), "Less than a second ago");
        assert_eq!(ago(-30), "Less than a second ago"); // clock skew
        assert_eq!(ago(2 * 86400), "2 days ago");
        assert!(since(chrono::Utc::now()).ends_with(" ago"));
    }

    #[test]
    fn ram_in_bytes_go_units_cases() {
        let ok = |s: &str| parse_bytes(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        let kib = 1024_i64;
        let mib = kib * 1024;
        let gib = mib * 1024;
        let tib = gib * 1024;
        let pib = tib * 1024;
        assert_eq!(ok("32"), 32);
        assert_eq!(ok("32b"), 32);
        assert_eq!(ok("32B"), 32);
        assert_eq!(ok("32k"), 32 * kib);
        assert_eq!(ok("32K"), 32 * kib);
        assert_eq!(ok("32kb"), 32 * kib);
        assert_eq!(ok("32Kb"), 32 * kib);
        assert_eq!(ok("32Kib"), 32 * kib);
        assert_eq!(ok("32KIB"), 32 * kib);
        assert_eq!(ok("32Mb"), 32 * mib);
        assert_eq!(ok("32Gb"), 32 * gib);
        assert_eq!(ok("32Tb"), 32 * tib);
        assert_eq!(ok("32Pb"), 32 * pib);
        assert_eq!(ok("32PB"), 32 * pib);
        assert_eq!(ok("32P"), 32 * pib);
        assert_eq!(ok("32.3"), 32);
        assert_eq!(ok("32.3 mb"), (32.3 * MIB) as i64);
        assert_eq!(ok("0.3MB"), (0.3 * MIB) as i64);
        assert_eq!(ok("512m"), 512 * mib);
        assert_eq!(ok("1g"), gib);
        assert_eq!(ok("1.5GiB"), gib + gib / 2);
        assert_eq!(ok("100k"), 100 * kib);
        for bad in [
            "", "hello", "-32", " 32 ", "32m b", "32bm", "32.3Jb", "32 KiBb", "..3",
        ] {
            assert!(parse_bytes(bad).is_err(), "{bad:?} should fail");
        }
        assert_eq!(parse_bytes("hello").unwrap_err(), "invalid size: 'hello'");
        assert_eq!(parse_bytes("32bm").unwrap_err(), "invalid suffix: 'bm'");
    }

    #[test]
    fn from_human_size_go_units_cases() {
        let ok = |s: &str| parse_size(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(ok("0"), 0);
        assert_eq!(ok("0b"), 0);
        assert_eq!(ok("0B"), 0);
        assert_eq!(ok("0 B"), 0);
        assert_eq!(ok("32"), 32);
        assert_eq!(ok("32b"), 32);
        assert_eq!(ok("32B"), 32);
        assert_eq!(ok("32k"), 32 * KB as i64);
        assert_eq!(ok("32K"), 32 * KB as i64);
        assert_eq!(ok("32kb"), 32 * KB as i64);
        assert_eq!(ok("32Kb"), 32 * KB as i64);
        assert_eq!(ok("32Mb"), 32 * MB as i64);
        assert_eq!(ok("32Gb"), 32 * GB as i64);
        assert_eq!(ok("32Tb"), 32 * TB as i64);
        assert_eq!(ok("32Pb"), 32 * PB as i64);
        assert_eq!(ok("32.5kB"), (32.5 * KB) as i64);
        assert_eq!(ok("32.5 kB"), (32.5 * KB) as i64);
        assert_eq!(ok("32.5 B"), 32);
        assert_eq!(ok("0.3 K"), 300);
        assert_eq!(ok(".3kB"), 300);
        assert_eq!(ok("0."), 0);
        assert_eq!(ok("0. "), 0);
        assert_eq!(ok("0.b"), 0);
        assert_eq!(ok("0.B"), 0);
        assert_eq!(ok("-0"), 0);
        assert_eq!(ok("-0b"), 0);
        assert_eq!(ok("-0.0"), 0);
        for bad in [
            "",
            "hello",
            "-32",
            ".3.4kB",
            " 32 ",
            "32m b",
            "32bm",
            "32.3Jb",
            "-1KB",
            "1.5 kiB b",
        ] {
            assert!(parse_size(bad).is_err(), "{bad:?} should fail");
        }
    }
}
