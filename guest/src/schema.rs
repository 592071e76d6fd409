//! The SCIM schemas the handler serves (RFC 7643 §4, §8.7): one set of definitions that
//! both validates request bodies and is published at `/Schemas`. Validation turns a
//! client's JSON into canonical form: attribute names in their schema spelling, "True" and
//! "False" strings turned into booleans, read-only attributes dropped.

use crate::error::{ScimError, ScimResult};
use serde_json::{Map, Value, json};

/// The core User schema.
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// The enterprise User extension.
pub const ENTERPRISE_USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// The core Group schema.
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// A list's response message.
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// A PATCH request message.
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// An attribute's data type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Text.
    String,
    /// `true` or `false`.
    Boolean,
    /// A real number.
    Decimal,
    /// A whole number.
    Integer,
    /// An RFC 3339 time.
    DateTime,
    /// A URI of a resource.
    Reference,
    /// Base64 data.
    Binary,
    /// Sub-attributes.
    Complex,
}

/// Who may write an attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutability {
    /// Read and written by clients.
    ReadWrite,
    /// Set by the server only.
    ReadOnly,
    /// Written once, at creation.
    Immutable,
    /// Written by clients, never returned.
    WriteOnly,
}

/// When an attribute is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Returned {
    /// Returned unless excluded.
    Default,
    /// Always returned.
    Always,
    /// Never returned.
    Never,
    /// Returned only when asked for.
    Request,
}

/// One attribute definition.
#[derive(Clone, Copy, Debug)]
pub struct AttrDef {
    /// The attribute's name.
    pub name: &'static str,
    /// Its type.
    pub kind: Kind,
    /// Whether it holds a list of values.
    pub multi: bool,
    /// Whether a resource must have it.
    pub required: bool,
    /// Whether its values compare with regard to case.
    pub case_exact: bool,
    /// Who may change it.
    pub mutability: Mutability,
    /// When a response carries it.
    pub returned: Returned,
    /// Whether its values are unique (`server`) or not.
    pub unique: bool,
    /// Its sub-attributes (for `Complex`).
    pub sub: &'static [AttrDef],
    /// The values it suggests (`canonicalValues`).
    pub canonical: &'static [&'static str],
    /// What it may refer to (`referenceTypes`).
    pub reference_types: &'static [&'static str],
    /// What it is, for `/Schemas`.
    pub description: &'static str,
}

/// An attribute definition: single-valued, optional, read-write, returned by default.
/// Refine it with the builder methods (`.multi()`, `.required()`, `.complex(…)`).
pub const fn attr(name: &'static str, kind: Kind, description: &'static str) -> AttrDef {
    AttrDef {
        name,
        kind,
        multi: false,
        required: false,
        case_exact: false,
        mutability: Mutability::ReadWrite,
        returned: Returned::Default,
        unique: false,
        sub: &[],
        canonical: &[],
        reference_types: &[],
        description,
    }
}

/// A string attribute definition.
pub const fn string(name: &'static str, description: &'static str) -> AttrDef {
    attr(name, Kind::String, description)
}

impl AttrDef {
    /// Holds a list of values.
    pub const fn multi(mut self) -> Self {
        self.multi = true;
        self
    }
    /// Must be present.
    pub const fn required(mut self) -> Self {
        self.required = true;
        self
    }
    /// Compares with regard to case.
    pub const fn case_exact(mut self) -> Self {
        self.case_exact = true;
        self
    }
    /// Who may change it.
    pub const fn mutability(mut self, m: Mutability) -> Self {
        self.mutability = m;
        self
    }
    /// When a response carries it.
    pub const fn returned(mut self, r: Returned) -> Self {
        self.returned = r;
        self
    }
    /// Unique among resources of its type.
    pub const fn unique(mut self) -> Self {
        self.unique = true;
        self
    }
    /// Has these sub-attributes.
    pub const fn complex(mut self, sub: &'static [AttrDef]) -> Self {
        self.kind = Kind::Complex;
        self.sub = sub;
        self
    }
    /// Suggests these values.
    pub const fn canonical(mut self, values: &'static [&'static str]) -> Self {
        self.canonical = values;
        self
    }
    /// May refer to these resource types.
    pub const fn references(mut self, types: &'static [&'static str]) -> Self {
        self.reference_types = types;
        self
    }

    /// The sub-attribute of this name, without regard to case.
    pub fn sub_attr(&self, name: &str) -> Option<&'static AttrDef> {
        self.sub.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

