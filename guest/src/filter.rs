//! SCIM filter expressions (RFC 7644 §3.4.2.2): parsing with positions in every error,
//! printing back to text, and evaluation against a JSON value (for PATCH value paths).
//! Turning a filter into a store query is the resource modules' business, not this one's.

use crate::directory::Comparator;
use crate::error::{ScimError, ScimType};
use serde_json::Value;
use std::fmt;

/// An attribute path: `[urn:...:]name[.sub]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttrPath {
    /// The schema URN, when the path is qualified.
    pub urn: Option<String>,
    /// The attribute name.
    pub name: String,
    /// The sub-attribute, if any.
    pub sub: Option<String>,
}

/// A comparison value.
#[derive(Clone, Debug, PartialEq)]
pub enum CompValue {
    /// A string.
    Str(String),
    /// A number.
    Num(f64),
    /// `true` or `false`.
    Bool(bool),
    /// `null`.
    Null,
}

/// A parsed filter.
#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    /// `path op value`.
    Compare {
        /// The attribute compared.
        path: AttrPath,
        /// How.
        op: Comparator,
        /// With what.
        value: CompValue,
    },
    /// `path pr`.
    Present(AttrPath),
    /// `a and b`.
    And(Box<Filter>, Box<Filter>),
    /// `a or b`.
    Or(Box<Filter>, Box<Filter>),
    /// `not (a)`.
    Not(Box<Filter>),
    /// `attr[filter]`: some value of `attr` matches `filter`.
    ValuePath {
        /// The multi-valued attribute.
        attr: AttrPath,
        /// What one of its values must match.
        filter: Box<Filter>,
    },
}

impl AttrPath {
    /// A path without URN or sub-attribute.
    pub fn simple(name: &str) -> Self {
        AttrPath { urn: None, name: name.to_string(), sub: None }
    }

    /// `name` or `name.sub`, without the URN.
    pub fn dotted(&self) -> String {
        match &self.sub {
            Some(sub) => format!("{}.{}", self.name, sub),
            None => self.name.clone(),
        }
    }

    /// Parses a path as it appears in a filter or a PATCH `path`.
    pub fn parse(text: &str) -> Result<AttrPath, String> {
        let mut lexer = Lexer::new(text);
        let path = lexer.attr_path().map_err(|e| e.detail)?;
        lexer.skip_spaces();
        if lexer.pos < text.len() {
            return Err(format!("unexpected '{}' at position {}", &text[lexer.pos..], lexer.pos + 1));
        }
        Ok(path)
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(urn) = &self.urn {
            write!(f, "{urn}:")?;
        }
        write!(f, "{}", self.name)?;
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

fn op_name(op: Comparator) -> &'static str {
    match op {
        Comparator::Eq => "eq",
        Comparator::Ne => "ne",
        Comparator::Co => "co",
        Comparator::Sw => "sw",
        Comparator::Ew => "ew",
        Comparator::Pr => "pr",
        Comparator::Gt => "gt",
        Comparator::Ge => "ge",
        Comparator::Lt => "lt",
        Comparator::Le => "le",
    }
}

impl fmt::Display for CompValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompValue::Str(s) => write!(f, "{}", Value::String(s.clone())),
            CompValue::Num(n) => {
                write!(f, "{}", serde_json::Number::from_f64(*n).map(|n| n.to_string()).unwrap_or_default())
            }
            CompValue::Bool(b) => write!(f, "{b}"),
            CompValue::Null => write!(f, "null"),
        }
    }
}

impl fmt::Display for Filter {
    /// Prints a filter that parses back to the same tree: `and`/`or` operands are
    /// parenthesised whenever precedence would otherwise regroup them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::Compare { path, op, value } => write!(f, "{path} {} {value}", op_name(*op)),
            Filter::Present(path) => write!(f, "{path} pr"),
            Filter::And(a, b) => {
                write_operand(f, a, matches!(**a, Filter::Or(..)))?;
                write!(f, " and ")?;
                write_operand(f, b, matches!(**b, Filter::Or(..) | Filter::And(..)))
            }
            Filter::Or(a, b) => {
                write_operand(f, a, false)?;
                write!(f, " or ")?;
                write_operand(f, b, matches!(**b, Filter::Or(..)))
            }
            Filter::Not(inner) => write!(f, "not ({inner})"),
            Filter::ValuePath { attr, filter } => write!(f, "{attr}[{filter}]"),
        }
    }
}

fn write_operand(f: &mut fmt::Formatter<'_>, filter: &Filter, parens: bool) -> fmt::Result {
    if parens { write!(f, "({filter})") } else { write!(f, "{filter}") }
}

