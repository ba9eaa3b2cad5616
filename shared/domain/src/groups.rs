//! Extension groups and organizations: the two ways the directory gathers extensions besides
//! message queues (yeastar-openapi-messaging.md §3.8.3-§3.8.4; decisions.md "Scope and shape").
//!
//! * An **extension group** is a named set of extensions: either every extension of the system
//!   (`sel_all_ext`, which follows extensions as they are created and deleted) or a list
//!   (`sel_specific`).
//! * **Organizations** form a forest: each has at most one parent (`parent_id`; none for a
//!   top-level organization) and lists the extensions placed directly in it. An extension may be
//!   placed in several organizations.
//!
//! **Membership of an organization includes its sub-organizations**: an extension belongs to an
//! organization when it is listed in it or in any organization below it. That is what a number's
//! `members` of type `organization` grant (the right to start sessions from the number).
//!
//! Tree rules (checked by [`OrgTree::check_parent`] before every write): the parent must exist, an
//! organization cannot be its own parent or sit below one of its own descendants (no cycles).
//! Names are 1 to 127 characters and unique (case-insensitive, [`name_key`]) among groups, and
//! among organizations. Reading is defensive too: a cycle or a missing parent left by concurrent
//! edits never loops, and an organization whose parent is gone shows as top-level.

use std::collections::{BTreeMap, BTreeSet};

use crate::channel::Member;
use crate::ids::{ExtGroupId, ExtensionId, OrganizationId};
use crate::time::Timestamp;

/// Longest group or organization name, in characters.
pub const NAME_MAX: usize = 127;

/// The key that makes names unique: trimmed and lower-cased.
pub fn name_key(name: &str) -> String {
    name.trim().to_lowercase()
}

/// Which extensions an extension group holds (Yeastar `member_select`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberSelect {
    /// `sel_all_ext`: every extension of the system, present and future.
    AllExtensions,
    /// `sel_specific`: these extensions, in the order the administrator gave them.
    Specific(Vec<ExtensionId>),
}

impl MemberSelect {
    /// Wire name.
    pub fn as_str(&self) -> &'static str {
        match self {
            MemberSelect::AllExtensions => "sel_all_ext",
            MemberSelect::Specific(_) => "sel_specific",
        }
    }

    /// The extensions listed by id (none for `sel_all_ext`).
    pub fn listed(&self) -> &[ExtensionId] {
        match self {
            MemberSelect::AllExtensions => &[],
            MemberSelect::Specific(list) => list,
        }
    }
}

/// An extension group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionGroup {
    /// Id.
    pub id: ExtGroupId,
    /// Name (unique, case-insensitive).
    pub name: String,
    /// Its members.
    pub member_select: MemberSelect,
    /// When it was created.
    pub created_at: Timestamp,
}

impl ExtensionGroup {
    /// Whether an (existing) extension belongs to the group.
    pub fn includes(&self, ext: ExtensionId) -> bool {
        match &self.member_select {
            MemberSelect::AllExtensions => true,
            MemberSelect::Specific(list) => list.contains(&ext),
        }
    }

    /// Whether the group names this extension by id (so deleting the extension would leave a
    /// dangling reference); `sel_all_ext` names nobody.
    pub fn lists(&self, ext: ExtensionId) -> bool {
        self.member_select.listed().contains(&ext)
    }

    /// Yeastar's `total_extensions`, given how many extensions the system has.
    pub fn total_extensions(&self, extensions_in_system: usize) -> usize {
        match &self.member_select {
            MemberSelect::AllExtensions => extensions_in_system,
            MemberSelect::Specific(list) => list.len(),
        }
    }
}

/// An organization (department).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    /// Id.
    pub id: OrganizationId,
    /// Name (unique, case-insensitive).
    pub name: String,
    /// The organization it sits in; `None` for a top-level organization.
    pub parent_id: Option<OrganizationId>,
    /// Display position among its siblings (Yeastar `order`; lower first, then by id).
    pub order: u32,
    /// The extensions placed directly in it (not those of its sub-organizations).
    pub extensions: Vec<ExtensionId>,
    /// When it was created.
    pub created_at: Timestamp,
}

/// Why an organization cannot have the parent it was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    /// The parent does not exist.
    #[error("organization {0} does not exist")]
    ParentMissing(OrganizationId),
    /// An organization cannot be its own parent.
    #[error("an organization cannot be its own parent")]
    OwnParent,
    /// The parent sits below the organization: the tree would have a cycle.
    #[error("organization {parent} is below organization {org}; moving {org} under it would make a cycle")]
    Cycle {
        /// The organization being moved.
        org: OrganizationId,
        /// The parent asked for.
        parent: OrganizationId,
    },
}

