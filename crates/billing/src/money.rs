//! Exact money: integer minor units and an ISO 4217 currency, never a float.
//!
//! The reference schema keeps amounts in `double precision` columns holding major units
//! (what NeonHub's application reads). This module is the one place that crosses between
//! the two: a stored amount is written as exactly `minor / 10^exponent` and read back by
//! rounding to the nearest minor unit, which is exact up to [`MAX_MINOR`] minor units; an
//! amount the double cannot carry is refused, never rounded.

use std::fmt;

/// The largest amount, in minor units, that is accepted: 2^53, beyond which a double no
/// longer holds every integer.
pub const MAX_MINOR: i64 = 1 << 53;

/// ISO 4217 codes and their minor-unit exponents (the active codes). The migration's
/// `nh_currency_exponent` holds the same table; a test checks that they agree.
#[rustfmt::skip]
const CURRENCIES: &[(&str, u8)] = &[
    ("AED", 2), ("AFN", 2), ("ALL", 2), ("AMD", 2), ("ANG", 2), ("AOA", 2), ("ARS", 2),
    ("AUD", 2), ("AWG", 2), ("AZN", 2), ("BAM", 2), ("BBD", 2), ("BDT", 2), ("BGN", 2),
    ("BHD", 3), ("BIF", 0), ("BMD", 2), ("BND", 2), ("BOB", 2), ("BOV", 2), ("BRL", 2),
    ("BSD", 2), ("BTN", 2), ("BWP", 2), ("BYN", 2), ("BZD", 2), ("CAD", 2), ("CDF", 2),
    ("CHE", 2), ("CHF", 2), ("CHW", 2), ("CLF", 4), ("CLP", 0), ("CNY", 2), ("COP", 2),
    ("COU", 2), ("CRC", 2), ("CUP", 2), ("CVE", 2), ("CZK", 2), ("DJF", 0), ("DKK", 2),
    ("DOP", 2), ("DZD", 2), ("EGP", 2), ("ERN", 2), ("ETB", 2), ("EUR", 2), ("FJD", 2),
    ("FKP", 2), ("GBP", 2), ("GEL", 2), ("GHS", 2), ("GIP", 2), ("GMD", 2), ("GNF", 0),
    ("GTQ", 2), ("GYD", 2), ("HKD", 2), ("HNL", 2), ("HTG", 2), ("HUF", 2), ("IDR", 2),
    ("ILS", 2), ("INR", 2), ("IQD", 3), ("IRR", 2), ("ISK", 0), ("JMD", 2), ("JOD", 3),
    ("JPY", 0), ("KES", 2), ("KGS", 2), ("KHR", 2), ("KMF", 0), ("KPW", 2), ("KRW", 0),
    ("KWD", 3), ("KYD", 2), ("KZT", 2), ("LAK", 2), ("LBP", 2), ("LKR", 2), ("LRD", 2),
    ("LSL", 2), ("LYD", 3), ("MAD", 2), ("MDL", 2), ("MGA", 2), ("MKD", 2), ("MMK", 2),
    ("MNT", 2), ("MOP", 2), ("MRU", 2), ("MUR", 2), ("MVR", 2), ("MWK", 2), ("MXN", 2),
    ("MXV", 2), ("MYR", 2), ("MZN", 2), ("NAD", 2), ("NGN", 2), ("NIO", 2), ("NOK", 2),
    ("NPR", 2), ("NZD", 2), ("OMR", 3), ("PAB", 2), ("PEN", 2), ("PGK", 2), ("PHP", 2),
    ("PKR", 2), ("PLN", 2), ("PYG", 0), ("QAR", 2), ("RON", 2), ("RSD", 2), ("RUB", 2),
    ("RWF", 0), ("SAR", 2), ("SBD", 2), ("SCR", 2), ("SDG", 2), ("SEK", 2), ("SGD", 2),
    ("SHP", 2), ("SLE", 2), ("SOS", 2), ("SRD", 2), ("SSP", 2), ("STN", 2), ("SVC", 2),
    ("SYP", 2), ("SZL", 2), ("THB", 2), ("TJS", 2), ("TMT", 2), ("TND", 3), ("TOP", 2),
    ("TRY", 2), ("TTD", 2), ("TWD", 2), ("TZS", 2), ("UAH", 2), ("UGX", 0), ("USD", 2),
    ("USN", 2), ("UYI", 0), ("UYU", 2), ("UYW", 4), ("UZS", 2), ("VED", 2), ("VES", 2),
    ("VND", 0), ("VUV", 0), ("WST", 2), ("XAF", 0), ("XCD", 2), ("XCG", 2), ("XOF", 0),
    ("XPF", 0), ("YER", 2), ("ZAR", 2), ("ZMW", 2), ("ZWG", 2),
];

