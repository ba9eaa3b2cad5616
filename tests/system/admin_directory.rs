//! Extension groups, organizations and menu options through the admin API (Yeastar §3.8.3-§3.8.5
//! shapes), and numbers whose `members` are a group and an organization: an extension of a
//! sub-organization may start an SMS session from the number, one outside may not; invalid input
//! writes nothing; a referenced group or organization (or one with sub-organizations) and a
//! listed extension cannot be deleted.

use serde_json::{Value, json};
use system_tests::{AGENT_PASSWORD, TestStack};

const DID: &str = "+14102161190";
const ALICE: &str = "+15005550111";
const BOB: &str = "+15005550112";
const CAROL: &str = "+15005550113";

async fn created(t: &TestStack, admin: &str, path: &str, body: Value) -> u64 {
    let reply = t.post(path, Some(admin), &body).await;
    assert_eq!(reply["errcode"], 0, "{path}: {reply}");
    reply["id"].as_u64().unwrap_or_else(|| panic!("no id: {reply}"))
}

fn ids(list: &Value) -> Vec<u64> {
    list.as_array().map(|l| l.iter().filter_map(|v| v["id"].as_u64()).collect()).unwrap_or_default()
}

#[tokio::test]
async fn groups_and_organizations_are_managed_in_yeastar_shapes_and_grant_starting_sessions_from_a_number() {
    let t = TestStack::start().await;
    let admin = t.admin_token().await;
    let a = t.extension(&admin, "1000").await;
    let b = t.extension(&admin, "1001").await;
    let c = t.extension(&admin, "1002").await;
    let d = t.extension(&admin, "1003").await;

    // ---- extension groups
    let sales = created(
        &t,
        &admin,
        "extensiongroup/create",
        json!({"name": "Sales", "member_select": "sel_specific", "members": [{"ext_id": a}]}),
    )
    .await;
    let key = [("Idempotency-Key", "create-everyone-1")];
    let first = t
        .post_with(
            "extensiongroup/create",
            Some(&admin),
            &json!({"name": "Everyone", "member_select": "sel_all_ext"}),
            &key,
        )
        .await;
    let everyone = first["id"].as_u64().unwrap_or_else(|| panic!("{first}"));
    // A retried create with its Idempotency-Key creates nothing twice.
    let body = json!({"name": "Everyone", "member_select": "sel_all_ext"});
    let retried = t.post_with("extensiongroup/create", Some(&admin), &body, &key).await;
    assert_eq!(retried["id"], everyone, "{retried}");
    let list = t.get("extensiongroup/list", &admin, &[("sort_by", "name"), ("order_by", "desc")]).await;
    assert_eq!(list["errcode"], 0, "{list}");
    assert_eq!(list["total_number"], 2);
    assert_eq!(
        list["data"],
        json!([
            {"id": sales, "name": "Sales", "member_select": "sel_specific", "total_extensions": 1},
            {"id": everyone, "name": "Everyone", "member_select": "sel_all_ext", "total_extensions": 4}
        ])
    );
    let detail = t.get("extensiongroup/get", &admin, &[("id", &sales.to_string())]).await;
    assert_eq!(detail["data"]["members"][0]["ext_id"], a, "{detail}");
    assert_eq!(detail["data"]["members"][0]["ext_num"], "1000");
    let found = t.get("extensiongroup/search", &admin, &[("search_value", "SAL")]).await;
    assert_eq!(ids(&found["data"]), vec![sales], "{found}");

    // Invalid groups are refused, saying why, and nothing is written.
    let dup =
        t.post("extensiongroup/create", Some(&admin), &json!({"name": "sales", "member_select": "sel_all_ext"})).await;
    assert_eq!(dup["errcode"], 40003, "{dup}");
    let unknown = t
        .post(
            "extensiongroup/create",
            Some(&admin),
            &json!({"name": "Ghosts", "member_select": "sel_specific", "members": [{"ext_id": 4242}]}),
        )
        .await;
    assert_eq!(unknown["errcode"], 40002, "{unknown}");
    assert_eq!(unknown["invalid_param_list"][0]["field"], "members[0].ext_id");
    assert!(unknown.to_string().contains("extension 4242 does not exist"), "{unknown}");
    let bad = t.post("extensiongroup/update", Some(&admin), &json!({"id": sales, "member_select": "some"})).await;
    assert_eq!(bad["errcode"], 40002, "{bad}");
    assert_eq!(t.get("extensiongroup/list", &admin, &[]).await["total_number"], 2, "nothing was created");
    assert_eq!(t.get("extensiongroup/get", &admin, &[("id", &sales.to_string())]).await, detail, "nothing changed");

    // ---- organizations: Company {a} > Support {b} > Night shift {c}; Partners {d}
    let company = created(&t, &admin, "organization/create", json!({"name": "Company", "ext_list": [a]})).await;
    let support = created(
        &t,
        &admin,
        "organization/create",
        json!({"name": "Support", "parent_id": company, "order": 1, "ext_list": [b]}),
    )
    .await;
    let night = created(
        &t,
        &admin,
        "organization/create",
        json!({"name": "Night shift", "parent_id": support, "ext_list": [c]}),
    )
    .await;
    let partners =
        created(&t, &admin, "organization/create", json!({"name": "Partners", "order": 2, "ext_list": [d]})).await;
    let tree = t.get("organization/list", &admin, &[("is_all", "1")]).await;
    assert_eq!(tree["errcode"], 0, "{tree}");
    assert_eq!(
        tree["organization_list"],
        json!([
            {"id": company, "name": "Company", "parent_id": 0, "order": 0, "ext_number": 1, "ext_list": [a],
             "children": [
                {"id": support, "name": "Support", "parent_id": company, "order": 1, "ext_number": 1, "ext_list": [b],
                 "children": [
                    {"id": night, "name": "Night shift", "parent_id": support, "order": 0, "ext_number": 1,
                     "ext_list": [c], "children": []}
                 ]}
             ]},
            {"id": partners, "name": "Partners", "parent_id": 0, "order": 2, "ext_number": 1, "ext_list": [d],
             "children": []}
        ])
    );
    let info_only = t.get("organization/list", &admin, &[("is_all", "2")]).await;
    assert!(info_only["organization_list"][0].get("ext_number").is_none(), "{info_only}");
    let got = t.get("organization/get", &admin, &[("id", &night.to_string())]).await;
    assert_eq!(
        got["organization_info"],
        json!({"id": night, "name": "Night shift", "parent_id": support, "order": 0, "ext_list": [c]})
    );
    let found = t.get("organization/search", &admin, &[("search_value", "night")]).await;
    assert_eq!(ids(&found["organization_list"]), vec![night], "{found}");
    let queried = t.get("organization/query", &admin, &[("ids", &format!("{company},{partners},999"))]).await;
    assert_eq!(ids(&queried["list"]), vec![company, partners], "{queried}");
    let ext = t.get("extension/get", &admin, &[("id", &c.to_string())]).await;
    assert_eq!(ext["data"]["organization_list"], json!([{"id": night, "name": "Night shift"}]), "{ext}");

    // Tree rules: no cycle, the parent must exist, names unique; nothing is written.
    let cycle = t.post("organization/update", Some(&admin), &json!({"id": company, "parent_id": night})).await;
    assert_eq!(cycle["errcode"], 40002, "{cycle}");
    assert_eq!(cycle["invalid_param_list"][0]["field"], "parent_id");
    let orphan = t.post("organization/create", Some(&admin), &json!({"name": "Orphan", "parent_id": 999})).await;
    assert_eq!(orphan["errcode"], 40002, "{orphan}");
    assert!(orphan.to_string().contains("organization 999 does not exist"), "{orphan}");
    let dup = t.post("organization/create", Some(&admin), &json!({"name": "SUPPORT"})).await;
    assert_eq!(dup["errcode"], 40003, "{dup}");
    assert_eq!(t.get("organization/list", &admin, &[("is_all", "1")]).await, tree, "nothing changed");

    // ---- menu options
    let menu = |m: &'static str, id: Option<String>| {
        let (t, admin) = (&t, admin.clone());
        async move {
            let mut q = vec![("menu", m.to_owned())];
            q.extend(id.map(|i| ("id", i)));
            let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
            t.get("system/get_menuoptions", &admin, &q).await
        }
    };
    let exts = menu("extension", None).await;
    assert_eq!(exts["data"].as_array().map(Vec::len), Some(4), "{exts}");
    assert_eq!(exts["data"][0]["value"], a.to_string());
    let groups = menu("ext_group", None).await;
    assert_eq!(groups["data"][0], json!({"text": "Sales", "value": sales.to_string(), "type": "sel_specific"}));
    let orgs = menu("org_list", None).await;
    assert_eq!(orgs["data"][0]["text"], "Company", "{orgs}");
    assert_eq!(
        orgs["data"][0]["item"],
        json!([{"text": "Support", "value": support.to_string(),
                "item": [{"text": "Night shift", "value": night.to_string()}]}])
    );
    let queue = t.queue(&admin, "Desk", "manual", &[b, c]).await;
    let agents = menu("queue_agent", Some(queue.to_string())).await;
    assert_eq!(agents["data"].as_array().map(Vec::len), Some(2), "{agents}");
    assert_eq!(menu("queue", None).await["data"][0]["text"], "Desk");
    assert_eq!(menu("queue_agent", None).await["errcode"], 40002);
    let unknown = menu("spaceships", None).await;
    assert_eq!(unknown["errcode"], 40002, "{unknown}");
    assert!(unknown.to_string().contains("org_list"), "says which menus exist: {unknown}");

    // ---- a number whose members are the Sales group and the Support organization
    let members = json!([{"type": "ext_group", "value": sales.to_string()},
                         {"type": "organization", "value": support.to_string()}]);
    let (channel, _) = t
        .general_channel_with(
            &admin,
            10,
            &[],
            json!({"dids": [{"did_number": DID, "destination_type": "extension", "destination_id": a.to_string(),
                             "members": members}]}),
        )
        .await;
    let shown = t.get("message_channel/get", &admin, &[("id", &channel.to_string())]).await;
    assert_eq!(shown["data"]["dids"][0]["members"], members, "{shown}");
    let bad_member = t
        .post(
            "message_channel/update",
            Some(&admin),
            &json!({"id": channel, "dids": [{"did_number": DID, "destination_type": "extension",
                     "destination_id": a.to_string(), "members": [{"type": "ext_group", "value": "999"},
                     {"type": "organization", "value": "999"}]}]}),
        )
        .await;
    assert_eq!(bad_member["errcode"], 40002, "{bad_member}");
    assert!(bad_member.to_string().contains("extension group 999 does not exist"), "{bad_member}");
    assert!(bad_member.to_string().contains("organization 999 does not exist"), "{bad_member}");
    let again = t.get("message_channel/get", &admin, &[("id", &channel.to_string())]).await;
    assert_eq!(again["data"]["dids"], shown["data"]["dids"], "the refused update changed nothing");

    let start = |no: &'static str, to: &'static str, text: &'static str| {
        let t = &t;
        async move {
            let token = t.token(no, AGENT_PASSWORD).await;
            let body = json!({"sender_type": 1, "sender_no": no, "channel": "general", "did_number": DID, "to": to,
                              "msg_body": text});
            t.post("message/send", Some(&token), &body).await
        }
    };
    // 1002 is in Night shift, below Support: allowed through the organization.
    let started = start("1002", ALICE, "Hello from the night shift").await;
    assert_eq!(started["errcode"], 0, "{started}");
    assert!(started["session_id"].as_u64().is_some(), "{started}");
    let sent = t.wait_sent("Hello from the night shift").await;
    assert_eq!(sent["to"], ALICE);
    // 1000 is in the Sales group: allowed through the group.
    let by_group = start("1000", CAROL, "Hello from sales").await;
    assert_eq!(by_group["errcode"], 0, "{by_group}");
    t.wait_sent("Hello from sales").await;
    // 1003 is in Partners, in neither: refused, and nothing goes out.
    let outside = start("1003", BOB, "Hello from a partner").await;
    assert_eq!(outside["errcode"], 70084, "{outside}");
    assert_eq!(outside["reason"], "not_allowed_on_number");
    assert!(!t.sent_texts().iter().any(|s| s == "Hello from a partner"));

    // ---- deletes refused while referenced, saying why
    let group_in_use = t.get("extensiongroup/delete", &admin, &[("id", &sales.to_string())]).await;
    assert_eq!(group_in_use["errcode"], 70084, "{group_in_use}");
    assert_eq!(group_in_use["reason"], "ext_group_in_use");
    assert!(group_in_use.to_string().contains(DID), "{group_in_use}");
    let has_children = t.get("organization/delete", &admin, &[("id", &support.to_string())]).await;
    assert_eq!(has_children["errcode"], 70084, "{has_children}");
    assert_eq!(has_children["reason"], "organization_has_children");
    let listed = t.get("extension/delete", &admin, &[("id", &d.to_string())]).await;
    assert_eq!(listed["errcode"], 70084, "{listed}");
    assert_eq!(listed["reason"], "extension_in_use");
    assert!(listed.to_string().contains("Partners"), "{listed}");
    assert_eq!(t.get("extension/get", &admin, &[("id", &d.to_string())]).await["errcode"], 0);

    // Night shift goes; Support is then refused because the number names it.
    assert_eq!(t.get("organization/delete", &admin, &[("id", &night.to_string())]).await["errcode"], 0);
    let org_in_use = t.get("organization/delete", &admin, &[("id", &support.to_string())]).await;
    assert_eq!(org_in_use["reason"], "organization_in_use", "{org_in_use}");
    assert!(org_in_use.to_string().contains(DID), "{org_in_use}");
    // An unreferenced group goes; a deleted one is not found.
    assert_eq!(t.get("extensiongroup/delete", &admin, &[("id", &everyone.to_string())]).await["errcode"], 0);
    assert_eq!(t.get("extensiongroup/get", &admin, &[("id", &everyone.to_string())]).await["errcode"], 60001);
    // Without Night shift, 1002 no longer belongs to Support: refused.
    let gone = start("1002", BOB, "Hello again").await;
    assert_eq!(gone["reason"], "not_allowed_on_number", "{gone}");
}
