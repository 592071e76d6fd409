//! Property: any filter the parser accepts prints to text that parses back to the same
//! tree. Two generators: well-formed trees (every shape the grammar has), and token soup
//! (whatever the parser happens to accept, including odd spacing and case).

use proptest::prelude::*;
use scim_guest::directory::Comparator;
use scim_guest::filter::{AttrPath, CompValue, Filter, parse};

fn attr_path() -> impl Strategy<Value = AttrPath> {
    let name = prop::sample::select(vec!["userName", "emails", "name", "meta", "active", "x509Certificates"]);
    let sub = prop::option::of(prop::sample::select(vec!["value", "type", "familyName", "lastModified", "primary"]));
    let urn = prop::option::of(prop_oneof![
        Just("urn:ietf:params:scim:schemas:core:2.0:User"),
        Just("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"),
    ]);
    (urn, name, sub).prop_map(|(urn, name, sub)| AttrPath {
        urn: urn.map(str::to_string),
        name: name.to_string(),
        sub: sub.map(str::to_string),
    })
}

fn comparator() -> impl Strategy<Value = Comparator> {
    prop_oneof![
        Just(Comparator::Eq),
        Just(Comparator::Ne),
        Just(Comparator::Co),
        Just(Comparator::Sw),
        Just(Comparator::Ew),
        Just(Comparator::Gt),
        Just(Comparator::Ge),
        Just(Comparator::Lt),
        Just(Comparator::Le),
    ]
}

fn value() -> impl Strategy<Value = CompValue> {
    prop_oneof![
        any::<String>().prop_map(CompValue::Str),
        (-1_000_000i64..1_000_000).prop_map(|n| CompValue::Num(n as f64)),
        (-1000.0f64..1000.0).prop_map(|n| CompValue::Num((n * 100.0).round() / 100.0)),
        any::<bool>().prop_map(CompValue::Bool),
        Just(CompValue::Null),
    ]
}

/// Trees of comparisons, presence tests, and, or and not: what a value filter may hold.
fn logic() -> impl Strategy<Value = Filter> {
    let leaf = prop_oneof![
        (attr_path(), comparator(), value()).prop_map(|(path, op, value)| Filter::Compare { path, op, value }),
        attr_path().prop_map(Filter::Present),
    ];
    leaf.prop_recursive(4, 24, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::Or(Box::new(a), Box::new(b))),
            inner.prop_map(|a| Filter::Not(Box::new(a))),
        ]
    })
}

/// Whole filters: logic, with value paths (`emails[...]`, never nested) anywhere.
fn filter() -> impl Strategy<Value = Filter> {
    let value_path = (attr_path().prop_filter("a value path names an attribute", |p| p.sub.is_none()), logic())
        .prop_map(|(attr, f)| Filter::ValuePath { attr, filter: Box::new(f) });
    let leaf = prop_oneof![logic(), value_path];
    leaf.prop_recursive(3, 24, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::Or(Box::new(a), Box::new(b))),
            inner.prop_map(|a| Filter::Not(Box::new(a))),
        ]
    })
}

/// The variations to spell a filter with, taken in turn.
struct Choices {
    bytes: Vec<u8>,
    at: usize,
}

impl Choices {
    fn next(&mut self) -> u8 {
        self.at += 1;
        self.bytes[self.at % self.bytes.len()]
    }

    fn word(&mut self, w: &str) -> String {
        match self.next() % 3 {
            0 => w.to_string(),
            1 => w.to_uppercase(),
            _ => w[..1].to_uppercase() + &w[1..],
        }
    }

    fn space(&mut self) -> &'static str {
        if self.next().is_multiple_of(4) { "  " } else { " " }
    }
}

/// Spells a filter the way clients do: operators and keywords in any case, extra spaces,
/// redundant parentheses.
fn spell(filter: &Filter, c: &mut Choices) -> String {
    let text = match filter {
        Filter::Compare { path, op, value } => {
            let printed = Filter::Compare { path: path.clone(), op: *op, value: CompValue::Null }.to_string();
            let op = printed.rsplit(' ').nth(1).unwrap().to_string();
            let (before, op, after) = (c.space(), c.word(&op), c.space());
            format!("{path}{before}{op}{after}{value}")
        }
        Filter::Present(path) => format!("{path} {}", c.word("pr")),
        Filter::And(a, b) | Filter::Or(a, b) => {
            let keyword = if matches!(filter, Filter::And(..)) { "and" } else { "or" };
            let operand = |f: &Filter, c: &mut Choices| {
                let inner = spell(f, c);
                if matches!(f, Filter::And(..) | Filter::Or(..)) { format!("({inner})") } else { inner }
            };
            let left = operand(a, c);
            let (before, keyword, after) = (c.space(), c.word(keyword), c.space());
            let right = operand(b, c);
            format!("{left}{before}{keyword}{after}{right}")
        }
        Filter::Not(inner) => {
            let (not, space) = (c.word("not"), c.space());
            format!("{not}{space}({})", spell(inner, c))
        }
        Filter::ValuePath { attr, filter } => format!("{attr}[{}]", spell(filter, c)),
    };
    if c.next().is_multiple_of(5) { format!("({text})") } else { text }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn generated_trees_print_and_parse_back(tree in filter()) {
        let printed = tree.to_string();
        let reparsed = parse(&printed).map_err(|e| TestCaseError::fail(format!("{printed}: {}", e.detail)))?;
        prop_assert_eq!(reparsed, tree, "printed as {}", printed);
    }

    #[test]
    fn every_spelling_of_a_tree_parses_to_that_tree(tree in filter(), choices in prop::collection::vec(any::<u8>(), 64)) {
        let text = spell(&tree, &mut Choices { bytes: choices, at: 0 });
        let parsed = parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {}", e.detail)))?;
        prop_assert_eq!(parsed, tree, "spelled {}", text);
    }

    /// Near-misses of valid filters (one character dropped): the parser refuses most;
    /// whatever it accepts must print and parse back to the same tree.
    #[test]
    fn whatever_parses_round_trips(tree in filter(), cut in any::<prop::sample::Index>()) {
        let text = tree.to_string();
        let at = cut.index(text.chars().count());
        let mutated: String = text.chars().enumerate().filter(|&(i, _)| i != at).map(|(_, c)| c).collect();
        if let Ok(parsed) = parse(&mutated) {
            let printed = parsed.to_string();
            let reparsed = parse(&printed).map_err(|e| TestCaseError::fail(format!("{mutated} → {printed}: {}", e.detail)))?;
            prop_assert_eq!(reparsed, parsed, "{} printed as {}", mutated, printed);
        }
    }
}