/// Why an amount or a currency was refused. Nothing is written when one is returned.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum MoneyError {
    /// Not an ISO 4217 code (stored ones are read case-insensitively: `usd` is `USD`).
    #[error("{0:?} is not an ISO 4217 currency code")]
    UnknownCurrency(String),
    /// More than [`MAX_MINOR`] minor units (or a stored value a double cannot carry
    /// exactly): refused rather than rounded.
    #[error("{minor} minor units of {currency} is beyond the exact range of ±2^53")]
    TooLarge {
        /// The amount asked for, in minor units (saturated when it overflowed).
        minor: i128,
        /// Its currency.
        currency: Currency,
    },
    /// A decimal amount with more decimals than the currency has (`0.001` USD, `1.5` JPY).
    #[error("{amount:?} has more decimals than {currency} has ({exponent})")]
    TooPrecise {
        /// The text given.
        amount: String,
        /// The currency.
        currency: Currency,
        /// Its number of decimals.
        exponent: u8,
    },
    /// Not a decimal number (`12,50`, `1e3`, an empty string).
    #[error("{0:?} is not a decimal amount")]
    NotDecimal(String),
    /// Zero or negative where only a positive amount makes sense (a reservation, a spend).
    #[error("{field} must be positive, got {amount}")]
    NotPositive {
        /// What the amount is for.
        field: &'static str,
        /// The amount given.
        amount: Money,
    },
    /// Two currencies met where one balance is kept (a EUR spend on a USD profile).
    #[error("{found} cannot be used where the balance is kept in {expected}")]
    CurrencyMismatch {
        /// The currency of the balance.
        expected: Currency,
        /// The currency given.
        found: Currency,
    },
    /// A stored amount that is not a whole number of minor units (a legacy float such as
    /// `12.345` USD): named, so the row can be found and corrected.
    #[error("{column} holds {value}, which is not a whole number of {currency} minor units")]
    NotWholeMinor {
        /// The column.
        column: &'static str,
        /// The stored value.
        value: f64,
        /// Its currency.
        currency: Currency,
    },
}

/// An ISO 4217 currency: its upper-case code and its minor-unit exponent (2 for USD, 0 for
/// JPY, 3 for KWD). Made by [`Currency::parse`] or the constants.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency {
    code: &'static str,
    exponent: u8,
}

impl Currency {
    /// US dollar (2 decimals).
    pub const USD: Currency = Currency {
        code: "USD",
        exponent: 2,
    };
    /// Euro (2 decimals).
    pub const EUR: Currency = Currency {
        code: "EUR",
        exponent: 2,
    };
    /// Japanese yen (no minor unit).
    pub const JPY: Currency = Currency {
        code: "JPY",
        exponent: 0,
    };
    /// Kuwaiti dinar (3 decimals).
    pub const KWD: Currency = Currency {
        code: "KWD",
        exponent: 3,
    };

    /// The currency with this ISO 4217 code, in any case (`usd`, as Stripe and the schema's
    /// defaults spell it, is `USD`).
    pub fn parse(code: &str) -> Result<Currency, MoneyError> {
        let upper = code.to_ascii_uppercase();
        CURRENCIES
            .binary_search_by(|(c, _)| (*c).cmp(upper.as_str()))
            .map(|i| Currency {
                code: CURRENCIES[i].0,
                exponent: CURRENCIES[i].1,
            })
            .map_err(|_| MoneyError::UnknownCurrency(code.to_owned()))
    }

    /// Every ISO 4217 currency this build knows, by code.
    pub fn all() -> impl Iterator<Item = Currency> {
        CURRENCIES
            .iter()
            .map(|&(code, exponent)| Currency { code, exponent })
    }

    /// The upper-case code (`USD`).
    pub fn code(self) -> &'static str {
        self.code
    }

    /// The number of decimals of the minor unit.
    pub fn exponent(self) -> u8 {
        self.exponent
    }

    /// The code as the reference schema's columns store it by default (lower case, as
    /// Stripe spells it): what this crate writes, except to `budget_transactions` (whose
    /// default is upper case).
    pub fn lower(self) -> String {
        self.code.to_ascii_lowercase()
    }

    fn scale(self) -> i64 {
        10_i64.pow(u32::from(self.exponent))
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code)
    }
}

impl serde::Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code)
    }
}

impl<'de> serde::Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = String::deserialize(d)?;
        Currency::parse(&code).map_err(serde::de::Error::custom)
    }
}

/// An exact amount: integer minor units of one currency, within ±[`MAX_MINOR`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Money {
    minor: i64,
    currency: Currency,
}

