//! SEPA names: any text either converts into the EPC basic Latin set or is
//! refused with a rule; the conversion keeps the basic set as it is, is
//! stable, and never panics.

use ledger_domain::profile::is_sepa_text;
use ledger_domain::sepa_text::{SEPA_NAME_LEN_MAX, SepaTextError, sepa_name, to_sepa_latin};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..Default::default() })]

    /// Whatever the input, the result is in the SEPA set, or an error.
    #[test]
    fn conversion_yields_only_sepa_characters(text in "\\PC{0,80}") {
        match to_sepa_latin(&text) {
            Ok(converted) => {
                prop_assert!(is_sepa_text(&converted), "{:?} -> {:?}", text, converted);
                // Converting again changes nothing.
                prop_assert_eq!(to_sepa_latin(&converted).unwrap(), converted);
            }
            Err(e) => prop_assert!(
                matches!(e, SepaTextError::Control { .. } | SepaTextError::Unconvertible { .. }),
                "{:?}: {:?}", text, e
            ),
        }
    }

    /// A name accepted is 1 to 70 SEPA characters with a letter or digit.
    #[test]
    fn accepted_names_fit_the_name_field(text in any::<String>()) {
        if let Ok(name) = sepa_name(&text) {
            prop_assert!(is_sepa_text(&name));
            let len = name.chars().count();
            prop_assert!((1..=SEPA_NAME_LEN_MAX).contains(&len), "{} characters", len);
            prop_assert!(name.chars().any(|c| c.is_ascii_alphanumeric()));
            prop_assert_eq!(name.trim(), name.as_str());
        }
    }

    /// Text already in the basic set is written as given.
    #[test]
    fn the_basic_set_is_kept_as_it_is(text in "[a-zA-Z0-9/?:().,'+ -]{0,70}") {
        prop_assert_eq!(to_sepa_latin(&text).unwrap(), text);
    }

    /// German and accented Latin names always convert, and never keep a
    /// character outside the set.
    #[test]
    fn european_latin_names_always_convert(
        text in "[A-Za-zäöüÄÖÜßéèêçñøåæœłŁŽžšŠčČőűÍíÓóÚúÉÁá&' -]{1,30}[a-zA-Z]"
    ) {
        let name = sepa_name(&text);
        prop_assert!(name.is_ok(), "{:?}: {:?}", text, name);
    }

    /// A letter of a script the EPC table does not transliterate is refused,
    /// wherever it stands in the name.
    #[test]
    fn cjk_letters_are_refused(prefix in "[A-Za-z ]{0,20}", cjk in "[\u{4E00}-\u{9FFF}]", suffix in "[A-Za-z ]{0,20}") {
        let text = format!("{prefix}{cjk}{suffix}");
        let refused = matches!(sepa_name(&text), Err(SepaTextError::Unconvertible { .. }));
        prop_assert!(refused, "{:?}", text);
    }
}

#[test]
fn the_issue_example() {
    assert_eq!(
        sepa_name("Ute Müller & Söhne").unwrap(),
        "Ute Mueller + Soehne"
    );
}
