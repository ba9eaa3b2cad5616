//! Use cases of extension groups and organizations (`crate::groups`): create, update and delete
//! them with every reference checked, and resolve a number's group and organization members when
//! someone starts a session from it.
//!
//! References are kept whole: a group or organization lists only existing extensions; an
//! organization's parent exists and the tree has no cycle; a group or organization that a
//! number's `members` names, or an organization with sub-organizations, cannot be deleted
//! (70084 with a reason); an extension listed in a group or organization cannot be deleted
//! (`extension_in_use`, see `admin::delete_extension`) — remove it there first.

use crate::channel::{Channel, Member};
use crate::groups::{ExtensionGroup, OrgTree, Organization, TreeError, member_allows};
use crate::ids::{ExtGroupId, ExtensionId, OrganizationId, Sequence};
use crate::openapi::groups::{GroupDraft, OrganizationDraft};
use crate::openapi::{ApiError, ErrCode, FieldError};
use crate::ports::{
    ChannelReader, Clock, ExtensionDirectory, ExtensionGroups, GroupingConflict, Organizations, Sequences, StoreError,
};
use crate::services::admin::{AdminError, AdminPorts};

/// Every extension of `listed` must exist; `field(i)` names the i-th in the error.
async fn check_extensions<X: ExtensionDirectory>(
    extensions: &X,
    listed: &[ExtensionId],
    field: impl Fn(usize) -> String,
) -> Result<(), AdminError> {
    let mut missing = Vec::new();
    for (i, ext) in listed.iter().enumerate() {
        if extensions.extension(*ext).await?.is_none() {
            missing.push(FieldError::new(field(i), "not_found", format!("extension {ext} does not exist")));
        }
    }
    if missing.is_empty() { Ok(()) } else { Err(ApiError::invalid(missing).into()) }
}

fn name_taken(what: &str, name: &str) -> AdminError {
    ApiError::duplicate("name", name, format!("the {what} name '{name}' is already in use")).into()
}

fn in_use(submsg: String, reason: &'static str) -> AdminError {
    ApiError::new(ErrCode::ActionForbidden, submsg).with_reason(reason).into()
}

/// The first number (of any channel) whose members include `member`.
fn number_listing(channels: &[Channel], member: Member) -> Option<(String, &Channel)> {
    channels
        .iter()
        .find_map(|c| c.numbers.iter().find(|r| r.members.contains(&member)).map(|r| (r.number.as_str().to_owned(), c)))
}

// ---------------------------------------------------------------- extension groups

/// Creates an extension group from a validated draft.
pub async fn create_group<N, W, X, Q, R, K>(
    ports: &AdminPorts<'_, N, W, X, Q, R, K>,
    draft: GroupDraft,
) -> Result<ExtensionGroup, AdminError>
where
    N: Sequences,
    X: ExtensionDirectory + ExtensionGroups,
    K: Clock,
{
    check_extensions(ports.extensions, draft.member_select.listed(), |i| format!("members[{i}].ext_id")).await?;
    let id = ExtGroupId::new(ports.sequences.next_id(Sequence::ExtGroup).await?)
        .map_err(|e| StoreError::permanent("allocate extension group id", e))?;
    let group =
        ExtensionGroup { id, name: draft.name, member_select: draft.member_select, created_at: ports.clock.now() };
    match ports.extensions.insert_group(&group).await? {
        Ok(()) => Ok(group),
        Err(_) => Err(name_taken("extension group", &group.name)),
    }
}

/// Applies a validated `extensiongroup/update` to stored group `before`.
pub async fn update_group<N, W, X, Q, R, K>(
    ports: &AdminPorts<'_, N, W, X, Q, R, K>,
    before: &ExtensionGroup,
    draft: GroupDraft,
) -> Result<ExtensionGroup, AdminError>
where
    X: ExtensionDirectory + ExtensionGroups,
{
    check_extensions(ports.extensions, draft.member_select.listed(), |i| format!("members[{i}].ext_id")).await?;
    let after = ExtensionGroup { name: draft.name, member_select: draft.member_select, ..before.clone() };
    match ports.extensions.replace_group(before, &after).await? {
        Ok(()) => Ok(after),
        Err(GroupingConflict::NameTaken) => Err(name_taken("extension group", &after.name)),
        Err(_) => {
            Err(ApiError::new(ErrCode::DataNotFound, format!("extension group {} does not exist", before.id)).into())
        }
    }
}

