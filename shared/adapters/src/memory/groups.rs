//! In-memory extension groups and organizations, with the DynamoDB adapter's rules: names unique
//! (case-insensitive), a replaced item must exist, an organization's parent must exist.

use domain::groups::{ExtensionGroup, Organization, name_key};
use domain::ids::{ExtGroupId, OrganizationId};
use domain::ports::{ExtensionGroups, GroupingConflict, Organizations, StoreError};

use super::{InMemoryStore, lock};

impl ExtensionGroups for InMemoryStore {
    async fn insert_group(&self, group: &ExtensionGroup) -> Result<Result<(), GroupingConflict>, StoreError> {
        let mut s = lock(&self.state);
        if s.ext_groups.values().any(|g| name_key(&g.name) == name_key(&group.name)) {
            return Ok(Err(GroupingConflict::NameTaken));
        }
        s.ext_groups.insert(group.id, group.clone());
        Ok(Ok(()))
    }

    async fn group(&self, id: ExtGroupId) -> Result<Option<ExtensionGroup>, StoreError> {
        Ok(lock(&self.state).ext_groups.get(&id).cloned())
    }

    async fn groups(&self) -> Result<Vec<ExtensionGroup>, StoreError> {
        Ok(lock(&self.state).ext_groups.values().cloned().collect())
    }

    async fn replace_group(
        &self,
        before: &ExtensionGroup,
        after: &ExtensionGroup,
    ) -> Result<Result<(), GroupingConflict>, StoreError> {
        let mut s = lock(&self.state);
        if !s.ext_groups.contains_key(&before.id) {
            return Ok(Err(GroupingConflict::Missing));
        }
        if s.ext_groups.values().any(|g| g.id != after.id && name_key(&g.name) == name_key(&after.name)) {
            return Ok(Err(GroupingConflict::NameTaken));
        }
        s.ext_groups.insert(after.id, after.clone());
        Ok(Ok(()))
    }

    async fn delete_group(&self, group: &ExtensionGroup) -> Result<(), StoreError> {
        lock(&self.state).ext_groups.remove(&group.id);
        Ok(())
    }
}

impl Organizations for InMemoryStore {
    async fn insert_organization(&self, org: &Organization) -> Result<Result<(), GroupingConflict>, StoreError> {
        let mut s = lock(&self.state);
        if s.organizations.values().any(|o| name_key(&o.name) == name_key(&org.name)) {
            return Ok(Err(GroupingConflict::NameTaken));
        }
        if org.parent_id.is_some_and(|p| !s.organizations.contains_key(&p)) {
            return Ok(Err(GroupingConflict::ParentMissing));
        }
        s.organizations.insert(org.id, org.clone());
        Ok(Ok(()))
    }

    async fn organization(&self, id: OrganizationId) -> Result<Option<Organization>, StoreError> {
        Ok(lock(&self.state).organizations.get(&id).cloned())
    }

    async fn organizations(&self) -> Result<Vec<Organization>, StoreError> {
        Ok(lock(&self.state).organizations.values().cloned().collect())
    }

    async fn replace_organization(
        &self,
        before: &Organization,
        after: &Organization,
    ) -> Result<Result<(), GroupingConflict>, StoreError> {
        let mut s = lock(&self.state);
        if !s.organizations.contains_key(&before.id) {
            return Ok(Err(GroupingConflict::Missing));
        }
        if s.organizations.values().any(|o| o.id != after.id && name_key(&o.name) == name_key(&after.name)) {
            return Ok(Err(GroupingConflict::NameTaken));
        }
        if after.parent_id.is_some_and(|p| !s.organizations.contains_key(&p)) {
            return Ok(Err(GroupingConflict::ParentMissing));
        }
        s.organizations.insert(after.id, after.clone());
        Ok(Ok(()))
    }

    async fn delete_organization(&self, org: &Organization) -> Result<(), StoreError> {
        lock(&self.state).organizations.remove(&org.id);
        Ok(())
    }
}