impl Money {
    /// `minor` minor units of `currency` (cents for USD, yen for JPY); refused beyond
    /// ±[`MAX_MINOR`].
    pub fn new(minor: i64, currency: Currency) -> Result<Money, MoneyError> {
        if minor.unsigned_abs() > MAX_MINOR as u64 {
            return Err(MoneyError::TooLarge {
                minor: i128::from(minor),
                currency,
            });
        }
        Ok(Money { minor, currency })
    }

    /// Zero of `currency`.
    pub const fn zero(currency: Currency) -> Money {
        Money { minor: 0, currency }
    }

    /// A decimal amount in major units, exactly (`"12.50"` USD is 1250 cents); refused when
    /// it has more decimals than the currency (`"0.001"` USD, `"1.5"` JPY) or is not a plain
    /// decimal.
    pub fn parse(amount: &str, currency: Currency) -> Result<Money, MoneyError> {
        let not_decimal = || MoneyError::NotDecimal(amount.to_owned());
        let (negative, digits) = match amount.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, amount.strip_prefix('+').unwrap_or(amount)),
        };
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) || digits.ends_with('.')
        {
            return Err(not_decimal());
        }
        let fraction = fraction.trim_end_matches('0');
        if fraction.len() > usize::from(currency.exponent) {
            return Err(MoneyError::TooPrecise {
                amount: amount.to_owned(),
                currency,
                exponent: currency.exponent,
            });
        }
        let too_large = || MoneyError::TooLarge {
            minor: i128::MAX,
            currency,
        };
        let whole: i128 = whole.parse().map_err(|_| too_large())?;
        let mut frac: i128 = if fraction.is_empty() {
            0
        } else {
            fraction.parse().map_err(|_| not_decimal())?
        };
        frac *= 10_i128.pow(u32::from(currency.exponent) - fraction.len() as u32);
        let minor = whole
            .checked_mul(i128::from(currency.scale()))
            .and_then(|w| w.checked_add(frac))
            .ok_or_else(too_large)?;
        let minor = if negative { -minor } else { minor };
        let small = i64::try_from(minor).map_err(|_| MoneyError::TooLarge { minor, currency })?;
        Money::new(small, currency)
    }

    /// The amount in minor units.
    pub fn minor(self) -> i64 {
        self.minor
    }

    /// The currency.
    pub fn currency(self) -> Currency {
        self.currency
    }

    /// Whether it is above zero.
    pub fn is_positive(self) -> bool {
        self.minor > 0
    }

    /// Refused with [`MoneyError::NotPositive`] naming `field` unless above zero.
    pub fn positive(self, field: &'static str) -> Result<Money, MoneyError> {
        if self.minor > 0 {
            Ok(self)
        } else {
            Err(MoneyError::NotPositive {
                field,
                amount: self,
            })
        }
    }

    /// Refused with [`MoneyError::CurrencyMismatch`] unless in `currency`.
    pub fn expect_currency(self, currency: Currency) -> Result<Money, MoneyError> {
        if self.currency == currency {
            Ok(self)
        } else {
            Err(MoneyError::CurrencyMismatch {
                expected: currency,
                found: self.currency,
            })
        }
    }

    /// The sum, refused when the currencies differ or the result leaves the exact range.
    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        other.expect_currency(self.currency)?;
        let sum = i128::from(self.minor) + i128::from(other.minor);
        let small = i64::try_from(sum).map_err(|_| MoneyError::TooLarge {
            minor: sum,
            currency: self.currency,
        })?;
        Money::new(small, self.currency)
    }

    /// The difference, refused when the currencies differ or the result leaves the range.
    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.checked_add(Money {
            minor: -other.minor,
            currency: other.currency,
        })
    }

    /// The value the legacy `double precision` columns store: major units, exactly
    /// `minor / 10^exponent` (the nearest double; reading it back with
    /// [`Money::from_stored`] gives this amount again).
    pub fn to_stored(self) -> f64 {
        self.minor as f64 / self.currency.scale() as f64
    }

    /// A stored major-unit value read back: rounded to the nearest minor unit when it is
    /// within a double's error of a whole number of them (the tolerance the migration's
    /// CHECK constraints use); a legacy value such as `12.345` USD is
    /// [`MoneyError::NotWholeMinor`], naming `column`.
    pub fn from_stored(
        value: f64,
        currency: Currency,
        column: &'static str,
    ) -> Result<Money, MoneyError> {
        let scaled = value * currency.scale() as f64;
        let rounded = scaled.round();
        let tolerance = (scaled.abs() * 1e-15).max(1e-6);
        if !scaled.is_finite()
            || rounded.abs() > MAX_MINOR as f64
            || (scaled - rounded).abs() > tolerance
        {
            return Err(MoneyError::NotWholeMinor {
                column,
                value,
                currency,
            });
        }
        Money::new(rounded as i64, currency)
    }

    /// [`Money::to_stored`] for a value about to be written, refused when the double would
    /// not read back as this amount (only possible near ±2^53 minor units of a currency
    /// with decimals).
    pub fn stored_exactly(self) -> Result<f64, MoneyError> {
        let stored = self.to_stored();
        match Money::from_stored(stored, self.currency, "") {
            Ok(back) if back == self => Ok(stored),
            _ => Err(MoneyError::TooLarge {
                minor: i128::from(self.minor),
                currency: self.currency,
            }),
        }
    }
}

