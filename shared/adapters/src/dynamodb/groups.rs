//! Directory table: extension groups and organizations, each with a claim on its
//! (case-insensitive) name; listed through the KindIndex. Writes are transactions: the item, its
//! name claim moves, and for an organization a condition that its parent still exists.

use aws_sdk_dynamodb::types::{ConditionCheck, TransactWriteItem};
use domain::groups::{ExtensionGroup, Organization, name_key};
use domain::ids::{ExtGroupId, OrganizationId};
use domain::ports::{ExtensionGroups, GroupingConflict, Organizations, StoreError};

use super::directory::{delete_if, encode, put_if, put_new};
use super::errors::{corrupt, failed_condition, store_error};
use super::items::{self, ClaimItem, ExtGroupItem, OrganizationItem};
use super::{DynamoStore, key_map, keys, n};

/// What each item of a transaction is, by index, to say which condition failed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    /// The group or organization itself (must exist, on replace).
    Entity,
    /// A new name claim.
    NameClaim,
    /// The parent's existence.
    Parent,
    /// A released claim.
    Other,
}

fn conflict_of(steps: &[Step], reasons: &[Option<String>]) -> Option<GroupingConflict> {
    steps.iter().enumerate().filter(|(i, _)| failed_condition(reasons, *i)).find_map(|(_, step)| match step {
        Step::Entity => Some(GroupingConflict::Missing),
        Step::NameClaim => Some(GroupingConflict::NameTaken),
        Step::Parent => Some(GroupingConflict::ParentMissing),
        Step::Other => None,
    })
}

fn parent_exists(table: &str, parent: OrganizationId) -> Result<TransactWriteItem, StoreError> {
    let check = ConditionCheck::builder()
        .table_name(table)
        .set_key(Some(key_map(keys::organization(parent))))
        .condition_expression("attribute_exists(pk)")
        .build()
        .map_err(|e| corrupt("build condition check", e))?;
    Ok(TransactWriteItem::builder().condition_check(check).build())
}

impl DynamoStore {
    /// Puts `item` (new, or replacing an existing one), moving the name claim from `old_name`
    /// (when it differs) to `new_name`, with an optional parent check; one transaction.
    #[allow(clippy::too_many_arguments)]
    async fn write_grouping(
        &self,
        operation: &'static str,
        item: items::Item,
        replace: bool,
        id: u64,
        claim: fn(&str) -> keys::Key,
        old_name: Option<&str>,
        new_name: &str,
        parent: Option<OrganizationId>,
    ) -> Result<Result<(), GroupingConflict>, StoreError> {
        let table = &self.tables.directory;
        let mut tx = vec![if replace { put_if(table, item, "attribute_exists(pk)")? } else { put_new(table, item)? }];
        let mut steps = vec![Step::Entity];
        if old_name.map(name_key) != Some(name_key(new_name)) {
            tx.push(put_new(table, encode("claim", &ClaimItem::new(claim(new_name), id))?)?);
            steps.push(Step::NameClaim);
            if let Some(old) = old_name {
                tx.push(delete_if(table, claim(old), Some("owner_id = :id"), vec![(":id", n(id))])?);
                steps.push(Step::Other);
            }
        }
        if let Some(parent) = parent {
            tx.push(parent_exists(table, parent)?);
            steps.push(Step::Parent);
        }
        match self.transact(operation, tx).await? {
            Ok(()) => Ok(Ok(())),
            Err(reasons) => match conflict_of(&steps, &reasons) {
                Some(conflict) => Ok(Err(conflict)),
                None => Err(corrupt(operation, format!("transaction cancelled: {reasons:?}"))),
            },
        }
    }

    /// Deletes an item and its name claim (if still its own).
    async fn delete_grouping(
        &self,
        operation: &'static str,
        key: keys::Key,
        claim: keys::Key,
        id: u64,
    ) -> Result<(), StoreError> {
        let table = &self.tables.directory;
        let tx = vec![
            delete_if(table, key.clone(), None, vec![])?,
            delete_if(table, claim, Some("owner_id = :id"), vec![(":id", n(id))])?,
        ];
        match self.transact(operation, tx).await? {
            Ok(()) => Ok(()),
            // The claim already belongs to someone else (or is gone): only the item goes.
            Err(_) => {
                self.client
                    .delete_item()
                    .table_name(table)
                    .set_key(Some(key_map(key)))
                    .send()
                    .await
                    .map_err(|e| store_error(operation, e))?;
                Ok(())
            }
        }
    }
}