/// Comparisons a filter may hold: far beyond any identity provider's, and small enough
/// that a filter's tree is cheap to walk (every walk over it recurses).
pub const MAX_COMPARISONS: usize = 200;
/// How deep parentheses, `not` and value filters may nest. The parser recurses at each
/// level: unbounded, a filter of ten thousand `(` would exhaust the stack.
pub const MAX_NESTING: usize = 32;

/// Parses a filter; errors are 400 invalidFilter naming the position (1-based) and token.
pub fn parse(text: &str) -> Result<Filter, ScimError> {
    let mut lexer = Lexer::new(text);
    let filter = lexer.or_expr(false)?;
    lexer.skip_spaces();
    if lexer.pos < text.len() {
        return Err(lexer.error("unexpected", &lexer.peek_token()));
    }
    Ok(filter)
}

/// The filter as an error quotes it: its first 200 bytes, so that a refusal of a huge
/// filter is not as large as the filter.
fn excerpt(text: &str) -> std::borrow::Cow<'_, str> {
    const QUOTED: usize = 200;
    if text.len() <= QUOTED {
        return text.into();
    }
    let end = (0..=QUOTED).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
    format!("{}…", &text[..end]).into()
}

struct Lexer<'a> {
    text: &'a str,
    pos: usize,
    /// Open parentheses, `not`s and value filters around the position.
    nesting: usize,
    /// Comparisons parsed so far.
    comparisons: usize,
}

impl<'a> Lexer<'a> {
    fn new(text: &'a str) -> Self {
        Lexer { text, pos: 0, nesting: 0, comparisons: 0 }
    }

