//! Codes a person reads off one screen and types on another (device passwords, pairing codes):
//! Crockford's base32, which has no i, l, o or u, and reads what was typed as what it looks like.

/// The 32 characters, lower case.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// `len` random characters (5 bits each), lower case.
pub fn random(len: usize) -> String {
    // 256 is a multiple of 32: every character is equally likely.
    (0..len)
        .map(|_| ALPHABET[rand::random::<u8>() as usize % 32] as char)
        .collect()
}

/// What was typed, in canonical form (lower case, without dashes or spaces, o read as 0, i and
/// l as 1), when it is `len` characters of the alphabet; `None` otherwise.
pub fn canonical(typed: &str, len: usize) -> Option<String> {
    if typed.len() > 2 * len + 8 {
        return None;
    }
    let mut out = String::with_capacity(len);
    for c in typed.chars() {
        let c = match c.to_ascii_lowercase() {
            '-' | ' ' => continue,
            'o' => '0',
            'i' | 'l' => '1',
            c if c.is_ascii() && ALPHABET.contains(&(c as u8)) => c,
            _ => return None,
        };
        out.push(c);
    }
    (out.len() == len).then_some(out)
}

/// `code` in groups of `group` characters joined by dashes, for reading aloud and typing.
pub fn grouped(code: &str, group: usize) -> String {
    let chars: Vec<char> = code.chars().collect();
    chars
        .chunks(group)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_codes_are_read_as_meant() {
        assert_eq!(canonical("ABCD-EFGH", 8).as_deref(), Some("abcdefgh"));
        assert_eq!(canonical("abcd efgo", 8).as_deref(), Some("abcdefg0"));
        assert_eq!(canonical("IL", 2).as_deref(), Some("11"));
        assert_eq!(canonical("abcd-efg", 8), None);
        assert_eq!(canonical("abcd-efgu", 8), None);
        assert_eq!(canonical("abcd-efgé", 8), None);
        assert_eq!(canonical(&"a".repeat(10_000), 8), None);
        assert_eq!(grouped("abcdefghij", 4), "abcd-efgh-ij");
        let r = random(28);
        assert_eq!(canonical(&grouped(&r, 4), 28), Some(r));
    }
}