impl fmt::Display for Money {
    /// `12.50 USD`, `-3 JPY`, `1.250 KWD`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scale = self.currency.scale().unsigned_abs();
        let abs = self.minor.unsigned_abs();
        let sign = if self.minor < 0 { "-" } else { "" };
        match self.currency.exponent {
            0 => write!(f, "{sign}{abs} {}", self.currency),
            e => write!(
                f,
                "{sign}{}.{:0width$} {}",
                abs / scale,
                abs % scale,
                self.currency,
                width = usize::from(e)
            ),
        }
    }
}

impl fmt::Debug for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_sorted_for_the_binary_search() {
        assert!(CURRENCIES.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn parses_exactly_and_refuses_what_a_currency_cannot_hold() {
        assert_eq!(Money::parse("12.5", Currency::USD).unwrap().minor(), 1250);
        assert_eq!(Money::parse("-0.07", Currency::USD).unwrap().minor(), -7);
        assert_eq!(Money::parse("1.250", Currency::KWD).unwrap().minor(), 1250);
        assert_eq!(Money::parse("1500", Currency::JPY).unwrap().minor(), 1500);
        assert!(matches!(
            Money::parse("1.5", Currency::JPY),
            Err(MoneyError::TooPrecise { .. })
        ));
        assert!(matches!(
            Money::parse("0.001", Currency::USD),
            Err(MoneyError::TooPrecise { .. })
        ));
        for bad in ["", ".5", "5.", "1e3", "12,50", "--1", "0x10"] {
            assert!(
                matches!(
                    Money::parse(bad, Currency::USD),
                    Err(MoneyError::NotDecimal(_))
                ),
                "{bad}"
            );
        }
        assert!(matches!(Currency::parse("usd"), Ok(Currency::USD)));
        assert!(matches!(
            Currency::parse("XXY"),
            Err(MoneyError::UnknownCurrency(_))
        ));
    }

    #[test]
    fn the_exact_range_ends_at_two_to_the_fifty_third() {
        assert!(Money::new(MAX_MINOR, Currency::JPY).is_ok());
        assert!(matches!(
            Money::new(MAX_MINOR + 1, Currency::USD),
            Err(MoneyError::TooLarge { .. })
        ));
        assert!(matches!(
            Money::new(-MAX_MINOR - 1, Currency::USD),
            Err(MoneyError::TooLarge { .. })
        ));
        assert!(
            Money::new(MAX_MINOR, Currency::JPY)
                .unwrap()
                .stored_exactly()
                .is_ok()
        );
    }

    #[test]
    fn stored_values_read_back_as_written() {
        // Every cent up to $100,000 and a spread of larger amounts survive the double.
        for minor in (0..10_000_000).chain((0..64).map(|k| (1_i64 << 40) + k * 7_919_777)) {
            let m = Money::new(minor, Currency::USD).unwrap();
            let stored = m.stored_exactly().unwrap();
            assert_eq!(Money::from_stored(stored, Currency::USD, "c").unwrap(), m);
        }
        assert_eq!(
            Money::from_stored(0.29 * 100.0 / 100.0, Currency::USD, "c")
                .unwrap()
                .minor(),
            29
        );
        assert!(matches!(
            Money::from_stored(12.345, Currency::USD, "amount"),
            Err(MoneyError::NotWholeMinor {
                column: "amount",
                ..
            })
        ));
        assert!(Money::from_stored(f64::NAN, Currency::USD, "c").is_err());
    }

    #[test]
    fn displays_with_the_currency_decimals() {
        assert_eq!(
            Money::new(1250, Currency::USD).unwrap().to_string(),
            "12.50 USD"
        );
        assert_eq!(
            Money::new(-7, Currency::USD).unwrap().to_string(),
            "-0.07 USD"
        );
        assert_eq!(
            Money::new(1500, Currency::JPY).unwrap().to_string(),
            "1500 JPY"
        );
        assert_eq!(
            Money::new(1250, Currency::KWD).unwrap().to_string(),
            "1.250 KWD"
        );
    }
}

impl MoneyError {
    /// The HTTP status a web service would normally answer: 400: the amount or currency is not acceptable.
    pub fn status_hint(&self) -> neonhub_schema::StatusHint {
        neonhub_schema::StatusHint::BadRequest
    }
}

neonhub_schema::impl_has_status_hint!(MoneyError);
