//! The `calculate` tool: exact decimal arithmetic and the finance functions funeral-home
//! staff need (payment plans, pre-need growth, present values), so an agent never does
//! arithmetic in its head.
//!
//! The grammar is small enough that a hand-written recursive-descent parser over
//! `rust_decimal` is clearer than an expression crate: the crates that parse expressions
//! (evalexpr, fasteval, meval) all evaluate in binary floating point, where `0.1 + 0.2` is not
//! `0.3`, which is not acceptable for money.
//!
//! `+ - * / × ÷`, `^` or `**` (powers), `%` (percent: `5%` is `0.05`), parentheses, the
//! constants `pi` and `e`, and the functions listed in [`FUNCTIONS`].

use rust_decimal::prelude::*;
use rust_decimal::{Decimal, RoundingStrategy};

/// Longest expression accepted.
pub const MAX_EXPRESSION: usize = 500;
/// Deepest nesting of parentheses and function calls.
const MAX_DEPTH: usize = 32;

/// The functions, with how the model should call them (this list is in the tool's
/// description).
pub const FUNCTIONS: &[&str] = &[
    "pmt(rate, periods, present_value): the payment per period that repays present_value",
    "fv(rate, periods, payment, present_value): the value after periods of growth and payments",
    "pv(rate, periods, payment): what a series of payments is worth today",
    "npv(rate, v1, v2, ...): net present value of cash flows at the end of periods 1, 2, ...",
    "irr(v0, v1, ...): the internal rate of return of cash flows starting now",
    "mean(...), median(...), stdev(...) (sample), sum(...), min(...), max(...)",
    "sqrt(x), root(x, n), abs(x), round(x, places)",
];

