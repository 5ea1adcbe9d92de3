//! Source pre-pass that makes Lua 5.4 (mlua) accept exactly what the channel-program Lua
//! (modified Lua 5.2.4, int64 numbers, `LUAI_MAXCCALLS` 20) accepts, and behave the same.
//!
//! It lexes the chunk like the 5.2 lexer and:
//! * rejects float literals (`1.5`, `1e3`, `.5`, hex floats) as `malformed number near '…'`;
//! * reads zero-leading decimal literals as octal (`010` is 8, `08` is malformed) and wraps
//!   literals above `i64::MAX` modulo 2^64 like `lcompat_strtoll`; every literal is rewritten
//!   to its decimal value;
//! * rewrites `/` to `//` (ZFS `/` is floor integer division on int64);
//! * runs a small recursive-descent parser that counts parser levels exactly as 5.2's
//!   `enterlevel` does (statements, sub-expressions, right-associative `..` chains) and fails
//!   with `too many C levels (limit is 20) in main function near '…'`;
//! * reports syntax that 5.2 lacks (`//`, `&`, `|`, `~`, `<<`, `>>`, `<const>`) as
//!   `unexpected symbol near '…'`, like 5.2 would;
//! * refuses `^`, which Lua 5.4 computes as a float: an `EMULATOR:` error (the real one is an
//!   integer power); generated programs should not use it.
//!
//! Other syntax errors are left to the Lua 5.4 compiler, whose messages match 5.2's closely.
//! Deviation: the compile-time folding of literal `-7/2` (C truncation) is not emulated.
//! Pure: returns the rewritten source or an error; never prints.

/// A syntax error found by the pre-pass: line and message (without the chunk prefix).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LintError {
    pub(crate) line: u32,
    pub(crate) msg: String,
}

/// Nesting limit of the channel-program Lua (`LUAI_MAXCCALLS`).
pub(crate) const MAX_C_LEVELS: u32 = 20;

