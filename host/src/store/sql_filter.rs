//! Turns a store [`Query`]'s filter and sort into SQL over indexed columns, with every
//! value bound as a parameter, for both SQL stores: they share the schema's shape (the
//! `users`/`groups` tables with `*_lower` twin columns, the attribute tables) and differ
//! only where a [`Dialect`] says. Case-insensitive comparisons use the twin columns
//! (lower-cased in Rust, so non-ASCII letters fold too) against a lower-cased value, which
//! keeps `eq` and `sw` on the B-tree indexes; on PostgreSQL `co` and `ew` become `LIKE`
//! patterns, which its trigram indexes serve.

use crate::store::{Comparator, Condition, DirResult, DirectoryError, Field, FilterNode, SortKey};

/// Which table a query searches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Users,
    Groups,
}

/// More conditions than this is not a filter a client sends but a denial of service.
const MAX_CONDITIONS: usize = 500;
/// How deep a filter's nodes may nest. Compiling recurses once per level on the guest
/// call's stack, beneath the guest's own frames: a module's chain of 500 `negate`s
/// overflowed it. The stock handler's filters nest 3 levels per pair of parentheses it
/// allows (32), so this is above anything it sends.
pub const MAX_DEPTH: usize = 100;

/// Which SQL the statement is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// Placeholders `?N`; `instr` and `substr` for `co` and `ew`.
    Sqlite,
    /// Placeholders `$N`; `LIKE` patterns for `co` and `ew` (trigram-indexed).
    Postgres,
}

/// A bound value, converted to each driver's type by its store.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Param {
    Text(String),
    Int(i64),
    Bool(bool),
}

impl From<String> for Param {
    fn from(value: String) -> Self {
        Param::Text(value)
    }
}

impl From<i64> for Param {
    fn from(value: i64) -> Self {
        Param::Int(value)
    }
}

impl From<bool> for Param {
    fn from(value: bool) -> Self {
        Param::Bool(value)
    }
}

/// The parameters of a statement being built. Parameter 1 is always the realm.
pub struct Sql {
    pub dialect: Dialect,
    pub params: Vec<Param>,
}

impl Sql {
    /// Starts a statement in `realm`.
    pub fn new(dialect: Dialect, realm: &str) -> Self {
        Sql { dialect, params: vec![Param::Text(realm.to_string())] }
    }

    /// Binds a value and returns its placeholder.
    pub fn bind(&mut self, value: impl Into<Param>) -> String {
        self.params.push(value.into());
        self.placeholder(self.params.len())
    }

    /// The placeholder of the realm, parameter 1.
    pub fn realm(&self) -> String {
        self.placeholder(1)
    }

    fn placeholder(&self, n: usize) -> String {
        match self.dialect {
            Dialect::Sqlite => format!("?{n}"),
            Dialect::Postgres => format!("${n}"),
        }
    }
}