/// Evaluates `expression`, or says (for the model) why it cannot.
pub fn calculate(expression: &str) -> Result<Decimal, String> {
    if expression.len() > MAX_EXPRESSION {
        return Err(format!(
            "the expression is longer than {MAX_EXPRESSION} characters"
        ));
    }
    let tokens = tokenize(expression)?;
    let mut parser = Parser {
        tokens,
        at: 0,
        depth: 0,
    };
    let value = parser.expression()?;
    if parser.at != parser.tokens.len() {
        return Err(format!(
            "unexpected {} at the end",
            parser.tokens[parser.at].describe()
        ));
    }
    Ok(value.normalize())
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Number(Decimal),
    Name(String),
    Op(char),
    Open,
    Close,
    Comma,
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Number(n) => format!("number {n}"),
            Token::Name(n) => format!("name '{n}'"),
            Token::Op(c) => format!("'{c}'"),
            Token::Open => "'('".into(),
            Token::Close => "')'".into(),
            Token::Comma => "','".into(),
        }
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '0'..='9' | '.' => {
                let mut number = String::new();
                while let Some(&d) = chars.peek() {
                    if d.is_ascii_digit() || d == '.' {
                        number.push(d);
                        chars.next();
                    } else if d == '_' {
                        chars.next();
                    } else {
                        break;
                    }
                }
                let value = Decimal::from_str(&number)
                    .map_err(|_| format!("'{number}' is not a number"))?;
                tokens.push(Token::Number(value));
            }
            'a'..='z' | 'A'..='Z' => {
                let mut name = String::new();
                while let Some(&d) = chars.peek() {
                    if d.is_ascii_alphanumeric() || d == '_' {
                        name.push(d.to_ascii_lowercase());
                        chars.next();
                    } else {
                        break;
                    }
                }
                tokens.push(Token::Name(name));
            }
            '*' => {
                chars.next();
                if chars.peek() == Some(&'*') {
                    chars.next();
                    tokens.push(Token::Op('^'));
                } else {
                    tokens.push(Token::Op('*'));
                }
            }
            '+' | '-' | '/' | '^' | '%' => {
                chars.next();
                tokens.push(Token::Op(c));
            }
            '×' | '·' => {
                chars.next();
                tokens.push(Token::Op('*'));
            }
            '÷' => {
                chars.next();
                tokens.push(Token::Op('/'));
            }
            '−' => {
                chars.next();
                tokens.push(Token::Op('-'));
            }
            '(' => {
                chars.next();
                tokens.push(Token::Open);
            }
            ')' => {
                chars.next();
                tokens.push(Token::Close);
            }
            ',' | ';' => {
                chars.next();
                tokens.push(Token::Comma);
            }
            '$' | '€' | '£' => {
                chars.next();
            }
            other => return Err(format!("'{other}' is not allowed in an expression")),
        }
    }
    if tokens.is_empty() {
        return Err("the expression is empty".into());
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn eat(&mut self, token: &Token) -> bool {
        if self.peek() == Some(token) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn deeper(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            Err("the expression is nested too deeply".into())
        } else {
            Ok(())
        }
    }

    fn expression(&mut self) -> Result<Decimal, String> {
        let mut value = self.term()?;
        loop {
            if self.eat(&Token::Op('+')) {
                value = value.checked_add(self.term()?).ok_or_else(too_large)?;
            } else if self.eat(&Token::Op('-')) {
                value = value.checked_sub(self.term()?).ok_or_else(too_large)?;
            } else {
                return Ok(value);
            }
        }
    }

    fn term(&mut self) -> Result<Decimal, String> {
        let mut value = self.unary()?;
        loop {
            if self.eat(&Token::Op('*')) {
                value = value.checked_mul(self.unary()?).ok_or_else(too_large)?;
            } else if self.eat(&Token::Op('/')) {
                value = divide(value, self.unary()?)?;
            } else {
                return Ok(value);
            }
        }
    }

    fn unary(&mut self) -> Result<Decimal, String> {
        if self.eat(&Token::Op('-')) {
            self.deeper()?;
            let v = self.unary()?;
            self.depth -= 1;
            return Ok(-v);
        }
        if self.eat(&Token::Op('+')) {
            return self.unary();
        }
        self.power()
    }

    fn power(&mut self) -> Result<Decimal, String> {
        let base = self.postfix()?;
        if self.eat(&Token::Op('^')) {
            self.deeper()?;
            let exponent = self.unary()?;
            self.depth -= 1;
            return power(base, exponent);
        }
        Ok(base)
    }

    fn postfix(&mut self) -> Result<Decimal, String> {
        let mut value = self.primary()?;
        while self.eat(&Token::Op('%')) {
            value /= Decimal::ONE_HUNDRED;
        }
        Ok(value)
    }

    fn primary(&mut self) -> Result<Decimal, String> {
        match self.peek().cloned() {
            Some(Token::Number(n)) => {
                self.at += 1;
                Ok(n)
            }
            Some(Token::Open) => {
                self.at += 1;
                self.deeper()?;
                let v = self.expression()?;
                self.depth -= 1;
                if !self.eat(&Token::Close) {
                    return Err("a '(' is not closed".into());
                }
                Ok(v)
            }
            Some(Token::Name(name)) => {
                self.at += 1;
                if !self.eat(&Token::Open) {
                    return match name.as_str() {
                        "pi" => Ok(Decimal::from_str("3.14159265358979323846264338").expect("pi")),
                        "e" => Ok(Decimal::from_str("2.71828182845904523536028747").expect("e")),
                        _ => Err(format!("unknown name '{name}'")),
                    };
                }
                self.deeper()?;
                let mut args = Vec::new();
                if !self.eat(&Token::Close) {
                    loop {
                        args.push(self.expression()?);
                        if self.eat(&Token::Close) {
                            break;
                        }
                        if !self.eat(&Token::Comma) {
                            return Err(format!("expected ',' or ')' in {name}(...)"));
                        }
                    }
                }
                self.depth -= 1;
                call(&name, &args)
            }
            Some(other) => Err(format!("unexpected {}", other.describe())),
            None => Err("the expression ends too early".into()),
        }
    }
}

fn too_large() -> String {
    "a number got too large".into()
}

fn divide(a: Decimal, b: Decimal) -> Result<Decimal, String> {
    if b.is_zero() {
        return Err("division by zero".into());
    }
    a.checked_div(b).ok_or_else(too_large)
}