/// A schema: its URN, name and attributes.
#[derive(Debug)]
pub struct Schema {
    /// Its URN.
    pub id: &'static str,
    /// Its name.
    pub name: &'static str,
    /// What it describes.
    pub description: &'static str,
    /// Its attributes.
    pub attributes: &'static [AttrDef],
}

impl Schema {
    /// The attribute of this name, without regard to case.
    pub fn attr(&self, name: &str) -> Option<&'static AttrDef> {
        self.attributes.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

/// The sub-attributes of a typed multi-valued attribute (emails, phoneNumbers, …).
const fn multi_valued(value_kind: Kind, types: &'static [&'static str]) -> [AttrDef; 4] {
    [
        attr("value", value_kind, "The attribute's value."),
        string("display", "A human-readable name, primarily used for display purposes."),
        string("type", "A label indicating the attribute's function.").canonical(types),
        attr("primary", Kind::Boolean, "Whether this value is the preferred one."),
    ]
}

const EMAIL_SUB: [AttrDef; 4] = multi_valued(Kind::String, &["work", "home", "other"]);
const PHONE_SUB: [AttrDef; 4] = multi_valued(Kind::String, &["work", "home", "mobile", "fax", "pager", "other"]);
const IMS_SUB: [AttrDef; 4] =
    multi_valued(Kind::String, &["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"]);
const PHOTO_SUB: [AttrDef; 4] = multi_valued(Kind::Reference, &["photo", "thumbnail"]);
const PLAIN_SUB: [AttrDef; 4] = multi_valued(Kind::String, &[]);
const CERT_SUB: [AttrDef; 4] = multi_valued(Kind::Binary, &[]);

const NAME_SUB: [AttrDef; 6] = [
    string("formatted", "The full name, formatted for display."),
    string("familyName", "The family name."),
    string("givenName", "The given name."),
    string("middleName", "The middle name(s)."),
    string("honorificPrefix", "The honorific prefix(es), e.g. 'Ms.'."),
    string("honorificSuffix", "The honorific suffix(es), e.g. 'III'."),
];

const ADDRESS_SUB: [AttrDef; 8] = [
    string("formatted", "The full mailing address, formatted for display."),
    string("streetAddress", "The full street address."),
    string("locality", "The city or locality."),
    string("region", "The state or region."),
    string("postalCode", "The zip or postal code."),
    string("country", "The country name (ISO 3166-1 alpha-2)."),
    string("type", "A label indicating the address's function.").canonical(&["work", "home", "other"]),
    attr("primary", Kind::Boolean, "Whether this is the preferred address."),
];

const GROUP_REF_SUB: [AttrDef; 4] = [
    string("value", "The identifier of the group.").mutability(Mutability::ReadOnly),
    attr("$ref", Kind::Reference, "The URI of the group.").references(&["Group"]).mutability(Mutability::ReadOnly),
    string("display", "The group's display name.").mutability(Mutability::ReadOnly),
    string("type", "How the membership was derived.")
        .canonical(&["direct", "indirect"])
        .mutability(Mutability::ReadOnly),
];

const ID: AttrDef = string("id", "The resource's unique identifier, issued by the service provider.")
    .case_exact()
    .mutability(Mutability::ReadOnly)
    .returned(Returned::Always)
    .unique();

const EXTERNAL_ID: AttrDef =
    string("externalId", "The identifier of the resource in the provisioning client.").case_exact();

