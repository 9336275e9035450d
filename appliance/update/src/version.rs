//! System versions, ordered as an owner reads them: dot-separated parts, numeric parts as
//! numbers (`0.1.10` comes after `0.1.9`), other parts as text.

use std::cmp::Ordering;

/// Orders two system versions.
pub fn compare(a: &str, b: &str) -> Ordering {
    let mut x = a.split(['.', '-', '+']);
    let mut y = b.split(['.', '-', '+']);
    loop {
        match (x.next(), y.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(p), Some(q)) => {
                let o = match (p.parse::<u64>(), q.parse::<u64>()) {
                    (Ok(m), Ok(n)) => m.cmp(&n),
                    (Ok(_), Err(_)) => Ordering::Greater,
                    (Err(_), Ok(_)) => Ordering::Less,
                    (Err(_), Err(_)) => p.cmp(q),
                };
                if o != Ordering::Equal {
                    return o;
                }
            }
        }
    }
}

/// Whether `candidate` comes after `running`.
pub fn is_newer(candidate: &str, running: &str) -> bool {
    compare(candidate, running) == Ordering::Greater
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_parts_compare_as_numbers() {
        assert!(is_newer("0.1.10", "0.1.9"));
        assert!(is_newer("0.2.0.1764000000", "0.1.0.1765000000"));
        assert!(is_newer("0.1.0.1", "0.1.0"));
        assert!(!is_newer("0.1.0", "0.1.0"));
        assert!(!is_newer("0.1.0.1764000000", "0.1.0.1765000000"));
        assert_eq!(compare("1.0-rc1", "1.0-rc2"), Ordering::Less);
    }
}
