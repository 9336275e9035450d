//! Moments as people read them, for messages and logs.

/// A moment (ns since the epoch) as RFC 3339 in UTC, to the second, for messages and logs.
pub fn rfc3339(ns: i64) -> String {
    jiff::Timestamp::from_nanosecond(i128::from(ns))
        .map(|t| t.round(jiff::Unit::Second).unwrap_or(t).to_string())
        .unwrap_or_else(|_| format!("{ns} ns"))
}
