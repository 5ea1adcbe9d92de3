//! The output nvlist of a channel program and its JSON form exactly as `zfs program -j`
//! prints it (`nvlist_print_json` in libnvpair_json.c, UTF-8 locale): compact, no trailing
//! newline, `"` `\n` `\r` `\\` `\f` `\t` `\b` escaped, other control characters and BMP
//! characters as `\u00xx`/`\uXXXX`, characters beyond the BMP dropped; a C string ends at
//! NUL, and invalid UTF-8 stops the output mid-stream (as the C code does).
//!
//! Also an estimate of the packed (native encoding) size, used for the output-size limit.
//! Pure.

use std::fmt::Write as _;

/// A value of the output nvlist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Nv {
    /// `DATA_TYPE_BOOLEAN` (valueless, from a top-level nil): printed as `true`.
    Flag,
    Bool(bool),
    Int(i64),
    /// Raw bytes of a Lua string.
    Str(Vec<u8>),
    /// Nested nvlist, in insertion order.
    List(Vec<(Vec<u8>, Nv)>),
}

/// Bytes printed as they are: printable ASCII but the quote and the backslash.
static PLAIN: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0x20;
    while b < 0x7f {
        t[b] = b != b'"' as usize && b != b'\\' as usize;
        b += 1;
    }
    t
};

/// Appends `s` as a JSON string; `false` when invalid UTF-8 stopped the output.
fn push_str(out: &mut String, s: &[u8]) -> bool {
    let s = match s.iter().position(|b| *b == 0) {
        Some(i) => &s[..i],
        None => s,
    };
    out.push('"');
    let (valid, rest_invalid) = match std::str::from_utf8(s) {
        Ok(v) => (v, false),
        Err(e) => (
            std::str::from_utf8(&s[..e.valid_up_to()]).unwrap_or_default(),
            true,
        ),
    };
    // Runs of printable ASCII other than `"` and the backslash are copied as they are.
    let mut rest = valid;
    while !rest.is_empty() {
        let n = rest
            .bytes()
            .position(|b| !PLAIN[usize::from(b)])
            .unwrap_or(rest.len());
        out.push_str(&rest[..n]);
        let mut chars = rest[n..].chars();
        let Some(c) = chars.next() else { break };
        rest = chars.as_str();
        match c {
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\\' => out.push_str("\\\\"),
            '\u{0c}' => out.push_str("\\f"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            c if (c as u32) <= 0x1f || ((c as u32) > 0x7f && (c as u32) <= 0xffff) => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) <= 0x7f => out.push(c),
            _ => {} // beyond the BMP: dropped
        }
    }
    if rest_invalid {
        return false;
    }
    out.push('"');
    true
}

/// Prints an nvlist like `nvlist_print_json`; stops early on invalid UTF-8.
pub(crate) fn print_list(out: &mut String, pairs: &[(Vec<u8>, Nv)]) -> bool {
    out.push('{');
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if !push_str(out, k) {
            return false;
        }
        out.push(':');
        let ok = match v {
            Nv::Flag => {
                out.push_str("true");
                true
            }
            Nv::Bool(b) => {
                out.push_str(if *b { "true" } else { "false" });
                true
            }
            Nv::Int(n) => {
                let _ = write!(out, "{n}");
                true
            }
            Nv::Str(s) => push_str(out, s),
            Nv::List(l) => print_list(out, l),
        };
        if !ok {
            return false;
        }
    }
    out.push('}');
    true
}

/// JSON of a whole output nvlist.
pub(crate) fn to_json(pairs: &[(Vec<u8>, Nv)]) -> String {
    // The packed size is close to the printed size: one allocation, no regrowth.
    let mut out = String::with_capacity(packed_size(pairs));
    print_list(&mut out, pairs);
    out
}

fn align8(n: usize) -> usize {
    n.div_ceil(8) * 8
}