/// Deletes a group, refused (70084, `ext_group_in_use`) while a number's members name it.
pub async fn delete_group<N, W, X, Q, R, K, C>(
    ports: &AdminPorts<'_, N, W, X, Q, R, K>,
    channels: &C,
    group: &ExtensionGroup,
) -> Result<(), AdminError>
where
    X: ExtensionGroups,
    C: ChannelReader,
{
    let all = channels.channels().await?;
    if let Some((number, channel)) = number_listing(&all, Member::ExtGroup(group.id)) {
        return Err(in_use(
            format!(
                "extension group {} is a member of number {number} on message channel {}; remove it from the \
                 number's members first",
                group.id, channel.id
            ),
            "ext_group_in_use",
        ));
    }
    ports.extensions.delete_group(group).await?;
    Ok(())
}

// ---------------------------------------------------------------- organizations

fn tree_error(e: TreeError) -> AdminError {
    let kind = match e {
        TreeError::ParentMissing(_) => "not_found",
        TreeError::OwnParent | TreeError::Cycle { .. } => "cycle",
    };
    ApiError::field("parent_id", kind, e.to_string()).into()
}

/// Checks an organization draft's extensions and parent (`org`: the organization being updated).
async fn check_organization<X: ExtensionDirectory + Organizations>(
    directory: &X,
    org: Option<OrganizationId>,
    draft: &OrganizationDraft,
) -> Result<(), AdminError> {
    check_extensions(directory, &draft.extensions, |i| format!("ext_list[{i}]")).await?;
    if let Some(parent) = draft.parent_id {
        OrgTree::new(directory.organizations().await?).check_parent(org, parent).map_err(tree_error)?;
    }
    Ok(())
}

fn organization_conflict(c: GroupingConflict, org: &Organization, before: Option<OrganizationId>) -> AdminError {
    match (c, org.parent_id, before) {
        (GroupingConflict::NameTaken, _, _) => name_taken("organization", &org.name),
        (GroupingConflict::ParentMissing, Some(parent), _) => tree_error(TreeError::ParentMissing(parent)),
        (_, _, Some(id)) => ApiError::new(ErrCode::DataNotFound, format!("organization {id} does not exist")).into(),
        (_, _, None) => StoreError::permanent("insert organization", "unexpected conflict").into(),
    }
}

/// Creates an organization from a validated draft.
pub async fn create_organization<N, W, X, Q, R, K>(
    ports: &AdminPorts<'_, N, W, X, Q, R, K>,
    draft: OrganizationDraft,
) -> Result<Organization, AdminError>
where
    N: Sequences,
    X: ExtensionDirectory + Organizations,
    K: Clock,
{
    check_organization(ports.extensions, None, &draft).await?;
    let id = OrganizationId::new(ports.sequences.next_id(Sequence::Organization).await?)
        .map_err(|e| StoreError::permanent("allocate organization id", e))?;
    let org = Organization {
        id,
        name: draft.name,
        parent_id: draft.parent_id,
        order: draft.order,
        extensions: draft.extensions,
        created_at: ports.clock.now(),
    };
    match ports.extensions.insert_organization(&org).await? {
        Ok(()) => Ok(org),
        Err(c) => Err(organization_conflict(c, &org, None)),
    }
}