/// How a column compares.
enum Column {
    /// A text column and its lower-cased twin.
    Text { exact: &'static str, lower: &'static str },
    /// A text column compared as is (ids).
    Plain(&'static str),
    /// An integer column holding milliseconds.
    Millis(&'static str),
    /// An integer 0/1 column.
    Flag(&'static str),
    /// A multi-valued attribute in the attribute table.
    Attribute(String),
    /// A field this kind of resource does not have: it has no values.
    Absent,
}

fn column(kind: Kind, field: &Field) -> Column {
    use Column::*;
    match (kind, field) {
        (Kind::Users, Field::Id) => Plain("u.id"),
        (Kind::Users, Field::Username) => Text { exact: "u.username", lower: "u.username_lower" },
        (Kind::Users, Field::Email) => Text { exact: "u.email", lower: "u.email_lower" },
        (Kind::Users, Field::FirstName) => Text { exact: "u.first_name", lower: "u.first_name_lower" },
        (Kind::Users, Field::LastName) => Text { exact: "u.last_name", lower: "u.last_name_lower" },
        (Kind::Users, Field::Enabled) => Flag("u.enabled"),
        (Kind::Users, Field::CreatedAt) => Millis("u.created_at"),
        (Kind::Users, Field::UpdatedAt) => Millis("u.updated_at"),
        (Kind::Groups, Field::Id) => Plain("g.id"),
        (Kind::Groups, Field::GroupName) => Text { exact: "g.name", lower: "g.name_lower" },
        (Kind::Groups, Field::CreatedAt) => Millis("g.created_at"),
        (Kind::Groups, Field::UpdatedAt) => Millis("g.updated_at"),
        (_, Field::Attribute(name)) => Attribute(name.clone()),
        _ => Absent,
    }
}

/// The SQL condition of a filter (the last node is the root); `None` when there is none.
pub fn filter(kind: Kind, nodes: &[FilterNode], sql: &mut Sql) -> DirResult<Option<String>> {
    if nodes.is_empty() {
        return Ok(None);
    }
    let mut compiler = Compiler { kind, nodes, sql, budget: MAX_CONDITIONS, aliases: 0 };
    compiler.node(nodes.len() - 1, None, 0).map(Some)
}

/// The item of a list a `some-value` node is testing: the list's name and the SQL
/// expression of the item's position.
struct Item<'a> {
    list: &'a str,
    position: String,
}

/// Compiles the nodes of one filter.
struct Compiler<'a> {
    kind: Kind,
    nodes: &'a [FilterNode],
    sql: &'a mut Sql,
    /// Nodes still allowed: shared subtrees must not blow up the statement.
    budget: usize,
    /// Table aliases handed out to `some-value` nodes.
    aliases: usize,
}

impl Compiler<'_> {
    fn node(&mut self, index: usize, at: Option<&Item>, depth: usize) -> DirResult<String> {
        if self.budget == 0 {
            return Err(DirectoryError::Invalid(format!("the filter has more than {MAX_CONDITIONS} conditions")));
        }
        if depth >= MAX_DEPTH {
            return Err(DirectoryError::Invalid(format!("the filter nests more than {MAX_DEPTH} levels deep")));
        }
        let depth = depth + 1;
        self.budget -= 1;
        // Children must come before their parent: this rules out cycles.
        let child = |c: u32| -> DirResult<usize> {
            if (c as usize) < index {
                Ok(c as usize)
            } else {
                Err(DirectoryError::Invalid(format!(
                    "filter node {index} refers to node {c}, which does not come before it"
                )))
            }
        };
        match &self.nodes[index] {
            FilterNode::Condition(c) => condition(self.kind, c, self.sql, at),
            FilterNode::AllOf(children) | FilterNode::AnyOf(children) => {
                let joiner = if matches!(self.nodes[index], FilterNode::AllOf(_)) { " AND " } else { " OR " };
                if children.is_empty() {
                    return Ok(if joiner == " AND " { "TRUE".into() } else { "FALSE".into() });
                }
                let parts = children.iter().map(|&c| self.node(child(c)?, at, depth)).collect::<DirResult<Vec<_>>>()?;
                Ok(format!("({})", parts.join(joiner)))
            }
            FilterNode::Negate(c) => Ok(format!("(NOT {})", self.node(child(*c)?, at, depth)?)),
            FilterNode::SomeValue { attribute, node } => {
                // Some position of the list at which the inner node holds.
                let (table, owner, key) = attribute_table(self.kind);
                self.aliases += 1;
                let alias = format!("p{}", self.aliases);
                let realm = self.sql.realm();
                let low = self.sql.bind(format!("{attribute}."));
                let high = self.sql.bind(format!("{attribute}/"));
                let item = Item { list: attribute, position: format!("{alias}.position") };
                let inner = self.node(child(*node)?, Some(&item), depth)?;
                Ok(format!(
                    "EXISTS (SELECT 1 FROM {table} {alias} WHERE {alias}.realm = {realm} AND {alias}.{owner} = {key} \
                     AND {alias}.name > {low} AND {alias}.name < {high} AND {inner})"
                ))
            }
        }
    }
}

/// The attribute table of a kind, its owner column and the owner's key in the query.
fn attribute_table(kind: Kind) -> (&'static str, &'static str, &'static str) {
    match kind {
        Kind::Users => ("user_attributes", "user_id", "u.id"),
        Kind::Groups => ("group_attributes", "group_id", "g.id"),
    }
}

/// The smallest string above every string that starts with `prefix` (for index range scans).
fn prefix_end(prefix: &str) -> String {
    format!("{prefix}\u{10FFFF}")
}

/// `value` as a `LIKE` pattern that matches it literally (`\` is PostgreSQL's escape).
fn like_escaped(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len() + 2);
    for c in value.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// A comparison on one text expression that may be NULL; `ne` holds when no value equals.
