//! Phonebooks through the admin API (`phonebook/*`, docs/api.md "Phonebooks"): create, get, list,
//! update (growing past one storage chunk and shrinking back), unique names, numbers refused
//! unless E.164 (naming the contact, nothing stored), delete and 70093 afterwards.

use serde_json::{Value, json};
use system_tests::TestStack;

fn contacts(n: usize) -> Vec<Value> {
    (0..n).map(|i| json!({"name": format!("Contact {i}"), "mobile_number": format!("+1202555{i:04}")})).collect()
}

#[tokio::test]
async fn phonebooks_are_created_listed_updated_and_deleted_with_every_number_in_e164() {
    let t = TestStack::start().await;
    let admin = t.admin_token().await;

    // ---- create and read back
    let body = json!({"name": "VIP", "contacts": [
        {"name": "Alice", "business_number": "+12025550101", "mobile_number": "+12025550102"},
        {"name": "Bob", "home_number": " +12025550103 "}
    ]});
    let created = t.post_with("phonebook/create", Some(&admin), &body, &[("Idempotency-Key", "pb-vip-1")]).await;
    assert_eq!(created["errcode"], 0, "{created}");
    assert_eq!(created["errmsg"], "SUCCESS");
    let vip = created["id"].as_u64().unwrap_or_else(|| panic!("no id: {created}"));
    let retried = t.post_with("phonebook/create", Some(&admin), &body, &[("Idempotency-Key", "pb-vip-1")]).await;
    assert_eq!(retried["id"], vip, "a retried create creates nothing twice: {retried}");
    let got = t.get("phonebook/get", &admin, &[("id", &vip.to_string())]).await;
    assert_eq!(got["errcode"], 0, "{got}");
    assert_eq!(
        got["data"],
        json!({"id": vip, "name": "VIP", "contact_count": 2, "contacts": [
            {"name": "Alice", "business_number": "+12025550101", "mobile_number": "+12025550102"},
            {"name": "Bob", "home_number": "+12025550103"}
        ]})
    );

    // ---- a big one (several storage chunks), listed and paged
    let big = t.post("phonebook/create", Some(&admin), &json!({"name": "Everyone", "contacts": contacts(450)})).await;
    assert_eq!(big["errcode"], 0, "{big}");
    let everyone = big["id"].as_u64().unwrap_or_else(|| panic!("no id: {big}"));
    let got = t.get("phonebook/get", &admin, &[("id", &everyone.to_string())]).await;
    assert_eq!(got["data"]["contacts"].as_array().map(Vec::len), Some(450), "{}", got["data"]["contact_count"]);
    assert_eq!(got["data"]["contacts"][449], json!({"name": "Contact 449", "mobile_number": "+12025550449"}));
    let list = t.get("phonebook/list", &admin, &[]).await;
    assert_eq!(list["errcode"], 0, "{list}");
    assert_eq!(list["total_number"], 2);
    assert_eq!(
        list["data"],
        json!([{"id": vip, "name": "VIP", "contact_count": 2}, {"id": everyone, "name": "Everyone", "contact_count": 450}])
    );
    let page2 = t.get("phonebook/list", &admin, &[("page", "2"), ("page_size", "1")]).await;
    assert_eq!(page2["data"], json!([{"id": everyone, "name": "Everyone", "contact_count": 450}]), "{page2}");

    // ---- duplicate names (case-insensitive) are refused
    let dup = t.post("phonebook/create", Some(&admin), &json!({"name": " vip "})).await;
    assert_eq!(dup["errcode"], 40003, "{dup}");
    let dup = t.post("phonebook/update", Some(&admin), &json!({"id": everyone, "name": "VIP"})).await;
    assert_eq!(dup["errcode"], 40003, "{dup}");

    // ---- a number that is not E.164 is refused naming the contact; nothing is stored
    let bad = t
        .post(
            "phonebook/create",
            Some(&admin),
            &json!({"name": "Broken", "contacts": [
                {"name": "Fine", "mobile_number": "+12025550199"},
                {"name": "Carol", "business_number": "202-555-0100"}
            ]}),
        )
        .await;
    assert_eq!(bad["errcode"], 40002, "{bad}");
    assert_eq!(bad["invalid_param_list"][0]["field"], "contacts[1].business_number", "{bad}");
    assert!(bad["submsg"].as_str().unwrap_or_default().contains("Carol"), "{bad}");
    let unknown = t
        .post(
            "phonebook/create",
            Some(&admin),
            &json!({"name": "Typo", "contacts": [{"name": "D", "mobile": "+12025550100"}]}),
        )
        .await;
    assert_eq!(unknown["invalid_param_list"][0]["field"], "contacts[0].mobile", "{unknown}");
    let bad_update = t
        .post(
            "phonebook/update",
            Some(&admin),
            &json!({"id": vip, "contacts": [{"name": "Eve", "other_number": "12"}]}),
        )
        .await;
    assert_eq!(bad_update["invalid_param_list"][0]["field"], "contacts[0].other_number", "{bad_update}");
    assert_eq!(t.get("phonebook/list", &admin, &[]).await["total_number"], 2, "nothing was created");
    assert_eq!(
        t.get("phonebook/get", &admin, &[("id", &vip.to_string())]).await["data"]["contact_count"],
        2,
        "nothing was changed"
    );

    // ---- update: rename, then shrink the big one to two contacts
    let renamed = t.post("phonebook/update", Some(&admin), &json!({"id": vip, "name": "Gold"})).await;
    assert_eq!(renamed["errcode"], 0, "{renamed}");
    let got = t.get("phonebook/get", &admin, &[("id", &vip.to_string())]).await;
    assert_eq!((got["data"]["name"].clone(), got["data"]["contact_count"].clone()), (json!("Gold"), json!(2)));
    let reused = t.post("phonebook/create", Some(&admin), &json!({"name": "VIP"})).await;
    assert_eq!(reused["errcode"], 0, "the old name is free again: {reused}");
    let shrunk = t.post("phonebook/update", Some(&admin), &json!({"id": everyone, "contacts": contacts(2)})).await;
    assert_eq!(shrunk["errcode"], 0, "{shrunk}");
    let got = t.get("phonebook/get", &admin, &[("id", &everyone.to_string())]).await;
    assert_eq!(got["data"]["contacts"], json!(contacts(2)), "{got}");
    assert_eq!(got["data"]["name"], "Everyone");

    // ---- delete (GET and POST), then 70093
    let deleted = t.get("phonebook/delete", &admin, &[("id", &vip.to_string())]).await;
    assert_eq!(deleted["errcode"], 0, "{deleted}");
    let gone = t.get("phonebook/get", &admin, &[("id", &vip.to_string())]).await;
    assert_eq!(gone["errcode"], 70093, "{gone}");
    assert_eq!(gone["errmsg"], "PHONEBOOK_NOT_EXISTED");
    let again = t.post("phonebook/delete", Some(&admin), &json!({"id": vip})).await;
    assert_eq!(again["errcode"], 70093, "{again}");
    let update_gone = t.post("phonebook/update", Some(&admin), &json!({"id": vip, "name": "X"})).await;
    assert_eq!(update_gone["errcode"], 70093, "{update_gone}");
    let deleted = t.post("phonebook/delete", Some(&admin), &json!({"id": everyone})).await;
    assert_eq!(deleted["errcode"], 0, "{deleted}");
    let reuse = t.post("phonebook/create", Some(&admin), &json!({"name": "gold"})).await;
    assert_eq!(reuse["errcode"], 0, "a deleted phonebook's name is free: {reuse}");
    let list = t.get("phonebook/list", &admin, &[]).await;
    let names: Vec<&str> = list["data"].as_array().into_iter().flatten().filter_map(|b| b["name"].as_str()).collect();
    assert_eq!(names, ["VIP", "gold"], "{list}");
}