    /// One level deeper, or an error past [`MAX_NESTING`].
    fn nest(&mut self) -> Result<(), ScimError> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return Err(self.error(&format!("more than {MAX_NESTING} levels of nesting at"), &self.peek_token()));
        }
        Ok(())
    }

    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    fn skip_spaces(&mut self) {
        while self.rest().starts_with([' ', '\t', '\n', '\r']) {
            self.pos += 1;
        }
    }

    fn error(&self, what: &str, token: &str) -> ScimError {
        let token = if token.is_empty() { "end of filter".to_string() } else { format!("'{token}'") };
        ScimError::bad_request(
            ScimType::InvalidFilter,
            format!("filter: {what} {token} at position {} in \"{}\"", self.pos + 1, excerpt(self.text)),
        )
    }

    /// The next word-ish token, for error messages.
    fn peek_token(&self) -> String {
        let rest = self.rest();
        let end = rest
            .char_indices()
            .find(|(i, c)| c.is_whitespace() || (*i > 0 && matches!(c, '(' | ')' | '[' | ']')))
            .map(|(i, _)| i)
            .unwrap_or(rest.len());
        rest[..end.max(rest.chars().next().map_or(0, char::len_utf8))].to_string()
    }

    /// A keyword (`and`, `or`, `not`) followed by a delimiter, case-insensitively.
    fn eat_keyword(&mut self, keyword: &str) -> bool {
        let rest = self.rest();
        // `get`, not indexing: the text may hold a multi-byte character right here.
        if rest.get(..keyword.len()).is_some_and(|head| head.eq_ignore_ascii_case(keyword))
            && rest[keyword.len()..].chars().next().is_none_or(|c| c.is_whitespace() || c == '(')
        {
            self.pos += keyword.len();
            true
        } else {
            false
        }
    }

    fn or_expr(&mut self, in_brackets: bool) -> Result<Filter, ScimError> {
        let mut left = self.and_expr(in_brackets)?;
        loop {
            self.skip_spaces();
            if self.eat_keyword("or") {
                let right = self.and_expr(in_brackets)?;
                left = Filter::Or(Box::new(left), Box::new(right));
            } else {
                return Ok(left);
            }
        }
    }

    fn and_expr(&mut self, in_brackets: bool) -> Result<Filter, ScimError> {
        let mut left = self.unary(in_brackets)?;
        loop {
            self.skip_spaces();
            if self.eat_keyword("and") {
                let right = self.unary(in_brackets)?;
                left = Filter::And(Box::new(left), Box::new(right));
            } else {
                return Ok(left);
            }
        }
    }

    fn unary(&mut self, in_brackets: bool) -> Result<Filter, ScimError> {
        self.skip_spaces();
        if self.eat_keyword("not") {
            self.skip_spaces();
            if !self.rest().starts_with('(') {
                return Err(self.error("expected '(' after 'not', found", &self.peek_token()));
            }
            self.nest()?;
            let inner = self.unary(in_brackets)?;
            self.nesting -= 1;
            return Ok(Filter::Not(Box::new(inner)));
        }
        if self.rest().starts_with('(') {
            self.nest()?;
            self.pos += 1;
            let inner = self.or_expr(in_brackets)?;
            self.skip_spaces();
            if !self.rest().starts_with(')') {
                return Err(self.error("expected ')', found", &self.peek_token()));
            }
            self.pos += 1;
            self.nesting -= 1;
            return Ok(inner);
        }
        self.attr_expr(in_brackets)
    }

    fn attr_expr(&mut self, in_brackets: bool) -> Result<Filter, ScimError> {
        self.comparisons += 1;
        if self.comparisons > MAX_COMPARISONS {
            return Err(self.error(&format!("more than {MAX_COMPARISONS} comparisons at"), &self.peek_token()));
        }
        let path = self.attr_path()?;
        if self.rest().starts_with('[') {
            if in_brackets {
                return Err(self.error("nested value filter", "["));
            }
            if path.sub.is_some() {
                return Err(self.error("value filter after a sub-attribute", "["));
            }
            self.pos += 1;
            let inner = self.or_expr(true)?;
            self.skip_spaces();
            if !self.rest().starts_with(']') {
                return Err(self.error("expected ']', found", &self.peek_token()));
            }
            self.pos += 1;
            return Ok(Filter::ValuePath { attr: path, filter: Box::new(inner) });
        }
        if !self.rest().starts_with([' ', '\t']) {
            return Err(self.error("expected an operator after the attribute, found", &self.peek_token()));
        }
        self.skip_spaces();
        let op_token = self.peek_token();
        let op = match op_token.to_ascii_lowercase().as_str() {
            "eq" => Comparator::Eq,
            "ne" => Comparator::Ne,
            "co" => Comparator::Co,
            "sw" => Comparator::Sw,
            "ew" => Comparator::Ew,
            "pr" => Comparator::Pr,
            "gt" => Comparator::Gt,
            "ge" => Comparator::Ge,
            "lt" => Comparator::Lt,
            "le" => Comparator::Le,
            _ => {
                return Err(self
                    .error("unknown operator", &op_token)
                    .with_hint("expected eq, ne, co, sw, ew, pr, gt, ge, lt or le"));
            }
        };
        self.pos += op_token.len();
        if op == Comparator::Pr {
            return Ok(Filter::Present(path));
        }
        if !self.rest().starts_with([' ', '\t']) {
            return Err(self.error("expected a value after the operator, found", &self.peek_token()));
        }
        self.skip_spaces();
        let value = self.comp_value()?;
        Ok(Filter::Compare { path, op, value })
    }

    fn attr_path(&mut self) -> Result<AttrPath, ScimError> {
        let start = self.pos;
        let rest = self.rest();
        let end = rest
            .char_indices()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, ':' | '.' | '-' | '_' | '$')))
            .map(|(i, _)| i)
            .unwrap_or(rest.len());
        let word = &rest[..end];
        if word.is_empty() || !word.starts_with(|c: char| c.is_ascii_alphabetic() || c == '$') {
            return Err(self.error("expected an attribute name, found", &self.peek_token()));
        }
        self.pos += end;
        // A URN prefix ends at the last ':'; what follows is `name[.sub]`.
        let (urn, tail) = match word.rfind(':') {
            Some(i) => (Some(word[..i].to_string()), &word[i + 1..]),
            None => (None, word),
        };
        let mut parts = tail.splitn(2, '.');
        let name = parts.next().unwrap_or_default().to_string();
        let sub = parts.next().map(str::to_string);
        if name.is_empty() || sub.as_deref().is_some_and(|s| s.is_empty() || s.contains('.')) {
            self.pos = start;
            return Err(self.error("malformed attribute path", word));
        }
        Ok(AttrPath { urn, name, sub })
    }

    fn comp_value(&mut self) -> Result<CompValue, ScimError> {
        let rest = self.rest();
        if rest.starts_with('"') {
            // A JSON string: find its closing quote, honouring escapes.
            let bytes = rest.as_bytes();
            let mut i = 1;
            while i < bytes.len() {
                match bytes[i] {
                    b'\\' => i += 2,
                    b'"' => break,
                    _ => i += 1,
                }
            }
            if i >= bytes.len() {
                return Err(self.error("unterminated string", rest));
            }
            let literal = &rest[..=i];
            let value: String = serde_json::from_str(literal).map_err(|_| self.error("malformed string", literal))?;
            self.pos += i + 1;
            return Ok(CompValue::Str(value));
        }
        let token = self.peek_token();
        let token = token.trim_end_matches([')', ']']).to_string();
        let value = match token.as_str() {
            "true" => CompValue::Bool(true),
            "false" => CompValue::Bool(false),
            "null" => CompValue::Null,
            t => match t.parse::<f64>() {
                Ok(n) if n.is_finite() && !t.is_empty() => CompValue::Num(n),
                _ => {
                    return Err(
                        self.error("expected a value (a quoted string, number, true, false or null), found", &token)
                    );
                }
            },
        };
        self.pos += token.len();
        Ok(value)
    }
}