const USER_ATTRIBUTES: [AttrDef; 23] = [
    ID,
    EXTERNAL_ID,
    string("userName", "The unique identifier by which the user signs in.").required().unique(),
    attr("name", Kind::Complex, "The components of the user's name.").complex(&NAME_SUB),
    string("displayName", "The name of the user, suitable for display."),
    string("nickName", "The casual way to address the user."),
    attr("profileUrl", Kind::Reference, "A URI of the user's online profile.").references(&["external"]),
    string("title", "The user's title, such as 'Vice President'."),
    string("userType", "The relationship between the organization and the user."),
    string("preferredLanguage", "The user's preferred written or spoken language."),
    string("locale", "The user's default location, for localizing."),
    string("timezone", "The user's time zone, in the IANA database format."),
    attr("active", Kind::Boolean, "Whether the user is active."),
    string("password", "The user's cleartext password; never returned.")
        .mutability(Mutability::WriteOnly)
        .returned(Returned::Never),
    attr("emails", Kind::Complex, "E-mail addresses for the user.").multi().complex(&EMAIL_SUB),
    attr("phoneNumbers", Kind::Complex, "Phone numbers for the user.").multi().complex(&PHONE_SUB),
    attr("ims", Kind::Complex, "Instant messaging addresses for the user.").multi().complex(&IMS_SUB),
    attr("photos", Kind::Complex, "URLs of photos of the user.").multi().complex(&PHOTO_SUB),
    attr("addresses", Kind::Complex, "Physical mailing addresses for the user.").multi().complex(&ADDRESS_SUB),
    attr("groups", Kind::Complex, "The groups the user belongs to.")
        .multi()
        .complex(&GROUP_REF_SUB)
        .mutability(Mutability::ReadOnly),
    attr("entitlements", Kind::Complex, "Entitlements of the user.").multi().complex(&PLAIN_SUB),
    attr("roles", Kind::Complex, "Roles of the user.").multi().complex(&PLAIN_SUB),
    attr("x509Certificates", Kind::Complex, "X.509 certificates of the user.").multi().complex(&CERT_SUB),
];

const MANAGER_SUB: [AttrDef; 3] = [
    string("value", "The id of the user's manager."),
    attr("$ref", Kind::Reference, "The URI of the manager.").references(&["User"]),
    string("displayName", "The manager's display name.").mutability(Mutability::ReadOnly),
];

const ENTERPRISE_ATTRIBUTES: [AttrDef; 6] = [
    string("employeeNumber", "A string identifier, typically numeric or alphanumeric."),
    string("costCenter", "The name of a cost center."),
    string("organization", "The name of an organization."),
    string("division", "The name of a division."),
    string("department", "The name of a department."),
    attr("manager", Kind::Complex, "The user's manager.").complex(&MANAGER_SUB),
];

const MEMBER_SUB: [AttrDef; 4] = [
    string("value", "The identifier of the member.").mutability(Mutability::Immutable),
    attr("$ref", Kind::Reference, "The URI of the member.").references(&["User"]).mutability(Mutability::Immutable),
    string("display", "The member's display name.").mutability(Mutability::ReadOnly),
    string("type", "The type of the member.").canonical(&["User"]).mutability(Mutability::Immutable),
];

const GROUP_ATTRIBUTES: [AttrDef; 4] = [
    ID,
    EXTERNAL_ID,
    string("displayName", "A human-readable name for the group.").required(),
    attr("members", Kind::Complex, "The members of the group.").multi().complex(&MEMBER_SUB),
];

/// The core User schema.
pub static USER: Schema =
    Schema { id: USER_SCHEMA, name: "User", description: "User Account", attributes: &USER_ATTRIBUTES };

/// The Enterprise User extension.
pub static ENTERPRISE_USER: Schema = Schema {
    id: ENTERPRISE_USER_SCHEMA,
    name: "EnterpriseUser",
    description: "Enterprise User",
    attributes: &ENTERPRISE_ATTRIBUTES,
};

/// The core Group schema.
pub static GROUP: Schema =
    Schema { id: GROUP_SCHEMA, name: "Group", description: "Group", attributes: &GROUP_ATTRIBUTES };