#[derive(Clone, Debug, PartialEq, Eq)]
enum K {
    Name,
    Kw(&'static str),
    Num,
    Str,
    Sym(&'static str),
    Eof,
}

#[derive(Clone, Debug)]
struct Tok {
    k: K,
    start: usize,
    end: usize,
    line: u32,
}

const KEYWORDS: &[&str] = &[
    "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if", "in",
    "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
];

// Longest first.
const SYMS: &[&str] = &[
    "...", "..", "==", "~=", "<=", ">=", "::", "//", "<<", ">>", "+", "-", "*", "/", "%", "^", "#",
    "&", "~", "|", "<", ">", "=", "(", ")", "{", "}", "[", "]", ";", ":", ",", ".",
];

fn lex(src: &[u8]) -> Result<Vec<Tok>, Option<LintError>> {
    let mut out = Vec::new();
    let mut i = 0;
    let mut line = 1u32;
    let n = src.len();
    // Skip a leading `#` line like luaL_loadbuffer does not (only loadfile does): keep as is.
    while i < n {
        let c = src[i];
        if c == b'\n' {
            line += 1;
            i += 1;
            continue;
        }
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'-' && src.get(i + 1) == Some(&b'-') {
            i += 2;
            if let Some(level) = long_bracket_level(src, i) {
                i = skip_long(src, i, level, &mut line).ok_or(None)?;
            } else {
                while i < n && src[i] != b'\n' {
                    i += 1;
                }
            }
            continue;
        }
        let start = i;
        let tline = line;
        if c == b'['
            && let Some(level) = long_bracket_level(src, i)
        {
            i = skip_long(src, i, level, &mut line).ok_or(None)?;
            out.push(Tok {
                k: K::Str,
                start,
                end: i,
                line: tline,
            });
            continue;
        }
        if c == b'"' || c == b'\'' {
            i += 1;
            loop {
                match src.get(i) {
                    None | Some(b'\n') => return Err(None),
                    Some(b'\\') => {
                        if src.get(i + 1) == Some(&b'\n') {
                            line += 1;
                        }
                        i += 2;
                    }
                    Some(&q) if q == c => {
                        i += 1;
                        break;
                    }
                    Some(_) => i += 1,
                }
            }
            out.push(Tok {
                k: K::Str,
                start,
                end: i,
                line: tline,
            });
            continue;
        }
        if c.is_ascii_digit() || (c == b'.' && src.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            // 5.2 read_numeral: hex digits, '.', exponent markers with an optional sign.
            let hex = c == b'0' && matches!(src.get(i + 1), Some(b'x' | b'X'));
            let expo: &[u8] = if hex { b"Pp" } else { b"Ee" };
            i += if hex { 2 } else { 1 };
            loop {
                match src.get(i) {
                    Some(ch) if expo.contains(ch) => {
                        i += 1;
                        if matches!(src.get(i), Some(b'+' | b'-')) {
                            i += 1;
                        }
                    }
                    Some(ch) if ch.is_ascii_hexdigit() || *ch == b'.' => i += 1,
                    _ => break,
                }
            }
            out.push(Tok {
                k: K::Num,
                start,
                end: i,
                line: tline,
            });
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' {
            while i < n && (src[i].is_ascii_alphanumeric() || src[i] == b'_') {
                i += 1;
            }
            let word = std::str::from_utf8(&src[start..i]).unwrap_or("");
            let k = KEYWORDS
                .iter()
                .find(|k| **k == word)
                .map_or(K::Name, |k| K::Kw(k));
            out.push(Tok {
                k,
                start,
                end: i,
                line: tline,
            });
            continue;
        }
        let Some(sym) = SYMS.iter().find(|s| src[i..].starts_with(s.as_bytes())) else {
            return Err(None); // unknown character: leave it to the compiler
        };
        i += sym.len();
        out.push(Tok {
            k: K::Sym(sym),
            start,
            end: i,
            line: tline,
        });
    }
    out.push(Tok {
        k: K::Eof,
        start: n,
        end: n,
        line,
    });
    Ok(out)
}

fn long_bracket_level(src: &[u8], i: usize) -> Option<usize> {
    if src.get(i) != Some(&b'[') {
        return None;
    }
    let mut j = i + 1;
    while src.get(j) == Some(&b'=') {
        j += 1;
    }
    (src.get(j) == Some(&b'[')).then_some(j - i - 1)
}

fn skip_long(src: &[u8], i: usize, level: usize, line: &mut u32) -> Option<usize> {
    let close: Vec<u8> = std::iter::once(b']')
        .chain(std::iter::repeat_n(b'=', level))
        .chain(std::iter::once(b']'))
        .collect();
    let mut j = i + level + 2;
    while j < src.len() {
        if src[j..].starts_with(&close) {
            return Some(j + close.len());
        }
        if src[j] == b'\n' {
            *line += 1;
        }
        j += 1;
    }
    None
}

/// Splits C `strtol`-style base-0 numerals: an optional sign, then `0x`/`0X` hexadecimal, a
/// leading `0` octal, else decimal. Returns (negative, digits, base); digits are unchecked.
pub(crate) fn sign_and_radix(t: &str) -> (bool, &str, u32) {
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (digits, base) = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        (h, 16)
    } else if t.len() > 1 && t.starts_with('0') {
        (&t[1..], 8)
    } else {
        (t, 10)
    };
    (neg, digits, base)
}

/// Parses a numeral like the channel-program Lua (`lcompat_strtoll`, base 0): `None` when
/// malformed.
pub(crate) fn parse_numeral(text: &str) -> Option<i64> {
    let t = text.trim();
    let (neg, digits, base) = sign_and_radix(t);
    if digits.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for ch in digits.chars() {
        let d = ch.to_digit(base)?;
        v = v.wrapping_mul(u64::from(base)).wrapping_add(u64::from(d));
    }
    let v = v as i64;
    Some(if neg { v.wrapping_neg() } else { v })
}

fn literal(v: i64) -> String {
    if v == i64::MIN {
        "(-9223372036854775807-1)".into()
    } else if v < 0 {
        format!("({v})")
    } else {
        v.to_string()
    }
}

/// Checks and rewrites a channel program for the Lua 5.4 emulator.
pub(crate) fn lint(source: &str) -> Result<String, LintError> {
    let src = source.as_bytes();
    let toks = match lex(src) {
        Ok(t) => t,
        Err(Some(e)) => return Err(e),
        Err(None) => return Ok(source.to_string()), // the compiler reports it
    };
    let text = |t: &Tok| String::from_utf8_lossy(&src[t.start..t.end]).into_owned();
    // Numerals first: the 5.2 lexer fails on them before the parser sees anything later.
    let mut out = String::with_capacity(source.len() + 16);
    let mut last = 0;
    for t in &toks {
        match t.k {
            K::Num => {
                let s = text(t);
                let hex = s.starts_with("0x") || s.starts_with("0X");
                let float_like = if hex {
                    s.contains(['.', 'p', 'P'])
                } else {
                    s.contains(['.', 'e', 'E'])
                };
                let Some(v) = parse_numeral(&s).filter(|_| !float_like) else {
                    return Err(LintError {
                        line: t.line,
                        msg: format!("malformed number near '{s}'"),
                    });
                };
                out.push_str(&source[last..t.start]);
                out.push_str(&literal(v));
                last = t.end;
            }
            K::Sym("/") => {
                out.push_str(&source[last..t.start]);
                out.push_str("//");
                last = t.end;
            }
            _ => {}
        }
    }
    out.push_str(&source[last..]);
    // Structure: levels and 5.4-only syntax.
    let mut p = Parser {
        toks: &toks,
        pos: 0,
        level: 0,
        src,
        fn_line: vec![0],
    };
    match p.chunk() {
        Ok(()) => Ok(out),
        Err(PErr::Report(e)) => Err(e),
        Err(PErr::Other) => Ok(out),
    }
}

enum PErr {
    /// An error the pre-pass reports itself.
    Report(LintError),
    /// Some other syntax error: left to the Lua compiler.
    Other,
}

struct Parser<'a> {
    toks: &'a [Tok],
    pos: usize,
    level: u32,
    src: &'a [u8],
    fn_line: Vec<u32>,
}