/// Applies a validated `organization/update` to stored organization `before` (moving it in the
/// tree when `parent_id` changes; never under itself or its own descendants).
pub async fn update_organization<N, W, X, Q, R, K>(
    ports: &AdminPorts<'_, N, W, X, Q, R, K>,
    before: &Organization,
    draft: OrganizationDraft,
) -> Result<Organization, AdminError>
where
    X: ExtensionDirectory + Organizations,
{
    check_organization(ports.extensions, Some(before.id), &draft).await?;
    let after = Organization {
        name: draft.name,
        parent_id: draft.parent_id,
        order: draft.order,
        extensions: draft.extensions,
        ..before.clone()
    };
    match ports.extensions.replace_organization(before, &after).await? {
        Ok(()) => Ok(after),
        Err(c) => Err(organization_conflict(c, &after, Some(before.id))),
    }
}

/// Deletes an organization, refused (70084) while it has sub-organizations
/// (`organization_has_children`) or a number's members name it (`organization_in_use`).
pub async fn delete_organization<N, W, X, Q, R, K, C>(
    ports: &AdminPorts<'_, N, W, X, Q, R, K>,
    channels: &C,
    org: &Organization,
) -> Result<(), AdminError>
where
    X: Organizations,
    C: ChannelReader,
{
    let tree = OrgTree::new(ports.extensions.organizations().await?);
    if let Some(child) = tree.children(Some(org.id)).first() {
        return Err(in_use(
            format!(
                "organization {} has sub-organizations (first: {} '{}'); move or delete them first",
                org.id, child.id, child.name
            ),
            "organization_has_children",
        ));
    }
    let all = channels.channels().await?;
    if let Some((number, channel)) = number_listing(&all, Member::Organization(org.id)) {
        return Err(in_use(
            format!(
                "organization {} is a member of number {number} on message channel {}; remove it from the number's \
                 members first",
                org.id, channel.id
            ),
            "organization_in_use",
        ));
    }
    ports.extensions.delete_organization(org).await?;
    Ok(())
}

// ---------------------------------------------------------------- references

/// Why a number's member entry is invalid (it names a group or organization that does not
/// exist), or `None`. Extensions are checked by the caller.
pub async fn missing_member<D: ExtensionGroups + Organizations>(
    directory: &D,
    member: &Member,
) -> Result<Option<String>, StoreError> {
    Ok(match member {
        Member::Extension(_) => None,
        Member::ExtGroup(g) => {
            directory.group(*g).await?.is_none().then(|| format!("extension group {g} does not exist"))
        }
        Member::Organization(o) => {
            directory.organization(*o).await?.is_none().then(|| format!("organization {o} does not exist"))
        }
    })
}

/// The group or organization that lists extension `ext` by id (`"extension group 3 'Sales'"`),
/// if any: deleting the extension is refused while one does.
pub async fn listing_of_extension<D: ExtensionGroups + Organizations>(
    directory: &D,
    ext: ExtensionId,
) -> Result<Option<String>, StoreError> {
    if let Some(g) = directory.groups().await?.into_iter().find(|g| g.lists(ext)) {
        return Ok(Some(format!("extension group {} '{}'", g.id, g.name)));
    }
    let tree = OrgTree::new(directory.organizations().await?);
    Ok(tree.of_extension(ext).first().map(|o| format!("organization {} '{}'", o.id, o.name)))
}

/// Whether a number's `members` let extension `ext` start sessions from it: the extension is
/// listed, or belongs to a listed group (`sel_all_ext`: everyone) or organization (its
/// sub-organizations included). Reads only the groups named, and the organizations once if any
/// is named.
pub async fn number_allows<D: ExtensionGroups + Organizations>(
    directory: &D,
    members: &[Member],
    ext: ExtensionId,
) -> Result<bool, StoreError> {
    if members.contains(&Member::Extension(ext)) {
        return Ok(true);
    }
    let mut groups = Vec::new();
    for member in members {
        if let Member::ExtGroup(g) = member
            && let Some(group) = directory.group(*g).await?
        {
            groups.push(group);
        }
    }
    let tree = if members.iter().any(|m| matches!(m, Member::Organization(_))) {
        OrgTree::new(directory.organizations().await?)
    } else {
        OrgTree::default()
    };
    Ok(members.iter().any(|m| member_allows(m, ext, &groups, &tree)))
}
