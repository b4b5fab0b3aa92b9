//! `cn-id`: checks Chinese identifiers in a text field.
//!
//! Config `{"kind": "uscc" | "resident_id" | "mobile"}`:
//! - `uscc` — the Unified Social Credit Code (GB 32100-2015): 18 characters from the code's
//!   31-character alphabet, the organisation code embedded in positions 9–17 with its own check
//!   character (GB 11714-1997), and the final check character.
//! - `resident_id` — the resident identity number (GB 11643-1999): 17 digits, a valid birth date
//!   in positions 7–14, and the check character (ISO 7064 MOD 11-2, `X` for 10).
//! - `mobile` — a mainland mobile number: 11 digits starting 13–19, optionally `+86`/`86`.

use plugin_sdk::{Validator, Value, Violation};

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub kind: Kind,
}

#[derive(serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Uscc,
    ResidentId,
    Mobile,
}

pub struct CnId;

impl Validator for CnId {
    type Config = Config;

    fn validate(config: Config, value: &Value, _record: &Value) -> Result<(), Vec<Violation>> {
        let text = match value {
            Value::Null => return Ok(()),
            Value::String(s) => s.trim(),
            _ => return Err(vec![Violation::new("", "expected text")]),
        };
        let result = match config.kind {
            Kind::Uscc => check_uscc(text),
            Kind::ResidentId => check_resident_id(text),
            Kind::Mobile => check_mobile(text),
        };
        result.map_err(|m| vec![Violation::new("", m)])
    }
}

plugin_sdk::export_validator!(CnId);

/// The USCC alphabet: digits and capitals without I, O, Z, S, V.
const USCC_ALPHABET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";
const USCC_WEIGHTS: [u32; 17] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];
const ORG_WEIGHTS: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];

/// Checks a Unified Social Credit Code; the message says what is wrong (in Chinese and English).
pub fn check_uscc(code: &str) -> Result<(), String> {
    let code = code.to_ascii_uppercase();
    let chars: Vec<char> = code.chars().collect();
    if chars.len() != 18 {
        return Err("统一社会信用代码应为18位 / a USCC has 18 characters".into());
    }
    let mut values = Vec::with_capacity(18);
    for c in &chars {
        match USCC_ALPHABET.find(*c) {
            Some(v) => values.push(v as u32),
            None => return Err(format!("统一社会信用代码含非法字符 `{c}` / `{c}` is not allowed in a USCC")),
        }
    }
    // Positions 9–17: the organisation code (GB 11714), 8 body characters and a check.
    let org = &chars[8..17];
    let mut sum = 0;
    for (c, w) in org[..8].iter().zip(ORG_WEIGHTS) {
        let v = match c.to_digit(36) {
            Some(v) => v,
            None => return Err("组织机构代码部分无效 / the embedded organisation code is invalid".into()),
        };
        sum += v * w;
    }
    let expected = match 11 - sum % 11 {
        10 => 'X',
        11 => '0',
        n => char::from_digit(n, 10).unwrap_or('?'),
    };
    if org[8] != expected {
        return Err("组织机构代码校验位错误 / the embedded organisation code's check character is wrong".into());
    }
    let sum: u32 = values[..17].iter().zip(USCC_WEIGHTS).map(|(v, w)| v * w).sum();
    let check = (31 - sum % 31) % 31;
    if values[17] != check {
        return Err("统一社会信用代码校验位错误 / the USCC check character is wrong".into());
    }
    Ok(())
}

const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECKS: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];

/// Checks an 18-character resident identity number.
pub fn check_resident_id(id: &str) -> Result<(), String> {
    let id = id.to_ascii_uppercase();
    let chars: Vec<char> = id.chars().collect();
    if chars.len() != 18 || !chars[..17].iter().all(char::is_ascii_digit) {
        return Err("身份证号应为17位数字加1位校验码 / a resident ID has 17 digits and a check character".into());
    }
    let digits: Vec<u32> = chars[..17].iter().filter_map(|c| c.to_digit(10)).collect();
    let number = |range: std::ops::Range<usize>| digits[range].iter().fold(0, |n, d| n * 10 + d);
    let (year, month, day) = (number(6..10), number(10..12), number(12..14));
    if !(1900..=2100).contains(&year) || !valid_date(year, month, day) {
        return Err("身份证号中的出生日期无效 / the birth date in the resident ID is not a date".into());
    }
    let sum: u32 = digits.iter().zip(ID_WEIGHTS).map(|(d, w)| d * w).sum();
    if chars[17] != ID_CHECKS[(sum % 11) as usize] {
        return Err("身份证号校验码错误 / the resident ID check character is wrong".into());
    }
    Ok(())
}