/// Every organization, as a tree.
#[derive(Debug, Clone, Default)]
pub struct OrgTree {
    orgs: BTreeMap<OrganizationId, Organization>,
}

impl OrgTree {
    /// The tree of these organizations.
    pub fn new(orgs: impl IntoIterator<Item = Organization>) -> Self {
        Self { orgs: orgs.into_iter().map(|o| (o.id, o)).collect() }
    }

    /// How many organizations there are.
    pub fn len(&self) -> usize {
        self.orgs.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.orgs.is_empty()
    }

    /// One organization.
    pub fn get(&self, id: OrganizationId) -> Option<&Organization> {
        self.orgs.get(&id)
    }

    /// Every organization, by id.
    pub fn all(&self) -> impl Iterator<Item = &Organization> {
        self.orgs.values()
    }

    /// The parent as the tree sees it: `None` for a top-level organization and for one whose
    /// parent is gone.
    fn effective_parent(&self, org: &Organization) -> Option<OrganizationId> {
        org.parent_id.filter(|p| self.orgs.contains_key(p))
    }

    /// The organizations directly below `parent` (top-level ones for `None`), by `order` then id.
    pub fn children(&self, parent: Option<OrganizationId>) -> Vec<&Organization> {
        let mut list: Vec<&Organization> =
            self.orgs.values().filter(|o| self.effective_parent(o) == parent && Some(o.id) != parent).collect();
        list.sort_by_key(|o| (o.order, o.id));
        list
    }

    /// `id` and every organization below it (each once, even if the stored tree had a cycle).
    pub fn subtree(&self, id: OrganizationId) -> Vec<OrganizationId> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        let mut stack = vec![id];
        while let Some(next) = stack.pop() {
            if !self.orgs.contains_key(&next) || !seen.insert(next) {
                continue;
            }
            out.push(next);
            stack.extend(self.children(Some(next)).into_iter().rev().map(|o| o.id));
        }
        out
    }

    /// The extensions of an organization: its own and those of every organization below it.
    pub fn members(&self, id: OrganizationId) -> BTreeSet<ExtensionId> {
        self.subtree(id)
            .into_iter()
            .filter_map(|o| self.orgs.get(&o))
            .flat_map(|o| o.extensions.iter().copied())
            .collect()
    }

    /// Whether `ext` belongs to organization `id` (directly or through a sub-organization).
    pub fn includes(&self, id: OrganizationId, ext: ExtensionId) -> bool {
        self.subtree(id).into_iter().filter_map(|o| self.orgs.get(&o)).any(|o| o.extensions.contains(&ext))
    }

    /// The organizations an extension is placed in directly, by id.
    pub fn of_extension(&self, ext: ExtensionId) -> Vec<&Organization> {
        self.orgs.values().filter(|o| o.extensions.contains(&ext)).collect()
    }

    /// Checks that organization `org` (`None`: one being created) may sit under `parent`.
    pub fn check_parent(&self, org: Option<OrganizationId>, parent: OrganizationId) -> Result<(), TreeError> {
        if !self.orgs.contains_key(&parent) {
            return Err(TreeError::ParentMissing(parent));
        }
        if let Some(org) = org {
            if org == parent {
                return Err(TreeError::OwnParent);
            }
            if self.subtree(org).contains(&parent) {
                return Err(TreeError::Cycle { org, parent });
            }
        }
        Ok(())
    }
}