impl ExtensionGroups for DynamoStore {
    async fn insert_group(&self, group: &ExtensionGroup) -> Result<Result<(), GroupingConflict>, StoreError> {
        let item = encode("extension group", &ExtGroupItem::from_domain(group))?;
        self.write_grouping(
            "insert extension group",
            item,
            false,
            group.id.get(),
            keys::ext_group_name,
            None,
            &group.name,
            None,
        )
        .await
    }

    async fn group(&self, id: ExtGroupId) -> Result<Option<ExtensionGroup>, StoreError> {
        match self.get("read extension group", &self.tables.directory, keys::ext_group(id)).await? {
            Some(item) => {
                let stored: ExtGroupItem =
                    items::from_item("extension group", item).map_err(|e| corrupt("read extension group", e))?;
                stored.into_domain().map(Some).map_err(|e| corrupt("read extension group", e))
            }
            None => Ok(None),
        }
    }

    async fn groups(&self) -> Result<Vec<ExtensionGroup>, StoreError> {
        self.kind_items(keys::kind::EXT_GROUP)
            .await?
            .into_iter()
            .map(|item| {
                let stored: ExtGroupItem =
                    items::from_item("extension group", item).map_err(|e| corrupt("list extension groups", e))?;
                stored.into_domain().map_err(|e| corrupt("list extension groups", e))
            })
            .collect()
    }

    async fn replace_group(
        &self,
        before: &ExtensionGroup,
        after: &ExtensionGroup,
    ) -> Result<Result<(), GroupingConflict>, StoreError> {
        let item = encode("extension group", &ExtGroupItem::from_domain(after))?;
        self.write_grouping(
            "replace extension group",
            item,
            true,
            after.id.get(),
            keys::ext_group_name,
            Some(&before.name),
            &after.name,
            None,
        )
        .await
    }

    async fn delete_group(&self, group: &ExtensionGroup) -> Result<(), StoreError> {
        self.delete_grouping(
            "delete extension group",
            keys::ext_group(group.id),
            keys::ext_group_name(&group.name),
            group.id.get(),
        )
        .await
    }
}

impl Organizations for DynamoStore {
    async fn insert_organization(&self, org: &Organization) -> Result<Result<(), GroupingConflict>, StoreError> {
        let item = encode("organization", &OrganizationItem::from_domain(org))?;
        self.write_grouping(
            "insert organization",
            item,
            false,
            org.id.get(),
            keys::organization_name,
            None,
            &org.name,
            org.parent_id,
        )
        .await
    }

    async fn organization(&self, id: OrganizationId) -> Result<Option<Organization>, StoreError> {
        match self.get("read organization", &self.tables.directory, keys::organization(id)).await? {
            Some(item) => {
                let stored: OrganizationItem =
                    items::from_item("organization", item).map_err(|e| corrupt("read organization", e))?;
                stored.into_domain().map(Some).map_err(|e| corrupt("read organization", e))
            }
            None => Ok(None),
        }
    }

    async fn organizations(&self) -> Result<Vec<Organization>, StoreError> {
        self.kind_items(keys::kind::ORGANIZATION)
            .await?
            .into_iter()
            .map(|item| {
                let stored: OrganizationItem =
                    items::from_item("organization", item).map_err(|e| corrupt("list organizations", e))?;
                stored.into_domain().map_err(|e| corrupt("list organizations", e))
            })
            .collect()
    }

    async fn replace_organization(
        &self,
        before: &Organization,
        after: &Organization,
    ) -> Result<Result<(), GroupingConflict>, StoreError> {
        let item = encode("organization", &OrganizationItem::from_domain(after))?;
        self.write_grouping(
            "replace organization",
            item,
            true,
            after.id.get(),
            keys::organization_name,
            Some(&before.name),
            &after.name,
            after.parent_id,
        )
        .await
    }

    async fn delete_organization(&self, org: &Organization) -> Result<(), StoreError> {
        self.delete_grouping(
            "delete organization",
            keys::organization(org.id),
            keys::organization_name(&org.name),
            org.id.get(),
        )
        .await
    }
}
