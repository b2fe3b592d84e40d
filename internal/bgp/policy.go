package bgp

import (
	"context"
	"fmt"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/server"
)

// Policy names inside each class's BgpServer.
const (
	importPolicy    = "anycast-import-pools"
	exportPolicy    = "anycast-export-reject-all"
	poolSetV4       = "anycast-pools-v4"
	poolSetV6       = "anycast-pools-v6"
	globalRIB       = "global"
	rejectStatement = "reject-all"
)

// policies builds the class's routing policy:
//
//   - import: accept a route only if its prefix matches a pool prefix set
//     (pool length up to /32 or /128, so VIPs inside the pool match);
//     default REJECT.
//   - export: an explicit reject-all statement and default REJECT. The
//     watcher holds no local routes either, but a receive-only speaker must
//     not depend on that: it never advertises anything.
//
// GoBGP prefix sets are single-family, hence one set per family; a family
// without pools gets no set and therefore no accepting statement.
func policies(ps pools) *api.SetPoliciesRequest {
	var v4, v6 []*api.Prefix
	for _, p := range ps {
		maxLen := uint32(32)
		if p.Addr().Is6() {
			maxLen = 128
		}
		ap := &api.Prefix{IpPrefix: p.String(), MaskLengthMin: uint32(p.Bits()), MaskLengthMax: maxLen}
		if p.Addr().Is4() {
			v4 = append(v4, ap)
		} else {
			v6 = append(v6, ap)
		}
	}
	req := &api.SetPoliciesRequest{}
	imp := &api.Policy{Name: importPolicy}
	for _, s := range []struct {
		name     string
		prefixes []*api.Prefix
	}{{poolSetV4, v4}, {poolSetV6, v6}} {
		if len(s.prefixes) == 0 {
			continue
		}
		req.DefinedSets = append(req.DefinedSets, &api.DefinedSet{DefinedType: api.DefinedType_PREFIX, Name: s.name, Prefixes: s.prefixes})
		imp.Statements = append(imp.Statements, &api.Statement{
			Name:       "accept-" + s.name,
			Conditions: &api.Conditions{PrefixSet: &api.MatchSet{Type: api.MatchSet_ANY, Name: s.name}},
			Actions:    &api.Actions{RouteAction: api.RouteAction_ACCEPT},
		})
	}
	if len(imp.Statements) == 0 {
		// No pools: nothing is kept. A policy needs at least one statement.
		imp.Statements = []*api.Statement{rejectAll(importPolicy)}
	}
	exp := &api.Policy{Name: exportPolicy, Statements: []*api.Statement{rejectAll(exportPolicy)}}
	req.Policies = []*api.Policy{imp, exp}
	return req
}

// rejectAll is a statement without conditions, so it matches every route.
func rejectAll(policy string) *api.Statement {
	return &api.Statement{Name: policy + "-" + rejectStatement, Actions: &api.Actions{RouteAction: api.RouteAction_REJECT}}
}

// installPolicies defines the policies and, the first time, assigns them to
// the global RIB. Later calls only replace definitions: SetPolicies keeps
// assignments by policy name.
func installPolicies(ctx context.Context, s *server.BgpServer, ps pools, assign bool) error {
	if err := s.SetPolicies(ctx, policies(ps)); err != nil {
		return fmt.Errorf("setting import/export policies: %w", err)
	}
	if !assign {
		return nil
	}
	for _, a := range []*api.PolicyAssignment{
		{Name: globalRIB, Direction: api.PolicyDirection_IMPORT, Policies: []*api.Policy{{Name: importPolicy}}, DefaultAction: api.RouteAction_REJECT},
		{Name: globalRIB, Direction: api.PolicyDirection_EXPORT, Policies: []*api.Policy{{Name: exportPolicy}}, DefaultAction: api.RouteAction_REJECT},
	} {
		if err := s.AddPolicyAssignment(ctx, &api.AddPolicyAssignmentRequest{Assignment: a}); err != nil {
			return fmt.Errorf("assigning %s policy: %w", a.Direction, err)
		}
	}
	return nil
}