fn text_test(expr: &str, op: Comparator, value: String, sql: &mut Sql) -> String {
    match op {
        Comparator::Eq => format!("{expr} = {}", sql.bind(value)),
        Comparator::Ne => format!("({expr} IS NULL OR {expr} <> {})", sql.bind(value)),
        Comparator::Pr => format!("({expr} IS NOT NULL AND {expr} <> '')"),
        Comparator::Co if value.is_empty() => format!("{expr} IS NOT NULL"),
        Comparator::Co => match sql.dialect {
            Dialect::Sqlite => format!("instr({expr}, {}) > 0", sql.bind(value)),
            Dialect::Postgres => format!("{expr} LIKE {}", sql.bind(format!("%{}%", like_escaped(&value)))),
        },
        Comparator::Sw => {
            let end = prefix_end(&value);
            format!("({expr} >= {} AND {expr} < {})", sql.bind(value), sql.bind(end))
        }
        Comparator::Ew if value.is_empty() => format!("{expr} IS NOT NULL"),
        Comparator::Ew => match sql.dialect {
            Dialect::Sqlite => {
                let length = value.chars().count() as i64;
                format!("substr({expr}, {}) = {}", sql.bind(-length), sql.bind(value))
            }
            Dialect::Postgres => format!("{expr} LIKE {}", sql.bind(format!("%{}", like_escaped(&value)))),
        },
        Comparator::Gt => format!("{expr} > {}", sql.bind(value)),
        Comparator::Ge => format!("{expr} >= {}", sql.bind(value)),
        Comparator::Lt => format!("{expr} < {}", sql.bind(value)),
        Comparator::Le => format!("{expr} <= {}", sql.bind(value)),
    }
}

fn ordered_test(expr: &str, op: Comparator, value: Param, sql: &mut Sql) -> DirResult<String> {
    let symbol = match op {
        Comparator::Eq => "=",
        Comparator::Ne => "<>",
        Comparator::Gt => ">",
        Comparator::Ge => ">=",
        Comparator::Lt => "<",
        Comparator::Le => "<=",
        Comparator::Pr => return Ok("TRUE".into()),
        Comparator::Co | Comparator::Sw | Comparator::Ew => {
            return Err(DirectoryError::Invalid(format!("{op:?} does not apply to a date-time or boolean")));
        }
    };
    Ok(format!("{expr} {symbol} {}", sql.bind(value)))
}

fn condition(kind: Kind, c: &Condition, sql: &mut Sql, at: Option<&Item>) -> DirResult<String> {
    let folded = |v: &str| if c.case_exact { v.to_string() } else { v.to_lowercase() };
    match column(kind, &c.field) {
        Column::Text { exact, lower } => {
            let expr = if c.case_exact { exact } else { lower };
            Ok(text_test(expr, c.op, folded(&c.value), sql))
        }
        Column::Plain(expr) => {
            let expr = if c.case_exact { expr.to_string() } else { format!("lower({expr})") };
            Ok(text_test(&expr, c.op, folded(&c.value), sql))
        }
        Column::Millis(expr) => {
            if c.op == Comparator::Pr {
                return Ok("TRUE".into());
            }
            let millis = c
                .value
                .parse::<i64>()
                .map_err(|_| DirectoryError::Invalid(format!("\"{}\" is not a time in milliseconds", c.value)))?;
            ordered_test(expr, c.op, Param::Int(millis), sql)
        }
        Column::Flag(expr) => {
            if c.op == Comparator::Pr {
                return Ok("TRUE".into());
            }
            let flag = match c.value.to_ascii_lowercase().as_str() {
                "true" => true,
                "false" => false,
                other => return Err(DirectoryError::Invalid(format!("\"{other}\" is not true or false"))),
            };
            match c.op {
                Comparator::Eq | Comparator::Ne => ordered_test(expr, c.op, Param::Bool(flag), sql),
                op => Err(DirectoryError::Invalid(format!("{op:?} does not apply to a boolean"))),
            }
        }
        Column::Attribute(name) => {
            let (table, owner, key) = attribute_table(kind);
            // Inside a value filter, an attribute of the list is tested at the item's
            // position only.
            let position = match at {
                Some(item) if name.strip_prefix(item.list).is_some_and(|rest| rest.starts_with('.')) => {
                    format!(" AND position = {}", item.position)
                }
                _ => String::new(),
            };
            let realm = sql.realm();
            let name = sql.bind(name);
            let expr = if c.case_exact { "value" } else { "value_lower" };
            // `ne` holds when no value equals; every other comparison when one value does.
            let (membership, op) = match c.op {
                Comparator::Ne => ("NOT IN", Comparator::Eq),
                op => ("IN", op),
            };
            let mut test = text_test(expr, op, folded(&c.value), sql);
            if sql.dialect == Dialect::Postgres && op == Comparator::Eq && expr == "value_lower" {
                // PostgreSQL indexes a digest of the value, which any length fits.
                test = format!("{test} AND md5(value_lower) = md5({})", sql.bind(folded(&c.value)));
            }
            Ok(format!(
                "{key} {membership} (SELECT {owner} FROM {table} WHERE realm = {realm} AND name = {name}{position} AND {test})"
            ))
        }
        Column::Absent => Ok(if c.op == Comparator::Ne { "TRUE".into() } else { "FALSE".into() }),
    }
}