/// A resource type: its core schema and extensions.
pub struct ResourceType {
    /// Its name (`User`).
    pub name: &'static str,
    /// Its endpoint (`/Users`).
    pub endpoint: &'static str,
    /// Its core schema.
    pub schema: &'static Schema,
    /// Its extension schemas.
    pub extensions: &'static [&'static Schema],
}

/// The stock User resource type: the core schema with the Enterprise extension.
pub static USER_TYPE: ResourceType =
    ResourceType { name: "User", endpoint: "/Users", schema: &USER, extensions: &[&ENTERPRISE_USER] };

/// The stock Group resource type.
pub static GROUP_TYPE: ResourceType =
    ResourceType { name: "Group", endpoint: "/Groups", schema: &GROUP, extensions: &[] };

impl ResourceType {
    /// The extension schema with this URN, without regard to case.
    pub fn extension(&self, urn: &str) -> Option<&'static Schema> {
        self.extensions.iter().copied().find(|s| s.id.eq_ignore_ascii_case(urn))
    }

    /// Validates a full resource body (POST, PUT, or the result of a PATCH) and returns
    /// it in canonical form. Read-only attributes are dropped; `schemas` is checked.
    pub fn canonicalize(&self, body: &Value, require_schemas: bool) -> ScimResult<Map<String, Value>> {
        let resource = self.canonical_form(body, require_schemas)?;
        self.check_required(&resource)?;
        Ok(resource)
    }

    /// Checks that a canonical resource has every required attribute.
    pub fn check_required(&self, resource: &Map<String, Value>) -> ScimResult<()> {
        for def in self.schema.attributes {
            if def.required && def.mutability != Mutability::ReadOnly && !resource.contains_key(def.name) {
                return Err(ScimError::invalid_value(format!("attribute '{}' is required", def.name)));
            }
        }
        Ok(())
    }

    /// [`ResourceType::canonicalize`] without the check of required attributes.
    pub fn canonical_form(&self, body: &Value, require_schemas: bool) -> ScimResult<Map<String, Value>> {
        let Some(object) = body.as_object() else {
            return Err(ScimError::body_not_object());
        };
        match object.iter().find(|(k, _)| k.eq_ignore_ascii_case("schemas")).map(|(_, v)| v) {
            None if require_schemas => {
                return Err(ScimError::invalid_syntax(format!(
                    "attribute 'schemas' is required; expected [\"{}\"]",
                    self.schema.id
                )));
            }
            None => {}
            Some(Value::Array(urns)) => {
                let mut has_core = false;
                for urn in urns {
                    let Some(urn) = urn.as_str() else {
                        return Err(ScimError::invalid_syntax("'schemas' must be an array of strings"));
                    };
                    if urn.eq_ignore_ascii_case(self.schema.id) {
                        has_core = true;
                    } else if self.extension(urn).is_none() {
                        return Err(ScimError::invalid_value(format!(
                            "schemas: unknown schema \"{urn}\" for a {}; expected \"{}\"",
                            self.name, self.schema.id
                        )));
                    }
                }
                if !has_core && require_schemas {
                    return Err(ScimError::invalid_value(format!("schemas: must contain \"{}\"", self.schema.id)));
                }
            }
            Some(_) => return Err(ScimError::invalid_syntax("'schemas' must be an array of strings")),
        }
        let mut out = Map::new();
        for (key, value) in object {
            if key.eq_ignore_ascii_case("schemas") || key.eq_ignore_ascii_case("meta") {
                continue;
            }
            if let Some(extension) = self.extension(key) {
                if value.is_null() {
                    continue;
                }
                let Some(ext_object) = value.as_object() else {
                    return Err(ScimError::invalid_syntax(format!("'{key}' must be a JSON object")));
                };
                let mut ext_out = Map::new();
                for (k, v) in ext_object {
                    if let Some(def) = extension.attr(k)
                        && let Some(v) = canonical_value(def, v, &|| format!("{}:{}", extension.id, def.name))?
                    {
                        ext_out.insert(def.name.to_string(), v);
                    }
                }
                if !ext_out.is_empty() {
                    out.insert(extension.id.to_string(), Value::Object(ext_out));
                }
                continue;
            }
            if key.starts_with("urn:") {
                return Err(ScimError::invalid_value(format!(
                    "unknown schema extension \"{key}\" for a {}",
                    self.name
                )));
            }
            let Some(def) = self.schema.attr(key) else { continue };
            if def.mutability == Mutability::ReadOnly {
                continue;
            }
            if let Some(v) = canonical_value(def, value, &|| def.name.to_string())? {
                out.insert(def.name.to_string(), v);
            }
        }
        Ok(out)
    }
}

