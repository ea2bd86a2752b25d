//! The SEPA (EPC) basic Latin character set, and the conversion of names
//! written in any European script into it.
//!
//! Payee names are kept as the affiliate gave them (UTF-8); only the
//! payment file carries the converted form. The conversion follows the
//! EPC best practice for the extended character set (EPC217-08) with the
//! German banking industry's rules applied first:
//!
//! - the basic set (`a-z A-Z 0-9` and `/ - ? : ( ) . , ' +` and space) is
//!   kept as it is;
//! - German umlauts and ß become two letters (`ä` -> `ae`, `Ö` -> `Oe`, or
//!   `OE` inside a word in capitals, `ß` -> `ss`), as do the ligatures
//!   `æ` and `œ`; `&` becomes `+`;
//! - other Latin, Greek and Cyrillic letters become their Latin base letter
//!   or transliteration (`é` -> `e`, `ç` -> `c`, `ł` -> `l`, `ø` -> `o`,
//!   `Ж` -> `Zh`), after compatibility normalization (NFKC), so full-width
//!   letters and ligatures such as `ﬁ` are read as the letters they are;
//! - punctuation with a close equivalent maps to it (`;` -> `,`, `[` -> `(`,
//!   `_` -> `-`, typographic quotes -> `'`, dashes -> `-`); any other
//!   character becomes a full stop, as the EPC table says;
//! - what cannot be converted is refused: a letter of a script with no
//!   Latin transliteration in the EPC table (Chinese, Japanese, Arabic,
//!   Hebrew, ...), and control or invisible formatting characters, which
//!   have no place in a name.

use unicode_normalization::UnicodeNormalization;

/// The longest name (`Nm`) a SEPA credit transfer carries, in characters.
pub const SEPA_NAME_LEN_MAX: usize = 70;

/// The punctuation of the SEPA basic Latin character set.
const BASIC_PUNCTUATION: &str = " /-?:().,'+";

/// Whether `c` is in the SEPA (EPC) basic Latin character set.
pub fn is_sepa_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || BASIC_PUNCTUATION.contains(c)
}

/// Why a text cannot be written in the SEPA character set. Each message is
/// the rule, to follow the name of the field it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SepaTextError {
    #[error("must not be empty")]
    Empty,
    #[error(
        "must be at most {max} characters once written in the SEPA character set (umlauts become two letters); it would be {len}"
    )]
    TooLong { len: usize, max: usize },
    #[error(
        "must not contain control or invisible formatting characters (U+{code:04X} at character {position})"
    )]
    Control { code: u32, position: usize },
    #[error(
        "contains {found:?} (U+{code:04X}), a letter with no conversion to the SEPA Latin character set: give the name in Latin letters"
    )]
    Unconvertible { found: char, code: u32 },
    #[error("must contain at least one letter or digit")]
    NoLetter,
}

/// Invisible characters that change how a text reads without showing:
/// bidirectional overrides, zero-width characters, soft hyphens, BOMs.
fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{E0000}'..='\u{E007F}'
    )
}

/// Scripts the EPC conversion table transliterates: Latin, Greek, Cyrillic.
fn is_european_script(c: char) -> bool {
    matches!(
        c,
        '\u{00C0}'..='\u{024F}'   // Latin-1 letters, Latin Extended-A and -B
            | '\u{0250}'..='\u{02AF}' // IPA extensions (Latin letters)
            | '\u{1E00}'..='\u{1EFF}' // Latin Extended Additional
            | '\u{2C60}'..='\u{2C7F}' // Latin Extended-C
            | '\u{A720}'..='\u{A7FF}' // Latin Extended-D
            | '\u{0370}'..='\u{03FF}' // Greek
            | '\u{1F00}'..='\u{1FFF}' // Greek Extended
            | '\u{0400}'..='\u{052F}' // Cyrillic and its supplement
    )
}

/// Punctuation with a close equivalent in the basic set.
fn punctuation(c: char) -> Option<&'static str> {
    Some(match c {
        '&' => "+",
        ';' => ",",
        '[' | '{' => "(",
        ']' | '}' => ")",
        '\\' | '|' => "/",
        '_' | '~' => "-",
        '`' | '"' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' | '\u{201C}' | '\u{201D}'
        | '\u{201E}' | '\u{2032}' | '\u{00B4}' | '\u{00AB}' | '\u{00BB}' | '\u{2039}'
        | '\u{203A}' => "'",
        '\u{2010}'..='\u{2015}' | '\u{2212}' => "-",
        '\u{00BF}' => "?",
        _ => return None,
    })
}

/// The German rules: umlauts, ß and the ligatures æ, œ as two letters.
/// A capital is followed by a capital inside a word in capitals (`MÜLLER`
/// -> `MUELLER`), by a small letter otherwise (`Über` -> `Ueber`).
fn german(c: char, capitals_around: bool) -> Option<&'static str> {
    Some(match (c, capitals_around) {
        ('ä', _) => "ae",
        ('ö', _) => "oe",
        ('ü', _) => "ue",
        ('ß', _) => "ss",
        ('æ', _) => "ae",
        ('œ', _) => "oe",
        ('Ä', false) => "Ae",
        ('Ö', false) => "Oe",
        ('Ü', false) => "Ue",
        ('Æ', false) => "Ae",
        ('Œ', false) => "Oe",
        ('ẞ', false) => "Ss",
        ('Ä', true) => "AE",
        ('Ö', true) => "OE",
        ('Ü', true) => "UE",
        ('Æ', true) => "AE",
        ('Œ', true) => "OE",
        ('ẞ', true) => "SS",
        _ => return None,
    })
}