/// Approximate size of the packed native nvlist (header, pairs, end markers).
pub(crate) fn packed_size(pairs: &[(Vec<u8>, Nv)]) -> usize {
    8 + pairs
        .iter()
        .map(|(k, v)| {
            16 + align8(k.len() + 1)
                + match v {
                    Nv::Flag => 0,
                    Nv::Bool(_) | Nv::Int(_) => 8,
                    Nv::Str(s) => align8(s.len() + 1),
                    Nv::List(l) => 24 + packed_size(l),
                }
        })
        .sum::<usize>()
        + 8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Vec<u8> {
        x.as_bytes().to_vec()
    }

    #[test]
    fn json_table() {
        type Case = (Vec<(Vec<u8>, Nv)>, &'static str);
        let cases: Vec<Case> = vec![
            (vec![], "{}"),
            (vec![(s("return"), Nv::Flag)], r#"{"return":true}"#),
            (vec![(s("return"), Nv::Int(-5))], r#"{"return":-5}"#),
            (vec![(s("return"), Nv::Bool(false))], r#"{"return":false}"#),
            (
                vec![(s("return"), Nv::Str(s("a\"b\n\t\\\u{1}\u{7f}é€😀")))],
                "{\"return\":\"a\\\"b\\n\\t\\\\\\u0001\u{7f}\\u00e9\\u20ac\"}",
            ),
            (
                vec![(s("return"), Nv::Str(b"ab\0cd".to_vec()))],
                r#"{"return":"ab"}"#,
            ),
            (
                vec![(
                    s("return"),
                    Nv::List(vec![(s("1"), Nv::Str(s("a"))), (s("x"), Nv::List(vec![]))]),
                )],
                r#"{"return":{"1":"a","x":{}}}"#,
            ),
            (
                vec![(s("return"), Nv::Str(b"ok\xffno".to_vec()))],
                r#"{"return":"ok"#,
            ),
        ];
        for (pairs, want) in cases {
            assert_eq!(to_json(&pairs), want);
        }
    }

    /// `push_str` one character at a time: what the run copying must equal.
    fn push_str_by_char(out: &mut String, s: &[u8]) -> bool {
        let s = &s[..s.iter().position(|b| *b == 0).unwrap_or(s.len())];
        out.push('"');
        let (valid, invalid) = match std::str::from_utf8(s) {
            Ok(v) => (v, false),
            Err(e) => (std::str::from_utf8(&s[..e.valid_up_to()]).unwrap(), true),
        };
        for c in valid.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\\' => out.push_str("\\\\"),
                '\u{0c}' => out.push_str("\\f"),
                '\t' => out.push_str("\\t"),
                '\u{08}' => out.push_str("\\b"),
                c if (c as u32) <= 0x1f || ((c as u32) > 0x7f && (c as u32) <= 0xffff) => {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                }
                c if (c as u32) <= 0x7f => out.push(c),
                _ => {}
            }
        }
        if invalid {
            return false;
        }
        out.push('"');
        true
    }

    proptest::proptest! {
        #[test]
        fn push_str_equals_char_by_char(
            bytes in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::prelude::any::<u8>(),
                    proptest::sample::select(b"ab_:@\"\\\n\t\x7f".to_vec()),
                ],
                0..40,
            ),
            text in "[a-z\"\\\\\n\u{1}\u{7f}é€😀]{0,30}",
        ) {
            for s in [bytes, text.into_bytes()] {
                let (mut a, mut b) = (String::new(), String::new());
                let ok_a = push_str(&mut a, &s);
                let ok_b = push_str_by_char(&mut b, &s);
                proptest::prop_assert_eq!((ok_a, &a), (ok_b, &b), "{:?}", s);
            }
        }
    }

    #[test]
    fn packed_size_grows_with_content() {
        let small = vec![(s("return"), Nv::Int(1))];
        let big = vec![(s("return"), Nv::Str(vec![b'x'; 1000]))];
        assert!(packed_size(&small) < 100);
        assert!(packed_size(&big) > 1000);
    }
}
