//! `extensiongroup/*`, `organization/*` and `system/get_menuoptions` request and response shapes
//! (yeastar-openapi-messaging.md §3.8.3-§3.8.5). Yeastar documents the reads; the writes
//! (`create`, `update`, `delete`) are ours in the same conventions (decisions.md "Scope and
//! shape"), with Yeastar's own field names where its pages show them.

use serde_json::{Value, json};

use crate::directory::{Extension, MessageQueue};
use crate::groups::{ExtensionGroup, MemberSelect, NAME_MAX, OrgTree, Organization};
use crate::ids::{ExtensionId, OrganizationId, QueueId};
use crate::openapi::{ApiError, Fields, overlay_update};

/// A validated `extensiongroup/create` (or update, filled from the stored group).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDraft {
    /// Name (trimmed).
    pub name: String,
    /// Members (extensions not yet checked).
    pub member_select: MemberSelect,
}

/// A validated `organization/create` (or update, filled from the stored organization).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationDraft {
    /// Name (trimmed).
    pub name: String,
    /// Parent (`parent_id` 0 or left out: top-level); existence not yet checked.
    pub parent_id: Option<OrganizationId>,
    /// Position among siblings.
    pub order: u32,
    /// Extensions placed directly in it (existence not yet checked).
    pub extensions: Vec<ExtensionId>,
}

/// Largest `order`.
const ORDER_MAX: i64 = 65_535;

fn name(f: &mut Fields<'_>) -> Option<String> {
    let name = f.string("name").map(|n| n.trim().to_owned());
    match &name {
        Some(n) if n.is_empty() => {
            f.error("name", "required", "must not be empty");
            None
        }
        Some(n) if n.chars().count() > NAME_MAX => {
            f.error("name", "length", format!("must not exceed {NAME_MAX} characters"));
            None
        }
        _ => name,
    }
}

fn positive_extension(value: Option<i64>) -> Option<ExtensionId> {
    value.and_then(|v| u64::try_from(v).ok()).and_then(|v| ExtensionId::new(v).ok())
}

/// `members`: `[{"ext_id": 12}]` (Yeastar's Member_info; `extension_id` is accepted too, as in
/// `message_queue/*`), no repeats.
fn group_members(f: &mut Fields<'_>) -> Vec<ExtensionId> {
    let mut members = Vec::new();
    let Some(items) = f.array("members") else { return members };
    for (i, item) in items.iter().enumerate() {
        let mut m = Fields::nested(item, format!("members[{i}]"));
        let key = if item.get("ext_id").is_some() { "ext_id" } else { "extension_id" };
        let raw = m.integer(key);
        match positive_extension(raw) {
            Some(ext) if members.contains(&ext) => {
                m.error(key, "duplicate", format!("extension {ext} is listed twice"))
            }
            Some(ext) => members.push(ext),
            None if raw.is_some() => m.error(key, "format", "must be a positive integer extension id"),
            None => {}
        }
        f.errors.append(&mut m.errors);
    }
    members
}

/// Parses and validates `extensiongroup/create`: `name`, `member_select` (`sel_all_ext` /
/// `sel_specific`) and, for `sel_specific`, `members` (ignored for `sel_all_ext`).
pub fn parse_group_create(body: &Value) -> Result<GroupDraft, ApiError> {
    let mut f = Fields::new(body);
    let name = name(&mut f);
    let select = f.string("member_select");
    let member_select = match select.as_deref() {
        Some("sel_all_ext") => Some(MemberSelect::AllExtensions),
        Some("sel_specific") => Some(MemberSelect::Specific(group_members(&mut f))),
        Some(_) => {
            f.error("member_select", "enum", "must be 'sel_all_ext' or 'sel_specific'");
            None
        }
        None => None,
    };
    f.finish()?;
    match (name, member_select) {
        (Some(name), Some(member_select)) => Ok(GroupDraft { name, member_select }),
        _ => Err(ApiError::field("name", "required", "is required")),
    }
}

/// Parses our `extensiongroup/update`: `id` plus any field of create; left-out fields keep their
/// values, `members` replaces the list (as Yeastar's queue update: "all original entries you wish
/// to retain must be submitted").
pub fn parse_group_update(body: &Value, before: &ExtensionGroup) -> Result<GroupDraft, ApiError> {
    let stored = json!({
        "name": before.name,
        "member_select": before.member_select.as_str(),
        "members": before.member_select.listed().iter().map(|e| json!({"ext_id": e})).collect::<Vec<_>>(),
    });
    parse_group_create(&overlay_update(stored, body))
}

