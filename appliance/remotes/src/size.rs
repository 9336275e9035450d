//! Byte counts as people write them: `500M`, `10G`, `1.5T`, `512KiB`, or plain bytes. One parser
//! for the command line's sizes and the bandwidth limit's rates, so that both accept the same
//! syntax and say the same things about what they refuse.

/// Why a byte count does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    /// Not a number with an optional unit.
    #[error("{0:?} is not a size (examples: 500M, 10G, 1048576)")]
    NotASize(String),
    /// A negative number.
    #[error("{0:?} is out of range")]
    Negative(String),
    /// More than 2^63 bytes, or not a finite number.
    #[error("{0:?} is out of range")]
    TooLarge(String),
}

/// Parses a byte count: a decimal number (a fraction is allowed), optionally followed by a binary
/// unit `K`, `M`, `G` or `T` (1K = 1024), optionally followed by `B` or `iB` (so `10G`, `10GB`
/// and `10GiB` are the same, and `100B` is 100 bytes). Letters may be in either case; spaces
/// around the number and the unit are allowed. A fraction of a byte is dropped.
pub fn parse_size(s: &str) -> Result<u64, SizeError> {
    parse_amount(s).map(|bytes| bytes as u64)
}

/// [`parse_size`] before the fraction of a byte is dropped (a rate may be below one byte).
pub(crate) fn parse_amount(s: &str) -> Result<f64, SizeError> {
    let t = s.trim();
    let t = strip_suffix_ignore_case(t, "ib")
        .or_else(|| strip_suffix_ignore_case(t, "b"))
        .unwrap_or(t)
        .trim_end();
    let (num, mult) = match t.chars().last().map(|c| c.to_ascii_uppercase()) {
        Some('K') => (&t[..t.len() - 1], 1u64 << 10),
        Some('M') => (&t[..t.len() - 1], 1 << 20),
        Some('G') => (&t[..t.len() - 1], 1 << 30),
        Some('T') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| SizeError::NotASize(s.to_owned()))?;
    if v < 0.0 {
        return Err(SizeError::Negative(s.to_owned()));
    }
    let bytes = v * mult as f64;
    if !bytes.is_finite() || bytes > u64::MAX as f64 / 2.0 {
        return Err(SizeError::TooLarge(s.to_owned()));
    }
    Ok(bytes)
}

fn strip_suffix_ignore_case<'a>(s: &'a str, suffix: &str) -> Option<&'a str> {
    let cut = s.len().checked_sub(suffix.len())?;
    let (head, tail) = (s.get(..cut)?, s.get(cut..)?);
    tail.eq_ignore_ascii_case(suffix).then_some(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        for (text, bytes) in [
            ("1024", 1024),
            ("0", 0),
            ("2K", 2048),
            ("2k", 2048),
            ("500M", 500 << 20),
            ("10G", 10 << 30),
            ("10GB", 10 << 30),
            ("10GiB", 10 << 30),
            ("10 gib", 10 << 30),
            ("1.5T", 3 << 39),
            ("1.5MiB", 3 << 19),
            ("100B", 100),
            ("100b", 100),
            (" 7 M ", 7 << 20),
            ("0.3K", 307),
        ] {
            assert_eq!(parse_size(text), Ok(bytes), "{text:?}");
        }
    }

    #[test]
    fn refusals_say_why() {
        for bad in ["ten", "", "M", "B", "1.5X", "1KK", "0x10", "1,5G"] {
            assert_eq!(
                parse_size(bad),
                Err(SizeError::NotASize(bad.to_owned())),
                "{bad:?}"
            );
        }
        assert_eq!(
            parse_size("ten").unwrap_err().to_string(),
            "\"ten\" is not a size (examples: 500M, 10G, 1048576)"
        );
        assert_eq!(
            parse_size("-1G").unwrap_err().to_string(),
            "\"-1G\" is out of range"
        );
        for huge in ["8388609T", "1e30", "inf", "NaN"] {
            assert!(
                matches!(
                    parse_size(huge),
                    Err(SizeError::TooLarge(_) | SizeError::NotASize(_))
                ),
                "{huge:?}"
            );
        }
        // Up to 2^63 bytes.
        assert_eq!(parse_size("8388608T"), Ok(1 << 63));
        assert_eq!(
            parse_size("8388609T"),
            Err(SizeError::TooLarge("8388609T".into()))
        );
    }
}
