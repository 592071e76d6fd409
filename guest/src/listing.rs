//! Listing: SCIM query parameters (filter, sortBy, startIndex, count) turned into one
//! store query, and the ListResponse around the page the store returns. The store
//! filters, sorts and pages; the handler never sees more rows than it returns.

use crate::directory::{Comparator, Condition, Field, FilterNode, Query, SortKey};
use crate::error::{ScimError, ScimResult, ScimType};
use crate::filter::{self, AttrPath, CompValue, Filter};
use crate::http::{Request, Response};
use crate::schema::LIST_RESPONSE;

/// The largest page served, whatever `count` asks (advertised in ServiceProviderConfig).
pub const MAX_PAGE: u32 = 1000;
/// The page size when `count` is absent.
pub const DEFAULT_PAGE: u32 = 100;

/// Maps a filter attribute to a stored field and whether it compares with case.
pub type FieldMap<'a> = &'a dyn Fn(&AttrPath) -> Option<(Field, bool)>;

/// Paging parameters as the client sent them, clamped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Paging {
    /// 1-based index of the first result.
    pub start_index: u32,
    /// The most results to return.
    pub count: u32,
}

impl Paging {
    /// Reads `startIndex` (1-based; anything below 1 is 1) and `count` (0 allowed; capped).
    pub fn from_request(request: &Request) -> ScimResult<Paging> {
        let number = |name: &str| -> ScimResult<Option<i64>> {
            match request.query_param(name) {
                None => Ok(None),
                Some(v) if v.trim().is_empty() => Ok(None),
                Some(v) => v
                    .trim()
                    .parse::<i64>()
                    .map(Some)
                    .map_err(|_| ScimError::invalid_value(format!("{name}: \"{v}\" is not an integer"))),
            }
        };
        let start_index = number("startIndex")?.unwrap_or(1).clamp(1, u32::MAX as i64) as u32;
        let count = number("count")?.unwrap_or(DEFAULT_PAGE as i64).clamp(0, MAX_PAGE as i64) as u32;
        Ok(Paging { start_index, count })
    }
}

/// Builds the store query for a list request.
pub fn build_query(request: &Request, fields: FieldMap, organization: Option<String>) -> ScimResult<Query> {
    let paging = Paging::from_request(request)?;
    let mut nodes = Vec::new();
    if let Some(text) = request.query_param("filter").filter(|f| !f.trim().is_empty()) {
        let parsed = filter::parse(text)?;
        flatten(&parsed, fields, &mut nodes)?;
    }
    let sort = match request.query_param("sortBy").filter(|s| !s.trim().is_empty()) {
        None => None,
        Some(by) => {
            let path = AttrPath::parse(by.trim()).map_err(|e| ScimError::invalid_value(format!("sortBy: {e}")))?;
            let (field, _) =
                fields(&path).ok_or_else(|| ScimError::invalid_value(format!("sortBy: cannot sort by \"{by}\"")))?;
            let descending = match request.query_param("sortOrder").map(str::to_ascii_lowercase).as_deref() {
                None | Some("") | Some("ascending") => false,
                Some("descending") => true,
                Some(other) => {
                    return Err(ScimError::invalid_value(format!(
                        "sortOrder: \"{other}\"; expected ascending or descending"
                    )));
                }
            };
            Some(SortKey { field, descending })
        }
    };
    Ok(Query { filter: nodes, organization, sort, offset: paging.start_index - 1, limit: paging.count })
}