/// Parses and validates `organization/create`: `name`, `parent_id` (0 or left out: top-level),
/// `order` (0 to 65535, default 0) and `ext_list` (extension ids placed directly in it).
pub fn parse_organization_create(body: &Value) -> Result<OrganizationDraft, ApiError> {
    let mut f = Fields::new(body);
    let name = name(&mut f);
    let parent_id = match f.opt_integer("parent_id") {
        None | Some(0) => None,
        Some(p) => match u64::try_from(p).ok().and_then(|v| OrganizationId::new(v).ok()) {
            Some(id) => Some(id),
            None => {
                f.error("parent_id", "format", "must be an organization id, or 0 for a top-level organization");
                None
            }
        },
    };
    let order = f.opt_integer_in("order", 0, ORDER_MAX).and_then(|o| u32::try_from(o).ok()).unwrap_or(0);
    let mut extensions = Vec::new();
    if let Some(items) = f.opt_array("ext_list") {
        for (i, item) in items.iter().enumerate() {
            let field = format!("ext_list[{i}]");
            let id = match item {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.trim().parse::<i64>().ok(),
                _ => None,
            };
            match positive_extension(id) {
                Some(ext) if extensions.contains(&ext) => {
                    f.error(&field, "duplicate", format!("extension {ext} is listed twice"))
                }
                Some(ext) => extensions.push(ext),
                None => f.error(&field, "format", "must be a positive integer extension id"),
            }
        }
    }
    f.finish()?;
    let name = name.ok_or_else(|| ApiError::field("name", "required", "is required"))?;
    Ok(OrganizationDraft { name, parent_id, order, extensions })
}

/// Parses our `organization/update`: `id` plus any field of create; left-out fields keep their
/// values, `ext_list` replaces the list.
pub fn parse_organization_update(body: &Value, before: &Organization) -> Result<OrganizationDraft, ApiError> {
    let stored = json!({
        "name": before.name,
        "parent_id": before.parent_id.map_or(0, |p| p.get()),
        "order": before.order,
        "ext_list": before.extensions,
    });
    parse_organization_create(&overlay_update(stored, body))
}

/// `extensiongroup/list` item (Yeastar ExtGroup_info).
pub fn group_json(g: &ExtensionGroup, extensions_in_system: usize) -> Value {
    json!({
        "id": g.id,
        "name": g.name,
        "member_select": g.member_select.as_str(),
        "total_extensions": g.total_extensions(extensions_in_system),
    })
}

/// One member in the shape of `extensiongroup/get` (Yeastar Member_info; `extension_id` too, as
/// `message_queue/get` shows agents).
fn member_json(id: ExtensionId, ext: Option<&Extension>) -> Value {
    json!({
        "ext_id": id,
        "extension_id": id,
        "ext_num": ext.map(|e| e.number.as_str()).unwrap_or_default(),
        "caller_id_name": ext.map(|e| e.caller_id_name.as_str()).unwrap_or_default(),
    })
}

/// `extensiongroup/get` `data`: the list item plus `members` — every extension of the system for
/// `sel_all_ext`, else the listed ones in their order. `extensions` is every extension.
pub fn group_detail_json(g: &ExtensionGroup, extensions: &[Extension]) -> Value {
    let members: Vec<Value> = match &g.member_select {
        MemberSelect::AllExtensions => extensions.iter().map(|e| member_json(e.id, Some(e))).collect(),
        MemberSelect::Specific(list) => {
            list.iter().map(|id| member_json(*id, extensions.iter().find(|e| e.id == *id))).collect()
        }
    };
    let mut v = group_json(g, extensions.len());
    v["members"] = Value::Array(members);
    v
}

/// How much `organization/list` shows (Yeastar `is_all`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrgDetail {
    /// `0` (default): organization info and extension counts.
    Counts,
    /// `1`: also the extension id list.
    Full,
    /// `2`: organization info only.
    InfoOnly,
}

impl OrgDetail {
    /// From `is_all`.
    pub fn from_is_all(v: i64) -> Option<Self> {
        match v {
            0 => Some(Self::Counts),
            1 => Some(Self::Full),
            2 => Some(Self::InfoOnly),
            _ => None,
        }
    }
}

/// `organization/get` `organization_info`: Yeastar's `id`, `name`, `parent_id` (0 at the top),
/// `order`; plus our `ext_list` (the extensions placed directly in it).
pub fn organization_info_json(o: &Organization) -> Value {
    json!({
        "id": o.id,
        "name": o.name,
        "parent_id": o.parent_id.map_or(0, |p| p.get()),
        "order": o.order,
        "ext_list": o.extensions,
    })
}

