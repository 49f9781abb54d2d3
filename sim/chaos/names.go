package chaos

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// nameSet formats names as a set: {n1 n2}, or for more than maxShown
// names, {n1 n2 n3 ... n9 (9 nodes)}.
func nameSet(names []string) string {
	const maxShown = 8
	if len(names) > maxShown {
		return fmt.Sprintf("{%s ... %s (%d nodes)}", strings.Join(names[:3], " "), names[len(names)-1], len(names))
	}
	return "{" + strings.Join(names, " ") + "}"
}

// sorted returns names sorted by compareNames, in a new slice.
func sorted(names []string) []string {
	return slices.SortedFunc(slices.Values(names), compareNames)
}

// compareNames orders "n2" before "n10".
func compareNames(a, b string) int {
	return cmp.Or(cmp.Compare(len(a), len(b)), strings.Compare(a, b))
}