/// Checks one value against its definition; `None` means "absent" (null or empty).
/// `path` names the attribute for an error message; it is written out only then (a group
/// of a thousand members has thousands of sub-attributes).
pub fn canonical_value(def: &AttrDef, value: &Value, path: &dyn Fn() -> String) -> ScimResult<Option<Value>> {
    if value.is_null() {
        return Ok(None);
    }
    if def.multi {
        let items: Vec<&Value> = match value {
            Value::Array(items) => items.iter().collect(),
            // A lone value where a list is expected: accept it as a list of one.
            single => vec![single],
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            if let Some(v) = canonical_single(def, item, path)? {
                out.push(v);
            }
        }
        at_most_one_primary(out.iter().filter(|v| v.get("primary") == Some(&Value::Bool(true))).count(), path)?;
        return Ok(if out.is_empty() { None } else { Some(Value::Array(out)) });
    }
    if value.is_array() {
        return Err(ScimError::invalid_value(format!("attribute '{}' is single-valued; got a list", path())));
    }
    canonical_single(def, value, path)
}

/// RFC 7643 §2.4: "primary" is true for at most one value of a multi-valued attribute.
pub fn at_most_one_primary(primaries: usize, path: &dyn Fn() -> String) -> ScimResult<()> {
    if primaries > 1 {
        return Err(ScimError::invalid_value(format!(
            "attribute '{}': {primaries} values are marked primary; at most one may be",
            path()
        )));
    }
    Ok(())
}

/// Checks one value of an attribute (one element of a multi-valued one).
pub fn canonical_single(def: &AttrDef, value: &Value, path: &dyn Fn() -> String) -> ScimResult<Option<Value>> {
    let wrong =
        |expected: &str| ScimError::invalid_value(format!("attribute '{}' must be {expected}; got {value}", path()));
    Ok(Some(match def.kind {
        Kind::Complex => {
            let Some(object) = value.as_object() else { return Err(wrong("an object")) };
            let mut out = Map::new();
            for (k, v) in object {
                if let Some(sub) = def.sub_attr(k)
                    && let Some(v) = canonical_value(sub, v, &|| format!("{}.{}", path(), sub.name))?
                {
                    out.insert(sub.name.to_string(), v);
                }
            }
            if out.is_empty() {
                return Ok(None);
            }
            Value::Object(out)
        }
        Kind::Boolean => match value {
            Value::Bool(b) => Value::Bool(*b),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Value::Bool(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Value::Bool(false),
            _ => return Err(wrong("a boolean (true or false)")),
        },
        Kind::Integer => match value {
            Value::Number(n) if n.is_i64() || n.is_u64() => value.clone(),
            _ => return Err(wrong("an integer")),
        },
        Kind::Decimal => match value {
            Value::Number(_) => value.clone(),
            _ => return Err(wrong("a number")),
        },
        Kind::DateTime => match value {
            Value::String(s) if crate::time::parse_datetime(s).is_some() => value.clone(),
            _ => return Err(wrong("a date-time (RFC 3339)")),
        },
        Kind::String | Kind::Reference | Kind::Binary => match value {
            Value::String(s) if s.is_empty() => return Ok(None),
            Value::String(_) => value.clone(),
            _ => return Err(wrong("a string")),
        },
    }))
}

fn mutability_name(m: Mutability) -> &'static str {
    match m {
        Mutability::ReadWrite => "readWrite",
        Mutability::ReadOnly => "readOnly",
        Mutability::Immutable => "immutable",
        Mutability::WriteOnly => "writeOnly",
    }
}