/// One node of `organization/list` with its `children`, recursively. `ext_number` counts the
/// extensions placed directly in it (the ones `ext_list` shows); `by_id` sorts children by id
/// (`sort_by=id`) instead of `order`; `desc` reverses.
pub fn organization_node_json(tree: &OrgTree, o: &Organization, detail: OrgDetail, by_id: bool, desc: bool) -> Value {
    let mut node = json!({
        "id": o.id,
        "name": o.name,
        "parent_id": o.parent_id.filter(|p| tree.get(*p).is_some()).map_or(0, |p| p.get()),
        "order": o.order,
    });
    if detail != OrgDetail::InfoOnly {
        node["ext_number"] = json!(o.extensions.len());
    }
    if detail == OrgDetail::Full {
        node["ext_list"] = json!(o.extensions);
    }
    let children: Vec<Value> = sorted(tree.children(Some(o.id)), by_id, desc)
        .into_iter()
        .map(|c| organization_node_json(tree, c, detail, by_id, desc))
        .collect();
    node["children"] = Value::Array(children);
    node
}

/// Siblings in the order asked for: by `order` then id (default), or by id; reversed for `desc`.
pub fn sorted(mut list: Vec<&Organization>, by_id: bool, desc: bool) -> Vec<&Organization> {
    if by_id {
        list.sort_by_key(|o| o.id);
    }
    if desc {
        list.reverse();
    }
    list
}

/// `extension/get`'s `organization_list` (Yeastar Organization_Info): the organizations the
/// extension is placed in directly.
pub fn extension_organizations_json(tree: &OrgTree, ext: ExtensionId) -> Value {
    tree.of_extension(ext).into_iter().map(|o| json!({"id": o.id, "name": o.name})).collect()
}

/// The menus of `system/get_menuoptions` this version answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Menu {
    /// `extension`.
    Extension,
    /// `ext_group`.
    ExtGroup,
    /// `org_list`.
    OrgList,
    /// `queue` (message queues).
    Queue,
    /// `queue_agent` with the queue's `id`.
    QueueAgent(QueueId),
}

/// Menus Yeastar lists that are telephony features this product does not have.
const TELEPHONY_MENUS: &[&str] =
    &["trunk", "role", "phonebook", "group_vm", "IVR", "ivr", "ring_group", "conference", "pinset"];

/// Parses `menu` (and `id` for `queue_agent`).
pub fn parse_menu(query: &Value) -> Result<Menu, ApiError> {
    let mut f = Fields::new(query);
    let menu = f.string("menu");
    let id = f.opt_integer("id");
    f.finish()?;
    match menu.as_deref().map(str::trim) {
        Some("extension") => Ok(Menu::Extension),
        Some("ext_group") => Ok(Menu::ExtGroup),
        Some("org_list") => Ok(Menu::OrgList),
        Some("queue") => Ok(Menu::Queue),
        Some("queue_agent") => match id.and_then(|v| u64::try_from(v).ok()).and_then(|v| QueueId::new(v).ok()) {
            Some(q) => Ok(Menu::QueueAgent(q)),
            None => Err(ApiError::field("id", "required", "the message queue id is required for menu=queue_agent")),
        },
        Some(other) if TELEPHONY_MENUS.contains(&other) => Err(ApiError::field(
            "menu",
            "unsupported",
            format!("menu '{other}' is a telephony feature this system does not have; {MENUS}"),
        )),
        Some(other) => Err(ApiError::field("menu", "enum", format!("unknown menu '{other}'; {MENUS}"))),
        None => Err(ApiError::field("menu", "required", "is required")),
    }
}

const MENUS: &str = "the menus are extension, ext_group, org_list, queue and queue_agent (with id)";

/// An option of an extension (`extension`, `queue_agent`): text `Name<number>`, the id, type
/// `extension`.
pub fn extension_option(e: &Extension) -> Value {
    json!({"text": e.display(), "value": e.id.to_string(), "type": "extension"})
}

/// An option of an extension group: its name, id and `member_select`.
pub fn group_option(g: &ExtensionGroup) -> Value {
    json!({"text": g.name, "value": g.id.to_string(), "type": g.member_select.as_str()})
}

/// An option of a message queue: its name, id and assignment mode.
pub fn queue_option(q: &MessageQueue) -> Value {
    json!({"text": q.name, "value": q.id.to_string(), "type": q.assignment_mode.as_str()})
}