/// Converts `text` to the SEPA basic Latin character set (see the module
/// documentation), or says which character cannot be converted. Pure: the
/// same text always converts to the same result.
pub fn to_sepa_latin(text: &str) -> Result<String, SepaTextError> {
    let chars: Vec<char> = text.nfkc().collect();
    let mut out = String::with_capacity(chars.len());
    for (i, &c) in chars.iter().enumerate() {
        if is_sepa_char(c) {
            out.push(c);
            continue;
        }
        if c.is_control() || is_invisible_format(c) {
            return Err(SepaTextError::Control {
                code: u32::from(c),
                position: i + 1,
            });
        }
        let upper = |j: Option<usize>| {
            j.and_then(|j| chars.get(j))
                .is_some_and(|c| c.is_uppercase())
        };
        let letter = |j: Option<usize>| {
            j.and_then(|j| chars.get(j))
                .is_some_and(|c| c.is_alphabetic())
        };
        let (before, after) = (i.checked_sub(1), Some(i + 1));
        let capitals_around = upper(after) || (upper(before) && !letter(after));
        if let Some(s) = german(c, capitals_around).or_else(|| punctuation(c)) {
            out.push_str(s);
            continue;
        }
        // Combining marks left after normalization: the letter they sit on
        // is the conversion (`q̈` -> `q`).
        if ('\u{0300}'..='\u{036F}').contains(&c) {
            continue;
        }
        let transliterated = deunicode::deunicode_char(c).unwrap_or("");
        if c.is_alphabetic() {
            let latin = transliterated
                .chars()
                .filter(|t| t.is_ascii_alphabetic() || *t == '\'');
            if !is_european_script(c) || latin.clone().next().is_none() {
                return Err(SepaTextError::Unconvertible {
                    found: c,
                    code: u32::from(c),
                });
            }
            out.extend(latin);
            continue;
        }
        if c.is_numeric()
            && !transliterated.is_empty()
            && transliterated.chars().all(|t| t.is_ascii_digit())
        {
            out.push_str(transliterated);
            continue;
        }
        out.push('.');
    }
    Ok(out)
}

/// A payee or debtor name as a SEPA file carries it: trimmed, converted to
/// the basic Latin set, 1 to 70 characters, with a letter or digit in it.
pub fn sepa_name(name: &str) -> Result<String, SepaTextError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(SepaTextError::Empty);
    }
    let converted = to_sepa_latin(name)?;
    let converted = converted.trim();
    let len = converted.chars().count();
    if len > SEPA_NAME_LEN_MAX {
        return Err(SepaTextError::TooLong {
            len,
            max: SEPA_NAME_LEN_MAX,
        });
    }
    if !converted.chars().any(|c| c.is_ascii_alphanumeric()) {
        return Err(SepaTextError::NoLetter);
    }
    Ok(converted.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_convert_as_the_epc_and_german_rules_say() {
        for (given, file) in [
            ("Ute Müller & Söhne", "Ute Mueller + Soehne"),
            ("MÜLLER GMBH", "MUELLER GMBH"),
            ("Über Öl Äpfel", "Ueber Oel Aepfel"),
            ("Straße", "Strasse"),
            ("José Núñez", "Jose Nunez"),
            ("François Ægir Œuvre", "Francois Aegir Oeuvre"),
            ("Ærøskøbing Ålborg", "Aeroskobing Alborg"),
            ("Łukasz Żółć", "Lukasz Zolc"),
            ("Antonín Dvořák", "Antonin Dvorak"),
            ("Guðrún Þórsdóttir", "Gudrun Thorsdottir"),
            ("Nguyễn Thị", "Nguyen Thi"),
            ("Иван Петров", "Ivan Petrov"),
            ("Ａｃｍｅ ﬁne", "Acme fine"),
            ("Smith; Jones [UK] Ltd_", "Smith, Jones (UK) Ltd-"),
            ("O’Brien “Pete” – Dublin", "O'Brien 'Pete' - Dublin"),
            ("Acme@Example #1 €", "Acme.Example .1 ."),
            // Decomposed input (as some systems send it) converts the same.
            ("Mu\u{308}ller", "Mueller"),
            (
                "Plain Name 42 (Ltd.) / A-B ?:,'+",
                "Plain Name 42 (Ltd.) / A-B ?:,'+",
            ),
        ] {
            assert_eq!(to_sepa_latin(given).as_deref(), Ok(file), "{given}");
            assert_eq!(sepa_name(given).as_deref(), Ok(file), "{given}");
        }
    }

    #[test]
    fn what_cannot_be_converted_is_refused_with_the_rule() {
        assert_eq!(
            sepa_name("山田太郎"),
            Err(SepaTextError::Unconvertible {
                found: '山',
                code: 0x5C71
            })
        );
        assert!(matches!(
            sepa_name("Dana שלום"),
            Err(SepaTextError::Unconvertible { found: 'ש', .. })
        ));
        assert_eq!(
            sepa_name("Jane\nDoe"),
            Err(SepaTextError::Control {
                code: 0x0A,
                position: 5
            })
        );
        assert!(matches!(
            sepa_name("Eve\u{202E}lam"),
            Err(SepaTextError::Control { code: 0x202E, .. })
        ));
        assert_eq!(sepa_name("   "), Err(SepaTextError::Empty));
        assert_eq!(sepa_name("@@@"), Err(SepaTextError::NoLetter));
        // 70 characters given, 71 once the umlaut is two letters.
        let long = format!("Ü{}", "x".repeat(69));
        assert_eq!(
            sepa_name(&long),
            Err(SepaTextError::TooLong { len: 71, max: 70 })
        );
        assert!(sepa_name(&"x".repeat(70)).is_ok());
        let rule = sepa_name("山").unwrap_err().to_string();
        assert!(rule.contains("no conversion"), "{rule}");
    }
}
