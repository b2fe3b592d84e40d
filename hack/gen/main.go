// Command gen writes the packaging files derived from other files of the repository (see
// package hack/generate): the chart's CRDs and hub RBAC, docs/api.md, and the ArgoCD
// health-check configuration.
//
//	go run ./hack/gen [-check] [chart|api-docs|argocd ...]
//
// With -check it writes nothing and exits 1 when a generated file is stale.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/anycast-operator/anycast-operator/hack/generate"
)

func main() {
	check := flag.Bool("check", false, "only report stale files; exit 1 if any")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: go run ./hack/gen [-check] [%s|%s|%s ...]\n", generate.GroupChart, generate.GroupAPIDocs, generate.GroupArgoCD)
		flag.PrintDefaults()
	}
	flag.Parse()
	var groups []generate.Group
	for _, a := range flag.Args() {
		groups = append(groups, generate.Group(a))
	}
	root, err := os.Getwd()
	if err != nil {
		fail(err)
	}
	if _, err := os.Stat("go.mod"); err != nil {
		fail(fmt.Errorf("run from the repository root: %w", err))
	}
	if *check {
		stale, err := generate.Stale(root, groups...)
		if err != nil {
			fail(err)
		}
		for _, s := range stale {
			fmt.Fprintln(os.Stderr, "stale:", s)
		}
		if len(stale) > 0 {
			fmt.Fprintln(os.Stderr, "run `make packaging-generate` and commit the result")
			os.Exit(1)
		}
		return
	}
	if err := generate.Write(root, groups...); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "gen:", err)
	os.Exit(1)
}