fn power(base: Decimal, exponent: Decimal) -> Result<Decimal, String> {
    if exponent.fract().is_zero() {
        let n = exponent.to_i64().ok_or_else(too_large)?;
        if n.abs() > 100_000 {
            return Err("the exponent is too large".into());
        }
        if base.is_zero() && n < 0 {
            return Err("division by zero".into());
        }
        return integer_power(base, n);
    }
    if base.is_sign_negative() {
        return Err("a fractional power of a negative number is not a real number".into());
    }
    // A fractional power (roots, fractional periods) has no exact decimal value anyway: it is
    // computed in binary floating point and given to 12 places.
    let value = base
        .to_f64()
        .ok_or_else(too_large)?
        .powf(exponent.to_f64().ok_or_else(too_large)?);
    Decimal::from_f64(value)
        .map(|v| v.round_dp(12))
        .ok_or_else(too_large)
}

/// `base^n` exactly, by repeated squaring.
fn integer_power(base: Decimal, n: i64) -> Result<Decimal, String> {
    let mut result = Decimal::ONE;
    let mut factor = base;
    let mut e = n.unsigned_abs();
    while e > 0 {
        if e & 1 == 1 {
            result = result.checked_mul(factor).ok_or_else(too_large)?;
        }
        e >>= 1;
        if e > 0 {
            factor = factor.checked_mul(factor).ok_or_else(too_large)?;
        }
    }
    if n < 0 {
        divide(Decimal::ONE, result)
    } else {
        Ok(result)
    }
}

/// The square root, by Newton's method in decimal (exact for perfect squares).
fn sqrt(x: Decimal) -> Option<Decimal> {
    if x.is_sign_negative() && !x.is_zero() {
        return None;
    }
    if x.is_zero() {
        return Some(Decimal::ZERO);
    }
    let mut guess = Decimal::from_f64(x.to_f64()?.sqrt())?;
    for _ in 0..8 {
        let next = (guess + x.checked_div(guess)?) / Decimal::TWO;
        if next == guess {
            break;
        }
        guess = next;
    }
    Some(guess.round_dp(20))
}