/// Flattens a filter tree into store nodes, children first; returns the root's index.
fn flatten(filter: &Filter, fields: FieldMap, nodes: &mut Vec<FilterNode>) -> ScimResult<u32> {
    let node = match filter {
        Filter::And(..) | Filter::Or(..) => {
            let all = matches!(filter, Filter::And(..));
            let children =
                operands(filter, all).into_iter().map(|f| flatten(f, fields, nodes)).collect::<ScimResult<Vec<_>>>()?;
            if all { FilterNode::AllOf(children) } else { FilterNode::AnyOf(children) }
        }
        Filter::Not(inner) => FilterNode::Negate(flatten(inner, fields, nodes)?),
        Filter::Present(path) => {
            let (field, case_exact) = field_of(path, fields)?;
            FilterNode::Condition(Condition { field, op: Comparator::Pr, value: String::new(), case_exact })
        }
        Filter::Compare { path, op, value } => {
            let (field, case_exact) = field_of(path, fields)?;
            FilterNode::Condition(Condition { value: stored_value(&field, path, value)?, field, op: *op, case_exact })
        }
        Filter::ValuePath { attr, filter } => {
            // `emails[type eq "work" and value co "@x"]`: the inner filter on `emails.type`
            // and `emails.value`, which one and the same e-mail must satisfy.
            let inner = reparent(filter, attr)?;
            let first = nodes.len();
            let root = flatten(&inner, fields, nodes)?;
            match list_of(&nodes[first..]) {
                Some(list) => FilterNode::SomeValue { attribute: list, node: root },
                // A single-valued complex attribute stored in fields of its own
                // (`name[givenName eq "x"]`): the conditions alone say it.
                None => return Ok(root),
            }
        }
    };
    nodes.push(node);
    Ok((nodes.len() - 1) as u32)
}

/// The operands of a chain of `and`s (`all`) or of `or`s, in order: `a and b and c` is
/// one node of three children, not two nested ones, so that a long chain stays shallow
/// (the store refuses filters nested deeper than it can walk).
fn operands(filter: &Filter, all: bool) -> Vec<&Filter> {
    let mut found = Vec::new();
    let mut pending = vec![filter];
    while let Some(next) = pending.pop() {
        match (next, all) {
            (Filter::And(a, b), true) | (Filter::Or(a, b), false) => pending.extend([b.as_ref(), a.as_ref()]),
            _ => found.push(next),
        }
    }
    found
}

/// The list whose items the conditions of a value filter test, when they all name
/// attributes of one list (`emails.type`, `emails.value` → `emails`).
fn list_of(nodes: &[FilterNode]) -> Option<String> {
    let mut list: Option<&str> = None;
    for node in nodes {
        if let FilterNode::Condition(c) = node {
            let Field::Attribute(name) = &c.field else { return None };
            let (prefix, _) = name.rsplit_once('.')?;
            if *list.get_or_insert(prefix) != prefix {
                return None;
            }
        }
    }
    list.map(str::to_string)
}

fn reparent(filter: &Filter, parent: &AttrPath) -> ScimResult<Filter> {
    let path = |p: &AttrPath| -> ScimResult<AttrPath> {
        if p.sub.is_some() || p.urn.is_some() {
            return Err(ScimError::bad_request(
                ScimType::InvalidFilter,
                format!("filter: '{p}' inside '{parent}[...]'"),
            ));
        }
        Ok(AttrPath { urn: parent.urn.clone(), name: parent.name.clone(), sub: Some(p.name.clone()) })
    };
    Ok(match filter {
        Filter::And(a, b) => Filter::And(Box::new(reparent(a, parent)?), Box::new(reparent(b, parent)?)),
        Filter::Or(a, b) => Filter::Or(Box::new(reparent(a, parent)?), Box::new(reparent(b, parent)?)),
        Filter::Not(a) => Filter::Not(Box::new(reparent(a, parent)?)),
        Filter::Present(p) => Filter::Present(path(p)?),
        Filter::Compare { path: p, op, value } => Filter::Compare { path: path(p)?, op: *op, value: value.clone() },
        Filter::ValuePath { .. } => {
            return Err(ScimError::bad_request(ScimType::InvalidFilter, "filter: nested value filters".to_string()));
        }
    })
}

fn field_of(path: &AttrPath, fields: FieldMap) -> ScimResult<(Field, bool)> {
    fields(path).ok_or_else(|| {
        ScimError::bad_request(ScimType::InvalidFilter, format!("filter: attribute '{path}' cannot be filtered on"))
    })
}

/// A comparison value in the text form the store compares.
fn stored_value(field: &Field, path: &AttrPath, value: &CompValue) -> ScimResult<String> {
    let wrong = |expected: &str| {
        ScimError::bad_request(
            ScimType::InvalidFilter,
            format!("filter: '{path}' compares with {expected}; got {value}"),
        )
    };
    match field {
        Field::Enabled => match value {
            CompValue::Bool(b) => Ok(b.to_string()),
            CompValue::Str(s) if s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false") => {
                Ok(s.to_ascii_lowercase())
            }
            _ => Err(wrong("true or false")),
        },
        Field::CreatedAt | Field::UpdatedAt => match value {
            CompValue::Str(s) => {
                crate::time::parse_datetime(s).map(|ms| ms.to_string()).ok_or_else(|| wrong("a date-time"))
            }
            _ => Err(wrong("a date-time")),
        },
        _ => match value {
            CompValue::Str(s) => Ok(s.clone()),
            CompValue::Num(n) => Ok(n.to_string()),
            CompValue::Bool(b) => Ok(b.to_string()),
            CompValue::Null => Err(wrong("a value (use 'pr' to test presence)")),
        },
    }
}