/// Whether a number's member entry grants `ext` the right to start sessions: the extension
/// itself, a group that includes it (`sel_all_ext`: everyone), or an organization it belongs to
/// (sub-organizations included). `groups` must hold the groups the entry names; a group or
/// organization that no longer exists grants nothing.
pub fn member_allows(member: &Member, ext: ExtensionId, groups: &[ExtensionGroup], tree: &OrgTree) -> bool {
    match member {
        Member::Extension(e) => *e == ext,
        Member::ExtGroup(g) => groups.iter().any(|group| group.id == *g && group.includes(ext)),
        Member::Organization(o) => tree.includes(*o, ext),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(n: u64) -> ExtensionId {
        ExtensionId::new(n).unwrap()
    }

    fn org(id: u64, parent: Option<u64>, order: u32, exts: &[u64]) -> Organization {
        Organization {
            id: OrganizationId::new(id).unwrap(),
            name: format!("org {id}"),
            parent_id: parent.map(|p| OrganizationId::new(p).unwrap()),
            order,
            extensions: exts.iter().map(|e| ext(*e)).collect(),
            created_at: Timestamp::from_millis(0),
        }
    }

    fn oid(n: u64) -> OrganizationId {
        OrganizationId::new(n).unwrap()
    }

    /// 1 Company {10}
    /// ├── 3 Support {30} (order 0)
    /// │   └── 4 Night shift {40}
    /// └── 2 Sales {20} (order 1)
    /// 5 Partners {50}
    fn tree() -> OrgTree {
        OrgTree::new(vec![
            org(1, None, 0, &[10]),
            org(2, Some(1), 1, &[20]),
            org(3, Some(1), 0, &[30]),
            org(4, Some(3), 0, &[40, 20]),
            org(5, None, 1, &[50]),
        ])
    }

    #[test]
    fn an_organization_includes_the_extensions_of_its_sub_organizations() {
        let t = tree();
        assert_eq!(t.members(oid(1)), [10, 20, 30, 40].into_iter().map(ext).collect());
        assert_eq!(t.members(oid(3)), [20, 30, 40].into_iter().map(ext).collect());
        assert!(t.includes(oid(1), ext(40)), "two levels down");
        assert!(!t.includes(oid(2), ext(40)), "a sibling's member is not a member");
        assert!(!t.includes(oid(5), ext(10)));
        assert!(!t.includes(oid(99), ext(10)), "a missing organization has nobody");
        assert_eq!(t.of_extension(ext(20)).iter().map(|o| o.id.get()).collect::<Vec<_>>(), vec![2, 4]);
    }

    #[test]
    fn children_come_by_order_then_id_and_orphans_show_at_the_top() {
        let t = tree();
        let ids = |list: Vec<&Organization>| list.iter().map(|o| o.id.get()).collect::<Vec<_>>();
        assert_eq!(ids(t.children(None)), vec![1, 5]);
        assert_eq!(ids(t.children(Some(oid(1)))), vec![3, 2]);
        let orphaned = OrgTree::new(vec![org(1, None, 0, &[]), org(7, Some(99), 0, &[])]);
        assert_eq!(ids(orphaned.children(None)), vec![1, 7]);
    }

    #[test]
    fn a_parent_must_exist_and_never_sit_below_the_organization() {
        let t = tree();
        assert_eq!(t.check_parent(None, oid(4)), Ok(()));
        assert_eq!(t.check_parent(None, oid(9)), Err(TreeError::ParentMissing(oid(9))));
        assert_eq!(t.check_parent(Some(oid(3)), oid(3)), Err(TreeError::OwnParent));
        assert_eq!(t.check_parent(Some(oid(1)), oid(4)), Err(TreeError::Cycle { org: oid(1), parent: oid(4) }));
        assert_eq!(t.check_parent(Some(oid(4)), oid(2)), Ok(()), "moving sideways is fine");
        assert_eq!(t.check_parent(Some(oid(5)), oid(4)), Ok(()));
    }

    #[test]
    fn a_stored_cycle_never_loops() {
        let t = OrgTree::new(vec![org(1, Some(2), 0, &[1]), org(2, Some(1), 0, &[2])]);
        assert_eq!(t.members(oid(1)), [1, 2].into_iter().map(ext).collect());
        assert!(t.children(None).is_empty());
    }

    #[test]
    fn number_members_resolve_through_groups_and_organizations() {
        let t = tree();
        let g = |id: u64, select: MemberSelect| ExtensionGroup {
            id: ExtGroupId::new(id).unwrap(),
            name: format!("g{id}"),
            member_select: select,
            created_at: Timestamp::from_millis(0),
        };
        let groups = vec![g(1, MemberSelect::AllExtensions), g(2, MemberSelect::Specific(vec![ext(7)]))];
        let everyone = Member::ExtGroup(ExtGroupId::new(1).unwrap());
        let seven = Member::ExtGroup(ExtGroupId::new(2).unwrap());
        let gone = Member::ExtGroup(ExtGroupId::new(3).unwrap());
        assert!(member_allows(&everyone, ext(12345), &groups, &t));
        assert!(member_allows(&seven, ext(7), &groups, &t));
        assert!(!member_allows(&seven, ext(8), &groups, &t));
        assert!(!member_allows(&gone, ext(7), &groups, &t));
        assert!(member_allows(&Member::Organization(oid(3)), ext(40), &groups, &t));
        assert!(!member_allows(&Member::Organization(oid(2)), ext(40), &groups, &t));
        assert!(member_allows(&Member::Extension(ext(8)), ext(8), &groups, &t));
        assert_eq!(groups[0].total_extensions(12), 12);
        assert_eq!(groups[1].total_extensions(12), 1);
        assert!(!groups[0].lists(ext(7)) && groups[1].lists(ext(7)));
        assert_eq!(name_key("  Sales Team "), "sales team");
    }
}