fn valid_date(year: u32, month: u32, day: u32) -> bool {
    let leap = (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

/// Checks a mainland mobile number (`+86`/`86` and spaces or dashes allowed).
pub fn check_mobile(number: &str) -> Result<(), String> {
    let compact: String = number.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    let local = compact
        .strip_prefix("+86")
        .or_else(|| compact.strip_prefix("86").filter(|r| r.len() == 11))
        .unwrap_or(&compact);
    let ok = local.len() == 11
        && local.chars().all(|c| c.is_ascii_digit())
        && local.starts_with('1')
        && matches!(local.as_bytes()[1], b'3'..=b'9');
    if ok { Ok(()) } else { Err("不是有效的手机号码 / not a mainland mobile number".into()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a USCC with valid check characters from its first 8 characters and the
    /// organisation code body (8 characters), the way issuers do.
    fn make_uscc(prefix: &str, org_body: &str) -> String {
        let sum: u32 = org_body.chars().zip(ORG_WEIGHTS).map(|(c, w)| c.to_digit(36).unwrap_or(0) * w).sum();
        let org_check = match 11 - sum % 11 {
            10 => 'X',
            11 => '0',
            n => char::from_digit(n, 10).unwrap_or('?'),
        };
        let first17 = format!("{prefix}{org_body}{org_check}");
        let sum: u32 =
            first17.chars().zip(USCC_WEIGHTS).map(|(c, w)| USCC_ALPHABET.find(c).unwrap_or(0) as u32 * w).sum();
        let check = USCC_ALPHABET.chars().nth(((31 - sum % 31) % 31) as usize).unwrap_or('?');
        format!("{first17}{check}")
    }

    #[test]
    fn uscc() {
        // A published example code (Huawei Technologies Co., Ltd.).
        assert_eq!(check_uscc("914403001922038216"), Ok(()));
        let made = make_uscc("91110000", "80000001");
        assert_eq!(check_uscc(&made), Ok(()));
        assert_eq!(check_uscc(&made.to_lowercase()), Ok(()), "case does not matter");
        let mut wrong = made.clone();
        wrong.replace_range(17..18, if made.ends_with('0') { "1" } else { "0" });
        assert!(check_uscc(&wrong).expect_err("should be refused").contains("USCC check"));
        assert!(check_uscc("91440300192203821").expect_err("should be refused").contains("18"));
        assert!(check_uscc("91440300192203821I").expect_err("should be refused").contains("not allowed"));
        let bad_org = format!("{}9{}", &made[..16], &made[17..]);
        assert!(check_uscc(&bad_org).is_err());
    }

    #[test]
    fn resident_id() {
        // The standard's own example (GB 11643-1999, appendix).
        assert_eq!(check_resident_id("11010519491231002X"), Ok(()));
        assert_eq!(check_resident_id("11010519491231002x"), Ok(()));
        assert!(check_resident_id("110105194912310021").expect_err("should be refused").contains("check"));
        assert!(check_resident_id("110105194913310020").expect_err("should be refused").contains("birth date"));
        assert!(
            check_resident_id("110105190002290028").expect_err("should be refused").contains("birth date"),
            "1900 was not a leap year"
        );
        assert!(check_resident_id("1101051949123100").is_err());
    }

    #[test]
    fn mobile() {
        for ok in ["13800138000", "+86 138 0013 8000", "86-19912345678", "15012345678"] {
            assert_eq!(check_mobile(ok), Ok(()), "{ok}");
        }
        for bad in ["12800138000", "1380013800", "138001380000", "23800138000", "1380013800a"] {
            assert!(check_mobile(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn through_the_sdk() {
        use plugin_sdk::run_validator;
        assert_eq!(run_validator::<CnId>(r#"{"kind":"mobile"}"#, r#""13800138000""#, "{}"), Ok(()));
        let err = run_validator::<CnId>(r#"{"kind":"uscc"}"#, r#""123""#, "{}").expect_err("should be refused");
        assert_eq!(err[0].field, "");
        assert!(
            run_validator::<CnId>(r#"{"kind":"passport"}"#, r#""x""#, "{}").expect_err("should be refused")[0]
                .message
                .contains("configuration")
        );
        assert_eq!(
            run_validator::<CnId>(r#"{"kind":"mobile"}"#, "null", "{}"),
            Ok(()),
            "empty values are the required rule's business"
        );
    }
}