/// A ListResponse around one page of resources, each given as its JSON text: the page is
/// spliced in, not parsed and serialized again.
pub fn list_response(total: u32, start_index: u32, resources: &[String]) -> Response {
    let mut body = String::with_capacity(resources.iter().map(|r| r.len() + 1).sum::<usize>() + 160);
    body.push_str("{\"Resources\":[");
    for (i, resource) in resources.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(resource);
    }
    // The members in the order a serialized `serde_json::Map` has them.
    for piece in [
        "],\"itemsPerPage\":",
        &resources.len().to_string(),
        ",\"schemas\":[\"",
        LIST_RESPONSE,
        "\"],\"startIndex\":",
        &start_index.to_string(),
        ",\"totalResults\":",
        &total.to_string(),
        "}",
    ] {
        body.push_str(piece);
    }
    Response::json_text(200, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(path: &AttrPath) -> Option<(Field, bool)> {
        match path.dotted().as_str() {
            "userName" => Some((Field::Username, false)),
            "emails.value" => Some((Field::Attribute("emails.value".into()), false)),
            "active" => Some((Field::Enabled, false)),
            _ => None,
        }
    }

    fn request(query: &[(&str, &str)]) -> Request {
        Request { query: query.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), ..Request::default() }
    }

    #[test]
    fn start_index_is_one_based_and_count_is_capped() {
        let q = build_query(&request(&[("startIndex", "0"), ("count", "5000")]), &fields, None).unwrap();
        assert_eq!((q.offset, q.limit), (0, MAX_PAGE));
        let q = build_query(&request(&[("startIndex", "101"), ("count", "100")]), &fields, None).unwrap();
        assert_eq!((q.offset, q.limit), (100, 100));
        assert!(build_query(&request(&[("count", "ten")]), &fields, None).is_err());
    }

    #[test]
    fn filters_flatten_children_first_with_the_root_last() {
        let q = build_query(
            &request(&[("filter", r#"userName eq "a" and (active eq "True" or emails[value co "@x"])"#)]),
            &fields,
            None,
        )
        .unwrap();
        assert_eq!(q.filter.len(), 6);
        assert_eq!(q.filter[5], FilterNode::AllOf(vec![0, 4]));
        assert_eq!(q.filter[4], FilterNode::AnyOf(vec![1, 3]));
        assert!(matches!(&q.filter[1], FilterNode::Condition(c) if c.value == "true"));
        assert!(matches!(&q.filter[2], FilterNode::Condition(c) if c.field == Field::Attribute("emails.value".into())));
        assert_eq!(q.filter[3], FilterNode::SomeValue { attribute: "emails".into(), node: 2 });
    }

    #[test]
    fn a_chain_of_ands_is_one_node_however_long() {
        let long = crate::filter::MAX_COMPARISONS - 1;
        let chain = vec![r#"userName eq "a""#; long].join(" and ");
        let q = build_query(&request(&[("filter", &format!("{chain} or active eq true"))]), &fields, None).unwrap();
        let children = |node: &FilterNode| match node {
            FilterNode::AllOf(c) | FilterNode::AnyOf(c) => c.len(),
            _ => 0,
        };
        let root = q.filter.last().unwrap();
        assert!(matches!(root, FilterNode::AnyOf(_)) && children(root) == 2, "{root:?}");
        let chain = q.filter.iter().find(|n| matches!(n, FilterNode::AllOf(_))).unwrap();
        assert_eq!(children(chain), long);
        assert_eq!(q.filter.len(), long + 3);
    }

    #[test]
    fn unknown_attributes_are_invalid_filter() {
        let e = build_query(&request(&[("filter", r#"shoeSize gt 40"#)]), &fields, None).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidFilter));
        assert!(e.detail.contains("shoeSize"));
    }
}