impl ScimError {
    /// Appends advice to the detail.
    pub fn with_hint(mut self, hint: &str) -> Self {
        self.detail = format!("{}; {hint}", self.detail);
        self
    }
}

impl Filter {
    /// Whether a JSON object (one element of a multi-valued attribute, or a resource)
    /// satisfies the filter. Attribute names match without regard to case; strings
    /// compare without regard to case (SCIM's default `caseExact: false`).
    pub fn matches(&self, item: &Value) -> bool {
        match self {
            Filter::And(a, b) => a.matches(item) && b.matches(item),
            Filter::Or(a, b) => a.matches(item) || b.matches(item),
            Filter::Not(inner) => !inner.matches(item),
            Filter::Present(path) => {
                lookup(item, path).iter().any(|v| !v.is_null() && *v != &Value::String(String::new()))
            }
            Filter::Compare { path, op, value } => lookup(item, path).iter().any(|actual| compare(actual, *op, value)),
            Filter::ValuePath { attr, filter } => lookup(item, attr).iter().any(|element| filter.matches(element)),
        }
    }
}

/// The values at a path of a JSON object; arrays are flattened.
fn lookup<'v>(item: &'v Value, path: &AttrPath) -> Vec<&'v Value> {
    let mut out = Vec::new();
    let Some(object) = item.as_object() else { return out };
    let scope = match &path.urn {
        Some(urn) => object.iter().find(|(k, _)| k.eq_ignore_ascii_case(urn)).map(|(_, v)| v).filter(|v| v.is_object()),
        None => Some(item),
    };
    let Some(scope) = scope.and_then(Value::as_object) else {
        return out;
    };
    let Some(value) = scope.iter().find(|(k, _)| k.eq_ignore_ascii_case(&path.name)).map(|(_, v)| v) else {
        return out;
    };
    let values: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        v => vec![v],
    };
    match &path.sub {
        None => out.extend(values),
        Some(sub) => {
            for v in values {
                if let Some(found) = v.as_object().and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case(sub))) {
                    out.push(found.1);
                }
            }
        }
    }
    out
}