/// Money answers are rounded to cents, half away from zero (as a bank statement would).
fn cents(v: Decimal) -> Decimal {
    v.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

fn call(name: &str, args: &[Decimal]) -> Result<Decimal, String> {
    let want = |n: usize| -> Result<(), String> {
        if args.len() == n {
            Ok(())
        } else {
            Err(format!("{name}() takes {n} arguments, got {}", args.len()))
        }
    };
    let some = || -> Result<(), String> {
        if args.is_empty() {
            Err(format!("{name}() needs at least one value"))
        } else {
            Ok(())
        }
    };
    match name {
        "sqrt" => {
            want(1)?;
            sqrt(args[0])
                .ok_or_else(|| "the square root of a negative number is not a real number".into())
        }
        "root" => {
            want(2)?;
            power(args[0], divide(Decimal::ONE, args[1])?)
        }
        "abs" => {
            want(1)?;
            Ok(args[0].abs())
        }
        "round" => {
            let places = match args.len() {
                1 => 0,
                2 => args[1]
                    .to_u32()
                    .filter(|p| *p <= 12)
                    .ok_or("round() places must be 0 to 12")?,
                _ => return Err("round() takes 1 or 2 arguments".into()),
            };
            Ok(args[0].round_dp_with_strategy(places, RoundingStrategy::MidpointAwayFromZero))
        }
        "sum" => {
            some()?;
            args.iter()
                .try_fold(Decimal::ZERO, |a, b| a.checked_add(*b))
                .ok_or_else(too_large)
        }
        "min" => {
            some()?;
            Ok(*args.iter().min().expect("not empty"))
        }
        "max" => {
            some()?;
            Ok(*args.iter().max().expect("not empty"))
        }
        "mean" | "average" | "avg" => {
            some()?;
            mean(args)
        }
        "median" => {
            some()?;
            let mut sorted = args.to_vec();
            sorted.sort();
            let mid = sorted.len() / 2;
            Ok(if sorted.len() % 2 == 1 {
                sorted[mid]
            } else {
                (sorted[mid - 1] + sorted[mid]) / Decimal::TWO
            })
        }
        "stdev" => {
            if args.len() < 2 {
                return Err("stdev() needs at least two values".into());
            }
            let m = mean(args)?;
            let squares = args
                .iter()
                .try_fold(Decimal::ZERO, |acc, v| {
                    (*v - m)
                        .checked_mul(*v - m)
                        .and_then(|s| acc.checked_add(s))
                })
                .ok_or_else(too_large)?;
            let variance = divide(squares, Decimal::from(args.len() - 1))?;
            sqrt(variance).ok_or_else(too_large)
        }
        "pmt" => {
            want(3)?;
            let (rate, periods, present) = (args[0], args[1], args[2]);
            if periods <= Decimal::ZERO {
                return Err("pmt() needs a positive number of periods".into());
            }
            if rate.is_zero() {
                return Ok(cents(divide(present, periods)?));
            }
            let discount = power(Decimal::ONE + rate, -periods)?;
            Ok(cents(divide(rate * present, Decimal::ONE - discount)?))
        }
        "fv" => {
            want(4)?;
            let (rate, periods, payment, present) = (args[0], args[1], args[2], args[3]);
            if rate.is_zero() {
                return Ok(cents(present + payment * periods));
            }
            let growth = power(Decimal::ONE + rate, periods)?;
            let value = present
                .checked_mul(growth)
                .and_then(|a| {
                    payment
                        .checked_mul(growth - Decimal::ONE)
                        .and_then(|p| p.checked_div(rate))
                        .and_then(|p| a.checked_add(p))
                })
                .ok_or_else(too_large)?;
            Ok(cents(value))
        }
        "pv" => {
            want(3)?;
            let (rate, periods, payment) = (args[0], args[1], args[2]);
            if rate.is_zero() {
                return Ok(cents(payment * periods));
            }
            let discount = power(Decimal::ONE + rate, -periods)?;
            Ok(cents(divide(payment * (Decimal::ONE - discount), rate)?))
        }
        "npv" => {
            if args.len() < 2 {
                return Err("npv() needs a rate and at least one cash flow".into());
            }
            let rate = args[0];
            let mut total = Decimal::ZERO;
            for (i, flow) in args[1..].iter().enumerate() {
                let discount = power(Decimal::ONE + rate, Decimal::from(i + 1))?;
                total += divide(*flow, discount)?;
            }
            Ok(cents(total))
        }
        "irr" => {
            if args.len() < 2 {
                return Err("irr() needs at least two cash flows".into());
            }
            irr(args)
        }
        _ => Err(format!(
            "unknown function '{name}'; available: {}",
            FUNCTIONS.join("; ")
        )),
    }
}

fn mean(args: &[Decimal]) -> Result<Decimal, String> {
    let sum = args
        .iter()
        .try_fold(Decimal::ZERO, |a, b| a.checked_add(*b))
        .ok_or_else(too_large)?;
    divide(sum, Decimal::from(args.len()))
}

/// The rate at which the cash flows' present value is zero, to six decimal places, found by
/// bisection on the net present value (which is monotonic in the rate for the usual shape:
/// an outlay, then returns).
fn irr(flows: &[Decimal]) -> Result<Decimal, String> {
    let flows: Vec<f64> = flows.iter().map(|f| f.to_f64().unwrap_or(0.0)).collect();
    let npv = |rate: f64| -> f64 {
        flows
            .iter()
            .enumerate()
            .map(|(i, f)| f / (1.0 + rate).powi(i as i32))
            .sum()
    };
    let (mut low, mut high) = (-0.9999_f64, 10.0_f64);
    let (f_low, f_high) = (npv(low), npv(high));
    if !f_low.is_finite() || !f_high.is_finite() || f_low.signum() == f_high.signum() {
        return Err("irr(): these cash flows have no internal rate of return between -99.99% and 1000% (they need both an outlay and a return)".into());
    }
    for _ in 0..200 {
        let mid = (low + high) / 2.0;
        if npv(mid).signum() == f_low.signum() {
            low = mid;
        } else {
            high = mid;
        }
    }
    Decimal::from_f64((low + high) / 2.0)
        .map(|r| r.round_dp(6))
        .ok_or_else(too_large)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(e: &str) -> String {
        calculate(e)
            .unwrap_or_else(|err| panic!("{e}: {err}"))
            .to_string()
    }

    #[test]
    fn arithmetic_is_exact_decimal() {
        assert_eq!(value("0.1 + 0.2"), "0.3");
        assert_eq!(value("2 + 3 * 4"), "14");
        assert_eq!(value("(2 + 3) * 4"), "20");
        assert_eq!(value("10 / 4"), "2.5");
        assert_eq!(value("7 × 6 ÷ 3"), "14");
        assert_eq!(value("2^10"), "1024");
        assert_eq!(value("2 ** 3 ** 2"), "512");
        assert_eq!(value("-2^2"), "-4");
        assert_eq!(value("15% * 200"), "30");
        assert_eq!(value("$1200 - 5%*1200"), "1140");
        assert_eq!(value("sqrt(144)"), "12");
        assert_eq!(value("root(27, 3)"), "3");
        assert_eq!(value("round(2.345, 2)"), "2.35");
        assert_eq!(value("abs(-3)"), "3");
    }

    // Published values: Excel's PMT/FV/PV/NPV/IRR documentation examples and standard
    // textbook loan tables.
    #[test]
    fn finance_functions_match_published_values() {
        assert_eq!(value("pmt(0.06/12, 24, 10000)"), "443.21");
        assert_eq!(value("pmt(0.08/12, 10, 10000)"), "1037.03");
        assert_eq!(value("pmt(0, 10, 1000)"), "100");
        assert_eq!(value("fv(0.05, 10, 0, 1000)"), "1628.89");
        // Excel's FV example, with payments at the end of each period.
        assert_eq!(value("fv(0.06/12, 10, 200, 500)"), "2571.18");
        assert_eq!(value("pv(0.08/12, 12*20, 500)"), "59777.15");
        assert_eq!(value("npv(0.1, -10000, 3000, 4200, 6800)"), "1188.44");
        assert_eq!(
            value("irr(-70000, 12000, 15000, 18000, 21000, 26000)"),
            "0.086631"
        );
        assert_eq!(value("irr(-100, 110)"), "0.1");
    }

    #[test]
    fn statistics() {
        assert_eq!(value("mean(2, 4, 4, 4, 5, 5, 7, 9)"), "5");
        assert_eq!(value("median(5, 1, 3)"), "3");
        assert_eq!(value("median(1, 2, 3, 4)"), "2.5");
        let s: f64 = value("stdev(2, 4, 4, 4, 5, 5, 7, 9)").parse().unwrap();
        assert!((s - 2.138_089_935).abs() < 1e-9, "{s}");
        assert_eq!(value("sum(1, 2, 3)"), "6");
        assert_eq!(value("max(1, 9, 3) - min(4, 2)"), "7");
    }

    #[test]
    fn errors_say_what_is_wrong() {
        for (e, says) in [
            ("1 / 0", "division by zero"),
            ("2 +", "ends too early"),
            ("(1 + 2", "not closed"),
            ("foo(1)", "unknown function"),
            ("1 # 2", "not allowed"),
            ("pmt(1, 2)", "takes 3 arguments"),
            ("sqrt(-1)", "not a real number"),
            ("(-8)^0.5", "not a real number"),
            ("10^100000000", "too large"),
            ("irr(100, 100)", "no internal rate"),
            ("", "empty"),
            ("1 2", "unexpected"),
        ] {
            let err = calculate(e).unwrap_err();
            assert!(err.contains(says), "{e}: {err}");
        }
        let deep = format!("{}1{}", "(".repeat(40), ")".repeat(40));
        assert!(calculate(&deep).unwrap_err().contains("nested too deeply"));
        assert!(calculate(&"1+".repeat(300))
            .unwrap_err()
            .contains("longer than"));
    }
}
