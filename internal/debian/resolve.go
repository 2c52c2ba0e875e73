package debian

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// ResolveOption changes how Resolve walks dependencies.
type ResolveOption func(*resolver)

// Exclude treats the named packages, real or virtual, as already installed: dependencies
// on them are satisfied, and they are neither returned nor walked. A consumer that only
// needs a package's files uses it to drop what only maintainer scripts need, such as
// debconf or perl-base.
func Exclude(names ...string) ResolveOption {
	return func(r *resolver) {
		for _, n := range names {
			r.exclude[n] = true
		}
	}
}

// Resolve returns the transitive closure of the named packages under Depends and
// Pre-Depends, sorted by name. Recommends and Suggests are not followed.
//
// Each name may be a relation, e.g. "iptables (>= 1.8)" or "mawk | gawk". For a requirement
// with alternatives, an alternative that is already selected wins, else the first one the
// index can satisfy. A virtual package is satisfied by the packages that Provide it; a
// versioned requirement only by a versioned Provides. Among several providers, the one
// with the highest Priority wins, then the first by name. The resolver does not backtrack:
// a requirement that the already selected version of a package does not meet is an error.
func (ix *Index) Resolve(names []string, opts ...ResolveOption) ([]Package, error) {
	r := &resolver{
		ix:       ix,
		exclude:  map[string]bool{},
		selected: map[string]*Package{},
		neededBy: map[*Package]*Package{},
	}
	for _, opt := range opts {
		opt(r)
	}
	for _, name := range names {
		groups, err := parseRelations(name)
		if err != nil {
			return nil, fmt.Errorf("resolve %q: %w", name, err)
		}
		if len(groups) == 0 {
			return nil, fmt.Errorf("resolve: empty package name")
		}
		for _, alts := range groups {
			if err := r.require(alts, nil); err != nil {
				return nil, err
			}
		}
	}
	// The queue grows as the walk selects packages.
	for i := 0; i < len(r.queue); i++ {
		p := r.queue[i]
		for _, alts := range slices.Concat(p.PreDepends, p.Depends) {
			if err := r.require(alts, p); err != nil {
				return nil, err
			}
		}
	}
	out := make([]Package, len(r.queue))
	for i, p := range r.queue {
		out[i] = *p
	}
	slices.SortFunc(out, func(a, b Package) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

type resolver struct {
	ix       *Index
	exclude  map[string]bool
	selected map[string]*Package // by package name
	// neededBy records which package pulled each selected package in; nil for those the
	// caller asked for. Error messages use it to show the chain.
	neededBy map[*Package]*Package
	queue    []*Package // selected packages, in selection order
}

// require makes sure that one of alts is satisfied, selecting a package if none is.
func (r *resolver) require(alts []Relation, from *Package) error {
	for _, rel := range alts {
		if r.satisfied(rel) {
			return nil
		}
	}
	for _, rel := range alts {
		if p := r.candidate(rel); p != nil {
			r.selected[p.Name] = p
			r.neededBy[p] = from
			r.queue = append(r.queue, p)
			return nil
		}
	}
	return r.unsatisfiable(alts, from)
}

// archOK reports whether rel's multiarch qualifier can be met by this single-arch index.
func (r *resolver) archOK(rel Relation) bool {
	switch rel.Arch {
	case "", "any", "native", r.ix.Arch:
		return true
	}
	return false
}

// present reports whether p counts as installed: selected, or excluded by the caller.
func (r *resolver) present(p *Package) bool {
	return r.selected[p.Name] == p || r.exclude[p.Name]
}

// satisfied reports whether rel is met without selecting anything new.
func (r *resolver) satisfied(rel Relation) bool {
	if r.exclude[rel.Name] {
		return true
	}
	if !r.archOK(rel) {
		return false
	}
	if p := r.selected[rel.Name]; p != nil && (rel.Op == "" || satisfies(p.Version, rel.Op, rel.Version)) {
		return true
	}
	for _, pv := range r.ix.providers[rel.Name] {
		if r.present(pv.pkg) && pv.meets(rel) {
			return true
		}
	}
	return false
}

// meets reports whether a Provides entry satisfies rel. Policy §7.5: an unversioned
// Provides never satisfies a versioned requirement.
func (pv provider) meets(rel Relation) bool {
	return rel.Op == "" || pv.version != "" && satisfies(pv.version, rel.Op, rel.Version)
}

// candidate returns the package to select for rel, or nil if there is none: the highest
// matching version of a real package, else the preferred provider.
func (r *resolver) candidate(rel Relation) *Package {
	if !r.archOK(rel) {
		return nil
	}
	selectable := func(p *Package) bool { return r.selected[p.Name] == nil && !r.exclude[p.Name] }
	for _, p := range r.ix.byName[rel.Name] {
		if selectable(p) && (rel.Op == "" || satisfies(p.Version, rel.Op, rel.Version)) {
			return p
		}
	}
	var best *Package
	for _, pv := range r.ix.providers[rel.Name] {
		if selectable(pv.pkg) && pv.meets(rel) && (best == nil || preferProvider(pv.pkg, best) < 0) {
			best = pv.pkg
		}
	}
	return best
}

// preferProvider orders providers of a virtual package: higher Priority first, then by
// name, then higher version first, so that the choice is stable.
func preferProvider(a, b *Package) int {
	return cmp.Or(
		cmp.Compare(priorityRank(a), priorityRank(b)),
		strings.Compare(a.Name, b.Name),
		compareVersions(b.Version, a.Version),
	)
}

func priorityRank(p *Package) int {
	switch p.Field("Priority") {
	case "required":
		return 0
	case "important":
		return 1
	case "standard":
		return 2
	case "optional":
		return 3
	}
	return 4
}

// unsatisfiable explains why alts cannot be met, naming the chain of packages that need it:
// "libfoo (>= 2) needed by bar <- iptables: trixie/arm64 has libfoo 1.0-1".
func (r *resolver) unsatisfiable(alts []Relation, from *Package) error {
	where := r.ix.Suite + "/" + r.ix.Arch
	reason := "not in " + where
	if len(alts) > 1 {
		reason = "no alternative is in " + where
	} else if rel := alts[0]; !r.archOK(rel) {
		reason = fmt.Sprintf("architecture qualifier %q cannot be met in %s", rel.Arch, where)
	} else if sel := r.selected[rel.Name]; sel != nil {
		reason = fmt.Sprintf("conflicts with the selected %s %s", sel.Name, sel.Version)
		if by := r.neededBy[sel]; by != nil {
			reason += " needed by " + r.chain(by)
		}
	} else if c := r.ix.byName[rel.Name]; len(c) > 0 {
		versions := make([]string, len(c))
		for i, p := range c {
			versions[i] = p.Version
		}
		reason = fmt.Sprintf("%s has %s %s", where, rel.Name, strings.Join(versions, ", "))
	} else if len(r.ix.providers[rel.Name]) > 0 {
		reason = "no package in " + where + " provides it in a matching version"
	}
	if from == nil {
		return fmt.Errorf("%s: %s", alternativesString(alts), reason)
	}
	return fmt.Errorf("%s needed by %s: %s", alternativesString(alts), r.chain(from), reason)
}

// chain returns "p <- whoever needed p <- ...".
func (r *resolver) chain(p *Package) string {
	var names []string
	for ; p != nil; p = r.neededBy[p] {
		names = append(names, p.Name)
	}
	return strings.Join(names, " <- ")
}