/// The `org_list` options: top-level organizations, each with `item` = its sub-organizations
/// (`{text, value}`, nested the same way when they have their own).
pub fn org_options(tree: &OrgTree) -> Vec<Value> {
    fn sub(tree: &OrgTree, o: &Organization) -> Value {
        let items: Vec<Value> = tree.children(Some(o.id)).into_iter().map(|c| sub(tree, c)).collect();
        let mut v = json!({"text": o.name, "value": o.id.to_string()});
        if !items.is_empty() {
            v["item"] = Value::Array(items);
        }
        v
    }
    tree.children(None)
        .into_iter()
        .map(|o| {
            let items: Vec<Value> = tree.children(Some(o.id)).into_iter().map(|c| sub(tree, c)).collect();
            json!({"text": o.name, "value": o.id.to_string(), "type": "organization", "item": items})
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;

    fn fields(err: &ApiError) -> Vec<&str> {
        err.invalid_params.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn when_a_group_request_is_valid_should_parse_both_selections() {
        let d = parse_group_create(&json!({"name": " Sales ", "member_select": "sel_specific",
                                           "members": [{"ext_id": 3}, {"extension_id": 4}]}))
        .unwrap();
        assert_eq!(d.name, "Sales");
        assert_eq!(
            d.member_select,
            MemberSelect::Specific(vec![ExtensionId::new(3).unwrap(), ExtensionId::new(4).unwrap()])
        );
        let all = parse_group_create(&json!({"name": "All", "member_select": "sel_all_ext"})).unwrap();
        assert_eq!(all.member_select, MemberSelect::AllExtensions);
    }

    #[test]
    fn when_a_group_request_is_bad_should_name_every_field() {
        let err = parse_group_create(&json!({"name": "x".repeat(128), "member_select": "sel_specific",
                                             "members": [{"ext_id": 3}, {"ext_id": 3}, {"ext_id": 0}]}))
        .unwrap_err();
        assert_eq!(fields(&err), vec!["name", "members[1].ext_id", "members[2].ext_id"]);
        let err = parse_group_create(&json!({"name": "", "member_select": "some"})).unwrap_err();
        assert_eq!(fields(&err), vec!["name", "member_select"]);
        let err = parse_group_create(&json!({"name": "S", "member_select": "sel_specific"})).unwrap_err();
        assert_eq!(fields(&err), vec!["members"]);
    }

    #[test]
    fn when_a_group_update_leaves_fields_out_should_keep_them() {
        let before = ExtensionGroup {
            id: crate::ids::ExtGroupId::new(1).unwrap(),
            name: "Sales".into(),
            member_select: MemberSelect::Specific(vec![ExtensionId::new(3).unwrap()]),
            created_at: Timestamp::from_millis(0),
        };
        let d = parse_group_update(&json!({"id": 1, "name": "Sales EU"}), &before).unwrap();
        assert_eq!((d.name.as_str(), &d.member_select), ("Sales EU", &before.member_select));
        let d = parse_group_update(&json!({"id": 1, "member_select": "sel_all_ext"}), &before).unwrap();
        assert_eq!(d.member_select, MemberSelect::AllExtensions);
    }

    #[test]
    fn when_an_organization_request_is_parsed_should_default_and_check_fields() {
        let d = parse_organization_create(&json!({"name": "Support", "ext_list": [3, "4"]})).unwrap();
        assert_eq!((d.parent_id, d.order, d.extensions.len()), (None, 0, 2));
        let d = parse_organization_create(&json!({"name": "Night", "parent_id": 2, "order": 3})).unwrap();
        assert_eq!(d.parent_id, Some(OrganizationId::new(2).unwrap()));
        assert_eq!(d.order, 3);
        let err =
            parse_organization_create(&json!({"parent_id": -1, "order": 70000, "ext_list": [1, 1, "x"]})).unwrap_err();
        assert_eq!(fields(&err), vec!["name", "parent_id", "order", "ext_list[1]", "ext_list[2]"]);
        let before = Organization {
            id: OrganizationId::new(5).unwrap(),
            name: "Night".into(),
            parent_id: Some(OrganizationId::new(2).unwrap()),
            order: 3,
            extensions: vec![ExtensionId::new(9).unwrap()],
            created_at: Timestamp::from_millis(0),
        };
        let d = parse_organization_update(&json!({"id": 5, "parent_id": 0}), &before).unwrap();
        assert_eq!((d.parent_id, d.order, d.extensions.clone()), (None, 3, before.extensions.clone()));
    }

    #[test]
    fn when_a_menu_is_asked_for_should_know_ours_and_say_what_exists() {
        let q = |menu: &str, id: Option<&str>| {
            let mut v = json!({"menu": menu});
            if let Some(id) = id {
                v["id"] = json!(id);
            }
            parse_menu(&v)
        };
        assert_eq!(q("org_list", None).unwrap(), Menu::OrgList);
        assert_eq!(q("queue_agent", Some("4")).unwrap(), Menu::QueueAgent(QueueId::new(4).unwrap()));
        assert_eq!(q("queue_agent", None).unwrap_err().invalid_params[0].field, "id");
        let trunk = q("trunk", None).unwrap_err();
        assert_eq!(trunk.invalid_params[0].validation_type, "unsupported");
        let unknown = q("nope", None).unwrap_err();
        assert!(unknown.submsg.unwrap().contains("ext_group"), "says which menus exist");
    }
}