fn returned_name(r: Returned) -> &'static str {
    match r {
        Returned::Default => "default",
        Returned::Always => "always",
        Returned::Never => "never",
        Returned::Request => "request",
    }
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::String => "string",
        Kind::Boolean => "boolean",
        Kind::Decimal => "decimal",
        Kind::Integer => "integer",
        Kind::DateTime => "dateTime",
        Kind::Reference => "reference",
        Kind::Binary => "binary",
        Kind::Complex => "complex",
    }
}

fn attr_json(def: &AttrDef) -> Value {
    let mut out = json!({
        "name": def.name,
        "type": kind_name(def.kind),
        "multiValued": def.multi,
        "description": def.description,
        "required": def.required,
        "mutability": mutability_name(def.mutability),
        "returned": returned_name(def.returned),
    });
    if def.kind != Kind::Complex {
        out["caseExact"] = json!(def.case_exact);
        out["uniqueness"] = json!(if def.unique { "server" } else { "none" });
    }
    if !def.canonical.is_empty() {
        out["canonicalValues"] = json!(def.canonical);
    }
    if !def.reference_types.is_empty() {
        out["referenceTypes"] = json!(def.reference_types);
    }
    if def.kind == Kind::Complex {
        out["subAttributes"] = Value::Array(def.sub.iter().map(attr_json).collect());
    }
    out
}

/// A schema as `/Schemas` publishes it.
pub fn schema_json(schema: &Schema, base_url: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": schema.id,
        "name": schema.name,
        "description": schema.description,
        "attributes": schema.attributes.iter().map(attr_json).collect::<Vec<_>>(),
        "meta": {"resourceType": "Schema", "location": format!("{base_url}/Schemas/{}", schema.id)},
    })
}

/// A resource type as `/ResourceTypes` publishes it.
pub fn resource_type_json(rt: &ResourceType, base_url: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": rt.name,
        "name": rt.name,
        "endpoint": rt.endpoint,
        "description": rt.schema.description,
        "schema": rt.schema.id,
        "schemaExtensions": rt.extensions.iter().map(|s| json!({"schema": s.id, "required": false})).collect::<Vec<_>>(),
        "meta": {"resourceType": "ResourceType", "location": format!("{base_url}/ResourceTypes/{}", rt.name)},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form_fixes_names_and_string_booleans() {
        let body = json!({
            "schemas": [USER_SCHEMA],
            "USERNAME": "bjensen",
            "Active": "False",
            "emails": [{"Value": "b@example.com", "primary": "True"}],
            "id": "ignored", "meta": {"version": "x"}, "groups": [{"value": "g"}],
            "unknownThing": 3,
        });
        let out = USER_TYPE.canonicalize(&body, true).unwrap();
        assert_eq!(out["userName"], "bjensen");
        assert_eq!(out["active"], false);
        assert_eq!(out["emails"][0]["primary"], true);
        assert!(!out.contains_key("id") && !out.contains_key("groups") && !out.contains_key("unknownThing"));
    }

    #[test]
    fn wrong_types_and_missing_requirements_are_invalid_value() {
        let user = &USER_TYPE;
        let e = user
            .canonicalize(&json!({"schemas": [USER_SCHEMA], "userName": "x", "active": "maybe"}), true)
            .unwrap_err();
        assert!(e.detail.contains("'active'") && e.detail.contains("maybe"), "{}", e.detail);
        let e = user.canonicalize(&json!({"schemas": [USER_SCHEMA]}), true).unwrap_err();
        assert!(e.detail.contains("userName"));
        let e = user.canonicalize(&json!({"userName": "x"}), true).unwrap_err();
        assert!(e.detail.contains("schemas"));
        let e = user.canonicalize(&json!({"schemas": ["urn:bogus"], "userName": "x"}), true).unwrap_err();
        assert!(e.detail.contains("urn:bogus"));
    }
}