type PResult<T = ()> = Result<T, PErr>;

impl Parser<'_> {
    fn k(&self) -> &K {
        &self.toks[self.pos].k
    }
    fn peek_k(&self) -> &K {
        &self.toks[(self.pos + 1).min(self.toks.len() - 1)].k
    }
    fn next(&mut self) {
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
    }
    fn is_sym(&self, s: &str) -> bool {
        matches!(self.k(), K::Sym(x) if *x == s)
    }
    fn is_kw(&self, s: &str) -> bool {
        matches!(self.k(), K::Kw(x) if *x == s)
    }
    fn near(&self) -> String {
        let t = &self.toks[self.pos];
        match t.k {
            K::Eof => "<eof>".into(),
            _ => String::from_utf8_lossy(&self.src[t.start..t.end]).into_owned(),
        }
    }
    fn line(&self) -> u32 {
        self.toks[self.pos].line
    }
    /// A syntax error at the current token: reported when the token is 5.4-only syntax.
    fn unexpected(&self) -> PErr {
        match self.k() {
            K::Sym(s) if ["//", "&", "|", "~", "<<", ">>"].contains(s) => {
                let first = &s[..1];
                PErr::Report(LintError {
                    line: self.line(),
                    msg: format!("unexpected symbol near '{first}'"),
                })
            }
            _ => PErr::Other,
        }
    }
    fn expect_sym(&mut self, s: &str) -> PResult {
        if self.is_sym(s) {
            self.next();
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }
    fn expect_kw(&mut self, s: &str) -> PResult {
        if self.is_kw(s) {
            self.next();
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }
    fn expect_name(&mut self) -> PResult {
        if *self.k() == K::Name {
            self.next();
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }
    fn check_limit(&self, v: u32) -> PResult {
        if v > MAX_C_LEVELS {
            let f = *self.fn_line.last().unwrap_or(&0);
            let where_ = if f == 0 {
                "main function".to_string()
            } else {
                format!("function at line {f}")
            };
            return Err(PErr::Report(LintError {
                line: self.line(),
                msg: format!(
                    "too many C levels (limit is {MAX_C_LEVELS}) in {where_} near '{}'",
                    self.near()
                ),
            }));
        }
        Ok(())
    }
    fn enter(&mut self) -> PResult {
        self.level += 1;
        self.check_limit(self.level)
    }
    fn leave(&mut self) {
        self.level -= 1;
    }

    fn chunk(&mut self) -> PResult {
        self.statlist()?;
        if *self.k() != K::Eof {
            return Err(self.unexpected());
        }
        Ok(())
    }
    fn block_follow(&self, with_until: bool) -> bool {
        match self.k() {
            K::Kw("else" | "elseif" | "end") | K::Eof => true,
            K::Kw("until") => with_until,
            _ => false,
        }
    }
    fn statlist(&mut self) -> PResult {
        while !self.block_follow(true) {
            if self.is_kw("return") {
                self.statement()?;
                return Ok(());
            }
            self.statement()?;
        }
        Ok(())
    }
    fn statement(&mut self) -> PResult {
        let line = self.line();
        self.enter()?;
        match self.k().clone() {
            K::Sym(";") => self.next(),
            K::Kw("if") => {
                self.next();
                self.expr()?;
                self.expect_kw("then")?;
                self.statlist()?;
                while self.is_kw("elseif") {
                    self.next();
                    self.expr()?;
                    self.expect_kw("then")?;
                    self.statlist()?;
                }
                if self.is_kw("else") {
                    self.next();
                    self.statlist()?;
                }
                self.expect_kw("end")?;
            }
            K::Kw("while") => {
                self.next();
                self.expr()?;
                self.expect_kw("do")?;
                self.statlist()?;
                self.expect_kw("end")?;
            }
            K::Kw("do") => {
                self.next();
                self.statlist()?;
                self.expect_kw("end")?;
            }
            K::Kw("for") => {
                self.next();
                self.expect_name()?;
                if self.is_sym("=") {
                    self.next();
                    self.expr()?;
                    self.expect_sym(",")?;
                    self.expr()?;
                    if self.is_sym(",") {
                        self.next();
                        self.expr()?;
                    }
                } else {
                    while self.is_sym(",") {
                        self.next();
                        self.expect_name()?;
                    }
                    self.expect_kw("in")?;
                    self.explist()?;
                }
                self.expect_kw("do")?;
                self.statlist()?;
                self.expect_kw("end")?;
            }
            K::Kw("repeat") => {
                self.next();
                self.statlist()?;
                self.expect_kw("until")?;
                self.expr()?;
            }
            K::Kw("function") => {
                self.next();
                self.expect_name()?;
                while self.is_sym(".") {
                    self.next();
                    self.expect_name()?;
                }
                if self.is_sym(":") {
                    self.next();
                    self.expect_name()?;
                }
                self.body(line)?;
            }
            K::Kw("local") => {
                self.next();
                if self.is_kw("function") {
                    self.next();
                    self.expect_name()?;
                    self.body(line)?;
                } else {
                    self.expect_name()?;
                    while self.is_sym(",") {
                        self.next();
                        self.expect_name()?;
                    }
                    if self.is_sym("<") {
                        // Lua 5.4 attribute (<const>/<close>): 5.2 fails on the '<'.
                        return Err(PErr::Report(LintError {
                            line: self.line(),
                            msg: "unexpected symbol near '<'".into(),
                        }));
                    }
                    if self.is_sym("=") {
                        self.next();
                        self.explist()?;
                    }
                }
            }
            K::Sym("::") => {
                self.next();
                self.expect_name()?;
                self.expect_sym("::")?;
            }
            K::Kw("return") => {
                self.next();
                if !self.block_follow(true) && !self.is_sym(";") {
                    self.explist()?;
                }
                if self.is_sym(";") {
                    self.next();
                }
            }
            K::Kw("break") => self.next(),
            K::Kw("goto") => {
                self.next();
                self.expect_name()?;
            }
            _ => {
                self.suffixedexp()?;
                if self.is_sym("=") || self.is_sym(",") {
                    let mut nvars = 1;
                    while self.is_sym(",") {
                        self.next();
                        self.suffixedexp()?;
                        self.check_limit(nvars + self.level)?;
                        nvars += 1;
                    }
                    self.expect_sym("=")?;
                    self.explist()?;
                }
            }
        }
        self.leave();
        Ok(())
    }
    fn body(&mut self, line: u32) -> PResult {
        self.fn_line.push(line);
        self.expect_sym("(")?;
        if !self.is_sym(")") {
            loop {
                if self.is_sym("...") {
                    self.next();
                    break;
                }
                self.expect_name()?;
                if !self.is_sym(",") {
                    break;
                }
                self.next();
            }
        }
        self.expect_sym(")")?;
        self.statlist()?;
        self.expect_kw("end")?;
        self.fn_line.pop();
        Ok(())
    }
    fn explist(&mut self) -> PResult {
        self.expr()?;
        while self.is_sym(",") {
            self.next();
            self.expr()?;
        }
        Ok(())
    }
    fn expr(&mut self) -> PResult {
        self.subexpr(0)
    }
    /// (left, right) priorities of a binary operator, 5.2 table.
    fn binop(&self) -> Option<(u8, u8)> {
        Some(match self.k() {
            K::Sym("+" | "-") => (6, 6),
            K::Sym("*" | "/" | "%") => (7, 7),
            K::Sym("^") => (10, 9),
            K::Sym("..") => (5, 4),
            K::Sym("==" | "<" | "<=" | "~=" | ">" | ">=") => (3, 3),
            K::Kw("and") => (2, 2),
            K::Kw("or") => (1, 1),
            _ => return None,
        })
    }
    fn subexpr(&mut self, limit: u8) -> PResult {
        self.enter()?;
        if matches!(self.k(), K::Kw("not") | K::Sym("-" | "#")) {
            self.next();
            self.subexpr(8)?;
        } else {
            self.simpleexp()?;
        }
        while let Some((left, right)) = self.binop() {
            if left <= limit {
                break;
            }
            if self.is_sym("^") {
                return Err(PErr::Report(LintError {
                    line: self.line(),
                    msg: "EMULATOR: '^' is not supported (Lua 5.4 computes a float); \
                          use multiplication"
                        .into(),
                }));
            }
            self.next();
            self.subexpr(right)?;
        }
        self.leave();
        Ok(())
    }
    fn simpleexp(&mut self) -> PResult {
        let line = self.line();
        match self.k() {
            K::Num | K::Str | K::Kw("nil" | "true" | "false") | K::Sym("...") => self.next(),
            K::Sym("{") => self.constructor()?,
            K::Kw("function") => {
                self.next();
                self.body(line)?;
            }
            _ => self.suffixedexp()?,
        }
        Ok(())
    }
    fn primaryexp(&mut self) -> PResult {
        match self.k() {
            K::Name => {
                self.next();
                Ok(())
            }
            K::Sym("(") => {
                self.next();
                self.expr()?;
                self.expect_sym(")")
            }
            _ => Err(self.unexpected()),
        }
    }
    fn suffixedexp(&mut self) -> PResult {
        self.primaryexp()?;
        loop {
            match self.k() {
                K::Sym(".") => {
                    self.next();
                    self.expect_name()?;
                }
                K::Sym("[") => {
                    self.next();
                    self.expr()?;
                    self.expect_sym("]")?;
                }
                K::Sym(":") => {
                    self.next();
                    self.expect_name()?;
                    self.funcargs()?;
                }
                K::Sym("(" | "{") | K::Str => self.funcargs()?,
                _ => return Ok(()),
            }
        }
    }
    fn funcargs(&mut self) -> PResult {
        match self.k() {
            K::Str => {
                self.next();
                Ok(())
            }
            K::Sym("{") => self.constructor(),
            K::Sym("(") => {
                self.next();
                if !self.is_sym(")") {
                    self.explist()?;
                }
                self.expect_sym(")")
            }
            _ => Err(self.unexpected()),
        }
    }
    fn constructor(&mut self) -> PResult {
        self.expect_sym("{")?;
        while !self.is_sym("}") {
            if *self.k() == K::Name && matches!(self.peek_k(), K::Sym("=")) {
                self.next();
                self.next();
                self.expr()?;
            } else if self.is_sym("[") {
                self.next();
                self.expr()?;
                self.expect_sym("]")?;
                self.expect_sym("=")?;
                self.expr()?;
            } else {
                self.expr()?;
            }
            if self.is_sym(",") || self.is_sym(";") {
                self.next();
            } else {
                break;
            }
        }
        self.expect_sym("}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numerals_like_channel_programs() {
        for (lit, want) in [
            ("10", Some(10)),
            ("010", Some(8)),
            ("08", None),
            ("0x1F", Some(31)),
            ("0", Some(0)),
            ("18446744073709551615", Some(-1)),
            ("9223372036854775808", Some(i64::MIN)),
            ("1x", None),
            ("", None),
            ("-010", Some(-8)),
        ] {
            assert_eq!(parse_numeral(lit), want, "{lit}");
        }
    }

    #[test]
    fn float_literals_are_malformed() {
        for (src, near) in [
            ("local x = 1.5", "1.5"),
            ("return 1.0", "1.0"),
            ("return 1e3", "1e3"),
            ("x = .5", ".5"),
            ("x = 08", "08"),
            ("x = 0x1p4", "0x1p4"),
            ("\n\nx = 3abc", "3abc"),
        ] {
            let e = lint(src).unwrap_err();
            assert_eq!(e.msg, format!("malformed number near '{near}'"), "{src}");
        }
        assert_eq!(lint("\n\nx = 1.5").unwrap_err().line, 3);
    }

    #[test]
    fn rewrites_octal_and_division() {
        assert_eq!(lint("return 010 / 3").unwrap(), "return 8 // 3");
        assert_eq!(lint("return 18446744073709551615").unwrap(), "return (-1)");
        // strings and comments stay untouched
        assert_eq!(
            lint("x = '1.5 / 2' -- 0.5 / 3").unwrap(),
            "x = '1.5 / 2' -- 0.5 / 3"
        );
        assert_eq!(lint("x = [[a/b 1.5]]").unwrap(), "x = [[a/b 1.5]]");
    }

    #[test]
    fn lua54_only_syntax_is_refused_like_52() {
        for (src, near) in [
            ("return 7 // 2", "/"),
            ("return 1 & 2", "&"),
            ("return 1 | 2", "|"),
            ("return ~1", "~"),
            ("return 1 << 2", "<"),
            ("local x <const> = 1", "<"),
        ] {
            let e = lint(src).unwrap_err();
            assert_eq!(e.msg, format!("unexpected symbol near '{near}'"), "{src}");
        }
        assert!(
            lint("return 2 ^ 3")
                .unwrap_err()
                .msg
                .starts_with("EMULATOR:")
        );
        assert!(lint("local a = 1 ~= 2; goto x; ::x::").is_ok());
    }

    #[test]
    fn nesting_limit_counts_levels_like_52() {
        let nested = |n: usize| {
            let mut s = String::new();
            for _ in 0..n {
                s.push_str("if true then\n");
            }
            s.push_str("x = 1\n");
            for _ in 0..n {
                s.push_str("end\n");
            }
            s
        };
        // statement levels 1..=n, the innermost assignment's expression at n+2.
        assert!(lint(&nested(18)).is_ok());
        let e = lint(&nested(19)).unwrap_err();
        assert!(
            e.msg
                .starts_with("too many C levels (limit is 20) in main function"),
            "{e:?}"
        );
        let concat = |n: usize| format!("x = 'a'{}", " .. 'a'".repeat(n));
        assert!(lint(&concat(18)).is_ok());
        assert!(
            lint(&concat(19))
                .unwrap_err()
                .msg
                .contains("too many C levels")
        );
        let tables = |n: usize| format!("x = {}{}", "{".repeat(n), "}".repeat(n));
        assert!(lint(&tables(18)).is_ok());
        assert!(lint(&tables(20)).is_err());
    }
}
