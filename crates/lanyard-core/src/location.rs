//! The location tree: company > brand > region > location, any depth, per tenant.

use crate::ids::{LocationId, TenantId};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

/// One node of a tenant's location tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    /// Its id.
    pub id: LocationId,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// Its parent; `None` for a root (usually the company).
    pub parent_id: Option<LocationId>,
    /// Its name, unique among its siblings.
    pub name: String,
    /// What level it is, in the tenant's words ("company", "brand", "region", "location").
    pub kind: String,
}

/// What is wrong with a set of locations.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocationError {
    /// A parent that is not in the set.
    #[error("location {0:?} names a parent that does not exist")]
    MissingParent(String),
    /// A parent in another tenant.
    #[error("location {0:?} has a parent in another tenant")]
    CrossTenant(String),
    /// A loop: a location beneath itself.
    #[error("location {0:?} is its own ancestor")]
    Cycle(String),
    /// Two siblings with one name.
    #[error("two locations named {0:?} share a parent")]
    DuplicateSibling(String),
    /// Empty or over-long name.
    #[error("location name {0:?} must be 1 to 200 characters")]
    BadName(String),
}

/// A checked forest of locations: no cycles, parents present and in the same tenant.
#[derive(Debug, Clone, Default)]
pub struct LocationTree {
    nodes: HashMap<LocationId, Location>,
}

impl LocationTree {
    /// Checks and indexes `locations`.
    pub fn new(locations: Vec<Location>) -> Result<Self, LocationError> {
        let nodes: HashMap<_, _> = locations.into_iter().map(|l| (l.id, l)).collect();
        let mut siblings = HashSet::new();
        for l in nodes.values() {
            if l.name.trim().is_empty() || l.name.chars().count() > 200 {
                return Err(LocationError::BadName(l.name.clone()));
            }
            if !siblings.insert((l.tenant_id, l.parent_id, l.name.to_lowercase())) {
                return Err(LocationError::DuplicateSibling(l.name.clone()));
            }
            if let Some(p) = l.parent_id {
                let parent = nodes
                    .get(&p)
                    .ok_or_else(|| LocationError::MissingParent(l.name.clone()))?;
                if parent.tenant_id != l.tenant_id {
                    return Err(LocationError::CrossTenant(l.name.clone()));
                }
            }
        }
        let tree = Self { nodes };
        for l in tree.nodes.values() {
            // A walk longer than the node count must have looped.
            if tree.ancestors(l.id).nth(tree.nodes.len()).is_some() {
                return Err(LocationError::Cycle(l.name.clone()));
            }
        }
        Ok(tree)
    }

    /// A location by id.
    pub fn get(&self, id: LocationId) -> Option<&Location> {
        self.nodes.get(&id)
    }

    /// `id` and its ancestors, nearest first.
    pub fn ancestors(&self, id: LocationId) -> impl Iterator<Item = &Location> + '_ {
        let mut next = self.nodes.get(&id);
        std::iter::from_fn(move || {
            let cur = next?;
            next = cur.parent_id.and_then(|p| self.nodes.get(&p));
            Some(cur)
        })
        .take(self.nodes.len() + 1)
    }

    /// Whether `node` is `ancestor` or lies beneath it.
    pub fn is_within(&self, node: LocationId, ancestor: LocationId) -> bool {
        self.ancestors(node).any(|l| l.id == ancestor)
    }

    /// `id` and every location beneath it.
    pub fn subtree(&self, id: LocationId) -> Vec<LocationId> {
        let mut out: Vec<LocationId> = self
            .nodes
            .keys()
            .copied()
            .filter(|n| self.is_within(*n, id))
            .collect();
        out.sort();
        out
    }

    /// The names from the root down to `id` (empty for an unknown id).
    pub fn path(&self, id: LocationId) -> Vec<String> {
        let mut names: Vec<String> = self.ancestors(id).map(|l| l.name.clone()).collect();
        names.reverse();
        names
    }

    /// The path joined with " > ", as people read it.
    pub fn path_string(&self, id: LocationId) -> String {
        self.path(id).join(" > ")
    }

    /// Finds a location by its path of names from the root (case-insensitive).
    pub fn find_by_path(&self, tenant: TenantId, path: &[&str]) -> Option<&Location> {
        let mut parent: Option<LocationId> = None;
        let mut found = None;
        for name in path {
            found = self.nodes.values().find(|l| {
                l.tenant_id == tenant && l.parent_id == parent && l.name.eq_ignore_ascii_case(name)
            });
            parent = Some(found?.id);
        }
        found
    }

    /// All locations.
    pub fn all(&self) -> impl Iterator<Item = &Location> {
        self.nodes.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use crate::ids::IdGen;
    use time::macros::datetime;

    fn loc(id: LocationId, t: TenantId, parent: Option<LocationId>, name: &str) -> Location {
        Location {
            id,
            tenant_id: t,
            parent_id: parent,
            name: name.into(),
            kind: "x".into(),
        }
    }

    #[test]
    fn tree_answers_paths_and_subtrees() {
        let clock = FixedClock::new(datetime!(2026-01-01 00:00 UTC));
        let g = IdGen::new(&clock);
        let t: TenantId = g.next();
        let (co, north, leeds, south, london) = (g.next(), g.next(), g.next(), g.next(), g.next());
        let tree = LocationTree::new(vec![
            loc(co, t, None, "Demo Training Co"),
            loc(north, t, Some(co), "North"),
            loc(leeds, t, Some(north), "Leeds"),
            loc(south, t, Some(co), "South"),
            loc(london, t, Some(south), "London"),
        ])
        .unwrap();
        assert_eq!(tree.path_string(leeds), "Demo Training Co > North > Leeds");
        assert!(tree.is_within(leeds, co));
        assert!(tree.is_within(leeds, north));
        assert!(tree.is_within(leeds, leeds));
        assert!(!tree.is_within(leeds, south));
        assert!(!tree.is_within(north, leeds));
        assert_eq!(
            tree.find_by_path(t, &["demo training co", "South", "London"])
                .unwrap()
                .id,
            london
        );
        assert!(tree
            .find_by_path(t, &["Demo Training Co", "Leeds"])
            .is_none());
    }

    #[test]
    fn bad_trees_are_refused() {
        let clock = FixedClock::new(datetime!(2026-01-01 00:00 UTC));
        let g = IdGen::new(&clock);
        let (t, t2): (TenantId, TenantId) = (g.next(), g.next());
        let (a, b, c) = (g.next(), g.next(), g.next());
        let cycle = LocationTree::new(vec![loc(a, t, Some(b), "A"), loc(b, t, Some(a), "B")]);
        assert!(matches!(cycle, Err(LocationError::Cycle(_))));
        let missing = LocationTree::new(vec![loc(a, t, Some(c), "A")]);
        assert!(matches!(missing, Err(LocationError::MissingParent(_))));
        let cross = LocationTree::new(vec![loc(a, t, None, "A"), loc(b, t2, Some(a), "B")]);
        assert!(matches!(cross, Err(LocationError::CrossTenant(_))));
        let dup = LocationTree::new(vec![
            loc(a, t, None, "A"),
            loc(b, t, Some(a), "X"),
            loc(c, t, Some(a), "x"),
        ]);
        assert!(matches!(dup, Err(LocationError::DuplicateSibling(_))));
        let empty = LocationTree::new(vec![loc(a, t, None, "  ")]);
        assert!(matches!(empty, Err(LocationError::BadName(_))));
    }
}
