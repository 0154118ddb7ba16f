//! The language of a text query, for NLLB's tokenizer, which reads a FLORES-200 code
//! (`vie_Latn`) in front of the text.

use std::fmt;
use std::str::FromStr;

/// A text's language, as a FLORES-200 code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextLanguage(String);

/// Short language codes (ISO 639-1, and the few regional ones people type) and their
/// FLORES-200 codes, for the languages NLLB reads best.
const SHORT_CODES: &[(&str, &str)] = &[
    ("af", "afr_Latn"),
    ("ar", "arb_Arab"),
    ("bg", "bul_Cyrl"),
    ("bn", "ben_Beng"),
    ("ca", "cat_Latn"),
    ("cs", "ces_Latn"),
    ("da", "dan_Latn"),
    ("de", "deu_Latn"),
    ("el", "ell_Grek"),
    ("en", "eng_Latn"),
    ("es", "spa_Latn"),
    ("et", "est_Latn"),
    ("fa", "pes_Arab"),
    ("fi", "fin_Latn"),
    ("fr", "fra_Latn"),
    ("he", "heb_Hebr"),
    ("hi", "hin_Deva"),
    ("hr", "hrv_Latn"),
    ("hu", "hun_Latn"),
    ("id", "ind_Latn"),
    ("it", "ita_Latn"),
    ("ja", "jpn_Jpan"),
    ("ko", "kor_Hang"),
    ("lt", "lit_Latn"),
    ("lv", "lvs_Latn"),
    ("ms", "zsm_Latn"),
    ("nb", "nob_Latn"),
    ("nl", "nld_Latn"),
    ("nn", "nno_Latn"),
    ("pl", "pol_Latn"),
    ("pt", "por_Latn"),
    ("ro", "ron_Latn"),
    ("ru", "rus_Cyrl"),
    ("sk", "slk_Latn"),
    ("sl", "slv_Latn"),
    ("sr", "srp_Cyrl"),
    ("sv", "swe_Latn"),
    ("sw", "swh_Latn"),
    ("ta", "tam_Taml"),
    ("th", "tha_Thai"),
    ("tl", "tgl_Latn"),
    ("tr", "tur_Latn"),
    ("uk", "ukr_Cyrl"),
    ("ur", "urd_Arab"),
    ("vi", "vie_Latn"),
    ("zh", "zho_Hans"),
    ("zh-cn", "zho_Hans"),
    ("zh-hans", "zho_Hans"),
    ("zh-tw", "zho_Hant"),
    ("zh-hant", "zho_Hant"),
];

impl TextLanguage {
    /// The FLORES-200 code.
    pub fn flores_code(&self) -> &str {
        &self.0
    }
}

/// A language code that is neither a FLORES-200 code nor a short code picseek knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown language {0:?}: give a FLORES-200 code such as vie_Latn, or a short code such as vi, de, en")]
pub struct UnknownLanguage(pub String);

impl FromStr for TextLanguage {
    type Err = UnknownLanguage;

    /// A FLORES-200 code (three lower-case letters, `_`, a four-letter script) as it is,
    /// or a short code (`vi`, `de`, `zh-TW`) through the table.
    fn from_str(code: &str) -> Result<Self, Self::Err> {
        let flores = code.split_once('_').is_some_and(|(lang, script)| {
            lang.len() == 3
                && lang.chars().all(|c| c.is_ascii_lowercase())
                && script.len() == 4
                && script.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                && script.chars().skip(1).all(|c| c.is_ascii_lowercase())
        });
        if flores {
            return Ok(Self(code.to_owned()));
        }
        let short = code.to_ascii_lowercase();
        SHORT_CODES
            .iter()
            .find(|(s, _)| *s == short)
            .map(|(_, f)| Self((*f).to_owned()))
            .ok_or_else(|| UnknownLanguage(code.to_owned()))
    }
}

impl fmt::Display for TextLanguage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_flores_codes_are_read_and_others_refused() {
        assert_eq!("vi".parse::<TextLanguage>().unwrap().flores_code(), "vie_Latn");
        assert_eq!("DE".parse::<TextLanguage>().unwrap().flores_code(), "deu_Latn");
        assert_eq!("zh-TW".parse::<TextLanguage>().unwrap().flores_code(), "zho_Hant");
        assert_eq!("kor_Hang".parse::<TextLanguage>().unwrap().flores_code(), "kor_Hang");
        assert!("klingon".parse::<TextLanguage>().unwrap_err().to_string().contains("FLORES-200"));
        assert!("vie_latn".parse::<TextLanguage>().is_err());
    }
}
