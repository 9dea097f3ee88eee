//! The GSM 03.38 alphabet as Twilio's message-segment-calculator maps it.
//!
//! Source: TwilioDevEd/message-segment-calculator `src/libs/UnicodeToGSM.ts` (127 characters of
//! the basic table plus the extension table, whose characters are sent as ESC + code and so
//! cost two septets).

/// Septets per ASCII code point: 0 = not GSM-7, 1 = basic table, 2 = extension table.
///
/// Not GSM-7 in ASCII: the C0 controls except LF, FF and CR (so TAB is not GSM-7), the backtick
/// and DEL. FF and `^ { } \ [ ~ ] |` are extension characters.
const ASCII_SEPTETS: [u8; 128] = {
    let mut table = [1u8; 128];
    let mut c = 0;
    while c < 0x20 {
        table[c] = 0;
        c += 1;
    }
    table[0x0A] = 1; // LF
    table[0x0D] = 1; // CR
    table[0x0C] = 2; // FF, ESC 0x0A
    table[0x60] = 0; // backtick
    table[0x7F] = 0; // DEL
    table[b'^' as usize] = 2;
    table[b'{' as usize] = 2;
    table[b'}' as usize] = 2;
    table[b'\\' as usize] = 2;
    table[b'[' as usize] = 2;
    table[b'~' as usize] = 2;
    table[b']' as usize] = 2;
    table[b'|' as usize] = 2;
    table
};

/// Septets a character costs in GSM-7: `Some(1)` for the basic table, `Some(2)` for the
/// extension table (`^ { } \ [ ~ ] | €` and form feed), `None` if it is not GSM-7 at all.
#[must_use]
pub(crate) fn septets(c: char) -> Option<u8> {
    let code = c as u32;
    if code < 0x80 {
        // The index is below 128 by the check above.
        return match ASCII_SEPTETS[code as usize] {
            0 => None,
            n => Some(n),
        };
    }
    match c {
        '¡' | '£' | '¤' | '¥' | '§' | '¿' | 'Ä' | 'Å' | 'Æ' | 'Ç' | 'É' | 'Ñ' | 'Ö' | 'Ø' | 'Ü'
        | 'ß' | 'à' | 'ä' | 'å' | 'æ' | 'è' | 'é' | 'ì' | 'ñ' | 'ò' | 'ö' | 'ø' | 'ù' | 'ü'
        | 'Γ' | 'Δ' | 'Θ' | 'Λ' | 'Ξ' | 'Π' | 'Σ' | 'Φ' | 'Ψ' | 'Ω' => Some(1),
        '€' => Some(2),
        _ => None,
    }
}

/// Septets of an ASCII byte (0 if the byte is not GSM-7). Fast path for segment counting.
#[inline]
pub(crate) fn ascii_septets(b: u8) -> u8 {
    ASCII_SEPTETS[usize::from(b & 0x7F)]
}

/// Whether every character of `text` is in the GSM-7 basic or extension table.
///
/// That is the same as "every grapheme is GSM-7" in the calculator's sense: no GSM-7 character
/// extends a grapheme (none is a combining mark or a joiner), and the one multi-character
/// grapheme made only of GSM-7 characters, CR LF, is counted as two characters by the
/// calculator as well.
#[must_use]
pub(crate) fn is_gsm7(text: &str) -> bool {
    if text.is_ascii() {
        return text.bytes().all(|b| ASCII_SEPTETS[usize::from(b)] != 0);
    }
    text.chars().all(|c| septets(c).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_table_has_127_characters_and_extension_has_10() {
        // 127 basic characters plus ESC (which has no Unicode mapping) make the 128 of GSM 03.38.
        let all: Vec<char> = (0..0x11_0000u32).filter_map(char::from_u32).collect();
        let basic = all.iter().filter(|&&c| septets(c) == Some(1)).count();
        let extension: String = all.iter().filter(|&&c| septets(c) == Some(2)).collect();
        assert_eq!(basic, 127);
        assert_eq!(extension, "\u{c}[\\]^{|}~€");
    }

    #[test]
    fn look_alikes_that_are_not_gsm() {
        for c in ['ç', 'Á', '`', '\t', '•', '’', '—', 'ê', '\u{a0}'] {
            assert_eq!(septets(c), None, "{c:?}");
        }
        for c in ['@', 'Ç', 'é', '$', '_', '\n', '\r'] {
            assert_eq!(septets(c), Some(1), "{c:?}");
        }
    }
}