/// The ORDER BY terms of a search; ties fall back to the list place (insertion order).
/// Absent values sort first ascending and last descending, as SQLite sorts NULL by
/// default and PostgreSQL only when told.
pub fn order(kind: Kind, sort: Option<&SortKey>, sql: &mut Sql) -> String {
    let (table, owner, _) = attribute_table(kind);
    let alias = match kind {
        Kind::Users => "u",
        Kind::Groups => "g",
    };
    let tie = format!("{alias}.seq");
    let Some(sort) = sort else { return tie };
    let direction = if sort.descending { "DESC NULLS LAST" } else { "ASC NULLS FIRST" };
    let expr = match column(kind, &sort.field) {
        Column::Text { lower, .. } => lower.to_string(),
        Column::Plain(expr) | Column::Millis(expr) | Column::Flag(expr) => expr.to_string(),
        Column::Attribute(name) => format!(
            "(SELECT value_lower FROM {table} a WHERE a.realm = {} AND a.{owner} = {alias}.id AND a.name = {} ORDER BY a.position LIMIT 1)",
            sql.realm(),
            sql.bind(name)
        ),
        Column::Absent => return tie,
    };
    format!("{expr} {direction}, {tie}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(field: Field, op: Comparator, value: &str) -> FilterNode {
        FilterNode::Condition(Condition { field, op, value: value.into(), case_exact: false })
    }

    #[test]
    fn nodes_become_nested_sql_with_bound_values() {
        let nodes = vec![
            cond(Field::Username, Comparator::Eq, "Ann"),
            cond(Field::Attribute("emails.value".into()), Comparator::Co, "@X.org"),
            FilterNode::AnyOf(vec![0, 1]),
            FilterNode::Negate(2),
        ];
        let mut sql = Sql::new(Dialect::Sqlite, "demo");
        let text = filter(Kind::Users, &nodes, &mut sql).unwrap().unwrap();
        assert_eq!(
            text,
            "(NOT (u.username_lower = ?2 OR u.id IN (SELECT user_id FROM user_attributes WHERE realm = ?1 AND name = ?3 AND instr(value_lower, ?4) > 0)))"
        );
        assert_eq!(sql.params[1], Param::Text("ann".into()));
        assert_eq!(sql.params[3], Param::Text("@x.org".into()));
    }

    #[test]
    fn a_node_that_refers_forward_is_refused() {
        let nodes = vec![FilterNode::AllOf(vec![0])];
        assert!(matches!(
            filter(Kind::Users, &nodes, &mut Sql::new(Dialect::Sqlite, "r")),
            Err(DirectoryError::Invalid(_))
        ));
    }

    #[test]
    fn shared_subtrees_cannot_blow_up_the_statement() {
        let mut nodes = vec![cond(Field::Username, Comparator::Eq, "a")];
        for i in 0..40 {
            nodes.push(FilterNode::AllOf(vec![i, i]));
        }
        assert!(matches!(
            filter(Kind::Users, &nodes, &mut Sql::new(Dialect::Sqlite, "r")),
            Err(DirectoryError::Invalid(_))
        ));
    }

    #[test]
    fn fields_a_group_lacks_match_nothing_except_ne() {
        let mut sql = Sql::new(Dialect::Sqlite, "r");
        assert_eq!(
            filter(Kind::Groups, &[cond(Field::Username, Comparator::Eq, "a")], &mut sql).unwrap().unwrap(),
            "FALSE"
        );
        assert_eq!(
            filter(Kind::Groups, &[cond(Field::Username, Comparator::Ne, "a")], &mut sql).unwrap().unwrap(),
            "TRUE"
        );
    }
}