fn compare(actual: &Value, op: Comparator, expected: &CompValue) -> bool {
    use std::cmp::Ordering;
    let ordering: Option<Ordering> = match (actual, expected) {
        (Value::String(a), CompValue::Str(b)) => {
            let (a, b) = (a.to_lowercase(), b.to_lowercase());
            match op {
                Comparator::Co => return a.contains(&b),
                Comparator::Sw => return a.starts_with(&b),
                Comparator::Ew => return a.ends_with(&b),
                _ => Some(a.cmp(&b)),
            }
        }
        (Value::Bool(a), CompValue::Bool(b)) => Some(a.cmp(b)),
        (Value::Number(a), CompValue::Num(b)) => a.as_f64().and_then(|a| a.partial_cmp(b)),
        (Value::Null, CompValue::Null) => Some(Ordering::Equal),
        _ => None,
    };
    match (op, ordering) {
        (Comparator::Eq, Some(o)) => o == Ordering::Equal,
        (Comparator::Ne, Some(o)) => o != Ordering::Equal,
        (Comparator::Ne, None) => true,
        (Comparator::Gt, Some(o)) => o == Ordering::Greater,
        (Comparator::Ge, Some(o)) => o != Ordering::Less,
        (Comparator::Lt, Some(o)) => o == Ordering::Less,
        (Comparator::Le, Some(o)) => o != Ordering::Greater,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn round_trip(text: &str) {
        let parsed = parse(text).unwrap_or_else(|e| panic!("{text}: {}", e.detail));
        let printed = parsed.to_string();
        let reparsed = parse(&printed).unwrap_or_else(|e| panic!("{printed}: {}", e.detail));
        assert_eq!(parsed, reparsed, "{text} printed as {printed}");
    }

    #[test]
    fn every_example_of_rfc_7644_section_3_4_2_2_parses_and_round_trips() {
        for text in [
            r#"userName eq "bjensen""#,
            r#"name.familyName co "O'Malley""#,
            r#"userName sw "J""#,
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
            r#"title pr"#,
            r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
            r#"meta.lastModified ge "2011-05-13T04:42:34Z""#,
            r#"meta.lastModified lt "2011-05-13T04:42:34Z""#,
            r#"meta.lastModified le "2011-05-13T04:42:34Z""#,
            r#"title pr and userType eq "Employee""#,
            r#"title pr or userType eq "Intern""#,
            r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
            r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
            r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
            r#"userType eq "Employee" and (emails.type eq "work")"#,
            r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
            r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
        ] {
            round_trip(text);
        }
    }

    #[test]
    fn and_binds_tighter_than_or() {
        let f = parse(r#"a eq 1 or b eq 2 and c eq 3"#).unwrap();
        assert!(matches!(f, Filter::Or(_, ref right) if matches!(**right, Filter::And(..))));
        let item = json!({"a": 0, "b": 2, "c": 3});
        assert!(f.matches(&item));
        assert!(!parse(r#"(a eq 1 or b eq 2) and c eq 4"#).unwrap().matches(&item));
    }

    #[test]
    fn urn_qualified_paths_split_at_the_last_colon() {
        let f = parse(r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "7""#).unwrap();
        let Filter::Compare { path, .. } = f else { panic!("not a comparison") };
        assert_eq!(path.urn.as_deref(), Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"));
        assert_eq!(path.name, "employeeNumber");
    }

    #[test]
    fn operators_and_keywords_are_case_insensitive() {
        assert!(parse(r#"userName EQ "x" AND active Eq true"#).is_ok());
    }

    #[test]
    fn non_ascii_text_where_a_keyword_may_stand_is_an_error_not_a_panic() {
        for text in ["userName eq \"x\" ස", "ස", "userName eq \"x\" aන්ද"] {
            let e = parse(text).unwrap_err();
            assert_eq!(e.scim_type, Some(ScimType::InvalidFilter), "{text}");
        }
    }

    /// Found by fuzzing: 17,546 `(` overflowed the parser's stack.
    #[test]
    fn a_filter_nested_or_chained_without_end_is_refused_not_overflowed() {
        let deep = format!("{}userName eq \"a\"{}", "(".repeat(MAX_NESTING), ")".repeat(MAX_NESTING));
        assert!(parse(&deep).is_ok());
        for text in [
            "(".repeat(20_000),
            format!("{}userName eq \"a\"{}", "not (".repeat(MAX_NESTING + 1), ")".repeat(MAX_NESTING + 1)),
            vec!["userName eq \"a\""; MAX_COMPARISONS + 1].join(" and "),
        ] {
            let error = parse(&text).unwrap_err();
            assert_eq!(error.scim_type, Some(ScimType::InvalidFilter), "{error:?}");
            assert!(error.detail.contains("more than"), "{}", error.detail);
            assert!(error.detail.len() < 400, "the error quotes an excerpt: {}", error.detail);
        }
        assert!(parse(&vec!["userName eq \"a\""; MAX_COMPARISONS].join(" or ")).is_ok());
    }

    #[test]
    fn a_bad_filter_names_the_position_and_token() {
        let e = parse(r#"userName eqq "x""#).unwrap_err();
        assert_eq!(e.status, 400);
        assert_eq!(e.scim_type, Some(ScimType::InvalidFilter));
        assert!(e.detail.contains("'eqq' at position 10"), "{}", e.detail);
        let e = parse(r#"userName eq "x" and"#).unwrap_err();
        assert!(e.detail.contains("end of filter"), "{}", e.detail);
        let e = parse(r#"(userName eq "x""#).unwrap_err();
        assert!(e.detail.contains("expected ')'"), "{}", e.detail);
        assert!(parse(r#"userName eq bjensen"#).is_err());
        assert!(parse(r#"userName eq "unterminated"#).is_err());
    }

    #[test]
    fn value_filters_match_elements_of_multi_valued_attributes() {
        let user =
            json!({"emails": [{"type": "home", "value": "a@home.org"}, {"type": "work", "value": "a@Example.com"}]});
        assert!(parse(r#"emails[type eq "work" and value co "@example.com"]"#).unwrap().matches(&user));
        assert!(!parse(r#"emails[type eq "home" and value co "@example.com"]"#).unwrap().matches(&user));
        assert!(parse(r#"emails.value ew ".org""#).unwrap().matches(&user));
    }
}
