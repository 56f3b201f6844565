//! Opting out by reply: a text that is one of the stop words (STOP, STOPALL, UNSUBSCRIBE,
//! CANCEL, END, QUIT by default), whatever its case and spacing, puts its sender on the
//! suppression list of every owner.

/// The default stop words (the usual carrier set).
pub const DEFAULT: &[&str] = &["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"];

/// Whether `text` is one of `words`: compared upper-cased with all white space removed, so
/// "stop", " Stop ", "S T O P" and "stop\n" all count, and "stop it" does not.
pub fn is_stop(text: &str, words: &[String]) -> bool {
    let squeezed: String = text
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_uppercase();
    !squeezed.is_empty()
        && words.iter().any(|w| {
            w.chars()
                .filter(|c| !c.is_whitespace())
                .collect::<String>()
                .to_uppercase()
                == squeezed
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Vec<String> {
        DEFAULT.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn stop_words_match_without_regard_to_case_or_spacing() {
        for text in ["STOP", "stop", " Stop ", "S T O P", "unsubscribe\n", "Quit"] {
            assert!(is_stop(text, &defaults()), "{text:?}");
        }
        for text in ["stop it", "please stop", "", "  ", "STOPP"] {
            assert!(!is_stop(text, &defaults()), "{text:?}");
        }
    }
}
